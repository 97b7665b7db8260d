//! The HTTPS listener over real sockets with a rustls client: the
//! console's own certificate, an operator's certificate renewed while the
//! console runs, the Secure cookie and HSTS, plain HTTP on the HTTPS port,
//! and the files the console refuses.

use super::https::{HttpTls, Https};
use super::testkit::{self, wait_line};
use super::*;
use crate::store::{Role, User};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};
use std::os::unix::fs::PermissionsExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

fn config(dir: &Path, http_tls: HttpTls) -> Config {
    Config { http_tls, ..testkit::config(dir) }
}

fn connector(roots_pem: &str) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// One request over TLS to `localhost`, trusting `roots_pem`: (status, head, body) or the TLS error.
async fn call_tls(
    addr: &str,
    roots_pem: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut s = connector(roots_pem).connect(ServerName::try_from("localhost").unwrap(), tcp).await.map_err(|e| e.to_string())?;
    // The console closes without close_notify only on errors; a clean answer reads to the end.
    testkit::exchange(&mut s, "localhost", method, path, headers, body).await.map_err(|e| e.to_string())
}

/// One plain-text request: (status, head).
async fn call_plain(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let head = out.split_once("\r\n\r\n").unwrap().0.to_owned();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), head)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

/// An operator's CA (PEM) and a leaf for localhost signed by it (chain PEM, key PEM).
fn operator_pki(name: &str) -> (String, String, String) {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, format!("{name} root"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, format!("{name} console"));
    let cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (issuer.pem(), format!("{}{}", cert.pem(), issuer.pem()), leaf_key.serialize_pem())
}

