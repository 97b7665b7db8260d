use super::*;
use std::os::unix::fs::symlink;

struct Tmp(PathBuf);
impl Tmp {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "teehsm-pkg-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
        ));
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key() -> Ed25519KeyPair {
    Ed25519KeyPair::generate().unwrap()
}

fn keys_for(k: &Ed25519KeyPair) -> VendorKeys {
    use aws_lc_rs::signature::KeyPair;
    let mut v = VendorKeys::new();
    v.add(k.public_key().as_ref()).unwrap();
    v
}

/// Builds and signs a package in `dir` with a TA binary and a lib file.
fn make_pkg(dir: &Path, version: &str, sv: u32, k: &Ed25519KeyPair) {
    fs::create_dir_all(dir.join("lib")).unwrap();
    fs::write(dir.join(TA_BINARY), format!("#!/bin/sh\necho ta {version}\n")).unwrap();
    fs::write(dir.join("lib/extra.so"), b"extra").unwrap();
    let files = vec![
        FileEntry { path: TA_BINARY.into(), sha256: hash_file(&dir.join(TA_BINARY)).unwrap(), mode: 0o755 },
        FileEntry { path: "lib/extra.so".into(), sha256: hash_file(&dir.join("lib/extra.so")).unwrap(), mode: 0o644 },
    ];
    write_manifest(dir, version, sv, files, k);
}

fn write_manifest(dir: &Path, version: &str, sv: u32, files: Vec<FileEntry>, k: &Ed25519KeyPair) {
    let m = Manifest { name: PACKAGE_NAME.into(), version: version.into(), security_version: sv, platform: Platform::Sim, files };
    fs::write(dir.join(MANIFEST_FILE), m.to_toml().unwrap()).unwrap();
    sign_package(dir, k).unwrap();
}

/// Writes a manifest without validation and signs the raw bytes.
fn write_raw_signed(dir: &Path, text: &str, k: &Ed25519KeyPair) {
    fs::write(dir.join(MANIFEST_FILE), text).unwrap();
    let sig = k.sign(text.as_bytes());
    fs::write(dir.join(SIGNATURE_FILE), hex::encode(sig.as_ref())).unwrap();
}

fn pkg(t: &Tmp, name: &str, version: &str, sv: u32, k: &Ed25519KeyPair) -> PathBuf {
    let d = t.0.join(name);
    make_pkg(&d, version, sv, k);
    d
}

#[test]
fn valid_install_and_activate() {
    let t = Tmp::new("valid");
    let k = key();
    let p = pkg(&t, "p1", "1.0.0", 1, &k);
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    assert_eq!(inst.active().unwrap(), None);
    let out = inst.install(&p, false).unwrap();
    assert!(matches!(out, InstallOutcome::Installed(_)));
    assert_eq!(out.manifest().version, "1.0.0");
    // Idempotent re-install.
    assert!(matches!(inst.install(&p, false).unwrap(), InstallOutcome::AlreadyInstalled(_)));
    assert_eq!(inst.activate("1.0.0", false).unwrap(), None);
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.0.0"));
    let ta = fs::read_to_string(inst.ta_binary_path()).unwrap();
    assert!(ta.contains("ta 1.0.0"));
    let mode = fs::metadata(inst.ta_binary_path()).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    let list = inst.installed().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].security_version, 1);
    assert_eq!(list[0].platform, Platform::Sim);
    // current is a relative symlink into versions/.
    assert_eq!(fs::read_link(t.0.join("root/current")).unwrap(), Path::new("versions/1.0.0"));
}

#[test]
fn upgrade_records_previous_and_rollback_switches_back() {
    let t = Tmp::new("prev");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    inst.activate("1.0.0", false).unwrap();
    inst.install(&pkg(&t, "b", "1.1.0", 2, &k), false).unwrap();
    assert_eq!(inst.activate("1.1.0", false).unwrap().as_deref(), Some("1.0.0"));
    assert_eq!(inst.previous().unwrap().as_deref(), Some("1.0.0"));
    assert_eq!(inst.rollback().unwrap(), "1.0.0");
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.0.0"));
    assert_eq!(inst.previous().unwrap().as_deref(), Some("1.1.0"));
}

