use crate::{incoming, incoming_with_timeout, server_config, ClientAuth, ClientCaFile, FileOptions, ServerCertificate, TlsError, TlsMetrics};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_stream::StreamExt;

const OPTIONS: FileOptions = FileOptions { cert: "--test-cert", key: "--test-key" };

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA") }
    }
    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }
    /// A leaf for localhost: (certificate PEM, key PEM, certificate DER).
    fn leaf(&self) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["localhost".to_string()]).expect("params").signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn dir(tag: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("teehsm-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    Dir(d)
}

/// Writes the pair as a renewal tool would: new files renamed into place.
fn install(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    for (path, data) in [(&c, cert), (&k, key)] {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, data).expect("write");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::rename(&tmp, path).expect("rename");
    }
    (c, k)
}

fn metrics() -> TlsMetrics {
    TlsMetrics::new("teehsm_test", "the test listener", "--test-cert/--test-key").expect("metrics")
}

fn presented(cert: &ServerCertificate) -> Vec<u8> {
    cert.current().cert[0].to_vec()
}

#[test]
fn a_renewed_pair_is_presented_and_a_broken_one_keeps_the_last_good() {
    let d = dir("reload");
    let ca = Ca::new();
    let (a_cert, a_key, a_der) = ca.leaf();
    let (cert, key) = install(&d.0, &a_cert, &a_key);
    let m = metrics();
    let sc = ServerCertificate::from_files(&cert, &key, OPTIONS, m.clone()).expect("loads");
    assert_eq!(presented(&sc), a_der);
    assert!(m.expiry.get() > 0, "expiry gauge set at start");
    // Unchanged files: no reload.
    assert_eq!(presented(&sc), a_der);
    assert_eq!(m.reloads.with_label_values(&["ok"]).get(), 0);

    let (b_cert, b_key, b_der) = ca.leaf();
    install(&d.0, &b_cert, &b_key);
    assert_eq!(presented(&sc), b_der, "the renewed certificate is presented");
    assert_eq!(m.reloads.with_label_values(&["ok"]).get(), 1);

    // A key that does not belong to the certificate: the last good pair stays.
    let (_, c_key, _) = ca.leaf();
    install(&d.0, &b_cert, &c_key);
    assert_eq!(presented(&sc), b_der);
    assert_eq!(m.reloads.with_label_values(&["error"]).get(), 1);
    // A key readable by others: refused, still the last good pair.
    install(&d.0, &b_cert, &b_key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(presented(&sc), b_der);
    assert_eq!(m.reloads.with_label_values(&["error"]).get(), 2);
    // Mended: loads again.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (d_cert, d_key, d_der) = ca.leaf();
    install(&d.0, &d_cert, &d_key);
    assert_eq!(presented(&sc), d_der);
    assert_eq!(m.reloads.with_label_values(&["ok"]).get(), 2);
}

#[test]
fn files_that_do_not_load_stop_the_start_with_the_option_named() {
    let d = dir("refuse");
    let ca = Ca::new();
    let (a_cert, a_key, _) = ca.leaf();
    let (_, b_key, _) = ca.leaf();
    let (cert, key) = install(&d.0, &a_cert, &b_key);
    let e = ServerCertificate::from_files(&cert, &key, OPTIONS, metrics()).expect_err("mismatch");
    assert!(matches!(e, TlsError::Pair { .. }), "{e}");
    assert!(e.to_string().contains("do not go together"), "{e}");

    install(&d.0, &a_cert, &a_key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let e = ServerCertificate::from_files(&cert, &key, OPTIONS, metrics()).expect_err("mode");
    assert!(e.to_string().starts_with("--test-key ") && e.to_string().contains("chmod 600"), "{e}");

    std::fs::write(&cert, "not a certificate").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let e = ServerCertificate::from_files(&cert, &key, OPTIONS, metrics()).expect_err("no PEM");
    assert!(e.to_string().starts_with("--test-cert ") && e.to_string().contains("no certificate"), "{e}");

    let missing = d.0.join("missing.pem");
    let e = ServerCertificate::from_files(&missing, &key, OPTIONS, metrics()).expect_err("missing");
    assert!(e.to_string().contains("cannot read it"), "{e}");
}

fn client(ca: &Ca, identity: Option<(&str, &str)>) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).expect("root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().expect("versions").with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().expect("chain");
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key")).expect("client auth")
        }
    };
    // A resumed session keeps the certificate it was first made with; renewals show in full handshakes.
    config.resumption = tokio_rustls::rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Connects, returns the leaf the server presented and the stream.
