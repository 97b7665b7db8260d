//! The real TEE backends (Gramine-SGX, configfs-tsm for SEV-SNP/TDX, SEV-SNP
//! derived keys) against fakes of their kernel/file interfaces in temp dirs.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use teehsm_ta::platform::gramine::{parse_sgx_quote, GraminePlatform};
use teehsm_ta::platform::sevguest::{SnpDerivedKeyRequest, SnpKeyDeriver, FIELD_GUEST_POLICY, FIELD_MEASUREMENT};
use teehsm_ta::platform::tsm::{parse_snp_report, parse_tdx_quote, TsmHook, TsmKeys, TsmPlatform, TsmProvider, TsmStage, SNP_REPORT_LEN};
use teehsm_ta::platform::{Platform, PlatformError};
use zeroize::Zeroizing;

const MRENCLAVE: [u8; 32] = [0xE1; 32];
const MRSIGNER: [u8; 32] = [0x51; 32];
const PRODID: u16 = 7;
const ISVSVN: u16 = 3;

fn temp_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    teehsm_crypto::rng::fill(&mut b).unwrap();
    let d = std::env::temp_dir().join(format!("teehsm-{tag}-{}", hex::encode(b)));
    fs::create_dir_all(&d).unwrap();
    d
}

fn sha256(d: &[u8]) -> [u8; 32] {
    teehsm_crypto::digest::digest(teehsm_crypto::digest::HashAlg::Sha256, d).try_into().unwrap()
}

// ---------------------------------------------------------------- Gramine-SGX fake

/// An SGX DCAP (v3) quote: 48-byte header, 384-byte report body, then a fake signature part.
fn sgx_quote(report_data: &[u8]) -> Vec<u8> {
    let mut q = vec![0u8; 48 + 384];
    q[0..2].copy_from_slice(&3u16.to_le_bytes());
    q[2..4].copy_from_slice(&2u16.to_le_bytes());
    let b = 48;
    q[b + 64..b + 96].copy_from_slice(&MRENCLAVE);
    q[b + 128..b + 160].copy_from_slice(&MRSIGNER);
    q[b + 256..b + 258].copy_from_slice(&PRODID.to_le_bytes());
    q[b + 258..b + 260].copy_from_slice(&ISVSVN.to_le_bytes());
    q[b + 320..b + 384].copy_from_slice(report_data);
    q.extend_from_slice(&16u32.to_le_bytes());
    q.extend_from_slice(&[0x5A; 16]);
    q
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}: {}", p.display(), std::io::Error::last_os_error());
}

/// A fake `/dev/attestation` under `root`. With `live`, `quote` is a FIFO that a
/// thread answers like Gramine: a quote over whatever `user_report_data` holds.
/// Without it, `quote` is a static quote over `static_rd`.
fn gramine_tree(root: &Path, mrsigner_key: &[u8], live: bool, static_rd: [u8; 64]) {
    let att = root.join("dev/attestation");
    fs::create_dir_all(att.join("keys")).unwrap();
    fs::write(att.join("attestation_type"), "dcap\n").unwrap();
    fs::write(att.join("user_report_data"), [0u8; 64]).unwrap();
    fs::write(att.join("keys/_sgx_mrsigner"), mrsigner_key).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    if !live {
        fs::write(att.join("quote"), sgx_quote(&static_rd)).unwrap();
        return;
    }
    mkfifo(&att.join("quote"));
    std::thread::spawn(move || {
        let quote = att.join("quote");
        let next = att.join("quote.next");
        loop {
            // Blocks until the backend opens the quote for reading (after writing user_report_data).
            let Ok(mut w) = fs::OpenOptions::new().write(true).open(&quote) else { return };
            let Ok(rd) = fs::read(att.join("user_report_data")) else { return };
            let _ = std::io::Write::write_all(&mut w, &sgx_quote(&rd));
            // Swap in a fresh FIFO before closing this one, so the next reader
            // never sees this quote's data again and always finds a FIFO.
            let _ = fs::remove_file(&next);
            mkfifo(&next);
            if fs::rename(&next, &quote).is_err() {
                return;
            }
            drop(w);
        }
    });
}

