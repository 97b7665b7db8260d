//! TA packages (issue 6, docs/fleet-packages.md): the signed package format,
//! the on-disk install layout with an atomically switched `current` link, and
//! the pure [`Upgrade`] state machine the agent daemon drives.
//!
//! A package is a directory holding [`MANIFEST_FILE`] (TOML), [`SIGNATURE_FILE`]
//! (hex Ed25519 signature by a vendor key over the exact manifest bytes) and
//! the files the manifest lists, one of which is [`TA_BINARY`]. Nothing here
//! talks to the network or runs a process: the caller (the daemon) supplies
//! session draining and the health check.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// The manifest inside a package and inside every installed version.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// Hex Ed25519 signature over the exact bytes of [`MANIFEST_FILE`].
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// The package name every TA package carries.
pub const PACKAGE_NAME: &str = "teehsm-ta";
/// The TA executable every package must contain (at the top level); the CA's
/// `ta_binary` points at `<root>/current/teehsm-ta`.
pub const TA_BINARY: &str = "teehsm-ta";
/// Largest accepted manifest.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Largest accepted signature file (hex of 64 bytes plus whitespace).
pub const MAX_SIGNATURE_BYTES: u64 = 1024;
/// Largest accepted single file.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Largest accepted package (sum of the listed files).
pub const MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;
/// Most files a manifest may list.
pub const MAX_FILES: usize = 256;
/// Longest accepted file path or version string.
pub const MAX_PATH_LEN: usize = 255;

const VERSIONS_DIR: &str = "versions";
const CURRENT_LINK: &str = "current";
const PREVIOUS_LINK: &str = "previous";
/// Prefix of every temporary entry (staging dirs, link temp names, dirs being
/// deleted); anything with it is a leftover of an interrupted operation.
const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest is malformed: {0}")]
    Manifest(String),
    #[error("{0} is larger than the limit of {1} bytes")]
    TooLarge(String, u64),
    #[error("signature file is malformed")]
    SignatureFormat,
    #[error("manifest signature does not verify with any configured vendor key")]
    BadSignature,
    #[error("no vendor public key is configured")]
    NoVendorKeys,
    #[error("unsafe path in package: {0}")]
    UnsafePath(String),
    #[error("{path}: SHA-256 mismatch (manifest {expected}, file {actual})")]
    HashMismatch { path: String, expected: String, actual: String },
    #[error(
        "security version downgrade refused: installed {installed_version} has security version {installed}, package {offered_version} has {offered}"
    )]
    Downgrade { installed_version: String, installed: u32, offered_version: String, offered: u32 },
    #[error("version {0} is not installed")]
    NotInstalled(String),
    #[error("version {0} is already installed with a different manifest")]
    VersionConflict(String),
    #[error("version {0} is the active version; activate another one first")]
    UninstallActive(String),
    #[error("there is no previous version to roll back to")]
    NoPrevious,
    #[error("installed version {0} is corrupt: {1}")]
    Corrupt(String, String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Io { path: path.to_path_buf(), source }
}

/// The TEE platform a package is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Sim,
    Gramine,
    Tsm,
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path inside the package (`/`-separated, no `.`/`..`).
    pub path: String,
    /// Lower-case hex SHA-256 of the file's contents.
    pub sha256: String,
    /// Unix permission bits (at most 0o755: no setuid/setgid/sticky, no group/other write).
    pub mode: u32,
}

