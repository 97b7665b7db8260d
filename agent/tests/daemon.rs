//! `teehsm-agent enroll` and `teehsm-agent run` against a real teehsm-ca
//! and a fake console (a tonic AgentService over TLS with rcgen test certs)
//! that signs CSRs and records heartbeats. Skipped (passes with a note) when
//! teehsm-ca / teehsm-ta are not built: `cargo build -p teehsm-ca -p teehsm-ta`.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teehsm_wire::proto::fleet::v1::agent_service_server::{AgentService, AgentServiceServer};
use teehsm_wire::proto::fleet::v1::{
    EnrollRequest, EnrollResponse, FetchPackageRequest, HeartbeatRequest, HeartbeatResponse, HostReport, PackageChunk, RenewCertificateRequest,
    RenewCertificateResponse, ReportJobRequest, ReportJobResponse,
};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

const GOOD_TOKEN: &str = "teehsm-enroll-good";

fn bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// A child process, SIGTERMed and reaped on drop.
struct Proc(Child);

impl Proc {
    fn term(&self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
    }
    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        self.term();
        if self.wait_exit(Duration::from_secs(10)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct FakeConsole {
    ca: CertifiedIssuer<'static, KeyPair>,
    reports: Arc<Mutex<Vec<HostReport>>>,
}

#[tonic::async_trait]
impl AgentService for FakeConsole {
    async fn enroll(&self, request: Request<EnrollRequest>) -> Result<Response<EnrollResponse>, Status> {
        let r = request.into_inner();
        if r.token != GOOD_TOKEN {
            return Err(Status::permission_denied("unknown or used enrollment token"));
        }
        let csr = CertificateSigningRequestParams::from_pem(&r.csr_pem).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, r.host_id.clone());
        params.is_ca = IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = CertificateSigningRequestParams { params, public_key: csr.public_key }
            .signed_by(&self.ca)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(EnrollResponse { host_id: r.host_id, cert_pem: cert.pem(), ca_pem: self.ca.pem(), heartbeat_interval_ms: 200 }))
    }

    async fn heartbeat(&self, request: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        if request.peer_certs().is_none_or(|c| c.is_empty()) {
            return Err(Status::unauthenticated("client certificate required"));
        }
        let report = request.into_inner().report.ok_or_else(|| Status::invalid_argument("no report"))?;
        self.reports.lock().unwrap().push(report);
        Ok(Response::new(HeartbeatResponse { heartbeat_interval_ms: 200, ..Default::default() }))
    }

    async fn report_job(&self, _: Request<ReportJobRequest>) -> Result<Response<ReportJobResponse>, Status> {
        Err(Status::not_found("this fake console has no jobs"))
    }

    type FetchPackageStream = tokio_stream::Empty<Result<PackageChunk, Status>>;

    async fn fetch_package(&self, _: Request<FetchPackageRequest>) -> Result<Response<Self::FetchPackageStream>, Status> {
        Err(Status::not_found("this fake console has no packages"))
    }

    async fn renew_certificate(&self, _: Request<RenewCertificateRequest>) -> Result<Response<RenewCertificateResponse>, Status> {
        // Its certificates run until 4096: agents never ask (the real console's renewal: tests/tests/fleet_cert_renewal.rs).
        Err(Status::unimplemented("this fake console does not renew certificates"))
    }
}

