//! Multi-part digest / sign / verify in the TA (OpInit, OpUpdate, OpFinal).

mod common;

use common::*;
use teehsm_ta::handler::Connection;
use teehsm_wire::ck::*;
use teehsm_wire::*;

const P256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

#[allow(clippy::too_many_arguments)] // one multi-part call, spelled out
fn multi(h: &Harness, c: &mut Connection, s: u64, kind: OpKind, m: &Mechanism, key: u64, parts: &[&[u8]], signature: &[u8]) -> Response {
    h.ok(c, Request::OpInit { session: s, kind, mechanism: m.clone(), key });
    for p in parts {
        h.ok(c, Request::OpUpdate { session: s, kind, data: p.to_vec() });
    }
    h.call(c, Request::OpFinal { session: s, kind, signature: signature.to_vec() })
}

fn bytes(r: Response) -> Vec<u8> {
    match r {
        Response::Ok(Reply::Bytes(b)) => b,
        r => panic!("expected bytes, got {r:?}"),
    }
}

fn pair(h: &Harness, c: &mut Connection, s: u64, mech: u64, public: Vec<Attribute>) -> (u64, u64) {
    let mut public = public;
    public.extend([Attribute::bool(CKA_VERIFY, true), Attribute::bool(CKA_TOKEN, false)]);
    match h.ok(
        c,
        Request::GenerateKeyPair {
            session: s,
            mechanism: Mechanism::new(mech),
            public_template: public,
            private_template: vec![Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, false)],
        },
    ) {
        Reply::KeyPair { public, private } => (public, private),
        r => panic!("{r:?}"),
    }
}

#[test]
fn multi_part_digests_equal_one_shot() {
    let h = Harness::new("stream-digest");
    let (mut c, s) = h.user();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    for mech in [CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_SM3] {
        let m = Mechanism::new(mech);
        let want = h.bytes(&mut c, Request::Digest { session: s, mechanism: m.clone(), data: data.clone() });
        let got = bytes(multi(&h, &mut c, s, OpKind::Digest, &m, 0, &[&data[..1], &data[1..4096], &data[4096..], b""], b""));
        assert_eq!(got, want, "0x{mech:x}");
    }
}

#[test]
fn multi_part_signatures_interoperate_with_one_shot() {
    let h = Harness::new("stream-sign");
    let (mut c, s) = h.user();
    let (ec_pub, ec_priv) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]);
    let (rsa_pub, rsa_priv) = pair(&h, &mut c, s, CKM_RSA_PKCS_KEY_PAIR_GEN, vec![Attribute::ulong(CKA_MODULUS_BITS, 2048)]);
    let (sm2_pub, sm2_priv) = pair(&h, &mut c, s, CKM_SM2_KEY_PAIR_GEN, vec![]);
    let (ml_pub, ml_priv) = pair(&h, &mut c, s, CKM_ML_DSA_KEY_PAIR_GEN, vec![Attribute::ulong(CKA_PARAMETER_SET, CKP_ML_DSA_65)]);
    let mac_key = h.aes_key(&mut c, s, &[(CKA_SIGN, true), (CKA_VERIFY, true)]);
    let hmac_key = h.handle(
        &mut c,
        Request::GenerateKey {
            session: s,
            mechanism: Mechanism::new(CKM_GENERIC_SECRET_KEY_GEN),
            template: vec![
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_SIGN, true),
                Attribute::bool(CKA_VERIFY, true),
                Attribute::bool(CKA_TOKEN, false),
            ],
        },
    );
    let pss = MechParam::Pss { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, salt_len: 32 };
    let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let parts: [&[u8]; 3] = [&data[..10], &data[10..2000], &data[2000..]];
    // (mechanism, signing key, verifying key, deterministic?)
    let cases = [
        (Mechanism::new(CKM_ECDSA_SHA256), ec_priv, ec_pub, false),
        (Mechanism::new(CKM_SHA256_RSA_PKCS), rsa_priv, rsa_pub, true),
        (Mechanism::with(CKM_SHA256_RSA_PKCS_PSS, pss), rsa_priv, rsa_pub, false),
        (Mechanism::new(CKM_SM2_SM3), sm2_priv, sm2_pub, false),
        (Mechanism::new(CKM_ML_DSA), ml_priv, ml_pub, false),
        (Mechanism::new(CKM_SHA256_HMAC), hmac_key, hmac_key, true),
        (Mechanism::new(CKM_SM3_HMAC), hmac_key, hmac_key, true),
        (Mechanism::new(CKM_AES_CMAC), mac_key, mac_key, true),
    ];
    for (m, sk, vk, deterministic) in cases {
        let one = h.bytes(&mut c, Request::Sign { session: s, mechanism: m.clone(), key: sk, data: data.clone() });
        let many = bytes(multi(&h, &mut c, s, OpKind::Sign, &m, sk, &parts, b""));
        if deterministic {
            assert_eq!(many, one, "0x{:x}", m.mech);
        }
        // Each verifies the other way.
        h.ok(&mut c, Request::Verify { session: s, mechanism: m.clone(), key: vk, data: data.clone(), signature: many.clone() });
        match multi(&h, &mut c, s, OpKind::Verify, &m, vk, &parts, &one) {
            Response::Ok(Reply::Done) => {}
            r => panic!("0x{:x}: {r:?}", m.mech),
        }
        // A wrong signature is refused and ends the operation.
        let mut bad = one.clone();
        bad[4] ^= 1;
        match multi(&h, &mut c, s, OpKind::Verify, &m, vk, &parts, &bad) {
            Response::Err { rv, .. } => assert_eq!(rv, Rv::SIGNATURE_INVALID, "0x{:x}", m.mech),
            r => panic!("0x{:x}: {r:?}", m.mech),
        }
        h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Verify, signature: one }, Rv::OPERATION_NOT_INITIALIZED);
    }
}