/// The signed package manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    /// Semantic version `MAJOR.MINOR.PATCH[-PRE][+BUILD]`; also the install directory name.
    pub version: String,
    /// The TA's security version (sealing and the store's downgrade check use it).
    pub security_version: u32,
    pub platform: Platform,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Parses and validates manifest bytes (does not check the signature).
    pub fn parse(bytes: &[u8]) -> Result<Self, PackageError> {
        let text = std::str::from_utf8(bytes).map_err(|_| PackageError::Manifest("not UTF-8".into()))?;
        let m: Manifest = toml::from_str(text).map_err(|e| PackageError::Manifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Serializes to TOML (the bytes a vendor then signs).
    pub fn to_toml(&self) -> Result<String, PackageError> {
        toml::to_string(self).map_err(|e| PackageError::Manifest(e.to_string()))
    }

    fn validate(&self) -> Result<(), PackageError> {
        if self.name != PACKAGE_NAME {
            return Err(PackageError::Manifest(format!("name is {:?}, expected {PACKAGE_NAME:?}", self.name)));
        }
        validate_version(&self.version)?;
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return Err(PackageError::Manifest(format!("a package lists 1 to {MAX_FILES} files")));
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            validate_rel_path(&f.path)?;
            if f.path == MANIFEST_FILE || f.path == SIGNATURE_FILE {
                return Err(PackageError::UnsafePath(f.path.clone()));
            }
            // A file may not also be a directory prefix of another one.
            if !seen.insert(f.path.clone()) {
                return Err(PackageError::Manifest(format!("duplicate file {}", f.path)));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(PackageError::Manifest(format!("{}: sha256 must be 64 lower-case hex digits", f.path)));
            }
            if f.mode & !0o755 != 0 {
                return Err(PackageError::Manifest(format!("{}: mode {:o} not allowed (at most 0755)", f.path, f.mode)));
            }
        }
        for p in &seen {
            let prefix = format!("{p}/");
            if seen.iter().any(|q| q.starts_with(&prefix)) {
                return Err(PackageError::Manifest(format!("{p} is both a file and a directory")));
            }
        }
        if !seen.contains(TA_BINARY) {
            return Err(PackageError::Manifest(format!("package has no {TA_BINARY}")));
        }
        Ok(())
    }
}

/// Checks a package version string (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`, safe as a directory name).
pub fn validate_version(v: &str) -> Result<(), PackageError> {
    let bad = || PackageError::Manifest(format!("version {v:?} is not MAJOR.MINOR.PATCH[-PRE][+BUILD]"));
    if v.is_empty() || v.len() > 64 {
        return Err(bad());
    }
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0'))) {
        return Err(bad());
    }
    if !rest.is_empty() {
        let tail = &rest[1..];
        if tail.is_empty()
            || !tail.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
            || tail.split(['.', '+']).any(str::is_empty)
        {
            return Err(bad());
        }
    }
    Ok(())
}

/// A relative path made of normal components only: no absolute paths, no
/// `.`/`..`, no empty components, no backslashes or NULs, no leading dots on
/// components that could collide with our temp names.
fn validate_rel_path(p: &str) -> Result<(), PackageError> {
    let bad = || PackageError::UnsafePath(p.to_string());
    if p.is_empty() || p.len() > MAX_PATH_LEN || p.contains('\\') || p.contains('\0') {
        return Err(bad());
    }
    if p.starts_with('/') || p.ends_with('/') || p.contains("//") {
        return Err(bad());
    }
    for comp in p.split('/') {
        if comp.is_empty() || comp == "." || comp == ".." || comp.starts_with(TMP_PREFIX) {
            return Err(bad());
        }
    }
    if Path::new(p).components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(bad());
    }
    Ok(())
}

/// Reads a small regular file (not following a final symlink) up to `limit`.
fn read_small(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, PackageError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if !meta.file_type().is_file() {
        return Err(PackageError::UnsafePath(format!("{what} is not a regular file")));
    }
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).map_err(io_err(path))?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).map_err(io_err(path))?;
    if buf.len() as u64 > limit {
        return Err(PackageError::TooLarge(what.to_string(), limit));
    }
    Ok(buf)
}