#[test]
fn tampered_file_hash_rejected() {
    let t = Tmp::new("hash");
    let k = key();
    let p = pkg(&t, "p", "1.0.0", 1, &k);
    fs::write(p.join("lib/extra.so"), b"evil").unwrap();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    let e = inst.install(&p, false).unwrap_err();
    assert!(matches!(e, PackageError::HashMismatch { ref path, .. } if path == "lib/extra.so"), "{e}");
    // Nothing installed, no leftover staging dir.
    assert!(inst.installed().unwrap().is_empty());
    assert_eq!(fs::read_dir(t.0.join("root/versions")).unwrap().count(), 0);
    assert!(matches!(verify_package(&p, &keys_for(&k)), Err(PackageError::HashMismatch { .. })));
}

#[test]
fn oversized_file_rejected_by_hash_copy() {
    let t = Tmp::new("size");
    let f = t.0.join("big");
    fs::write(&f, vec![0u8; 100]).unwrap();
    let e = hash_copy(&f, &mut std::io::sink(), 10).unwrap_err();
    assert!(matches!(e, PackageError::TooLarge(_, 10)));
    // An oversized manifest is refused before parsing.
    let k = key();
    let d = t.0.join("p");
    fs::create_dir_all(&d).unwrap();
    write_raw_signed(&d, &"#".repeat(MAX_MANIFEST_BYTES as usize + 1), &k);
    assert!(matches!(verify_package(&d, &keys_for(&k)), Err(PackageError::TooLarge(..))));
}

#[test]
fn tampered_manifest_rejected() {
    let t = Tmp::new("man");
    let k = key();
    let p = pkg(&t, "p", "1.0.0", 1, &k);
    let text = fs::read_to_string(p.join(MANIFEST_FILE)).unwrap();
    fs::write(p.join(MANIFEST_FILE), text.replace("security_version = 1", "security_version = 9")).unwrap();
    let e = verify_package(&p, &keys_for(&k)).unwrap_err();
    assert!(matches!(e, PackageError::BadSignature), "{e}");
    // Garbage signature file.
    fs::write(p.join(SIGNATURE_FILE), "zz").unwrap();
    assert!(matches!(verify_package(&p, &keys_for(&k)), Err(PackageError::SignatureFormat)));
    fs::remove_file(p.join(SIGNATURE_FILE)).unwrap();
    assert!(matches!(verify_package(&p, &keys_for(&k)), Err(PackageError::Io { .. })));
}

#[test]
fn wrong_key_rejected_and_any_configured_key_accepted() {
    let t = Tmp::new("key");
    let k = key();
    let other = key();
    let p = pkg(&t, "p", "1.0.0", 1, &k);
    assert!(matches!(verify_package(&p, &keys_for(&other)), Err(PackageError::BadSignature)));
    assert!(matches!(verify_package(&p, &VendorKeys::new()), Err(PackageError::NoVendorKeys)));
    use aws_lc_rs::signature::KeyPair;
    let mut both = keys_for(&other);
    both.add_hex(&hex::encode(k.public_key().as_ref())).unwrap();
    assert_eq!(verify_package(&p, &both).unwrap().version, "1.0.0");
    assert!(VendorKeys::new().add(&[1, 2, 3]).is_err());
    assert!(VendorKeys::new().add_hex("nothex").is_err());
}

#[test]
fn path_traversal_rejected() {
    let t = Tmp::new("trav");
    let k = key();
    for bad in ["/etc/passwd", "../teehsm-ta-evil", "lib/../../x", "./x", "a//b", "a/", "", "a\\..\\b", ".tmp-stage", "manifest.sig"] {
        let d = t.0.join(format!("p{}", bad.len()));
        fs::create_dir_all(&d).unwrap();
        let text = format!(
            "name = \"teehsm-ta\"\nversion = \"1.0.0\"\nsecurity_version = 1\nplatform = \"sim\"\n\n[[files]]\npath = \"teehsm-ta\"\nsha256 = \"{z}\"\nmode = 493\n\n[[files]]\npath = {bad:?}\nsha256 = \"{z}\"\nmode = 420\n",
            z = "0".repeat(64)
        );
        write_raw_signed(&d, &text, &k);
        let e = verify_package(&d, &keys_for(&k)).unwrap_err();
        assert!(matches!(e, PackageError::UnsafePath(_)), "{bad:?}: {e}");
        let _ = fs::remove_dir_all(&d);
    }
    assert!(validate_rel_path(&"a".repeat(MAX_PATH_LEN + 1)).is_err());
}

