//! The daemon over real sockets: enrollment and heartbeat authentication.

use super::testkit;
use super::*;
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use teehsm_wire::proto::fleet::v1 as pb;
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

async fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_owned())
}

async fn client(grpc: &str, ca_pem: &str, identity: Option<(&str, &str)>) -> AgentServiceClient<Channel> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let ch = Channel::from_shared(format!("https://{grpc}")).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
    AgentServiceClient::new(ch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_then_heartbeat_with_and_without_the_client_certificate() {
    enroll_then_heartbeat(None).await;
}

/// The same on PostgreSQL (skipped without TEEHSM_TEST_POSTGRES_URL, fails
/// in CI without it): the handlers call the store on tokio's threads, where
/// the sync PostgreSQL client must not be driven directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_then_heartbeat_on_postgres() {
    let Some(db) = crate::store::testutil::TestDb::postgres() else { return };
    enroll_then_heartbeat(Some(db.url())).await;
}

/// And on a single-threaded runtime, where `block_in_place` would panic.
#[tokio::test(flavor = "current_thread")]
async fn enroll_then_heartbeat_on_postgres_current_thread_runtime() {
    let Some(db) = crate::store::testutil::TestDb::postgres() else { return };
    enroll_then_heartbeat(Some(db.url())).await;
}

