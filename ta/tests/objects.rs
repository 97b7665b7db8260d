//! Object attributes the token assigns (PKCS#11 3.0 CKA_UNIQUE_ID).

mod common;

use common::*;
use teehsm_wire::ck::*;
use teehsm_wire::*;

#[test]
fn unique_id_is_assigned_distinct_and_cannot_be_given_or_changed() {
    let h = Harness::new("obj-uid");
    let (mut c, s) = h.user();
    let a = h.aes_key(&mut c, s, &[(CKA_ENCRYPT, true), (CKA_TOKEN, true)]);
    let b = h.aes_key(&mut c, s, &[(CKA_ENCRYPT, true)]);
    let ua = h.attr(&mut c, s, a, CKA_UNIQUE_ID).expect("token key has a unique id");
    let ub = h.attr(&mut c, s, b, CKA_UNIQUE_ID).expect("session key has a unique id");
    assert!(!ua.is_empty() && ua != ub);
    // A copy is a new object with a new id.
    let copy = h.handle(&mut c, Request::CopyObject { session: s, object: a, template: vec![] });
    assert_ne!(h.attr(&mut c, s, copy, CKA_UNIQUE_ID).unwrap(), ua);
    // Findable by it.
    match h.ok(&mut c, Request::FindObjects { session: s, template: vec![Attribute { ty: CKA_UNIQUE_ID, value: ua.clone() }], max: 10 }) {
        Reply::Handles(v) => assert_eq!(v, vec![a]),
        r => panic!("unexpected {r:?}"),
    }
    let template = vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
        Attribute { ty: CKA_VALUE, value: vec![1; 16] },
        Attribute { ty: CKA_UNIQUE_ID, value: b"mine".to_vec() },
    ];
    h.refused(&mut c, Request::CreateObject { session: s, template }, Rv::ATTRIBUTE_TYPE_INVALID);
    h.refused(
        &mut c,
        Request::SetAttributeValue { session: s, object: a, template: vec![Attribute { ty: CKA_UNIQUE_ID, value: b"x".to_vec() }] },
        Rv::ATTRIBUTE_TYPE_INVALID,
    );
    assert_eq!(h.attr(&mut c, s, a, CKA_UNIQUE_ID).unwrap(), ua, "unchanged");
}
