//! Key distribution through the fleet (docs/key-distribution.md, "Through
//! the fleet console"): the attestation nonce each host's reports must
//! answer, the last report each agent sent, and `POST /api/keys/distribute`,
//! which generates a key, wraps it to every chosen host's attested TA,
//! signs the envelopes and queues one `import_key` job per host.
//!
//! The key material exists only in this process, in zeroizing buffers,
//! between generation and sealing; the agents and CAs only carry envelopes.

use super::http::{error, json_resp, HttpRequest, HttpResponse};
use super::Shared;
use crate::keydist::{verify_report, wrap, KeyMaterial, KeySpec, SigningKey, WrapParams};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use teehsm_attest::{Policy, TrustAnchor};
use teehsm_wire::ATTESTATION_NONCE_LEN;
use zeroize::Zeroizing;

/// The job kind the agent carries out (agent/src/daemon/key_import.rs).
pub const KIND_IMPORT_KEY: &str = "import_key";
/// Largest attestation report accepted from an agent.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Default and longest validity of an envelope.
const DEFAULT_VALIDITY_SECS: u64 = 3600;
const MAX_VALIDITY_SECS: u64 = 7 * 24 * 3600;
/// Most hosts in one distribution.
const MAX_HOSTS: usize = 1000;

/// What the console needs to wrap keys: its signing key (the one token SOs
/// trust with `teehsm keydist trust`), and how it verifies TA reports.
pub struct KeydistConfig {
    pub signer: SigningKey,
    /// A trust anchor file, or a directory of them (`*.pem`, read at every
    /// distribution so anchors can be added while the console runs: the
    /// simulated TEE has one report key per host).
    pub anchors: std::path::PathBuf,
    pub policy: Policy,
}

impl std::fmt::Debug for KeydistConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeydistConfig").field("signer", &hex::encode(self.signer.public_key())).finish_non_exhaustive()
    }
}

impl KeydistConfig {
    /// Loads the three files given to `serve`.
    pub fn load(signing_key: &Path, trust_anchors: &Path, policy: &Path) -> Result<Self, crate::keydist::KeydistError> {
        let cfg = KeydistConfig { signer: SigningKey::load(signing_key)?, anchors: trust_anchors.to_path_buf(), policy: Policy::load(policy)? };
        cfg.trust_anchors().map_err(crate::keydist::KeydistError::Invalid)?;
        Ok(cfg)
    }

    /// The trust anchors: the file, or every `*.pem` of the directory.
    pub fn trust_anchors(&self) -> Result<Vec<TrustAnchor>, String> {
        let files = if self.anchors.is_dir() {
            let rd = std::fs::read_dir(&self.anchors).map_err(|e| format!("trust anchor directory {}: {e}", self.anchors.display()))?;
            let mut files: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "pem")).collect();
            files.sort();
            files
        } else {
            vec![self.anchors.clone()]
        };
        files.iter().map(|f| TrustAnchor::load_sim(f).map_err(|e| format!("trust anchor {}: {e}", f.display()))).collect()
    }
}

/// Per host: the nonce its next report must answer and the last report.
#[derive(Default)]
pub struct Attestations {
    hosts: Mutex<HashMap<String, HostAttestation>>,
}

struct HostAttestation {
    nonce: [u8; ATTESTATION_NONCE_LEN],
    report: Option<Vec<u8>>,
}

