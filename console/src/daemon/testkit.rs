//! Shared by the daemon's tests over real sockets: a configuration that
//! binds ports chosen by the system, and waiting for the address files.

use super::*;

/// Both listeners on 127.0.0.1:0, default rules, 1 s heartbeats, SQLite in
/// `data_dir`, plain HTTP, no licence, no key distribution, no webhook.
pub fn config(data_dir: &Path) -> Config {
    Config {
        keydist: None,
        server_names: vec![],
        sample_retention_days: 14,
        http_tls: Default::default(),
        vendor_keys: vec![],
        data_dir: data_dir.to_path_buf(),
        grpc_listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        rules: default_rules(1000),
        webhooks: vec![],
        heartbeat_interval_ms: 1000,
        licence: None,
        allow_loopback_admin: false,
        database_url: None,
    }
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
