//! Agent client certificates, issued from the agent's CSR by the console CA.
//!
//! Of the CSR only the public key is used, after its signature verifies:
//! the subject is the host id the console assigned (CN), the only extended
//! key usage is TLS client authentication, the serial is random.

use super::{ca::sha256_hex, clock, ConsoleCa, EnrollError};
use aws_lc_rs::rand;
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, PublicKeyData, SerialNumber,
    PKCS_ECDSA_P256_SHA256,
};
use std::time::Duration;

/// Validity of an agent client certificate (90 days).
pub const CLIENT_CERT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);
/// The certificate is valid from this long before `now_ms`, for clock skew.
pub const BACKDATE: Duration = Duration::from_secs(300);
/// Longest host id.
pub const MAX_HOST_ID: usize = 64;

/// A certificate issued to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate, PEM, to send to the agent.
    pub cert_pem: String,
    /// SHA-256 of the certificate's DER, lowercase hex: the console records
    /// it for the host and matches it against the mTLS peer certificate.
    pub fingerprint: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// End of validity, Unix ms (truncated to the second).
    pub not_after_ms: u64,
}

/// Issues a client certificate for `host_id` from the agent's CSR (PEM).
/// The token must have been checked (and consumed) by the caller.
pub fn issue_client_cert(ca: &ConsoleCa, csr_pem: &str, host_id: &str, now_ms: u64) -> Result<IssuedCert, EnrollError> {
    check_host_id(host_id)?;
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
        rcgen::Error::InvalidCertificationRequestSignature => EnrollError::CsrSignature,
        rcgen::Error::UnsupportedExtension => EnrollError::CsrExtension,
        _ => EnrollError::BadCsr,
    })?;
    let key = &csr.public_key;
    let raw = key.der_bytes();
    if key.algorithm() != &PKCS_ECDSA_P256_SHA256 || raw.len() != 65 || raw[0] != 0x04 {
        return Err(EnrollError::CsrKeyNotP256);
    }

    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, host_id);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let serial = random_serial()?;
    let serial_hex = hex::encode(serial.as_ref());
    params.serial_number = Some(serial);
    let not_before_ms = now_ms.saturating_sub(u64::try_from(BACKDATE.as_millis()).unwrap_or(0));
    let not_after_ms = clock::plus(now_ms, CLIENT_CERT_VALIDITY)?;
    clock::set_validity(&mut params, not_before_ms, not_after_ms)?;

    let cert = CertificateSigningRequestParams { params, public_key: csr.public_key }.signed_by(ca.issuer()).map_err(EnrollError::Build)?;
    Ok(IssuedCert { cert_pem: cert.pem(), fingerprint: sha256_hex(cert.der()), serial: serial_hex, not_after_ms: not_after_ms / 1000 * 1000 })
}

/// Renews the certificate of an existing host from a CSR for a new key:
/// the same as [`issue_client_cert`], except that the caller has
/// authenticated the request with the host's current certificate
/// (`current_der`, whose CN is `host_id`) instead of a token, and a CSR for
/// the key of that certificate is refused (a renewal rotates the key).
pub fn renew_client_cert(ca: &ConsoleCa, csr_pem: &str, host_id: &str, current_der: &[u8], now_ms: u64) -> Result<IssuedCert, EnrollError> {
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|_| EnrollError::BadCsr)?;
    let (_, current) = x509_parser::parse_x509_certificate(current_der).map_err(|_| EnrollError::BadCsr)?;
    if current.public_key().subject_public_key.data.as_ref() == csr.public_key.der_bytes() {
        return Err(EnrollError::CsrKeyReused);
    }
    issue_client_cert(ca, csr_pem, host_id, now_ms)
}

/// Host ids are 1 to [`MAX_HOST_ID`] characters of `A-Z a-z 0-9 . _ -`.
pub fn check_host_id(host_id: &str) -> Result<(), EnrollError> {
    let ok =
        !host_id.is_empty() && host_id.len() <= MAX_HOST_ID && host_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EnrollError::BadHostId(host_id.chars().take(MAX_HOST_ID + 1).collect()))
    }
}

/// A random positive 16-byte serial number (RFC 5280: at most 20 octets,
/// positive; the top bits are set so DER keeps all 16 bytes).
pub(super) fn random_serial() -> Result<SerialNumber, EnrollError> {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes).map_err(|_| EnrollError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}
