//! A tiny HTTP/1.1 responder for `/healthz` and `/metrics`: one thread per
//! connection, one request per connection, bounded reads with a timeout.

use crate::health;
use crate::metrics::{self, ApiMetrics, Snapshot};
use crate::state::Shared;
use crate::token_stats::TokenStats;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head we read.
const MAX_HEAD: usize = 8 * 1024;

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("cannot write the HTTP address to {path}: {source}")]
    AddrFile { path: String, source: io::Error },
}

/// Binds the listener; returns it with the address actually bound.
pub fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), HttpError> {
    let err = |source| HttpError::Bind { addr: addr.to_string(), source };
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(err)?.collect();
    let l = TcpListener::bind(&addrs[..]).map_err(err)?;
    let bound = l.local_addr().map_err(err)?;
    Ok((l, bound))
}

/// Writes `addr` to `path` atomically (temporary file, then rename).
pub fn write_addr_file(path: &Path, addr: SocketAddr) -> Result<(), HttpError> {
    let err = |source| HttpError::AddrFile { path: path.display().to_string(), source };
    let tmp = path.with_extension("addr.tmp");
    std::fs::write(&tmp, format!("{addr}\n")).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// What the HTTP endpoints read.
pub struct Exporter {
    pub shared: Arc<Shared>,
    pub api: ApiMetrics,
    pub tokens: TokenStats,
}

impl Exporter {
    pub fn new(shared: Arc<Shared>, api: ApiMetrics) -> Self {
        Exporter { shared, api, tokens: TokenStats::default() }
    }
}

/// Serves until the process exits.
pub fn serve(listener: TcpListener, shared: Arc<Exporter>) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let shared = shared.clone();
                let spawned = std::thread::Builder::new().name("http".into()).spawn(move || {
                    if let Err(e) = handle(stream, &shared) {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start an HTTP thread");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A response: status, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

fn text(status: u16, body: &str) -> Answer {
    Answer { status, content_type: "text/plain; charset=utf-8", body: format!("{body}\n") }
}

/// Routes one request line.
pub fn route(method: &str, target: &str, exporter: &Exporter) -> Answer {
    let shared = &exporter.shared;
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let known = matches!(path, "/healthz" | "/metrics");
    if known && method != "GET" && method != "HEAD" {
        return text(405, "method not allowed");
    }
    match path {
        "/healthz" => {
            let restarts = shared.metrics.ta_restarts.load(std::sync::atomic::Ordering::Relaxed);
            let (status, body) = health::render(&shared.status(), restarts, Instant::now());
            Answer { status, content_type: "application/json", body: body + "\n" }
        }
        "/metrics" => {
            let snap = Snapshot { ta: shared.gauges(), token_objects: exporter.tokens.sample(shared) };
            match metrics::render(&shared.metrics, &exporter.api, &snap) {
                Ok(body) => Answer { status: 200, content_type: metrics::CONTENT_TYPE, body },
                Err(e) => {
                    tracing::error!(error = %e, "cannot render the metrics");
                    text(500, "cannot render the metrics; see the teehsm-ca log")
                }
            }
        }
        _ => text(404, "not found"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Reads the request head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(if head.is_empty() { None } else { Some(head) });
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(Some(head));
        }
    }
}

fn handle(mut stream: TcpStream, shared: &Exporter) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let Some(head) = read_head(&mut stream)? else { return Ok(()) };
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (answer, is_head) = match (method, target, version) {
        _ if line_end == head.len() && head.len() > MAX_HEAD => (text(431, "request head too large"), false),
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/") && crate::admin::is_admin_path(t.split('?').next().unwrap_or(t)) => {
            (crate::admin::route(m, t, stream.peer_addr().ok(), &shared.shared), false)
        }
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/") => (route(m, t, shared), m == "HEAD"),
        _ => (text(400, "bad request"), false),
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        answer.status,
        reason(answer.status),
        answer.content_type,
        answer.body.len()
    );
    if answer.status == 405 {
        out.push_str(if answer.content_type == "application/json" { "Allow: POST\r\n" } else { "Allow: GET, HEAD\r\n" });
    }
    out.push_str("\r\n");
    if !is_head {
        out.push_str(&answer.body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_health_metrics_and_404() {
        let shared = Arc::new(Shared::new(teehsm_wire::stream::Endpoint::Unix(PathBuf::from("/nonexistent"))));
        let (l, addr) = bind("127.0.0.1:0").unwrap();
        assert_ne!(addr.port(), 0);
        let api = ApiMetrics::new().unwrap();
        api.observe("GenerateRandom", "OK", Duration::from_micros(200));
        let exporter = Arc::new(Exporter::new(shared.clone(), api));
        std::thread::spawn(move || serve(l, exporter));

        let r = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        assert!(r.contains("\"status\":\"unavailable\""), "{r}");

        shared.spawn_unless_stopping(|| Ok(((), 77))).unwrap().unwrap();
        shared.set_running();
        let r = get(addr, "GET /healthz HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("\"ta_pid\":77"), "{r}");

        let r = get(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("text/plain; version=0.0.4"));
        assert!(r.contains("\nteehsm_ca_ta_up 1\n"), "{r}");
        assert!(r.contains("\nteehsm_grpc_requests_total{code=\"OK\",method=\"GenerateRandom\"} 1\n"), "{r}");

        assert!(get(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        assert!(get(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
        // The admin calls answer on the same listener (loopback peer here).
        let r = get(addr, "POST /admin/ta/resume HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n") && r.contains("\"draining\":false"), "{r}");
        let r = get(addr, "GET /admin/ta/restart HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 ") && r.contains("Allow: POST\r\n"), "{r}");
        let head = get(addr, "HEAD /healthz HTTP/1.1\r\n\r\n");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
    }
}
