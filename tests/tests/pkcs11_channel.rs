//! Issue 5, part 2, for the PKCS#11 module: with an attestation policy and a
//! trust anchor configured, libteehsm_pkcs11.so opens an attested channel
//! (docs/channel.md) for every pooled connection, so PINs and imported keys
//! never cross the CA service in the clear.
//!
//! 1. With a policy that accepts the sim TA (allow_simulation, its
//!    measurement) and the sim platform's report key as trust anchor, the
//!    module works: login, key generation, signing; the TA's audit log shows
//!    the channels. The same from the module's TOML file.
//! 2. With the default strict policy (simulation refused), the first call
//!    that needs the TA returns CKR_DEVICE_ERROR and the module logs the
//!    verifier's reason.
//!    After a TA restart (new channel keys), the old sessions are invalid and
//!    new ones work over new channels.
//! 3. Half a configuration (only one of the two), or a policy / anchor that
//!    cannot be read or parsed: C_Initialize returns CKR_GENERAL_ERROR and
//!    the log names the problem.
//! 4. Memory scrape through the module: with the CA relaying frames, the
//!    module changes the user PIN to a distinctive one, logs in with it and
//!    imports a distinctive AES key (C_CreateObject); neither byte string is
//!    in the CA's memory. With the channel switched off (plain
//!    configuration), the same steps leave both there.
//!
//! Module configuration is process-wide (environment, C_Initialize), so each
//! case runs in a child process (this binary re-run with `--exact child_*
//! --ignored`). Needs the binaries and the module: `cargo build --bins -p
//! teehsm-pkcs11`, and the OpenSSL CLI.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use teehsm_tests::der::P256_OID;
use teehsm_tests::scrape::{random_bytes, scrape};
use teehsm_tests::*;
use teehsm_wire::{Reply, Request};

const SOCKET_ENV: &str = "TEEHSM_PKCS11_SOCKET";
const CONF_ENV: &str = "TEEHSM_PKCS11_CONF";
const POLICY_ENV: &str = "TEEHSM_PKCS11_ATTESTATION_POLICY";
const ANCHOR_ENV: &str = "TEEHSM_PKCS11_TRUST_ANCHOR";
const LOG_ENV: &str = "TEEHSM_PKCS11_LOG";
const MSG: &[u8] = b"signed by the module through the attested channel";

// ------------------------------------------------------------ helpers

/// The files the module's channel configuration names.
struct ChannelFiles {
    /// The sim platform's report key (PEM), from `teehsm-ta platform report-key`.
    anchor: PathBuf,
    /// The TA's measurement, simulation allowed.
    permissive: PathBuf,
    /// The TA's measurement, simulation refused (the default).
    strict: PathBuf,
}

fn channel_files(ca: &CaProcess, dir: &Path) -> ChannelFiles {
    let anchor_pem = sim_report_key(&ca.state_dir.join("platform"), "pem");
    let measurement = match connect(&ca.socket).call(&Request::GetTaInfo).expect("GetTaInfo") {
        Reply::TaInfo(i) => hex::encode(i.measurement),
        r => panic!("unexpected {r:?}"),
    };
    let write = |name: &str, text: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write a channel configuration file");
        p
    };
    ChannelFiles {
        anchor: write("anchor.pem", anchor_pem.as_bytes()),
        permissive: write("permissive.toml", format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n").as_bytes()),
        strict: write("strict.toml", format!("allowed_measurements = [\"{measurement}\"]\n").as_bytes()),
    }
}

