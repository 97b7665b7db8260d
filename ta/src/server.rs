//! The TA's listeners (a Unix socket, optionally TCP): one thread per
//! connection, frames in, frames out.
//! Every malformed frame gets an error reply; nothing a peer sends can panic
//! the TA (handlers run under `catch_unwind` as a last line of defence).

use crate::channel::{Handshake, SealedChannel};
use crate::handler::{Connection, Ta};
use std::io::{BufReader, BufWriter, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use teehsm_wire::frame::{read_frame, write_frame};
use teehsm_wire::spin::{default_budget, SpinReader, SpinState};
use teehsm_wire::stream::Stream;
use teehsm_wire::{decode_request, encode_response, ChannelMode, Reply, Request, Response, Rv};
use zeroize::Zeroizing;

/// Binds the socket (replacing a stale one), mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Accepts connections until `stop` is set.
pub fn serve(listener: UnixListener, ta: Arc<Ta>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(s) => spawn_connection(Stream::Unix(s), ta.clone()),
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }
}

/// Why a TCP listen address is refused.
#[derive(Debug, thiserror::Error)]
pub enum TcpBindError {
    #[error("{0:?} is not ADDR:PORT: {1}")]
    BadAddress(String, std::io::Error),
    #[error("{0:?} resolves to no address")]
    NoAddress(String),
    #[error(
        "{0} is not a loopback address: without the attested channel, frames (PINs, data to sign) would cross the network in clear; \
         set require_channel = true (--require-channel true) to listen on it, or listen on 127.0.0.1"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

/// Whether every address `addr` names is a loopback address (127.0.0.0/8, ::1).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Binds the TCP listener. A non-loopback address is refused unless the TA
/// requires the attested channel on every connection.
pub fn bind_tcp(addr: &str, require_channel: bool) -> Result<TcpListener, TcpBindError> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|e| TcpBindError::BadAddress(addr.to_string(), e))?.collect();
    if addrs.is_empty() {
        return Err(TcpBindError::NoAddress(addr.to_string()));
    }
    if !require_channel {
        if let Some(a) = addrs.iter().find(|a| !is_loopback(a)) {
            return Err(TcpBindError::NotLoopback(*a));
        }
    }
    TcpListener::bind(&addrs[..]).map_err(|e| TcpBindError::Bind(addr.to_string(), e))
}

