//! Where the module finds the CA service.
//!
//! Order: the environment variable `TEEHSM_PKCS11_SOCKET`; else `socket` in
//! the TOML file named by `TEEHSM_PKCS11_CONF` (default
//! `/etc/teehsm/pkcs11.toml`, optional); else `/var/lib/teehsm/ca.sock`, the
//! CA service's default client socket.
//!
//! The attested channel (docs/channel.md): `attestation_policy` and
//! `trust_anchor` in the file, or `TEEHSM_PKCS11_ATTESTATION_POLICY` and
//! `TEEHSM_PKCS11_TRUST_ANCHOR` (which win over the file, as for the
//! socket). Both set: every connection is an attested channel verified with
//! that policy and trust anchor. Neither: plain connections. Only one: an
//! error, as is a file that cannot be read or parsed.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use teehsm_attest::{AnchorError, Policy, PolicyError, TrustAnchor};
use teehsm_channel::Verifier;
use thiserror::Error;

pub const SOCKET_ENV: &str = "TEEHSM_PKCS11_SOCKET";
pub const CONF_ENV: &str = "TEEHSM_PKCS11_CONF";
pub const DEFAULT_CONF: &str = "/etc/teehsm/pkcs11.toml";
pub const DEFAULT_SOCKET: &str = "/var/lib/teehsm/ca.sock";
pub const POLICY_ENV: &str = "TEEHSM_PKCS11_ATTESTATION_POLICY";
pub const ANCHOR_ENV: &str = "TEEHSM_PKCS11_TRUST_ANCHOR";

/// The module's configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The CA service's client socket.
    pub socket: Option<PathBuf>,
    /// Name the module gives the TA in its Hello (shown in the audit log).
    pub client_name: Option<String>,
    /// The teehsm-attest policy (TOML) the TA's report must meet; with
    /// `trust_anchor`, every connection is an attested channel.
    pub attestation_policy: Option<PathBuf>,
    /// The report-signing key the TA's report must verify under (the sim
    /// platform's report key, PEM or hex).
    pub trust_anchor: Option<PathBuf>,
}

/// Where the channel settings come from: the environment, else the file.
#[derive(Debug, Default, Clone)]
pub struct ChannelEnv {
    pub policy: Option<PathBuf>,
    pub anchor: Option<PathBuf>,
}