async fn enroll_then_heartbeat(database_url: Option<String>) {
    let d = tempfile::tempdir().unwrap();
    let on_sqlite = database_url.is_none();
    // An enrollment token that expired unused: the housekeeping at start deletes it.
    {
        let location = match &database_url {
            Some(u) => crate::store::Location::parse(u).unwrap(),
            None => crate::store::Location::Sqlite(d.path().join("console.db")),
        };
        let store = crate::store::Store::open_at(&location, 1).unwrap();
        store.create_enrollment_token("stale", "stale", 0, 1).unwrap();
    }
    let console = testkit::start(Config { allow_loopback_admin: true, database_url, ..testkit::config(d.path()) }).await;
    let (grpc, http_addr, ca_pem) = (console.grpc.clone(), console.http.clone(), console.ca_pem.clone());
    assert_eq!(d.path().join("console.db").exists(), on_sqlite, "the store is where --database-url says");

    assert_eq!(http(&http_addr, "GET", "/healthz").await.0, 200);
    assert_eq!(http(&http_addr, "GET", "/nope").await.0, 404);
    assert_eq!(http(&http_addr, "GET", "/api/enrollment-tokens").await.0, 405);
    let (status, body) = http(&http_addr, "POST", "/api/enrollment-tokens").await;
    assert_eq!(status, 201, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::new(Vec::<String>::new()).unwrap().serialize_request(&key).unwrap().pem().unwrap();
    let mut anon = client(&grpc, &ca_pem, None).await;

    // No client certificate: heartbeat refused.
    let e = anon.heartbeat(pb::HeartbeatRequest { report: None }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");

    // Wrong token, bad host id.
    let req = |token: &str, host: &str| pb::EnrollRequest { token: token.into(), host_id: host.into(), group: "g".into(), csr_pem: csr.clone() };
    let e = anon.enroll(req("teehsm-enroll-00", "h1")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    let e = anon.enroll(req(&token, "bad host")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");

    // Enroll, then heartbeat with the issued certificate.
    let r = anon.enroll(req(&token, "h1")).await.unwrap().into_inner();
    assert_eq!((r.host_id.as_str(), r.heartbeat_interval_ms), ("h1", 1000));
    assert_eq!(r.ca_pem, ca_pem);
    let e = anon.enroll(req(&token, "h2")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "token reused: {e}");
    let key_pem = key.serialize_pem();
    let mut agent = client(&grpc, &ca_pem, Some((&r.cert_pem, &key_pem))).await;
    let report = pb::HostReport { reported_at_ms: 1, ..Default::default() };
    let hb = agent.heartbeat(pb::HeartbeatRequest { report: Some(report) }).await.unwrap().into_inner();
    assert_eq!(hb.heartbeat_interval_ms, 1000);
    let (_, hosts) = http(&http_addr, "GET", "/api/hosts").await;
    let hosts: serde_json::Value = serde_json::from_str(&hosts).unwrap();
    assert_eq!(hosts["hosts"][0]["host"]["id"], "h1");
    assert_eq!(hosts["hosts"][0]["host"]["group"], "g");
    assert!(hosts["hosts"][0]["host"]["last_seen_ms"].as_u64().is_some());
    let (_, metrics) = http(&http_addr, "GET", "/metrics").await;
    assert!(metrics.contains("teehsm_console_heartbeats_total 1"), "{metrics}");
    assert!(metrics.contains("teehsm_console_hosts 1"), "{metrics}");
    let mut metrics = metrics;
    for _ in 0..50 {
        if metrics.contains("teehsm_console_pruned_rows_total{table=\"enrollment_tokens\"} 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        metrics = http(&http_addr, "GET", "/metrics").await.1;
    }
    assert!(metrics.contains("teehsm_console_pruned_rows_total{table=\"enrollment_tokens\"} 1"), "the stale token pruned at start: {metrics}");

    console.stop().await;
    assert!(!d.path().join("grpc.addr").exists());
}

fn new_key_and_csr() -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::new(Vec::<String>::new()).unwrap().serialize_request(&key).unwrap().pem().unwrap();
    (key.serialize_pem(), csr)
}

/// Renewal over real mTLS: asked for by an operator, refused for the same
/// key, the old certificate valid until the new one is first used (a
/// second renewal replaces an unused one), then only the new one; and a
/// revoked host is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_rotates_the_agent_key_and_retires_the_old_certificate_and_revocation_locks_out() {
    let d = tempfile::tempdir().unwrap();
    let console = testkit::start(Config { allow_loopback_admin: true, heartbeat_interval_ms: 200, ..testkit::config(d.path()) }).await;
    let (grpc, http_addr, ca_pem) = (console.grpc.clone(), console.http.clone(), console.ca_pem.clone());
    let (_, body) = http(&http_addr, "POST", "/api/enrollment-tokens").await;
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
    let (key1, csr1) = new_key_and_csr();
    let enrolled = client(&grpc, &ca_pem, None)
        .await
        .enroll(pb::EnrollRequest { token, host_id: "h1".into(), group: "g".into(), csr_pem: csr1.clone() })
        .await
        .unwrap()
        .into_inner();
    let host = || async {
        let (_, body) = http(&http_addr, "GET", "/api/hosts/h1").await;
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["host"].clone()
    };
    let fp = |pem: &str| auth::cert_fingerprint(&tls::pem_to_der(pem).unwrap());
    let beat = |mut c: AgentServiceClient<Channel>| async move { c.heartbeat(pb::HeartbeatRequest { report: None }).await.map(|r| r.into_inner()) };
    let mut old = client(&grpc, &ca_pem, Some((&enrolled.cert_pem, &key1))).await;
    assert!(!beat(old.clone()).await.unwrap().renew_certificate);
    let h = host().await;
    assert_eq!(h["cert_fingerprint"], fp(&enrolled.cert_pem));
    let not_after = h["cert_not_after_ms"].as_u64().unwrap();
    assert!(not_after > now_ms() + 89 * 86_400_000, "90 days: {h}");

    // An operator asks; the next heartbeat answer says so.
    let (status, body) = http(&http_addr, "POST", "/api/hosts/h1/agent-certificate/renew").await;
    assert_eq!(status, 202, "{body}");
    assert!(beat(old.clone()).await.unwrap().renew_certificate);

    // The same key is refused; a CSR that is not one is refused.
    let e = old.renew_certificate(pb::RenewCertificateRequest { csr_pem: csr1 }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("renew with a new key"), "{e}");
    let e = old.renew_certificate(pb::RenewCertificateRequest { csr_pem: "junk".into() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");

    // A renewal the agent never uses, then another: the second replaces the first.
    let (key2, csr2) = new_key_and_csr();
    let cert2 = old.renew_certificate(pb::RenewCertificateRequest { csr_pem: csr2 }).await.unwrap().into_inner();
    assert_eq!(host().await["pending_cert_fingerprint"], fp(&cert2.cert_pem));
    assert!(beat(old.clone()).await.is_ok(), "the old certificate works until the new one is used");
    let (key3, csr3) = new_key_and_csr();
    let cert3 = old.renew_certificate(pb::RenewCertificateRequest { csr_pem: csr3 }).await.unwrap().into_inner();
    assert!(cert3.not_after_ms > now_ms() + 89 * 86_400_000);
    let unused = client(&grpc, &ca_pem, Some((&cert2.cert_pem, &key2))).await;
    assert_eq!(beat(unused).await.unwrap_err().code(), tonic::Code::Unauthenticated, "a replaced renewal is not accepted");

    // The first call with the new certificate makes it the only one.
    let new = client(&grpc, &ca_pem, Some((&cert3.cert_pem, &key3))).await;
    assert!(!beat(new.clone()).await.unwrap().renew_certificate, "renewal done");
    let h = host().await;
    assert_eq!(h["cert_fingerprint"], fp(&cert3.cert_pem));
    assert_eq!((&h["pending_cert_fingerprint"], &h["renew_requested"]), (&serde_json::Value::Null, &serde_json::Value::Bool(false)));
    assert_eq!(h["cert_not_after_ms"].as_u64(), Some(cert3.not_after_ms));
    assert_eq!(beat(old).await.unwrap_err().code(), tonic::Code::Unauthenticated, "the old certificate is retired");
    let (_, audit) = http(&http_addr, "GET", "/api/audit").await;
    for action in ["agent_certificate.renew_requested", "agent_certificate.issue", "agent_certificate.in_use"] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = http(&http_addr, "GET", "/metrics").await.1;
        if metrics.contains("teehsm_console_agent_certificate_expiry_timestamp_seconds{group=\"g\",host=\"h1\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("teehsm_console_agent_certificate_renewals_total 2"), "{metrics}");
    let expiry = format!("teehsm_console_agent_certificate_expiry_timestamp_seconds{{group=\"g\",host=\"h1\"}} {}", cert3.not_after_ms / 1000);
    assert!(metrics.contains(&expiry), "{expiry} in {metrics}");

    // Revoked: refused at once; a second revoke and a renewal request are conflicts.
    let mut s = tokio::net::TcpStream::connect(&http_addr).await.unwrap();
    let (status, _, body) = testkit::exchange(&mut s, "x", "POST", "/api/hosts/h1/revoke", &[], r#"{"reason": "decommissioned"}"#).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let e = beat(new).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    assert!(e.message().contains("not active"), "{e}");
    assert_eq!(http(&http_addr, "POST", "/api/hosts/h1/revoke").await.0, 409);
    assert_eq!(http(&http_addr, "POST", "/api/hosts/h1/agent-certificate/renew").await.0, 409);
    assert_eq!(http(&http_addr, "POST", "/api/hosts/h9/revoke").await.0, 404);
    let (_, audit) = http(&http_addr, "GET", "/api/audit").await;
    assert!(audit.contains("host.revoke") && audit.contains("decommissioned"), "{audit}");

    // Forgotten, the id enrolls again (a reimaged machine).
    assert_eq!(http(&http_addr, "DELETE", "/api/hosts/h1").await.0, 200);
    assert_eq!(http(&http_addr, "GET", "/api/hosts/h1").await.0, 404);
    assert_eq!(http(&http_addr, "DELETE", "/api/hosts/h1").await.0, 404);
    let (_, body) = http(&http_addr, "POST", "/api/enrollment-tokens").await;
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
    let (_, csr) = new_key_and_csr();
    let again = client(&grpc, &ca_pem, None).await.enroll(pb::EnrollRequest { token, host_id: "h1".into(), group: "g".into(), csr_pem: csr }).await;
    assert!(again.is_ok(), "{again:?}");

    console.stop().await;
}