/// Refuses a path whose any component below `base` is a symlink or whose
/// final component is not a regular file.
fn check_no_symlinks(base: &Path, rel: &str) -> Result<PathBuf, PackageError> {
    let mut p = base.to_path_buf();
    let comps: Vec<&str> = rel.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        let meta = fs::symlink_metadata(&p).map_err(io_err(&p))?;
        let last = i + 1 == comps.len();
        if meta.file_type().is_symlink() || (last && !meta.file_type().is_file()) || (!last && !meta.file_type().is_dir()) {
            return Err(PackageError::UnsafePath(rel.to_string()));
        }
    }
    Ok(p)
}

/// Streams `src` through SHA-256 into `sink` (at most `limit` bytes); returns
/// the hex digest and byte count.
fn hash_copy(src: &Path, sink: &mut dyn Write, limit: u64) -> Result<(String, u64), PackageError> {
    let mut f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(src).map_err(io_err(src))?;
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = f.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(PackageError::TooLarge(src.display().to_string(), limit));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        ctx.update(chunk);
        sink.write_all(chunk).map_err(io_err(src))?;
    }
    Ok((hex::encode(ctx.finish().as_ref()), total))
}

/// Hex SHA-256 of a file (for vendor tooling building a manifest).
pub fn hash_file(path: &Path) -> Result<String, PackageError> {
    Ok(hash_copy(path, &mut std::io::sink(), MAX_FILE_BYTES)?.0)
}

/// Signs `dir/manifest.toml` with `key`, writing `dir/manifest.sig` (vendor tooling).
pub fn sign_package(dir: &Path, key: &Ed25519KeyPair) -> Result<(), PackageError> {
    let bytes = read_small(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES, MANIFEST_FILE)?;
    Manifest::parse(&bytes)?;
    let sig = key.sign(&bytes);
    let path = dir.join(SIGNATURE_FILE);
    fs::write(&path, format!("{}\n", hex::encode(sig.as_ref()))).map_err(io_err(&path))
}

/// The vendor public keys packages are accepted from (raw 32-byte Ed25519).
#[derive(Debug, Clone, Default)]
pub struct VendorKeys(Vec<[u8; 32]>);

impl VendorKeys {
    pub fn new() -> Self {
        Self(Vec::new())
    }
    /// Adds a raw 32-byte public key.
    pub fn add(&mut self, key: &[u8]) -> Result<(), PackageError> {
        let k: [u8; 32] = key.try_into().map_err(|_| PackageError::Manifest("an Ed25519 public key is 32 bytes".into()))?;
        self.0.push(k);
        Ok(())
    }
    /// Adds a hex-encoded public key (as in the agent's config).
    pub fn add_hex(&mut self, key: &str) -> Result<(), PackageError> {
        let raw = hex::decode(key.trim()).map_err(|_| PackageError::Manifest("vendor key is not hex".into()))?;
        self.add(&raw)
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), PackageError> {
        if self.0.is_empty() {
            return Err(PackageError::NoVendorKeys);
        }
        if self.0.iter().any(|k| UnparsedPublicKey::new(&ED25519, k).verify(msg, sig).is_ok()) {
            Ok(())
        } else {
            Err(PackageError::BadSignature)
        }
    }
}

/// Reads manifest and signature of `dir`, checks the signature and the
/// manifest's structure. Returns the manifest and its exact bytes.
fn read_signed_manifest(dir: &Path, keys: &VendorKeys) -> Result<(Manifest, Vec<u8>, Vec<u8>), PackageError> {
    let bytes = read_small(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES, MANIFEST_FILE)?;
    let sig_text = read_small(&dir.join(SIGNATURE_FILE), MAX_SIGNATURE_BYTES, SIGNATURE_FILE)?;
    let sig_str = std::str::from_utf8(&sig_text).map_err(|_| PackageError::SignatureFormat)?;
    let sig = hex::decode(sig_str.trim()).map_err(|_| PackageError::SignatureFormat)?;
    if sig.len() != 64 {
        return Err(PackageError::SignatureFormat);
    }
    // Signature first: nothing of an unsigned manifest is interpreted.
    keys.verify(&bytes, &sig)?;
    let m = Manifest::parse(&bytes)?;
    Ok((m, bytes, sig_text))
}