/// The resolved configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    /// "TEEHSM_PKCS11_SOCKET", the config file's path, or "default".
    pub socket_source: String,
    pub client_name: String,
    /// Set when connections are attested channels; `None` for plain ones.
    pub verifier: Option<Verifier>,
    /// Where the policy and the trust anchor were read from (for the log).
    pub channel_source: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the module configuration {path} (named by {CONF_ENV}): {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the module configuration {path} is not valid TOML for teehsm (keys: socket, client_name, attestation_policy, trust_anchor): {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the attested channel needs both an attestation policy and a trust anchor, but {missing} is not set (set it, or unset {given} for plain connections)")]
    ChannelHalfSet { missing: &'static str, given: &'static str },
    #[error("the attestation policy ({POLICY_ENV} / attestation_policy) cannot be used: {0}")]
    Policy(#[from] PolicyError),
    #[error("the trust anchor ({ANCHOR_ENV} / trust_anchor) cannot be used: {0}")]
    Anchor(#[from] AnchorError),
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|s| !s.is_empty()).map(PathBuf::from)
}

impl Config {
    /// Resolves the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let conf = std::env::var_os(CONF_ENV).map(PathBuf::from);
        let channel = ChannelEnv { policy: env_path(POLICY_ENV), anchor: env_path(ANCHOR_ENV) };
        Self::resolve_with(std::env::var_os(SOCKET_ENV).map(PathBuf::from), conf.as_deref(), channel)
    }

    /// Resolves without channel settings from the environment.
    pub fn resolve(socket_env: Option<PathBuf>, conf: Option<&Path>) -> Result<Self, ConfigError> {
        Self::resolve_with(socket_env, conf, ChannelEnv::default())
    }

    /// Resolves from an explicit socket override and config path. A config
    /// file named explicitly must exist; the default one is optional.
    pub fn resolve_with(socket_env: Option<PathBuf>, conf: Option<&Path>, channel: ChannelEnv) -> Result<Self, ConfigError> {
        let (path, required) = match conf {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONF), false),
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse { path: path.clone(), message: e.message().to_string() })?
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let (socket, socket_source) = match (socket_env.filter(|s| !s.as_os_str().is_empty()), file.socket) {
            (Some(s), _) => (s, SOCKET_ENV.to_string()),
            (None, Some(s)) => (s, path.display().to_string()),
            (None, None) => (PathBuf::from(DEFAULT_SOCKET), "default".to_string()),
        };
        let policy = channel.policy.or(file.attestation_policy.filter(|p| !p.as_os_str().is_empty()));
        let anchor = channel.anchor.or(file.trust_anchor.filter(|p| !p.as_os_str().is_empty()));
        let (verifier, channel_source) = match (policy, anchor) {
            (None, None) => (None, None),
            (Some(_), None) => {
                return Err(ConfigError::ChannelHalfSet {
                    missing: "the trust anchor (TEEHSM_PKCS11_TRUST_ANCHOR / trust_anchor)",
                    given: "the attestation policy",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::ChannelHalfSet {
                    missing: "the attestation policy (TEEHSM_PKCS11_ATTESTATION_POLICY / attestation_policy)",
                    given: "the trust anchor",
                })
            }
            (Some(p), Some(a)) => {
                let v = Verifier::new(TrustAnchor::load_sim(&a)?, Policy::load(&p)?);
                (Some(v), Some((p, a)))
            }
        };
        Ok(Config {
            socket,
            socket_source,
            client_name: file.client_name.unwrap_or_else(|| "libteehsm_pkcs11".to_string()),
            verifier,
            channel_source,
        })
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

    const ANCHOR_HEX: &str =
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    const POLICY: &str = "allowed_measurements = [\"0000000000000000000000000000000000000000000000000000000000000000\"]\n";

    #[test]
    fn channel_needs_both_policy_and_anchor() {
        let policy = temp("policy", POLICY);
        let anchor = temp("anchor", ANCHOR_HEX);
        // Neither: plain.
        let c = Config::resolve_with(None, Some(&temp("c0", "")), ChannelEnv::default()).unwrap();
        assert!(c.verifier.is_none());
        // Both from the file.
        let f = temp("c1", &format!("attestation_policy = \"{}\"\ntrust_anchor = \"{}\"\n", policy.display(), anchor.display()));
        let c = Config::resolve(None, Some(&f)).unwrap();
        let v = c.verifier.expect("a verifier");
        assert!(!v.policy.allow_simulation);
        assert_eq!(c.channel_source, Some((policy.clone(), anchor.clone())));
        // Both from the environment.
        let env = ChannelEnv { policy: Some(policy.clone()), anchor: Some(anchor.clone()) };
        assert!(Config::resolve_with(None, Some(&temp("c2", "")), env).unwrap().verifier.is_some());
        // One from the file, the other from the environment.
        let f = temp("c3", &format!("trust_anchor = \"{}\"\n", anchor.display()));
        let env = ChannelEnv { policy: Some(policy.clone()), anchor: None };
        assert!(Config::resolve_with(None, Some(&f), env).unwrap().verifier.is_some());
        // Only one: the missing one is named.
        let e = Config::resolve(None, Some(&f)).unwrap_err().to_string();
        assert!(e.contains("attestation policy") && e.contains("TEEHSM_PKCS11_ATTESTATION_POLICY") && e.contains("is not set"), "{e}");
        let env = ChannelEnv { policy: Some(policy.clone()), anchor: None };
        let e = Config::resolve_with(None, Some(&temp("c4", "")), env).unwrap_err().to_string();
        assert!(e.contains("TEEHSM_PKCS11_TRUST_ANCHOR") && e.contains("is not set"), "{e}");
        for name in ["policy", "anchor", "c0", "c1", "c2", "c3", "c4"] {
            let _ = std::fs::remove_file(std::env::temp_dir().join(format!("teehsm-pkcs11-conf-{}-{name}.toml", std::process::id())));
        }
    }

    #[test]
    fn unreadable_or_invalid_policy_and_anchor_are_errors() {
        let policy = temp("p-good", POLICY);
        let anchor = temp("a-good", ANCHOR_HEX);
        let bad_policy = temp("p-bad", "allow_simulation = true\n");
        let bad_anchor = temp("a-bad", "04abcd");
        let missing = PathBuf::from("/nonexistent/teehsm-policy.toml");
        let cases = [
            (bad_policy.clone(), anchor.clone(), "attestation policy"),
            (missing.clone(), anchor.clone(), "nonexistent"),
            (policy.clone(), bad_anchor.clone(), "trust anchor"),
            (policy.clone(), missing.clone(), "nonexistent"),
        ];
        for (p, a, want) in cases {
            let env = ChannelEnv { policy: Some(p), anchor: Some(a) };
            let e = Config::resolve_with(None, Some(&temp("e", "")), env).unwrap_err();
            assert!(matches!(e, ConfigError::Policy(_) | ConfigError::Anchor(_)), "{e:?}");
            assert!(e.to_string().contains(want), "{e}");
        }
        for f in [policy, anchor, bad_policy, bad_anchor] {
            std::fs::remove_file(f).unwrap();
        }
    }
}
