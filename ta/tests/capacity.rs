//! Token capacity (`max_token_objects`): a full token refuses new token
//! objects with CKR_DEVICE_MEMORY and says why, session objects and
//! replacements do not count, destroying frees room, GetTokenInfo reports
//! count and limit, and the count survives a restart.

mod common;

use common::*;
use teehsm_ta::handler::HandlerConfig;
use teehsm_wire::ck::*;
use teehsm_wire::*;

#[test]
fn a_full_token_refuses_new_objects_until_one_is_destroyed() {
    let cfg = HandlerConfig { max_token_objects: 3, ..HandlerConfig::default() };
    let mut h = Harness::with_config("capacity", cfg.clone());
    let (mut c, s) = h.user();
    let t = token_info(&h, &mut c);
    assert_eq!((t.total_objects, t.max_objects), (0, 3), "PIN verifiers are not objects");

    let keys: Vec<u64> = (0..3).map(|_| h.handle(&mut c, aes_token_key(s))).collect();
    assert_eq!(token_info(&h, &mut c).total_objects, 3);
    let msg = h.refused(&mut c, aes_token_key(s), Rv::DEVICE_MEMORY);
    assert!(msg.contains("slot 0") && msg.contains("3 of the 3") && msg.contains("max_token_objects"), "{msg}");
    // A key pair is two objects: refused as a whole, nothing half-created.
    let pair = Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
        public_template: vec![
            Attribute::new(CKA_EC_PARAMS, vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            Attribute::bool(CKA_TOKEN, true),
        ],
        private_template: vec![Attribute::bool(CKA_TOKEN, true)],
    };
    h.refused(&mut c, pair.clone(), Rv::DEVICE_MEMORY);
    assert_eq!(token_info(&h, &mut c).total_objects, 3);

    // Session objects and changes to existing objects still work.
    h.aes_key(&mut c, s, &[]);
    h.ok(&mut c, Request::SetAttributeValue { session: s, object: keys[0], template: vec![Attribute::new(CKA_LABEL, b"renamed".to_vec())] });

    // Destroying one makes room for one, not two.
    h.ok(&mut c, Request::DestroyObject { session: s, object: keys[1] });
    assert_eq!(token_info(&h, &mut c).total_objects, 2);
    h.refused(&mut c, pair, Rv::DEVICE_MEMORY);
    h.handle(&mut c, aes_token_key(s));
    assert_eq!(token_info(&h, &mut c).total_objects, 3);

    // The count is rebuilt from the store after a restart.
    drop(c);
    h.reopen(cfg);
    let (mut c, s) = h.user();
    assert_eq!(token_info(&h, &mut c).total_objects, 3);
    h.refused(&mut c, aes_token_key(s), Rv::DEVICE_MEMORY);
}

#[test]
fn zero_means_no_limit() {
    let h = Harness::with_config("capacity-unlimited", HandlerConfig { max_token_objects: 0, ..HandlerConfig::default() });
    let (mut c, s) = h.user();
    for _ in 0..5 {
        h.handle(&mut c, aes_token_key(s));
    }
    let t = token_info(&h, &mut c);
    assert_eq!((t.total_objects, t.max_objects), (5, 0));
}
