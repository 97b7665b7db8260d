//! Byte-level and encrypt-data derivations, and policy rule R10: they only
//! take keys whose value is readable anyway.

mod common;

use common::*;
use teehsm_ta::handler::Connection;
use teehsm_wire::ck::*;
use teehsm_wire::*;

fn secret(h: &Harness, c: &mut Connection, s: u64, kt: u64, value: &[u8], readable: bool) -> u64 {
    let t = vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, kt),
        Attribute { ty: CKA_VALUE, value: value.to_vec() },
        Attribute::bool(CKA_DERIVE, true),
        Attribute::bool(CKA_TOKEN, false),
        Attribute::bool(CKA_SENSITIVE, !readable),
        Attribute::bool(CKA_EXTRACTABLE, readable),
    ];
    h.handle(c, Request::CreateObject { session: s, template: t })
}

fn derived_template(len: Option<u64>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::bool(CKA_TOKEN, false),
        Attribute::bool(CKA_SENSITIVE, false),
        Attribute::bool(CKA_EXTRACTABLE, true),
    ];
    if let Some(l) = len {
        t.push(Attribute::ulong(CKA_VALUE_LEN, l));
    }
    t
}

fn derive(h: &Harness, c: &mut Connection, s: u64, m: Mechanism, base: u64, len: Option<u64>) -> Vec<u8> {
    let k = h.handle(c, Request::DeriveKey { session: s, mechanism: m, base_key: base, template: derived_template(len) });
    h.attr(c, s, k, CKA_VALUE).expect("derived key is readable")
}

#[test]
fn byte_derivations_compute_what_pkcs11_defines() {
    let h = Harness::new("derive-bytes");
    let (mut c, s) = h.user();
    let a = secret(&h, &mut c, s, CKK_GENERIC_SECRET, &[1, 2, 3], true);
    let b = secret(&h, &mut c, s, CKK_GENERIC_SECRET, &[4, 5, 6], true);
    assert_eq!(derive(&h, &mut c, s, Mechanism::with(CKM_CONCATENATE_BASE_AND_KEY, MechParam::Ulong(b)), a, None), [1, 2, 3, 4, 5, 6]);
    assert_eq!(derive(&h, &mut c, s, Mechanism::with(CKM_CONCATENATE_BASE_AND_DATA, MechParam::Bytes(vec![9, 9])), a, None), [1, 2, 3, 9, 9]);
    assert_eq!(derive(&h, &mut c, s, Mechanism::with(CKM_CONCATENATE_DATA_AND_BASE, MechParam::Bytes(vec![9, 9])), a, None), [9, 9, 1, 2, 3]);
    assert_eq!(derive(&h, &mut c, s, Mechanism::with(CKM_XOR_BASE_AND_DATA, MechParam::Bytes(vec![1, 2, 3])), a, None), [0, 0, 0]);
    // Extraction: bits from index 3 on, wrapping around (the cryptoki crate's own example).
    let e = secret(&h, &mut c, s, CKK_GENERIC_SECRET, &[0x12, 0x34, 0x56, 0x78, 0x90, 0x01], true);
    let want = ((u32::from_be_bytes([0x12, 0x34, 0x56, 0x78]) << 3) & 0xFFFF_0000).to_be_bytes();
    assert_eq!(derive(&h, &mut c, s, Mechanism::with(CKM_EXTRACT_KEY_FROM_KEY, MechParam::Ulong(3)), e, Some(2)), want[..2]);
    // Wrap-around: 8 bits past the end of a 1-byte key is the key again.
    let one = secret(&h, &mut c, s, CKK_GENERIC_SECRET, &[0xA5], true);
    assert_eq!(derive(&h, &mut c, s, Mechanism::with(CKM_EXTRACT_KEY_FROM_KEY, MechParam::Ulong(12)), one, None), [0x5A]);
    // Bad parameters.
    h.refused(
        &mut c,
        Request::DeriveKey { session: s, mechanism: Mechanism::new(CKM_CONCATENATE_BASE_AND_DATA), base_key: a, template: derived_template(None) },
        Rv::MECHANISM_PARAM_INVALID,
    );
    h.refused(
        &mut c,
        Request::DeriveKey {
            session: s,
            mechanism: Mechanism::with(CKM_CONCATENATE_BASE_AND_KEY, MechParam::Ulong(0xdead)),
            base_key: a,
            template: derived_template(None),
        },
        Rv::MECHANISM_PARAM_INVALID,
    );
}