#[test]
fn symlinks_in_package_rejected() {
    let t = Tmp::new("sym");
    let k = key();
    // Symlinked file.
    let d = t.0.join("p");
    make_pkg(&d, "1.0.0", 1, &k);
    fs::write(t.0.join("outside"), b"extra").unwrap();
    fs::remove_file(d.join("lib/extra.so")).unwrap();
    symlink(t.0.join("outside"), d.join("lib/extra.so")).unwrap();
    let e = verify_package(&d, &keys_for(&k)).unwrap_err();
    assert!(matches!(e, PackageError::UnsafePath(_)), "{e}");
    // Symlinked directory.
    let d2 = t.0.join("p2");
    make_pkg(&d2, "1.0.0", 1, &k);
    fs::create_dir_all(t.0.join("outdir")).unwrap();
    fs::write(t.0.join("outdir/extra.so"), b"extra").unwrap();
    fs::remove_dir_all(d2.join("lib")).unwrap();
    symlink(t.0.join("outdir"), d2.join("lib")).unwrap();
    let e = verify_package(&d2, &keys_for(&k)).unwrap_err();
    assert!(matches!(e, PackageError::UnsafePath(_)), "{e}");
    // Symlinked manifest.
    let d3 = t.0.join("p3");
    make_pkg(&d3, "1.0.0", 1, &k);
    fs::rename(d3.join(MANIFEST_FILE), t.0.join("m.toml")).unwrap();
    symlink(t.0.join("m.toml"), d3.join(MANIFEST_FILE)).unwrap();
    assert!(verify_package(&d3, &keys_for(&k)).is_err());
}

#[test]
fn malformed_manifests_rejected() {
    let z = "0".repeat(64);
    let ok_file = format!("[[files]]\npath = \"teehsm-ta\"\nsha256 = \"{z}\"\nmode = 493\n");
    let head = |name: &str, version: &str| format!("name = \"{name}\"\nversion = \"{version}\"\nsecurity_version = 1\nplatform = \"sim\"\n");
    let cases = [
        format!("{}{ok_file}", head("other", "1.0.0")),
        format!("{}{ok_file}", head("teehsm-ta", "1.0")),
        format!("{}{ok_file}", head("teehsm-ta", "01.0.0")),
        format!("{}{ok_file}", head("teehsm-ta", "1.0.0-")),
        format!("{}{ok_file}", head("teehsm-ta", "1.0.0/../x")),
        head("teehsm-ta", "1.0.0"),
        format!("{}{ok_file}extra = 1\n", head("teehsm-ta", "1.0.0")),
        format!("{}[[files]]\npath = \"other\"\nsha256 = \"{z}\"\nmode = 493\n", head("teehsm-ta", "1.0.0")),
        format!("{}[[files]]\npath = \"teehsm-ta\"\nsha256 = \"{z}\"\nmode = 2541\n", head("teehsm-ta", "1.0.0")),
        format!("{}[[files]]\npath = \"teehsm-ta\"\nsha256 = \"ABC\"\nmode = 493\n", head("teehsm-ta", "1.0.0")),
        format!("{}{ok_file}{ok_file}", head("teehsm-ta", "1.0.0")),
        format!(
            "{}{ok_file}[[files]]\npath = \"a\"\nsha256 = \"{z}\"\nmode = 420\n[[files]]\npath = \"a/b\"\nsha256 = \"{z}\"\nmode = 420\n",
            head("teehsm-ta", "1.0.0")
        ),
        "platform = \"sgx\"".to_string(),
        "\u{0}\u{ff}".to_string(),
    ];
    for c in &cases {
        assert!(Manifest::parse(c.as_bytes()).is_err(), "accepted: {c}");
    }
    assert!(Manifest::parse(&[0xff, 0xfe]).is_err());
    for v in ["1.2.3", "1.2.3-rc.1", "10.0.0+build.5", "0.0.1-alpha+x"] {
        assert!(validate_version(v).is_ok(), "{v}");
    }
}

#[test]
fn downgrade_refused_naming_both_versions() {
    let t = Tmp::new("down");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "2.0.0", 5, &k), false).unwrap();
    inst.activate("2.0.0", false).unwrap();
    let e = inst.install(&pkg(&t, "b", "1.9.0", 4, &k), false).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PackageError::Downgrade { installed: 5, offered: 4, .. }));
    assert!(msg.contains("2.0.0") && msg.contains("1.9.0") && msg.contains('5') && msg.contains('4'), "{msg}");
    // The allow flag does not help for a version that is not `previous`.
    assert!(matches!(inst.install(&pkg(&t, "c", "1.8.0", 4, &k), true), Err(PackageError::Downgrade { .. })));
    // Same security version, newer or older semver: fine.
    inst.install(&pkg(&t, "d", "2.0.1", 5, &k), false).unwrap();
}

