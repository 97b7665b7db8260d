//! Key distribution through the fleet (issue 6): the console generates a
//! key, wraps it to each host's attested TA (reports fetched by the agents
//! over the console's nonces), signs the envelopes, and queues import_key
//! jobs; the agents hand the envelopes to their TAs. Hosts whose token SO
//! trusts the console's key import it (and hold the same key); a host whose
//! SO does not refuses it. The agents also report each TA's platform,
//! measurement and version. Then host 1's TA makes a key and a CSR (a
//! console job), OpenSSL issues the certificate, and a second job stores it
//! on the token; last a console-signed token policy (a lower object limit)
//! that host 1's TA applies and host 3's (which does not trust the console)
//! refuses.
//!
//! Needs the binaries: `cargo build --bins`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use teehsm_tests::fleet::{Fleet, FleetOptions, Keydist};
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::{MechParam, Mechanism, Reply, Request};

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn job_states(fleet: &Fleet, host: &str) -> Vec<Value> {
    let (status, body) = fleet.get(&format!("/api/hosts/{host}/jobs")).expect("GET jobs");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["jobs"].as_array().cloned().unwrap_or_default()
}

fn find_key(c: &mut teehsm_wire::client::Client, s: u64, label: &str) -> Vec<u64> {
    match c
        .call(&Request::FindObjects { session: s, template: vec![teehsm_wire::Attribute::new(CKA_LABEL, label.as_bytes().to_vec())], max: 10 })
        .unwrap()
    {
        Reply::Handles(h) => h,
        r => panic!("unexpected {r:?}"),
    }
}