impl Attestations {
    /// The host's current nonce (a new random one the first time).
    pub fn nonce_for(&self, host: &str) -> Option<[u8; ATTESTATION_NONCE_LEN]> {
        let mut hosts = self.hosts.lock().ok()?;
        if let Some(h) = hosts.get(host) {
            return Some(h.nonce);
        }
        let mut nonce = [0u8; ATTESTATION_NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        hosts.insert(host.to_owned(), HostAttestation { nonce, report: None });
        Some(nonce)
    }

    /// Keeps a report an agent sent (checked only when a key is wrapped).
    pub fn record(&self, host: &str, report: &[u8]) -> Result<(), String> {
        if report.len() > MAX_REPORT_BYTES {
            return Err(format!("an attestation report is at most {MAX_REPORT_BYTES} bytes"));
        }
        let mut hosts = self.hosts.lock().map_err(|_| "lock poisoned".to_string())?;
        match hosts.get_mut(host) {
            Some(h) => {
                h.report = Some(report.to_vec());
                Ok(())
            }
            None => Err("no attestation nonce was issued to this host yet".into()),
        }
    }

    fn get(&self, host: &str) -> Option<([u8; ATTESTATION_NONCE_LEN], Option<Vec<u8>>)> {
        self.hosts.lock().ok()?.get(host).map(|h| (h.nonce, h.report.clone()))
    }
}

/// What POST /api/keys/distribute asks for.
#[derive(Debug)]
struct Request {
    hosts: Vec<String>,
    slot: u64,
    label: String,
    key_type: String,
    length: usize,
    spec: KeySpec,
    validity_secs: u64,
}

const SHAPE: &str = r#"expected {"hosts": ["host-1", ...], "label": "pay-key", "key_type": "aes" | "generic-secret", "length": 32, "slot": 0, "usages": "encrypt,decrypt", "id_hex": "01", "validity_secs": 3600}"#;

fn parse(body: &[u8]) -> Result<Request, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("{SHAPE}: {e}"))?;
    let hosts: Vec<String> = v["hosts"]
        .as_array()
        .ok_or_else(|| format!("\"hosts\" must be a list of host ids; {SHAPE}"))?
        .iter()
        .map(|h| h.as_str().map(str::to_owned).ok_or_else(|| "every host id is a string".to_string()))
        .collect::<Result<_, _>>()?;
    if hosts.is_empty() || hosts.len() > MAX_HOSTS {
        return Err(format!("\"hosts\" must name 1 to {MAX_HOSTS} hosts"));
    }
    let label = v["label"].as_str().filter(|l| !l.is_empty() && l.len() <= 128).ok_or("\"label\" must be 1 to 128 characters")?.to_owned();
    let key_type = v["key_type"].as_str().unwrap_or("aes").to_owned();
    let length = match (key_type.as_str(), v["length"].as_u64()) {
        ("aes", None) => 32,
        ("aes", Some(n @ (16 | 24 | 32))) => n as usize,
        ("aes", Some(_)) => return Err("an AES key is 16, 24 or 32 bytes long".into()),
        ("generic-secret", None) => 32,
        ("generic-secret", Some(n @ 1..=512)) => n as usize,
        ("generic-secret", Some(_)) => return Err("a generic secret is 1 to 512 bytes long".into()),
        ("ec-p256", None) => 0,
        ("ec-p256", Some(_)) => return Err("an ec-p256 key has no length to choose".into()),
        (other, _) => return Err(format!("key_type {other:?} is not one the console generates (aes, generic-secret, ec-p256)")),
    };
    let usages = KeySpec::parse_usages(v["usages"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
    let id = match v["id_hex"].as_str() {
        Some(h) => hex::decode(h).map_err(|e| format!("id_hex is not hex: {e}"))?,
        None => Vec::new(),
    };
    let validity_secs = match v["validity_secs"].as_u64() {
        None => DEFAULT_VALIDITY_SECS,
        Some(s @ 60..=MAX_VALIDITY_SECS) => s,
        Some(_) => return Err(format!("validity_secs must be 60 to {MAX_VALIDITY_SECS}")),
    };
    let slot = v["slot"].as_u64().unwrap_or(0);
    Ok(Request { hosts, slot, label: label.clone(), key_type, length, spec: KeySpec { label, id, usages, ..KeySpec::default() }, validity_secs })
}

/// Every host's verified TA: enrolled, with a report over its current nonce
/// that verifies under a trust anchor and the policy. All or nothing.
fn verified_targets(sh: &Shared, cfg: &KeydistConfig, hosts: &[String]) -> Result<Vec<(String, crate::keydist::Target)>, HttpResponse> {
    {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        for h in hosts {
            match store.host(h) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(error(404, &format!("host {h:?} is not enrolled"))),
                Err(_) => return Err(error(500, "internal error; see the console's log")),
            }
        }
    }
    let anchors = cfg.trust_anchors().map_err(|e| error(500, &e))?;
    let mut targets = Vec::with_capacity(hosts.len());
    for h in hosts {
        let (nonce, report) = sh.attestations.get(h).unwrap_or(([0; ATTESTATION_NONCE_LEN], None));
        let Some(report) = report else {
            return Err(error(409, &format!("host {h:?} has not sent an attestation report for its current nonce yet; wait for its next heartbeat")));
        };
        let mut refused = format!("host {h:?}: no trust anchor configured (--attestation-trust-anchor)");
        let mut target = None;
        for anchor in &anchors {
            match verify_report(&report, Some(nonce), anchor, &cfg.policy) {
                Ok(t) => {
                    target = Some(t);
                    break;
                }
                Err(e) => refused = format!("host {h:?}: {e}"),
            }
        }
        let Some(target) = target else { return Err(error(409, &refused)) };
        targets.push((h.clone(), target));
    }
    Ok(targets)
}

