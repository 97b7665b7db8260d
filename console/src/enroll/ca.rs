//! The console CA: a self-signed ECDSA P-256 CA that signs the agents'
//! client certificates. Created once; the caller stores the certificate PEM
//! and the key PEM (the key with file mode 0600) and loads them afterwards.

use super::{clock, pem, EnrollError};
use aws_lc_rs::digest;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256};
use std::time::Duration;
use zeroize::Zeroizing;

/// Subject CN of the CA certificate.
pub const CA_COMMON_NAME: &str = "teehsm fleet console CA";
/// Validity of a newly created CA certificate (10 years).
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The console CA, ready to sign.
pub struct ConsoleCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for ConsoleCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleCa").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

impl ConsoleCa {
    /// Creates a new CA with a fresh P-256 key, valid from `now_ms` for
    /// [`CA_VALIDITY`]. It may only sign end-entity certificates (pathlen 0).
    pub fn create(now_ms: u64) -> Result<Self, EnrollError> {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(super::issue::random_serial()?);
        clock::set_validity(&mut params, now_ms, clock::plus(now_ms, CA_VALIDITY)?)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(EnrollError::Build)?;
        let key_pem = Zeroizing::new(key.serialize_pem());
        let certified = CertifiedIssuer::self_signed(params, key).map_err(EnrollError::Build)?;
        let cert_pem = certified.pem();
        let cert_der = certified.der().to_vec();
        // Rebuilt from the PEM, as a loaded CA would be, so both paths sign alike.
        let issuer =
            Issuer::from_ca_cert_pem(&cert_pem, KeyPair::from_pem(&key_pem).map_err(EnrollError::BadCaKey)?).map_err(EnrollError::BadCaCert)?;
        Ok(Self { issuer, cert_pem, cert_der, key_pem })
    }

    /// Loads a CA from its certificate PEM and key PEM (PKCS#8), checking the
    /// key is P-256 and belongs to the certificate.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, EnrollError> {
        let cert_der = pem::decode(cert_pem, "CERTIFICATE")?;
        // The key's DER is a secret: decode it only to check the label.
        let _ = Zeroizing::new(pem::decode(key_pem, "PRIVATE KEY")?);
        let key = KeyPair::from_pem(key_pem).map_err(EnrollError::BadCaKey)?;
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(EnrollError::CaKeyNotP256);
        }
        // The subjectPublicKey BIT STRING of the certificate holds the
        // key's 65-byte uncompressed point.
        if !contains(&cert_der, key.public_key_raw()) {
            return Err(EnrollError::CaKeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(EnrollError::BadCaCert)?;
        Ok(Self { issuer, cert_pem: cert_pem.to_owned(), cert_der, key_pem: Zeroizing::new(key_pem.to_owned()) })
    }

    /// The CA certificate, PEM; agents trust it for the console's server
    /// certificate too if the console's TLS certificate is signed by it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA key, PKCS#8 PEM, for the caller to store with mode 0600.
    pub fn key_pem(&self) -> &Zeroizing<String> {
        &self.key_pem
    }

    /// SHA-256 of the CA certificate's DER, lowercase hex.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.cert_der)
    }

    pub(super) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// SHA-256 of `data`, lowercase hex.
pub(super) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
