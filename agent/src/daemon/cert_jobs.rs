//! The `generate_csr` and `import_certificate` jobs (docs/fleet-agent.md,
//! "Token jobs"): a PKCS#10 request for a key that never leaves the TA
//! (generated there if asked), and the issued certificate stored next to it.
//!
//! Like `import_key`, these need a user session on the token
//! (`--user-pin-file`); the CSR is signed inside the TA (GenerateCsr).

use super::key_import::ImportError;
use std::path::Path;
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::keydist::{pem_decode, pem_encode};
use teehsm_wire::{Attribute, Calls, Mechanism, Reply, Request};

pub const KIND_GENERATE_CSR: &str = "generate_csr";
pub const KIND_IMPORT_CERTIFICATE: &str = "import_certificate";
/// A console-signed token policy (docs/key-distribution.md, "Token policy").
pub const KIND_APPLY_POLICY: &str = "apply_policy";
/// Largest certificate accepted in a job (PEM).
pub const MAX_CERT_PEM: usize = 16 * 1024;
/// DER of the P-256 curve OID (CKA_EC_PARAMS).
const P256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// `{"slot": 0, "label": "web01", "subject": "CN=web01.example,O=Bank", "generate": true}`:
/// a CSR for the private key labelled `label`, made first (P-256, token,
/// sensitive, sign only) when `generate` is true and none exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrJob {
    pub slot: u64,
    pub label: String,
    pub subject: String,
    pub generate: bool,
}

/// `{"slot": 0, "label": "web01", "cert_pem": "-----BEGIN CERTIFICATE-----..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateJob {
    pub slot: u64,
    pub label: String,
    pub cert_der: Vec<u8>,
    pub subject_der: Vec<u8>,
}

fn payload(json: &str) -> Result<serde_json::Value, ImportError> {
    serde_json::from_str(json).map_err(|e| ImportError::Payload(format!("not JSON: {e}")))
}

fn label_of(v: &serde_json::Value) -> Result<String, ImportError> {
    v.get("label")
        .and_then(|l| l.as_str())
        .filter(|l| !l.is_empty() && l.len() <= 128)
        .map(str::to_owned)
        .ok_or_else(|| ImportError::Payload("\"label\" must be 1 to 128 characters".into()))
}

impl CsrJob {
    pub fn parse(json: &str) -> Result<Self, ImportError> {
        let v = payload(json)?;
        let subject = v.get("subject").and_then(|s| s.as_str()).filter(|s| !s.is_empty() && s.len() <= 1024);
        Ok(CsrJob {
            slot: v.get("slot").and_then(|s| s.as_u64()).unwrap_or(0),
            label: label_of(&v)?,
            subject: subject.ok_or_else(|| ImportError::Payload("\"subject\" must be a DN such as \"CN=host,O=Org\"".into()))?.to_owned(),
            generate: v.get("generate").and_then(|g| g.as_bool()).unwrap_or(false),
        })
    }
}

