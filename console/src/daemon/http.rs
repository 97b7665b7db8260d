//! The console's small HTTP/1.1 server (one request per connection): the
//! web UI ([`super::web`]), the JSON API ([`super::routes`], described by
//! console/openapi.json at /api/openapi.json), /healthz and /metrics.
//!
//! Every API call except /api/login and /api/openapi.json needs a session:
//! the `teehsm_session` cookie set by POST /api/login, or the same token as
//! `Authorization: Bearer <token>`. Roles: auditor < operator < admin
//! ([`super::session`]). With `--allow-loopback-admin` (tests, local
//! automation) a request from a loopback address without credentials and
//! without browser fetch metadata acts as admin "loopback".

use super::https::{looks_like_tls, Https};
use super::routes::{self, NoRoute};
use super::session::{role_allows, Principal, COOKIE};
use super::{now_ms, Shared};
use crate::store::Role;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Sent with every answer. Scripts and styles only from the console itself
/// (no inline script, no CDN).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                       font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A parsed request. Header names are lowercase.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Whether it came over the console's own HTTPS listener.
    pub https: bool,
}

impl HttpRequest {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .find_map(|c| c.trim().split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.trim()))
    }
}

/// An answer: status code, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// An answer with extra headers (Set-Cookie, Retry-After, ...).
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub resp: HttpResponse,
    pub headers: Vec<(&'static str, String)>,
}

impl From<HttpResponse> for Reply {
    fn from(resp: HttpResponse) -> Self {
        Reply { resp, headers: Vec::new() }
    }
}

impl Reply {
    pub fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// A JSON answer.
pub fn json_resp(status: u16, v: serde_json::Value) -> HttpResponse {
    HttpResponse { status, content_type: "application/json", body: v.to_string().into_bytes() }
}

/// A JSON error answer `{"error": msg}`.
pub fn error(status: u16, msg: &str) -> HttpResponse {
    json_resp(status, json!({ "error": msg }))
}

/// The answer to a store failure: logged here, a plain 500 to the caller.
pub fn store_err(e: crate::store::StoreError) -> HttpResponse {
    tracing::error!(error = %e, "store error");
    error(500, "internal error; see the console's log")
}

/// Serves until the task is dropped: plain HTTP, or HTTPS with `https`.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, https: Option<Arc<Https>>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                let https = https.clone();
                tokio::spawn(async move {
                    if let Err(e) = accept(stream, peer, shared, https).await {
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

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    }
}

/// One connection: the TLS handshake first on an HTTPS listener (bounded
/// by the read timeout), then one request.
async fn accept(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, https: Option<Arc<Https>>) -> std::io::Result<()> {
    let Some(https) = https else { return connection(stream, peer, shared, false).await };
    let mut first = [0u8; 1];
    match tokio::time::timeout(READ_TIMEOUT, stream.peek(&mut first)).await {
        Err(_) | Ok(Ok(0)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(_)) => {}
    }
    if !looks_like_tls(first[0]) {
        // Someone typed http:// for this port: say where to go instead of
        // failing a handshake the browser shows as a garbled page.
        return plain_request_on_https_port(stream).await;
    }
    match tokio::time::timeout(READ_TIMEOUT, https.acceptor().accept(stream)).await {
        Ok(Ok(tls)) => connection(tls, peer, shared, true).await,
        Ok(Err(e)) => {
            shared.metrics.https.handshake_failures.inc();
            tracing::debug!(%peer, error = %e, "HTTPS handshake failed");
            Ok(())
        }
        Err(_) => {
            shared.metrics.https.handshake_failures.inc();
            Ok(())
        }
    }
}

/// A plain-text request on the HTTPS port: GET and HEAD are redirected to
/// the same path over https://, anything else is told to use HTTPS.
async fn plain_request_on_https_port(mut stream: TcpStream) -> std::io::Result<()> {
    let req = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(Ok(req))) => req,
        Ok(Err(e)) => return Err(e),
        Err(_) | Ok(Ok(Err(_))) => return write_reply(&mut stream, &error(400, "this port speaks HTTPS; use https://").into(), false).await,
    };
    let host = req.header("host").filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)));
    let reply: Reply = match (req.method.as_str(), host) {
        ("GET" | "HEAD", Some(host)) => {
            let query = if req.query.is_empty() { String::new() } else { format!("?{}", req.query) };
            Reply::from(error(301, &format!("this port speaks HTTPS; go to https://{host}{}", req.path)))
                .with("Location", format!("https://{host}{}{query}", req.path))
        }
        (_, Some(host)) => error(400, &format!("this port speaks HTTPS; send the request to https://{host}{}", req.path)).into(),
        (_, None) => error(400, "this port speaks HTTPS; use https://").into(),
    };
    write_reply(&mut stream, &reply, false).await
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, peer: SocketAddr, shared: Arc<Shared>, https: bool) -> std::io::Result<()> {
    let reply: Reply = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Err(_) => error(408, "request timeout").into(),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Err(msg))) => error(400, msg).into(),
        Ok(Ok(Ok(mut req))) => {
            req.https = https;
            let sh = shared.clone();
            match tokio::task::spawn_blocking(move || handle(&sh, peer, &req)).await {
                Ok(r) => r,
                Err(_) => error(500, "internal error; see the console's log").into(),
            }
        }
    };
    write_reply(&mut stream, &reply, https).await
}