/// Hash-based mechanisms never hold the message, so a message far beyond
/// one frame (here 24 MiB in 1 MiB parts) signs and verifies.
#[test]
fn hash_based_signing_takes_messages_larger_than_a_frame() {
    let h = Harness::new("stream-big");
    let (mut c, s) = h.user();
    let (pk, sk) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]);
    let chunk = vec![0x5au8; 1 << 20];
    let parts: Vec<&[u8]> = (0..24).map(|_| chunk.as_slice()).collect();
    let m = Mechanism::new(CKM_ECDSA_SHA256);
    let sig = bytes(multi(&h, &mut c, s, OpKind::Sign, &m, sk, &parts, b""));
    match multi(&h, &mut c, s, OpKind::Verify, &m, pk, &parts, &sig) {
        Response::Ok(Reply::Done) => {}
        r => panic!("{r:?}"),
    }
    // A mechanism that needs the whole message stops at 16 MiB.
    let mac = h.aes_key(&mut c, s, &[(CKA_SIGN, true)]);
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_AES_CMAC), key: mac });
    let mut refused = None;
    for _ in 0..17 {
        if let Response::Err { rv, .. } = h.call(&mut c, Request::OpUpdate { session: s, kind: OpKind::Sign, data: chunk.clone() }) {
            refused = Some(rv);
            break;
        }
    }
    assert_eq!(refused, Some(Rv::DATA_LEN_RANGE));
    h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
}