impl CertificateJob {
    pub fn parse(json: &str) -> Result<Self, ImportError> {
        let v = payload(json)?;
        let pem = v.get("cert_pem").and_then(|s| s.as_str()).ok_or_else(|| ImportError::Payload("no \"cert_pem\" string".into()))?;
        if pem.len() > MAX_CERT_PEM {
            return Err(ImportError::Payload(format!("cert_pem is larger than {MAX_CERT_PEM} bytes")));
        }
        let der = pem_decode("CERTIFICATE", pem).map_err(|e| ImportError::Payload(format!("cert_pem: {e}")))?;
        let (rest, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| ImportError::Payload(format!("cert_pem is not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(ImportError::Payload("cert_pem has bytes after the certificate".into()));
        }
        let subject_der = cert.subject().as_raw().to_vec();
        Ok(CertificateJob { slot: v.get("slot").and_then(|s| s.as_u64()).unwrap_or(0), label: label_of(&v)?, cert_der: der, subject_der })
    }
}

fn session(socket: &Path, slot: u64, user_pin: &[u8]) -> Result<(Client, u64), ImportError> {
    let mut c = Client::connect(socket, "teehsm-agent").map_err(|source| ImportError::Connect { socket: socket.display().to_string(), source })?;
    let s = c.open_session(slot, true).map_err(|source| ImportError::Ta { step: "OpenSession", source })?;
    if let Err(source) = c.login(s, CKU_USER, user_pin) {
        let _ = c.call(&Request::CloseSession { session: s });
        return Err(ImportError::Ta { step: "user login (check --user-pin-file)", source });
    }
    Ok((c, s))
}

fn find_private_key(c: &mut Client, s: u64, label: &str) -> Result<Vec<u64>, ImportError> {
    let template = vec![Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY), Attribute::new(CKA_LABEL, label.as_bytes().to_vec())];
    c.find(s, template).map_err(|source| ImportError::Ta { step: "FindObjects", source })
}

/// Makes the CSR (and the key, if asked); returns it as PEM. Blocking.
pub fn generate_csr(socket: &Path, user_pin: &[u8], job: &CsrJob) -> Result<String, ImportError> {
    let (mut c, s) = session(socket, job.slot, user_pin)?;
    let r = (|| {
        let key = match find_private_key(&mut c, s, &job.label)?.as_slice() {
            [k] => *k,
            [] if job.generate => {
                let label = Attribute::new(CKA_LABEL, job.label.as_bytes().to_vec());
                let req = Request::GenerateKeyPair {
                    session: s,
                    mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
                    public_template: vec![
                        Attribute::new(CKA_EC_PARAMS, P256.to_vec()),
                        Attribute::bool(CKA_TOKEN, true),
                        Attribute::bool(CKA_VERIFY, true),
                        label.clone(),
                    ],
                    private_template: vec![
                        Attribute::bool(CKA_TOKEN, true),
                        Attribute::bool(CKA_SIGN, true),
                        Attribute::bool(CKA_SENSITIVE, true),
                        Attribute::bool(CKA_EXTRACTABLE, false),
                        label,
                    ],
                };
                match c.call(&req).map_err(|source| ImportError::Ta { step: "GenerateKeyPair", source })? {
                    Reply::KeyPair { private, .. } => private,
                    _ => return Err(ImportError::Unexpected("GenerateKeyPair")),
                }
            }
            [] => {
                return Err(ImportError::Payload(format!(
                    "no private key labelled {:?} in slot {}; set \"generate\": true to make a P-256 one",
                    job.label, job.slot
                )))
            }
            _ => return Err(ImportError::Payload(format!("several private keys are labelled {:?}", job.label))),
        };
        let mechanism = match c
            .call(&Request::GetAttributeValue { session: s, object: key, types: vec![CKA_KEY_TYPE] })
            .map_err(|source| ImportError::Ta { step: "GetAttributeValue", source })?
        {
            Reply::Attributes(a) => {
                match a.first().filter(|a| a.status.is_ok()).and_then(|a| <[u8; 8]>::try_from(a.value.as_slice()).ok()).map(u64::from_be_bytes) {
                    Some(CKK_RSA) => CKM_SHA256_RSA_PKCS,
                    Some(CKK_EC_EDWARDS) => CKM_EDDSA,
                    _ => CKM_ECDSA_SHA256,
                }
            }
            _ => return Err(ImportError::Unexpected("GetAttributeValue")),
        };
        match c
            .call(&Request::GenerateCsr { session: s, key, subject: job.subject.clone(), mechanism })
            .map_err(|source| ImportError::Ta { step: "GenerateCsr", source })?
        {
            Reply::Bytes(der) => Ok(pem_encode("CERTIFICATE REQUEST", &der)),
            _ => Err(ImportError::Unexpected("GenerateCsr")),
        }
    })();
    let _ = c.call(&Request::CloseSession { session: s });
    r
}

/// Stores the certificate as a token object labelled like its key; returns
/// its handle. Blocking.
pub fn import_certificate(socket: &Path, user_pin: &[u8], job: &CertificateJob) -> Result<u64, ImportError> {
    let (mut c, s) = session(socket, job.slot, user_pin)?;
    let template = vec![
        Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
        Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::new(CKA_LABEL, job.label.as_bytes().to_vec()),
        Attribute::new(CKA_SUBJECT, job.subject_der.clone()),
        Attribute::new(CKA_VALUE, job.cert_der.clone()),
    ];
    let r = match c.call(&Request::CreateObject { session: s, template }).map_err(|source| ImportError::Ta { step: "CreateObject", source }) {
        Ok(Reply::Handle(h)) => Ok(h),
        Ok(_) => Err(ImportError::Unexpected("CreateObject")),
        Err(e) => Err(e),
    };
    let _ = c.call(&Request::CloseSession { session: s });
    r
}

/// `{"slot": 0, "policy_hex": "..."}`: hands the signed policy to the TA,
/// which checks it. Returns the message for the job report. Blocking.
pub fn apply_policy(socket: &Path, user_pin: &[u8], payload_json: &str) -> Result<String, ImportError> {
    let v = payload(payload_json)?;
    let slot = v.get("slot").and_then(|s| s.as_u64()).unwrap_or(0);
    let hex_policy = v.get("policy_hex").and_then(|s| s.as_str()).ok_or_else(|| ImportError::Payload("no \"policy_hex\" string".into()))?;
    if hex_policy.len() > 2 * teehsm_wire::token_policy::POLICY_LEN {
        return Err(ImportError::Payload("policy_hex is longer than a token policy".into()));
    }
    let policy = hex::decode(hex_policy).map_err(|e| ImportError::Payload(format!("policy_hex is not hex: {e}")))?;
    // What the signed policy says about algorithms, for the job's message.
    let rules = match teehsm_wire::token_policy::TokenPolicy::from_bytes(&policy) {
        Ok(p) if p.rules != 0 || p.min_rsa_bits != 0 => {
            let names: Vec<&str> = teehsm_wire::token_policy::rules::NAMES.iter().filter(|(b, _)| p.rules & b != 0).map(|(_, n)| *n).collect();
            let rsa = if p.min_rsa_bits > 0 { format!("RSA >= {} bits", p.min_rsa_bits) } else { String::new() };
            let all: Vec<&str> = names.into_iter().chain((!rsa.is_empty()).then_some(rsa.as_str())).collect();
            format!("; rules: {}", all.join(", "))
        }
        _ => String::new(),
    };
    let (mut c, s) = session(socket, slot, user_pin)?;
    let r = c.call(&Request::ApplyTokenPolicy { session: s, policy }).map_err(|source| ImportError::Ta { step: "ApplyTokenPolicy", source });
    let info = c.call(&Request::GetTokenInfo { slot });
    let _ = c.call(&Request::CloseSession { session: s });
    match r? {
        Reply::Done => {}
        _ => return Err(ImportError::Unexpected("ApplyTokenPolicy")),
    }
    Ok(match info {
        Ok(Reply::TokenInfo(t)) => {
            format!("policy applied to slot {slot}: the token may hold {} objects (holds {}){rules}", t.max_objects, t.total_objects)
        }
        _ => format!("policy applied to slot {slot}{rules}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let j = CsrJob::parse(r#"{"label": "web", "subject": "CN=web", "generate": true}"#).unwrap();
        assert_eq!(j, CsrJob { slot: 0, label: "web".into(), subject: "CN=web".into(), generate: true });
        assert!(CsrJob::parse(r#"{"label": "web"}"#).unwrap_err().to_string().contains("subject"));
        assert!(CsrJob::parse(r#"{"subject": "CN=x"}"#).unwrap_err().to_string().contains("label"));
        let cert = rcgen::generate_simple_self_signed(vec!["web.example".into()]).unwrap();
        let j = CertificateJob::parse(&serde_json::json!({ "label": "web", "cert_pem": cert.cert.pem() }).to_string()).unwrap();
        assert_eq!(j.cert_der, cert.cert.der().to_vec());
        assert!(!j.subject_der.is_empty() && j.cert_der.windows(j.subject_der.len()).any(|w| w == j.subject_der));
        for (bad, why) in [
            (serde_json::json!({ "label": "web" }), "cert_pem"),
            (serde_json::json!({ "label": "web", "cert_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }), "not an X.509"),
            (serde_json::json!({ "label": "web", "cert_pem": "x".repeat(MAX_CERT_PEM + 1) }), "larger"),
        ] {
            let e = CertificateJob::parse(&bad.to_string()).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
