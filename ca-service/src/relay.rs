//! The client socket: every accepted client gets its own TA connection, and
//! its frames are relayed one request, one reply at a time (the protocol is
//! strictly request/response). Frames are size-checked with the wire crate's
//! reader and otherwise passed through untouched: the CA decides nothing.

use crate::metrics::{inc, ActiveClient};
use crate::state::Shared;
use std::io::{self, BufReader, ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use teehsm_wire::frame::{read_frame, write_frame};
use teehsm_wire::spin::{default_budget, SpinReader, SpinState};
use teehsm_wire::stream::Stream;
use teehsm_wire::{encode_response, Response, Rv, MAX_FRAME_LEN};
use thiserror::Error;

/// Mode of the client socket: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;
/// Read buffer per direction per client; larger frames bypass it.
const READ_BUF: usize = 16 * 1024;
/// How long a refused client has to send its first frame.
const REFUSAL_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// What a client hears while the TA is down.
pub const TA_RESTARTING: &str = "the TA is restarting; retry";

#[derive(Debug, Error)]
pub enum RelayError {
    #[error("{path} is in use by a running service (another teehsm-ca?)")]
    InUse { path: PathBuf },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error("cannot prepare {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Binds the client socket: removes a stale socket file (refusing if a live
/// service still answers on it), then sets mode 0660.
pub fn bind(path: &Path) -> Result<UnixListener, RelayError> {
    let io_err = |source| RelayError::Io { path: path.to_path_buf(), source };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(RelayError::InUse { path: path.to_path_buf() });
            }
            tracing::info!(path = %path.display(), "removing a stale client socket");
            std::fs::remove_file(path).map_err(io_err)?;
        }
        Ok(_) => return Err(RelayError::NotASocket { path: path.to_path_buf() }),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let l = UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(io_err)?;
    Ok(l)
}

/// Accepts clients until shutdown begins (wake the loop with a dummy connection).
pub fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping() {
            break;
        }
        match conn {
            Ok(stream) => {
                let shared = shared.clone();
                let spawned = std::thread::Builder::new().name("relay".into()).spawn(move || client(stream, &shared));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a relay thread; client dropped");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept on the client socket failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    tracing::debug!("client socket closed");
}

/// One client, from accept to close.
fn client(stream: UnixStream, shared: &Shared) {
    let _active = ActiveClient::new(&shared.metrics);
    if !shared.ta_up() || shared.draining() {
        refuse(stream, shared);
        return;
    }
    if let Some(handoff) = &shared.ta_handoff_socket {
        match hand_off(&stream, handoff) {
            Ok(()) => {
                inc(&shared.metrics.client_handoffs);
                return;
            }
            // The TA may be between restarts; relaying still serves the client.
            Err(e) => tracing::warn!(error = %e, socket = %handoff.display(), "cannot hand the client to the TA; relaying it instead"),
        }
    }
    let ta = match shared.ta_address.connect() {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, "cannot connect to the TA; refusing the client");
            refuse(stream, shared);
            return;
        }
    };
    let clones = match (stream.try_clone(), ta.try_clone()) {
        (Ok(c), Ok(t)) => vec![Stream::Unix(c), t],
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot register a client connection");
            inc(&shared.metrics.relay_errors);
            return;
        }
    };
    let _reg = shared.clients.register(clones);
    // Shutdown or TA exit may have swept the registry just before we joined it.
    if shared.stopping() || !shared.ta_up() {
        return;
    }
    if let Err(e) = relay(&stream, &ta, shared) {
        inc(&shared.metrics.relay_errors);
        match e {
            RelayEnd::BadClientFrame(e) => {
                tracing::warn!(error = %e, "refused an unreadable client frame; closing the client");
                let reply = encode_response(0, &Response::err(Rv::TEEHSM_MALFORMED_REQUEST, format!("unreadable frame: {e}")));
                let _ = write_frame(&mut &stream, &reply);
            }
            RelayEnd::TaLost(why) => {
                if !shared.stopping() {
                    tracing::warn!("lost the TA in the middle of a request ({why}); closing the client");
                }
            }
        }
    }
}

/// Passes the client connection to the TA (see `teehsm_wire::handoff`);
/// the TA then serves it directly.
fn hand_off(client: &UnixStream, handoff_socket: &Path) -> io::Result<()> {
    let channel = UnixStream::connect(handoff_socket)?;
    teehsm_wire::handoff::send_connection(&channel, client)
}

enum RelayEnd {
    BadClientFrame(io::Error),
    TaLost(String),
}

/// The request/reply loop. Ok when the client closes (or goes away).
fn relay(client: &UnixStream, ta: &Stream, shared: &Shared) -> Result<(), RelayEnd> {
    // Both directions spin briefly before sleeping: a wake-up per hop costs
    // more than the signature it carries (see teehsm_wire::spin).
    let (mut client_spin, mut ta_spin) = (SpinState::default(), SpinState::default());
    let mut from_client = BufReader::with_capacity(READ_BUF, SpinReader::new(client, default_budget(), &mut client_spin));
    let mut from_ta = BufReader::with_capacity(READ_BUF, SpinReader::new(ta, default_budget(), &mut ta_spin));
    let mut frame = Vec::with_capacity(READ_BUF);
    let mut out = Vec::with_capacity(READ_BUF);
    loop {
        match read_frame(&mut from_client, &mut frame) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof) => return Err(RelayEnd::BadClientFrame(e)),
            // Reset by the client, or the socket was shut down by us.
            Err(_) => return Ok(()),
        }
        if let Err(e) = send(ta, &frame, &mut out) {
            return Err(RelayEnd::TaLost(format!("writing to the TA: {e}")));
        }
        match read_frame(&mut from_ta, &mut frame) {
            Ok(true) => {}
            Ok(false) => return Err(RelayEnd::TaLost("the TA closed the connection".into())),
            Err(e) => return Err(RelayEnd::TaLost(format!("reading from the TA: {e}"))),
        }
        inc(&shared.metrics.relayed_requests);
        if send(client, &frame, &mut out).is_err() {
            return Ok(());
        }
    }
}

