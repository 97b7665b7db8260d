//! Serving imported TA packages to agents (FetchPackage) and importing them
//! (`teehsm-console package add`). Packages live under
//! `<data-dir>/packages/` in the agent's install layout
//! (`versions/<version>/`), copied there only after their vendor signature
//! and every file hash verified (teehsm_agent::package).

use crate::store::{PackageRecord, Store, StoreError};
use std::io::Read;
use std::path::{Path, PathBuf};
use teehsm_agent::package::{InstallOutcome, Installer, Manifest, PackageError, VendorKeys, MANIFEST_FILE, SIGNATURE_FILE};
use teehsm_wire::proto::fleet::v1::PackageChunk;

/// Size of one FetchPackage chunk (tonic's default message limit is 4 MiB).
pub const CHUNK_BYTES: usize = 1 << 20;
/// The packages directory inside the console's data directory.
pub const PACKAGES_DIR: &str = "packages";

#[derive(Debug, thiserror::Error)]
pub enum PackageStoreError {
    #[error("package: {0}")]
    Package(#[from] PackageError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("version {0} is already imported (with the same manifest)")]
    Duplicate(String),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// One file to send: path inside the package, where it is, its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub rel: String,
    pub path: PathBuf,
    pub mode: u32,
}

/// The directory of an imported version.
pub fn version_dir(packages_dir: &Path, version: &str) -> PathBuf {
    packages_dir.join("versions").join(version)
}

/// The files of an imported version in sending order: manifest, signature,
/// then the manifest's files.
pub fn package_files(packages_dir: &Path, version: &str) -> Result<Vec<PackageFile>, PackageStoreError> {
    teehsm_agent::package::validate_version(version)?;
    let dir = version_dir(packages_dir, version);
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&manifest_path).map_err(|source| PackageStoreError::Io { path: manifest_path.clone(), source })?;
    let m = Manifest::parse(&bytes)?;
    let mut out = vec![
        PackageFile { rel: MANIFEST_FILE.into(), path: manifest_path, mode: 0o644 },
        PackageFile { rel: SIGNATURE_FILE.into(), path: dir.join(SIGNATURE_FILE), mode: 0o644 },
    ];
    out.extend(m.files.iter().map(|f| PackageFile { rel: f.path.clone(), path: dir.join(&f.path), mode: f.mode }));
    Ok(out)
}

