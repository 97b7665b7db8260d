//! The gRPC server end to end: the real teehsm-ca and teehsm-ta binaries
//! (build the TA first: `cargo build -p teehsm-ta`), --grpc-dev-tls on
//! 127.0.0.1:0, and tonic clients over TLS with the generated dev CA.

use std::process::Command;
use std::time::{Duration, Instant};
use teehsm_wire::proto::v1;
use teehsm_wire::proto::v1::key_management_service_client::KeyManagementServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

mod common;

use common::{Ca, TempDir, CA};

const SERVICE: &str = "teehsm.v1.KeyManagementService";

/// Starts teehsm-ca with the real TA in a fresh state directory, serving
/// gRPC with the dev certificate and a dev token; "{state}" in `extra`
/// stands for the state directory's path.
fn start_ca(tag: &str, extra: &[&str]) -> Ca {
    Ca::builder()
        .temp_state(&format!("grpc-{tag}"))
        .real_ta()
        .log_level("info")
        .args(&["--grpc-listen", "127.0.0.1:0", "--grpc-dev-tls", "--init-dev-token"])
        .args(extra)
        .start()
}

/// What the tests here ask the CA besides the common harness.
impl Ca {
    fn grpc_addr(&self) -> String {
        self.addr_file("grpc.addr")
    }

    fn dev_tls(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.state.join("grpc-dev-tls").join(file)).expect("dev TLS file")
    }

    fn ta_pid(&self) -> Option<i64> {
        match self.get("/healthz") {
            (200, body) => serde_json::from_str::<serde_json::Value>(&body).ok()?["ta_pid"].as_i64(),
            _ => None,
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A TLS channel trusting the dev CA, optionally with the dev client certificate.
async fn channel(ca: &Ca, client_cert: bool) -> Result<Channel, tonic::transport::Error> {
    // grpc.addr is written after the dev certificates.
    let addr = ca.grpc_addr();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.dev_tls("ca.pem"))).domain_name("localhost");
    if client_cert {
        tls = tls.identity(Identity::from_pem(ca.dev_tls("client.pem"), ca.dev_tls("client-key.pem")));
    }
    Channel::from_shared(format!("https://{addr}")).expect("URI").tls_config(tls)?.connect_timeout(Duration::from_secs(5)).connect().await
}

async fn health(ch: &Channel, service: &str) -> Result<i32, tonic::Status> {
    let r = HealthClient::new(ch.clone()).check(HealthCheckRequest { service: service.into() }).await?;
    Ok(r.into_inner().status)
}

