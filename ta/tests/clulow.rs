//! The Clulow and Tookan key-management API attacks (DESIGN invariant 2):
//! each test plays one attack against the real TA policy and asserts the
//! exact refusal. If a rule in policy.rs were removed, its test would fail.

mod common;
use common::Harness;
use teehsm_wire::ck::*;
use teehsm_wire::*;

fn wrap_mech() -> Mechanism {
    Mechanism::new(CKM_AES_KEY_WRAP_PAD)
}

/// Clulow's wrap-then-decrypt: a key that wraps must not decrypt.
#[test]
fn wrap_then_decrypt_is_refused() {
    let h = Harness::new("clulow1");
    let (mut c, s) = h.user();
    // Asking for both purposes at once is refused (rule R1).
    let t = vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_WRAP, true), Attribute::bool(CKA_DECRYPT, true)];
    h.refused(&mut c, Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t }, Rv::TEMPLATE_INCONSISTENT);
    // A pure wrapping key wraps a secret; decrypting the blob with it is refused.
    let w = h.aes_key(&mut c, s, &[(CKA_WRAP, true), (CKA_UNWRAP, true)]);
    let secret = h.aes_key(&mut c, s, &[(CKA_EXTRACTABLE, true), (CKA_ENCRYPT, true)]);
    let blob = h.bytes(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: w, key: secret });
    let m = Mechanism::with(CKM_AES_CBC, MechParam::Bytes(vec![0; 16]));
    h.refused(&mut c, Request::Decrypt { session: s, mechanism: m, key: w, data: blob[..32].to_vec() }, Rv::KEY_FUNCTION_NOT_PERMITTED);
    // And the decrypt flag cannot be switched on later.
    h.refused(
        &mut c,
        Request::SetAttributeValue { session: s, object: w, template: vec![Attribute::bool(CKA_DECRYPT, true)] },
        Rv::TEMPLATE_INCONSISTENT,
    );
}

/// Encrypt known data with a key, then unwrap it as a key: refused because a data key cannot gain CKA_UNWRAP.
#[test]
fn encrypt_then_unwrap_is_refused() {
    let h = Harness::new("clulow2");
    let (mut c, s) = h.user();
    let k = h.aes_key(&mut c, s, &[(CKA_ENCRYPT, true), (CKA_DECRYPT, true)]);
    h.refused(
        &mut c,
        Request::SetAttributeValue { session: s, object: k, template: vec![Attribute::bool(CKA_UNWRAP, true)] },
        Rv::TEMPLATE_INCONSISTENT,
    );
    h.refused(
        &mut c,
        Request::UnwrapKey {
            session: s,
            mechanism: wrap_mech(),
            unwrapping_key: k,
            wrapped: vec![0; 40],
            template: vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES)],
        },
        Rv::KEY_FUNCTION_NOT_PERMITTED,
    );
}