/// Runs `child` (an ignored test of this binary) in a new process with the
/// given environment changes (every module variable not set is removed),
/// checks that it ran and passed within 3 minutes, and returns its stderr
/// (where the module logs).
fn run_child(child: &str, set: &[(&str, &OsStr)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([child, "--exact", "--ignored", "--nocapture", "--test-threads=1"]).env("TEEHSM_TEST_CHILD", "1");
    for k in [SOCKET_ENV, CONF_ENV, POLICY_ENV, ANCHOR_ENV, LOG_ENV] {
        cmd.env_remove(k);
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    let dir = TempDir::new("p11-chan-child");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdout(Stdio::from(std::fs::File::create(&out_path).expect("stdout file")));
    cmd.stderr(Stdio::from(std::fs::File::create(&err_path).expect("stderr file")));
    let mut proc = cmd.spawn().expect("re-run the test binary");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = proc.try_wait().expect("wait for the child test") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = proc.kill();
            let _ = proc.wait();
            panic!("child test {child} did not finish in 180 s:\n{}", std::fs::read_to_string(&err_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success() && stdout.contains("1 passed"), "child test {child} failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    stderr
}

fn in_child() -> bool {
    std::env::var_os("TEEHSM_TEST_CHILD").is_some()
}

/// Waits (up to 10 s; the TA writes its audit log at least every 100 ms)
/// until the TA's audit log has at least `min` `OpenChannel` events, and
/// returns how many it has.
fn open_channel_events(ca: &CaProcess, min: usize) -> usize {
    let log = ca.state_dir.join("ta-data").join("audit.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = std::fs::read_to_string(&log).unwrap_or_default().lines().filter(|l| l.contains("\"OpenChannel\"")).count();
        if n >= min || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn load_module() -> Pkcs11 {
    let pkcs11 = Pkcs11::new(pkcs11_module()).expect("load libteehsm_pkcs11.so");
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    pkcs11
}

fn pin(p: &[u8]) -> AuthPin {
    AuthPin::new(String::from_utf8_lossy(p).into_owned().into())
}

// ------------------------------------------------------------ 1 and 2

#[test]
fn the_module_works_through_the_channel_and_refuses_a_ta_its_policy_refuses() {
    let t0 = Instant::now();
    let ca = start_ca_dev_token();
    let dir = TempDir::new("p11-chan");
    let f = channel_files(&ca, dir.path());
    let sock = ca.socket.as_os_str();
    assert_eq!(open_channel_events(&ca, 0), 0, "no channel before the module runs");

    // From the environment.
    run_child("child_sign_through_channel", &[(SOCKET_ENV, sock), (POLICY_ENV, f.permissive.as_os_str()), (ANCHOR_ENV, f.anchor.as_os_str())]);
    let after_env = open_channel_events(&ca, 1);
    assert!(after_env >= 1, "the module's connections were not attested channels (no OpenChannel in the TA's audit log)");

    // From the module's TOML file.
    let conf = dir.path().join("pkcs11.toml");
    let text = format!(
        "socket = \"{}\"\nattestation_policy = \"{}\"\ntrust_anchor = \"{}\"\n",
        ca.socket.display(),
        f.permissive.display(),
        f.anchor.display()
    );
    std::fs::write(&conf, text).unwrap();
    run_child("child_sign_through_channel", &[(CONF_ENV, conf.as_os_str())]);
    assert!(open_channel_events(&ca, after_env + 1) > after_env, "the file's channel configuration was not used");

    // The default strict policy refuses the sim TA: no connection, CKR_DEVICE_ERROR, the reason logged.
    let stderr = run_child("child_policy_refuses", &[(SOCKET_ENV, sock), (POLICY_ENV, f.strict.as_os_str()), (ANCHOR_ENV, f.anchor.as_os_str())]);
    assert!(stderr.contains("attestation refused"), "{stderr}");
    assert!(stderr.contains("simulated TEE") && stderr.contains("allow_simulation = false"), "{stderr}");
    assert!(stderr.contains(&f.strict.display().to_string()), "the log does not name the policy: {stderr}");
    // The environment wins over the file: the file's permissive policy is not used.
    let stderr = run_child("child_policy_refuses", &[(CONF_ENV, conf.as_os_str()), (POLICY_ENV, f.strict.as_os_str())]);
    assert!(stderr.contains("attestation refused"), "{stderr}");
    assert!(t0.elapsed() < Duration::from_secs(300), "took {:?}", t0.elapsed());
}

#[test]
#[ignore = "run in a child process by the_module_works_through_the_channel_and_refuses_a_ta_its_policy_refuses"]
fn child_sign_through_channel() {
    if !in_child() {
        return;
    }
    let pkcs11 = load_module();
    let slot = *pkcs11.get_slots_with_token().expect("C_GetSlotList").first().expect("the dev token's slot");
    assert_eq!(pkcs11.get_token_info(slot).expect("C_GetTokenInfo").label().trim_end(), DEV_TOKEN_LABEL);
    let s = pkcs11.open_rw_session(slot).expect("C_OpenSession");
    assert!(matches!(s.login(UserType::User, Some(&pin(b"wrong-pin"))), Err(Error::Pkcs11(RvError::PinIncorrect, _))));
    s.login(UserType::User, Some(&pin(USER_PIN))).expect("C_Login through the channel");
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::Token(false), Attribute::Verify(true), Attribute::EcParams(P256_OID.to_vec())],
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::Sensitive(true)],
        )
        .expect("C_GenerateKeyPair");
    // Several threads: each pooled connection is its own channel, all in one application.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let t = pkcs11.open_ro_session(slot).expect("C_OpenSession in a thread");
                for _ in 0..10 {
                    let sig = t.sign(&Mechanism::EcdsaSha256, private, MSG).expect("C_Sign");
                    t.verify(&Mechanism::EcdsaSha256, public, MSG, &sig).expect("C_Verify");
                }
            });
        }
    });
    let sig = s.sign(&Mechanism::EcdsaSha256, private, MSG).expect("C_Sign");
    assert_eq!(sig.len(), 64);
    s.verify(&Mechanism::EcdsaSha256, public, MSG, &sig).expect("C_Verify");
    s.logout().expect("C_Logout");
    drop(s);
    pkcs11.finalize().expect("C_Finalize");
}