#[test]
fn operation_state_errors_and_lifetime() {
    let h = Harness::new("stream-state");
    let (mut c, s) = h.user();
    let (_, sk) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]);
    let m = Mechanism::new(CKM_ECDSA_SHA256);
    h.refused(&mut c, Request::OpUpdate { session: s, kind: OpKind::Sign, data: vec![1] }, Rv::OPERATION_NOT_INITIALIZED);
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk });
    h.refused(&mut c, Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk }, Rv::OPERATION_ACTIVE);
    // A digest may run alongside.
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA256), key: 0 });
    // Logout ends operations started under the login.
    h.ok(&mut c, Request::Logout { session: s });
    h.refused(&mut c, Request::OpUpdate { session: s, kind: OpKind::Sign, data: vec![1] }, Rv::OPERATION_NOT_INITIALIZED);
    h.ok(&mut c, Request::Login { session: s, user_type: CKU_USER, pin: Secret(USER_PIN.to_vec()) });
    // Mechanism and key checks happen at init.
    h.refused(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_AES_ECB), key: 0 }, Rv::MECHANISM_INVALID);
    h.refused(&mut c, Request::OpInit { session: s, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_SHA256), key: sk }, Rv::MECHANISM_INVALID);
    let enc_only = h.aes_key(&mut c, s, &[(CKA_ENCRYPT, true)]);
    h.refused(
        &mut c,
        Request::OpInit { session: s, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_AES_CMAC), key: enc_only },
        Rv::KEY_FUNCTION_NOT_PERMITTED,
    );
    // Closing the session ends its operations.
    let s2 = h.open(&mut c, false);
    h.ok(&mut c, Request::OpInit { session: s2, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA256), key: 0 });
    h.ok(&mut c, Request::CloseSession { session: s2 });
    h.refused(&mut c, Request::OpUpdate { session: s2, kind: OpKind::Digest, data: vec![1] }, Rv::SESSION_HANDLE_INVALID);
}

#[allow(clippy::too_many_arguments)] // one multi-part call, spelled out
fn cipher_multi(h: &Harness, c: &mut Connection, s: u64, kind: OpKind, m: &Mechanism, key: u64, data: &[u8], cuts: &[usize]) -> Result<Vec<u8>, Rv> {
    h.ok(c, Request::OpInit { session: s, kind, mechanism: m.clone(), key });
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.min(data.len());
        match h.call(c, Request::OpUpdate { session: s, kind, data: data[at..cut].to_vec() }) {
            Response::Ok(Reply::Bytes(b)) => out.extend(b),
            Response::Err { rv, .. } => return Err(rv),
            r => panic!("{r:?}"),
        }
        at = cut;
    }
    match h.call(c, Request::OpFinal { session: s, kind, signature: vec![] }) {
        Response::Ok(Reply::Bytes(b)) => {
            out.extend(b);
            Ok(out)
        }
        Response::Err { rv, .. } => Err(rv),
        r => panic!("{r:?}"),
    }
}

#[test]
fn multi_part_encryption_matches_one_shot_for_every_mode() {
    let h = Harness::new("stream-cipher");
    let (mut c, s) = h.user();
    let aes = h.aes_key(&mut c, s, &[(CKA_ENCRYPT, true), (CKA_DECRYPT, true)]);
    let sm4 = h.handle(
        &mut c,
        Request::GenerateKey {
            session: s,
            mechanism: Mechanism::new(CKM_SM4_KEY_GEN),
            template: vec![Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_DECRYPT, true), Attribute::bool(CKA_TOKEN, false)],
        },
    );
    let iv = MechParam::Bytes((0..16).collect());
    let ctr = |bits| MechParam::Ctr { counter_bits: bits, counter_block: vec![0xf0; 16] };
    let gcm = MechParam::Gcm { iv: vec![3; 12], aad: b"hdr".to_vec(), tag_bits: 128 };
    let whole: Vec<u8> = (0..1024u32).map(|i| (i * 31) as u8).collect();
    let odd = &whole[..1000];
    let cuts = [1, 15, 17, 33, 500, 999];
    let cases = [
        (Mechanism::new(CKM_AES_ECB), aes, &whole[..]),
        (Mechanism::with(CKM_AES_CBC, iv.clone()), aes, &whole[..]),
        (Mechanism::with(CKM_AES_CBC_PAD, iv.clone()), aes, odd),
        (Mechanism::with(CKM_AES_CBC_PAD, iv.clone()), aes, &whole[..]),
        (Mechanism::with(CKM_AES_CTR, ctr(128)), aes, odd),
        (Mechanism::with(CKM_AES_CTR, ctr(16)), aes, odd),
        (Mechanism::with(CKM_AES_GCM, gcm.clone()), aes, odd),
        (Mechanism::with(CKM_SM4_CBC_PAD, iv.clone()), sm4, odd),
        (Mechanism::with(CKM_SM4_CTR, ctr(128)), sm4, odd),
        (Mechanism::with(CKM_SM4_GCM, gcm.clone()), sm4, odd),
    ];
    for (m, key, pt) in cases {
        let one = h.bytes(&mut c, Request::Encrypt { session: s, mechanism: m.clone(), key, data: pt.to_vec() });
        let many = cipher_multi(&h, &mut c, s, OpKind::Encrypt, &m, key, pt, &cuts).unwrap();
        assert_eq!(many, one, "encrypt 0x{:x} {} bytes", m.mech, pt.len());
        let back = cipher_multi(&h, &mut c, s, OpKind::Decrypt, &m, key, &one, &cuts).unwrap();
        assert_eq!(back, pt, "decrypt 0x{:x}", m.mech);
    }
    // Errors end the operation with the precise code.
    assert_eq!(cipher_multi(&h, &mut c, s, OpKind::Encrypt, &Mechanism::new(CKM_AES_ECB), aes, odd, &cuts), Err(Rv::DATA_LEN_RANGE));
    let m = Mechanism::with(CKM_AES_CBC_PAD, iv);
    assert_eq!(cipher_multi(&h, &mut c, s, OpKind::Decrypt, &m, aes, &whole[..40], &[3]), Err(Rv::ENCRYPTED_DATA_LEN_RANGE));
    let small = Mechanism::with(CKM_AES_CTR, ctr(4)); // 16 blocks at most
    assert_eq!(cipher_multi(&h, &mut c, s, OpKind::Encrypt, &small, aes, &whole[..257], &[100, 200]), Err(Rv::DATA_LEN_RANGE));
    let gm = Mechanism::with(CKM_AES_GCM, gcm);
    let mut sealed = h.bytes(&mut c, Request::Encrypt { session: s, mechanism: gm.clone(), key: aes, data: odd.to_vec() });
    sealed[5] ^= 1;
    assert_eq!(cipher_multi(&h, &mut c, s, OpKind::Decrypt, &gm, aes, &sealed, &cuts), Err(Rv::ENCRYPTED_DATA_INVALID));
    h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Decrypt, signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
}

