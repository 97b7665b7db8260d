//! The console's small HTTP/1.1 API (one request per connection):
//! health, metrics, hosts, alerts, enrollment tokens, acknowledgements.
//! There is no login yet: the state-changing calls are accepted only from
//! loopback addresses.

use super::{now_ms, Shared};
use crate::enroll::new_token;
use crate::store::{Page, StoreError};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default and longest lifetime of an enrollment token.
const TOKEN_TTL_SECS: u64 = 24 * 3600;
const MAX_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

/// An answer: status code, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

fn json_resp(status: u16, v: serde_json::Value) -> HttpResponse {
    HttpResponse { status, content_type: "application/json", body: v.to_string().into_bytes() }
}

fn error(status: u16, msg: &str) -> HttpResponse {
    json_resp(status, json!({ "error": msg }))
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, peer, shared).await {
                        tracing::debug!(%peer, error = %e, "HTTP connection failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let resp = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Err(_) => error(408, "request timeout"),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => error(400, "bad request"),
        Ok(Ok(Some(req))) => {
            let sh = shared.clone();
            match tokio::task::spawn_blocking(move || handle(&sh, peer, &req)).await {
                Ok(r) => r,
                Err(_) => error(500, "internal error"),
            }
        }
    };
    let reason = match resp.status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&resp.body).await?;
    stream.shutdown().await
}

/// Reads one request; `None` if it is malformed or too large.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<HttpRequest>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target)) = (first.next(), first.next()) else {
        return Ok(None);
    };
    let mut len = 0usize;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                match v.trim().parse() {
                    Ok(n) if n <= MAX_BODY => len = n,
                    _ => return Ok(None),
                }
            }
        }
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(HttpRequest { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), body }))
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Routes one request.
pub fn handle(sh: &Shared, peer: SocketAddr, req: &HttpRequest) -> HttpResponse {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let store_err = |e: StoreError| {
        tracing::error!(error = %e, "store error");
        error(500, "internal error; see the console's log")
    };
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["healthz"]) => HttpResponse { status: 200, content_type: "text/plain", body: b"ok\n".to_vec() },
        ("GET", ["metrics"]) => {
            HttpResponse { status: 200, content_type: "text/plain; version=0.0.4", body: sh.metrics.render().into_bytes() }
        }
        ("GET", ["api", "hosts"]) => {
            let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
            let hosts = match store.hosts() {
                Ok(h) => h,
                Err(e) => return store_err(e),
            };
            let reports = match store.latest_reports() {
                Ok(r) => r,
                Err(e) => return store_err(e),
            };
            let list: Vec<_> = hosts
                .iter()
                .map(|h| json!({ "host": h, "report": reports.iter().find(|r| r.host_id == h.id) }))
                .collect();
            json_resp(200, json!({ "hosts": list }))
        }
        ("GET", ["api", "alerts"]) => {
            let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
            let res = if query_param(&req.query, "history").is_some() {
                let limit = query_param(&req.query, "limit").and_then(|v| v.parse().ok()).unwrap_or(100u64).min(1000);
                let offset = query_param(&req.query, "offset").and_then(|v| v.parse().ok()).unwrap_or(0u64);
                store.alert_history(Page::new(offset, limit))
            } else {
                store.firing_alerts()
            };
            match res {
                Ok(alerts) => json_resp(200, json!({ "alerts": alerts })),
                Err(e) => store_err(e),
            }
        }
        ("POST", ["api", "enrollment-tokens"]) => {
            if !peer.ip().is_loopback() {
                return error(403, "creating enrollment tokens is allowed only from loopback (no login yet)");
            }
            let ttl = if req.body.is_empty() {
                TOKEN_TTL_SECS
            } else {
                match serde_json::from_slice::<serde_json::Value>(&req.body) {
                    Ok(v) => v.get("ttl_secs").and_then(|t| t.as_u64()).unwrap_or(TOKEN_TTL_SECS),
                    Err(_) => return error(400, "body must be JSON, e.g. {\"ttl_secs\": 3600}"),
                }
            };
            if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
                return error(400, "ttl_secs must be 1 to 2592000");
            }
            let now = now_ms();
            let (token, record) = match new_token(Duration::from_secs(ttl), now) {
                Ok(t) => t,
                Err(e) => return error(500, &e.to_string()),
            };
            let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
            if let Err(e) = store.create_enrollment_token(&record.id, &token, now, record.expires_at_ms) {
                return store_err(e);
            }
            tracing::info!(token = %record.id, expires_at_ms = record.expires_at_ms, "enrollment token created");
            json_resp(201, json!({ "id": record.id, "token": token.as_str(), "expires_at_ms": record.expires_at_ms }))
        }
        ("POST", ["api", "alerts", fingerprint, "ack"]) => {
            if !peer.ip().is_loopback() {
                return error(403, "acknowledging alerts is allowed only from loopback (no login yet)");
            }
            let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
            match store.ack_alert(fingerprint, "local", now_ms()) {
                Ok(()) => json_resp(200, json!({ "acknowledged": fingerprint })),
                Err(StoreError::NotFound { .. }) => error(404, "no firing alert with that fingerprint"),
                Err(e) => store_err(e),
            }
        }
        (_, ["healthz"] | ["metrics"] | ["api", "hosts"] | ["api", "alerts"] | ["api", "enrollment-tokens"] | ["api", "alerts", _, "ack"]) => {
            error(405, "method not allowed")
        }
        _ => error(404, "not found"),
    }
}
