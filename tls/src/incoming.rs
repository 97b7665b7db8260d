//! Accepting TLS connections for tonic's `serve_with_incoming`.

use prometheus::IntCounter;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finished TLS connections, for `serve_with_incoming`.
pub type TlsIncoming = ReceiverStream<std::io::Result<TlsStream<TcpStream>>>;

/// Accepts connections on `listener` (TCP_NODELAY set) and runs each TLS
/// handshake in its own task, so a slow or silent client holds up no one;
/// a failed or timed-out handshake is logged at debug level and counted in
/// `failures`. Spawned on the current tokio runtime; the accept loop ends
/// when the returned stream is dropped.
pub fn incoming(listener: TcpListener, config: Arc<ServerConfig>, failures: IntCounter) -> TlsIncoming {
    incoming_with_timeout(listener, config, failures, HANDSHAKE_TIMEOUT)
}

/// [`incoming`] with another handshake timeout (tests).
pub fn incoming_with_timeout(listener: TcpListener, config: Arc<ServerConfig>, failures: IntCounter, handshake_timeout: Duration) -> TlsIncoming {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little rather than spin.
                    tracing::warn!(error = %e, "accepting a TCP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx, failures) = (acceptor.clone(), tx.clone(), failures.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => {
                        failures.inc();
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        failures.inc();
                        tracing::debug!(%peer, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