fn not_configured() -> HttpResponse {
    error(
        409,
        "key distribution is not configured: start teehsm-console serve with --keydist-signing-key, --attestation-trust-anchor and --attestation-policy",
    )
}

/// `POST /api/keys/distribute` (operator).
pub fn distribute(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Some(cfg) = &sh.keydist else { return Err(not_configured()) };
    let r = parse(&req.body).map_err(|m| error(400, &m))?;
    let targets = verified_targets(sh, cfg, &r.hosts)?;
    // An EC key pair is made here once, so every host holds the same key
    // (one public key for all: high availability for signing).
    let (bytes, public_key_pem) = if r.key_type == "ec-p256" {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|_| error(500, "P-256 key generation failed"))?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).map_err(|_| error(500, "P-256 key generation failed"))?;
        let spki = crate::keydist::material::p256_spki(pair.public_key().as_ref());
        (Zeroizing::new(pkcs8.as_ref().to_vec()), Some(teehsm_wire::keydist::pem_encode("PUBLIC KEY", &spki)))
    } else {
        let mut bytes = Zeroizing::new(vec![0u8; r.length]);
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| error(500, "the random generator failed"))?;
        (bytes, None)
    };
    let key = KeyMaterial::from_bytes(&r.key_type, &bytes).map_err(|e| error(400, &e.to_string()))?;
    let template = r.spec.template(&key);
    let material = key.material();
    let params = WrapParams { slot: r.slot, token_serial: String::new(), created_ms: now, expires_ms: now + r.validity_secs * 1000 };
    let mut envelopes = Vec::with_capacity(targets.len());
    for (h, target) in &targets {
        let env = wrap(target, &params, template.clone(), &material, &cfg.signer).map_err(|e| error(500, &format!("host {h:?}: {e}")))?;
        envelopes.push((h.clone(), hex::encode(env.id), hex::encode(target.bundle_hash), env.to_bytes()));
    }
    drop(material);
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let mut jobs = Vec::new();
    for (h, envelope_id, target, env) in envelopes {
        let payload = json!({ "slot": r.slot, "label": r.label, "envelope_id": envelope_id, "envelope_hex": hex::encode(env) });
        let id = store.create_job(KIND_IMPORT_KEY, &h, &payload, now).map_err(|_| error(500, "internal error; see the console's log"))?;
        jobs.push(json!({ "host": h, "job_id": id, "envelope_id": envelope_id, "target": target }));
    }
    let details =
        json!({ "label": r.label, "key_type": r.key_type, "length": r.length, "slot": r.slot, "jobs": jobs, "public_key_pem": public_key_pem });
    if let Err(e) = store.append_audit(now, actor, "key.distribute", &r.label, &details) {
        tracing::error!(error = %e, "cannot audit the key distribution");
    }
    tracing::info!(label = %r.label, hosts = jobs.len(), by = actor, "key distributed");
    let mut answer = json!({ "label": r.label, "jobs": jobs });
    if let Some(pem) = public_key_pem {
        answer["public_key_pem"] = json!(pem);
    }
    Ok(json_resp(201, answer))
}

