//! Where the module finds the CA service.
//!
//! Order: the environment variable `TEEHSM_PKCS11_SOCKET`; else `socket` in
//! the TOML file named by `TEEHSM_PKCS11_CONF` (default
//! `/etc/teehsm/pkcs11.toml`, optional); else `/var/lib/teehsm/ca.sock`, the
//! CA service's default client socket.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const SOCKET_ENV: &str = "TEEHSM_PKCS11_SOCKET";
pub const CONF_ENV: &str = "TEEHSM_PKCS11_CONF";
pub const DEFAULT_CONF: &str = "/etc/teehsm/pkcs11.toml";
pub const DEFAULT_SOCKET: &str = "/var/lib/teehsm/ca.sock";

/// The module's configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The CA service's client socket.
    pub socket: Option<PathBuf>,
    /// Name the module gives the TA in its Hello (shown in the audit log).
    pub client_name: Option<String>,
}

/// The resolved configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    /// "TEEHSM_PKCS11_SOCKET", the config file's path, or "default".
    pub socket_source: String,
    pub client_name: String,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the module configuration {path} (named by {CONF_ENV}): {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the module configuration {path} is not valid TOML for teehsm (keys: socket, client_name): {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    /// Resolves the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let conf = std::env::var_os(CONF_ENV).map(PathBuf::from);
        Self::resolve(std::env::var_os(SOCKET_ENV).map(PathBuf::from), conf.as_deref())
    }

    /// Resolves from an explicit socket override and config path. A config
    /// file named explicitly must exist; the default one is optional.
    pub fn resolve(socket_env: Option<PathBuf>, conf: Option<&Path>) -> Result<Self, ConfigError> {
        let (path, required) = match conf {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONF), false),
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse { path: path.clone(), message: e.message().to_string() })?,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let (socket, socket_source) = match (socket_env.filter(|s| !s.as_os_str().is_empty()), file.socket) {
            (Some(s), _) => (s, SOCKET_ENV.to_string()),
            (None, Some(s)) => (s, path.display().to_string()),
            (None, None) => (PathBuf::from(DEFAULT_SOCKET), "default".to_string()),
        };
        Ok(Config { socket, socket_source, client_name: file.client_name.unwrap_or_else(|| "libteehsm_pkcs11".to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("teehsm-pkcs11-conf-{}-{name}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn env_wins_over_file() {
        let f = temp("a", "socket = \"/from/file.sock\"\n");
        let c = Config::resolve(Some("/from/env.sock".into()), Some(&f)).unwrap();
        assert_eq!(c.socket, PathBuf::from("/from/env.sock"));
        assert_eq!(c.socket_source, SOCKET_ENV);
        let c = Config::resolve(None, Some(&f)).unwrap();
        assert_eq!(c.socket, PathBuf::from("/from/file.sock"));
        std::fs::remove_file(f).unwrap();
    }

    #[test]
    fn explicit_missing_file_is_an_error_and_bad_keys_are_named() {
        assert!(matches!(Config::resolve(None, Some(Path::new("/nonexistent/teehsm.toml"))), Err(ConfigError::Read { .. })));
        let f = temp("b", "sockett = \"/x\"\n");
        let e = Config::resolve(None, Some(&f)).unwrap_err().to_string();
        assert!(e.contains("sockett"), "{e}");
        std::fs::remove_file(f).unwrap();
    }
}