#[test]
#[ignore = "run in a child process by the_module_works_through_the_channel_and_refuses_a_ta_its_policy_refuses"]
fn child_policy_refuses() {
    if !in_child() {
        return;
    }
    let pkcs11 = load_module();
    match pkcs11.get_slots_with_token() {
        Err(Error::Pkcs11(RvError::DeviceError, _)) => {}
        other => panic!("C_GetSlotList with a refused report: {other:?}"),
    }
    match pkcs11.open_rw_session(cryptoki::slot::Slot::try_from(0u64).expect("slot 0")) {
        Err(Error::Pkcs11(RvError::DeviceError, _)) => {}
        other => panic!("C_OpenSession with a refused report: {:?}", other.map(|_| ())),
    }
    pkcs11.get_library_info().expect("C_GetInfo needs no TA");
    pkcs11.finalize().expect("C_Finalize");
}

#[test]
fn a_ta_restart_through_the_channel_invalidates_sessions_and_recovers() {
    let ca = start_ca_dev_token();
    let dir = TempDir::new("p11-chan-restart");
    let f = channel_files(&ca, dir.path());
    let pid = ca.pid().to_string();
    run_child(
        "child_ta_restart_through_channel",
        &[
            (SOCKET_ENV, ca.socket.as_os_str()),
            (POLICY_ENV, f.permissive.as_os_str()),
            (ANCHOR_ENV, f.anchor.as_os_str()),
            ("TEEHSM_TEST_CA_PID", OsStr::new(&pid)),
        ],
    );
}

#[test]
#[ignore = "run in a child process by a_ta_restart_through_the_channel_invalidates_sessions_and_recovers"]
fn child_ta_restart_through_channel() {
    if !in_child() {
        return;
    }
    let ca: i32 = std::env::var("TEEHSM_TEST_CA_PID").expect("TEEHSM_TEST_CA_PID").parse().expect("a pid");
    let socket = PathBuf::from(std::env::var_os(SOCKET_ENV).expect("TEEHSM_PKCS11_SOCKET"));
    let pkcs11 = load_module();
    let slot = *pkcs11.get_slots_with_token().expect("C_GetSlotList").first().expect("the dev token's slot");
    let s = pkcs11.open_rw_session(slot).expect("C_OpenSession");
    s.login(UserType::User, Some(&pin(USER_PIN))).expect("C_Login");
    // Several threads, so the module pools several channels.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let t = pkcs11.open_ro_session(slot).expect("C_OpenSession in a thread");
                for _ in 0..20 {
                    t.get_session_info().expect("C_GetSessionInfo");
                }
            });
        }
    });
    let ta = ta_pid_of(ca).expect("the CA's teehsm-ta child");
    // SAFETY: signalling the TA process of this test's own CA.
    unsafe { libc::kill(ta, libc::SIGKILL) };
    // Wait until the CA runs a new TA that answers (it has new channel keys).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if ta_pid_of(ca).is_some_and(|p| p != ta) && connect_once(&socket) {
            break;
        }
        assert!(Instant::now() < deadline, "the CA did not restart the TA in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut seen = Vec::new();
    for _ in 0..40 {
        let r = s.get_session_info().map(|_| ()).map_err(|e| match e {
            Error::Pkcs11(rv, _) => rv,
            other => panic!("C_GetSessionInfo: {other}"),
        });
        seen.push(r);
        if r != Err(RvError::DeviceError) {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&Err(RvError::SessionHandleInvalid)), "the old session after the TA restart: {seen:?}");
    assert!(seen.len() <= 2, "more than one CKR_DEVICE_ERROR (stale pooled channels): {seen:?}");
    // A new session in the new application, over new channels to the new TA.
    let s2 = pkcs11.open_rw_session(slot).expect("C_OpenSession after the restart");
    s2.login(UserType::User, Some(&pin(USER_PIN))).expect("C_Login after the restart");
    let (public, private) = s2
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::Token(false), Attribute::Verify(true), Attribute::EcParams(P256_OID.to_vec())],
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::Sensitive(true)],
        )
        .expect("C_GenerateKeyPair after the restart");
    let sig = s2.sign(&Mechanism::EcdsaSha256, private, MSG).expect("C_Sign after the restart");
    s2.verify(&Mechanism::EcdsaSha256, public, MSG, &sig).expect("C_Verify after the restart");
    drop(s);
    drop(s2);
    pkcs11.finalize().expect("C_Finalize");
}

