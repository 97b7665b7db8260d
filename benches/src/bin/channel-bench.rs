//! P-256 (ECDSA-SHA256) signing through the CA socket into the TA, over a
//! plain connection and over the attested end-to-end channel, in the same
//! run; prints ops/s of each and the channel's overhead (issue 5 acceptance:
//! at most 15 %). Rounds alternate between the two so that drift on a shared
//! machine hits both alike.
//!
//! Run: `cargo run --release -p teehsm-benches --bin channel-bench`.

use anyhow::{bail, Context};
use clap::Parser;
use std::path::PathBuf;
use teehsm_attest::{Policy, TrustAnchor};
use teehsm_benches::{measure, start_stack};
use teehsm_channel::{SecureClient, Verifier};
use teehsm_wire::ck::*;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::*;

#[derive(Parser)]
#[command(about = "teehsm channel benchmark: P-256 sign, plain vs attested channel")]
struct Args {
    /// Seconds per round (per mode).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Rounds per mode, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Directory of the teehsm binaries [default: next to this executable].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// Sets up a session with a P-256 key over any transport; returns (session, private key).
fn setup(call: &mut dyn FnMut(&Request) -> Result<Reply, CallError>) -> (u64, u64) {
    let s = match call(&Request::OpenSession { slot: 0, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION }) {
        Ok(Reply::Handle(h)) => h,
        r => panic!("OpenSession: {r:?}"),
    };
    call(&Request::Login { session: s, user_type: CKU_USER, pin: Secret(b"123456".to_vec()) }).expect("login");
    let params = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let req = Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
        public_template: vec![Attribute::new(CKA_EC_PARAMS, params), Attribute::bool(CKA_VERIFY, true)],
        private_template: vec![Attribute::bool(CKA_SIGN, true)],
    };
    match call(&req) {
        Ok(Reply::KeyPair { private, .. }) => (s, private),
        r => panic!("GenerateKeyPair: {r:?}"),
    }
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let bin_dir = match a.bin_dir {
        Some(d) => d,
        None => std::env::current_exe()?.parent().context("executable directory")?.to_path_buf(),
    };
    let stack = start_stack(&bin_dir)?;
    let platform_dir = stack.socket.parent().context("state dir")?.join("platform");
    let out = std::process::Command::new(bin_dir.join("teehsm-ta"))
        .args(["platform", "report-key", "--format", "hex", "--platform-dir"])
        .arg(&platform_dir)
        .output()
        .context("teehsm-ta platform report-key")?;
    if !out.status.success() {
        bail!("report-key: {}", String::from_utf8_lossy(&out.stderr));
    }
    let anchor = TrustAnchor::parse_sim(&String::from_utf8_lossy(&out.stdout))?;
    let mut plain = Client::connect(&stack.socket, "bench-plain")?;
    let measurement: String = match plain.call(&Request::GetTaInfo)? {
        Reply::TaInfo(i) => i.measurement.iter().map(|b| format!("{b:02x}")).collect(),
        r => bail!("GetTaInfo: {r:?}"),
    };
    let policy = Policy::parse(&format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n"))?;
    let v = Verifier::new(anchor, policy);
    let mut secure = SecureClient::connect(&stack.socket, "bench-channel", &v)?;
    let (ps, pk) = setup(&mut |r| plain.call(r));
    let (ss, sk) = setup(&mut |r| secure.call(r));
    let sign = |s: u64, k: u64| Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: k, data: vec![0x5a; 32] };
    let (preq, sreq) = (sign(ps, pk), sign(ss, sk));
    let plain = std::sync::Mutex::new(plain);
    let secure = std::sync::Mutex::new(secure);
    let (mut p_total, mut s_total) = (0.0, 0.0);
    println!("{:>5} {:>12} {:>12} {:>9}", "round", "plain op/s", "channel op/s", "overhead");
    for round in 1..=a.rounds {
        let p = measure(1, a.seconds, |_| {
            let (c, preq) = (&plain, preq.clone());
            move || {
                c.lock().unwrap().call(&preq).expect("plain sign");
            }
        });
        let s = measure(1, a.seconds, |_| {
            let (c, sreq) = (&secure, sreq.clone());
            move || {
                c.lock().unwrap().call(&sreq).expect("channel sign");
            }
        });
        println!("{round:>5} {p:>12.0} {s:>12.0} {:>8.1}%", (p / s - 1.0) * 100.0);
        p_total += p;
        s_total += s;
    }
    println!(
        "P-256 sign, 1 thread: plain {:.0} op/s, channel {:.0} op/s, channel overhead {:.1}% (acceptance: <= 15%)",
        p_total / a.rounds as f64,
        s_total / a.rounds as f64,
        (p_total / s_total - 1.0) * 100.0
    );
    Ok(())
}
