//! The TA's listener: one thread per connection, frames in, frames out.
//! Every malformed frame gets an error reply; nothing a peer sends can panic
//! the TA (handlers run under `catch_unwind` as a last line of defence).

use crate::handler::Ta;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use teehsm_wire::frame::{read_frame, write_frame};
use teehsm_wire::spin::{default_budget, SpinReader, SpinState};
use teehsm_wire::{decode_request, encode_response, Response, Rv};

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
            Ok(s) => spawn_connection(s, ta.clone()),
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }
}

fn spawn_connection(s: UnixStream, ta: Arc<Ta>) {
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
                Ok(Some(client)) if !stop.load(Ordering::SeqCst) => spawn_connection(client, ta.clone()),
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

fn connection(stream: UnixStream, ta: Arc<Ta>) {
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
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The stream is out of sync (oversized or torn frame): say why, then close.
                let reply = encode_response(0, &Response::err(Rv::TEEHSM_MALFORMED_REQUEST, format!("unreadable frame: {e}")));
                let _ = write_frame(&mut writer, &reply).and_then(|_| writer.flush());
                break;
            }
        }
        let (id, response) = match decode_request(&buf) {
            Ok((id, req)) => {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ta.handle(&mut conn, req)));
                let response = r.unwrap_or_else(|_| {
                    tracing::error!("request handler panicked; the request was refused");
                    Response::err(Rv::GENERAL_ERROR, "internal error while handling the request")
                });
                (id, response)
            }
            Err(bad) => (bad.request_id.unwrap_or(0), Response::err(bad.rv, format!("malformed request: {}", bad.error))),
        };
        let out = encode_response(id, &response);
        if write_frame(&mut writer, &out).and_then(|_| writer.flush()).is_err() {
            break;
        }
    }
    ta.close_conn(&mut conn);
}
