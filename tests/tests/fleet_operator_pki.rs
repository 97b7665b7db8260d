//! The console's agent port with a certificate of the operator's PKI
//! (`--grpc-tls-cert`/`--grpc-tls-key`): agents enroll trusting the
//! operator's root instead of the console CA, keep it, report, and renew
//! their client certificates, which still come from the console CA; an
//! agent that trusts only the console CA cannot connect.
//!
//! Needs the binaries: `cargo build --bins`.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use teehsm_tests::fleet::{Fleet, FleetOptions};
use teehsm_tests::TempDir;

#[test]
fn agents_enroll_report_and_renew_against_an_operator_certificate() {
    let pki = TempDir::new("fleet-operator-pki");
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("root key");
    let mut root = CertificateParams::new(Vec::<String>::new()).expect("root params");
    root.distinguished_name.push(DnType::CommonName, "Example Bank Root CA");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(root, root_key).expect("root");
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &root)
        .expect("leaf");
    let (cert, key, root_file) = (pki.path().join("grpc.pem"), pki.path().join("grpc-key.pem"), pki.path().join("bank-root.pem"));
    std::fs::write(&cert, format!("{}{}", leaf.pem(), root.pem())).expect("chain");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(&root_file, root.pem()).expect("root file");
    // What the console tells agents to trust: at first the same root.
    let bundle = pki.path().join("agent-ca-bundle.pem");
    std::fs::write(&bundle, root.pem()).expect("bundle file");

    let path = |p: &std::path::Path| p.display().to_string();
    let opts = FleetOptions {
        hosts: 1,
        console_args: vec!["--grpc-tls-cert".into(), path(&cert), "--grpc-tls-key".into(), path(&key), "--agent-ca-bundle".into(), path(&bundle)],
        console_ca: Some(root_file.clone()),
        ..FleetOptions::default()
    };
    let fleet = Fleet::start("fleet-operator-pki", opts);
    let state = &fleet.hosts[0].agent_state;
    assert_eq!(std::fs::read_to_string(state.join("console-ca.pem")).expect("agent CA"), root.pem(), "the agent keeps the operator's root");

    // Client certificates still come from the console CA, renewals too.
    let fingerprint = || {
        let (_, body) = fleet.get("/api/hosts/host-1").expect("host");
        serde_json::from_str::<Value>(&body).expect("JSON")["host"]["cert_fingerprint"].as_str().unwrap_or("").to_string()
    };
    let before = fingerprint();
    let (status, body) = fleet.post("/api/hosts/host-1/agent-certificate/renew", "").expect("renew");
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while fingerprint() == before {
        assert!(Instant::now() < deadline, "the agent did not renew through the operator-certified port");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The operator renews the port's certificate in place (same root, new
    // key, later expiry): the console serves it from the next connection
    // on, without a restart.
    let metrics = || fleet.get("/metrics").expect("metrics").1;
    let metric = |name: &str| metrics().lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()));
    let expiry = "teehsm_console_grpc_certificate_expiry_timestamp_seconds ";
    let first_expiry = metric(expiry).expect("expiry gauge");
    assert!(first_expiry > 0.0);
    let renewed_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("renewed key");
    let mut renewed = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    renewed.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let renewed = renewed.signed_by(&renewed_key, &root).expect("renewed leaf");
    for (file, data, mode) in [(&key, renewed_key.serialize_pem(), 0o600), (&cert, format!("{}{}", renewed.pem(), root.pem()), 0o644)] {
        let tmp = file.with_extension("new");
        std::fs::write(&tmp, data).expect("write");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::fs::rename(&tmp, file).expect("rename");
    }
    // A new connection (an enrollment with a made-up token: the TLS
    // handshake with the operator's root succeeds, the token is refused).
    let out = fleet.enroll("not-a-token", "host-y", &fleet.dir.path().join("agent-y"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("token"), "{err}");
    assert_eq!(metric(expiry), Some(2_051_222_400.0), "2035-01-01: the renewed certificate is the one served");
    assert_eq!(metric("teehsm_console_grpc_certificate_reloads_total{result=\"ok\"} "), Some(1.0));
    let reports_before = fleet.get("/api/hosts/host-1").expect("host").1;
    let last_seen = |body: &str| serde_json::from_str::<Value>(body).expect("JSON")["host"]["last_seen_ms"].as_i64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while last_seen(&fleet.get("/api/hosts/host-1").expect("host").1) <= last_seen(&reports_before) {
        assert!(Instant::now() < deadline, "host-1 stopped reporting after the certificate renewal");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The bank moves the port to a new root without enrolling the agents
    // again: the console's bundle lists both roots, the agent takes it
    // (after checking it verifies the console), then the port gets a
    // certificate from the new root, which new connections accept.
    let replace = |file: &std::path::Path, data: &str| {
        let tmp = file.with_extension("new");
        std::fs::write(&tmp, data).expect("write");
        std::fs::rename(&tmp, file).expect("rename");
    };
    let agent_ca = state.join("console-ca.pem");
    let wait_agent_ca = |want: &str, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&agent_ca).unwrap_or_default() != want {
            assert!(Instant::now() < deadline, "the agent did not take {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let new_root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("new root key");
    let mut new_root = CertificateParams::new(Vec::<String>::new()).expect("new root params");
    new_root.distinguished_name.push(DnType::CommonName, "Example Bank Root CA 2");
    new_root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let new_root = CertifiedIssuer::self_signed(new_root, new_root_key).expect("new root");
    // A bundle that does not verify the console (only an unrelated root) is not taken.
    let stranger = CertifiedIssuer::self_signed(
        {
            let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        },
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key"),
    )
    .expect("stranger root");
    replace(&bundle, &stranger.pem());
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(std::fs::read_to_string(&agent_ca).expect("agent CA"), root.pem(), "a bundle that does not verify the console is refused");
    let both = format!("{}{}", root.pem(), new_root.pem());
    replace(&bundle, &both);
    wait_agent_ca(&both, "the two-root bundle");
    let new_leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("new leaf key");
    let new_leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("new leaf params")
        .signed_by(&new_leaf_key, &new_root)
        .expect("new leaf");
    for (file, data, mode) in [(&key, new_leaf_key.serialize_pem(), 0o600), (&cert, format!("{}{}", new_leaf.pem(), new_root.pem()), 0o644)] {
        let tmp = file.with_extension("new");
        std::fs::write(&tmp, data).expect("write");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::fs::rename(&tmp, file).expect("rename");
    }
    // A new connection trusting what the agent now trusts reaches the new certificate.
    let out = std::process::Command::new(teehsm_tests::bin("teehsm-agent"))
        .args(["enroll", "--console", &fleet.console_url, "--console-ca"])
        .arg(&agent_ca)
        .args(["--token", "not-a-token", "--host-id", "host-z", "--group", "e2e", "--state-dir"])
        .arg(fleet.dir.path().join("agent-z"))
        .output()
        .expect("run teehsm-agent enroll");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("token"), "the TLS handshake with the new root's certificate: {err}");
    assert_eq!(metric("teehsm_console_grpc_certificate_reloads_total{result=\"ok\"} "), Some(2.0));
    let before = last_seen(&fleet.get("/api/hosts/host-1").expect("host").1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while last_seen(&fleet.get("/api/hosts/host-1").expect("host").1) <= before {
        assert!(Instant::now() < deadline, "host-1 stopped reporting after the move to the new root");
        std::thread::sleep(Duration::from_millis(100));
    }

    // An agent that trusts only the console CA does not get in.
    let token = fleet.enrollment_token();
    let console_ca = fleet.console_data.join("console-ca.pem");
    let out = std::process::Command::new(teehsm_tests::bin("teehsm-agent"))
        .args(["enroll", "--console", &fleet.console_url, "--console-ca"])
        .arg(&console_ca)
        .args(["--token", &token, "--host-id", "host-x", "--group", "e2e", "--state-dir"])
        .arg(fleet.dir.path().join("agent-x"))
        .output()
        .expect("run teehsm-agent enroll");
    assert!(!out.status.success(), "the console CA does not vouch for the operator's certificate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate") || err.contains("TLS") || err.contains("tls"), "{err}");
}
