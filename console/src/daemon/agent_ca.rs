//! `--agent-ca-bundle`: the CA certificates the console tells its agents to
//! trust for the agents' port from now on (HeartbeatResponse.console_ca_pem),
//! so an operator can move the port to a certificate of another CA without
//! enrolling every agent again (docs/fleet-console.md, "HTTPS", last
//! paragraph). The file is read again when it changes; a change that does
//! not hold a certificate is logged and the bundle in use kept. Agents adopt
//! a bundle only after a new connection verified with it succeeds.

use super::DaemonError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use teehsm_tls::pem::load_chain;
use teehsm_tls::{file_stamp as stamp, FileStamp as Stamp};

/// The bundle file and the PEM last read from it.
pub struct AgentCaBundle {
    path: PathBuf,
    current: Mutex<(Stamp, String)>,
}

impl AgentCaBundle {
    /// Reads `path`; fails (so the console does not start) unless it holds
    /// at least one certificate.
    pub fn load(path: &Path) -> Result<AgentCaBundle, DaemonError> {
        let stamp = stamp(path);
        let pem = read(path).map_err(|why| DaemonError::Setup(format!("--agent-ca-bundle {}: {why}", path.display())))?;
        Ok(AgentCaBundle { path: path.to_path_buf(), current: Mutex::new((stamp, pem)) })
    }

    /// The bundle to send, after reading the file again if it changed.
    pub fn pem(&self) -> String {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamp(&self.path);
        if cur.0 != now {
            cur.0 = now;
            match read(&self.path) {
                Ok(pem) => {
                    tracing::info!(path = %self.path.display(), "loaded the changed --agent-ca-bundle");
                    cur.1 = pem;
                }
                Err(why) => {
                    tracing::error!(path = %self.path.display(), error = %why, "the changed --agent-ca-bundle does not load; still sending the previous one")
                }
            }
        }
        cur.1.clone()
    }
}

/// The file's text if it holds one or more certificates (and nothing else
/// that fails to parse).
fn read(path: &Path) -> Result<String, String> {
    load_chain(path)?;
    std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_bundle_is_sent_and_a_broken_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("bundle.pem");
        let cert = |name: &str| {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, name);
            p.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem()
        };
        let write = |text: &str| {
            std::fs::write(d.path().join("new"), text).unwrap();
            std::fs::rename(d.path().join("new"), &path).unwrap();
        };
        write("no certificate here");
        assert!(AgentCaBundle::load(&path).is_err());
        let (a, b) = (cert("A"), cert("B"));
        write(&a);
        let bundle = AgentCaBundle::load(&path).unwrap();
        assert_eq!(bundle.pem(), a);
        write(&format!("{a}{b}"));
        assert_eq!(bundle.pem(), format!("{a}{b}"));
        write("garbage");
        assert_eq!(bundle.pem(), format!("{a}{b}"), "a broken change keeps the bundle in use");
    }
}