/// Waits until both health entries say SERVING (the TA is up and the dev token exists).
async fn wait_serving(ca: &Ca, ch: &Channel) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (a, b) = (health(ch, "").await, health(ch, SERVICE).await);
        if a.as_ref().ok() == Some(&(ServingStatus::Serving as i32)) && b.as_ref().ok() == Some(&(ServingStatus::Serving as i32)) {
            return;
        }
        assert!(Instant::now() < deadline, "health never became SERVING ({a:?}, {b:?}); log:\n{}", ca.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reflection_services(ch: &Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let req = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut stream = ServerReflectionClient::new(ch.clone())
        .server_reflection_info(tonic::codegen::tokio_stream::iter(vec![req]))
        .await
        .expect("reflection call")
        .into_inner();
    let resp = stream.message().await.expect("reflection answer").expect("one answer");
    match resp.message_response {
        Some(MessageResponse::ListServicesResponse(l)) => l.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

async fn generate_random(ch: &Channel, n: u32) -> Result<tonic::Response<v1::GenerateRandomResponse>, tonic::Status> {
    KeyManagementServiceClient::new(ch.clone()).generate_random(v1::GenerateRandomRequest { length_bytes: n }).await
}

fn with_headers<T>(msg: T, headers: &[(&'static str, &str)]) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    for (k, v) in headers {
        r.metadata_mut().insert(*k, v.parse().unwrap());
    }
    r
}

#[test]
fn grpc_over_tls_forwards_to_the_ta() {
    let mut ca = start_ca("main", &[]);
    let rt = runtime();
    rt.block_on(async {
        let ch = channel(&ca, false).await.expect("TLS channel with the dev CA");
        wait_serving(&ca, &ch).await;

        let services = reflection_services(&ch).await;
        for s in [SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"] {
            assert!(services.iter().any(|n| n == s), "reflection lists {s}: {services:?}");
        }

        // Anonymous GenerateRandom: answered by the TA, with the (zero) response MAC.
        let r = generate_random(&ch, 32).await.unwrap_or_else(|s| panic!("anonymous GenerateRandom: {s:?}\nlog:\n{}", ca.log()));
        let mac = r.metadata().get("x-teehsm-response-mac").expect("response MAC header").to_str().unwrap().to_string();
        assert_eq!(mac, "0".repeat(64), "anonymous calls carry a zero MAC");
        let out = r.into_inner();
        assert_eq!(out.data.len(), 32);
        assert_eq!(out.data_crc32c, teehsm_wire::proto::crc32c(&out.data));
        let again = generate_random(&ch, 32).await.unwrap().into_inner();
        assert_ne!(again.data, out.data);

        // The TA validates the request itself.
        let s = generate_random(&ch, 0).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");

        // Anonymous Sign: refused by the TA.
        let mut kms = KeyManagementServiceClient::new(ch.clone());
        let sign = v1::SignRequest { name: "k1".into(), digest: vec![0; 32], ..Default::default() };
        let s = kms.sign(sign.clone()).await.unwrap_err();
        assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

        // A full authenticator from an unknown client: forwarded, refused by the TA.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis().to_string();
        let nonce = "11".repeat(16);
        let mac = "22".repeat(32);
        let auth = [
            ("x-teehsm-client-id", "nobody"),
            ("x-teehsm-timestamp-ms", now.as_str()),
            ("x-teehsm-nonce", nonce.as_str()),
            ("x-teehsm-mac", mac.as_str()),
        ];
        let s = kms.sign(with_headers(sign.clone(), &auth)).await.unwrap_err();
        assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
        assert!(s.metadata().get("x-teehsm-response-mac").is_some(), "errors carry the response MAC header too");

        // Malformed authenticators never reach the TA.
        let bad_mac = [auth[0], auth[1], auth[2], ("x-teehsm-mac", "not-hex")];
        let s = kms.sign(with_headers(sign.clone(), &bad_mac)).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(s.message().contains("x-teehsm-mac"), "{}", s.message());
        let s = kms.sign(with_headers(sign.clone(), &auth[..3])).await.unwrap_err();
        assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
        assert!(s.message().contains("x-teehsm-mac missing"), "{}", s.message());

        // Oversized messages are refused before anything is forwarded.
        let big = v1::SignRequest { name: "k1".into(), data: vec![0; 600 * 1024], ..Default::default() };
        let s = kms.sign(big).await.unwrap_err();
        assert_eq!(s.code(), Code::OutOfRange, "{s:?}");
    });

    // The metrics count those calls.
    let (code, metrics) = ca.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("teehsm_grpc_requests_total{code=\"OK\",method=\"GenerateRandom\"} 2\n"), "{metrics}");
    assert!(metrics.contains("teehsm_grpc_requests_total{code=\"INVALID_ARGUMENT\",method=\"Sign\"} 1\n"), "{metrics}");
    assert!(metrics.contains("teehsm_grpc_requests_total{code=\"UNAUTHENTICATED\",method=\"Sign\"} 3\n"), "{metrics}");
    assert!(metrics.contains("teehsm_grpc_request_duration_seconds_count{method=\"GenerateRandom\"} 3\n"), "{metrics}");
    assert!(metrics.contains("teehsm_ta_operations_total{algorithm=\"none\",method=\"GenerateRandom\"} 2\n"), "{metrics}");
    assert!(metrics.contains("teehsm_token_objects{slot=\"0\"} "), "{metrics}");
    assert!(metrics.contains("\nteehsm_ca_ta_up 1\n"), "{metrics}");

    // TA killed: UNAVAILABLE and NOT_SERVING, then back after the restart on fresh connections.
    let pid = ca.ta_pid().expect("TA pid");
    // SAFETY: signalling the TA process the CA started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    rt.block_on(async {
        let ch = channel(&ca, false).await.expect("channel");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut saw_unavailable = false;
        let mut saw_not_serving = false;
        while !(saw_unavailable && saw_not_serving) && Instant::now() < deadline {
            if let Err(s) = generate_random(&ch, 8).await {
                assert_eq!(s.code(), Code::Unavailable, "{s:?}");
                saw_unavailable = true;
            }
            if health(&ch, SERVICE).await.ok() == Some(ServingStatus::NotServing as i32) {
                saw_not_serving = true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(saw_unavailable && saw_not_serving, "unavailable {saw_unavailable}, not serving {saw_not_serving}");
        wait_serving(&ca, &ch).await;
        let r = generate_random(&ch, 16).await.unwrap_or_else(|s| panic!("after the TA restart: {s:?}"));
        assert_eq!(r.into_inner().data.len(), 16);
    });

    // SIGTERM while calls are in flight: the server stops taking new calls
    // (clients see UNAVAILABLE, or CANCELLED for streams refused after its
    // GOAWAY), lets the calls it took finish, then exits cleanly.
    let grpc_addr_file = ca.state.join("grpc.addr");
    let pid = ca.pid();
    let outcomes = rt.block_on(async {
        let ch = channel(&ca, false).await.expect("channel");
        wait_serving(&ca, &ch).await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let ch = ch.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    let r = generate_random(&ch, 32).await;
                    let stop = r.is_err();
                    out.push(r.map(|r| r.into_inner().data.len()).map_err(|s| (s.code(), s.message().to_string())));
                    if stop {
                        break;
                    }
                }
                out
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    assert!(ok > 0, "no call completed before SIGTERM");
    for o in &outcomes {
        match o {
            Ok(n) => assert_eq!(*n, 32),
            // New calls racing the closing connection fail in the client's own
            // transport (refused stream, h2 error); none is answered with a TA error.
            Err((code, msg)) => assert!(
                matches!(code, Code::Unavailable | Code::Cancelled) || msg.contains("h2 protocol error") || msg.contains("transport error"),
                "during shutdown: {code:?} {msg}"
            ),
        }
    }
    let st = ca.terminate(Duration::from_secs(30));
    let log = ca.log();
    assert!(log.contains("gRPC server stopped; in-flight calls finished"), "{log}");
    assert!(!log.contains("cutting them off"), "{log}");
    assert!(st.success(), "exit status {st}; log:\n{}", ca.log());
    assert!(!grpc_addr_file.exists());
}

/// A client that holds an idle connection (it made one call and keeps its
/// channel) does not hold up shutdown: only calls in flight get the grace
/// period, so SIGTERM ends the CA with 0 within a few seconds.
#[test]
fn idle_client_connection_does_not_delay_shutdown() {
    let mut ca = start_ca("idle", &[]);
    // A current-thread runtime runs the channel's connection task only inside
    // block_on: afterwards the connection stays open but the client neither
    // answers the server's GOAWAY ping nor closes it, as a busy, paused or
    // simply lazy client may. (A client that is polled closes an idle
    // connection on GOAWAY by itself, which would hide the problem.)
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ch = rt.block_on(async {
        let ch = channel(&ca, false).await.expect("channel");
        wait_serving(&ca, &ch).await;
        let r = generate_random(&ch, 8).await.unwrap_or_else(|s| panic!("GenerateRandom: {s:?}"));
        assert_eq!(r.into_inner().data.len(), 8);
        ch
    });
    let start = Instant::now();
    let st = ca.terminate(Duration::from_secs(30));
    let took = start.elapsed();
    drop(ch);
    let log = ca.log();
    assert!(st.success(), "exit status {st}; log:\n{log}");
    assert!(took < Duration::from_secs(3), "shutdown took {took:?} with an idle client connection; log:\n{log}");
    assert!(log.contains("in-flight calls finished (closing idle client connections)"), "{log}");
    assert!(!log.contains("cutting them off"), "{log}");
}

#[test]
fn mtls_required_refuses_clients_without_a_certificate() {
    // The dev CA signs both the server and the dev client certificate (client.pem).
    let ca = start_ca("mtls", &["--grpc-client-ca", "{state}/grpc-dev-tls/ca.pem"]);
    let rt = runtime();
    rt.block_on(async {
        // Without a client certificate: the handshake (or the first call on it) is refused.
        let refused = match channel(&ca, false).await {
            Err(_) => true,
            Ok(ch) => health(&ch, "").await.is_err(),
        };
        assert!(refused, "a client without a certificate was served");
        // With the dev client certificate: served.
        let ch = channel(&ca, true).await.expect("mTLS channel");
        wait_serving(&ca, &ch).await;
        let r = generate_random(&ch, 4).await.unwrap_or_else(|s| panic!("GenerateRandom over mTLS: {s:?}"));
        assert_eq!(r.into_inner().data.len(), 4);
    });
}

/// An operator CA and the leaves it issues for localhost, as PEM.
struct OperatorCa(rcgen::CertifiedIssuer<'static, rcgen::KeyPair>);

impl OperatorCa {
    fn new(name: &str) -> OperatorCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        OperatorCa(rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap())
    }
    fn pem(&self) -> String {
        self.0.as_ref().pem()
    }
    /// (certificate, key) of a leaf for localhost expiring on 1 January of `year`.
    fn leaf(&self, year: i32) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let cert = params.signed_by(&key, &self.0).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Installs the pair as a renewal tool does: written aside, renamed into place.
fn install_pair(dir: &std::path::Path, (cert, key): &(String, String)) {
    use std::os::unix::fs::PermissionsExt;
    for (name, data) in [("server.pem", cert), ("server-key.pem", key)] {
        let tmp = dir.join(format!("{name}.new"));
        std::fs::write(&tmp, data).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

async fn operator_channel(addr: &str, ca_pem: &str) -> Result<Channel, tonic::transport::Error> {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name("localhost");
    Channel::from_shared(format!("https://{addr}")).expect("URI").tls_config(tls)?.connect_timeout(Duration::from_secs(5)).connect().await
}

fn metric(ca: &Ca, line_start: &str) -> Option<f64> {
    let (_, body) = ca.get("/metrics");
    body.lines().find_map(|l| l.strip_prefix(line_start).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn a_renewed_grpc_certificate_is_served_without_a_restart() {
    let files = TempDir::new("grpc-renew-files");
    // The first certificate from one CA, the renewal from another, so a client shows which one it was given.
    let (old_ca, new_ca) = (OperatorCa::new("old operator CA"), OperatorCa::new("new operator CA"));
    install_pair(&files.0, &old_ca.leaf(2031));
    let (cert, key) = (files.0.join("server.pem").display().to_string(), files.0.join("server-key.pem").display().to_string());
    let ca = Ca::builder()
        .temp_state("grpc-renew")
        .real_ta()
        .log_level("info")
        .args(&["--grpc-listen", "127.0.0.1:0", "--grpc-tls-cert", &cert, "--grpc-tls-key", &key, "--init-dev-token"])
        .start();
    let addr =
        ca.wait_for("grpc.addr", Duration::from_secs(60), || std::fs::read_to_string(ca.state.join("grpc.addr")).ok().map(|a| a.trim().to_string()));
    let expiry = "teehsm_grpc_certificate_expiry_timestamp_seconds ";
    let reloads = |result: &str| metric(&ca, &format!("teehsm_grpc_certificate_reloads_total{{result=\"{result}\"}} ")).unwrap_or(-1.0);
    let rt = runtime();
    rt.block_on(async {
        let first = operator_channel(&addr, &old_ca.pem()).await.expect("the first certificate is served");
        wait_serving(&ca, &first).await;
        assert_eq!(metric(&ca, expiry), Some(1_924_992_000.0), "2031-01-01");
        assert!(
            operator_channel(&addr, &new_ca.pem()).await.is_err()
                || health(&operator_channel(&addr, &new_ca.pem()).await.unwrap(), "").await.is_err()
        );

        install_pair(&files.0, &new_ca.leaf(2032));
        let renewed = operator_channel(&addr, &new_ca.pem()).await.unwrap_or_else(|e| panic!("renewed certificate not served: {e:?}\n{}", ca.log()));
        assert_eq!(generate_random(&renewed, 8).await.expect("call on a new connection").into_inner().data.len(), 8);
        let refused = match operator_channel(&addr, &old_ca.pem()).await {
            Err(_) => true,
            Ok(ch) => health(&ch, "").await.is_err(),
        };
        assert!(refused, "new connections still get the old certificate");
        // The connection made before the renewal goes on working.
        assert_eq!(generate_random(&first, 8).await.expect("call on the old connection").into_inner().data.len(), 8);
        assert_eq!(metric(&ca, expiry), Some(1_956_528_000.0), "2032-01-01");
        assert_eq!(reloads("ok"), 1.0);
        assert!(metric(&ca, "teehsm_grpc_tls_handshake_failures_total ").unwrap_or(0.0) >= 1.0, "the refused old-CA client counted");

        // A broken renewal (the key of another certificate): logged, counted, the renewed pair kept.
        let (cert_c, _) = new_ca.leaf(2033);
        let (_, key_d) = new_ca.leaf(2033);
        install_pair(&files.0, &(cert_c, key_d));
        let still = operator_channel(&addr, &new_ca.pem()).await.expect("previous certificate still served");
        assert_eq!(generate_random(&still, 8).await.expect("call").into_inner().data.len(), 8);
        assert_eq!(reloads("error"), 1.0);
        assert_eq!(metric(&ca, expiry), Some(1_956_528_000.0));
    });
    let log = ca.log();
    assert!(log.contains("loaded the renewed TLS certificate"), "{log}");
    assert!(log.contains("do not go together"), "{log}");
}

#[test]
fn a_replaced_client_ca_file_applies_without_a_restart() {
    let files = TempDir::new("grpc-client-ca-files");
    let (old_ca, new_ca) = (OperatorCa::new("old client CA"), OperatorCa::new("new client CA"));
    let ca_file = files.0.join("clients.pem");
    let write_cas = |pem: &str| {
        std::fs::write(files.0.join("clients.new"), pem).unwrap();
        std::fs::rename(files.0.join("clients.new"), &ca_file).unwrap();
    };
    write_cas(&old_ca.pem());
    let ca = start_ca("client-ca", &["--grpc-client-ca", &ca_file.display().to_string()]);
    let addr =
        ca.wait_for("grpc.addr", Duration::from_secs(60), || std::fs::read_to_string(ca.state.join("grpc.addr")).ok().map(|a| a.trim().to_string()));
    let rt = runtime();
    rt.block_on(async {
        let with = |issuer: &OperatorCa| {
            let (cert, key) = issuer.leaf(2031);
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.dev_tls("ca.pem")))
                .domain_name("localhost")
                .identity(Identity::from_pem(cert, key));
            let addr = addr.clone();
            async move {
                let ch = Channel::from_shared(format!("https://{addr}")).unwrap().tls_config(tls).unwrap().connect().await;
                match ch {
                    Ok(ch) => generate_random(&ch, 4).await.is_ok(),
                    Err(_) => false,
                }
            }
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !with(&old_ca).await {
            assert!(Instant::now() < deadline, "a client of the configured CA was never served; log:\n{}", ca.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!with(&new_ca).await, "a client of another CA is refused");
        write_cas(&new_ca.pem());
        assert!(with(&new_ca).await, "the new CA file applies to the next handshake");
        assert!(!with(&old_ca).await, "the CA taken out is no longer trusted");
        assert_eq!(metric(&ca, "teehsm_grpc_client_ca_reloads_total{result=\"ok\"} "), Some(1.0));
    });
}

#[test]
fn plaintext_grpc_is_a_configuration_error() {
    let dir = TempDir::new("grpc-plain");
    let out = Command::new(CA)
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .args(["--grpc-listen", "127.0.0.1:0"])
        .env_remove("TEEHSM_CA_CONFIG")
        .output()
        .expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--grpc-tls-cert") && err.contains("--grpc-dev-tls"), "{err}");
}

/// Ad-hoc overhead measurement (not a benchmark): anonymous
/// GenerateRandom(32) from one channel with 64 calls in flight for 5 s.
/// Run with `cargo test -p teehsm-ca --release --test grpc_server -- --ignored --nocapture`.
#[test]
#[ignore]
fn generate_random_throughput() {
    let ca = start_ca("perf", &["--log-level", "warn"]);
    let rt = runtime();
    rt.block_on(async {
        let ch = channel(&ca, false).await.expect("channel");
        wait_serving(&ca, &ch).await;
        let stop = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let ch = ch.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop {
                    generate_random(&ch, 32).await.expect("GenerateRandom");
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        println!("anonymous GenerateRandom(32), 64 in flight, 1 channel: {total} calls in 5 s = {:.0} ops/s", total as f64 / 5.0);
    });
}
