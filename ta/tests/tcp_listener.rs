//! `teehsm-ta serve --listen-tcp`: the TA protocol over TCP (for TEEs whose
//! Unix sockets the host cannot reach, e.g. Gramine-SGX), and the refusal of
//! a non-loopback address unless the attested channel is required.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::stream::Endpoint;
use teehsm_wire::{Reply, Request, Rv};

const TA: &str = env!("CARGO_BIN_EXE_teehsm-ta");

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("teehsm-ta-tcp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn serve(d: &std::path::Path, extra: &[&str]) -> Command {
    let mut c = Command::new(TA);
    c.arg("serve")
        .arg("--data-dir")
        .arg(d.join("store"))
        .arg("--platform-dir")
        .arg(d.join("platform"))
        .args(extra)
        .env_remove("TEEHSM_TA_CONFIG")
        .env_remove("TEEHSM_TA_SOCKET")
        .env_remove("TEEHSM_TA_LISTEN_TCP")
        .env_remove("TEEHSM_TA_REQUIRE_CHANNEL")
        .env("TEEHSM_TA_LOG_LEVEL", "error");
    c
}

/// Starts the TA and returns it with its READY line.
fn start(d: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut child = serve(d, extra).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line.trim_end().to_string())
}

/// SIGTERM, then a bounded wait for the exit code.
fn stop(mut child: Child) -> Option<i32> {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the TA did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tcp_of(ready: &str) -> String {
    ready.split_whitespace().find_map(|w| w.strip_prefix("tcp=")).unwrap_or_else(|| panic!("no tcp= on {ready:?}")).to_string()
}

#[test]
fn serves_on_loopback_tcp_only_and_stops_on_sigterm() {
    let d = temp_dir("loopback");
    let (child, ready) = start(&d, &["--listen-tcp", "127.0.0.1:0"]);
    let r = std::panic::catch_unwind(|| {
        assert!(ready.starts_with("TEEHSM-TA READY tcp=127.0.0.1:"), "{ready:?}");
        assert!(!ready.contains("socket="), "no Unix socket without --socket: {ready:?}");
        assert!(!d.join(".teehsm").exists());
        let ep = Endpoint::Tcp(tcp_of(&ready));
        let mut c = Client::connect_endpoint(&ep, "tcp-test").expect("Hello over TCP");
        for _ in 0..20 {
            match c.call(&Request::GetTaInfo).expect("GetTaInfo over TCP") {
                Reply::TaInfo(i) => assert!(!i.self_tests.is_empty()),
                other => panic!("{other:?}"),
            }
        }
    });
    assert_eq!(stop(child), Some(0), "SIGTERM wakes the TCP accept loop");
    let _ = std::fs::remove_dir_all(&d);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn unix_socket_and_tcp_together() {
    let d = temp_dir("both");
    let sock = d.join("ta.sock");
    let (child, ready) = start(&d, &["--socket", sock.to_str().unwrap(), "--listen-tcp", "127.0.0.1:0"]);
    let r = std::panic::catch_unwind(|| {
        assert!(ready.contains(&format!("socket={}", sock.display())) && ready.contains(" tcp=127.0.0.1:"), "{ready:?}");
        Client::connect(&sock, "unix").expect("Hello on the Unix socket").call(&Request::GetTaInfo).unwrap();
        Client::connect_endpoint(&Endpoint::Tcp(tcp_of(&ready)), "tcp").expect("Hello on TCP").call(&Request::GetTaInfo).unwrap();
    });
    assert_eq!(stop(child), Some(0));
    assert!(!sock.exists(), "socket removed on exit");
    let _ = std::fs::remove_dir_all(&d);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// The TA stops on SIGTERM even when its sockets' paths are gone (a
/// supervisor whose state directory was removed under it): the listening
/// sockets are shut down, not connected to by path.
#[test]
fn stops_on_sigterm_after_its_socket_paths_were_removed() {
    let d = temp_dir("gone");
    let sock = d.join("ta.sock");
    let handoff = d.join("ta-handoff.sock");
    let (child, ready) =
        start(&d, &["--socket", sock.to_str().unwrap(), "--handoff-socket", handoff.to_str().unwrap(), "--listen-tcp", "127.0.0.1:0"]);
    assert!(ready.contains("socket="), "{ready:?}");
    Client::connect(&sock, "before").expect("Hello on the Unix socket").call(&Request::GetTaInfo).unwrap();
    std::fs::remove_file(&sock).unwrap();
    std::fs::remove_file(&handoff).unwrap();
    assert_eq!(stop(child), Some(0), "SIGTERM stops a TA whose socket files were deleted");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn non_loopback_address_needs_require_channel() {
    let d = temp_dir("nonloop");
    // Flag, environment and file all go through the same check.
    let out = serve(&d, &["--listen-tcp", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address") && err.contains("require_channel"), "{err}");
    let out = serve(&d, &[]).env("TEEHSM_TA_LISTEN_TCP", "0.0.0.0:0").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = d.join("ta.toml");
    std::fs::write(&cfg, "listen_tcp = \"0.0.0.0:0\"\nrequire_channel = false\n").unwrap();
    let out = serve(&d, &["--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = serve(&d, &["--listen-tcp", "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_tcp"));

    // With the attested channel required it listens, and refuses plain Hello.
    let (child, ready) = start(&d, &["--listen-tcp", "0.0.0.0:0", "--require-channel", "true"]);
    let r = std::panic::catch_unwind(|| {
        let port = tcp_of(&ready).rsplit(':').next().unwrap().to_string();
        match Client::connect_endpoint(&Endpoint::Tcp(format!("127.0.0.1:{port}")), "plain") {
            Err(CallError::Status { rv, .. }) => assert_eq!(rv, Rv::TEEHSM_NO_HELLO),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a plain Hello was served on a non-loopback listener"),
        }
    });
    assert_eq!(stop(child), Some(0));
    let _ = std::fs::remove_dir_all(&d);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}