/// The job kind that applies a token policy (agent/src/daemon/cert_jobs.rs).
pub const KIND_APPLY_POLICY: &str = "apply_policy";

/// `POST /api/policy` (operator): `{"hosts": [...], "slot": 0,
/// "max_objects": N, "min_rsa_bits": B, "rules": ["forbid_sha1", ...],
/// "validity_secs": S}`: a token policy signed for each
/// host's attested TA (docs/key-distribution.md, "Token policy"), queued as
/// `apply_policy` jobs. Versions are the console's clock in ms, so a later
/// push supersedes an earlier one.
pub fn push_policy(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Some(cfg) = &sh.keydist else { return Err(not_configured()) };
    const SHAPE: &str = r#"expected {"hosts": ["host-1", ...], "slot": 0, "max_objects": 5000, "min_rsa_bits": 3072, "rules": ["forbid_sha1"], "validity_secs": 3600}"#;
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| error(400, &format!("{SHAPE}: {e}")))?;
    let hosts: Vec<String> = v["hosts"]
        .as_array()
        .filter(|h| !h.is_empty() && h.len() <= MAX_HOSTS)
        .ok_or_else(|| error(400, &format!("\"hosts\" must list 1 to {MAX_HOSTS} host ids; {SHAPE}")))?
        .iter()
        .map(|h| h.as_str().map(str::to_owned).ok_or_else(|| error(400, "every host id is a string")))
        .collect::<Result<_, _>>()?;
    let max_objects =
        v["max_objects"].as_u64().ok_or_else(|| error(400, &format!("\"max_objects\" must be a whole number (0 = the TA's limit); {SHAPE}")))?;
    let slot = match &v["slot"] {
        Value::Null => 0,
        s => s.as_u64().filter(|&s| s < 64).ok_or_else(|| error(400, "\"slot\" must be 0 to 63"))?,
    };
    let (min_rsa_bits, rules) = crypto_rules(&v)?;
    let validity_secs = match v["validity_secs"].as_u64() {
        None => DEFAULT_VALIDITY_SECS,
        Some(s @ 60..=MAX_VALIDITY_SECS) => s,
        Some(_) => return Err(error(400, &format!("validity_secs must be 60 to {MAX_VALIDITY_SECS}"))),
    };
    let targets = verified_targets(sh, cfg, &hosts)?;
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let mut jobs = Vec::new();
    for (h, target) in targets {
        let mut p = teehsm_wire::token_policy::TokenPolicy {
            version: now,
            target: target.bundle_hash,
            slot,
            created_ms: now,
            expires_ms: now + validity_secs * 1000,
            signer: [0; 32],
            max_objects,
            min_rsa_bits,
            rules,
            signature: [0; 64],
        };
        cfg.signer.sign_policy(&mut p);
        let payload = json!({
            "slot": slot, "max_objects": max_objects, "min_rsa_bits": min_rsa_bits, "rules": rule_names(rules),
            "version": now, "policy_hex": hex::encode(p.to_bytes()),
        });
        let id = store.create_job(KIND_APPLY_POLICY, &h, &payload, now).map_err(|_| error(500, "internal error; see the console's log"))?;
        jobs.push(json!({ "host": h, "job_id": id, "target": hex::encode(target.bundle_hash) }));
    }
    let details = json!({
        "slot": slot, "max_objects": max_objects, "min_rsa_bits": min_rsa_bits, "rules": rule_names(rules), "version": now, "jobs": jobs,
    });
    if let Err(e) = store.append_audit(now, actor, "policy.push", &format!("slot {slot}"), &details) {
        tracing::error!(error = %e, "cannot audit the policy push");
    }
    Ok(json_resp(201, json!({ "version": now, "jobs": jobs })))
}

