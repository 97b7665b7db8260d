//! The console's key material in its data directory: the console CA
//! (console-ca.pem, console-ca-key.pem mode 0600) created on first start,
//! and a server certificate signed by it for localhost/127.0.0.1/::1 and
//! the names given with `--server-name` (the DNS names and addresses agents
//! reach the console by). The names are kept in `server-names`; a change
//! of names reissues the server certificate (same CA, so enrolled agents
//! keep trusting it).

use super::DaemonError;
use crate::enroll::ConsoleCa;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use zeroize::Zeroizing;

pub const CA_CERT: &str = "console-ca.pem";
pub const CA_KEY: &str = "console-ca-key.pem";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// The names the server certificate was issued for, one per line.
pub const SERVER_NAMES_FILE: &str = "server-names";

/// Checks one `--server-name`: a DNS name (letters, digits, '-', dots; a
/// leading "*." wildcard) or an IPv4/IPv6 address.
pub fn check_server_name(name: &str) -> Result<(), String> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.is_empty() || name.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "{name:?} is neither an IP address nor a DNS name (letters, digits and '-' in dot-separated labels, optionally starting with \"*.\")"
        ));
    }
    Ok(())
}

/// localhost, 127.0.0.1, ::1 and then `extra` (lower-cased), without repeats.
pub fn server_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = SERVER_NAMES.iter().map(|s| s.to_string()).collect();
    for n in extra {
        let n = n.to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// The CA and the server identity (cert PEM, key PEM).
pub struct Material {
    pub ca: ConsoleCa,
    pub server_cert_pem: String,
    pub server_key_pem: Zeroizing<String>,
}

/// Loads the CA and server certificate from `dir`, creating what is
/// missing, and reissuing the server certificate when `extra_names` (see
/// [`server_names`]) differ from the names it was issued for.
pub fn ensure(dir: &Path, extra_names: &[String], now_ms: u64) -> Result<Material, DaemonError> {
    for n in extra_names {
        check_server_name(n).map_err(|e| DaemonError::Setup(format!("--server-name: {e}")))?;
    }
    let names = server_names(extra_names);
    let ca_cert = dir.join(CA_CERT);
    let ca_key = dir.join(CA_KEY);
    let ca = if ca_cert.is_file() && ca_key.is_file() {
        let cert = read(&ca_cert)?;
        let key = Zeroizing::new(read(&ca_key)?);
        ConsoleCa::load(&cert, &key).map_err(|e| DaemonError::Setup(format!("console CA in {}: {e}", dir.display())))?
    } else {
        let ca = ConsoleCa::create(now_ms).map_err(|e| DaemonError::Setup(format!("cannot create the console CA: {e}")))?;
        write_file(&ca_key, ca.key_pem().as_bytes(), 0o600)?;
        write_file(&ca_cert, ca.cert_pem().as_bytes(), 0o644)?;
        // A new CA: any old server certificate is not signed by it.
        let _ = std::fs::remove_file(dir.join(SERVER_CERT));
        tracing::info!(fingerprint = %ca.fingerprint(), "created the console CA");
        ca
    };
    let cert_path = dir.join(SERVER_CERT);
    let key_path = dir.join(SERVER_KEY);
    let names_path = dir.join(SERVER_NAMES_FILE);
    // A certificate from before the names file was kept has the default names.
    let issued_for: Vec<String> = match std::fs::read_to_string(&names_path) {
        Ok(text) => text.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect(),
        Err(_) => server_names(&[]),
    };
    if cert_path.is_file() && key_path.is_file() {
        if issued_for == names {
            return Ok(Material { ca, server_cert_pem: read(&cert_path)?, server_key_pem: Zeroizing::new(read(&key_path)?) });
        }
        tracing::info!(old = ?issued_for, new = ?names, "the server names changed; reissuing the server certificate");
    }
    let build = |e: rcgen::Error| DaemonError::Setup(format!("cannot build the server certificate: {e}"));
    let issuer = Issuer::from_ca_cert_pem(ca.cert_pem(), KeyPair::from_pem(ca.key_pem()).map_err(build)?).map_err(build)?;
    let mut params = CertificateParams::new(names.clone()).map_err(build)?;
    params.distinguished_name.push(DnType::CommonName, "teehsm console");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(build)?;
    let cert = params.signed_by(&key, &issuer).map_err(build)?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    write_file(&key_path, key_pem.as_bytes(), 0o600)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(&names_path, format!("{}\n", names.join("\n")).as_bytes(), 0o644)?;
    tracing::info!(names = ?names, "issued the server certificate");
    Ok(Material { ca, server_cert_pem: cert.pem(), server_key_pem: key_pem })
}

fn read(path: &Path) -> Result<String, DaemonError> {
    std::fs::read_to_string(path).map_err(|e| DaemonError::Setup(format!("cannot read {}: {e}", path.display())))
}

/// Writes `data` to `path` with `mode` through a temporary file.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), DaemonError> {
    let err = |e: std::io::Error| DaemonError::Setup(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The DER of the first CERTIFICATE block of a PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    crate::enroll::pem::decode(pem, "CERTIFICATE").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_private_key_modes() {
        let d = tempfile::tempdir().unwrap();
        let m = ensure(d.path(), &[], 1_700_000_000_000).unwrap();
        let mode = std::fs::metadata(d.path().join(CA_KEY)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ensure(d.path(), &[], 1_700_000_000_000).unwrap();
        assert_eq!(m.ca.fingerprint(), again.ca.fingerprint());
        assert_eq!(m.server_cert_pem, again.server_cert_pem);
        assert!(pem_to_der(&m.server_cert_pem).is_some_and(|d| d.first() == Some(&0x30)));
    }

    fn sans(pem: &str) -> Vec<String> {
        use x509_parser::extensions::GeneralName;
        let der = pem_to_der(pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        san.value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(n) => n.to_string(),
                GeneralName::IPAddress(b) if b.len() == 4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string(),
                GeneralName::IPAddress(b) => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn server_names_are_in_the_certificate_and_a_change_reissues_it() {
        let d = tempfile::tempdir().unwrap();
        let first = ensure(d.path(), &[], 1_700_000_000_000).unwrap();
        assert_eq!(sans(&first.server_cert_pem), ["localhost", "127.0.0.1", "::1"]);
        let names = vec!["Console.Bank.Test".to_string(), "10.1.2.3".to_string(), "*.hsm.bank.test".to_string()];
        let named = ensure(d.path(), &names, 1_700_000_000_000).unwrap();
        assert_eq!(sans(&named.server_cert_pem), ["localhost", "127.0.0.1", "::1", "console.bank.test", "10.1.2.3", "*.hsm.bank.test"]);
        assert_eq!(named.ca.fingerprint(), first.ca.fingerprint(), "same CA: enrolled agents keep trusting the console");
        assert_eq!(ensure(d.path(), &names, 1).unwrap().server_cert_pem, named.server_cert_pem, "same names: kept");
        assert_ne!(ensure(d.path(), &[], 1).unwrap().server_cert_pem, named.server_cert_pem, "names dropped: reissued");
        for bad in ["bad name", "-x.bank", "a..b", "é.bank", ""] {
            let e = ensure(d.path(), &[bad.to_string()], 1).err().unwrap().to_string();
            assert!(e.contains("neither an IP address nor a DNS name"), "{bad}: {e}");
        }
    }
}