/// Accepts TCP connections until `stop` is set (TCP_NODELAY on each).
pub fn serve_tcp(listener: TcpListener, ta: Arc<Ta>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match stream.and_then(Stream::tcp) {
            Ok(s) => spawn_connection(s, ta.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "accept on the TCP listener failed");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn spawn_connection(s: Stream, ta: Arc<Ta>) {
    if let Err(e) = std::thread::Builder::new().name("ta-conn".into()).spawn(move || connection(s, ta)) {
        tracing::error!(error = %e, "cannot start a connection thread");
    }
}

/// Accepts hand-off channels (from teehsm-ca) and serves every client
/// connection passed over them as if it had connected to the TA's own
/// socket (see `teehsm_wire::handoff`). Runs until `stop` is set.
pub fn serve_handoffs(listener: UnixListener, ta: Arc<Ta>, stop: Arc<AtomicBool>) {
    for channel in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let channel = match channel {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept on the hand-off socket failed");
                continue;
            }
        };
        let ta = ta.clone();
        let stop = stop.clone();
        let spawned = std::thread::Builder::new().name("ta-handoff".into()).spawn(move || loop {
            match teehsm_wire::handoff::recv_connection(&channel) {
                Ok(Some(client)) if !stop.load(Ordering::SeqCst) => spawn_connection(Stream::Unix(client), ta.clone()),
                Ok(Some(_)) | Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "refused a malformed hand-off; closing that channel");
                    break;
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a hand-off thread");
        }
    }
}

/// How a connection is protected, as far as its requests so far decided.
enum ChannelState {
    /// Nothing received yet: OpenChannel or Hello may come.
    Fresh,
    /// OpenChannel answered; ChannelKeys must come next.
    Opening(Handshake),
    /// The attested channel is up: every frame is sealed.
    Sealed(SealedChannel),
    /// A plain connection (Hello or another request came first).
    Plain,
}

/// What to do with one frame.
enum Step {
    /// Send this payload (already sealed if the channel is up).
    Reply(Vec<u8>),
    /// Close the connection without a reply.
    Close,
}

fn connection(stream: Stream, ta: Arc<Ta>) {
    let mut conn = ta.new_conn();
    let (read_half, write_half) = match stream.try_clone() {
        Ok(w) => (stream, w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot clone connection");
            return;
        }
    };
    // A busy client sends its next request within microseconds of our reply:
    // spin briefly before sleeping (see teehsm_wire::spin).
    let mut spin = SpinState::default();
    let mut reader = BufReader::with_capacity(64 * 1024, SpinReader::new(&read_half, default_budget(), &mut spin));
    let mut writer = BufWriter::with_capacity(64 * 1024, write_half);
    let mut buf = Vec::new();
    let mut state = ChannelState::Fresh;
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The stream is out of sync (oversized or torn frame): say why
                // (in the clear only on a plain connection), then close.
                if !matches!(state, ChannelState::Sealed(_)) {
                    let reply = encode_response(0, &Response::err(Rv::TEEHSM_MALFORMED_REQUEST, format!("unreadable frame: {e}")));
                    let _ = write_frame(&mut writer, &reply).and_then(|_| writer.flush());
                }
                break;
            }
        }
        let step = match &mut state {
            ChannelState::Sealed(ch) => sealed_frame(&ta, &mut conn, ch, &buf),
            // A plain connection: ordinary requests (a late OpenChannel is refused by the handler).
            ChannelState::Plain => Step::Reply(handle_payload(&ta, &mut conn, &buf, ChannelMode::Plain)),
            ChannelState::Fresh | ChannelState::Opening(_) => plain_frame(&ta, &mut conn, &mut state, &buf),
        };
        let out = match step {
            Step::Reply(out) => out,
            Step::Close => break,
        };
        if write_frame(&mut writer, &out).and_then(|_| writer.flush()).is_err() {
            break;
        }
    }
    ta.close_conn(&mut conn);
}

/// Decodes and handles one request (under `catch_unwind`); returns the encoded response.
fn handle_payload(ta: &Ta, conn: &mut Connection, payload: &[u8], mode: ChannelMode) -> Vec<u8> {
    let (id, response) = match decode_request(payload) {
        Ok((id, Request::Hello { channel, .. })) if channel != mode => {
            (id, Response::err(Rv::TEEHSM_MALFORMED_REQUEST, format!("Hello says channel {channel:?} but this connection is {mode:?}")))
        }
        Ok((id, Request::Hello { .. })) if mode == ChannelMode::Plain && ta.cfg.require_channel => {
            ta.audit_channel(conn, "HelloPlainRefused", Rv::TEEHSM_NO_HELLO);
            (id, Response::err(Rv::TEEHSM_NO_HELLO, "this TA requires the attested channel (require_channel = true): send OpenChannel first"))
        }
        Ok((id, req)) => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ta.handle(conn, req)));
            let response = r.unwrap_or_else(|_| {
                tracing::error!("request handler panicked; the request was refused");
                Response::err(Rv::GENERAL_ERROR, "internal error while handling the request")
            });
            (id, response)
        }
        Err(bad) => (bad.request_id.unwrap_or(0), Response::err(bad.rv, format!("malformed request: {}", bad.error))),
    };
    encode_response(id, &response)
}

