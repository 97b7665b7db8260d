//! C_Sign throughput, side by side in one run: through teehsm's PKCS#11
//! module (module -> CA socket -> TA process), through SoftHSMv2 (Debian
//! `softhsm2`, in-process), and as the raw library call teehsm's TA makes.
//!
//! Run: `cargo build --release --bins -p teehsm-pkcs11 && cargo run --release -p teehsm-benches --bin pkcs11-bench`

use anyhow::Context;
use clap::Parser;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, MlDsaParameterSetType, ObjectHandle};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use teehsm_benches::{measure, start_stack};
use teehsm_tests::TempDir;

const CKM_SM2_KEY_PAIR_GEN: u64 = 0x8000_0B20;
const CKM_SM2_SM3: u64 = 0x8000_0B22;
const CKK_SM2: u64 = 0x8000_0B01;
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const SOFTHSM_PATHS: [&str; 2] = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"];

#[derive(Parser)]
#[command(about = "C_Sign ops/s: teehsm's PKCS#11 module vs SoftHSMv2 vs the raw library call")]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Thread counts to measure.
    #[arg(long, default_value = "1,2")]
    threads: String,
    /// Directory of the teehsm binaries and libteehsm_pkcs11.so [default: next to this executable].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// SoftHSMv2 module [default: Debian's path].
    #[arg(long)]
    softhsm: Option<PathBuf>,
    /// Token keys to create before timing find-by-label through teehsm's module (0: skip).
    #[arg(long, default_value_t = 10_000)]
    find_keys: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Alg {
    P256,
    Rsa2048,
    Sm2,
    MlDsa65,
}

impl Alg {
    const ALL: [Alg; 4] = [Alg::P256, Alg::Rsa2048, Alg::Sm2, Alg::MlDsa65];

    fn name(self) -> &'static str {
        match self {
            Alg::P256 => "P-256 ECDSA (32-byte digest)",
            Alg::Rsa2048 => "RSA-2048 PKCS#1 v1.5 (SHA-256)",
            Alg::Sm2 => "SM2 with SM3 (default ID)",
            Alg::MlDsa65 => "ML-DSA-65",
        }
    }
}

/// A PKCS#11 module with a logged-in token and one key pair per algorithm it supports.
struct Token {
    pkcs11: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    keys: Vec<(Alg, ObjectHandle)>,
}

fn vendor(mech: u64) -> Mechanism<'static> {
    Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(MechanismType::new_vendor_defined(mech).expect("vendor range"), None))
}

fn sign_mechanism(alg: Alg) -> Mechanism<'static> {
    match alg {
        // SoftHSMv2 2.6 offers only raw CKM_ECDSA; sign a 32-byte digest everywhere.
        Alg::P256 => Mechanism::Ecdsa,
        Alg::Rsa2048 => Mechanism::Sha256RsaPkcs,
        Alg::Sm2 => vendor(CKM_SM2_SM3),
        Alg::MlDsa65 => Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None)),
    }
}