/// Writes the answer with the security headers every answer carries (and
/// HSTS over HTTPS), then closes the connection.
async fn write_reply<S: AsyncWrite + Unpin>(stream: &mut S, reply: &Reply, https: bool) -> std::io::Result<()> {
    let resp = &reply.resp;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Content-Security-Policy: {CSP}\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n\
         Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    if https {
        head.push_str("Strict-Transport-Security: max-age=31536000\r\n");
    }
    for (k, v) in &reply.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&resp.body).await?;
    stream.shutdown().await
}

/// Reads one request; `Ok(Err(why))` if it is malformed or too large.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Result<HttpRequest, &'static str>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Ok(Err("request head larger than 16 KiB"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Err("connection closed before the end of the request head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let Ok(head) = std::str::from_utf8(&buf[..head_end]) else {
        return Ok(Err("request head is not UTF-8"));
    };
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target)) = (first.next(), first.next()) else {
        return Ok(Err("bad request line"));
    };
    let mut len = 0usize;
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Ok(Err("bad header line"));
        };
        let k = k.trim().to_ascii_lowercase();
        if k == "content-length" {
            match v.trim().parse() {
                Ok(n) if n <= MAX_BODY => len = n,
                _ => return Ok(Err("Content-Length missing a number or larger than 64 KiB")),
            }
        }
        if k == "transfer-encoding" {
            return Ok(Err("Transfer-Encoding is not supported; send Content-Length"));
        }
        if headers.len() >= MAX_HEADERS {
            return Ok(Err("more than 64 headers"));
        }
        headers.push((k, v.trim().to_owned()));
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Err("connection closed before the end of the body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Ok(HttpRequest { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), body, headers, https: false }))
}

/// The session token of a request: bearer header first, then the cookie.
pub fn request_token(req: &HttpRequest) -> Option<&str> {
    if let Some(auth) = req.header("authorization") {
        let (scheme, token) = auth.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then_some(token.trim());
    }
    req.cookie(COOKIE)
}

/// Whether the request carries browser fetch metadata (so it may come
/// from a web page rather than a local script).
fn from_browser(req: &HttpRequest) -> bool {
    req.headers.iter().any(|(k, _)| k.starts_with("sec-fetch-") || k == "origin")
}

/// Who is calling: `Ok(None)` without credentials, `Err` for a bad or
/// expired token.
fn authenticate(sh: &Shared, peer: SocketAddr, req: &HttpRequest, now: u64) -> Result<Option<Principal>, HttpResponse> {
    let expired = || error(401, "the session has expired or is unknown; log in again (POST /api/login)");
    let Some(token) = request_token(req) else {
        if sh.web.allow_loopback_admin && peer.ip().is_loopback() && !from_browser(req) {
            return Ok(Some(Principal { name: "loopback".into(), role: Role::Admin, via: "loopback" }));
        }
        return Ok(None);
    };
    let Some(name) = sh.web.user(token, now) else { return Err(expired()) };
    let user = {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.user(&name)
    };
    match user {
        Ok(Some(u)) => {
            let via = if req.header("authorization").is_some() { "bearer" } else { "session" };
            Ok(Some(Principal { name: u.name, role: u.role, via }))
        }
        Ok(None) => Err(expired()),
        Err(e) => {
            tracing::error!(error = %e, "store error");
            Err(error(500, "internal error; see the console's log"))
        }
    }
}