#[test]
fn console_distributes_a_key_and_certificates_to_attested_tas() {
    let files = TempDir::new("fleet-keydist");
    let dir = files.path();
    let keydist = Keydist::new(dir);
    let pin_arg = keydist.user_pin.display().to_string();
    let fleet = Fleet::start(
        "fleet-keydist",
        FleetOptions {
            console_args: keydist.console_args.clone(),
            agent_args: Box::new(move |_| vec!["--user-pin-file".into(), pin_arg.clone()]),
            ..FleetOptions::default()
        },
    );

    // The console trusts each host's report key; hosts 1 and 2 trust the console's key, host 3 does not.
    for (n, h) in fleet.hosts.iter().enumerate() {
        keydist.add_host(h, n < 2);
    }

    // Inventory: every host reports its TA's platform, measurement and version.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = fleet.get("/api/hosts").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let tas: Vec<&Value> = v["hosts"].as_array().unwrap().iter().filter_map(|h| h["report"]["tas"].get(0)).collect();
        if tas.len() == 3 && tas.iter().all(|t| t["measurement"].as_str().is_some_and(|m| m.len() == 64)) {
            assert!(tas.iter().all(|t| t["platform"] == "sim" && t["version"] == env!("CARGO_PKG_VERSION")), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the hosts did not report their TA measurement: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Distribute: wait until every host's report over the console's nonce arrived.
    let request = r#"{"hosts": ["host-1", "host-2", "host-3"], "label": "fleet-aes", "usages": "encrypt,decrypt", "validity_secs": 600}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let created = loop {
        let (status, body) = fleet.post("/api/keys/distribute", request).unwrap();
        if status == 201 {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("attestation report"), "{body}");
        assert!(Instant::now() < deadline, "distribution still refused: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(created["jobs"].as_array().map(Vec::len), Some(3), "{created}");
    // Bad requests are refused with the reason.
    let (status, body) = fleet.post("/api/keys/distribute", r#"{"hosts": ["nobody"], "label": "x"}"#).unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, body) = fleet.post("/api/keys/distribute", r#"{"hosts": ["host-1"], "label": "x", "length": 7}"#).unwrap();
    assert!(status == 400 && body.contains("16, 24 or 32"), "{status} {body}");

    // The agents carry out the jobs: hosts 1-2 import, host 3's TA refuses.
    let deadline = Instant::now() + Duration::from_secs(30);
    let finished =
        |v: &Vec<Value>| v.iter().any(|j| j["kind"] == "import_key" && ["succeeded", "failed"].contains(&j["state"].as_str().unwrap_or("")));
    let mut done: Vec<Vec<Value>> = Vec::new();
    while done.len() < 3 {
        done = fleet.hosts.iter().map(|h| job_states(&fleet, &h.id)).filter(finished).collect();
        assert!(
            Instant::now() < deadline,
            "import_key jobs did not finish: {:?}",
            fleet.hosts.iter().map(|h| job_states(&fleet, &h.id)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (n, h) in fleet.hosts.iter().enumerate() {
        let jobs = job_states(&fleet, &h.id);
        let job = jobs.iter().find(|j| j["kind"] == "import_key").unwrap();
        let message = job["result"]["message"].as_str().unwrap_or("").to_owned();
        if n < 2 {
            assert_eq!(job["state"], "succeeded", "{}: {job}", h.id);
            assert!(message.contains("fleet-aes") && message.contains("imported"), "{message}");
        } else {
            assert_eq!(job["state"], "failed", "{}: {job}", h.id);
            assert!(message.contains("TEEHSM_KEYDIST_UNTRUSTED") || message.to_lowercase().contains("trust"), "{message}");
        }
    }

    // Hosts 1 and 2 hold the same key: encrypt on one, decrypt on the other.
    let gcm = || Mechanism::with(CKM_AES_GCM, MechParam::Gcm { iv: vec![3; 12], aad: vec![], tag_bits: 128 });
    let mut c1 = connect(&fleet.hosts[0].ca.socket);
    let s1 = user_session(&mut c1);
    let k1 = find_key(&mut c1, s1, "fleet-aes");
    assert_eq!(k1.len(), 1);
    let ct = match c1.call(&Request::Encrypt { session: s1, mechanism: gcm(), key: k1[0], data: b"one key, two HSMs".to_vec() }).unwrap() {
        Reply::Bytes(b) => b,
        r => panic!("unexpected {r:?}"),
    };
    let mut c2 = connect(&fleet.hosts[1].ca.socket);
    let s2 = user_session(&mut c2);
    let k2 = find_key(&mut c2, s2, "fleet-aes");
    match c2.call(&Request::Decrypt { session: s2, mechanism: gcm(), key: k2[0], data: ct }).unwrap() {
        Reply::Bytes(b) => assert_eq!(b, b"one key, two HSMs"),
        r => panic!("unexpected {r:?}"),
    }
    // The key is sensitive and not extractable, and host 3 has none.
    match c2.call(&Request::GetAttributeValue { session: s2, object: k2[0], types: vec![CKA_VALUE] }).unwrap() {
        Reply::Attributes(a) => assert!(!a[0].status.is_ok(), "CKA_VALUE of a distributed key was readable"),
        r => panic!("unexpected {r:?}"),
    }
    let mut c3 = connect(&fleet.hosts[2].ca.socket);
    let s3 = user_session(&mut c3);
    assert!(find_key(&mut c3, s3, "fleet-aes").is_empty());

    // Audited.
    let (_, audit) = fleet.get("/api/audit").unwrap();
    assert!(audit.contains("key.distribute") && audit.contains("fleet-aes"), "{audit}");

    // A P-256 signing key made once and held by hosts 1 and 2 (high
    // availability): both sign what OpenSSL verifies with the one public key.
    let (status, body) = fleet
        .post("/api/keys/distribute", r#"{"hosts": ["host-1", "host-2"], "label": "fleet-signer", "key_type": "ec-p256", "usages": "sign"}"#)
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let signer = serde_json::from_str::<Value>(&body).unwrap();
    let public_pem = signer["public_key_pem"].as_str().expect("the distributed key's public key").to_owned();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{public_pem}");
    let (status, body) = fleet.post("/api/keys/distribute", r#"{"hosts": ["host-1"], "label": "x", "key_type": "ec-p256", "length": 32}"#).unwrap();
    assert!(status == 400 && body.contains("no length"), "{status} {body}");
    let ec_jobs: Vec<u64> = signer["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_u64().unwrap()).collect();
    for (h, id) in ["host-1", "host-2"].iter().zip(&ec_jobs) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let jobs = job_states(&fleet, h);
            let job = jobs.iter().find(|j| j["id"] == *id).cloned().unwrap_or_default();
            if job["state"] == "succeeded" {
                break;
            }
            assert!(job["state"] != "failed" && Instant::now() < deadline, "{h}: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let work = TempDir::new("keydist-ec");
    let pub_file = write(work.path(), "signer.pem", public_pem.as_bytes());
    let msg_file = write(work.path(), "msg", b"signed by either HSM");
    for (n, (c, s)) in [(&mut c1, s1), (&mut c2, s2)].into_iter().enumerate() {
        let key = find_key(c, s, "fleet-signer");
        assert_eq!(key.len(), 1, "host {}", n + 1);
        let sig = match c.call(&Request::Sign {
            session: s,
            mechanism: Mechanism::new(CKM_ECDSA_SHA256),
            key: key[0],
            data: b"signed by either HSM".to_vec(),
        }) {
            Ok(Reply::Bytes(b)) => b,
            r => panic!("host {}: {r:?}", n + 1),
        };
        let sig_file = write(work.path(), &format!("sig{n}.der"), &teehsm_tests::der::rs_to_der(&sig));
        let out = Command::new("openssl")
            .arg("dgst")
            .arg("-sha256")
            .arg("-verify")
            .arg(&pub_file)
            .arg("-signature")
            .arg(&sig_file)
            .arg(&msg_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "host {}: {}", n + 1, String::from_utf8_lossy(&out.stderr));
    }

    // Certificates: host 1's TA makes a key and a CSR; an outside CA (OpenSSL)
    // issues the certificate, which the console stores next to the key.
    let (status, body) = fleet.post("/api/hosts/host-1/csr", r#"{"label": "web01", "subject": "CN=web01.example,O=teehsm"}"#).unwrap();
    assert!(status == 400 || status == 201, "{body}");
    let (status, body) =
        fleet.post("/api/hosts/host-1/csr", r#"{"label": "web01", "subject": "CN=web01.example,O=teehsm", "generate": true}"#).unwrap();
    assert_eq!(status, 201, "{body}");
    let csr_job = serde_json::from_str::<Value>(&body).unwrap()["job_id"].as_u64().unwrap();
    let finished_job = |host: &str, id: u64| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(j) =
                job_states(&fleet, host).into_iter().find(|j| j["id"] == id && ["succeeded", "failed"].contains(&j["state"].as_str().unwrap_or("")))
            {
                return j;
            }
            assert!(Instant::now() < deadline, "job {id} on {host} did not finish: {:?}", job_states(&fleet, host));
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let job = finished_job("host-1", csr_job);
    assert_eq!(job["state"], "succeeded", "{job}");
    let csr = job["result"]["message"].as_str().unwrap().to_owned();
    assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"), "{csr}");
    let csr_file = write(dir, "web01.csr", csr.as_bytes());
    let openssl = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut cmd = Command::new("openssl");
        for a in args {
            cmd.arg(a);
        }
        let o = cmd.output().expect("openssl");
        assert!(o.status.success(), "openssl failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    openssl(&[&"req", &"-verify", &"-noout", &"-in", &csr_file]);
    let (ca_key, ca_cert, cert) = (dir.join("ca.key"), dir.join("ca.pem"), dir.join("web01.pem"));
    openssl(&[
        &"req",
        &"-x509",
        &"-newkey",
        &"ec",
        &"-pkeyopt",
        &"ec_paramgen_curve:P-256",
        &"-nodes",
        &"-keyout",
        &ca_key,
        &"-out",
        &ca_cert,
        &"-subj",
        &"/CN=test CA",
        &"-days",
        &"1",
    ]);
    openssl(&[&"x509", &"-req", &"-in", &csr_file, &"-CA", &ca_cert, &"-CAkey", &ca_key, &"-CAcreateserial", &"-out", &cert, &"-days", &"1"]);
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let (status, body) =
        fleet.post("/api/hosts/host-1/certificate", &serde_json::json!({ "label": "web01", "cert_pem": "not a certificate" }).to_string()).unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        fleet.post("/api/hosts/host-1/certificate", &serde_json::json!({ "label": "web01", "cert_pem": cert_pem }).to_string()).unwrap();
    assert_eq!(status, 201, "{body}");
    let cert_job = serde_json::from_str::<Value>(&body).unwrap()["job_id"].as_u64().unwrap();
    let job = finished_job("host-1", cert_job);
    assert_eq!(job["state"], "succeeded", "{job}");
    let certs = match c1.call(&Request::FindObjects {
        session: s1,
        template: vec![teehsm_wire::Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE), teehsm_wire::Attribute::new(CKA_LABEL, b"web01".to_vec())],
        max: 10,
    }) {
        Ok(Reply::Handles(h)) => h,
        r => panic!("unexpected {r:?}"),
    };
    assert_eq!(certs.len(), 1, "the certificate is on host 1's token");
    let der = match c1.call(&Request::GetAttributeValue { session: s1, object: certs[0], types: vec![CKA_VALUE] }).unwrap() {
        Reply::Attributes(a) => a[0].value.clone(),
        r => panic!("unexpected {r:?}"),
    };
    let body_b64: String = cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    assert_eq!(der, base64::engine::general_purpose::STANDARD.decode(body_b64).unwrap(), "the stored certificate is the issued one");

    // Policy push: a lower object limit for slot 0 of hosts 1 and 3; host 1's
    // TA applies it (and the console's gauge follows), host 3's refuses it.
    let (status, body) = fleet.post("/api/policy", r#"{"hosts": ["host-1", "host-3"], "max_objects": 6}"#).unwrap();
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let job_of = |host: &str| v["jobs"].as_array().unwrap().iter().find(|j| j["host"] == host).unwrap()["job_id"].as_u64().unwrap();
    let job = finished_job("host-1", job_of("host-1"));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["result"]["message"].as_str().unwrap().contains("may hold 6 objects"), "{job}");
    let job = finished_job("host-3", job_of("host-3"));
    assert_eq!(job["state"], "failed", "{job}");
    match c1.call(&Request::GetTokenInfo { slot: 0 }).unwrap() {
        Reply::TokenInfo(t) => assert_eq!(t.max_objects, 6),
        r => panic!("unexpected {r:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = fleet.get("/api/hosts/host-1").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["gauges"].as_array().is_some_and(|g| g.iter().any(|g| g["slot"] == 0 && g["capacity"] == 6)) {
            break;
        }
        assert!(Instant::now() < deadline, "the console's gauge did not follow the pushed policy: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, audit) = fleet.get("/api/audit").unwrap();
    assert!(audit.contains("policy.push"), "{audit}");

    // Algorithm rules: SM only on host 1's token. Its TA then refuses a
    // P-256 key pair and makes an SM2 one; a misspelt rule is a 400.
    let (status, body) = fleet.post("/api/policy", r#"{"hosts": ["host-1"], "max_objects": 0, "rules": ["sm_only", "no_sha1"]}"#).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("forbid_sha1, sm_only"), "{body}");
    let (status, body) = fleet.post("/api/policy", r#"{"hosts": ["host-1"], "max_objects": 0, "min_rsa_bits": 3072, "rules": ["sm_only"]}"#).unwrap();
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let job = finished_job("host-1", v["jobs"][0]["job_id"].as_u64().unwrap());
    assert_eq!(job["state"], "succeeded", "{job}");
    let session_pair = |mechanism: u64, public: Vec<teehsm_wire::Attribute>| Request::GenerateKeyPair {
        session: s1,
        mechanism: Mechanism::new(mechanism),
        public_template: public,
        private_template: vec![teehsm_wire::Attribute::bool(CKA_SIGN, true)],
    };
    let p256 = teehsm_wire::Attribute::new(CKA_EC_PARAMS, vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
    match c1.call(&session_pair(CKM_EC_KEY_PAIR_GEN, vec![p256])) {
        Err(teehsm_wire::client::CallError::Status { rv, message }) => {
            assert_eq!(rv, teehsm_wire::Rv::MECHANISM_INVALID, "{message}");
            assert!(message.contains("policy"), "{message}");
        }
        r => panic!("a P-256 pair under sm_only: {r:?}"),
    }
    assert!(matches!(c1.call(&session_pair(CKM_SM2_KEY_PAIR_GEN, vec![])), Ok(Reply::KeyPair { .. })), "an SM2 pair under sm_only");
    let (_, audit) = fleet.get("/api/audit").unwrap();
    assert!(audit.contains("sm_only"), "the push is audited with its rules: {audit}");
}