/// Replaces `path` atomically, as a certificate renewal tool would.
fn replace(path: &Path, data: &str, mode: u32) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, data).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_certificate_secure_cookie_hsts_and_plain_http_redirected() {
    let d = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(config(d.path(), HttpTls::ConsoleCertificate), async {
        let _ = stopped.await;
    }));
    let addr = wait_line(&d.path().join("http.addr")).await;
    let console_ca = std::fs::read_to_string(d.path().join(tls::CA_CERT)).unwrap();
    {
        let store = Store::open(d.path().join("console.db"), now_ms()).unwrap();
        let password_hash = password::hash_password("ada password long").unwrap();
        store.add_user(&User { name: "ada".into(), role: Role::Admin, password_hash }).unwrap();
    }

    let (status, head, body) = call_tls(&addr, &console_ca, "GET", "/healthz", &[], "").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("\r\nStrict-Transport-Security: max-age=31536000"), "{head}");
    let (status, _, page) = call_tls(&addr, &console_ca, "GET", "/", &[], "").await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "the web UI over HTTPS");

    // The session cookie is Secure without any proxy header.
    let login = r#"{"name":"ada","password":"ada password long"}"#;
    let (status, head, _) = call_tls(&addr, &console_ca, "POST", "/api/login", &[], login).await.unwrap();
    assert_eq!(status, 200, "{head}");
    let set_cookie = head.lines().find_map(|l| l.strip_prefix("Set-Cookie: ")).unwrap();
    assert!(set_cookie.starts_with("teehsm_session=") && set_cookie.ends_with("; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap();
    let (status, _, hosts) = call_tls(&addr, &console_ca, "GET", "/api/hosts", &[("Cookie", cookie)], "").await.unwrap();
    assert_eq!(status, 200, "{hosts}");

    // Plain HTTP on the HTTPS port: GET is sent to https://, a POST is told to use it.
    let (status, head) = call_plain(&addr, "GET", "/hosts?x=1").await;
    assert_eq!(status, 301, "{head}");
    assert!(head.contains(&format!("\r\nLocation: https://{addr}/hosts?x=1")), "{head}");
    assert!(!head.contains("Strict-Transport-Security"), "no HSTS over plain HTTP: {head}");
    let (status, _) = call_plain(&addr, "POST", "/api/login").await;
    assert_eq!(status, 400);

    // A client that does not trust the console CA fails the handshake; it is counted.
    let (other_ca, _, _) = operator_pki("other");
    let e = call_tls(&addr, &other_ca, "GET", "/healthz", &[], "").await.unwrap_err();
    assert!(e.contains("UnknownIssuer") || e.contains("certificate"), "{e}");
    let (_, _, metrics) = call_tls(&addr, &console_ca, "GET", "/metrics", &[("Cookie", cookie)], "").await.unwrap();
    assert!(metric(&metrics, "teehsm_console_http_tls_handshake_failures_total") >= 1.0, "{metrics}");
    let expiry = metric(&metrics, "teehsm_console_http_certificate_expiry_timestamp_seconds");
    assert!(expiry > (now_ms() / 1000) as f64 + 86_400.0, "the console's certificate expires later than tomorrow: {expiry}");

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_certificate_is_renewed_without_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("console.pem"), files.path().join("console-key.pem"));
    let (root_a, chain_a, key_a) = operator_pki("bank A");
    replace(&cert, &chain_a, 0o644);
    replace(&key, &key_a, 0o600);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(config(d.path(), HttpTls::Files { cert: cert.clone(), key: key.clone() }), async {
        let _ = stopped.await;
    }));
    let addr = wait_line(&d.path().join("http.addr")).await;
    let console_ca = std::fs::read_to_string(d.path().join(tls::CA_CERT)).unwrap();

    assert_eq!(call_tls(&addr, &root_a, "GET", "/healthz", &[], "").await.unwrap().0, 200);
    assert!(call_tls(&addr, &console_ca, "GET", "/healthz", &[], "").await.is_err(), "the operator's certificate, not the console's");

    // Renewed from another CA: the next connection gets it.
    let (root_b, chain_b, key_b) = operator_pki("bank B");
    replace(&key, &key_b, 0o600);
    replace(&cert, &chain_b, 0o644);
    assert_eq!(call_tls(&addr, &root_b, "GET", "/healthz", &[], "").await.unwrap().0, 200);
    assert!(call_tls(&addr, &root_a, "GET", "/healthz", &[], "").await.is_err(), "the old certificate is gone");

    // A broken renewal (a key that does not match) is refused; B stays in use.
    let (_, _, key_c) = operator_pki("bank C");
    replace(&key, &key_c, 0o600);
    assert_eq!(call_tls(&addr, &root_b, "GET", "/healthz", &[], "").await.unwrap().0, 200);
    let (_, _, metrics) = call_tls(&addr, &root_b, "GET", "/metrics", &[], "").await.unwrap();
    assert_eq!(metric(&metrics, "teehsm_console_http_certificate_reloads_total{result=\"ok\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "teehsm_console_http_certificate_reloads_total{result=\"error\"}"), 1.0, "{metrics}");

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}

#[test]
fn files_that_do_not_load_stop_the_start_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let material = tls::ensure(d.path(), &[], now_ms()).unwrap();
    let metrics = metrics::Metrics::new().unwrap();
    let (cert, key) = (d.path().join("c.pem"), d.path().join("k.pem"));
    let (_, chain, leaf_key) = operator_pki("bank");
    let (_, _, other_key) = operator_pki("other");
    let start = |mode: u32, key_pem: &str| {
        replace(&cert, &chain, 0o644);
        replace(&key, key_pem, mode);
        Https::new(&HttpTls::Files { cert: cert.clone(), key: key.clone() }, &material, metrics.https.clone()).err().map(|e| e.to_string())
    };
    assert_eq!(start(0o600, &leaf_key), None);
    let e = start(0o644, &leaf_key).unwrap();
    assert!(e.contains("--http-tls-key") && e.contains("chmod 600"), "{e}");
    let e = start(0o600, &other_key).unwrap();
    assert!(e.contains("do not go together"), "{e}");
    let e = start(0o600, "not a key").unwrap();
    assert!(e.contains("no PKCS#8, SEC1 or PKCS#1 private key"), "{e}");
    replace(&cert, "", 0o644);
    let e = Https::new(&HttpTls::Files { cert: cert.clone(), key: key.clone() }, &material, metrics.https.clone()).err().unwrap().to_string();
    assert!(e.contains("--http-tls-cert") && e.contains("no certificate"), "{e}");
    assert!(Https::new(&HttpTls::Off, &material, metrics.https.clone()).unwrap().is_none());
}