#[test]
fn allow_flag_permits_reactivating_previous() {
    let t = Tmp::new("allow");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    inst.activate("1.0.0", false).unwrap();
    inst.install(&pkg(&t, "b", "2.0.0", 2, &k), false).unwrap();
    inst.activate("2.0.0", false).unwrap();
    assert!(matches!(inst.activate("1.0.0", false), Err(PackageError::Downgrade { .. })));
    assert_eq!(inst.activate("1.0.0", true).unwrap().as_deref(), Some("2.0.0"));
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.0.0"));
}

#[test]
fn uninstall_refuses_active_and_removes_others() {
    let t = Tmp::new("uninst");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    inst.activate("1.0.0", false).unwrap();
    inst.install(&pkg(&t, "b", "1.1.0", 1, &k), false).unwrap();
    inst.activate("1.1.0", false).unwrap();
    assert!(matches!(inst.uninstall("1.1.0"), Err(PackageError::UninstallActive(_))));
    assert!(matches!(inst.uninstall("9.9.9"), Err(PackageError::NotInstalled(_))));
    assert!(inst.uninstall("../x").is_err());
    inst.uninstall("1.0.0").unwrap();
    assert_eq!(inst.previous().unwrap(), None);
    assert!(matches!(inst.rollback(), Err(PackageError::NoPrevious)));
    let v: Vec<_> = inst.installed().unwrap().into_iter().map(|i| i.version).collect();
    assert_eq!(v, ["1.1.0"]);
}

#[test]
fn version_conflict_and_corrupt_install_detected() {
    let t = Tmp::new("conf");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    // Same version, different content.
    let b = t.0.join("b");
    make_pkg(&b, "1.0.0", 1, &k);
    fs::write(b.join(TA_BINARY), b"other").unwrap();
    let mut m = Manifest::parse(&fs::read(b.join(MANIFEST_FILE)).unwrap()).unwrap();
    m.files[0].sha256 = hash_file(&b.join(TA_BINARY)).unwrap();
    fs::write(b.join(MANIFEST_FILE), m.to_toml().unwrap()).unwrap();
    sign_package(&b, &k).unwrap();
    assert!(matches!(inst.install(&b, false), Err(PackageError::VersionConflict(_))));
    // Tampering with an installed version blocks activation.
    fs::write(t.0.join("root/versions/1.0.0").join(TA_BINARY), b"evil").unwrap();
    assert!(matches!(inst.activate("1.0.0", false), Err(PackageError::Corrupt(..))));
    assert_eq!(inst.active().unwrap(), None);
}

#[test]
fn leftovers_of_interrupted_install_are_cleaned_or_ignored() {
    let t = Tmp::new("crash");
    let k = key();
    let root = t.0.join("root");
    {
        let inst = Installer::open(&root, keys_for(&k)).unwrap();
        inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
        inst.activate("1.0.0", false).unwrap();
    }
    // Simulate a crash: half-written staging dir, temp link, half-deleted dir.
    fs::create_dir_all(root.join("versions/.tmp-stage-1-2/lib")).unwrap();
    fs::write(root.join("versions/.tmp-stage-1-2/teehsm-ta"), b"partial").unwrap();
    symlink("versions/1.0.0", root.join(".tmp-current-1-2")).unwrap();
    fs::create_dir_all(root.join("versions/.tmp-delete-1-3")).unwrap();
    // Ignored while present.
    let inst = Installer { root: root.clone(), keys: keys_for(&k) };
    assert_eq!(inst.installed().unwrap().len(), 1);
    // Cleaned on open.
    let inst = Installer::open(&root, keys_for(&k)).unwrap();
    let names: Vec<_> = fs::read_dir(root.join("versions")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["1.0.0"]);
    assert!(fs::symlink_metadata(root.join(".tmp-current-1-2")).is_err());
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.0.0"));
    // A foreign `current` link is reported, not followed.
    fs::remove_file(root.join("current")).unwrap();
    symlink("/etc", root.join("current")).unwrap();
    assert!(matches!(inst.active(), Err(PackageError::Corrupt(..))));
}

