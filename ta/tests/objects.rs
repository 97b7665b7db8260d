//! Object attributes the token assigns (PKCS#11 3.0 CKA_UNIQUE_ID) and the
//! standard attributes and defaults of certificate and data objects.

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

fn find(h: &Harness, c: &mut teehsm_ta::handler::Connection, s: u64, template: Vec<Attribute>) -> Vec<u64> {
    match h.ok(c, Request::FindObjects { session: s, template, max: u32::MAX }) {
        Reply::Handles(v) => v,
        r => panic!("unexpected {r:?}"),
    }
}

fn label(l: &str) -> Attribute {
    Attribute { ty: CKA_LABEL, value: l.as_bytes().to_vec() }
}

/// Finds by label and id use an index over token objects; it must follow
/// relabeling and destruction, and still honour the rest of the template.
#[test]
fn find_by_label_follows_changes_among_many_token_keys() {
    let h = Harness::new("obj-find");
    let (mut c, s) = h.user();
    let make = |c: &mut teehsm_ta::handler::Connection, l: &str, enc: bool| {
        let t = vec![
            Attribute::ulong(CKA_VALUE_LEN, 16),
            Attribute::bool(CKA_TOKEN, true),
            Attribute::bool(CKA_ENCRYPT, enc),
            label(l),
            Attribute { ty: CKA_ID, value: l.as_bytes()[..2].to_vec() },
        ];
        h.handle(c, Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t })
    };
    let keys: Vec<u64> = (0..300).map(|i| make(&mut c, &format!("k{i:04}"), i % 2 == 0)).collect();
    let twin = make(&mut c, "k0007", false);
    assert_eq!(find(&h, &mut c, s, vec![label("k0007")]), vec![keys[7], twin]);
    assert_eq!(find(&h, &mut c, s, vec![label("k0007"), Attribute::bool(CKA_ENCRYPT, false)]), vec![keys[7], twin]);
    assert_eq!(find(&h, &mut c, s, vec![label("k0008"), Attribute::bool(CKA_ENCRYPT, false)]), Vec::<u64>::new());
    assert_eq!(find(&h, &mut c, s, vec![Attribute { ty: CKA_ID, value: b"k0".to_vec() }]).len(), 301);
    h.ok(&mut c, Request::SetAttributeValue { session: s, object: twin, template: vec![label("renamed")] });
    assert_eq!(find(&h, &mut c, s, vec![label("k0007")]), vec![keys[7]]);
    assert_eq!(find(&h, &mut c, s, vec![label("renamed")]), vec![twin]);
    h.ok(&mut c, Request::DestroyObject { session: s, object: keys[7] });
    assert_eq!(find(&h, &mut c, s, vec![label("k0007")]), Vec::<u64>::new());
    assert_eq!(find(&h, &mut c, s, vec![label("nope")]), Vec::<u64>::new());
    // A public-only view (no login) does not see private keys even via the index.
    let mut anon = h.conn();
    let s2 = h.open(&mut anon, false);
    assert_eq!(find(&h, &mut anon, s2, vec![label("k0001")]), Vec::<u64>::new());
}

/// The cryptoki suite imports an RSA public key with an all-0xFF 8192-bit
/// modulus (well-formed, if useless) and reads it back unchanged; the TA
/// parses it on import and fills in CKA_MODULUS_BITS.
#[test]
fn odd_rsa_public_key_imports_and_reads_back() {
    let h = Harness::new("obj-rsa-import");
    let (mut c, s) = h.user();
    let template = vec![
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bool(CKA_PRIVATE, false),
        Attribute { ty: CKA_PUBLIC_EXPONENT, value: vec![1, 0, 1] },
        Attribute { ty: CKA_MODULUS, value: vec![0xFF; 1024] },
        Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
        Attribute::bool(CKA_VERIFY, true),
    ];
    let k = h.handle(&mut c, Request::CreateObject { session: s, template: template.clone() });
    assert_eq!(find(&h, &mut c, s, template), vec![k]);
    assert_eq!(h.attr(&mut c, s, k, CKA_MODULUS).unwrap(), vec![0xFF; 1024]);
    assert_eq!(h.attr(&mut c, s, k, CKA_MODULUS_BITS).unwrap(), 8192u64.to_be_bytes());
    assert_eq!(h.attr(&mut c, s, k, CKA_ALLOWED_MECHANISMS), Err(Rv::ATTRIBUTE_TYPE_INVALID));
}

/// PKCS#11 3.0 4.5/4.6: certificates must name their type, subject and
/// value; the other certificate and data-object attributes take the
/// standard's defaults, and the check value is computed.
#[test]
fn certificate_and_data_objects_follow_the_standard() {
    let h = Harness::new("obj-cert");
    let (mut c, s) = h.user();
    let cert = |extra: Vec<Attribute>| {
        let mut t = vec![Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE), Attribute::bool(CKA_TOKEN, false)];
        t.extend(extra);
        Request::CreateObject { session: s, template: t }
    };
    let der = b"\x30\x03\x02\x01\x01".to_vec();
    h.refused(&mut c, cert(vec![Attribute::new(CKA_SUBJECT, b"s".to_vec()), Attribute::new(CKA_VALUE, der.clone())]), Rv::TEMPLATE_INCOMPLETE);
    h.refused(&mut c, cert(vec![Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509), Attribute::new(CKA_VALUE, der.clone())]), Rv::TEMPLATE_INCOMPLETE);
    h.refused(
        &mut c,
        cert(vec![Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509), Attribute::new(CKA_SUBJECT, b"s".to_vec())]),
        Rv::TEMPLATE_INCOMPLETE,
    );
    h.refused(
        &mut c,
        cert(vec![
            Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            Attribute::new(CKA_SUBJECT, b"s".to_vec()),
            Attribute::new(CKA_VALUE, der.clone()),
            Attribute::new(CKA_CHECK_VALUE, vec![0, 0, 0]),
        ]),
        Rv::ATTRIBUTE_VALUE_INVALID,
    );
    let x = h.handle(
        &mut c,
        cert(vec![
            Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            Attribute::new(CKA_SUBJECT, b"s".to_vec()),
            Attribute::new(CKA_VALUE, der.clone()),
        ]),
    );
    let sha1 = teehsm_crypto::digest::digest(teehsm_crypto::digest::HashAlg::Sha1, &der);
    assert_eq!(h.attr(&mut c, s, x, CKA_CHECK_VALUE), Ok(sha1[..3].to_vec()));
    assert_eq!(h.attr(&mut c, s, x, CKA_TRUSTED), Ok(vec![0]));
    assert_eq!(h.attr(&mut c, s, x, CKA_CERTIFICATE_CATEGORY), Ok(0u64.to_be_bytes().to_vec()));
    assert_eq!(h.attr(&mut c, s, x, CKA_NAME_HASH_ALGORITHM), Ok(CKM_SHA_1.to_be_bytes().to_vec()));
    for ty in [CKA_ID, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_URL, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, CKA_START_DATE, CKA_PUBLIC_KEY_INFO] {
        assert_eq!(h.attr(&mut c, s, x, ty), Ok(vec![]), "attribute 0x{ty:x}");
    }
    let d = h.handle(
        &mut c,
        Request::CreateObject { session: s, template: vec![Attribute::ulong(CKA_CLASS, CKO_DATA), Attribute::bool(CKA_TOKEN, false)] },
    );
    for ty in [CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE] {
        assert_eq!(h.attr(&mut c, s, d, ty), Ok(vec![]), "data attribute 0x{ty:x}");
    }
}