/// Hashes every listed file of `dir` into `out_dir` (if given) and checks it
/// against the manifest.
fn check_files(dir: &Path, m: &Manifest, out_dir: Option<&Path>) -> Result<(), PackageError> {
    let mut total: u64 = 0;
    for f in &m.files {
        let src = check_no_symlinks(dir, &f.path)?;
        let (actual, n) = match out_dir {
            None => hash_copy(&src, &mut std::io::sink(), MAX_FILE_BYTES)?,
            Some(out) => {
                let dst = out.join(&f.path);
                if let Some(parent) = dst.parent() {
                    fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(io_err(parent))?;
                }
                let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&dst).map_err(io_err(&dst))?;
                let r = hash_copy(&src, &mut file, MAX_FILE_BYTES)?;
                file.set_permissions(fs::Permissions::from_mode(f.mode)).map_err(io_err(&dst))?;
                file.sync_all().map_err(io_err(&dst))?;
                r
            }
        };
        if actual != f.sha256 {
            return Err(PackageError::HashMismatch { path: f.path.clone(), expected: f.sha256.clone(), actual });
        }
        total = total.saturating_add(n);
        if total > MAX_TOTAL_BYTES {
            return Err(PackageError::TooLarge("package".into(), MAX_TOTAL_BYTES));
        }
    }
    Ok(())
}

/// Verifies a package directory completely (signature, structure, paths,
/// sizes, every file's SHA-256). Does not apply the security-version policy.
pub fn verify_package(dir: &Path, keys: &VendorKeys) -> Result<Manifest, PackageError> {
    let (m, _, _) = read_signed_manifest(dir, keys)?;
    check_files(dir, &m, None)?;
    Ok(m)
}

fn tmp_name(tag: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{TMP_PREFIX}{tag}-{}-{nanos}", std::process::id())
}

fn fsync_dir(dir: &Path) -> Result<(), PackageError> {
    fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io_err(dir))
}

/// An installed version as reported by [`Installer::installed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledVersion {
    pub version: String,
    pub security_version: u32,
    pub platform: Platform,
}

/// What [`Installer::install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    Installed(Manifest),
    /// The identical manifest was already installed; nothing was written.
    AlreadyInstalled(Manifest),
}

impl InstallOutcome {
    pub fn manifest(&self) -> &Manifest {
        match self {
            Self::Installed(m) | Self::AlreadyInstalled(m) => m,
        }
    }
}

/// The install layout under a root directory:
/// `versions/<version>/`, `current -> versions/<v>`, `previous -> versions/<v>`.
///
/// Single writer: the agent is the only process changing the root.
#[derive(Debug)]
pub struct Installer {
    root: PathBuf,
    keys: VendorKeys,
}

impl Installer {
    /// Opens (creating if needed) the layout at `root` and removes leftovers
    /// of interrupted operations (entries named `.tmp-*`).
    pub fn open(root: &Path, keys: VendorKeys) -> Result<Self, PackageError> {
        let versions = root.join(VERSIONS_DIR);
        fs::DirBuilder::new().recursive(true).mode(0o755).create(&versions).map_err(io_err(&versions))?;
        let inst = Self { root: root.to_path_buf(), keys };
        inst.cleanup_leftovers()?;
        Ok(inst)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path the CA's `ta_binary` should name: `<root>/current/teehsm-ta`.
    pub fn ta_binary_path(&self) -> PathBuf {
        self.root.join(CURRENT_LINK).join(TA_BINARY)
    }

    fn versions_dir(&self) -> PathBuf {
        self.root.join(VERSIONS_DIR)
    }

    /// Removes `.tmp-*` entries in the root and in `versions/`.
    pub fn cleanup_leftovers(&self) -> Result<(), PackageError> {
        for dir in [self.root.clone(), self.versions_dir()] {
            let rd = fs::read_dir(&dir).map_err(io_err(&dir))?;
            for e in rd {
                let e = e.map_err(io_err(&dir))?;
                if !e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    continue;
                }
                let p = e.path();
                let ft = e.file_type().map_err(io_err(&p))?;
                if ft.is_dir() {
                    fs::remove_dir_all(&p).map_err(io_err(&p))?;
                } else {
                    fs::remove_file(&p).map_err(io_err(&p))?;
                }
            }
        }
        Ok(())
    }

