//! Where the daemon reads from: the CA's `http.addr` file, its HTTP
//! endpoints (a bounded HTTP/1.1 GET), and /proc to find the CA's pid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The file teehsm-ca writes its bound HTTP address to, in its state dir.
pub const HTTP_ADDR_FILE: &str = "http.addr";
/// Largest HTTP answer read (the CA's /metrics is far smaller).
pub const MAX_RESPONSE_BYTES: u64 = 4 << 20;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    ReadAddr { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no socket address: {text:?}")]
    BadAddr { path: PathBuf, text: String },
    #[error("GET http://{addr}{path}: {source}")]
    Io { addr: SocketAddr, path: String, source: std::io::Error },
    #[error("GET http://{addr}{path}: timed out")]
    Timeout { addr: SocketAddr, path: String },
    #[error("GET http://{addr}{path}: malformed response")]
    Malformed { addr: SocketAddr, path: String },
    #[error("GET http://{addr}{path}: answer larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge { addr: SocketAddr, path: String },
}

/// Reads `<ca_state_dir>/http.addr`.
pub fn read_http_addr(ca_state_dir: &Path) -> Result<SocketAddr, SourceError> {
    let path = ca_state_dir.join(HTTP_ADDR_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| SourceError::ReadAddr { path: path.clone(), source })?;
    text.trim().parse().map_err(|_| SourceError::BadAddr { path, text: text.chars().take(80).collect() })
}

/// A plain HTTP/1.1 GET with `Connection: close`; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), SourceError> {
    match tokio::time::timeout(timeout, get_inner(addr, path)).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::Timeout { addr, path: path.to_string() }),
    }
}

async fn get_inner(addr: SocketAddr, path: &str) -> Result<(u16, String), SourceError> {
    let io = |source| SourceError::Io { addr, path: path.to_string(), source };
    let mut s = TcpStream::connect(addr).await.map_err(io)?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.map_err(io)?;
    let mut raw = Vec::new();
    (&mut s).take(MAX_RESPONSE_BYTES + 1).read_to_end(&mut raw).await.map_err(io)?;
    if raw.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(SourceError::TooLarge { addr, path: path.to_string() });
    }
    parse_response(&raw).ok_or_else(|| SourceError::Malformed { addr, path: path.to_string() })
}

/// Splits a `Connection: close` HTTP/1.x response (no chunked encoding) into status and body.
pub fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The pid of the process listening on TCP `addr`, from /proc/net/tcp{,6}
/// and the processes' fd links (needs the same user as the CA, or root).
pub fn listener_pid(proc_root: &Path, addr: SocketAddr) -> Option<u32> {
    let inodes: Vec<u64> = ["net/tcp", "net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(proc_root.join(f)).ok())
        .flat_map(|t| listening_inodes(&t, addr.port()))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir(proc_root).ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| link.as_os_str() == w.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// Inodes of listening sockets (state 0A) on `port` in a /proc/net/tcp table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let (_, p) = local.rsplit_once(':')?;
            let p = u16::from_str_radix(p, 16).ok()?;
            if p != port || *f.get(3)? != "0A" {
                return None;
            }
            f.get(9)?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), Some((200, "hi".into())));
        assert_eq!(parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\n{}"), Some((503, "{}".into())));
        assert_eq!(parse_response(b"garbage"), None);
        assert_eq!(parse_response(b"SSH-2.0 x\r\n\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n"), None);
    }

    #[test]
    fn finds_listening_inodes() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D000 01 00000000:00000000 00:00000000 00000000  1000        0 999 1 0 100 0 0 10 0\n\
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(t, 8080), vec![12345]);
        assert!(listening_inodes("header only\n", 8080).is_empty());
        assert!(listening_inodes("h\nshort line\n", 8080).is_empty());
    }

    #[test]
    fn addr_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("teehsm-agent-addr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(read_http_addr(&dir), Err(SourceError::ReadAddr { .. })));
        std::fs::write(dir.join(HTTP_ADDR_FILE), "nonsense\n").unwrap();
        assert!(matches!(read_http_addr(&dir), Err(SourceError::BadAddr { .. })));
        std::fs::write(dir.join(HTTP_ADDR_FILE), "127.0.0.1:8080\n").unwrap();
        assert_eq!(read_http_addr(&dir).unwrap(), "127.0.0.1:8080".parse().unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn finds_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(listener_pid(Path::new("/proc"), addr), Some(std::process::id()));
    }
}
