//! Token policies pushed by a fleet console (docs/key-distribution.md,
//! "Token policy"): a signed object limit the TA applies only from a signer
//! the token's SO trusts, for this TA process and slot, within its validity
//! period and newer than the policy in force; it lowers the token's
//! capacity, never raises it past the TA's, and survives a restart.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use common::{aes_token_key, so, token_info, Harness};
use teehsm_ta::handler::HandlerConfig;
use teehsm_wire::token_policy::TokenPolicy;
use teehsm_wire::*;

fn signer() -> Ed25519KeyPair {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

fn policy(h: &Harness, key: &Ed25519KeyPair, version: u64, max_objects: u64) -> TokenPolicy {
    let now = common::now_ms();
    let mut p = TokenPolicy {
        version,
        target: *h.ta.channel.public_key_hash(),
        slot: 0,
        created_ms: now - 1_000,
        expires_ms: now + 600_000,
        signer: key.public_key().as_ref().try_into().unwrap(),
        max_objects,
        signature: [0; 64],
    };
    sign(&mut p, key);
    p
}

fn sign(p: &mut TokenPolicy, key: &Ed25519KeyPair) {
    let sig = key.sign(&p.signed_message());
    p.signature.copy_from_slice(sig.as_ref());
}

fn capacity(h: &Harness) -> u64 {
    let mut c = h.conn();
    token_info(h, &mut c).max_objects
}

#[test]
fn a_trusted_signed_newer_policy_lowers_the_capacity() {
    let cfg = HandlerConfig { max_token_objects: 10, ..HandlerConfig::default() };
    let mut h = Harness::with_config("token-policy", cfg.clone());
    let key = signer();
    let apply = |h: &Harness, p: &TokenPolicy, want: Rv| {
        let (mut c, s) = h.user();
        let r = Request::ApplyTokenPolicy { session: s, policy: p.to_bytes() };
        if want == Rv::OK {
            h.ok(&mut c, r);
            String::new()
        } else {
            h.refused(&mut c, r, want)
        }
    };
    // Nobody trusted yet.
    let msg = apply(&h, &policy(&h, &key, 1, 2), Rv::TEEHSM_KEYDIST_UNTRUSTED);
    assert!(msg.contains("keydist trust"), "{msg}");
    let (mut sc, ss) = so(&h);
    h.ok(&mut sc, Request::TrustKeydistSigner { session: ss, public_key: key.public_key().as_ref().to_vec() });
    // A public (not logged in) session may not apply it.
    let mut pc = h.conn();
    let ps = h.open(&mut pc, true);
    h.refused(&mut pc, Request::ApplyTokenPolicy { session: ps, policy: policy(&h, &key, 1, 2).to_bytes() }, Rv::USER_NOT_LOGGED_IN);
    // Forgeries and misuse.
    let mut tampered = policy(&h, &key, 1, 2);
    tampered.max_objects = 9;
    apply(&h, &tampered, Rv::SIGNATURE_INVALID);
    let mut other_ta = policy(&h, &key, 1, 2);
    other_ta.target = [7; 32];
    sign(&mut other_ta, &key);
    apply(&h, &other_ta, Rv::TEEHSM_KEYDIST_MISTARGETED);
    let mut other_slot = policy(&h, &key, 1, 2);
    other_slot.slot = 1;
    sign(&mut other_slot, &key);
    apply(&h, &other_slot, Rv::TEEHSM_KEYDIST_MISTARGETED);
    let mut expired = policy(&h, &key, 1, 2);
    expired.expires_ms = common::now_ms() - 1;
    expired.created_ms = expired.expires_ms - 10;
    sign(&mut expired, &key);
    apply(&h, &expired, Rv::TEEHSM_KEYDIST_EXPIRED);
    let msg = apply(&h, &policy(&h, &key, 1, 11), Rv::ARGUMENTS_BAD);
    assert!(msg.contains("at most 10"), "{msg}");
    let (mut uc, us) = h.user();
    h.refused(&mut uc, Request::ApplyTokenPolicy { session: us, policy: vec![0; 10] }, Rv::ARGUMENTS_BAD);
    assert_eq!(capacity(&h), 10, "no refused policy changed anything");

    // A good one: capacity 2, enforced.
    apply(&h, &policy(&h, &key, 1, 2), Rv::OK);
    assert_eq!(capacity(&h), 2);
    h.handle(&mut uc, aes_token_key(us));
    h.handle(&mut uc, aes_token_key(us));
    let msg = h.refused(&mut uc, aes_token_key(us), Rv::DEVICE_MEMORY);
    assert!(msg.contains("2 of the 2"), "{msg}");
    // The same or an older version is refused (no rollback to a laxer policy).
    apply(&h, &policy(&h, &key, 1, 5), Rv::TEEHSM_KEYDIST_REPLAY);
    // A newer one raises it again (within the TA's limit); 0 = the TA's.
    apply(&h, &policy(&h, &key, 2, 3), Rv::OK);
    assert_eq!(capacity(&h), 3);
    h.handle(&mut uc, aes_token_key(us));
    drop(uc);
    drop(sc);
    drop(pc);

    // It survives a restart (the new TA process has a new bundle: old
    // policies no longer apply, the one in force stays in force).
    h.reopen(cfg);
    assert_eq!(capacity(&h), 3);
    apply(&h, &policy(&h, &key, 2, 9), Rv::TEEHSM_KEYDIST_REPLAY);
    apply(&h, &policy(&h, &key, 3, 0), Rv::OK);
    assert_eq!(capacity(&h), 10);
    // Not a PKCS#11 object, not counted.
    let (mut c, s) = h.user();
    match h.ok(&mut c, Request::FindObjects { session: s, template: vec![], max: 100 }) {
        Reply::Handles(v) => assert_eq!(v.len(), 3, "only the 3 AES keys are visible"),
        r => panic!("unexpected {r:?}"),
    }
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join(teehsm_ta::audit::AUDIT_FILE)).unwrap();
    assert!(log.lines().any(|l| l.contains("ApplyTokenPolicy") && l.contains("policy:v3")), "audit log lacks the policy");
}