    fn link_target(&self, link: &str) -> Result<Option<String>, PackageError> {
        let p = self.root.join(link);
        match fs::read_link(&p) {
            Ok(t) => {
                let mut comps = t.components();
                match (comps.next(), comps.next(), comps.next()) {
                    (Some(Component::Normal(d)), Some(Component::Normal(v)), None) if d == VERSIONS_DIR => Ok(Some(v.to_string_lossy().into_owned())),
                    _ => Err(PackageError::Corrupt(link.to_string(), format!("unexpected link target {}", t.display()))),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PackageError::Io { path: p, source: e }),
        }
    }

    /// The active version (target of `current`), if any.
    pub fn active(&self) -> Result<Option<String>, PackageError> {
        self.link_target(CURRENT_LINK)
    }

    /// The version `rollback` would switch to, if any.
    pub fn previous(&self) -> Result<Option<String>, PackageError> {
        self.link_target(PREVIOUS_LINK)
    }

    fn installed_manifest(&self, version: &str) -> Result<Manifest, PackageError> {
        validate_version(version)?;
        let dir = self.versions_dir().join(version);
        if !dir.is_dir() {
            return Err(PackageError::NotInstalled(version.to_string()));
        }
        let bytes = read_small(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES, MANIFEST_FILE)?;
        Manifest::parse(&bytes).map_err(|e| PackageError::Corrupt(version.to_string(), e.to_string()))
    }

    /// Installed versions, sorted by name.
    pub fn installed(&self) -> Result<Vec<InstalledVersion>, PackageError> {
        let dir = self.versions_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) || validate_version(&name).is_err() {
                continue;
            }
            if let Ok(m) = self.installed_manifest(&name) {
                out.push(InstalledVersion { version: m.version, security_version: m.security_version, platform: m.platform });
            }
        }
        out.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(out)
    }

    /// Security-version policy: `offered` must not be below the active
    /// version's unless `allow_rollback` and `offered` is the recorded
    /// previous version.
    fn check_security(&self, offered: &Manifest, allow_rollback: bool) -> Result<(), PackageError> {
        let Some(active) = self.active()? else {
            return Ok(());
        };
        let am = self.installed_manifest(&active)?;
        if offered.security_version >= am.security_version {
            return Ok(());
        }
        if allow_rollback && self.previous()?.as_deref() == Some(offered.version.as_str()) {
            let pm = self.installed_manifest(&offered.version)?;
            if pm.security_version == offered.security_version {
                return Ok(());
            }
        }
        Err(PackageError::Downgrade {
            installed_version: am.version,
            installed: am.security_version,
            offered_version: offered.version.clone(),
            offered: offered.security_version,
        })
    }

    /// Verifies the package in `pkg_dir` and copies it into
    /// `versions/<version>` (temp dir, fsync, rename). Does not activate.
    pub fn install(&self, pkg_dir: &Path, allow_rollback: bool) -> Result<InstallOutcome, PackageError> {
        let (m, bytes, sig) = read_signed_manifest(pkg_dir, &self.keys)?;
        self.check_security(&m, allow_rollback)?;
        let vdir = self.versions_dir();
        let dest = vdir.join(&m.version);
        if fs::symlink_metadata(&dest).is_ok() {
            let existing = read_small(&dest.join(MANIFEST_FILE), MAX_MANIFEST_BYTES, MANIFEST_FILE)
                .map_err(|_| PackageError::VersionConflict(m.version.clone()))?;
            if existing == bytes {
                self.verify_installed(&m.version)?;
                return Ok(InstallOutcome::AlreadyInstalled(m));
            }
            return Err(PackageError::VersionConflict(m.version.clone()));
        }
        let tmp = vdir.join(tmp_name("stage"));
        fs::DirBuilder::new().mode(0o755).create(&tmp).map_err(io_err(&tmp))?;
        let staged = (|| {
            // Hashes are checked on the bytes actually copied.
            check_files(pkg_dir, &m, Some(&tmp))?;
            for (name, data) in [(MANIFEST_FILE, &bytes), (SIGNATURE_FILE, &sig)] {
                let p = tmp.join(name);
                let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&p).map_err(io_err(&p))?;
                f.write_all(data).map_err(io_err(&p))?;
                f.sync_all().map_err(io_err(&p))?;
            }
            sync_tree(&tmp)?;
            fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
            fsync_dir(&vdir)
        })();
        if let Err(e) = staged {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Ok(InstallOutcome::Installed(m))
    }

    /// Re-checks an installed version: signature and every file's hash.
    pub fn verify_installed(&self, version: &str) -> Result<Manifest, PackageError> {
        validate_version(version)?;
        let dir = self.versions_dir().join(version);
        if !dir.is_dir() {
            return Err(PackageError::NotInstalled(version.to_string()));
        }
        let m = verify_package(&dir, &self.keys).map_err(|e| PackageError::Corrupt(version.to_string(), e.to_string()))?;
        if m.version != version {
            return Err(PackageError::Corrupt(version.to_string(), "manifest names another version".into()));
        }
        Ok(m)
    }

    /// Points `link` at `versions/<version>` atomically (temp symlink + rename).
    fn set_link(&self, link: &str, version: &str) -> Result<(), PackageError> {
        let tmp = self.root.join(tmp_name(link));
        let target = Path::new(VERSIONS_DIR).join(version);
        std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp))?;
        let dst = self.root.join(link);
        if let Err(e) = fs::rename(&tmp, &dst) {
            let _ = fs::remove_file(&tmp);
            return Err(PackageError::Io { path: dst, source: e });
        }
        fsync_dir(&self.root)
    }

    fn remove_link(&self, link: &str) -> Result<(), PackageError> {
        let p = self.root.join(link);
        match fs::remove_file(&p) {
            Ok(()) => fsync_dir(&self.root),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PackageError::Io { path: p, source: e }),
        }
    }

    /// Makes `version` active: re-verifies it, applies the security-version
    /// policy, records the old active one as `previous`, switches `current`.
    /// Returns the previously active version.
    pub fn activate(&self, version: &str, allow_rollback: bool) -> Result<Option<String>, PackageError> {
        let m = self.verify_installed(version)?;
        self.check_security(&m, allow_rollback)?;
        let old = self.active()?;
        if old.as_deref() == Some(version) {
            return Ok(old);
        }
        // `previous` first: a crash in between leaves it naming the still-active version.
        if let Some(o) = &old {
            self.set_link(PREVIOUS_LINK, o)?;
        }
        self.set_link(CURRENT_LINK, version)?;
        Ok(old)
    }

    /// Switches `current` back to `previous` (the explicit rollback, allowed
    /// even if `previous` has a lower security version) and records the
    /// version rolled back from as the new `previous`. Returns the now active version.
    pub fn rollback(&self) -> Result<String, PackageError> {
        let prev = self.previous()?.ok_or(PackageError::NoPrevious)?;
        self.verify_installed(&prev)?;
        let old = self.active()?;
        self.set_link(CURRENT_LINK, &prev)?;
        match old {
            Some(o) if o != prev => self.set_link(PREVIOUS_LINK, &o)?,
            _ => self.remove_link(PREVIOUS_LINK)?,
        }
        Ok(prev)
    }

    /// Removes `current` (used when a first install fails its health check).
    pub fn deactivate(&self) -> Result<(), PackageError> {
        self.remove_link(CURRENT_LINK)
    }

    /// Removes an installed version; refuses the active one. Removing the
    /// `previous` version also removes the `previous` link.
    pub fn uninstall(&self, version: &str) -> Result<(), PackageError> {
        validate_version(version)?;
        if self.active()?.as_deref() == Some(version) {
            return Err(PackageError::UninstallActive(version.to_string()));
        }
        let dir = self.versions_dir().join(version);
        if !dir.is_dir() {
            return Err(PackageError::NotInstalled(version.to_string()));
        }
        if self.previous()?.as_deref() == Some(version) {
            self.remove_link(PREVIOUS_LINK)?;
        }
        // Rename out of the way first so a crash never leaves a half-deleted version.
        let tmp = self.versions_dir().join(tmp_name("delete"));
        fs::rename(&dir, &tmp).map_err(io_err(&dir))?;
        fsync_dir(&self.versions_dir())?;
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))
    }
}