// --- state machine --------------------------------------------------------

#[test]
fn state_machine_happy_path() {
    let mut u = Upgrade::new();
    for _ in 0..5 {
        u.advance(Ok(()));
    }
    assert_eq!(u.state(), &UpgradeState::Done);
    assert_eq!(
        u.history(),
        [UpgradeState::Verify, UpgradeState::Stage, UpgradeState::DrainSessions, UpgradeState::Switch, UpgradeState::HealthCheck]
    );
    // Terminal: further input ignored.
    u.advance(Err("x".into()));
    assert_eq!(u.state(), &UpgradeState::Done);
}

#[test]
fn state_machine_failures() {
    // Failure before the switch: Failed at that step, no rollback.
    for (n, step) in [(0, "verify"), (1, "stage"), (2, "drain_sessions"), (3, "switch")] {
        let mut u = Upgrade::new();
        for _ in 0..n {
            u.advance(Ok(()));
        }
        let s = u.advance(Err("boom".into())).clone();
        assert_eq!(s, UpgradeState::Failed { step: step.into(), reason: "boom".into() });
    }
    // Health check failure: roll back.
    let mut u = Upgrade::new();
    for _ in 0..4 {
        u.advance(Ok(()));
    }
    assert!(matches!(u.advance(Err("no pong".into())), UpgradeState::RollingBack { .. }));
    let s = u.advance(Ok(())).clone();
    assert_eq!(s, UpgradeState::RolledBack { reason: "health check failed: no pong".into() });
    // Rollback failure: Failed naming both.
    let mut u = Upgrade::new();
    for _ in 0..4 {
        u.advance(Ok(()));
    }
    u.advance(Err("no pong".into()));
    match u.advance(Err("disk".into())) {
        UpgradeState::Failed { step, reason } => {
            assert_eq!(step, "rolling_back");
            assert!(reason.contains("no pong") && reason.contains("disk"));
        }
        s => panic!("{s:?}"),
    }
}

struct Hooks {
    drain: Result<(), String>,
    health: Result<(), String>,
    drained: u32,
    resumed: u32,
    checked: Vec<String>,
    /// Versions `rolled_back` was called with, and what it answers.
    rolled: Vec<Option<String>>,
    rollback_health: Result<(), String>,
}

impl Hooks {
    fn new(drain: Result<(), String>, health: Result<(), String>) -> Self {
        Self { drain, health, drained: 0, resumed: 0, checked: Vec::new(), rolled: Vec::new(), rollback_health: Ok(()) }
    }
}

impl UpgradeHooks for Hooks {
    fn drain_sessions(&mut self) -> Result<(), String> {
        self.drained += 1;
        self.drain.clone()
    }
    fn health_check(&mut self, version: &str) -> Result<(), String> {
        self.checked.push(version.to_string());
        self.health.clone()
    }
    fn resume_sessions(&mut self) {
        self.resumed += 1;
    }
    fn rolled_back(&mut self, version: Option<&str>) -> Result<(), String> {
        self.rolled.push(version.map(str::to_owned));
        self.rollback_health.clone()
    }
}

#[test]
fn run_upgrade_success() {
    let t = Tmp::new("run-ok");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    inst.activate("1.0.0", false).unwrap();
    let mut h = Hooks::new(Ok(()), Ok(()));
    let r = run_upgrade(&inst, &pkg(&t, "b", "1.1.0", 2, &k), &mut h);
    assert_eq!(r.state, UpgradeState::Done);
    assert_eq!((r.from.as_deref(), r.to.as_deref()), (Some("1.0.0"), Some("1.1.0")));
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.1.0"));
    assert_eq!(inst.previous().unwrap().as_deref(), Some("1.0.0"));
    assert_eq!((h.drained, h.resumed), (1, 1));
    assert_eq!(h.checked, ["1.1.0"]);
}

