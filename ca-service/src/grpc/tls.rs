//! The gRPC server's TLS material: the operator's PEM files, or a generated
//! development CA with server and client certificates (`grpc_dev_tls`).

use crate::config::{GrpcClientAuth, GrpcConfig, GrpcTls};
use prometheus::IntCounterVec;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use teehsm_tls::tokio_rustls::rustls::ServerConfig;
use teehsm_tls::{ClientAuth, ClientCaFile, FileOptions, ServerCertificate, TlsMetrics};
use thiserror::Error;
use zeroize::Zeroizing;

/// Files of the development TLS directory.
pub const DEV_CA_CERT: &str = "ca.pem";
pub const DEV_SERVER_CERT: &str = "server.pem";
pub const DEV_SERVER_KEY: &str = "server-key.pem";
pub const DEV_CLIENT_CERT: &str = "client.pem";
pub const DEV_CLIENT_KEY: &str = "client-key.pem";
/// Names the development server certificate is valid for.
pub const DEV_SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, Error)]
pub enum TlsError {
    /// The certificate, key or client CA files do not load.
    #[error(transparent)]
    Files(#[from] teehsm_tls::TlsError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot generate the development certificates: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The options that name the server's files, in messages.
const FILE_OPTIONS: FileOptions = FileOptions { cert: "grpc_tls_cert", key: "grpc_tls_key" };

/// Builds the server's TLS configuration (ALPN h2), generating the
/// development certificates first if `grpc_dev_tls` is on and they are
/// missing. The certificate and key files are looked at again on each
/// handshake: a renewed pair is served without a restart, one that does
/// not load is logged and the pair in use kept (`teehsm_tls`); so is the
/// client CA file.
pub fn server_config(cfg: &GrpcConfig, metrics: &TlsMetrics, client_ca_reloads: &IntCounterVec) -> Result<ServerConfig, TlsError> {
    let (cert_path, key_path) = match &cfg.tls {
        GrpcTls::Files { cert, key } => (cert.clone(), key.clone()),
        GrpcTls::Dev { dir } => {
            ensure_dev_tls(dir)?;
            (dir.join(DEV_SERVER_CERT), dir.join(DEV_SERVER_KEY))
        }
    };
    let certificate = ServerCertificate::from_files(&cert_path, &key_path, FILE_OPTIONS, metrics.clone())?;
    let client_auth = match &cfg.client_ca {
        None => ClientAuth::None,
        Some(ca) => {
            let optional = cfg.client_auth == GrpcClientAuth::Optional;
            ClientAuth::File(Arc::new(ClientCaFile::load(ca, "grpc_client_ca", optional, client_ca_reloads.clone())?))
        }
    };
    Ok(teehsm_tls::server_config(Arc::new(certificate), client_auth, &[b"h2"])?)
}

/// Creates `dir` with a development CA (ca.pem), a server certificate for
/// localhost/127.0.0.1/::1 (server.pem, server-key.pem) and a client
/// certificate (client.pem, client-key.pem), all signed by that CA, unless
/// they all exist. The CA's key is not kept. Keys are written mode 0600.
pub fn ensure_dev_tls(dir: &Path) -> Result<(), TlsError> {
    let files = [DEV_CA_CERT, DEV_SERVER_CERT, DEV_SERVER_KEY, DEV_CLIENT_CERT, DEV_CLIENT_KEY];
    if files.iter().all(|f| dir.join(f).is_file()) {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|source| TlsError::Write { path: dir.to_path_buf(), source })?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "teehsm development CA (grpc_dev_tls; not for production)");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut server_params = CertificateParams::new(DEV_SERVER_NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    server_params.distinguished_name.push(DnType::CommonName, "teehsm-ca development server");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server = server_params.signed_by(&server_key, &ca)?;

    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params.distinguished_name.push(DnType::CommonName, "teehsm development client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client = client_params.signed_by(&client_key, &ca)?;

    // Keys first, the CA certificate last: a half-written directory is regenerated next time.
    write_file(&dir.join(DEV_SERVER_KEY), Zeroizing::new(server_key.serialize_pem()).as_bytes(), 0o600)?;
    write_file(&dir.join(DEV_CLIENT_KEY), Zeroizing::new(client_key.serialize_pem()).as_bytes(), 0o600)?;
    write_file(&dir.join(DEV_SERVER_CERT), server.pem().as_bytes(), 0o644)?;
    write_file(&dir.join(DEV_CLIENT_CERT), client.pem().as_bytes(), 0o644)?;
    write_file(&dir.join(DEV_CA_CERT), ca.as_ref().pem().as_bytes(), 0o644)?;
    tracing::warn!(dir = %dir.display(), "generated DEVELOPMENT gRPC TLS certificates (grpc_dev_tls); clients trust {DEV_CA_CERT}");
    Ok(())
}

/// Writes `data` to `path` (replacing it) with `mode`, through a temporary file.
fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let err = |source| TlsError::Write { path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("teehsm-ca-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn grpc(tls: GrpcTls, client_ca: Option<PathBuf>, client_auth: GrpcClientAuth) -> GrpcConfig {
        GrpcConfig {
            listen: "127.0.0.1:0".into(),
            tls,
            client_ca,
            client_auth,
            ta_connections: 1,
            worker_threads: 1,
            max_message_bytes: 1024,
            addr_file: PathBuf::from("/nonexistent/grpc.addr"),
        }
    }

    #[test]
    fn dev_tls_is_generated_once_with_private_keys() {
        use std::os::unix::fs::PermissionsExt;
        let d = temp("dev");
        ensure_dev_tls(&d).unwrap();
        let ca = std::fs::read_to_string(d.join(DEV_CA_CERT)).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        for key in [DEV_SERVER_KEY, DEV_CLIENT_KEY] {
            let mode = std::fs::metadata(d.join(key)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{key}");
        }
        // Present: kept as is.
        ensure_dev_tls(&d).unwrap();
        assert_eq!(std::fs::read_to_string(d.join(DEV_CA_CERT)).unwrap(), ca);
        // Partly missing: all regenerated.
        std::fs::remove_file(d.join(DEV_CLIENT_KEY)).unwrap();
        ensure_dev_tls(&d).unwrap();
        assert_ne!(std::fs::read_to_string(d.join(DEV_CA_CERT)).unwrap(), ca);
        assert!(server_config(&grpc(GrpcTls::Dev { dir: d.clone() }, Some(d.join(DEV_CA_CERT)), GrpcClientAuth::Required), &metrics(), &reloads())
            .is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    fn metrics() -> TlsMetrics {
        TlsMetrics::new("teehsm_grpc", "the gRPC listener", "grpc_tls_cert/grpc_tls_key").unwrap()
    }

    fn reloads() -> IntCounterVec {
        IntCounterVec::new(prometheus::Opts::new("teehsm_grpc_client_ca_reloads_total", "test"), &["result"]).unwrap()
    }

    #[test]
    fn unreadable_or_wrong_files_name_the_option() {
        use std::os::unix::fs::PermissionsExt;
        let d = temp("files");
        ensure_dev_tls(&d).unwrap();
        let files = |cert: &str, key: &str| GrpcTls::Files { cert: d.join(cert), key: d.join(key) };
        let config = |tls, ca: Option<PathBuf>, auth| server_config(&grpc(tls, ca, auth), &metrics(), &reloads());
        let e = config(files("missing.pem", DEV_SERVER_KEY), None, GrpcClientAuth::None).unwrap_err();
        assert!(e.to_string().contains("grpc_tls_cert") && e.to_string().contains("missing.pem"), "{e}");
        let e = config(files(DEV_SERVER_CERT, DEV_CLIENT_CERT), None, GrpcClientAuth::None).unwrap_err();
        assert!(e.to_string().contains("grpc_tls_key") && e.to_string().contains("chmod 600"), "{e}");
        std::fs::copy(d.join(DEV_SERVER_CERT), d.join("cert-as-key.pem")).unwrap();
        std::fs::set_permissions(d.join("cert-as-key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = config(files(DEV_SERVER_CERT, "cert-as-key.pem"), None, GrpcClientAuth::None).unwrap_err();
        assert!(e.to_string().contains("grpc_tls_key") && e.to_string().contains("private key"), "{e}");
        let e = config(files(DEV_SERVER_CERT, DEV_CLIENT_KEY), None, GrpcClientAuth::None).unwrap_err();
        assert!(e.to_string().contains("do not go together"), "{e}");
        let e = config(files(DEV_SERVER_CERT, DEV_SERVER_KEY), Some(d.join(DEV_SERVER_KEY)), GrpcClientAuth::Required).unwrap_err();
        assert!(e.to_string().contains("grpc_client_ca"), "{e}");
        assert!(config(files(DEV_SERVER_CERT, DEV_SERVER_KEY), None, GrpcClientAuth::None).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
