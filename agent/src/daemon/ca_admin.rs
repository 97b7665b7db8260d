//! Blocking calls to the local teehsm-ca's HTTP listener for upgrades: its
//! `/healthz` and the loopback-only admin calls `POST /admin/ta/drain`,
//! `/admin/ta/resume` and `/admin/ta/restart` (ca-service/src/admin.rs).
//! Blocking on purpose: the upgrade runs on a blocking thread.

use crate::ca_health::{parse_healthz, CaHealth};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use thiserror::Error;

/// Largest answer read.
const MAX_RESPONSE_BYTES: u64 = 256 * 1024;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("{method} http://{addr}{path}: {source}")]
    Io { method: &'static str, addr: SocketAddr, path: String, source: std::io::Error },
    #[error("{method} http://{addr}{path}: malformed answer")]
    Malformed { method: &'static str, addr: SocketAddr, path: String },
    #[error("{method} http://{addr}{path}: HTTP {status}: {body}")]
    Status { method: &'static str, addr: SocketAddr, path: String, status: u16, body: String },
    #[error("GET http://{addr}/healthz: {0}", addr = .1)]
    Health(crate::ca_health::HealthError, SocketAddr),
}

/// One request with `Connection: close`; returns (status, body).
pub fn request(addr: SocketAddr, method: &'static str, path: &str, timeout: Duration) -> Result<(u16, String), AdminError> {
    let io = |source| AdminError::Io { method, addr, path: path.to_owned(), source };
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    (&mut s).take(MAX_RESPONSE_BYTES).read_to_end(&mut raw).map_err(io)?;
    super::sources::parse_response(&raw).ok_or_else(|| AdminError::Malformed { method, addr, path: path.to_owned() })
}

/// A POST that must answer 200; returns the body.
pub fn post_ok(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String, AdminError> {
    let (status, body) = request(addr, "POST", path, timeout)?;
    if status != 200 {
        return Err(AdminError::Status { method: "POST", addr, path: path.to_owned(), status, body: body.trim().chars().take(300).collect() });
    }
    Ok(body)
}

/// The CA's `/healthz` (either form).
pub fn healthz(addr: SocketAddr, timeout: Duration) -> Result<CaHealth, AdminError> {
    let (_, body) = request(addr, "GET", "/healthz", timeout)?;
    parse_healthz(&body).map_err(|e| AdminError::Health(e, addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(answer.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn posts_and_reads_health() {
        let t = Duration::from_secs(5);
        let a = serve_once("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"draining\":false}\n");
        assert!(post_ok(a, "/admin/ta/resume", t).unwrap().contains("draining"));
        let a = serve_once("HTTP/1.1 403 Forbidden\r\n\r\n{\"error\":\"loopback only\"}");
        let e = post_ok(a, "/admin/ta/restart", t).unwrap_err();
        assert!(e.to_string().contains("HTTP 403") && e.to_string().contains("loopback only"), "{e}");
        let a = serve_once("HTTP/1.1 200 OK\r\n\r\n{\"status\":\"ok\",\"ta\":\"running\",\"ta_restarts\":1,\"ta_pid\":9,\"ta_binary\":\"/x\"}");
        let h = healthz(a, t).unwrap();
        assert_eq!((h.ta_pid, h.ta_binary.as_deref()), (Some(9), Some("/x")));
        let a = serve_once("garbage");
        assert!(matches!(request(a, "GET", "/healthz", t), Err(AdminError::Malformed { .. })));
    }
}