/// The first frames of a connection (state `Fresh` or `Opening`): the
/// handshake requests, or the first request of a plain connection.
fn plain_frame(ta: &Ta, conn: &mut Connection, state: &mut ChannelState, payload: &[u8]) -> Step {
    let handshake = match decode_request(payload) {
        Ok((id, Request::OpenChannel { nonce })) => Some((id, Some(nonce), None)),
        Ok((id, Request::ChannelKeys { suite, client_p256, mlkem_ct })) => Some((id, None, Some((suite, client_p256, mlkem_ct)))),
        _ => None,
    };
    let Some((id, open, keys)) = handshake else {
        if matches!(state, ChannelState::Opening(_)) {
            // Anything but ChannelKeys after OpenChannel: the handshake is abandoned.
            tracing::warn!("channel handshake abandoned: the request after OpenChannel was not ChannelKeys; closing");
            ta.audit_channel(conn, "ChannelRefused", Rv::TEEHSM_MALFORMED_REQUEST);
            return Step::Close;
        }
        *state = ChannelState::Plain;
        return Step::Reply(handle_payload(ta, conn, payload, ChannelMode::Plain));
    };
    let reply = |r: Response| Step::Reply(encode_response(id, &r));
    match (std::mem::replace(state, ChannelState::Plain), open, keys) {
        (ChannelState::Fresh, Some(nonce), _) => match ta.channel_report(conn, &nonce) {
            Ok(report) => {
                *state = ChannelState::Opening(Handshake { nonce, report_body: report.body.clone() });
                reply(Response::Ok(Reply::Attestation(Box::new(report))))
            }
            Err(r) => reply(r),
        },
        (ChannelState::Opening(hs), _, Some((suite, client_p256, mlkem_ct))) => match ta.channel.accept(&hs, suite, &client_p256, &mlkem_ct) {
            Ok(ch) => {
                ta.audit_channel(conn, "ChannelKeys", Rv::OK);
                *state = ChannelState::Sealed(ch);
                reply(Response::Ok(Reply::Done))
            }
            Err(why) => {
                tracing::warn!(why = %why, "channel handshake refused; closing the connection");
                ta.audit_channel(conn, "ChannelKeys", Rv::ARGUMENTS_BAD);
                Step::Close
            }
        },
        (previous, _, _) => {
            // Out of order (OpenChannel twice, ChannelKeys without
            // OpenChannel): refused; a fresh connection must start the
            // handshake again.
            let was_opening = matches!(previous, ChannelState::Opening(_));
            ta.audit_channel(conn, "ChannelRefused", Rv::TEEHSM_MALFORMED_REQUEST);
            if was_opening {
                tracing::warn!("channel handshake out of order; closing");
                return Step::Close;
            }
            reply(Response::err(
                Rv::TEEHSM_MALFORMED_REQUEST,
                "OpenChannel must be the first request of a fresh connection, and ChannelKeys must follow it",
            ))
        }
    }
}

/// A sealed frame: open it, handle the request inside, seal the response.
/// A frame that does not open closes the connection (logged and audited).
fn sealed_frame(ta: &Ta, conn: &mut Connection, ch: &mut SealedChannel, payload: &[u8]) -> Step {
    let plaintext = match ch.open(payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "refused a sealed frame; closing the connection");
            ta.audit_channel(conn, "ChannelFrameRefused", Rv::TEEHSM_MALFORMED_REQUEST);
            return Step::Close;
        }
    };
    let response = Zeroizing::new(handle_payload(ta, conn, &plaintext, ChannelMode::Secure));
    drop(plaintext);
    let sealed = match ch.seal(&response) {
        Ok(s) => s,
        Err(crate::channel::ChannelError::TooLarge) => {
            // The response header: version u8, kind u8, request id u32.
            let id = response.get(2..6).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
            let err = encode_response(id, &Response::err(Rv::DATA_LEN_RANGE, "the reply is too large for one sealed frame"));
            match ch.seal(&err) {
                Ok(s) => s,
                Err(_) => return Step::Close,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot seal a reply; closing the connection");
            return Step::Close;
        }
    };
    Step::Reply(sealed)
}