// ---------------------------------------------------------------- OpSingle (C_Sign & co. after *Init, one round trip)

fn single(h: &Harness, c: &mut Connection, s: u64, kind: OpKind, data: &[u8], signature: &[u8]) -> Response {
    h.call(c, Request::OpSingle { session: s, kind, data: data.to_vec(), signature: signature.to_vec() })
}

#[test]
fn op_single_signs_and_verifies_ecdsa_p256() {
    let h = Harness::new("single-ecdsa");
    let (mut c, s) = h.user();
    let (pk, sk) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]);
    let m = Mechanism::new(CKM_ECDSA_SHA256);
    let data: Vec<u8> = (0..777u32).map(|i| (i * 13) as u8).collect();
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk });
    let sig = bytes(single(&h, &mut c, s, OpKind::Sign, &data, b""));
    assert_eq!(sig.len(), 64, "CKM_ECDSA signatures are r||s");
    // The signing operation is over.
    h.refused(&mut c, Request::OpSingle { session: s, kind: OpKind::Sign, data: data.clone(), signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
    // It verifies one-shot, multi-part and through OpSingle.
    h.ok(&mut c, Request::Verify { session: s, mechanism: m.clone(), key: pk, data: data.clone(), signature: sig.clone() });
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Verify, mechanism: m.clone(), key: pk });
    match single(&h, &mut c, s, OpKind::Verify, &data, &sig) {
        Response::Ok(Reply::Done) => {}
        r => panic!("{r:?}"),
    }
    h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Verify, signature: sig.clone() }, Rv::OPERATION_NOT_INITIALIZED);
    // A tampered signature, and tampered data, are refused and end the operation.
    let mut bad = sig.clone();
    bad[10] ^= 0x80;
    for (d, sg) in [
        (data.clone(), bad),
        (
            {
                let mut d = data.clone();
                d[0] ^= 1;
                d
            },
            sig.clone(),
        ),
    ] {
        h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Verify, mechanism: m.clone(), key: pk });
        match single(&h, &mut c, s, OpKind::Verify, &d, &sg) {
            Response::Err { rv, .. } => assert_eq!(rv, Rv::SIGNATURE_INVALID),
            r => panic!("{r:?}"),
        }
        h.refused(&mut c, Request::OpSingle { session: s, kind: OpKind::Verify, data: d, signature: sg }, Rv::OPERATION_NOT_INITIALIZED);
    }
    // A new operation can start after the refused one.
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Verify, mechanism: m, key: pk });
    match single(&h, &mut c, s, OpKind::Verify, &data, &sig) {
        Response::Ok(Reply::Done) => {}
        r => panic!("{r:?}"),
    }
}

