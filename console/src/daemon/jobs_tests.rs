//! The job RPCs over real sockets (mTLS): an agent sees and reports only
//! its own jobs, fetches only packages it has a job for, and a rolled back
//! job resets its desired version and ends the rollout.

use super::testkit::{self, wait_line};
use super::*;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use teehsm_agent::package::{hash_file, sign_package, FileEntry, Manifest, Platform, VendorKeys};
use teehsm_wire::proto::fleet::v1 as pb;
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), serde_json::from_str(body).unwrap_or_default())
}

async fn client(grpc: &str, ca_pem: &str, identity: Option<(&str, &str)>) -> AgentServiceClient<Channel> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let ch = Channel::from_shared(format!("https://{grpc}")).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
    AgentServiceClient::new(ch)
}

/// Enrolls `host` and returns a client with its certificate.
async fn enrolled(grpc: &str, http_addr: &str, ca_pem: &str, host: &str) -> AgentServiceClient<Channel> {
    let (status, body) = http(http_addr, "POST", "/api/enrollment-tokens", "").await;
    assert_eq!(status, 201, "{body}");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::new(Vec::<String>::new()).unwrap().serialize_request(&key).unwrap().pem().unwrap();
    let req = pb::EnrollRequest { token: body["token"].as_str().unwrap().into(), host_id: host.into(), group: "g".into(), csr_pem: csr };
    let r = client(grpc, ca_pem, None).await.enroll(req).await.unwrap().into_inner();
    client(grpc, ca_pem, Some((&r.cert_pem, &key.serialize_pem()))).await
}