#[test]
fn gramine_report_writes_report_data_and_carries_the_quote() {
    let d = temp_dir("gramine-report");
    gramine_tree(&d, &[0x42; 16], true, [0; 64]);
    let p = GraminePlatform::open(&d, &d.join("data"), 2).unwrap();
    assert_eq!(p.name(), "gramine-sgx");
    assert!(!p.is_simulation());
    assert!(!p.rollback_protected());
    assert_eq!(p.measurement(), MRENCLAVE);
    assert_eq!(p.identity().signer, MRSIGNER);
    assert_eq!(p.identity().product_id, PRODID);
    assert_eq!(p.identity().security_version, 2);
    for i in 0..3u8 {
        let rd = [i.wrapping_add(0x30); 64];
        let r = p.report(&rd).unwrap();
        assert_eq!(fs::read(d.join("dev/attestation/user_report_data")).unwrap(), rd.to_vec());
        assert_eq!(r.platform, "gramine-sgx");
        assert!(!r.simulation);
        assert_eq!(r.report_data, rd);
        assert_eq!(r.body, sgx_quote(&rd), "the body is the quote itself");
        assert!(r.signature.is_empty(), "the quote carries its own signature");
        assert_eq!((r.measurement, r.identity.signer, r.identity.product_id, r.identity.security_version), (MRENCLAVE, MRSIGNER, PRODID, 3));
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn gramine_refuses_what_it_cannot_trust() {
    let d = temp_dir("gramine-refuse");
    gramine_tree(&d, &[0x42; 16], false, [0; 64]);
    let data = d.join("data");
    assert!(GraminePlatform::open(&d, &data, 1).is_ok());
    // A quote over other report data than the TA wrote.
    fs::write(d.join("dev/attestation/quote"), sgx_quote(&[9; 64])).unwrap();
    assert!(matches!(GraminePlatform::open(&d, &data, 1), Err(PlatformError::Evidence(_))));
    // Garbage and truncated quotes.
    fs::write(d.join("dev/attestation/quote"), b"not a quote").unwrap();
    assert!(matches!(GraminePlatform::open(&d, &data, 1), Err(PlatformError::Evidence(_))));
    fs::write(d.join("dev/attestation/quote"), sgx_quote(&[0; 64])).unwrap();
    // Remote attestation disabled in the manifest.
    fs::write(d.join("dev/attestation/attestation_type"), "none\n").unwrap();
    let e = GraminePlatform::open(&d, &data, 1).err().unwrap();
    assert!(matches!(e, PlatformError::Unavailable(_)) && e.to_string().contains("sgx.remote_attestation"), "{e}");
    fs::write(d.join("dev/attestation/attestation_type"), "dcap").unwrap();
    // A sealing key of the wrong length.
    fs::write(d.join("dev/attestation/keys/_sgx_mrsigner"), [1u8; 15]).unwrap();
    assert!(matches!(GraminePlatform::open(&d, &data, 1), Err(PlatformError::RootKey { .. })));
    // Not running under Gramine at all.
    assert!(matches!(GraminePlatform::open(&d.join("nowhere"), &data, 1), Err(PlatformError::Io { .. })));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn sgx_quote_parser_never_panics_and_checks_lengths() {
    let q = sgx_quote(&[7; 64]);
    let parsed = parse_sgx_quote(&q).unwrap();
    assert_eq!(
        (parsed.mrenclave, parsed.mrsigner, parsed.isv_prod_id, parsed.isv_svn, parsed.report_data),
        (MRENCLAVE, MRSIGNER, PRODID, ISVSVN, [7; 64])
    );
    assert!(!parsed.debug);
    for n in 0..48 + 384 {
        assert!(matches!(parse_sgx_quote(&q[..n]), Err(PlatformError::Evidence(_))), "truncated to {n}");
    }
    let mut v = q.clone();
    v[0] = 9;
    assert!(parse_sgx_quote(&v).is_err());
    let mut dbg = q.clone();
    dbg[48 + 48] |= 2;
    assert!(parse_sgx_quote(&dbg).unwrap().debug);
    assert!(parse_sgx_quote(&vec![3u8; 70_000]).is_err());
    let mut state = 1u64;
    for _ in 0..200 {
        let len = (state % 900) as usize;
        let mut junk = vec![0u8; len];
        for b in junk.iter_mut() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (state >> 56) as u8;
        }
        let _ = parse_sgx_quote(&junk);
        let _ = parse_snp_report(&junk);
        let _ = parse_tdx_quote(&junk);
    }
}

#[test]
fn gramine_seal_keys_are_signer_bound_stable_and_refuse_downgrade() {
    let d = temp_dir("gramine-seal");
    gramine_tree(&d, &[0x42; 16], false, [0; 64]);
    let data = d.join("data");
    let p = GraminePlatform::open(&d, &data, 3).unwrap();
    let k = p.seal_key(3, b"store").unwrap();
    assert_ne!(*k, *p.seal_key(3, b"audit").unwrap(), "per purpose");
    assert_ne!(*k, *p.seal_key(2, b"store").unwrap(), "per security version");
    assert!(matches!(p.seal_key(4, b"store"), Err(PlatformError::Downgrade { requested: 4, own: 3 })));
    drop(p);
    // Restart, and a signed upgrade (same MRSIGNER key, newer TA) derive the same key.
    assert_eq!(*k, *GraminePlatform::open(&d, &data, 3).unwrap().seal_key(3, b"store").unwrap());
    assert_eq!(*k, *GraminePlatform::open(&d, &data, 4).unwrap().seal_key(3, b"store").unwrap());
    // Another signer's (or CPU's) MRSIGNER key gives other keys.
    fs::write(d.join("dev/attestation/keys/_sgx_mrsigner"), [0x43; 16]).unwrap();
    assert_ne!(*k, *GraminePlatform::open(&d, &data, 3).unwrap().seal_key(3, b"store").unwrap());
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn gramine_counter_survives_reopen_and_tampering_is_refused() {
    let d = temp_dir("gramine-counter");
    gramine_tree(&d, &[0x42; 16], false, [0; 64]);
    let data = d.join("data");
    let p = GraminePlatform::open(&d, &data, 1).unwrap();
    assert_eq!(p.counter().unwrap(), 0);
    p.advance_counter(41).unwrap();
    p.advance_counter(42).unwrap();
    assert!(p.advance_counter(40).is_err());
    drop(p);
    let p = GraminePlatform::open(&d, &data, 1).unwrap();
    assert_eq!(p.counter().unwrap(), 42);
    let f = data.join(teehsm_ta::platform::gramine::COUNTER_FILE);
    let mut b = fs::read(&f).unwrap();
    b[15] = b[15].wrapping_add(1); // 42 -> 43 without the key
    fs::write(&f, &b).unwrap();
    assert!(matches!(p.counter(), Err(PlatformError::Counter(_))));
    assert!(p.advance_counter(50).is_err(), "a tampered counter is never silently overwritten");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn store_opens_and_reopens_on_gramine() {
    let d = temp_dir("gramine-store");
    gramine_tree(&d, &[0x42; 16], false, [0; 64]);
    let data = d.join("data");
    for _ in 0..2 {
        let p: Arc<dyn Platform> = Arc::new(GraminePlatform::open(&d, &data, 1).unwrap());
        let s = teehsm_ta::store::Store::open(&data, p, Box::new(|| Ok((0, [0u8; 32])))).unwrap();
        s.shutdown();
    }
    let _ = fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------- configfs-tsm fake

const SNP_MEASUREMENT: [u8; 48] = [0xAB; 48];
const SNP_ID_KEY_DIGEST: [u8; 48] = [0x1D; 48];
const TDX_MRTD: [u8; 48] = [0xCD; 48];
const TDX_MROWNER: [u8; 48] = [0x0E; 48];

fn snp_report(rd: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; SNP_REPORT_LEN];
    r[0..4].copy_from_slice(&2u32.to_le_bytes());
    r[0x08..0x10].copy_from_slice(&(1u64 << 17).to_le_bytes());
    r[0x50..0x90].copy_from_slice(rd);
    r[0x90..0xC0].copy_from_slice(&SNP_MEASUREMENT);
    r[0xE0..0x110].copy_from_slice(&SNP_ID_KEY_DIGEST);
    r
}

fn tdx_quote(rd: &[u8]) -> Vec<u8> {
    let mut q = vec![0u8; 48 + 584];
    q[0..2].copy_from_slice(&4u16.to_le_bytes());
    q[2..4].copy_from_slice(&2u16.to_le_bytes());
    q[4..8].copy_from_slice(&0x81u32.to_le_bytes());
    q[48 + 136..48 + 184].copy_from_slice(&TDX_MRTD);
    q[48 + 232..48 + 280].copy_from_slice(&TDX_MROWNER);
    q[48 + 520..48 + 584].copy_from_slice(rd);
    q.extend_from_slice(&0u32.to_le_bytes());
    q
}

/// A fake kernel: answers inblob with a report for `provider`, records what
/// was written, and bumps `generation` behind the reader `races` times.
struct FakeTsm {
    provider: &'static str,
    inblobs: Mutex<Vec<Vec<u8>>>,
    entries: Mutex<Vec<PathBuf>>,
    races: AtomicUsize,
}

impl FakeTsm {
    fn new(provider: &'static str) -> Arc<Self> {
        Arc::new(Self { provider, inblobs: Mutex::new(Vec::new()), entries: Mutex::new(Vec::new()), races: AtomicUsize::new(0) })
    }
    fn hook(self: &Arc<Self>) -> TsmHook {
        let me = self.clone();
        Arc::new(move |stage, entry: &Path| {
            match stage {
                TsmStage::AfterInblob => {
                    let inblob = fs::read(entry.join("inblob"))?;
                    fs::write(entry.join("provider"), format!("{}\n", me.provider))?;
                    fs::write(entry.join("generation"), "1\n")?;
                    let out = if me.provider == "tdx_guest" { tdx_quote(&inblob) } else { snp_report(&inblob) };
                    fs::write(entry.join("outblob"), out)?;
                    me.inblobs.lock().unwrap().push(inblob);
                    me.entries.lock().unwrap().push(entry.to_path_buf());
                }
                TsmStage::AfterOutblob => {
                    if me.races.load(Ordering::SeqCst) > 0 {
                        me.races.fetch_sub(1, Ordering::SeqCst);
                        fs::write(entry.join("generation"), "2\n")?;
                    }
                }
            }
            Ok(())
        })
    }
}

fn tsm_root() -> PathBuf {
    let d = temp_dir("tsm");
    fs::create_dir_all(d.join("sys/kernel/config/tsm/report")).unwrap();
    fs::create_dir_all(d.join("data")).unwrap();
    d
}

/// A fake `/dev/sev-guest`: a keyed function of the request, as the firmware is.
struct FakeSnpKeys {
    chip_key: [u8; 32],
    /// The launch measurement the fake firmware mixes in when asked to.
    measurement: [u8; 48],
    requests: Arc<Mutex<Vec<SnpDerivedKeyRequest>>>,
    fail: bool,
}

impl SnpKeyDeriver for FakeSnpKeys {
    fn derive_key(&self, req: &SnpDerivedKeyRequest) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
        self.requests.lock().unwrap().push(*req);
        if self.fail {
            return Err(PlatformError::Unavailable("SNP_GET_DERIVED_KEY: no such device (fake)".into()));
        }
        let mut info = format!("{}:{}:{}:{}:{}", req.root_key_select, req.guest_field_select, req.vmpl, req.guest_svn, req.tcb_version).into_bytes();
        if req.guest_field_select & FIELD_MEASUREMENT != 0 {
            info.extend_from_slice(&self.measurement);
        }
        let k = teehsm_crypto::kdf::hkdf_sha256(&self.chip_key, b"fake-snp", &info, 32).unwrap();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&k);
        Ok(out)
    }
}

fn snp_keys(chip: u8) -> (TsmKeys, Arc<Mutex<Vec<SnpDerivedKeyRequest>>>) {
    let reqs = Arc::new(Mutex::new(Vec::new()));
    (TsmKeys::Snp(Box::new(FakeSnpKeys { chip_key: [chip; 32], measurement: SNP_MEASUREMENT, requests: reqs.clone(), fail: false })), reqs)
}

#[test]
fn snp_report_through_configfs_tsm() {
    let root = tsm_root();
    let fake = FakeTsm::new("sev_guest");
    let (keys, _) = snp_keys(1);
    let p = TsmPlatform::open_with_hook(&root, &root.join("data"), 2, keys, Some(fake.hook())).unwrap();
    assert_eq!(p.provider(), TsmProvider::SevSnp);
    assert_eq!(p.name(), "sev-snp");
    assert!(!p.is_simulation() && !p.rollback_protected());
    assert_eq!(p.measurement(), sha256(&SNP_MEASUREMENT));
    assert_eq!(p.identity().signer, sha256(&SNP_ID_KEY_DIGEST));
    assert_eq!(p.identity().security_version, 2);
    let rd = [0x77u8; 64];
    let r = p.report(&rd).unwrap();
    assert_eq!(fake.inblobs.lock().unwrap().last().unwrap(), &rd.to_vec(), "inblob holds the report data");
    assert_eq!(r.platform, "sev-snp");
    assert!(!r.simulation);
    assert_eq!(r.report_data, rd);
    assert_eq!(r.body, snp_report(&rd), "the body is the raw SNP report (MEASUREMENT included)");
    assert_eq!(&r.body[0x90..0xC0], &SNP_MEASUREMENT);
    assert!(r.signature.is_empty());
    for e in fake.entries.lock().unwrap().iter() {
        assert!(!e.exists(), "report entry {} was removed", e.display());
    }
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn tsm_detects_a_concurrent_writer_by_generation() {
    let root = tsm_root();
    let fake = FakeTsm::new("sev_guest");
    let (keys, _) = snp_keys(1);
    let p = TsmPlatform::open_with_hook(&root, &root.join("data"), 1, keys, Some(fake.hook())).unwrap();
    // One race: retried in a fresh entry, and succeeds.
    fake.races.store(1, Ordering::SeqCst);
    let before = fake.inblobs.lock().unwrap().len();
    p.report(&[1; 64]).unwrap();
    assert_eq!(fake.inblobs.lock().unwrap().len(), before + 2, "retried once");
    // A writer that keeps racing: a clear error, not a report of unknown origin.
    fake.races.store(100, Ordering::SeqCst);
    let e = p.report(&[2; 64]).unwrap_err();
    assert!(matches!(e, PlatformError::Evidence(_)) && e.to_string().contains("generation"), "{e}");
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn snp_seal_keys_come_from_the_firmware_and_refuse_downgrade() {
    let root = tsm_root();
    let fake = FakeTsm::new("sev_guest");
    let data = root.join("data");
    let (keys, reqs) = snp_keys(1);
    let p = TsmPlatform::open_with_hook(&root, &data, 3, keys, Some(fake.hook())).unwrap();
    let req = reqs.lock().unwrap()[0];
    assert_eq!(req.root_key_select, 0, "VCEK root");
    assert_eq!(req.guest_field_select, FIELD_GUEST_POLICY | FIELD_MEASUREMENT, "bound to the launch measurement and policy");
    assert_eq!(req.vmpl, 0);
    let k = p.seal_key(3, b"store").unwrap();
    assert_ne!(*k, *p.seal_key(3, b"audit").unwrap());
    assert_ne!(*k, *p.seal_key(2, b"store").unwrap());
    assert!(matches!(p.seal_key(4, b"store"), Err(PlatformError::Downgrade { .. })));
    p.advance_counter(9).unwrap();
    drop(p);
    let (keys, _) = snp_keys(1);
    let p = TsmPlatform::open_with_hook(&root, &data, 4, keys, Some(fake.hook())).unwrap();
    assert_eq!(*k, *p.seal_key(3, b"store").unwrap(), "stable across restarts; a newer TA version derives the older version's key");
    assert_eq!(p.counter().unwrap(), 9, "counter survives reopen");
    drop(p);
    // Another chip: other keys, and it cannot accept this chip's counter file.
    let (keys, _) = snp_keys(2);
    let other = TsmPlatform::open_with_hook(&root, &data, 3, keys, Some(fake.hook())).unwrap();
    assert_ne!(*k, *other.seal_key(3, b"store").unwrap());
    assert!(matches!(other.counter(), Err(PlatformError::Counter(_))));
    drop(other);
    // Another guest image on the same chip (what a host could launch): other keys.
    let reqs = Arc::new(Mutex::new(Vec::new()));
    let other_image = TsmKeys::Snp(Box::new(FakeSnpKeys { chip_key: [1; 32], measurement: [0xEE; 48], requests: reqs, fail: false }));
    let p = TsmPlatform::open_with_hook(&root, &root.join("elsewhere"), 3, other_image, Some(fake.hook())).unwrap();
    assert_ne!(*k, *p.seal_key(3, b"store").unwrap());
    // No /dev/sev-guest: quotes still work, sealing says why it cannot.
    let failing = TsmKeys::Snp(Box::new(FakeSnpKeys { chip_key: [1; 32], measurement: SNP_MEASUREMENT, requests: Arc::default(), fail: true }));
    let p = TsmPlatform::open_with_hook(&root, &data, 3, failing, Some(fake.hook())).unwrap();
    assert!(p.report(&[3; 64]).is_ok());
    assert!(matches!(p.seal_key(3, b"store"), Err(PlatformError::Unavailable(_))));
    assert!(matches!(p.counter(), Err(PlatformError::Unavailable(_))));
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn tdx_quotes_work_and_sealing_is_refused_clearly() {
    let root = tsm_root();
    let fake = FakeTsm::new("tdx_guest");
    let (keys, reqs) = snp_keys(1);
    let p = TsmPlatform::open_with_hook(&root, &root.join("data"), 1, keys, Some(fake.hook())).unwrap();
    assert!(reqs.lock().unwrap().is_empty(), "no SNP key request on TDX");
    assert_eq!(p.provider(), TsmProvider::Tdx);
    assert_eq!(p.measurement(), sha256(&TDX_MRTD));
    assert_eq!(p.identity().signer, sha256(&TDX_MROWNER));
    let r = p.report(&[0x55; 64]).unwrap();
    assert_eq!(r.platform, "tdx");
    assert_eq!(r.body, tdx_quote(&[0x55; 64]));
    let e = p.seal_key(1, b"store").unwrap_err();
    assert!(matches!(e, PlatformError::Unavailable(_)) && e.to_string().contains("TDX"), "{e}");
    assert!(p.counter().is_err());
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn tsm_refuses_bad_evidence_and_missing_interfaces() {
    let root = tsm_root();
    let (keys, _) = snp_keys(1);
    // No configfs-tsm.
    let e = TsmPlatform::open(&root.join("nowhere"), &root, 1, keys).err().unwrap();
    assert!(matches!(e, PlatformError::Unavailable(_)) && e.to_string().contains("6.7"), "{e}");
    // An unknown provider, a truncated report, a report over other data.
    type MakeOutblob = fn(&[u8]) -> Vec<u8>;
    let cases: Vec<(&str, MakeOutblob)> = vec![
        ("arm_cca_guest", |rd| snp_report(rd)),
        ("sev_guest", |rd| snp_report(rd)[..SNP_REPORT_LEN - 1].to_vec()),
        ("sev_guest", |_| snp_report(&[0xFF; 64])),
        ("tdx_guest", |rd| tdx_quote(rd)[..600].to_vec()),
        ("tdx_guest", |_| b"garbage".to_vec()),
    ];
    for (provider, make) in cases {
        let hook: TsmHook = Arc::new(move |stage, entry: &Path| {
            if stage == TsmStage::AfterInblob {
                let inblob = fs::read(entry.join("inblob"))?;
                fs::write(entry.join("provider"), provider)?;
                fs::write(entry.join("generation"), "1")?;
                fs::write(entry.join("outblob"), make(&inblob))?;
            }
            Ok(())
        });
        let (keys, _) = snp_keys(1);
        let r = TsmPlatform::open_with_hook(&root, &root.join("data"), 1, keys, Some(hook));
        assert!(matches!(r, Err(PlatformError::Evidence(_)) | Err(PlatformError::Unavailable(_))), "{provider}: {:?}", r.err());
    }
    for n in [0, 10, 0x90, SNP_REPORT_LEN - 1] {
        assert!(parse_snp_report(&snp_report(&[0; 64])[..n]).is_err());
    }
    for n in [0, 47, 48 + 136, 48 + 583] {
        assert!(parse_tdx_quote(&tdx_quote(&[0; 64])[..n]).is_err());
    }
    let mut v1 = snp_report(&[0; 64]);
    v1[0] = 1;
    assert!(parse_snp_report(&v1).is_err());
    let mut sgx_as_tdx = tdx_quote(&[0; 64]);
    sgx_as_tdx[4] = 0;
    assert!(parse_tdx_quote(&sgx_as_tdx).is_err());
    let _ = fs::remove_dir_all(&root);
}

// ---------------------------------------------------------------- the real binary

#[test]
fn teehsm_ta_serves_attestation_from_a_fake_gramine() {
    use std::io::BufRead;
    let d = temp_dir("gramine-serve");
    gramine_tree(&d, &[0x42; 16], true, [0; 64]);
    let socket = d.join("ta.sock");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_teehsm-ta"))
        .arg("serve")
        .arg("--platform")
        .arg("gramine")
        .arg("--platform-root")
        .arg(&d)
        .arg("--socket")
        .arg(&socket)
        .arg("--data-dir")
        .arg(d.join("store"))
        .arg("--platform-dir")
        .arg(d.join("unused-sim-platform"))
        .env("TEEHSM_TA_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert!(line.starts_with("TEEHSM-TA READY"), "TA did not start: {line:?}");
        let mut c = teehsm_wire::client::Client::connect(&socket, "platform-test").unwrap();
        let info = match c.call(&teehsm_wire::Request::GetTaInfo).unwrap() {
            teehsm_wire::Reply::TaInfo(i) => i,
            other => panic!("{other:?}"),
        };
        assert_eq!(info.platform, "gramine-sgx");
        assert!(!info.simulation);
        assert_eq!(info.measurement, MRENCLAVE.to_vec());
        assert!(!info.self_tests.is_empty(), "self-tests ran before serving");
        let nonce = [0x3Cu8; 32];
        let r = match c.call(&teehsm_wire::Request::GetAttestation { nonce: nonce.to_vec() }).unwrap() {
            teehsm_wire::Reply::Attestation(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.platform, "gramine-sgx");
        assert!(!r.simulation);
        assert_eq!((r.measurement, r.signer, r.product_id), (MRENCLAVE, MRSIGNER, PRODID));
        assert_eq!(&r.report_data[..32], &nonce);
        assert_eq!(&r.report_data[32..], &sha256(&r.channel_public_key)[..]);
        let q = parse_sgx_quote(&r.body).unwrap();
        assert_eq!(q.report_data, r.report_data, "the quote inside binds nonce and channel key");
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(&d);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn platform_is_chosen_by_config_file_and_refused_clearly_when_absent() {
    let d = temp_dir("platform-config");
    let run = |config: &str| {
        let cfg = d.join("ta.toml");
        fs::write(&cfg, config).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_teehsm-ta"))
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .arg("--socket")
            .arg(d.join("ta.sock"))
            .arg("--data-dir")
            .arg(d.join("store"))
            .env("TEEHSM_TA_LOG_LEVEL", "error")
            .output()
            .unwrap()
    };
    let root = d.display().to_string();
    // configfs-tsm absent under this root: exit 2 (configuration) with the reason.
    let out = run(&format!("platform = \"tsm\"\nplatform_root = \"{root}\"\n"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("configfs-tsm") && err.contains("6.7"), "{err}");
    // Not under Gramine.
    let out = run(&format!("platform = \"gramine\"\nplatform_root = \"{root}\"\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Gramine-SGX"));
    // An unknown name.
    let out = run("platform = \"optee\"\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown platform"));
    let _ = fs::remove_dir_all(&d);
}