#[test]
fn rule_r10_keeps_protected_keys_out_of_byte_derivations() {
    let h = Harness::new("derive-r10");
    let (mut c, s) = h.user();
    let open = secret(&h, &mut c, s, CKK_GENERIC_SECRET, &[1; 16], true);
    let protected = secret(&h, &mut c, s, CKK_GENERIC_SECRET, &[2; 16], false);
    for m in [
        Mechanism::with(CKM_XOR_BASE_AND_DATA, MechParam::Bytes(vec![0xff; 16])),
        Mechanism::with(CKM_EXTRACT_KEY_FROM_KEY, MechParam::Ulong(0)),
        Mechanism::with(CKM_CONCATENATE_BASE_AND_DATA, MechParam::Bytes(vec![0])),
        Mechanism::with(CKM_CONCATENATE_DATA_AND_BASE, MechParam::Bytes(vec![0])),
        Mechanism::with(CKM_CONCATENATE_BASE_AND_KEY, MechParam::Ulong(open)),
    ] {
        let msg = h.refused(
            &mut c,
            Request::DeriveKey { session: s, mechanism: m.clone(), base_key: protected, template: derived_template(Some(1)) },
            Rv::KEY_FUNCTION_NOT_PERMITTED,
        );
        assert!(msg.contains("R10"), "{msg}");
    }
    // A protected *second* key is refused too.
    h.refused(
        &mut c,
        Request::DeriveKey {
            session: s,
            mechanism: Mechanism::with(CKM_CONCATENATE_BASE_AND_KEY, MechParam::Ulong(protected)),
            base_key: open,
            template: derived_template(None),
        },
        Rv::KEY_FUNCTION_NOT_PERMITTED,
    );
}

#[test]
fn aes_encrypt_data_derivations_match_encryption() {
    let h = Harness::new("derive-aes");
    let (mut c, s) = h.user();
    let key = [0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c];
    let base = secret(&h, &mut c, s, CKK_AES, &key, false);
    // NIST SP 800-38A F.1.1 / F.2.1, first block.
    let pt = hex("6bc1bee22e409f96e93d7e117393172a");
    let ecb = derive(&h, &mut c, s, Mechanism::with(CKM_AES_ECB_ENCRYPT_DATA, MechParam::Bytes(pt.clone())), base, None);
    assert_eq!(ecb, hex("3ad77bb40d7a3660a89ecaf32466ef97"));
    let iv = hex("000102030405060708090a0b0c0d0e0f");
    let cbc = derive(&h, &mut c, s, Mechanism::with(CKM_AES_CBC_ENCRYPT_DATA, MechParam::CbcEncryptData { iv, data: pt }), base, None);
    assert_eq!(cbc, hex("7649abac8119b246cee98e9b12e9197d"));
    h.refused(
        &mut c,
        Request::DeriveKey {
            session: s,
            mechanism: Mechanism::with(CKM_AES_ECB_ENCRYPT_DATA, MechParam::Bytes(vec![1; 15])),
            base_key: base,
            template: derived_template(None),
        },
        Rv::MECHANISM_PARAM_INVALID,
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// C_DigestKey digests a key's value only when the caller could read it
/// anyway (R10's condition); a protected key is indigestible and the
/// digest operation survives the refusal only in the TA's bookkeeping.
#[test]
fn digest_key_takes_only_readable_keys() {
    let h = Harness::new("digest-key");
    let (mut c, s) = h.user();
    let value = [0x42u8; 16];
    let open = secret(&h, &mut c, s, CKK_AES, &value, true);
    let closed = secret(&h, &mut c, s, CKK_AES, &value, false);
    // digest(data || key value) through DigestKey equals the digest of the concatenation
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA256), key: 0 });
    h.ok(&mut c, Request::OpUpdate { session: s, kind: OpKind::Digest, data: b"abc".to_vec() });
    h.ok(&mut c, Request::DigestKey { session: s, key: open });
    let via_key = h.bytes(&mut c, Request::OpFinal { session: s, kind: OpKind::Digest, signature: vec![] });
    let mut whole = b"abc".to_vec();
    whole.extend_from_slice(&value);
    let direct = h.bytes(&mut c, Request::Digest { session: s, mechanism: Mechanism::new(CKM_SHA256), data: whole });
    assert_eq!(via_key, direct);
    // a sensitive key is refused
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA256), key: 0 });
    h.refused(&mut c, Request::DigestKey { session: s, key: closed }, Rv::KEY_INDIGESTIBLE);
    // without an active digest
    h.ok(&mut c, Request::OpFinal { session: s, kind: OpKind::Digest, signature: vec![] });
    h.refused(&mut c, Request::DigestKey { session: s, key: open }, Rv::OPERATION_NOT_INITIALIZED);
}

/// Keys created from a caller-supplied value take PKCS#11's permissive
/// defaults; keys made in the TA stay protected by default.
#[test]
fn created_keys_default_readable_generated_keys_protected() {
    let h = Harness::new("key-defaults");
    let (mut c, s) = h.user();
    let created = h.handle(
        &mut c,
        Request::CreateObject {
            session: s,
            template: vec![
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute { ty: CKA_VALUE, value: vec![7; 16] },
            ],
        },
    );
    assert_eq!(h.attr(&mut c, s, created, CKA_SENSITIVE), Ok(vec![0]));
    assert_eq!(h.attr(&mut c, s, created, CKA_EXTRACTABLE), Ok(vec![1]));
    assert_eq!(h.attr(&mut c, s, created, CKA_ALWAYS_SENSITIVE), Ok(vec![0]));
    let generated = h.handle(
        &mut c,
        Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: vec![Attribute::ulong(CKA_VALUE_LEN, 16)] },
    );
    assert_eq!(h.attr(&mut c, s, generated, CKA_SENSITIVE), Ok(vec![1]));
    assert_eq!(h.attr(&mut c, s, generated, CKA_EXTRACTABLE), Ok(vec![0]));
    assert_eq!(h.attr(&mut c, s, generated, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
}