/// Whether a plain probe connection gets the token's info.
fn connect_once(socket: &Path) -> bool {
    teehsm_wire::client::Client::connect(socket, "probe").is_ok_and(|mut c| c.call(&Request::GetTokenInfo { slot: 0 }).is_ok())
}

// ------------------------------------------------------------ 3

#[test]
fn half_or_unusable_channel_configuration_fails_c_initialize() {
    let dir = TempDir::new("p11-chan-conf");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let policy = write("policy.toml", &format!("allowed_measurements = [\"{}\"]\n", "00".repeat(32)));
    let bad_policy = write("bad-policy.toml", "allow_simulation = true\n");
    let bad_anchor = write("bad-anchor.pem", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
    let missing = dir.path().join("missing.pem");
    let sock = dir.path().join("ca.sock");
    let s = sock.as_os_str();

    let e = run_child("child_initialize_fails", &[(SOCKET_ENV, s), (POLICY_ENV, policy.as_os_str())]);
    assert!(e.contains("trust anchor") && e.contains(ANCHOR_ENV) && e.contains("is not set"), "{e}");
    let e = run_child("child_initialize_fails", &[(SOCKET_ENV, s), (ANCHOR_ENV, missing.as_os_str())]);
    assert!(e.contains("attestation policy") && e.contains(POLICY_ENV) && e.contains("is not set"), "{e}");
    let conf = write("half.toml", &format!("trust_anchor = \"{}\"\n", bad_anchor.display()));
    let e = run_child("child_initialize_fails", &[(CONF_ENV, conf.as_os_str())]);
    assert!(e.contains(POLICY_ENV) && e.contains("is not set"), "{e}");
    let e = run_child("child_initialize_fails", &[(SOCKET_ENV, s), (POLICY_ENV, policy.as_os_str()), (ANCHOR_ENV, missing.as_os_str())]);
    assert!(e.contains("trust anchor") && e.contains("missing.pem"), "{e}");
    let e = run_child("child_initialize_fails", &[(SOCKET_ENV, s), (POLICY_ENV, policy.as_os_str()), (ANCHOR_ENV, bad_anchor.as_os_str())]);
    assert!(e.contains("trust anchor") && e.contains("base64"), "{e}");
    let e = run_child("child_initialize_fails", &[(SOCKET_ENV, s), (POLICY_ENV, bad_policy.as_os_str()), (ANCHOR_ENV, bad_anchor.as_os_str())]);
    assert!(e.contains("cannot be used"), "{e}");
    let e = run_child("child_initialize_fails", &[(SOCKET_ENV, s), (POLICY_ENV, missing.as_os_str()), (ANCHOR_ENV, missing.as_os_str())]);
    assert!(e.contains("missing.pem"), "{e}");
}

#[test]
#[ignore = "run in a child process by half_or_unusable_channel_configuration_fails_c_initialize"]
fn child_initialize_fails() {
    if !in_child() {
        return;
    }
    let pkcs11 = Pkcs11::new(pkcs11_module()).expect("load libteehsm_pkcs11.so");
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Err(Error::Pkcs11(RvError::GeneralError, _)) => {}
        other => panic!("C_Initialize with a bad channel configuration: {other:?}"),
    }
    match pkcs11.get_slots_with_token() {
        Err(Error::Pkcs11(RvError::CryptokiNotInitialized, _)) => {}
        other => panic!("C_GetSlotList after the failed C_Initialize: {other:?}"),
    }
}