impl Token {
    /// Loads `module`, uses (initializing if needed) the first token, logs in and makes the keys.
    fn open(module: &Path, so_pin: &str, user_pin: &str, init: bool) -> anyhow::Result<Token> {
        let pkcs11 = Pkcs11::new(module).with_context(|| format!("loading {}", module.display()))?;
        pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
        let slot = *pkcs11.get_slots_with_token()?.first().context("no slot with a token")?;
        let pin = AuthPin::new(user_pin.into());
        if init {
            pkcs11.init_token(slot, &AuthPin::new(so_pin.into()), "bench")?;
            let s = pkcs11.open_rw_session(slot)?;
            s.login(UserType::So, Some(&AuthPin::new(so_pin.into())))?;
            s.init_pin(&pin)?;
        }
        // Asked one by one: the cryptoki crate's mechanism list drops vendor-defined values.
        let offered = |m: &Mechanism| pkcs11.get_mechanism_info(slot, m.mechanism_type()).is_ok();
        let s = pkcs11.open_rw_session(slot)?;
        s.login(UserType::User, Some(&pin))?;
        let mut keys = Vec::new();
        for alg in Alg::ALL {
            let (gen, public, private): (Mechanism, Vec<Attribute>, Vec<Attribute>) = match alg {
                Alg::P256 => (Mechanism::EccKeyPairGen, vec![Attribute::EcParams(P256_OID.to_vec())], vec![]),
                Alg::Rsa2048 => {
                    (Mechanism::RsaPkcsKeyPairGen, vec![Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1])], vec![])
                }
                Alg::Sm2 => (vendor(CKM_SM2_KEY_PAIR_GEN), vec![], vec![Attribute::KeyType(KeyType::new_vendor_defined(CKK_SM2)?)]),
                Alg::MlDsa65 => (Mechanism::MlDsaKeyPairGen, vec![Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_65.into())], vec![]),
            };
            if !offered(&gen) || !offered(&sign_mechanism(alg)) {
                continue;
            }
            let mut public = public;
            public.extend([Attribute::Token(false), Attribute::Verify(true)]);
            let mut private = private;
            private.extend([Attribute::Token(false), Attribute::Sign(true), Attribute::Private(true), Attribute::Sensitive(true)]);
            match s.generate_key_pair(&gen, &public, &private) {
                Ok((_, k)) => keys.push((alg, k)),
                Err(e) => eprintln!("{}: key generation failed on {}: {e}", alg.name(), module.display()),
            }
        }
        // Session objects live as long as a session: keep this one open.
        std::mem::forget(s);
        Ok(Token { pkcs11, slot, pin, keys })
    }

    fn key(&self, alg: Alg) -> Option<ObjectHandle> {
        self.keys.iter().find(|(a, _)| *a == alg).map(|(_, k)| *k)
    }

    /// ops/s of C_Sign with `threads` threads, each in its own session.
    fn rate(&self, alg: Alg, threads: usize, secs: f64, msg: &[u8]) -> Option<f64> {
        let key = self.key(alg)?;
        Some(measure(threads, secs, |_| {
            let s = self.pkcs11.open_ro_session(self.slot).expect("session");
            match s.login(UserType::User, Some(&self.pin)) {
                Ok(()) | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => panic!("login: {e}"),
            }
            // CK_MECHANISM holds raw pointers (not Send): build it per call, as an application would.
            move || {
                s.sign(&sign_mechanism(alg), key, msg).expect("C_Sign");
            }
        }))
    }
}

/// The raw library calls the TA makes, in-process.
fn raw_rate(alg: Alg, threads: usize, secs: f64, msg: &[u8]) -> anyhow::Result<f64> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    Ok(match alg {
        Alg::P256 => {
            let k = aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)?;
            measure(threads, secs, |_| {
                || {
                    k.sign(&rng, msg).expect("sign");
                }
            })
        }
        Alg::Rsa2048 => {
            let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
            measure(threads, secs, |_| {
                || {
                    let mut sig = vec![0u8; k.public_modulus_len()];
                    k.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).expect("sign");
                }
            })
        }
        Alg::Sm2 => {
            let k = loop {
                let mut d = [0u8; 32];
                aws_lc_rs::rand::fill(&mut d)?;
                if let Ok(k) = sm2::dsa::SigningKey::from_slice("1234567812345678", &d) {
                    break k;
                }
            };
            measure(threads, secs, |_| {
                || {
                    use sm2::dsa::signature::Signer;
                    let _: sm2::dsa::Signature = k.sign(msg);
                }
            })
        }
        Alg::MlDsa65 => {
            let k = aws_lc_rs::signature::PqdsaKeyPair::generate(&aws_lc_rs::signature::ML_DSA_65_SIGNING)?;
            measure(threads, secs, |_| {
                || {
                    let mut sig = vec![0u8; 3309];
                    k.sign(msg, &mut sig).expect("sign");
                }
            })
        }
    })
}