/// `"min_rsa_bits"` (absent: 0) and `"rules"` (names, absent: none) of a policy push.
fn crypto_rules(v: &Value) -> Result<(u32, u32), HttpResponse> {
    use teehsm_wire::token_policy::{rules::NAMES, MAX_MIN_RSA_BITS};
    let min_rsa_bits = match &v["min_rsa_bits"] {
        Value::Null => 0,
        b => b
            .as_u64()
            .and_then(|b| u32::try_from(b).ok())
            .filter(|&b| b <= MAX_MIN_RSA_BITS)
            .ok_or_else(|| error(400, &format!("\"min_rsa_bits\" must be 0 (any) to {MAX_MIN_RSA_BITS}")))?,
    };
    let known = || NAMES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
    let mut rules = 0;
    match &v["rules"] {
        Value::Null => {}
        Value::Array(names) => {
            for name in names {
                let bit = name.as_str().and_then(|n| NAMES.iter().find(|(_, k)| *k == n)).map(|(b, _)| *b);
                rules |= bit.ok_or_else(|| error(400, &format!("unknown rule {name}; the rules are {}", known())))?;
            }
        }
        _ => return Err(error(400, &format!("\"rules\" must be a list of rule names: {}", known()))),
    }
    Ok((min_rsa_bits, rules))
}

/// The names of the rule bits set in `rules`.
fn rule_names(rules: u32) -> Vec<&'static str> {
    teehsm_wire::token_policy::rules::NAMES.iter().filter(|(b, _)| rules & b != 0).map(|(_, n)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules_are_read_by_name() {
        use teehsm_wire::token_policy::rules;
        assert_eq!(crypto_rules(&json!({})).unwrap(), (0, 0));
        let v = json!({ "min_rsa_bits": 3072, "rules": ["sm_only", "forbid_sha1"] });
        assert_eq!(crypto_rules(&v).unwrap(), (3072, rules::SM_ONLY | rules::FORBID_SHA1));
        assert_eq!(rule_names(rules::SM_ONLY | rules::FORBID_SHA1), vec!["forbid_sha1", "sm_only"]);
        for bad in [
            json!({ "rules": ["no_such_rule"] }),
            json!({ "rules": "forbid_sha1" }),
            json!({ "min_rsa_bits": 100000 }),
            json!({ "min_rsa_bits": -1 }),
        ] {
            let e = crypto_rules(&bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
    }

    #[test]
    fn requests_are_checked() {
        let ok = parse(br#"{"hosts": ["h1", "h2"], "label": "k", "usages": "encrypt,decrypt", "id_hex": "0a"}"#).unwrap();
        assert_eq!((ok.key_type.as_str(), ok.length, ok.slot, ok.validity_secs), ("aes", 32, 0, DEFAULT_VALIDITY_SECS));
        assert_eq!(ok.spec.id, vec![10]);
        for (bad, why) in [
            (r#"{"label": "k"}"#, "hosts"),
            (r#"{"hosts": [], "label": "k"}"#, "1 to"),
            (r#"{"hosts": ["h"]}"#, "label"),
            (r#"{"hosts": ["h"], "label": "k", "length": 20}"#, "16, 24 or 32"),
            (r#"{"hosts": ["h"], "label": "k", "key_type": "rsa"}"#, "not one the console generates"),
            (r#"{"hosts": ["h"], "label": "k", "usages": "fly"}"#, "unknown usage"),
            (r#"{"hosts": ["h"], "label": "k", "validity_secs": 5}"#, "validity_secs"),
            ("[", "expected"),
        ] {
            let e = parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn nonces_are_per_host_and_reports_need_one() {
        let a = Attestations::default();
        assert!(a.record("h1", b"r").is_err(), "a report before any nonce");
        let n1 = a.nonce_for("h1").unwrap();
        assert_eq!(a.nonce_for("h1"), Some(n1));
        assert_ne!(a.nonce_for("h2"), Some(n1));
        a.record("h1", b"report").unwrap();
        assert_eq!(a.get("h1"), Some((n1, Some(b"report".to_vec()))));
        assert!(a.record("h1", &vec![0; MAX_REPORT_BYTES + 1]).is_err());
    }
}
