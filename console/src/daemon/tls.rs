//! The console's key material in its data directory: the console CA
//! (console-ca.pem, console-ca-key.pem mode 0600) created on first start,
//! and a server certificate for localhost/127.0.0.1/::1 signed by it.

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

/// The CA and the server identity (cert PEM, key PEM).
pub struct Material {
    pub ca: ConsoleCa,
    pub server_cert_pem: String,
    pub server_key_pem: Zeroizing<String>,
}

/// Loads the CA and server certificate from `dir`, creating what is missing.
pub fn ensure(dir: &Path, now_ms: u64) -> Result<Material, DaemonError> {
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
    if cert_path.is_file() && key_path.is_file() {
        return Ok(Material { ca, server_cert_pem: read(&cert_path)?, server_key_pem: Zeroizing::new(read(&key_path)?) });
    }
    let build = |e: rcgen::Error| DaemonError::Setup(format!("cannot build the server certificate: {e}"));
    let issuer = Issuer::from_ca_cert_pem(ca.cert_pem(), KeyPair::from_pem(ca.key_pem()).map_err(build)?).map_err(build)?;
    let mut params = CertificateParams::new(SERVER_NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(build)?;
    params.distinguished_name.push(DnType::CommonName, "teehsm console");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(build)?;
    let cert = params.signed_by(&key, &issuer).map_err(build)?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    write_file(&key_path, key_pem.as_bytes(), 0o600)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
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
        let m = ensure(d.path(), 1_700_000_000_000).unwrap();
        let mode = std::fs::metadata(d.path().join(CA_KEY)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ensure(d.path(), 1_700_000_000_000).unwrap();
        assert_eq!(m.ca.fingerprint(), again.ca.fingerprint());
        assert_eq!(m.server_cert_pem, again.server_cert_pem);
        assert!(pem_to_der(&m.server_cert_pem).is_some_and(|d| d.first() == Some(&0x30)));
    }
}
