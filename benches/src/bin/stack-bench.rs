//! Prints, in one run, ops/s for signing and decapsulation as a raw library
//! call and through the CA socket into the TA, with the ratio; and durable
//! token-key creation with concurrent clients.
//!
//! Run: `cargo run --release -p teehsm-benches --bin stack-bench` (see README).

use anyhow::{bail, Context};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use teehsm_benches::{measure, start_stack};
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::*;

#[derive(Parser)]
#[command(about = "teehsm stack benchmark: raw crypto vs CA socket -> TA")]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent threads per measurement (raw and stack alike).
    #[arg(long, default_value = "1,2")]
    threads: String,
    /// Concurrent clients for the durable key-creation measurement (at least 1).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    keygen_clients: u64,
    /// Directory of the teehsm binaries [default: next to this executable].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

fn session(socket: &Path) -> (Client, u64) {
    let mut c = Client::connect(socket, "bench").expect("connect");
    let s = c.open_session(0, true).expect("session");
    match c.login(s, CKU_USER, b"123456") {
        Ok(()) => {}
        Err(e) if e.rv() == Rv::USER_ALREADY_LOGGED_IN => {}
        Err(e) => panic!("login: {e}"),
    }
    (c, s)
}

fn pair(c: &mut Client, s: u64, mech: u64, public: Vec<Attribute>, private: Vec<Attribute>) -> (u64, u64) {
    let mut pubt = public;
    pubt.push(Attribute::bool(CKA_VERIFY, true));
    let mut privt = private;
    privt.push(Attribute::bool(CKA_SIGN, true));
    privt.push(Attribute::bool(CKA_TOKEN, true));
    pubt.push(Attribute::bool(CKA_TOKEN, true));
    match c.call(&Request::GenerateKeyPair { session: s, mechanism: Mechanism::new(mech), public_template: pubt, private_template: privt }) {
        Ok(Reply::KeyPair { public, private }) => (public, private),
        r => panic!("keygen: {r:?}"),
    }
}