/// Refuses state changes that a browser sends from another site.
fn cross_site(req: &HttpRequest) -> bool {
    if matches!(req.method.as_str(), "GET" | "HEAD") {
        return false;
    }
    // Fetch metadata first (every current browser sends it; it survives a
    // reverse proxy that rewrites Host), then Origin against Host.
    if let Some(site) = req.header("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    match (req.header("origin"), req.header("host")) {
        (Some(origin), Some(host)) => origin != format!("http://{host}") && origin != format!("https://{host}"),
        (Some(_), None) => true,
        _ => false,
    }
}

/// Paths served by another module (rollouts and packages).
fn delegated(path: &str) -> bool {
    path.starts_with("/api/rollouts") || path.starts_with("/api/packages")
}

/// Routes one request.
pub fn handle(sh: &Shared, peer: SocketAddr, req: &HttpRequest) -> Reply {
    if req.method == "GET" {
        if let Some(asset) = super::web::asset(&req.path) {
            return asset.into();
        }
    }
    let now = now_ms();
    if cross_site(req) {
        return error(403, "cross-site request refused; use the console's own pages").into();
    }
    if delegated(&req.path) {
        let need = if req.method == "GET" { Role::Auditor } else { Role::Operator };
        let who = match require(sh, peer, req, now, need) {
            Ok(w) => w,
            Err(r) => return r.into(),
        };
        return match super::routes::delegate(sh, req, &who.name) {
            Some(r) => r.into(),
            None => error(404, "not found").into(),
        };
    }
    let (route, params) = match routes::find(&req.method, &req.path) {
        Ok(x) => x,
        Err(NoRoute::NotFound) => return error(404, "not found; the API is described at /api/openapi.json").into(),
        Err(NoRoute::Method(allowed)) => {
            return Reply::from(error(405, &format!("method not allowed; use {allowed}"))).with("Allow", allowed);
        }
    };
    let who = match route.need {
        None => None,
        Some(need) => match require(sh, peer, req, now, need) {
            Ok(w) => Some(w),
            Err(r) => return r.into(),
        },
    };
    routes::call(sh, route, &params, req, who.as_ref(), now)
}

/// A principal with at least role `need`, or the 401/403 answer.
fn require(sh: &Shared, peer: SocketAddr, req: &HttpRequest, now: u64, need: Role) -> Result<Principal, HttpResponse> {
    let Some(who) = authenticate(sh, peer, req, now)? else {
        return Err(error(401, "log in first: POST /api/login {\"name\": ..., \"password\": ...}"));
    };
    if !role_allows(who.role, need) {
        return Err(json_resp(
            403,
            json!({
                "error": format!("this needs role {} or higher; user {} has role {}", need.as_str(), who.name, who.role.as_str()),
                "required_role": need.as_str(),
            }),
        ));
    }
    super::totp_api::gate(sh, &who, req)?;
    Ok(who)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: "/api/x".into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn tokens_from_cookie_or_bearer() {
        let r = req("GET", &[("cookie", "a=b; teehsm_session=abc ; c=d")]);
        assert_eq!(request_token(&r), Some("abc"));
        let r = req("GET", &[("authorization", "Bearer xyz"), ("cookie", "teehsm_session=abc")]);
        assert_eq!(request_token(&r), Some("xyz"));
        let r = req("GET", &[("authorization", "Basic xyz")]);
        assert_eq!(request_token(&r), None);
        assert_eq!(request_token(&req("GET", &[("cookie", "other=1")])), None);
    }

    #[test]
    fn cross_site_posts_are_refused() {
        assert!(!cross_site(&req("GET", &[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&req("POST", &[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&req("POST", &[("sec-fetch-site", "same-site")])));
        assert!(!cross_site(&req("POST", &[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&req("POST", &[])));
        assert!(cross_site(&req("POST", &[("origin", "http://evil.example"), ("host", "127.0.0.1:7080")])));
        assert!(!cross_site(&req("POST", &[("origin", "http://127.0.0.1:7080"), ("host", "127.0.0.1:7080")])));
        // Behind a proxy that rewrites Host, fetch metadata decides.
        assert!(!cross_site(&req("POST", &[("sec-fetch-site", "same-origin"), ("origin", "https://console.example"), ("host", "127.0.0.1:7080")])));
    }
}
