//! Issue 5, part 1, end to end: `teehsm attest verify` against a real CA
//! service and its TA (the report travels through the untrusted CA), with
//! the sim platform's report key from `teehsm-ta platform report-key` as the
//! trust anchor. A permissive policy (allow_simulation, the TA's
//! measurement) passes; the default strict policy and a wrong measurement
//! are refused with a non-zero exit and a message saying why; a saved
//! report verifies offline for its own nonce only.

use std::path::Path;
use std::process::{Command, Output};
use teehsm_tests::*;
use teehsm_wire::*;

fn run(bin_name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(bin(bin_name));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap_or_else(|e| panic!("running {bin_name}: {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn teehsm_attest_verify_accepts_the_pinned_sim_ta_and_refuses_otherwise() {
    let ca = start_ca_dev_token();
    let work = TempDir::new("attest-cli");
    let dir = work.path();

    // What the policy pins: the measurement the TA reports about itself.
    let measurement = match connect(&ca.socket).call(&Request::GetTaInfo).expect("GetTaInfo") {
        Reply::TaInfo(i) => hex::encode(i.measurement),
        r => panic!("unexpected {r:?}"),
    };

    // The trust anchor: the sim platform's report key, as PEM and as hex.
    let platform_dir = ca.state_dir.join("platform");
    let pem = run("teehsm-ta", &[&"platform", &"report-key", &"--platform-dir", &platform_dir]);
    assert!(pem.status.success(), "{}", text(&pem));
    let pem_text = String::from_utf8(pem.stdout).unwrap();
    assert!(pem_text.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem_text}");
    let anchor = write(dir, "anchor.pem", &pem_text);
    let hex_out = run("teehsm-ta", &[&"platform", &"report-key", &"--platform-dir", &platform_dir, &"--format", &"hex"]);
    assert!(hex_out.status.success(), "{}", text(&hex_out));
    let anchor_hex = write(dir, "anchor.hex", &String::from_utf8(hex_out.stdout).unwrap());

    let permissive = write(dir, "permissive.toml", &format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n"));
    let strict = write(dir, "strict.toml", &format!("allowed_measurements = [\"{measurement}\"]\n"));
    let wrong = write(dir, "wrong.toml", &format!("allowed_measurements = [\"{}\"]\nallow_simulation = true\n", "ab".repeat(32)));

    // Permissive: verified, exit 0, with a summary.
    for a in [&anchor, &anchor_hex] {
        let o = run("teehsm", &[&"attest", &"verify", &"--socket", &ca.socket, &"--policy", &permissive, &"--trust-anchor", a]);
        let out = text(&o);
        assert!(o.status.success(), "verify should pass:\n{out}");
        assert!(out.contains("VERIFIED"), "{out}");
        assert!(out.contains("platform:         sim"), "{out}");
        assert!(out.contains(&measurement), "{out}");
        assert!(out.contains("security version: 1"), "{out}");
        assert!(out.contains("simulation:       yes"), "{out}");
    }

    // Default strict policy: a simulation report is refused.
    let o = run("teehsm", &[&"attest", &"verify", &"--socket", &ca.socket, &"--policy", &strict, &"--trust-anchor", &anchor]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("REFUSED") && out.contains("simulated TEE") && out.contains("allow_simulation = false"), "{out}");

    // A measurement the policy does not list.
    let o = run("teehsm", &[&"attest", &"verify", &"--socket", &ca.socket, &"--policy", &wrong, &"--trust-anchor", &anchor]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("REFUSED") && out.contains(&measurement) && out.contains("allowed_measurements"), "{out}");

    // Fetch, then verify offline: with the nonce it was made for, and (replay) with another.
    let report = dir.join("report.bin");
    let o = run("teehsm", &[&"attest", &"fetch", &"--socket", &ca.socket, &"--out", &report]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let nonce = out.lines().find_map(|l| l.strip_prefix("nonce: ")).expect("fetch prints the nonce").trim().to_string();
    assert_eq!(nonce.len(), 64);
    let o = run("teehsm", &[&"attest", &"verify", &"--report", &report, &"--nonce", &nonce, &"--policy", &permissive, &"--trust-anchor", &anchor]);
    assert!(o.status.success(), "{}", text(&o));
    let other_nonce = "00".repeat(32);
    let o =
        run("teehsm", &[&"attest", &"verify", &"--report", &report, &"--nonce", &other_nonce, &"--policy", &permissive, &"--trust-anchor", &anchor]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("replayed"), "{out}");

    // A tampered report file fails the signature check.
    let mut bytes = std::fs::read(&report).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let tampered = dir.join("tampered.bin");
    std::fs::write(&tampered, &bytes).unwrap();
    let o = run("teehsm", &[&"attest", &"verify", &"--report", &tampered, &"--nonce", &nonce, &"--policy", &permissive, &"--trust-anchor", &anchor]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));

    // Usage and file errors exit 2, not 0 or 1.
    let o = run("teehsm", &[&"attest", &"verify", &"--socket", &ca.socket, &"--policy", &dir.join("missing.toml"), &"--trust-anchor", &anchor]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