#[test]
fn op_single_aes_cbc_pad_round_trip_and_digest() {
    let h = Harness::new("single-cipher");
    let (mut c, s) = h.user();
    let aes = h.aes_key(&mut c, s, &[(CKA_ENCRYPT, true), (CKA_DECRYPT, true)]);
    let m = Mechanism::with(CKM_AES_CBC_PAD, MechParam::Bytes((0..16).collect()));
    for len in [0usize, 1, 15, 16, 17, 1000] {
        let pt: Vec<u8> = (0..len as u32).map(|i| (i * 7 + 3) as u8).collect();
        h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Encrypt, mechanism: m.clone(), key: aes });
        let ct = bytes(single(&h, &mut c, s, OpKind::Encrypt, &pt, b""));
        assert_eq!(ct.len(), (len / 16 + 1) * 16, "PKCS#7 padding of {len} bytes");
        let one = h.bytes(&mut c, Request::Encrypt { session: s, mechanism: m.clone(), key: aes, data: pt.clone() });
        assert_eq!(ct, one, "OpSingle equals one-shot C_Encrypt for {len} bytes");
        h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Decrypt, mechanism: m.clone(), key: aes });
        let back = bytes(single(&h, &mut c, s, OpKind::Decrypt, &ct, b""));
        assert_eq!(back, pt, "{len} bytes");
        h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Decrypt, signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
    }
    // A ciphertext that is not whole blocks is refused and ends the operation.
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Decrypt, mechanism: m.clone(), key: aes });
    match single(&h, &mut c, s, OpKind::Decrypt, &[0u8; 17], b"") {
        Response::Err { rv, .. } => assert_eq!(rv, Rv::ENCRYPTED_DATA_LEN_RANGE),
        r => panic!("{r:?}"),
    }
    h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Decrypt, signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
    // Digest: FIPS 180-2 "abc" and the one-shot digest of a longer message.
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA256), key: 0 });
    assert_eq!(
        hex::encode(bytes(single(&h, &mut c, s, OpKind::Digest, b"abc", b""))),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let data = vec![0xa5u8; 5000];
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA384), key: 0 });
    let got = bytes(single(&h, &mut c, s, OpKind::Digest, &data, b""));
    assert_eq!(got, h.bytes(&mut c, Request::Digest { session: s, mechanism: Mechanism::new(CKM_SHA384), data }));
    h.refused(&mut c, Request::OpFinal { session: s, kind: OpKind::Digest, signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
}

#[test]
fn op_single_without_init_is_refused() {
    let h = Harness::new("single-noinit");
    let (mut c, s) = h.user();
    for kind in [OpKind::Digest, OpKind::Sign, OpKind::Verify, OpKind::Encrypt, OpKind::Decrypt] {
        h.refused(&mut c, Request::OpSingle { session: s, kind, data: vec![1, 2, 3], signature: vec![4; 64] }, Rv::OPERATION_NOT_INITIALIZED);
    }
    // An operation of another kind does not count.
    h.ok(&mut c, Request::OpInit { session: s, kind: OpKind::Digest, mechanism: Mechanism::new(CKM_SHA256), key: 0 });
    h.refused(&mut c, Request::OpSingle { session: s, kind: OpKind::Sign, data: vec![1], signature: vec![] }, Rv::OPERATION_NOT_INITIALIZED);
    // ... and is still there.
    assert_eq!(bytes(single(&h, &mut c, s, OpKind::Digest, b"", b"")).len(), 32);
    // An unknown session is its own error.
    h.refused(&mut c, Request::OpSingle { session: 0xdead, kind: OpKind::Digest, data: vec![], signature: vec![] }, Rv::SESSION_HANDLE_INVALID);
}