#[test]
fn enroll_and_run_against_real_ca_and_fake_console() {
    let bins = bin_dir();
    let (ca_bin, ta_bin) = (bins.join("teehsm-ca"), bins.join("teehsm-ta"));
    if !ca_bin.exists() || !ta_bin.exists() {
        eprintln!("skipped: {} or {} not built", ca_bin.display(), ta_bin.display());
        return;
    }
    let agent_bin = env!("CARGO_BIN_EXE_teehsm-agent");
    let dir = std::env::temp_dir().join(format!("teehsm-agent-daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The fake console: CA, server certificate for 127.0.0.1, TLS with optional client certs.
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "test console CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()).unwrap();
    let ca_pem = ca.pem();
    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap().signed_by(&server_key, &ca).unwrap();
    std::fs::write(dir.join("console-ca.pem"), &ca_pem).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let console_addr = listener.local_addr().unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(server_cert.pem(), server_key.serialize_pem()))
        .client_ca_root(Certificate::from_pem(&ca_pem))
        .client_auth_optional(true);
    let svc = AgentServiceServer::new(FakeConsole { ca, reports: reports.clone() });
    let router = Server::builder().tls_config(tls).unwrap().add_service(svc);
    rt.spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    let console = format!("https://{console_addr}");

    // Enrollment: a wrong token is refused with exit code 3, a good one stores the files.
    let agent_state = dir.join("agent");
    let enroll = |token: &str| {
        Command::new(agent_bin)
            .args(["enroll", "--console", &console, "--console-ca"])
            .arg(dir.join("console-ca.pem"))
            .args(["--token", token, "--host-id", "host-1", "--group", "g", "--state-dir"])
            .arg(&agent_state)
            .output()
            .unwrap()
    };
    let bad = enroll("teehsm-enroll-bad");
    assert_eq!(bad.status.code(), Some(3), "{}", String::from_utf8_lossy(&bad.stderr));
    let good = enroll(GOOD_TOKEN);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert_eq!(String::from_utf8_lossy(&good.stdout).trim(), "host-1");
    assert!(agent_state.join("agent.pem").exists() && agent_state.join("agent-key.pem").exists());

    // A missing required option is a usage error.
    let usage = Command::new(agent_bin).args(["run", "--console", &console]).env_remove("TEEHSM_AGENT_STATE_DIR").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));

    // The real CA with its dev token, and the agent reporting it.
    let ca_state = dir.join("ca");
    let _ca = Proc(
        Command::new(&ca_bin)
            .arg("--state-dir")
            .arg(&ca_state)
            .args(["--init-dev-token", "--http-listen", "127.0.0.1:0"])
            .env("TEEHSM_CA_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut agent = Proc(
        Command::new(agent_bin)
            .args(["run", "--console", &console, "--state-dir"])
            .arg(&agent_state)
            .arg("--ca-state-dir")
            .arg(&ca_state)
            .args(["--token-capacity", "1000", "--interval-ms", "200", "--ta-id", "ta-test"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let good_report = loop {
        assert!(agent.0.try_wait().unwrap().is_none(), "teehsm-agent run exited");
        assert!(Instant::now() < deadline, "no report with the TA up and the dev token in 90 s: {:?}", reports.lock().unwrap().last());
        let found = reports.lock().unwrap().iter().find(|r| r.tas.first().is_some_and(|t| t.up && t.tokens.iter().any(|k| k.slot == 0))).cloned();
        if let Some(r) = found {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let ta = &good_report.tas[0];
    assert_eq!(ta.ta_id, "ta-test");
    let tok = ta.tokens.iter().find(|k| k.slot == 0).unwrap();
    assert_eq!((tok.label.as_str(), tok.capacity), ("dev-token", 1000));
    assert!(good_report.ta_memory_bytes > 0, "{good_report:?}");
    assert!(good_report.memory_limit_bytes > 0);
    assert!(good_report.tees.contains(&"sim".to_string()));
    // Later reports carry CPU and rates (two samples); the CA's pid was found from its listener.
    let n = reports.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reports.lock().unwrap().len() < n + 3 {
        assert!(Instant::now() < deadline, "heartbeats stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = reports.lock().unwrap().last().cloned().unwrap();
    assert!(last.ca_memory_bytes > 0, "{last:?}");

    // SIGTERM: prompt exit 0.
    agent.term();
    let status = agent.wait_exit(Duration::from_secs(5)).expect("teehsm-agent did not stop within 5 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    drop(_ca);
    rt.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}