// ------------------------------------------------------------ 4

#[test]
fn memory_scrape_through_the_module_finds_neither_pin_nor_key_with_the_channel_but_both_without() {
    run_child("child_memory_scrape", &[]);
}

/// Through the module: logs in with `old_pin`, changes the PIN to
/// `new_pin` (C_SetPIN), logs out and in with it and imports `key` as an
/// AES key (C_CreateObject); checks the key works (AES-ECB against OpenSSL).
/// Scrapes the CA after the login and after the import; returns (PIN found,
/// key found).
fn scenario(ca_pid: i32, dir: &Path, old_pin: &[u8], new_pin: &[u8], key: &[u8]) -> (bool, bool) {
    let pkcs11 = load_module();
    let slot = *pkcs11.get_slots_with_token().expect("C_GetSlotList").first().expect("the dev token's slot");
    let s = pkcs11.open_rw_session(slot).expect("C_OpenSession");
    s.login(UserType::User, Some(&pin(old_pin))).expect("C_Login");
    s.set_pin(&pin(old_pin), &pin(new_pin)).expect("C_SetPIN");
    s.logout().expect("C_Logout");
    s.login(UserType::User, Some(&pin(new_pin))).expect("C_Login with the new PIN");
    let pin_found = scrape(ca_pid, &[new_pin])[0];
    let handle = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Encrypt(true),
            Attribute::Label(b"scrape".to_vec()),
            Attribute::Value(key.to_vec()),
        ])
        .expect("C_CreateObject (AES key import)");
    let block = [0x5au8; 16];
    let ct = s.encrypt(&Mechanism::AesEcb, handle, &block).expect("C_Encrypt AES-ECB");
    std::fs::write(dir.join("block"), block).unwrap();
    let out = Command::new("openssl")
        .args(["enc", "-aes-256-ecb", "-nopad", "-K", &hex::encode(key), "-in"])
        .arg(dir.join("block"))
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl enc: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ct, out.stdout, "the imported key is not the key sent");
    let found = scrape(ca_pid, &[new_pin, key]);
    drop(s);
    pkcs11.finalize().expect("C_Finalize");
    (pin_found || found[0], found[1])
}

#[test]
#[ignore = "run in a child process by memory_scrape_through_the_module_finds_neither_pin_nor_key_with_the_channel_but_both_without"]
fn child_memory_scrape() {
    if !in_child() {
        return;
    }
    let t0 = Instant::now();
    // This process starts the CA, so it may read the CA's memory.
    let ca = start_ca_dev_token_with(&["--client-transport", "relay"]);
    let dir = TempDir::new("p11-scrape");
    let f = channel_files(&ca, dir.path());
    let pin1 = format!("P11Chan-{}", hex::encode(random_bytes(12))).into_bytes();
    let pin2 = format!("P11Plain-{}", hex::encode(random_bytes(12))).into_bytes();
    let (key1, key2) = (random_bytes(32), random_bytes(32));

    // Channel on: the module is configured with the policy and trust anchor.
    std::env::set_var(SOCKET_ENV, &ca.socket);
    std::env::set_var(POLICY_ENV, &f.permissive);
    std::env::set_var(ANCHOR_ENV, &f.anchor);
    let (pin_seen, key_seen) = scenario(ca.pid(), dir.path(), USER_PIN, &pin1, &key1);
    assert!(open_channel_events(&ca, 1) >= 1, "the module did not open attested channels");
    assert!(!pin_seen, "the PIN the module sent through the channel is in the CA's memory");
    assert!(!key_seen, "the key the module imported through the channel is in the CA's memory");
    // Still not there after C_Finalize closed the connections.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(scrape(ca.pid(), &[&pin1, &key1]), [false, false]);

    // Channel off (plain configuration): the scrape finds both, so it can detect a leak.
    std::env::remove_var(POLICY_ENV);
    std::env::remove_var(ANCHOR_ENV);
    let (pin_seen, key_seen) = scenario(ca.pid(), dir.path(), &pin1, &pin2, &key2);
    assert!(pin_seen, "the scrape did not find a PIN the module sent in the clear: it cannot detect leaks");
    assert!(key_seen, "the scrape did not find a key the module sent in the clear: it cannot detect leaks");
    assert!(t0.elapsed() < Duration::from_secs(150), "took {:?}", t0.elapsed());
}