/// Creates `n` AES token keys (8 threads), then times C_FindObjectsInit +
/// C_FindObjects + C_FindObjectsFinal by CKA_LABEL through the module.
fn find_by_label(t: &Token, n: usize) -> anyhow::Result<()> {
    use cryptoki::object::ObjectClass;
    let threads = 8;
    let start = std::time::Instant::now();
    std::thread::scope(|sc| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|th| {
                sc.spawn(move || -> anyhow::Result<()> {
                    let s = t.pkcs11.open_rw_session(t.slot)?;
                    match s.login(UserType::User, Some(&t.pin)) {
                        Ok(()) | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    for i in (th..n).step_by(threads) {
                        let template = [
                            Attribute::Token(true),
                            Attribute::ValueLen(16.into()),
                            Attribute::Encrypt(true),
                            Attribute::Label(format!("find-{i}").into_bytes()),
                        ];
                        s.generate_key(&Mechanism::AesKeyGen, &template)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("keygen thread panicked"))??;
        }
        Ok(())
    })?;
    let made = start.elapsed().as_secs_f64();
    let s = t.pkcs11.open_ro_session(t.slot)?;
    let mut lat = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < until {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let label = format!("find-{}", x as usize % n);
        let t0 = std::time::Instant::now();
        let found = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(label.into_bytes())])?;
        lat.push(t0.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(found.len() == 1, "find-by-label found {} objects", found.len());
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!();
    println!(
        "find-by-label through teehsm's module among {n} token keys (created in {made:.1} s, {:.0} durable keys/s with {threads} threads):",
        n as f64 / made
    );
    println!("  {} finds: p50 {:.0} us, p99 {:.0} us, max {:.0} us (target < 1000 us)", lat.len(), pct(0.5), pct(0.99), pct(1.0));
    Ok(())
}

fn fmt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "n/a".into())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?.parent().context("exe dir")?.to_path_buf(),
    };
    let module = bin_dir.join("libteehsm_pkcs11.so");
    if !module.exists() {
        eprintln!("{} not found (build it with `cargo build --release -p teehsm-pkcs11`): measuring SoftHSMv2 and raw only", module.display());
    }
    let softhsm = match &args.softhsm {
        Some(p) => p.clone(),
        None => SOFTHSM_PATHS.iter().map(PathBuf::from).find(|p| p.exists()).context("SoftHSMv2 not found: run ./scripts/install-deps.sh")?,
    };
    let threads: Vec<usize> = args.threads.split(',').filter_map(|t| t.trim().parse().ok()).collect();

    // teehsm: a fresh stack with a dev token; the module finds it by TEEHSM_PKCS11_SOCKET.
    let (stack, teehsm) = if module.exists() {
        let stack = start_stack(&bin_dir)?;
        std::env::set_var("TEEHSM_PKCS11_SOCKET", &stack.socket);
        let token = Token::open(&module, "12345678", "123456", false)?;
        (Some(stack), Some(token))
    } else {
        (None, None)
    };
    // SoftHSMv2: a private token directory.
    let dir = TempDir::new("softhsm-bench");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()))?;
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let soft = Token::open(&softhsm, "12345678", "123456", true)?;

    let msg = [0x5au8; 32];
    let secs = args.seconds;
    println!();
    println!("C_Sign ops/s, {secs} s per cell (teehsm = PKCS#11 module -> CA socket -> TA process; SoftHSMv2 = in-process; raw = the library call the TA makes)");
    println!("{:<32} {:>7} {:>10} {:>10} {:>10} {:>14} {:>12}", "operation", "threads", "raw", "teehsm", "SoftHSMv2", "teehsm/SoftHSM", "teehsm/raw");
    for &t in &threads {
        for alg in Alg::ALL {
            let raw = Some(raw_rate(alg, t, secs, &msg)?);
            let ours = teehsm.as_ref().and_then(|k| k.rate(alg, t, secs, &msg));
            let theirs = soft.rate(alg, t, secs, &msg);
            println!(
                "{:<32} {:>7} {:>10} {:>10} {:>10} {:>14} {:>12}",
                alg.name(),
                t,
                fmt(raw),
                fmt(ours),
                fmt(theirs),
                ratio(ours, theirs),
                ratio(ours, raw)
            );
        }
    }
    println!("n/a: the module does not offer the mechanism (SoftHSMv2 2.6 has no SM2 or ML-DSA).");
    println!("Target: P-256 through teehsm >= 2.00x SoftHSMv2.");
    if let (Some(t), true) = (&teehsm, args.find_keys > 0) {
        find_by_label(t, args.find_keys)?;
    }
    drop(stack);
    Ok(())
}
