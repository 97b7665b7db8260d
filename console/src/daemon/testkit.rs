//! Shared by the daemon's tests over real sockets: a configuration that
//! binds ports chosen by the system, and waiting for the address files.

use super::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Both listeners on 127.0.0.1:0, default rules, 1 s heartbeats, SQLite in
/// `data_dir`, plain HTTP, no licence, no key distribution, no webhook.
pub fn config(data_dir: &Path) -> Config {
    Config {
        keydist: None,
        server_names: vec![],
        sample_retention_days: 14,
        job_retention_days: 0,
        http_tls: Default::default(),
        grpc_tls: None,
        vendor_keys: vec![],
        data_dir: data_dir.to_path_buf(),
        grpc_listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        rules: default_rules(1000),
        webhooks: vec![],
        heartbeat_interval_ms: 1000,
        licence: None,
        allow_loopback_admin: false,
        require_second_factor: Default::default(),
        agent_ca_bundle: None,
        database_url: None,
    }
}

/// A console started by [`start`].
pub struct Running {
    /// The agents' gRPC address and the HTTP address, host:port.
    pub grpc: String,
    pub http: String,
    /// console-ca.pem.
    pub ca_pem: String,
    stop: tokio::sync::oneshot::Sender<()>,
    daemon: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

impl Running {
    /// Shuts the console down and checks it stopped cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.daemon.await.unwrap().unwrap();
    }
}

/// Runs the console with `cfg` until [`Running::stop`], once it serves.
pub async fn start(cfg: Config) -> Running {
    let dir = cfg.data_dir.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(cfg, async {
        let _ = stopped.await;
    }));
    let grpc = wait_line(&dir.join("grpc.addr")).await;
    let http = wait_line(&dir.join("http.addr")).await;
    let ca_pem = std::fs::read_to_string(dir.join(tls::CA_CERT)).unwrap();
    Running { grpc, http, ca_pem, stop, daemon }
}

/// The first line of `path` once the daemon has written it (5 s at most).
pub async fn wait_line(path: &Path) -> String {
    for _ in 0..500 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return s.trim().to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} did not appear", path.display());
}

/// One HTTP/1.1 request on `s` (plain or TLS), read to the end:
/// (status, head, body).
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out.as_str(), ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, head.to_owned(), body.to_owned()))
}