/// Attribute flips: sensitive stays sensitive, non-extractable stays non-extractable, provenance is the TA's.
#[test]
fn attribute_flips_are_refused() {
    let h = Harness::new("clulow3");
    let (mut c, s) = h.user();
    let k = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, false), (CKA_ENCRYPT, true)]);
    for (ty, v) in [(CKA_SENSITIVE, false), (CKA_EXTRACTABLE, true)] {
        h.refused(&mut c, Request::SetAttributeValue { session: s, object: k, template: vec![Attribute::bool(ty, v)] }, Rv::ATTRIBUTE_READ_ONLY);
    }
    for ty in [CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE] {
        h.refused(&mut c, Request::SetAttributeValue { session: s, object: k, template: vec![Attribute::bool(ty, false)] }, Rv::ATTRIBUTE_READ_ONLY);
        let t = vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(ty, true)];
        h.refused(&mut c, Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t }, Rv::ATTRIBUTE_READ_ONLY);
    }
    // The value of a sensitive or non-extractable key is never returned.
    assert_eq!(h.attr(&mut c, s, k, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
    let ne = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, false), (CKA_EXTRACTABLE, false)]);
    assert_eq!(h.attr(&mut c, s, ne, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
    // Tightening is allowed, and then permanent.
    let open = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, false), (CKA_EXTRACTABLE, true)]);
    assert_eq!(h.attr(&mut c, s, open, CKA_VALUE).unwrap().len(), 32);
    h.ok(&mut c, Request::SetAttributeValue { session: s, object: open, template: vec![Attribute::bool(CKA_SENSITIVE, true)] });
    assert_eq!(h.attr(&mut c, s, open, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
    assert_eq!(h.attr(&mut c, s, open, CKA_ALWAYS_SENSITIVE).unwrap(), vec![0], "it was not always sensitive");
}

/// Tookan: import a key whose value the attacker knows, use it to wrap a sensitive key, decrypt offline.
#[test]
fn known_key_as_wrapping_key_is_refused() {
    let h = Harness::new("clulow4");
    let (mut c, s) = h.user();
    let target = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, true), (CKA_ENCRYPT, true)]);
    let known = h.handle(
        &mut c,
        Request::CreateObject {
            session: s,
            template: vec![
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::new(CKA_VALUE, vec![0x42; 32]),
                Attribute::bool(CKA_WRAP, true),
            ],
        },
    );
    h.refused(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: known, key: target }, Rv::KEY_NOT_WRAPPABLE);
}

/// Tookan: smuggle a known key in through unwrap under a legitimate KEK, then wrap with it.
#[test]
fn unwrapped_known_key_as_wrapping_key_is_refused() {
    let h = Harness::new("clulow5");
    let (mut c, s) = h.user();
    let kek = h.aes_key(&mut c, s, &[(CKA_WRAP, true), (CKA_UNWRAP, true)]);
    let target = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, true), (CKA_ENCRYPT, true)]);
    // The attacker's key: known value, extractable, not sensitive.
    let mine = h.handle(
        &mut c,
        Request::CreateObject {
            session: s,
            template: vec![
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::new(CKA_VALUE, vec![0x24; 32]),
                Attribute::bool(CKA_SENSITIVE, false),
                Attribute::bool(CKA_EXTRACTABLE, true),
            ],
        },
    );
    let blob = h.bytes(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: kek, key: mine });
    let smuggled = h.handle(
        &mut c,
        Request::UnwrapKey {
            session: s,
            mechanism: wrap_mech(),
            unwrapping_key: kek,
            wrapped: blob,
            template: vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_WRAP, true)],
        },
    );
    assert_eq!(h.attr(&mut c, s, smuggled, CKA_LOCAL).unwrap(), vec![0]);
    h.refused(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: smuggled, key: target }, Rv::KEY_NOT_WRAPPABLE);
}

