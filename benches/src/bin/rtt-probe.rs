//! Round-trip cost through the stack: a request the TA answers without
//! crypto (GetSessionInfo) next to a one-shot P-256 signature, over one
//! client connection (client -> CA socket -> TA). The difference is what
//! the TA spends signing; the first figure is the floor every call pays.
//!
//! Run: `cargo build --release --bins && cargo run --release -p teehsm-benches --bin rtt-probe`
//! (`N` sets the calls per figure, default 100000; `TEEHSM_SPIN_US` the spin budget.)

use anyhow::Context;
use teehsm_benches::start_stack;
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::*;

fn main() -> anyhow::Result<()> {
    let bin = std::env::current_exe()?.parent().context("executable directory")?.to_path_buf();
    let stack = start_stack(&bin)?;
    let mut c = Client::connect(&stack.socket, "rtt-probe")?;
    let s = c.open_session(0, false)?;
    c.login(s, CKU_USER, b"123456")?;
    let (_, private) = teehsm_tests::gen_pair(&mut c, &teehsm_tests::p256_pair(s, "rtt-probe", false))?;
    let n: u32 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    println!("round trips over one connection, {n} calls each:");
    for (name, r) in [
        ("GetSessionInfo (no crypto)", Request::GetSessionInfo { session: s }),
        ("Sign, CKM_ECDSA P-256", Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA), key: private, data: vec![7; 32] }),
    ] {
        for _ in 0..1000 {
            c.call(&r)?;
        }
        let t = std::time::Instant::now();
        for _ in 0..n {
            c.call(&r)?;
        }
        println!("  {name:<28} {:>7.2} us per call", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    Ok(())
}
