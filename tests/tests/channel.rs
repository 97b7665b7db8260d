//! Issue 5, part 2 (DESIGN invariant 8): the attested end-to-end channel
//! between a client and the TA, through the real CA service.
//!
//! 1. A channel opens (hand-off and relay transports) and login + sign work
//!    through it; a TA with `--require-channel true` refuses plain Hello.
//! 2. A man-in-the-middle proxy between client and CA that swaps the TA's
//!    channel key bundle, or replays an older report, is refused by the client.
//! 3. A tampered, a replayed and a reordered sealed frame each make the TA
//!    close the connection (and the TA keeps serving others).
//! 5. Suite 2 ("SM2/SM3/SM4-GCM", `connect_with_suite(.., Suite::Sm2)`):
//!    a channel opens and login + sign work; a tampered frame closes the
//!    connection; a proxy that swaps the SM2 point in the bundle is refused;
//!    an unknown suite id makes the TA close the connection.
//! 4. Memory scrape: with the CA relaying frames, a distinctive PIN and a
//!    distinctive imported AES key sent through the channel are nowhere in the
//!    CA's memory; sent over a plain connection, both are found.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};
use teehsm_attest::{Policy, Refused, TrustAnchor};
use teehsm_channel::{ChannelError, SecureClient, Suite, Verifier};
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::frame::{read_frame, write_frame};
use teehsm_wire::*;

