//! Certificate chains and private keys from the PEM files an operator
//! gives a daemon (server certificates, the console's PostgreSQL client
//! certificate, client-certificate CAs). Errors are sentences the caller
//! prefixes with the option and the path.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio_rustls::rustls;

/// Every certificate of a PEM file, in order (leaf first for a chain).
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| format!("not a PEM file of certificates: {e}"))?;
    if chain.is_empty() {
        return Err("it holds no certificate".into());
    }
    Ok(chain)
}

/// The private key of a PEM file (PKCS#8, SEC1 or PKCS#1); refused when
/// others than its owner may read the file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!("has mode {:o}: others than its owner may read it; chmod 600 it", meta.permissions().mode() & 0o777));
    }
    let pem = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?);
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("no PKCS#8, SEC1 or PKCS#1 private key in it: {e}"))
}