#[test]
fn run_upgrade_failed_health_check_rolls_back() {
    let t = Tmp::new("run-rb");
    let k = key();
    let root = t.0.join("root");
    let inst = Installer::open(&root, keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    inst.activate("1.0.0", false).unwrap();
    let before = fs::read_link(root.join("current")).unwrap();
    let mut h = Hooks::new(Ok(()), Err("TA exited with code 4".into()));
    let r = run_upgrade(&inst, &pkg(&t, "b", "1.1.0", 2, &k), &mut h);
    match &r.state {
        UpgradeState::RolledBack { reason } => assert!(reason.contains("code 4"), "{reason}"),
        s => panic!("{s:?}"),
    }
    assert_eq!(fs::read_link(root.join("current")).unwrap(), before);
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.0.0"));
    assert!(r.history.iter().any(|s| matches!(s, UpgradeState::RollingBack { .. })));
    assert_eq!(h.resumed, 1);
    // The TA was restarted on the version rolled back to.
    assert_eq!(h.rolled, vec![Some("1.0.0".to_string())]);
    // The failed version stays installed (for inspection), not active.
    assert_eq!(inst.installed().unwrap().len(), 2);
}

#[test]
fn run_upgrade_rollback_that_stays_unhealthy_fails() {
    let t = Tmp::new("run-rb-bad");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "1.0.0", 1, &k), false).unwrap();
    inst.activate("1.0.0", false).unwrap();
    let mut h = Hooks::new(Ok(()), Err("new TA dead".into()));
    h.rollback_health = Err("old TA dead too".into());
    let r = run_upgrade(&inst, &pkg(&t, "b", "1.1.0", 2, &k), &mut h);
    match &r.state {
        UpgradeState::Failed { step, reason } => {
            assert_eq!(step, "rolling_back");
            assert!(reason.contains("new TA dead") && reason.contains("old TA dead too"), "{reason}");
        }
        s => panic!("{s:?}"),
    }
    // The links were switched back even though the old TA did not come up.
    assert_eq!(inst.active().unwrap().as_deref(), Some("1.0.0"));
}

#[test]
fn run_upgrade_first_install_failed_health_check_deactivates() {
    let t = Tmp::new("run-first");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    let mut h = Hooks::new(Ok(()), Err("dead".into()));
    let r = run_upgrade(&inst, &pkg(&t, "a", "1.0.0", 1, &k), &mut h);
    assert!(matches!(r.state, UpgradeState::RolledBack { .. }));
    assert_eq!(inst.active().unwrap(), None);
    assert_eq!(h.rolled, vec![None]);
}

#[test]
fn run_upgrade_aborts_before_switch() {
    let t = Tmp::new("run-abort");
    let k = key();
    let inst = Installer::open(&t.0.join("root"), keys_for(&k)).unwrap();
    inst.install(&pkg(&t, "a", "2.0.0", 3, &k), false).unwrap();
    inst.activate("2.0.0", false).unwrap();
    // Drain timeout: nothing switched, sessions not resumed (never drained).
    let mut h = Hooks::new(Err("drain timed out".into()), Ok(()));
    let r = run_upgrade(&inst, &pkg(&t, "b", "2.1.0", 3, &k), &mut h);
    assert_eq!(r.state, UpgradeState::Failed { step: "drain_sessions".into(), reason: "drain timed out".into() });
    assert_eq!(inst.active().unwrap().as_deref(), Some("2.0.0"));
    assert_eq!(h.resumed, 0);
    // Downgrade: refused at verify, hooks untouched.
    let mut h = Hooks::new(Ok(()), Ok(()));
    let r = run_upgrade(&inst, &pkg(&t, "c", "1.0.0", 2, &k), &mut h);
    match &r.state {
        UpgradeState::Failed { step, reason } => {
            assert_eq!(step, "verify");
            assert!(reason.contains("2.0.0") && reason.contains("1.0.0"), "{reason}");
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(h.drained, 0);
    // Bad signature: refused at verify.
    let other = key();
    let r = run_upgrade(&inst, &pkg(&t, "d", "2.2.0", 3, &other), &mut h);
    assert!(matches!(r.state, UpgradeState::Failed { ref step, .. } if step == "verify"));
}

#[test]
fn manifest_accepts_octal_mode_and_round_trips() {
    let z = "0".repeat(64);
    let text = format!(
        "name = \"teehsm-ta\"\nversion = \"1.0.0\"\nsecurity_version = 1\nplatform = \"gramine\"\n[[files]]\npath = \"teehsm-ta\"\nsha256 = \"{z}\"\nmode = 0o755\n"
    );
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert_eq!(m.files[0].mode, 0o755);
    assert_eq!(m.platform, Platform::Gramine);
    assert_eq!(Manifest::parse(m.to_toml().unwrap().as_bytes()).unwrap(), m);
}