/// Wrap a sensitive key, then unwrap the blob asking for a non-sensitive, extractable copy.
#[test]
fn reunwrap_as_nonsensitive_is_refused() {
    let h = Harness::new("clulow6");
    let (mut c, s) = h.user();
    let kek = h.aes_key(&mut c, s, &[(CKA_WRAP, true), (CKA_UNWRAP, true)]);
    let target = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, true), (CKA_ENCRYPT, true)]);
    let blob = h.bytes(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: kek, key: target });
    let base = vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_EXTRACTABLE, true)];
    let mut t = base.clone();
    t.push(Attribute::bool(CKA_SENSITIVE, false));
    h.refused(
        &mut c,
        Request::UnwrapKey { session: s, mechanism: wrap_mech(), unwrapping_key: kek, wrapped: blob.clone(), template: t },
        Rv::TEMPLATE_INCONSISTENT,
    );
    // Without asking, the result is sensitive anyway and its value unreadable.
    let k = h.handle(&mut c, Request::UnwrapKey { session: s, mechanism: wrap_mech(), unwrapping_key: kek, wrapped: blob, template: base });
    assert_eq!(h.attr(&mut c, s, k, CKA_SENSITIVE).unwrap(), vec![1]);
    assert_eq!(h.attr(&mut c, s, k, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
}

/// C_CopyObject cannot launder protection away, and the copy keeps its provenance.
#[test]
fn copy_object_laundering_is_refused() {
    let h = Harness::new("clulow7");
    let (mut c, s) = h.user();
    let k = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, false), (CKA_ENCRYPT, true)]);
    h.refused(&mut c, Request::CopyObject { session: s, object: k, template: vec![Attribute::bool(CKA_SENSITIVE, false)] }, Rv::ATTRIBUTE_READ_ONLY);
    h.refused(&mut c, Request::CopyObject { session: s, object: k, template: vec![Attribute::bool(CKA_EXTRACTABLE, true)] }, Rv::ATTRIBUTE_READ_ONLY);
    h.refused(&mut c, Request::CopyObject { session: s, object: k, template: vec![Attribute::bool(CKA_WRAP, true)] }, Rv::TEMPLATE_INCONSISTENT);
    let copy = h.handle(&mut c, Request::CopyObject { session: s, object: k, template: vec![Attribute::new(CKA_LABEL, b"copy".to_vec())] });
    assert_eq!(h.attr(&mut c, s, copy, CKA_ALWAYS_SENSITIVE).unwrap(), vec![1]);
    assert_eq!(h.attr(&mut c, s, copy, CKA_NEVER_EXTRACTABLE).unwrap(), vec![1]);
    assert_eq!(h.attr(&mut c, s, copy, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
    // A non-copyable key cannot be copied at all.
    let nc = h.aes_key(&mut c, s, &[(CKA_COPYABLE, false), (CKA_ENCRYPT, true)]);
    h.refused(&mut c, Request::CopyObject { session: s, object: nc, template: vec![] }, Rv::ACTION_PROHIBITED);
}

/// Wrapping needs consent: non-extractable keys cannot be wrapped; WRAP_WITH_TRUSTED needs a trusted key; only the SO trusts.
#[test]
fn wrap_consent_rules_hold() {
    let h = Harness::new("clulow8");
    let (mut c, s) = h.user();
    let kek = h.aes_key(&mut c, s, &[(CKA_WRAP, true), (CKA_UNWRAP, true)]);
    let locked = h.aes_key(&mut c, s, &[(CKA_EXTRACTABLE, false), (CKA_ENCRYPT, true)]);
    h.refused(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: kek, key: locked }, Rv::KEY_UNEXTRACTABLE);
    let wwt = h.aes_key(&mut c, s, &[(CKA_EXTRACTABLE, true), (CKA_WRAP_WITH_TRUSTED, true), (CKA_ENCRYPT, true)]);
    h.refused(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: kek, key: wwt }, Rv::KEY_NOT_WRAPPABLE);
    h.refused(
        &mut c,
        Request::SetAttributeValue { session: s, object: kek, template: vec![Attribute::bool(CKA_TRUSTED, true)] },
        Rv::ATTRIBUTE_READ_ONLY,
    );
    // A generated, never-extractable KEK may wrap a sensitive extractable key.
    let ok_target = h.aes_key(&mut c, s, &[(CKA_EXTRACTABLE, true), (CKA_ENCRYPT, true)]);
    let blob = h.bytes(&mut c, Request::WrapKey { session: s, mechanism: wrap_mech(), wrapping_key: kek, key: ok_target });
    assert_eq!(blob.len(), 40);
}

/// Sessions: a read-only session cannot create token objects; private objects need a login and are invisible without one.
#[test]
fn session_rules_hold() {
    let h = Harness::new("clulow9");
    let mut c = h.conn();
    let ro = h.open(&mut c, false);
    h.ok(&mut c, Request::Login { session: ro, user_type: CKU_USER, pin: Secret(common::USER_PIN.to_vec()) });
    let t = vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_TOKEN, true)];
    h.refused(&mut c, Request::GenerateKey { session: ro, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t }, Rv::SESSION_READ_ONLY);
    let (mut u, s) = h.user();
    let k = h.aes_key(&mut u, s, &[(CKA_TOKEN, true), (CKA_ENCRYPT, true)]);
    let mut anon = h.conn();
    let s2 = h.open(&mut anon, false);
    match h.ok(&mut anon, Request::FindObjects { session: s2, template: vec![], max: 100 }) {
        Reply::Handles(v) => assert!(!v.contains(&k), "a private key is invisible before login"),
        r => panic!("{r:?}"),
    }
    let m = Mechanism::with(CKM_AES_CBC, MechParam::Bytes(vec![0; 16]));
    h.refused(&mut anon, Request::Encrypt { session: s2, mechanism: m, key: k, data: vec![0; 16] }, Rv::KEY_HANDLE_INVALID);
}

