//! The CA reaching its TA over TCP (`ta_address = "tcp://..."`, relay mode):
//! the deployment a TA under Gramine-SGX needs (docs/tee-backends.md). The
//! TCP hop is untrusted; the attested end-to-end channel opens across it
//! and login + sign work through it, as does a plain client.

use std::path::Path;
use std::time::Duration;
use teehsm_attest::{Policy, TrustAnchor};
use teehsm_channel::{SecureClient, Verifier};
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::*;

/// A free loopback TCP port below the ephemeral range (32768-60999): a
/// port-0 bind (the CA's HTTP listener) cannot take it before the TA binds it.
fn free_port() -> u16 {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    (start..32_000).chain(20_000..start).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port below 32000")
}

/// The sim platform's report key and a policy pinning the TA's measurement.
fn verifier(platform_dir: &Path, socket: &Path) -> Verifier {
    let anchor = TrustAnchor::parse_sim(&sim_report_key(platform_dir, "hex")).expect("anchor");
    let measurement = match Client::connect(socket, "setup").and_then(|mut c| c.call(&Request::GetTaInfo)) {
        Ok(Reply::TaInfo(i)) => hex::encode(i.measurement),
        r => panic!("unexpected {r:?}"),
    };
    let policy = Policy::parse(&format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n")).unwrap();
    Verifier::new(anchor, policy)
}

fn sign_and_verify<E: std::fmt::Debug>(mut call: impl FnMut(&Request) -> Result<Reply, E>, s: u64) {
    let (public, private) = match call(&p256_pair(s, "tcp", false)).expect("GenerateKeyPair") {
        Reply::KeyPair { public, private } => (public, private),
        r => panic!("unexpected {r:?}"),
    };
    let mech = Mechanism::new(CKM_ECDSA_SHA256);
    let data = b"over the TCP hop".to_vec();
    let sig = match call(&Request::Sign { session: s, mechanism: mech.clone(), key: private, data: data.clone() }).expect("Sign") {
        Reply::Bytes(b) => b,
        r => panic!("unexpected {r:?}"),
    };
    assert_eq!(sig.len(), 64);
    call(&Request::Verify { session: s, mechanism: mech, key: public, data, signature: sig }).expect("Verify");
}

#[test]
fn attested_channel_and_plain_clients_through_a_tcp_ta() {
    let addr = format!("tcp://127.0.0.1:{}", free_port());
    let ca = start_ca_dev_token_with(&["--client-transport", "relay", "--ta-address", &addr]);
    assert!(!ca.state_dir.join("ta.sock").exists(), "the TA listens on TCP only");

    // Plain client through the CA's relay and the TCP hop.
    let mut c = connect(&ca.socket);
    let s = user_session(&mut c);
    sign_and_verify(|r| c.call(r), s);

    // The attested channel across the same hops.
    let v = verifier(&ca.state_dir.join("platform"), &ca.socket);
    let mut sc = SecureClient::connect(&ca.socket, "tcp-channel", &v).unwrap_or_else(|e| panic!("open channel: {e}"));
    sc.set_timeout(Some(Duration::from_secs(30))).unwrap();
    assert!(sc.verified().simulation);
    let s = sc.open_session(0, true).expect("OpenSession");
    sc.login(s, CKU_USER, USER_PIN).expect("login through the channel");
    sign_and_verify(|r| sc.call(r), s);
}
