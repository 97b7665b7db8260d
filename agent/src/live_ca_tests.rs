//! One test against a real `teehsm-ca` (which starts its TA): the agent's
//! parsers read its `/healthz` and `/metrics`, and procstat samples the CA
//! and the TA it names. Skipped (passes with a note) when the binaries are
//! not built: `cargo build -p teehsm-ca -p teehsm-ta`.

use crate::ca_health::{parse_healthz, HealthStatus};
use crate::procstat::{CpuSampler, ProcError, ProcFs};
use crate::scrape::{rates, token_usage, CaMetrics};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// The CA child: SIGTERM (by pid, through kill(1)) and reaped on drop.
struct Ca {
    child: Child,
    dir: PathBuf,
}

impl Drop for Ca {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plain HTTP/1.1 GET; returns (status code, body).
fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, body.to_string()))
}

#[test]
fn real_ca_healthz_metrics_and_processes() {
    let bins = bin_dir();
    let (ca_bin, ta_bin) = (bins.join("teehsm-ca"), bins.join("teehsm-ta"));
    if !ca_bin.exists() || !ta_bin.exists() {
        eprintln!("skipped: {} or {} not built", ca_bin.display(), ta_bin.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("teehsm-agent-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("state");
    let child = Command::new(&ca_bin)
        .arg("--state-dir")
        .arg(&state)
        .arg("--init-dev-token")
        .arg("--http-listen")
        .arg("127.0.0.1:0")
        .env("TEEHSM_CA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut ca = Ca { child, dir };
    let ca_pid = ca.child.id();

    // Wait for the TA to run and the token count to be exported.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (addr, health, metrics_text) = loop {
        assert!(ca.child.try_wait().unwrap().is_none(), "teehsm-ca exited during start-up");
        assert!(Instant::now() < deadline, "teehsm-ca did not become healthy in 90 s");
        std::thread::sleep(Duration::from_millis(100));
        let Ok(addr) = std::fs::read_to_string(state.join("http.addr")) else { continue };
        let addr = addr.trim().to_string();
        let Ok((code, body)) = get(&addr, "/healthz") else { continue };
        let h = parse_healthz(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(code == 200, h.status == HealthStatus::Ok, "{code} {body}");
        if h.status != HealthStatus::Ok {
            continue;
        }
        let (code, text) = get(&addr, "/metrics").unwrap();
        assert_eq!(code, 200);
        if text.contains("teehsm_token_objects{") {
            break (addr, h, text);
        }
    };
    assert_eq!(health.ta_phase, "running");
    let ta_pid = health.ta_pid.expect("a running TA has a pid");
    assert_ne!(ta_pid, ca_pid);

    let m1 = CaMetrics::parse(&metrics_text).unwrap();
    assert_eq!(m1.ca.get("teehsm_ca_ta_up"), Some(&1.0), "{metrics_text}");
    assert!(m1.ca.contains_key("teehsm_ca_relayed_requests_total"), "{metrics_text}");
    assert!(m1.token_objects.contains_key(&0), "{metrics_text}");
    let usage = token_usage(&m1, &BTreeMap::from([(0, 1000)]));
    assert_eq!(usage[0].capacity, Some(1000));
    // Without an override: the TA's default max_token_objects and the dev token's label.
    let usage = token_usage(&m1, &BTreeMap::new());
    assert_eq!((usage[0].capacity, usage[0].label.as_str()), (Some(100_000), "dev-token"), "{metrics_text}");

    // The TA's attestation report over our nonce, through the CA socket.
    let nonce = [7u8; teehsm_wire::ATTESTATION_NONCE_LEN];
    let report = crate::attestation::fetch_report(&state.join("ca.sock"), &nonce).unwrap();
    assert_eq!(&report.report_data[..32], &nonce[..], "the report answers our nonce");
    let (_, id) = crate::attestation::fetch(&state.join("ca.sock"), &nonce).unwrap();
    assert_eq!(id.version, env!("CARGO_PKG_VERSION"), "the TA's own version");
    assert_eq!((id.platform.as_str(), id.simulation), ("sim", true));
    assert_eq!((id.measurement.len(), id.channel_key_sha256.len()), (64, 64));
    assert_eq!(hex::decode(&id.channel_key_sha256).unwrap(), report.report_data[32..].to_vec(), "the report binds this channel key");
    assert!(matches!(crate::attestation::fetch_report(&state.join("ca.sock"), &[1, 2]), Err(crate::attestation::AttestationError::BadNonce(2))));
    assert!(crate::attestation::fetch_report(&state.join("absent.sock"), &nonce).is_err());

    // The TA and CA processes, sampled twice.
    let fs = ProcFs::default();
    let (mut ta_cpu, mut ca_cpu) = (CpuSampler::new(), CpuSampler::new());
    let ta1 = fs.sample(ta_pid).unwrap();
    let ta_start = ta1.starttime;
    assert!(ta1.comm.starts_with("teehsm-ta"), "{:?}", ta1.comm);
    assert!(ta1.rss_bytes.unwrap() > 0);
    assert!(fs.sample(ca_pid).unwrap().rss_bytes.unwrap() > 0);
    ta_cpu.update(ta1);
    ca_cpu.update(fs.sample(ca_pid).unwrap());
    let t1 = Instant::now();
    // Scrapes make the CA (and the TA, for token counts) do some work.
    for _ in 0..20 {
        get(&addr, "/metrics").unwrap();
        std::thread::sleep(Duration::from_millis(25));
    }
    let (_, text2) = get(&addr, "/metrics").unwrap();
    let m2 = CaMetrics::parse(&text2).unwrap();
    let r = rates(&m1, &m2, t1.elapsed().as_secs_f64()).unwrap();
    assert_eq!(r.overall.ops_per_sec, 0.0, "no gRPC traffic");
    assert!(r.ca_counters_per_sec.contains_key("teehsm_ca_ta_restarts_total"), "{r:?}");
    let ta_use = ta_cpu.update(fs.sample(ta_pid).unwrap()).expect("machine ticks moved");
    let ca_use = ca_cpu.update(fs.sample(ca_pid).unwrap()).expect("machine ticks moved");
    for u in [ta_use, ca_use] {
        assert!(u.percent_of_machine >= 0.0 && u.percent_of_machine <= 100.0, "{u:?}");
    }

    // Stopping the CA stops its TA: both are gone for procstat.
    drop(ca);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match fs.sample(ta_pid) {
            Err(ProcError::Gone { .. }) => break,
            // Reused pid: another process.
            Ok(s) if s.starttime != ta_start => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the TA outlived its CA");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(matches!(fs.sample(ca_pid), Err(ProcError::Gone { .. })));
}