async fn connect(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
) -> std::io::Result<(Vec<u8>, tokio_rustls::client::TlsStream<tokio::net::TcpStream>)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await?;
    // TLS 1.3: a refused client certificate shows on the first read.
    tls.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"pong");
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).unwrap_or_default();
    Ok((leaf, tls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_see_the_renewed_certificate_and_open_ones_keep_working() {
    let d = dir("serve");
    let ca = Ca::new();
    let clients_ca = Ca::new();
    let (a_cert, a_key, a_der) = ca.leaf();
    let (cert, key) = install(&d.0, &a_cert, &a_key);
    let m = metrics();
    let sc = Arc::new(ServerCertificate::from_files(&cert, &key, OPTIONS, m.clone()).expect("loads"));
    let config = server_config(sc, ClientAuth::Required(vec![clients_ca.der()]), &[b"h2"]).expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut conns = incoming(listener, Arc::new(config), m.handshake_failures.clone());
    tokio::spawn(async move {
        while let Some(Ok(mut tls)) = conns.next().await {
            let peer = tls.get_ref().1.peer_certificates().map(|c| c.len()).unwrap_or(0);
            assert_eq!(peer, 1, "the client's certificate is readable from the stream");
            tokio::spawn(async move {
                let mut buf = [0u8; 4];
                while tls.read_exact(&mut buf).await.is_ok() {
                    if tls.write_all(b"pong").await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    let (c_cert, c_key, _) = clients_ca.leaf();
    let with_cert = client(&ca, Some((&c_cert, &c_key)));
    let (leaf, mut first) = connect(&with_cert, addr).await.expect("connects");
    assert_eq!(leaf, a_der);

    let (b_cert, b_key, b_der) = ca.leaf();
    install(&d.0, &b_cert, &b_key);
    let (leaf, _) = connect(&with_cert, addr).await.expect("connects after renewal");
    assert_eq!(leaf, b_der, "a new connection gets the renewed certificate");
    first.write_all(b"ping").await.expect("old connection writes");
    let mut buf = [0u8; 4];
    first.read_exact(&mut buf).await.expect("old connection still answered");

    // No client certificate, and one from another CA: refused and counted.
    assert!(connect(&client(&ca, None), addr).await.is_err());
    let (x_cert, x_key, _) = Ca::new().leaf();
    assert!(connect(&client(&ca, Some((&x_cert, &x_key))), addr).await.is_err());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while m.handshake_failures.get() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(m.handshake_failures.get(), 2);
}

#[test]
fn a_client_ca_file_without_certificates_is_refused() {
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().expect("chain");
    let sc = Arc::new(ServerCertificate::fixed(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"), metrics()).expect("fixed"));
    let e = server_config(sc, ClientAuth::Optional(vec![]), &[b"h2"]).expect_err("empty");
    assert!(e.to_string().contains("no certificate"), "{e}");
}

/// Serves `ping`/`pong` on 127.0.0.1 with `config`; returns the address.
async fn echo_server(config: tokio_rustls::rustls::ServerConfig, failures: prometheus::IntCounter) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut conns = incoming(listener, Arc::new(config), failures);
    tokio::spawn(async move {
        while let Some(Ok(mut tls)) = conns.next().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4];
                while tls.read_exact(&mut buf).await.is_ok() {
                    if tls.write_all(b"pong").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_client_ca_file_applies_to_the_next_handshake() {
    let d = dir("client-ca");
    let server_ca = Ca::new();
    let (old_ca, new_ca) = (Ca::new(), Ca::new());
    let ca_file = d.0.join("clients.pem");
    let write_cas = |pem: &str| {
        let tmp = ca_file.with_extension("new");
        std::fs::write(&tmp, pem).expect("write");
        std::fs::rename(&tmp, &ca_file).expect("rename");
    };
    write_cas(&old_ca.issuer.pem());
    let (cert, key, _) = server_ca.leaf();
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().expect("chain");
    let m = metrics();
    let sc = Arc::new(ServerCertificate::fixed(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"), m.clone()).expect("fixed"));
    let reloads = prometheus::IntCounterVec::new(prometheus::Opts::new("teehsm_test_client_ca_reloads_total", "test"), &["result"]).expect("counter");
    let cas = Arc::new(ClientCaFile::load(&ca_file, "--test-client-ca", false, reloads.clone()).expect("client CAs"));
    let addr = echo_server(server_config(sc, ClientAuth::File(cas), &[b"h2"]).expect("config"), m.handshake_failures.clone()).await;

    let (o_cert, o_key, _) = old_ca.leaf();
    let (n_cert, n_key, _) = new_ca.leaf();
    let old_client = client(&server_ca, Some((&o_cert, &o_key)));
    let new_client = client(&server_ca, Some((&n_cert, &n_key)));
    assert!(connect(&old_client, addr).await.is_ok());
    assert!(connect(&new_client, addr).await.is_err(), "not trusted yet");
    assert!(connect(&client(&server_ca, None), addr).await.is_err(), "a certificate is required");

    // The rotation: both CAs, then only the new one.
    write_cas(&format!("{}{}", old_ca.issuer.pem(), new_ca.issuer.pem()));
    assert!(connect(&new_client, addr).await.is_ok(), "the added CA is trusted");
    assert!(connect(&old_client, addr).await.is_ok());
    assert_eq!(reloads.with_label_values(&["ok"]).get(), 1);
    write_cas("not a certificate");
    assert!(connect(&new_client, addr).await.is_ok(), "a broken file keeps the bundle in use");
    assert_eq!(reloads.with_label_values(&["error"]).get(), 1);
    write_cas(&new_ca.issuer.pem());
    assert!(connect(&old_client, addr).await.is_err(), "the removed CA is no longer trusted");
    assert!(connect(&new_client, addr).await.is_ok());
    assert_eq!(reloads.with_label_values(&["ok"]).get(), 2);

    let e = ClientCaFile::load(&d.0.join("missing.pem"), "--test-client-ca", true, reloads).expect_err("missing");
    assert!(e.to_string().starts_with("--test-client-ca ") && e.to_string().contains("cannot read it"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_hold_up_no_one_and_time_out() {
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().expect("chain");
    let m = metrics();
    let sc = Arc::new(ServerCertificate::fixed(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"), m.clone()).expect("fixed"));
    let config = server_config(sc, ClientAuth::None, &[b"h2"]).expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut conns = incoming_with_timeout(listener, Arc::new(config), m.handshake_failures.clone(), std::time::Duration::from_millis(500));
    tokio::spawn(async move {
        while let Some(Ok(mut tls)) = conns.next().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4];
                while tls.read_exact(&mut buf).await.is_ok() && tls.write_all(b"pong").await.is_ok() {}
            });
        }
    });
    // 32 clients that connect and say nothing (a slowloris).
    let mut silent = Vec::new();
    for _ in 0..32 {
        silent.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    let started = std::time::Instant::now();
    connect(&client(&ca, None), addr).await.expect("a real client is served meanwhile");
    assert!(started.elapsed() < std::time::Duration::from_millis(400), "held up for {:?}", started.elapsed());
    // Past the timeout the server has dropped them and counted them.
    for mut s in silent {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut b)).await.expect("closed by the server within the timeout");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    assert_eq!(m.handshake_failures.get(), 32);
}