fn sync_tree(dir: &Path) -> Result<(), PackageError> {
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        if e.file_type().map_err(io_err(dir))?.is_dir() {
            sync_tree(&e.path())?;
        }
    }
    fsync_dir(dir)
}

// ---------------------------------------------------------------------------
// Upgrade state machine

/// Steps of an upgrade (docs/fleet-packages.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeState {
    Verify,
    Stage,
    DrainSessions,
    Switch,
    HealthCheck,
    /// Terminal: the new version is active and healthy.
    Done,
    /// The health check failed after the switch; switching back.
    RollingBack {
        reason: String,
    },
    /// Terminal: the old version is active again.
    RolledBack {
        reason: String,
    },
    /// Terminal: the upgrade stopped at `step`. Before `Switch` nothing
    /// changed; after a failed rollback the operator must intervene.
    Failed {
        step: String,
        reason: String,
    },
}

impl UpgradeState {
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Done | Self::RolledBack { .. } | Self::Failed { .. })
    }
    /// The step's name as reported to the console ("verify", "rolled_back", ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Stage => "stage",
            Self::DrainSessions => "drain_sessions",
            Self::Switch => "switch",
            Self::HealthCheck => "health_check",
            Self::Done => "done",
            Self::RollingBack { .. } => "rolling_back",
            Self::RolledBack { .. } => "rolled_back",
            Self::Failed { .. } => "failed",
        }
    }
}

