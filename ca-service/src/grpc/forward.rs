//! Forwarding calls to the TA: a fixed set of worker threads, each owning
//! one blocking TA connection (`teehsm_wire::client::Client`), fed through
//! a bounded queue. The async side never blocks: it queues a request and
//! awaits the reply. A connection that fails is dropped and replaced on
//! the next call; one opened before the TA last restarted is replaced
//! before use.

use crate::state::Shared;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::{Reply, Request, Rv};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Name the worker connections announce in Hello.
const CLIENT_NAME: &str = "teehsm-ca-grpc";
/// Queued calls per worker before callers wait for room.
const QUEUE_PER_WORKER: usize = 64;

/// Why a call got no reply from the TA.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ForwardError {
    #[error("the TA is not running")]
    TaDown,
    #[error("lost the TA connection: {0}")]
    Lost(String),
    #[error("the forwarder is stopping")]
    Stopping,
    /// The TA answered with a protocol-level error instead of a reply.
    #[error("{rv}: {message}")]
    Refused { rv: Rv, message: String },
}

struct Job {
    request: Request,
    reply: oneshot::Sender<Result<Reply, ForwardError>>,
}

/// The async handle; cheap to clone. The workers stop once every handle is dropped.
#[derive(Clone)]
pub struct Forwarder {
    tx: mpsc::Sender<Job>,
}

impl Forwarder {
    /// Starts `connections` worker threads (connections are opened lazily).
    pub fn start(connections: usize, shared: Arc<Shared>) -> std::io::Result<Forwarder> {
        let (tx, rx) = mpsc::channel(connections.max(1) * QUEUE_PER_WORKER);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..connections.max(1) {
            let (rx, shared) = (rx.clone(), shared.clone());
            std::thread::Builder::new().name(format!("grpc-ta-{i}")).spawn(move || worker(&rx, &shared))?;
        }
        Ok(Forwarder { tx })
    }

    /// Sends `request` to the TA and waits for its reply.
    pub async fn call(&self, request: Request) -> Result<Reply, ForwardError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { request, reply }).await.map_err(|_| ForwardError::Stopping)?;
        rx.await.map_err(|_| ForwardError::Stopping)?
    }
}

/// A TA connection and the TA generation (restart count) it was opened in.
struct Conn {
    client: Client,
    generation: u64,
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>, shared: &Shared) {
    let mut conn: Option<Conn> = None;
    loop {
        let job = {
            let mut rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.blocking_recv()
        };
        let Some(job) = job else { break };
        // A caller that gave up (cancelled RPC) is not served.
        if job.reply.is_closed() {
            continue;
        }
        let result = call(&mut conn, shared, &job.request);
        let _ = job.reply.send(result);
    }
    tracing::debug!("gRPC TA worker finished");
}

fn call(conn: &mut Option<Conn>, shared: &Shared, request: &Request) -> Result<Reply, ForwardError> {
    if !shared.ta_up() {
        *conn = None;
        return Err(ForwardError::TaDown);
    }
    let generation = shared.metrics.ta_restarts.load(Ordering::Acquire);
    if conn.as_ref().is_some_and(|c| c.generation != generation) {
        *conn = None;
    }
    let c = match conn {
        Some(c) => c,
        None => match Client::connect_endpoint(&shared.ta_address, CLIENT_NAME) {
            Ok(client) => conn.insert(Conn { client, generation }),
            Err(e) => {
                tracing::debug!(error = %e, "gRPC: cannot connect to the TA");
                return Err(ForwardError::TaDown);
            }
        },
    };
    match c.client.call(request) {
        Ok(reply) => Ok(reply),
        // The connection is fine; the TA refused this frame.
        Err(CallError::Status { rv, message }) => Err(ForwardError::Refused { rv, message }),
        Err(e) => {
            *conn = None;
            Err(if shared.ta_up() { ForwardError::Lost(e.to_string()) } else { ForwardError::TaDown })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicUsize;
    use teehsm_wire::frame::{read_frame, write_frame};
    use teehsm_wire::stream::Endpoint;
    use teehsm_wire::{decode_request, encode_response, ChannelMode, Response};

    /// A fake TA: answers Hello, echoes an ApiCall's body back as an OK Api
    /// reply, and closes the connection after `per_conn` API calls.
    fn fake_ta(path: &std::path::Path, per_conn: usize, connections: Arc<AtomicUsize>) {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let s = s.unwrap();
                connections.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let (mut buf, mut r, mut served) = (Vec::new(), &s, 0);
                    while let Ok(true) = read_frame(&mut r, &mut buf) {
                        let (id, req) = decode_request(&buf).unwrap();
                        let reply = match req {
                            Request::Hello { .. } => {
                                Reply::Hello { version: 1, ta_version: "fake".into(), channel: ChannelMode::Plain, app_ticket: vec![0; 32] }
                            }
                            Request::ApiCall { body, method, .. } => {
                                served += 1;
                                Reply::Api { code: 0, message: method, body, mac: [7; 32], algorithm: 0 }
                            }
                            _ => Reply::Done,
                        };
                        write_frame(&mut &s, &encode_response(id, &Response::Ok(reply))).unwrap();
                        if served == per_conn {
                            return;
                        }
                    }
                });
            }
        });
    }

    fn api(body: &[u8]) -> Request {
        Request::ApiCall {
            client_id: String::new(),
            timestamp_ms: 0,
            nonce: [0; 16],
            mac: [0; 32],
            method: "/teehsm.v1.KeyManagementService/GenerateRandom".into(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn forwards_and_replaces_broken_connections() {
        let dir = std::env::temp_dir().join(format!("teehsm-ca-fwd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock: PathBuf = dir.join("ta.sock");
        let connections = Arc::new(AtomicUsize::new(0));
        fake_ta(&sock, 2, connections.clone());
        let shared = Arc::new(Shared::new(Endpoint::Unix(sock)));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let fwd = Forwarder::start(1, shared.clone()).unwrap();

        // TA not up: refused without touching the socket.
        assert_eq!(rt.block_on(fwd.call(api(b"x"))), Err(ForwardError::TaDown));
        assert_eq!(connections.load(Ordering::SeqCst), 0);

        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        for i in 0..2u8 {
            match rt.block_on(fwd.call(api(&[i]))).unwrap() {
                Reply::Api { body, mac, .. } => assert_eq!((body, mac), (vec![i], [7; 32])),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "one pooled connection for both calls");
        // The fake TA closed that connection: the next call fails as lost, the one after reconnects.
        assert!(matches!(rt.block_on(fwd.call(api(b"z"))), Err(ForwardError::Lost(_))));
        assert!(matches!(rt.block_on(fwd.call(api(b"z"))), Ok(Reply::Api { .. })));
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        // A TA restart (new generation) replaces the connection before use.
        crate::metrics::inc(&shared.metrics.ta_restarts);
        assert!(matches!(rt.block_on(fwd.call(api(b"r"))), Ok(Reply::Api { .. })));
        assert_eq!(connections.load(Ordering::SeqCst), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