struct Row {
    name: &'static str,
    threads: usize,
    raw: f64,
    stack: f64,
    target: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?.parent().context("exe dir")?.to_path_buf(),
    };
    let threads: Vec<usize> = args.threads.split(',').filter_map(|t| t.trim().parse().ok()).collect();
    let stack = start_stack(&bin_dir)?;
    let (mut c, s) = session(&stack.socket);
    let p256 = pair(
        &mut c,
        s,
        CKM_EC_KEY_PAIR_GEN,
        vec![Attribute::new(CKA_EC_PARAMS, vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])],
        vec![],
    )
    .1;
    let sm2k = pair(&mut c, s, CKM_SM2_KEY_PAIR_GEN, vec![], vec![]).1;
    let rsa = pair(&mut c, s, CKM_RSA_PKCS_KEY_PAIR_GEN, vec![Attribute::ulong(CKA_MODULUS_BITS, 2048)], vec![]).1;
    let mldsa = pair(&mut c, s, CKM_ML_DSA_KEY_PAIR_GEN, vec![Attribute::ulong(CKA_PARAMETER_SET, CKP_ML_DSA_65)], vec![]).1;
    let (mlkem_pub, mlkem_priv) = match c.call(&Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_ML_KEM_KEY_PAIR_GEN),
        public_template: vec![
            Attribute::ulong(CKA_PARAMETER_SET, CKP_ML_KEM_768),
            Attribute::bool(CKA_ENCAPSULATE, true),
            Attribute::bool(CKA_TOKEN, true),
        ],
        private_template: vec![Attribute::bool(CKA_DECAPSULATE, true), Attribute::bool(CKA_TOKEN, true)],
    })? {
        Reply::KeyPair { public, private } => (public, private),
        r => bail!("ML-KEM keygen: {r:?}"),
    };
    let secret_template = vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)];
    let ct = match c.call(&Request::Encapsulate {
        session: s,
        mechanism: Mechanism::new(CKM_ML_KEM),
        public_key: mlkem_pub,
        template: secret_template.clone(),
    })? {
        Reply::Encapsulated { ciphertext, .. } => ciphertext,
        r => bail!("encapsulate: {r:?}"),
    };

    // Raw keys: the same libraries the TA uses.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let raw_p256 = aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)?;
    let raw_rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
    let raw_mldsa = aws_lc_rs::signature::PqdsaKeyPair::generate(&aws_lc_rs::signature::ML_DSA_65_SIGNING)?;
    let raw_mlkem = aws_lc_rs::kem::DecapsulationKey::generate(&aws_lc_rs::kem::ML_KEM_768)?;
    let (raw_ct, _) = raw_mlkem.encapsulation_key()?.encapsulate()?;
    let raw_ct = raw_ct.as_ref().to_vec();
    let raw_sm2 = loop {
        let mut d = [0u8; 32];
        aws_lc_rs::rand::fill(&mut d)?;
        if let Ok(k) = sm2::dsa::SigningKey::from_slice("1234567812345678", &d) {
            break k;
        }
    };
    let msg = [0x5au8; 32];

    let secs = args.seconds;
    let mut rows = Vec::new();
    for &t in &threads {
        let stack_op = |mech: Mechanism, key: u64| {
            let socket = stack.socket.clone();
            move |_| {
                let (mut c, s) = session(&socket);
                let m = mech.clone();
                move || {
                    c.call_bytes(&Request::Sign { session: s, mechanism: m.clone(), key, data: msg.to_vec() }).expect("sign");
                }
            }
        };
        rows.push(Row {
            name: "P-256 ECDSA sign",
            threads: t,
            raw: measure(t, secs, |_| {
                || {
                    raw_p256.sign(&rng, &msg).expect("sign");
                }
            }),
            stack: measure(t, secs, stack_op(Mechanism::new(CKM_ECDSA_SHA256), p256)),
            target: Some(0.5),
        });
        rows.push(Row {
            name: "SM2 sign (SM3, default ID)",
            threads: t,
            raw: measure(t, secs, |_| {
                || {
                    use sm2::dsa::signature::Signer;
                    let _: sm2::dsa::Signature = raw_sm2.sign(&msg);
                }
            }),
            stack: measure(t, secs, stack_op(Mechanism::new(CKM_SM2_SM3), sm2k)),
            target: None,
        });
        rows.push(Row {
            name: "RSA-2048 PKCS#1 v1.5 sign",
            threads: t,
            raw: measure(t, secs, |_| {
                || {
                    let mut sig = vec![0u8; raw_rsa.public_modulus_len()];
                    raw_rsa.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig).expect("sign");
                }
            }),
            stack: measure(t, secs, stack_op(Mechanism::new(CKM_SHA256_RSA_PKCS), rsa)),
            target: Some(0.8),
        });
        rows.push(Row {
            name: "ML-DSA-65 sign",
            threads: t,
            raw: measure(t, secs, |_| {
                || {
                    let mut sig = vec![0u8; 3309];
                    raw_mldsa.sign(&msg, &mut sig).expect("sign");
                }
            }),
            stack: measure(t, secs, stack_op(Mechanism::new(CKM_ML_DSA), mldsa)),
            target: Some(0.8),
        });
        rows.push(Row {
            name: "ML-KEM-768 decapsulate",
            threads: t,
            raw: measure(t, secs, |_| {
                || {
                    raw_mlkem.decapsulate(aws_lc_rs::kem::Ciphertext::from(raw_ct.as_slice())).expect("decaps");
                }
            }),
            stack: measure(t, secs, |_| {
                let (mut c, s) = session(&stack.socket);
                let (ct, tpl) = (ct.clone(), secret_template.clone());
                move || {
                    let h = match c.call(&Request::Decapsulate {
                        session: s,
                        mechanism: Mechanism::new(CKM_ML_KEM),
                        private_key: mlkem_priv,
                        ciphertext: ct.clone(),
                        template: tpl.clone(),
                    }) {
                        Ok(Reply::Handle(h)) => h,
                        r => panic!("decapsulate: {r:?}"),
                    };
                    c.call_done(&Request::DestroyObject { session: s, object: h }).expect("destroy");
                }
            }),
            target: None,
        });
    }

    // Durable token key creation with concurrent clients (group commit).
    let created = AtomicU64::new(0);
    let keygen_secs = secs.max(3.0);
    let rate = measure(args.keygen_clients as usize, keygen_secs, |i| {
        let (mut c, s) = session(&stack.socket);
        let created = &created;
        let mut n = 0u64;
        move || {
            n += 1;
            let t = vec![
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_ENCRYPT, true),
                Attribute::new(CKA_LABEL, format!("bench-{i}-{n}").into_bytes()),
            ];
            c.call_handle(&Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t }).expect("keygen");
            created.fetch_add(1, Ordering::Relaxed);
        }
    });

    println!();
    println!("teehsm stack benchmark ({secs} s per cell; raw = same library in-process; stack = client -> CA socket -> TA process)");
    println!("{:<28} {:>7} {:>12} {:>12} {:>8} {:>8}", "operation", "threads", "raw ops/s", "stack ops/s", "ratio", "target");
    for r in &rows {
        let ratio = r.stack / r.raw;
        let target = match r.target {
            Some(t) => format!("{}{:.0}%", if ratio >= t { ">=" } else { "MISS " }, t * 100.0),
            None => "-".into(),
        };
        println!("{:<28} {:>7} {:>12.0} {:>12.0} {:>7.0}% {:>8}", r.name, r.threads, r.raw, r.stack, ratio * 100.0, target);
    }
    println!(
        "{:<28} {:>7} {:>12} {:>12.0} {:>8} {:>8}",
        "durable AES key creation",
        args.keygen_clients,
        "-",
        rate,
        "-",
        if rate >= 2000.0 { ">=2000/s" } else { "MISS 2000/s" }
    );
    println!("({} token keys created durably in the key-creation run)", created.load(Ordering::Relaxed));

    // C_FindObjects by label among all of them (the TA indexes CKA_LABEL).
    let (mut c, s) = session(&stack.socket);
    let finds = 2000u32;
    let start = std::time::Instant::now();
    for i in 0..finds {
        let label = format!("bench-{}-{}", i as usize % args.keygen_clients as usize, 1 + i % 100);
        let found = c.find(s, vec![Attribute::new(CKA_LABEL, label.into_bytes())])?;
        if found.len() != 1 {
            bail!("find by label found {} objects", found.len());
        }
    }
    let per = start.elapsed() / finds;
    println!(
        "find one token key by label among {} keys: {:.0} us per call (client -> TA round trip included)",
        created.load(Ordering::Relaxed),
        per.as_secs_f64() * 1e6
    );
    Ok(())
}
