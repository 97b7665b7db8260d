//! Who is calling Heartbeat: the peer certificate (already verified by TLS
//! against the console CA) names the host in its CN, and must be the very
//! certificate the console issued to that host (SHA-256 fingerprint): its
//! current one, or the one a renewal issued that the agent has not used yet.

use crate::store::{Host, HostStatus};
use aws_lc_rs::digest;

/// Why a heartbeat is refused (all map to UNAUTHENTICATED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no client certificate")]
    NoCert,
    #[error("the client certificate cannot be parsed or has no CN")]
    BadCert,
    #[error("host {0:?} is not enrolled")]
    Unknown(String),
    #[error("host {0:?} is not active")]
    Inactive(String),
    #[error("the certificate is not the one issued to host {0:?}")]
    Fingerprint(String),
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn cert_fingerprint(der: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, der).as_ref())
}

/// The subject CN of a DER certificate.
pub fn cert_cn(der: &[u8]) -> Option<String> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let mut cns = cert.subject().iter_common_name();
    let cn = cns.next()?.as_str().ok()?.to_owned();
    // Exactly one CN.
    cns.next().is_none().then_some(cn)
}

/// Which of the host's certificates the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUse {
    Current,
    /// The one issued by a renewal, used for the first time: the caller
    /// makes it current ([`crate::store::Store::promote_pending_cert`]).
    Pending,
}

/// Decides whether the peer's leaf certificate (`peer`, DER) may heartbeat;
/// `lookup` finds the host record of a host id. Returns the host and which
/// of its certificates was used.
pub fn authorize(peer: Option<&[u8]>, lookup: impl FnOnce(&str) -> Option<Host>) -> Result<(Host, CertUse), AuthError> {
    let der = peer.ok_or(AuthError::NoCert)?;
    let cn = cert_cn(der).ok_or(AuthError::BadCert)?;
    let host = lookup(&cn).ok_or_else(|| AuthError::Unknown(cn.clone()))?;
    if host.status != HostStatus::Active {
        return Err(AuthError::Inactive(cn));
    }
    let fingerprint = cert_fingerprint(der);
    if host.cert_fingerprint == fingerprint {
        return Ok((host, CertUse::Current));
    }
    if host.pending_cert_fingerprint.as_deref() == Some(fingerprint.as_str()) {
        return Ok((host, CertUse::Pending));
    }
    Err(AuthError::Fingerprint(cn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enroll::{issue_client_cert, ConsoleCa};
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};

    fn issued(ca: &ConsoleCa, host: &str) -> (Vec<u8>, String) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = CertificateParams::new(Vec::<String>::new()).unwrap().serialize_request(&key).unwrap().pem().unwrap();
        let cert = issue_client_cert(ca, &csr, host, 1_700_000_000_000).unwrap();
        let der = super::super::tls::pem_to_der(&cert.cert_pem).unwrap();
        (der, cert.fingerprint)
    }

    fn host(id: &str, fp: &str, status: HostStatus) -> Host {
        Host {
            id: id.into(),
            name: id.into(),
            group: "g".into(),
            enrolled_at_ms: 0,
            last_seen_ms: None,
            cert_fingerprint: fp.into(),
            status,
            cert_not_after_ms: None,
            pending_cert_fingerprint: None,
            renew_requested: false,
        }
    }

    #[test]
    fn decisions() {
        let ca = ConsoleCa::create(1_700_000_000_000).unwrap();
        let (der, fp) = issued(&ca, "host-1");
        assert_eq!(cert_fingerprint(&der), fp);
        assert_eq!(cert_cn(&der).as_deref(), Some("host-1"));
        // Good.
        let (h, used) = authorize(Some(&der), |id| (id == "host-1").then(|| host(id, &fp, HostStatus::Active))).unwrap();
        assert_eq!((h.id.as_str(), used), ("host-1", CertUse::Current));
        // No certificate.
        assert_eq!(authorize(None, |_| None), Err(AuthError::NoCert));
        // Garbage.
        assert_eq!(authorize(Some(b"junk"), |_| None), Err(AuthError::BadCert));
        // Not enrolled.
        assert_eq!(authorize(Some(&der), |_| None), Err(AuthError::Unknown("host-1".into())));
        // Revoked.
        assert_eq!(authorize(Some(&der), |id| Some(host(id, &fp, HostStatus::Revoked))), Err(AuthError::Inactive("host-1".into())));
        // Another certificate with the same CN (e.g. re-issued): refused.
        let (other, _) = issued(&ca, "host-1");
        assert_eq!(authorize(Some(&other), |id| Some(host(id, &fp, HostStatus::Active))), Err(AuthError::Fingerprint("host-1".into())));
        // The same certificate pending after a renewal: accepted as such, the old one still current.
        let (renewed, renewed_fp) = issued(&ca, "host-1");
        let mid_renewal = |id: &str| Some(Host { pending_cert_fingerprint: Some(renewed_fp.clone()), ..host(id, &fp, HostStatus::Active) });
        assert_eq!(authorize(Some(&renewed), mid_renewal).unwrap().1, CertUse::Pending);
        assert_eq!(authorize(Some(&der), mid_renewal).unwrap().1, CertUse::Current);
        assert_eq!(authorize(Some(&other), mid_renewal), Err(AuthError::Fingerprint("host-1".into())));
        // A revoked host's pending certificate is refused too.
        let revoked = |id: &str| Some(Host { pending_cert_fingerprint: Some(renewed_fp.clone()), ..host(id, &fp, HostStatus::Revoked) });
        assert_eq!(authorize(Some(&renewed), revoked), Err(AuthError::Inactive("host-1".into())));
    }
}