/// Reads `files` and hands each chunk to `send` (false = the receiver is
/// gone: stop). Every file gets at least one chunk (empty files too).
pub fn stream_files(files: &[PackageFile], mut send: impl FnMut(PackageChunk) -> bool) -> Result<(), PackageStoreError> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    for f in files {
        let io = |source| PackageStoreError::Io { path: f.path.clone(), source };
        let mut file = std::fs::File::open(&f.path).map_err(io)?;
        let mut first = true;
        loop {
            let n = read_full(&mut file, &mut buf).map_err(io)?;
            if n == 0 && !first {
                break;
            }
            let chunk = PackageChunk {
                path: if first { f.rel.clone() } else { String::new() },
                data: buf[..n].to_vec(),
                mode: if first { f.mode } else { 0 },
            };
            first = false;
            if !send(chunk) {
                return Ok(());
            }
            if n < buf.len() {
                break;
            }
        }
    }
    Ok(())
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Imports the package directory `pkg_dir`: verifies it with `keys`, copies
/// it under `packages_dir`, records it in the store. Returns the record.
pub fn import(
    packages_dir: &Path,
    pkg_dir: &Path,
    keys: VendorKeys,
    store: &mut Store,
    actor: &str,
    now_ms: u64,
) -> Result<PackageRecord, PackageStoreError> {
    let inst = Installer::open(packages_dir, keys)?;
    // The console never activates anything: rollback policy does not apply.
    let outcome = inst.install(pkg_dir, true)?;
    let m = outcome.manifest().clone();
    if let InstallOutcome::AlreadyInstalled(_) = outcome {
        if store.package(&m.version)?.is_some() {
            return Err(PackageStoreError::Duplicate(m.version));
        }
    }
    let dir = version_dir(packages_dir, &m.version);
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_sha256 = teehsm_agent::package::hash_file(&manifest_path)?;
    let mut total = 0u64;
    for f in &m.files {
        let p = dir.join(&f.path);
        total += std::fs::metadata(&p).map_err(|source| PackageStoreError::Io { path: p.clone(), source })?.len();
    }
    let platform = serde_json::to_value(m.platform).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let rec = PackageRecord {
        version: m.version.clone(),
        security_version: u64::from(m.security_version),
        platform,
        manifest_sha256,
        total_bytes: total,
        added_at_ms: now_ms,
        added_by: actor.to_owned(),
    };
    store.add_package(&rec)?;
    store.append_audit(now_ms, actor, "package.add", &rec.version, &serde_json::to_value(&rec).unwrap_or_default())?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use teehsm_agent::package::{sign_package, FileEntry, Platform};

    fn make_pkg(dir: &Path, version: &str, key: &Ed25519KeyPair, big: usize) {
        std::fs::create_dir_all(dir).unwrap();
        let body: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("teehsm-ta"), &body).unwrap();
        let m = Manifest {
            name: "teehsm-ta".into(),
            version: version.into(),
            security_version: 1,
            platform: Platform::Sim,
            files: vec![FileEntry {
                path: "teehsm-ta".into(),
                sha256: teehsm_agent::package::hash_file(&dir.join("teehsm-ta")).unwrap(),
                mode: 0o755,
            }],
        };
        std::fs::write(dir.join(MANIFEST_FILE), m.to_toml().unwrap()).unwrap();
        sign_package(dir, key).unwrap();
    }

    #[test]
    fn import_verifies_and_streams_in_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut keys = VendorKeys::new();
        keys.add(key.public_key().as_ref()).unwrap();
        let src = tmp.path().join("src");
        make_pkg(&src, "2.0.0", &key, CHUNK_BYTES * 2 + 5);
        let (_db, mut store) = crate::store::testutil::temp_store();
        let pkgs = tmp.path().join(PACKAGES_DIR);

        // A wrong key is refused and nothing is recorded.
        let other = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
        let mut wrong = VendorKeys::new();
        wrong.add(other.public_key().as_ref()).unwrap();
        let e = import(&pkgs, &src, wrong, &mut store, "cli", 5).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        assert!(store.packages().unwrap().is_empty());

        let rec = import(&pkgs, &src, keys.clone(), &mut store, "cli", 5).unwrap();
        assert_eq!((rec.version.as_str(), rec.platform.as_str(), rec.total_bytes), ("2.0.0", "sim", (CHUNK_BYTES * 2 + 5) as u64));
        assert!(matches!(import(&pkgs, &src, keys, &mut store, "cli", 6), Err(PackageStoreError::Duplicate(_))));
        assert_eq!(store.audit_entries(0, 10).unwrap()[0].action, "package.add");

        let files = package_files(&pkgs, "2.0.0").unwrap();
        let names: Vec<_> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, ["manifest.toml", "manifest.sig", "teehsm-ta"]);
        let mut chunks = Vec::new();
        stream_files(&files, |c| {
            chunks.push(c);
            true
        })
        .unwrap();
        // manifest, signature, then the TA in 3 chunks of at most 1 MiB.
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|c| c.data.len() <= CHUNK_BYTES));
        assert_eq!((chunks[2].path.as_str(), chunks[2].mode), ("teehsm-ta", 0o755));
        assert!(chunks[3].path.is_empty() && chunks[4].data.len() == 5);
        assert!(package_files(&pkgs, "9.9.9").is_err());
        assert!(matches!(package_files(&pkgs, "../../etc"), Err(PackageStoreError::Package(_))));
    }
}