/// The pure upgrade state machine: the caller performs the current step and
/// feeds its result to [`Upgrade::advance`]. No I/O happens here.
#[derive(Debug, Clone)]
pub struct Upgrade {
    state: UpgradeState,
    history: Vec<UpgradeState>,
}

impl Default for Upgrade {
    fn default() -> Self {
        Self::new()
    }
}

impl Upgrade {
    pub fn new() -> Self {
        Self { state: UpgradeState::Verify, history: Vec::new() }
    }

    pub fn state(&self) -> &UpgradeState {
        &self.state
    }

    /// Every state passed through, in order (excluding the current one).
    pub fn history(&self) -> &[UpgradeState] {
        &self.history
    }

    /// Feeds the result of the current step; returns the new state. On a
    /// terminal state this is a no-op.
    pub fn advance(&mut self, result: Result<(), String>) -> &UpgradeState {
        use UpgradeState as S;
        let next = match (&self.state, result) {
            (s, _) if s.is_terminal() => return &self.state,
            (S::Verify, Ok(())) => S::Stage,
            (S::Stage, Ok(())) => S::DrainSessions,
            (S::DrainSessions, Ok(())) => S::Switch,
            (S::Switch, Ok(())) => S::HealthCheck,
            (S::HealthCheck, Ok(())) => S::Done,
            (S::HealthCheck, Err(reason)) => S::RollingBack { reason: format!("health check failed: {reason}") },
            (S::RollingBack { reason }, Ok(())) => S::RolledBack { reason: reason.clone() },
            (S::RollingBack { reason }, Err(e)) => S::Failed { step: "rolling_back".into(), reason: format!("{reason}; rollback failed: {e}") },
            (s, Err(reason)) => S::Failed { step: s.name().into(), reason },
            // Terminal states returned above.
            (s, Ok(())) => s.clone(),
        };
        let prev = std::mem::replace(&mut self.state, next);
        self.history.push(prev);
        &self.state
    }
}