/// The sim platform's report key (the trust anchor) and a policy pinning the TA's measurement.
fn verifier(platform_dir: &Path, socket: &Path) -> Verifier {
    let anchor = TrustAnchor::parse_sim(&sim_report_key(platform_dir, "hex")).expect("anchor");
    let measurement = match Client::connect(socket, "setup").and_then(|mut c| c.call(&Request::GetTaInfo)) {
        Ok(Reply::TaInfo(i)) => hex::encode(i.measurement),
        Ok(r) => panic!("unexpected {r:?}"),
        Err(CallError::Status { rv, .. }) if rv == Rv::TEEHSM_NO_HELLO => {
            // A TA that requires the channel: take the measurement from a report.
            let mut c = UnixStream::connect(socket).unwrap();
            write_frame(&mut c, &encode_request(1, &Request::OpenChannel { nonce: [0; 32] })).unwrap();
            let mut buf = Vec::new();
            assert!(read_frame(&mut c, &mut buf).unwrap());
            match decode_response(&buf).unwrap().1 {
                Response::Ok(Reply::Attestation(r)) => hex::encode(r.measurement),
                r => panic!("unexpected {r:?}"),
            }
        }
        Err(e) => panic!("GetTaInfo: {e}"),
    };
    let policy = Policy::parse(&format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n")).unwrap();
    Verifier::new(anchor, policy)
}

fn ca_verifier(ca: &CaProcess) -> Verifier {
    verifier(&ca.state_dir.join("platform"), &ca.socket)
}

fn secure(socket: &Path, v: &Verifier) -> SecureClient {
    let c = SecureClient::connect(socket, "channel-test", v).unwrap_or_else(|e| panic!("open channel: {e}"));
    c.set_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

/// Returns (session, private key handle).
fn login_and_sign(c: &mut SecureClient) -> (u64, u64) {
    let s = c.open_session(0, true).expect("OpenSession");
    let wrong = c.login(s, CKU_USER, b"not-the-pin");
    assert!(matches!(&wrong, Err(CallError::Status { rv, .. }) if *rv == Rv::PIN_INCORRECT), "{wrong:?}");
    c.login(s, CKU_USER, USER_PIN).expect("user login through the channel");
    let (public, private) = match c.call(&p256_pair(s, "chan", false)).expect("GenerateKeyPair") {
        Reply::KeyPair { public, private } => (public, private),
        r => panic!("unexpected {r:?}"),
    };
    let mech = Mechanism::new(CKM_ECDSA_SHA256);
    let sig =
        c.call_bytes(&Request::Sign { session: s, mechanism: mech.clone(), key: private, data: b"through the channel".to_vec() }).expect("Sign");
    assert_eq!(sig.len(), 64);
    c.call_done(&Request::Verify { session: s, mechanism: mech, key: public, data: b"through the channel".to_vec(), signature: sig })
        .expect("Verify");
    (s, private)
}

#[test]
fn a_channel_opens_and_login_and_sign_work_through_it() {
    for transport in ["handoff", "relay"] {
        let ca = start_ca_dev_token_with(&["--client-transport", transport]);
        let v = ca_verifier(&ca);
        let mut c = secure(&ca.socket, &v);
        assert_eq!(c.verified().channel_public_key.len(), CHANNEL_BUNDLE_LEN);
        assert!(c.verified().simulation);
        assert_eq!(c.app_ticket().len(), 32);
        let (s, key) = login_and_sign(&mut c);
        // Hello again, or a plain Hello inside the channel, is refused without breaking it.
        assert!(c.call(&Request::Hello { client: "x".into(), channel: ChannelMode::Plain }).is_err());
        assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
        // A second channel to the same TA: same bundle, fresh keys.
        let c2 = secure(&ca.socket, &v);
        assert_eq!(c2.verified().channel_public_key, c.verified().channel_public_key);
        // A channel that joins the first one's application shares its login.
        let mut j = SecureClient::connect_joining(&ca.socket, "joiner", &v, c.app_ticket()).expect("join through the channel");
        let sig = j.call_bytes(&Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key, data: b"joined".to_vec() });
        assert_eq!(sig.expect("sign in the joined application").len(), 64);
        assert!(matches!(j.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
        // OpenChannel after Hello on a plain connection is refused with a reply.
        let mut p = connect(&ca.socket);
        assert!(p.call(&Request::OpenChannel { nonce: [1; 32] }).is_err());
        assert!(p.call(&Request::GetTaInfo).is_ok());
    }
}

#[test]
fn a_ta_that_requires_the_channel_refuses_plain_hello() {
    let dir = TempDir::new("chan-require");
    let ta = start_ta_ready(dir.path(), &["--require-channel", "true"]);
    let plain = Client::connect(&ta.socket, "plain");
    assert!(matches!(&plain, Err(CallError::Status { rv, .. }) if *rv == Rv::TEEHSM_NO_HELLO), "{:?}", plain.as_ref().err());
    let v = verifier(&dir.path().join("platform"), &ta.socket);
    let mut c = secure(&ta.socket, &v);
    assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
    ta.stop();
}

/// What the in-test man in the middle does to the OpenChannel reply.
#[derive(Clone, Copy, PartialEq)]
enum Mitm {
    PassThrough,
    /// Replace the TA's channel key bundle with another (well-formed) one.
    SwapBundle,
    /// Answer with the report the first connection got (another nonce).
    ReplayReport,
    /// Replace the SM2 point of the bundle (suite 2's key) with another
    /// well-formed one (the SM2 generator).
    SwapSm2Point,
}

/// A Unix-socket proxy in front of the CA: serves one client connection
/// per mode in `modes`, relaying frames and rewriting the OpenChannel reply.
fn mitm_proxy(listen: &Path, upstream: std::path::PathBuf, modes: Vec<Mitm>) -> std::thread::JoinHandle<()> {
    let l = UnixListener::bind(listen).unwrap();
    std::thread::spawn(move || {
        let mut first_report: Option<AttestationReport> = None;
        for mode in modes {
            let Ok((mut client, _)) = l.accept() else { return };
            let mut up = UnixStream::connect(&upstream).unwrap();
            for s in [&client, &up] {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            }
            let mut buf = Vec::new();
            loop {
                if !matches!(read_frame(&mut client, &mut buf), Ok(true)) {
                    break;
                }
                if write_frame(&mut up, &buf).is_err() || !matches!(read_frame(&mut up, &mut buf), Ok(true)) {
                    break;
                }
                if let Ok((id, Response::Ok(Reply::Attestation(mut r)))) = decode_response(&buf) {
                    if first_report.is_none() {
                        first_report = Some((*r).clone());
                    }
                    match mode {
                        Mitm::PassThrough => {}
                        Mitm::SwapBundle => {
                            // Another P-256 point (the generator) in place of the TA's.
                            let g = hex_point();
                            r.channel_public_key[..65].copy_from_slice(&g);
                        }
                        Mitm::ReplayReport => r = Box::new(first_report.clone().unwrap()),
                        Mitm::SwapSm2Point => {
                            let at = CHANNEL_P256_POINT_LEN + CHANNEL_MLKEM768_EK_LEN;
                            r.channel_public_key[at..at + CHANNEL_SM2_POINT_LEN].copy_from_slice(&sm2_generator());
                        }
                    }
                    buf = encode_response(id, &Response::Ok(Reply::Attestation(r)));
                }
                if write_frame(&mut client, &buf).is_err() {
                    break;
                }
            }
        }
    })
}

/// The P-256 base point, uncompressed.
fn hex_point() -> Vec<u8> {
    hex::decode(concat!(
        "04",
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
    ))
    .unwrap()
}

#[test]
fn a_man_in_the_middle_that_swaps_the_channel_key_is_refused() {
    let ca = start_ca_dev_token();
    let v = ca_verifier(&ca);
    let dir = TempDir::new("chan-mitm");
    let proxy = dir.path().join("mitm.sock");
    let t = mitm_proxy(&proxy, ca.socket.clone(), vec![Mitm::PassThrough, Mitm::ReplayReport, Mitm::SwapBundle]);
    // The proxy itself is transparent: an untouched channel works through it.
    let mut c = secure(&proxy, &v);
    assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
    drop(c);
    // A replayed report answers another nonce.
    match SecureClient::connect(&proxy, "victim", &v) {
        Err(ChannelError::Refused(Refused::NonceMismatch { .. })) => {}
        other => panic!("a replayed report was not refused as such: {:?}", other.err()),
    }
    // A swapped bundle no longer matches the hash the TA's report binds.
    match SecureClient::connect(&proxy, "victim", &v) {
        Err(ChannelError::Refused(Refused::ChannelKeyMismatch { .. })) => {}
        other => panic!("a swapped channel key was not refused: {:?}", other.err()),
    }
    t.join().unwrap();
}

/// The SM2 base point, uncompressed (GB/T 32918.5).
fn sm2_generator() -> Vec<u8> {
    hex::decode(concat!(
        "04",
        "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7",
        "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
    ))
    .unwrap()
}

fn secure_sm2(socket: &Path, v: &Verifier) -> SecureClient {
    let c = SecureClient::connect_with_suite(socket, "channel-sm2-test", v, Suite::Sm2).unwrap_or_else(|e| panic!("open SM2 channel: {e}"));
    c.set_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

#[test]
fn an_sm2_suite_channel_opens_and_login_and_sign_work_through_it() {
    for transport in ["handoff", "relay"] {
        let ca = start_ca_dev_token_with(&["--client-transport", transport]);
        let v = ca_verifier(&ca);
        let mut c = secure_sm2(&ca.socket, &v);
        assert_eq!(c.suite(), Suite::Sm2);
        assert_eq!(c.verified().channel_public_key.len(), CHANNEL_BUNDLE_LEN);
        assert_eq!(c.app_ticket().len(), 32);
        let (s, key) = login_and_sign(&mut c);
        assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
        // Suite 1 and suite 2 channels to the same TA side by side, and an
        // SM2 channel joining a suite 1 channel's application.
        let mut h = secure(&ca.socket, &v);
        assert_eq!(h.suite(), Suite::Hybrid);
        assert!(matches!(h.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
        let mut j = SecureClient::connect_with_suite(&ca.socket, "joiner", &v, Suite::Sm2).unwrap();
        j.call_done(&Request::JoinApp { ticket: Secret(c.app_ticket().to_vec()) }).expect("join through the SM2 channel");
        let sig = j.call_bytes(&Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key, data: b"joined".to_vec() });
        assert_eq!(sig.expect("sign in the joined application").len(), 64);
    }
}

#[test]
fn sm2_suite_tampered_frames_and_unknown_suites_close_the_connection() {
    let ca = start_ca_dev_token();
    let v = ca_verifier(&ca);
    // Tampered: one bit of the SM4-GCM ciphertext flipped.
    let mut c = secure_sm2(&ca.socket, &v);
    assert!(c.call(&Request::GetTaInfo).is_ok());
    let mut f = c.seal_request(&Request::GetTaInfo).unwrap();
    f[3] ^= 0x10;
    assert!(closed(c.send_raw(&f)), "a tampered SM2-suite frame got a reply");
    // Tampered tag.
    let mut c = secure_sm2(&ca.socket, &v);
    let mut f = c.seal_request(&Request::GetTaInfo).unwrap();
    let last = f.len() - 1;
    f[last] ^= 1;
    assert!(closed(c.send_raw(&f)), "a frame with a tampered tag got a reply");
    // Replayed.
    let mut c = secure_sm2(&ca.socket, &v);
    let f = c.seal_request(&Request::GetTaInfo).unwrap();
    let reply = c.send_raw(&f).expect("the original frame is answered");
    assert!(matches!(c.open_raw(&reply), Ok(Response::Ok(Reply::TaInfo(_)))));
    assert!(closed(c.send_raw(&f)), "a replayed SM2-suite frame got a reply");
    // An unknown suite id in ChannelKeys: the TA closes the connection.
    for suite in [0u8, 3, 255] {
        let mut raw = UnixStream::connect(&ca.socket).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write_frame(&mut raw, &encode_request(1, &Request::OpenChannel { nonce: [suite; 32] })).unwrap();
        let mut buf = Vec::new();
        assert!(read_frame(&mut raw, &mut buf).unwrap());
        assert!(matches!(decode_response(&buf).unwrap().1, Response::Ok(Reply::Attestation(_))));
        let keys = Request::ChannelKeys { suite, client_p256: sm2_generator(), mlkem_ct: vec![] };
        write_frame(&mut raw, &encode_request(2, &keys)).unwrap();
        assert!(!matches!(read_frame(&mut raw, &mut buf), Ok(true)), "ChannelKeys with suite {suite} got a reply");
    }
    // Suite 2's ChannelKeys with a P-256-suite shape (an ML-KEM ciphertext): closed too.
    let mut raw = UnixStream::connect(&ca.socket).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write_frame(&mut raw, &encode_request(1, &Request::OpenChannel { nonce: [7; 32] })).unwrap();
    let mut buf = Vec::new();
    assert!(read_frame(&mut raw, &mut buf).unwrap());
    let keys = Request::ChannelKeys { suite: 2, client_p256: sm2_generator(), mlkem_ct: vec![1; CHANNEL_MLKEM768_CT_LEN] };
    write_frame(&mut raw, &encode_request(2, &keys)).unwrap();
    assert!(!matches!(read_frame(&mut raw, &mut buf), Ok(true)), "a malformed suite 2 ChannelKeys got a reply");
    // The TA still serves SM2 channels.
    let mut c = secure_sm2(&ca.socket, &v);
    assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
}

#[test]
fn a_man_in_the_middle_that_swaps_the_sm2_channel_key_is_refused() {
    let ca = start_ca_dev_token();
    let v = ca_verifier(&ca);
    let dir = TempDir::new("chan-mitm-sm2");
    let proxy = dir.path().join("mitm.sock");
    let t = mitm_proxy(&proxy, ca.socket.clone(), vec![Mitm::PassThrough, Mitm::SwapSm2Point, Mitm::SwapSm2Point, Mitm::ReplayReport]);
    // Through the transparent proxy an SM2 channel works.
    let mut c = secure_sm2(&proxy, &v);
    assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
    drop(c);
    // The SM2 point swapped: the bundle no longer matches the report's hash,
    // whichever suite the client wanted.
    for suite in [Suite::Sm2, Suite::Hybrid] {
        match SecureClient::connect_with_suite(&proxy, "victim", &v, suite) {
            Err(ChannelError::Refused(Refused::ChannelKeyMismatch { .. })) => {}
            other => panic!("a swapped SM2 channel key was not refused ({suite:?}): {:?}", other.err()),
        }
    }
    match SecureClient::connect_with_suite(&proxy, "victim", &v, Suite::Sm2) {
        Err(ChannelError::Refused(Refused::NonceMismatch { .. })) => {}
        other => panic!("a replayed report was not refused as such: {:?}", other.err()),
    }
    t.join().unwrap();
}

fn closed(r: Result<Vec<u8>, CallError>) -> bool {
    matches!(r, Err(CallError::Closed) | Err(CallError::Io(_)))
}

#[test]
fn tampered_replayed_and_reordered_sealed_frames_close_the_connection() {
    let ca = start_ca_dev_token();
    let v = ca_verifier(&ca);
    // Tampered: one bit of the ciphertext flipped.
    let mut c = secure(&ca.socket, &v);
    assert!(c.call(&Request::GetTaInfo).is_ok());
    let mut f = c.seal_request(&Request::GetTaInfo).unwrap();
    f[3] ^= 0x10;
    assert!(closed(c.send_raw(&f)), "a tampered frame got a reply");
    // Replayed: a frame the TA accepted, sent again.
    let mut c = secure(&ca.socket, &v);
    let f = c.seal_request(&Request::GetTaInfo).unwrap();
    let reply = c.send_raw(&f).expect("the original frame is answered");
    assert!(matches!(c.open_raw(&reply), Ok(Response::Ok(Reply::TaInfo(_)))));
    assert!(closed(c.send_raw(&f)), "a replayed frame got a reply");
    // Reordered: frame 2 before frame 1.
    let mut c = secure(&ca.socket, &v);
    let _f1 = c.seal_request(&Request::GetTaInfo).unwrap();
    let f2 = c.seal_request(&Request::GetTaInfo).unwrap();
    assert!(closed(c.send_raw(&f2)), "a reordered frame got a reply");
    // Truncated below a tag.
    let mut c = secure(&ca.socket, &v);
    assert!(closed(c.send_raw(&[1, 2, 3])), "a truncated frame got a reply");
    // The TA still serves channels.
    let mut c = secure(&ca.socket, &v);
    assert!(matches!(c.call(&Request::GetTaInfo), Ok(Reply::TaInfo(_))));
    // Every refusal is in the TA's audit log (written at least every 100 ms).
    let log = ca.state_dir.join("ta-data").join("audit.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let refused = text.lines().filter(|l| l.contains("\"ChannelFrameRefused\"")).count();
        let opened = text.lines().filter(|l| l.contains("\"OpenChannel\"")).count();
        if refused >= 4 && opened >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "audit log {} has {refused} ChannelFrameRefused and {opened} OpenChannel entries", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- memory scrape

use teehsm_tests::scrape::{random_bytes, scrape};

/// Logs in with `old_pin`, changes the PIN to `new_pin`, logs in again and
/// imports `key` as an AES key; scrapes the CA after the login and after
/// the import. Returns (PIN found, key found).
fn scenario(call: &mut dyn FnMut(&Request) -> Result<Reply, CallError>, ca_pid: i32, old_pin: &[u8], new_pin: &[u8], key: &[u8]) -> (bool, bool) {
    let s = match call(&Request::OpenSession { slot: 0, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION }).expect("OpenSession") {
        Reply::Handle(h) => h,
        r => panic!("unexpected {r:?}"),
    };
    call(&Request::Login { session: s, user_type: CKU_USER, pin: Secret(old_pin.to_vec()) }).expect("login");
    call(&Request::SetPin { session: s, old_pin: Secret(old_pin.to_vec()), new_pin: Secret(new_pin.to_vec()) }).expect("SetPin");
    call(&Request::Logout { session: s }).expect("Logout");
    call(&Request::Login { session: s, user_type: CKU_USER, pin: Secret(new_pin.to_vec()) }).expect("login with the new PIN");
    let pin_found = scrape(ca_pid, &[new_pin])[0];
    let template = vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
        Attribute::bool(CKA_TOKEN, false),
        Attribute::bool(CKA_ENCRYPT, true),
        Attribute::new(CKA_LABEL, b"scrape".to_vec()),
        Attribute::new(CKA_VALUE, key.to_vec()),
    ];
    match call(&Request::CreateObject { session: s, template }).expect("CreateObject") {
        Reply::Handle(_) => {}
        r => panic!("unexpected {r:?}"),
    }
    let found = scrape(ca_pid, &[new_pin, key]);
    (pin_found || found[0], found[1])
}

#[test]
fn memory_scrape_finds_neither_pin_nor_key_through_the_channel_but_finds_both_in_plain() {
    let t0 = Instant::now();
    let ca = start_ca_dev_token_with(&["--client-transport", "relay"]);
    let v = ca_verifier(&ca);
    let pin1 = format!("Chan-{}", hex::encode(random_bytes(12))).into_bytes();
    let pin2 = format!("Plain-{}", hex::encode(random_bytes(12))).into_bytes();
    let (key1, key2) = (random_bytes(32), random_bytes(32));

    // Through the channel: the CA relays ciphertext only.
    let mut c = secure(&ca.socket, &v);
    let (pin_seen, key_seen) = scenario(&mut |r| c.call(r), ca.pid(), USER_PIN, &pin1, &key1);
    assert!(!pin_seen, "the PIN sent through the channel is in the CA's memory");
    assert!(!key_seen, "the key imported through the channel is in the CA's memory");
    // Still not there after the connection closed.
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(scrape(ca.pid(), &[&pin1, &key1]), [false, false]);

    // The same over a plain connection: the scrape finds both (it can detect leaks).
    let mut p = connect(&ca.socket);
    let (pin_seen, key_seen) = scenario(&mut |r| p.call(r), ca.pid(), &pin1, &pin2, &key2);
    assert!(pin_seen, "the scrape did not find a PIN sent in the clear: it cannot detect leaks");
    assert!(key_seen, "the scrape did not find a key sent in the clear: it cannot detect leaks");
    assert!(t0.elapsed() < Duration::from_secs(120), "took {:?}", t0.elapsed());
}
