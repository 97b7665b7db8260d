//! Alertmanager-style webhook delivery: a small HTTP/1.1 POST of a JSON
//! body to `http://` URLs, with a timeout and retries.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a POST failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("unsupported webhook URL {0:?} (only http://host:port/path)")]
    Url(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("the receiver answered {0:?}")]
    Status(String),
}

/// host:port and path of an `http://` URL.
pub fn parse_url(url: &str) -> Result<(String, String), WebhookError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| WebhookError::Url(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || authority.chars().any(char::is_whitespace) || path.chars().any(char::is_whitespace) {
        return Err(WebhookError::Url(url.to_owned()));
    }
    let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

/// One POST; Ok if the receiver answered 2xx.
pub async fn post_once(url: &str, body: &[u8], timeout: Duration) -> Result<(), WebhookError> {
    let (authority, path) = parse_url(url)?;
    let fut = async {
        let mut s = TcpStream::connect(&authority).await?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: teehsm-console\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        s.flush().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        // Only the status line matters.
        while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 8192 {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.lines().next().unwrap_or("").to_owned();
        let code = line.split_whitespace().nth(1).unwrap_or("");
        if code.starts_with('2') && code.len() == 3 {
            Ok(())
        } else {
            Err(WebhookError::Status(line))
        }
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| WebhookError::Timeout)?
}

/// POSTs with up to `attempts` tries, backing off between them; logs failures.
pub async fn post(url: &str, body: &[u8], timeout: Duration, attempts: u32) -> Result<(), WebhookError> {
    let mut delay = Duration::from_millis(200);
    let mut last = WebhookError::Timeout;
    for attempt in 1..=attempts.max(1) {
        match post_once(url, body, timeout).await {
            Ok(()) => return Ok(()),
            Err(e @ WebhookError::Url(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(url, attempt, error = %e, "webhook POST failed");
                last = e;
            }
        }
        if attempt < attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};

    #[test]
    fn urls() {
        assert_eq!(parse_url("http://127.0.0.1:9/x/y").unwrap(), ("127.0.0.1:9".into(), "/x/y".into()));
        assert_eq!(parse_url("http://example").unwrap(), ("example:80".into(), "/".into()));
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://u@x/").is_err());
    }

    fn serve_one(status: &'static str) -> (String, std::thread::JoinHandle<(String, Vec<u8>)>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s);
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut s = r.into_inner();
            s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes()).unwrap();
            (first, body)
        });
        (url, h)
    }

    #[tokio::test]
    async fn posts_json_to_a_local_listener() {
        let (url, h) = serve_one("200 OK");
        post(&url, br#"{"a":1}"#, Duration::from_secs(5), 1).await.unwrap();
        let (first, body) = h.join().unwrap();
        assert_eq!(first, "POST /hook HTTP/1.1\r\n");
        assert_eq!(body, br#"{"a":1}"#);
    }

    #[tokio::test]
    async fn non_2xx_and_refused_connections_fail() {
        let (url, h) = serve_one("500 Internal Server Error");
        assert!(matches!(post(&url, b"{}", Duration::from_secs(5), 1).await, Err(WebhookError::Status(_))));
        h.join().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        drop(l);
        assert!(post(&url, b"{}", Duration::from_secs(1), 2).await.is_err());
    }
}