/// Tookan, asymmetric: wrap a sensitive key under an RSA public key whose
/// private half the attacker knows (imported, or generated extractable).
/// Only a public key whose pair the TA generated with a never-known private
/// half may wrap sensitive keys.
#[test]
fn public_wrapping_key_needs_a_never_known_private_half() {
    let h = Harness::new("clulow-rsa-wrap");
    let (mut c, s) = h.user();
    let target = h.aes_key(&mut c, s, &[(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, true), (CKA_ENCRYPT, true)]);
    let oaep = Mechanism::with(
        CKM_RSA_PKCS_OAEP,
        MechParam::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, source: CKZ_DATA_SPECIFIED, source_data: vec![] },
    );
    let pair = |c: &mut teehsm_ta::handler::Connection, private_extra: Vec<Attribute>| -> (u64, u64) {
        let mut private = vec![Attribute::bool(CKA_UNWRAP, true), Attribute::bool(CKA_TOKEN, false)];
        private.extend(private_extra);
        match h.ok(
            c,
            Request::GenerateKeyPair {
                session: s,
                mechanism: Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
                public_template: vec![Attribute::ulong(CKA_MODULUS_BITS, 2048), Attribute::bool(CKA_WRAP, true), Attribute::bool(CKA_TOKEN, false)],
                private_template: private,
            },
        ) {
            Reply::KeyPair { public, private } => (public, private),
            r => panic!("{r:?}"),
        }
    };
    // Generated in the TA, private half sensitive and not extractable: may wrap.
    let (good_pub, good_priv) = pair(&mut c, vec![]);
    assert_eq!(h.attr(&mut c, s, good_pub, CKA_TEEHSM_PRIVATE_NEVER_KNOWN).unwrap(), vec![1]);
    let blob = h.bytes(&mut c, Request::WrapKey { session: s, mechanism: oaep.clone(), wrapping_key: good_pub, key: target });
    h.handle(
        &mut c,
        Request::UnwrapKey {
            session: s,
            mechanism: oaep.clone(),
            unwrapping_key: good_priv,
            wrapped: blob,
            template: vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_TOKEN, false)],
        },
    );
    // Generated with an extractable private half: the attacker can read it out.
    let (leaky_pub, _) = pair(&mut c, vec![Attribute::bool(CKA_EXTRACTABLE, true)]);
    assert_eq!(h.attr(&mut c, s, leaky_pub, CKA_TEEHSM_PRIVATE_NEVER_KNOWN).unwrap(), vec![0]);
    h.refused(&mut c, Request::WrapKey { session: s, mechanism: oaep.clone(), wrapping_key: leaky_pub, key: target }, Rv::KEY_NOT_WRAPPABLE);
    // Imported public key (the private half is the attacker's): refused.
    let n = h.attr(&mut c, s, good_pub, CKA_MODULUS).unwrap();
    let imported = h.handle(
        &mut c,
        Request::CreateObject {
            session: s,
            template: vec![
                Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::new(CKA_MODULUS, n),
                Attribute::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
                Attribute::bool(CKA_WRAP, true),
                Attribute::bool(CKA_TOKEN, false),
            ],
        },
    );
    h.refused(&mut c, Request::WrapKey { session: s, mechanism: oaep, wrapping_key: imported, key: target }, Rv::KEY_NOT_WRAPPABLE);
    // And the flag cannot be forged.
    h.refused(
        &mut c,
        Request::SetAttributeValue { session: s, object: imported, template: vec![Attribute::bool(CKA_TEEHSM_PRIVATE_NEVER_KNOWN, true)] },
        Rv::ATTRIBUTE_READ_ONLY,
    );
}