fn package(dir: &Path, key: &Ed25519KeyPair) {
    std::fs::create_dir_all(dir).unwrap();
    let body: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("teehsm-ta"), &body).unwrap();
    let m = Manifest {
        name: "teehsm-ta".into(),
        version: "2.0.0".into(),
        security_version: 1,
        platform: Platform::Sim,
        files: vec![FileEntry { path: "teehsm-ta".into(), sha256: hash_file(&dir.join("teehsm-ta")).unwrap(), mode: 0o755 }],
    };
    std::fs::write(dir.join("manifest.toml"), m.to_toml().unwrap()).unwrap();
    sign_package(dir, key).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_see_fetch_and_report_only_their_own_jobs() {
    let d = tempfile::tempdir().unwrap();
    let cfg = Config { allow_loopback_admin: true, ..testkit::config(&d.path().join("console")) };
    let data = cfg.data_dir.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(cfg, async {
        let _ = stopped.await;
    }));
    let grpc = wait_line(&data.join("grpc.addr")).await;
    let http_addr = wait_line(&data.join("http.addr")).await;
    let ca_pem = std::fs::read_to_string(data.join(tls::CA_CERT)).unwrap();
    let mut h1 = enrolled(&grpc, &http_addr, &ca_pem, "h1").await;
    let mut h2 = enrolled(&grpc, &http_addr, &ca_pem, "h2").await;

    // Import 2.0.0 (as `teehsm-console package add` does) and roll it out to h1.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let key = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let mut keys = VendorKeys::new();
    keys.add(key.public_key().as_ref()).unwrap();
    let src = d.path().join("pkg");
    package(&src, &key);
    let mut store = Store::open(data.join("console.db"), now_ms()).unwrap();
    packages::import(&data.join(packages::PACKAGES_DIR), &src, keys, &mut store, "test", now_ms()).unwrap();
    drop(store);
    let (status, body) = http(&http_addr, "POST", "/api/rollouts", r#"{"version":"2.0.0","hosts":["h1"]}"#).await;
    assert_eq!(status, 201, "{body}");
    let rollout = body["id"].as_u64().unwrap();

    // The heartbeat answers carry each host's own desired state and jobs.
    let beat = pb::HeartbeatRequest { report: Some(pb::HostReport { reported_at_ms: 1, ..Default::default() }) };
    let a1 = h1.heartbeat(beat.clone()).await.unwrap().into_inner();
    assert_eq!(a1.desired.as_ref().unwrap().ta_version, "2.0.0");
    assert_eq!(a1.jobs.len(), 1);
    let job = a1.jobs[0].clone();
    assert_eq!((job.kind.as_str(), job.state.as_str()), ("ta_upgrade", "queued"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&job.payload_json).unwrap()["version"], "2.0.0");
    let a2 = h2.heartbeat(beat.clone()).await.unwrap().into_inner();
    assert!(a2.jobs.is_empty() && a2.desired.unwrap().ta_version.is_empty());

    // h2 can neither report h1's job nor fetch the package.
    let report = |state: &str, active: &str| pb::ReportJobRequest {
        job_id: job.id,
        state: state.into(),
        history: vec![pb::JobStep { step: "fetch".into(), detail: String::new() }],
        message: String::new(),
        active_version: active.into(),
    };
    let e = h2.report_job(report("running", "1.0.0")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e}");
    let e = h2.fetch_package(pb::FetchPackageRequest { version: "2.0.0".into() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    let e = h1.fetch_package(pb::FetchPackageRequest { version: "9.9.9".into() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");

    // h1 fetches it: manifest, signature, then the 3 MiB TA in 1 MiB chunks.
    let mut stream = h1.fetch_package(pb::FetchPackageRequest { version: "2.0.0".into() }).await.unwrap().into_inner();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut chunks = 0;
    while let Some(c) = stream.message().await.unwrap() {
        chunks += 1;
        assert!(c.data.len() <= packages::CHUNK_BYTES);
        if c.path.is_empty() {
            files.last_mut().unwrap().1.extend_from_slice(&c.data);
        } else {
            files.push((c.path, c.data));
        }
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.toml", "manifest.sig", "teehsm-ta"]);
    assert_eq!(files[2].1, std::fs::read(src.join("teehsm-ta")).unwrap());
    assert_eq!(chunks, 6);

    // Bad reports get precise errors.
    let e = h1.report_job(report("exploded", "1.0.0")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    assert!(e.message().contains("not one of running"), "{e}");
    let e = h1.report_job(report("succeeded", "2.0.0")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "queued -> succeeded: {e}");

    // Running, then rolled back: the desired version returns to 1.0.0, no job is left.
    h1.report_job(report("running", "1.0.0")).await.unwrap();
    let mut rb = report("rolled_back", "1.0.0");
    rb.message = "health check failed: TA 2.0.0 exited".into();
    h1.report_job(rb).await.unwrap();
    let a1 = h1.heartbeat(beat.clone()).await.unwrap().into_inner();
    assert!(a1.jobs.is_empty());
    assert_eq!(a1.desired.unwrap().ta_version, "1.0.0");
    let e = h1.report_job(report("running", "1.0.0")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "a finished job: {e}");

    let (status, r) = http(&http_addr, "GET", &format!("/api/rollouts/{rollout}"), "").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "failed", "one host, rolled back: {r}");
    assert_eq!(r["hosts"][0]["job"]["state"], "rolled_back");
    assert_eq!(r["hosts"][0]["job"]["result"]["message"], "health check failed: TA 2.0.0 exited");

    // Cancel: a rollout to h2 cancelled before h2 started it. h2 then gets no
    // job and no desired version, cannot fetch the package or start the job.
    let (status, body) = http(&http_addr, "POST", "/api/rollouts", r#"{"version":"2.0.0","hosts":["h2"]}"#).await;
    assert_eq!(status, 201, "{body}");
    let second = body["id"].as_u64().unwrap();
    let picked = h2.heartbeat(beat.clone()).await.unwrap().into_inner().jobs[0].clone();
    let (status, c) = http(&http_addr, "POST", &format!("/api/rollouts/{second}/cancel"), "").await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["cancelled_hosts"], serde_json::json!(["h2"]));
    assert_eq!((c["rollout"]["status"].as_str(), c["rollout"]["hosts"][0]["job"]["state"].as_str()), (Some("failed"), Some("failed")));
    assert_eq!(c["rollout"]["hosts"][0]["job"]["result"]["cancelled"]["by"], "loopback");
    let a2 = h2.heartbeat(beat.clone()).await.unwrap().into_inner();
    assert!(a2.jobs.is_empty() && a2.desired.unwrap().ta_version.is_empty(), "cancelled: nothing for h2 to do");
    let e = h2.fetch_package(pb::FetchPackageRequest { version: "2.0.0".into() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    let mut late = report("running", "1.0.0");
    late.job_id = picked.id;
    let e = h2.report_job(late).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "the job h2 picked up before the cancel cannot start: {e}");
    let (status, again) = http(&http_addr, "POST", &format!("/api/rollouts/{second}/cancel"), "").await;
    assert_eq!(status, 409, "{again}");
    assert!(again["error"].as_str().unwrap().contains("h2: failed"), "{again}");
    let (status, _) = http(&http_addr, "POST", "/api/rollouts/999/cancel", "").await;
    assert_eq!(status, 404);
    let (status, _) = http(&http_addr, "GET", &format!("/api/rollouts/{second}/cancel"), "").await;
    assert_eq!(status, 405);

    // Waves: h1 first, h2 only after h1's job ended; h1 fails, so h2 is skipped.
    let (status, body) = http(&http_addr, "POST", "/api/rollouts", r#"{"version":"2.0.0","waves":[["h1"],["h2"]]}"#).await;
    assert_eq!(status, 201, "{body}");
    let staged = body["id"].as_u64().unwrap();
    assert_eq!((body["waves"].as_u64(), body["stop_on_failure"].as_bool()), (Some(2), Some(true)), "{body}");
    assert_eq!((body["waiting"][0]["host_id"].as_str(), body["waiting"][0]["state"].as_str()), (Some("h2"), Some("pending")), "{body}");
    assert!(h2.heartbeat(beat.clone()).await.unwrap().into_inner().jobs.is_empty(), "h2 waits for wave 1");
    let j1 = h1.heartbeat(beat.clone()).await.unwrap().into_inner().jobs[0].clone();
    let mut step = report("running", "1.0.0");
    step.job_id = j1.id;
    h1.report_job(step.clone()).await.unwrap();
    step.state = "failed".into();
    step.message = "cannot fetch".into();
    h1.report_job(step).await.unwrap();
    assert!(h2.heartbeat(beat.clone()).await.unwrap().into_inner().jobs.is_empty(), "wave 1 skipped after the failure");
    let (_, r) = http(&http_addr, "GET", &format!("/api/rollouts/{staged}"), "").await;
    assert_eq!(r["status"], "halted", "{r}");
    assert_eq!((r["waiting"][0]["state"].as_str(), r["waiting"][0]["wave"].as_u64()), (Some("skipped"), Some(1)), "{r}");
    let (status, body) = http(&http_addr, "POST", "/api/rollouts", r#"{"version":"2.0.0","waves":[["h1"]],"wave_size":1}"#).await;
    assert_eq!(status, 400, "{body}");

    let (_, audit) = http(&http_addr, "GET", "/api/audit", "").await;
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(
        actions.contains(&"rollout.create")
            && actions.contains(&"job.finished")
            && actions.contains(&"rollout.finished")
            && actions.contains(&"rollout.cancel"),
        "{audit}"
    );

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}