/// Writes one frame with a single write, reusing `out` (no allocation once warm).
fn send(mut w: impl Write, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    debug_assert!(payload.len() <= MAX_FRAME_LEN);
    out.clear();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    w.write_all(out)
}

/// Tells a client the TA is unavailable: reads its first request (normally
/// Hello), answers it with TEEHSM_TA_UNAVAILABLE under the same request id,
/// and closes.
fn refuse(stream: UnixStream, shared: &Shared) {
    inc(&shared.metrics.client_refusals);
    let message = {
        let s = shared.status();
        match (s.security_failure(), s.reason) {
            (true, Some(r)) => format!("the TA is unavailable: {r}"),
            _ => TA_RESTARTING.to_string(),
        }
    };
    let _ = stream.set_read_timeout(Some(REFUSAL_READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(REFUSAL_READ_TIMEOUT));
    let mut frame = Vec::new();
    let mut r = &stream;
    if let Ok(true) = read_frame(&mut r, &mut frame) {
        let reply = encode_response(request_id(&frame), &Response::err(Rv::TEEHSM_TA_UNAVAILABLE, message));
        let _ = write_frame(&mut &stream, &reply);
    }
}

/// The request id of an encoded request (`version u8 | kind u8 | id u32`), or 0.
pub fn request_id(payload: &[u8]) -> u32 {
    match payload.get(2..6) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use teehsm_wire::client::{CallError, Client};
    use teehsm_wire::{decode_response, encode_request, Calls, Request};

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("teehsm-ca-relay-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn request_id_is_read_from_the_header() {
        let p = encode_request(0xdead_beef, &Request::GetTaInfo);
        assert_eq!(request_id(&p), 0xdead_beef);
        assert_eq!(request_id(&[1, 1, 0]), 0);
    }

    #[test]
    fn bind_replaces_stale_and_refuses_live_sockets() {
        let d = temp("bind");
        let p = d.join("ca.sock");
        let l = bind(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(bind(&p), Err(RelayError::InUse { .. })));
        drop(l);
        let _l2 = bind(&p).expect("stale socket replaced");
        std::fs::write(d.join("plain"), b"x").unwrap();
        assert!(matches!(bind(&d.join("plain")), Err(RelayError::NotASocket { .. })));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A fake TA that answers every request with an empty OK reply (Done),
    /// echoing the request id; Hello gets a Hello reply.
    fn fake_ta(path: &Path) {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let s = s.unwrap();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut r = &s;
                    while let Ok(true) = read_frame(&mut r, &mut buf) {
                        let (id, req) = teehsm_wire::decode_request(&buf).unwrap();
                        let reply = match req {
                            Request::Hello { .. } => teehsm_wire::Reply::Hello {
                                version: 1,
                                ta_version: "fake".into(),
                                channel: teehsm_wire::ChannelMode::Plain,
                                app_ticket: vec![0; 32],
                            },
                            _ => teehsm_wire::Reply::Done,
                        };
                        write_frame(&mut &s, &encode_response(id, &Response::Ok(reply))).unwrap();
                    }
                });
            }
        });
    }

    #[test]
    fn relays_when_up_refuses_when_down() {
        let d = temp("relay");
        let ta_sock = d.join("ta.sock");
        let ca_sock = d.join("ca.sock");
        fake_ta(&ta_sock);
        let shared = Arc::new(Shared::new(teehsm_wire::stream::Endpoint::Unix(ta_sock)));
        let l = bind(&ca_sock).unwrap();
        let s2 = shared.clone();
        std::thread::spawn(move || serve(l, s2));

        // TA not up yet: clean refusal with the client's own request id.
        match Client::connect(&ca_sock, "t") {
            Err(CallError::Status { rv, message }) => {
                assert_eq!(rv, Rv::TEEHSM_TA_UNAVAILABLE);
                assert_eq!(message, TA_RESTARTING);
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("connected while the TA is down"),
        }

        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        let mut c = Client::connect(&ca_sock, "t").expect("relayed hello");
        for _ in 0..100 {
            c.call_done(&Request::GetTaInfo).expect("relayed request");
        }
        assert_eq!(shared.metrics.relayed_requests.load(std::sync::atomic::Ordering::Relaxed), 101);

        // An admin drain refuses new clients while the open one keeps working.
        shared.set_draining(true);
        assert!(matches!(Client::connect(&ca_sock, "t"), Err(CallError::Status { rv: Rv::TEEHSM_TA_UNAVAILABLE, .. })));
        c.call_done(&Request::GetTaInfo).expect("open client during a drain");
        shared.set_draining(false);
        assert!(!shared.draining());
        assert_eq!(shared.metrics.relayed_requests.load(std::sync::atomic::Ordering::Relaxed), 102);

        // An oversized frame is refused with an error reply and the connection closed.
        let mut raw = UnixStream::connect(&ca_sock).unwrap();
        raw.write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut r = &raw;
        assert!(read_frame(&mut r, &mut buf).unwrap());
        let (_, resp) = decode_response(&buf).unwrap();
        assert!(matches!(resp, Response::Err { rv: Rv::TEEHSM_MALFORMED_REQUEST, .. }));
        assert!(!read_frame(&mut r, &mut buf).unwrap(), "closed after the refusal");

        // The TA going away closes live clients.
        shared.ta_gone();
        assert_eq!(shared.clients.close_all(), 1);
        assert!(c.call_done(&Request::GetTaInfo).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
