//! Round trips of the enrollment pieces; the issued certificates are checked
//! with the `openssl` CLI (chain, purpose, subject), which rcgen cannot do.

use super::*;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NOW: u64 = 1_790_000_000_000;

/// A CSR as the agent builds it, asking for a CN of its own choosing.
fn agent_csr(cn: &str) -> String {
    agent_key_and_csr(cn).1
}

fn agent_key_and_csr(cn: &str) -> (KeyPair, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    let csr = p.serialize_request(&key).unwrap().pem().unwrap();
    (key, csr)
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("teehsm-console-enroll-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl CLI");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Strict X.509 checks at a time inside the certificate's validity.
fn verify_at(dir: &Path, ca: &str, cert: &str, at_s: u64) -> (bool, String) {
    let at = at_s.to_string();
    openssl(&["verify", "-x509_strict", "-attime", &at, "-purpose", "sslclient", "-CAfile", ca, cert], dir)
}

#[test]
fn full_round_trip_chains_to_the_ca_with_forced_cn_and_client_purpose_only() {
    let ca = ConsoleCa::create(NOW).unwrap();
    let (token, record) = new_token(Duration::from_secs(3600), NOW).unwrap();
    // The agent presents the token with its CSR; the store found the record by id.
    assert_eq!(token_id(&token).unwrap(), record.id);
    check_token(&token, &record, NOW + 1000).unwrap();
    let (agent_key, csr) = agent_key_and_csr("root-please");
    let issued = issue_client_cert(&ca, &csr, "host-0001", NOW + 1000).unwrap();
    assert_eq!(issued.fingerprint.len(), 64);
    assert_eq!(issued.serial.len(), 32);
    assert_eq!(issued.not_after_ms, (NOW + 1000 + CLIENT_CERT_VALIDITY.as_millis() as u64) / 1000 * 1000);

    let d = temp("roundtrip");
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(d.join("cert.pem"), &issued.cert_pem).unwrap();
    let (ok, out) = verify_at(&d, "ca.pem", "cert.pem", NOW / 1000 + 3600);
    assert!(ok, "{out}");
    assert!(out.contains("cert.pem: OK"), "{out}");
    // Not yet valid before now - BACKDATE, expired after 90 days.
    assert!(!verify_at(&d, "ca.pem", "cert.pem", NOW / 1000 - 3600).0);
    assert!(!verify_at(&d, "ca.pem", "cert.pem", NOW / 1000 + 91 * 24 * 3600).0);
    // Not usable as a server certificate.
    let at = (NOW / 1000 + 3600).to_string();
    assert!(!openssl(&["verify", "-attime", &at, "-purpose", "sslserver", "-CAfile", "ca.pem", "cert.pem"], &d).0);

    let (ok, text) = openssl(
        &["x509", "-in", "cert.pem", "-noout", "-subject", "-fingerprint", "-sha256", "-purpose", "-ext", "extendedKeyUsage,basicConstraints"],
        &d,
    );
    assert!(ok, "{text}");
    assert!(text.contains("subject=CN = host-0001"), "{text}");
    assert!(!text.contains("root-please"), "{text}");
    assert!(text.contains("SSL client : Yes"), "{text}");
    assert!(text.contains("SSL server : No"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let want_fp = issued.fingerprint.to_uppercase();
    let got_fp: String = text.lines().find(|l| l.contains("Fingerprint=")).unwrap().split('=').nth(1).unwrap().replace(':', "");
    assert_eq!(got_fp, want_fp);

    // The certificate carries the agent's key.
    assert_eq!(openssl(&["x509", "-in", "cert.pem", "-noout", "-pubkey"], &d).1, agent_key.public_key_pem());

    let (ok, text) = openssl(&["x509", "-in", "ca.pem", "-noout", "-subject", "-ext", "basicConstraints,keyUsage"], &d);
    assert!(ok, "{text}");
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn loaded_ca_signs_like_the_created_one_and_renewal_keeps_the_host_id() {
    let created = ConsoleCa::create(NOW).unwrap();
    assert!(created.key_pem().contains("-----BEGIN PRIVATE KEY-----"));
    let loaded = ConsoleCa::load(created.cert_pem(), created.key_pem()).unwrap();
    assert_eq!(loaded.fingerprint(), created.fingerprint());
    let (first_key, first_csr) = agent_key_and_csr("a");
    let first = issue_client_cert(&loaded, &first_csr, "host-7", NOW).unwrap();
    let first_der = crate::enroll::pem::decode(&first.cert_pem, "CERTIFICATE").unwrap();
    let renewed = renew_client_cert(&loaded, &agent_csr("b"), "host-7", &first_der, NOW + 80 * 24 * 3_600_000).unwrap();
    // The key of the current certificate is not renewed.
    let mut same_key = CertificateParams::new(Vec::<String>::new()).unwrap();
    same_key.distinguished_name.push(DnType::CommonName, "a");
    let reused = same_key.serialize_request(&first_key).unwrap().pem().unwrap();
    assert!(matches!(renew_client_cert(&loaded, &reused, "host-7", &first_der, NOW), Err(EnrollError::CsrKeyReused)));
    assert_ne!(first.serial, renewed.serial);
    assert_ne!(first.fingerprint, renewed.fingerprint);

    let d = temp("renew");
    std::fs::write(d.join("ca.pem"), created.cert_pem()).unwrap();
    std::fs::write(d.join("renewed.pem"), &renewed.cert_pem).unwrap();
    let (ok, out) = verify_at(&d, "ca.pem", "renewed.pem", NOW / 1000 + 85 * 24 * 3600);
    assert!(ok, "{out}");
    let (_, text) = openssl(&["x509", "-in", "renewed.pem", "-noout", "-subject"], &d);
    assert!(text.contains("CN = host-7"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn ca_key_of_another_ca_or_wrong_type_is_refused() {
    let a = ConsoleCa::create(NOW).unwrap();
    let b = ConsoleCa::create(NOW).unwrap();
    assert!(matches!(ConsoleCa::load(a.cert_pem(), b.key_pem()), Err(EnrollError::CaKeyMismatch)));
    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap().serialize_pem();
    assert!(matches!(ConsoleCa::load(a.cert_pem(), &p384), Err(EnrollError::CaKeyNotP256)));
    assert!(matches!(ConsoleCa::load("garbage", a.key_pem()), Err(EnrollError::NoPem { expected: "CERTIFICATE" })));
    assert!(matches!(ConsoleCa::load(a.cert_pem(), "garbage"), Err(EnrollError::NoPem { expected: "PRIVATE KEY" })));
    let junk_cert = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
    assert!(ConsoleCa::load(junk_cert, a.key_pem()).is_err());
    let junk_key = "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n";
    assert!(matches!(ConsoleCa::load(a.cert_pem(), junk_key), Err(EnrollError::BadCaKey(_))));
    assert!(!format!("{a:?}").contains("PRIVATE"));
}

#[test]
fn tampered_csr_signature_is_refused() {
    let ca = ConsoleCa::create(NOW).unwrap();
    let csr = agent_csr("x");
    let der = super::pem::decode(&csr, "CERTIFICATE REQUEST").unwrap();
    // The signature BIT STRING ends the DER: flip a bit of its last byte.
    let mut bad = der.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let bad_pem = rcgen_pem("CERTIFICATE REQUEST", &bad);
    assert!(matches!(issue_client_cert(&ca, &bad_pem, "h", NOW), Err(EnrollError::CsrSignature)));
    // Untouched, it is accepted: the flip is what was refused.
    assert!(issue_client_cert(&ca, &rcgen_pem("CERTIFICATE REQUEST", &der), "h", NOW).is_ok());
}

#[test]
fn garbage_csr_and_bad_inputs_get_typed_errors() {
    let ca = ConsoleCa::create(NOW).unwrap();
    for garbage in ["", "garbage", "-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8=\n-----END CERTIFICATE REQUEST-----\n"] {
        assert!(matches!(issue_client_cert(&ca, garbage, "h", NOW), Err(EnrollError::BadCsr)), "{garbage:?}");
    }
    // A certificate is not a CSR.
    assert!(matches!(issue_client_cert(&ca, ca.cert_pem(), "h", NOW), Err(EnrollError::BadCsr)));
    let csr = agent_csr("x");
    for bad_id in ["", "a b", "host/1", "ü", &"h".repeat(65)] {
        assert!(matches!(issue_client_cert(&ca, &csr, bad_id, NOW), Err(EnrollError::BadHostId(_))), "{bad_id:?}");
    }
    assert!(matches!(issue_client_cert(&ca, &csr, "h", u64::MAX - 1), Err(EnrollError::TimeOutOfRange(_))));
    // A P-384 key is refused.
    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let p384 = CertificateParams::new(Vec::<String>::new()).unwrap().serialize_request(&key).unwrap().pem().unwrap();
    assert!(matches!(issue_client_cert(&ca, &p384, "h", NOW), Err(EnrollError::CsrKeyNotP256)));
}

#[test]
fn csr_asking_for_server_auth_gets_client_auth_only() {
    let ca = ConsoleCa::create(NOW).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(vec!["console.example".to_string()]).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let csr = p.serialize_request(&key).unwrap().pem().unwrap();
    let issued = issue_client_cert(&ca, &csr, "h1", NOW).unwrap();
    let d = temp("eku");
    std::fs::write(d.join("c.pem"), &issued.cert_pem).unwrap();
    let (ok, text) = openssl(&["x509", "-in", "c.pem", "-noout", "-purpose", "-ext", "subjectAltName,extendedKeyUsage"], &d);
    assert!(ok, "{text}");
    assert!(text.contains("SSL server : No"), "{text}");
    assert!(!text.contains("console.example"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

/// PEM-encodes `der` (test helper; base64 by hand to avoid a dependency).
fn rcgen_pem(label: &str, der: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}