/// What the daemon supplies to [`run_upgrade`].
pub trait UpgradeHooks {
    /// Stops accepting sessions and waits for open ones to finish (or times out).
    fn drain_sessions(&mut self) -> Result<(), String>;
    /// Restarts the TA from the new `current` and checks it is healthy.
    fn health_check(&mut self, version: &str) -> Result<(), String>;
    /// Lets sessions in again (called once the upgrade is terminal, whatever the outcome
    /// after a successful drain).
    fn resume_sessions(&mut self) {}
    /// Called after a failed health check switched `current` back to
    /// `version` (None: there was no previous version and `current` was
    /// removed): restart the TA on it and check it is healthy again. An
    /// error ends the upgrade as failed at `rolling_back`.
    fn rolled_back(&mut self, version: Option<&str>) -> Result<(), String> {
        let _ = version;
        Ok(())
    }
}

/// Result of [`run_upgrade`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeReport {
    pub from: Option<String>,
    pub to: Option<String>,
    pub state: UpgradeState,
    pub history: Vec<UpgradeState>,
}

/// Drives [`Upgrade`] against an [`Installer`]: verify the package (and the
/// security-version policy), stage it, drain sessions, switch, health check,
/// and roll back automatically if the health check fails.
pub fn run_upgrade(inst: &Installer, pkg_dir: &Path, hooks: &mut dyn UpgradeHooks) -> UpgradeReport {
    let mut up = Upgrade::new();
    let from = inst.active().ok().flatten();
    let mut manifest: Option<Manifest> = None;
    let mut drained = false;
    while !up.state().is_terminal() {
        let r: Result<(), String> = match up.state().clone() {
            UpgradeState::Verify => verify_package(pkg_dir, &inst.keys)
                .and_then(|m| inst.check_security(&m, false).map(|()| m))
                .map(|m| manifest = Some(m))
                .map_err(|e| e.to_string()),
            UpgradeState::Stage => inst.install(pkg_dir, false).map(|_| ()).map_err(|e| e.to_string()),
            UpgradeState::DrainSessions => {
                let r = hooks.drain_sessions();
                drained = r.is_ok();
                r
            }
            UpgradeState::Switch => match &manifest {
                Some(m) => inst.activate(&m.version, false).map(|_| ()).map_err(|e| e.to_string()),
                None => Err("no verified manifest".into()),
            },
            UpgradeState::HealthCheck => match &manifest {
                Some(m) => hooks.health_check(&m.version),
                None => Err("no verified manifest".into()),
            },
            UpgradeState::RollingBack { .. } => match &from {
                Some(f) if manifest.as_ref().is_some_and(|m| &m.version == f) => Ok(()),
                Some(_) => inst.rollback().map_err(|e| e.to_string()).and_then(|v| hooks.rolled_back(Some(&v))),
                None => inst.deactivate().map_err(|e| e.to_string()).and_then(|()| hooks.rolled_back(None)),
            },
            _ => Err("unexpected state".into()),
        };
        up.advance(r);
    }
    if drained {
        hooks.resume_sessions();
    }
    UpgradeReport { from, to: manifest.map(|m| m.version), state: up.state().clone(), history: up.history().to_vec() }
}

#[cfg(test)]
mod tests;
