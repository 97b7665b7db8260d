//! Every mechanism the TA lists, exercised through `Ta::handle` as a
//! logged-in user: key generation with the right template, the operation
//! round trip, known-answer vectors from the standards where one exists,
//! cross-checks against independent code paths (aws-lc-rs / RustCrypto used
//! directly, or a construction rebuilt here from KAT-checked primitives), and
//! the refusals with their exact CKR codes.
//!
//! `COVERED` names the test that exercises each mechanism; the list test
//! asserts it equals C_GetMechanismList, so a mechanism added to mech.rs
//! without a test here makes this suite fail.

mod common;

use common::Harness;
use teehsm_ta::handler::Connection as Conn;
use teehsm_wire::ck::*;
use teehsm_wire::*;

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const SM2_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
const CKM_MD5: u64 = 0x210;

/// Every mechanism, the operations its C_GetMechanismInfo flags must
/// advertise, and the test below that exercises it.
const COVERED: &[(u64, u64, &str)] = &[
    (CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "ecdsa_p256_and_p384"),
    (CKM_ECDSA, CKF_SIGN | CKF_VERIFY, "ecdsa_p256_and_p384"),
    (CKM_ECDSA_SHA1, CKF_SIGN | CKF_VERIFY, "ecdsa_sha1_and_sha224"),
    (CKM_ECDSA_SHA224, CKF_SIGN | CKF_VERIFY, "ecdsa_sha1_and_sha224"),
    (CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "eddsa_ed25519_all_variants, eddsa_ed448_and_ed448ph"),
    (CKM_EDDSA, CKF_SIGN | CKF_VERIFY, "eddsa_ed25519_all_variants, eddsa_ed448_and_ed448ph"),
    (CKM_ECDSA_SHA256, CKF_SIGN | CKF_VERIFY, "ecdsa_p256_and_p384"),
    (CKM_ECDSA_SHA384, CKF_SIGN | CKF_VERIFY, "ecdsa_p256_and_p384"),
    (CKM_ECDSA_SHA512, CKF_SIGN | CKF_VERIFY, "ecdsa_p256_and_p384"),
    (CKM_ECDH1_DERIVE, CKF_DERIVE, "ecdh_derives_the_same_secret_both_ways, ecdh_kdfs_and_x25519"),
    (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "ecdh_kdfs_and_x25519"),
    (CKM_CONCATENATE_BASE_AND_KEY, CKF_DERIVE, "derive.rs: byte_derivations_compute_what_pkcs11_defines"),
    (CKM_CONCATENATE_BASE_AND_DATA, CKF_DERIVE, "derive.rs: byte_derivations_compute_what_pkcs11_defines"),
    (CKM_CONCATENATE_DATA_AND_BASE, CKF_DERIVE, "derive.rs: byte_derivations_compute_what_pkcs11_defines"),
    (CKM_XOR_BASE_AND_DATA, CKF_DERIVE, "derive.rs: byte_derivations_compute_what_pkcs11_defines"),
    (CKM_EXTRACT_KEY_FROM_KEY, CKF_DERIVE, "derive.rs: byte_derivations_compute_what_pkcs11_defines"),
    (CKM_SP800_108_COUNTER_KDF, CKF_DERIVE, "kbkdf_modes_additional_keys_and_refusals"),
    (CKM_SP800_108_FEEDBACK_KDF, CKF_DERIVE, "kbkdf_modes_additional_keys_and_refusals"),
    (CKM_SP800_108_DOUBLE_PIPELINE_KDF, CKF_DERIVE, "kbkdf_modes_additional_keys_and_refusals"),
    (CKM_AES_ECB_ENCRYPT_DATA, CKF_DERIVE, "derive.rs: aes_encrypt_data_derivations_match_encryption"),
    (CKM_AES_CBC_ENCRYPT_DATA, CKF_DERIVE, "derive.rs: aes_encrypt_data_derivations_match_encryption"),
    (CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "rsa_signatures"),
    (
        CKM_RSA_PKCS,
        CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP,
        "rsa_signatures, rsa_pkcs1v15_encryption_and_key_transport",
    ),
    (CKM_SHA1_RSA_PKCS, CKF_SIGN | CKF_VERIFY, "rsa_sha1_sha224_and_pss_parameters"),
    (CKM_SHA224_RSA_PKCS, CKF_SIGN | CKF_VERIFY, "rsa_sha1_sha224_and_pss_parameters"),
    (CKM_SHA1_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, "rsa_sha1_sha224_and_pss_parameters"),
    (CKM_SHA224_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, "rsa_sha1_sha224_and_pss_parameters"),
    (CKM_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_RSA_PKCS_OAEP, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP, "rsa_oaep_encrypt_and_wrap"),
    (CKM_SHA256_RSA_PKCS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_SHA384_RSA_PKCS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_SHA512_RSA_PKCS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_SHA256_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_SHA384_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_SHA512_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, "rsa_signatures"),
    (CKM_SHA_1, CKF_DIGEST, "digests_match_known_answers"),
    (CKM_SHA224, CKF_DIGEST, "digests_match_known_answers"),
    (CKM_SHA256, CKF_DIGEST, "digests_match_known_answers"),
    (CKM_SHA384, CKF_DIGEST, "digests_match_known_answers"),
    (CKM_SHA512, CKF_DIGEST, "digests_match_known_answers"),
    (CKM_SHA_1_HMAC, CKF_SIGN | CKF_VERIFY, "hmac_sha1_sha224_known_answers"),
    (CKM_SHA224_HMAC, CKF_SIGN | CKF_VERIFY, "hmac_sha1_sha224_known_answers"),
    (CKM_SHA256_HMAC, CKF_SIGN | CKF_VERIFY, "hmac_known_answers_and_round_trips"),
    (CKM_SHA384_HMAC, CKF_SIGN | CKF_VERIFY, "hmac_known_answers_and_round_trips"),
    (CKM_SHA512_HMAC, CKF_SIGN | CKF_VERIFY, "hmac_known_answers_and_round_trips"),
    (CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE, "hmac_known_answers_and_round_trips"),
    (CKM_SHA_1_KEY_GEN, CKF_GENERATE, "sha_key_gens_make_typed_hmac_keys"),
    (CKM_SHA224_KEY_GEN, CKF_GENERATE, "sha_key_gens_make_typed_hmac_keys"),
    (CKM_SHA256_KEY_GEN, CKF_GENERATE, "sha_key_gens_make_typed_hmac_keys"),
    (CKM_SHA384_KEY_GEN, CKF_GENERATE, "sha_key_gens_make_typed_hmac_keys"),
    (CKM_SHA512_KEY_GEN, CKF_GENERATE, "sha_key_gens_make_typed_hmac_keys"),
    (CKM_AES_KEY_GEN, CKF_GENERATE, "aes_round_trips_all_key_sizes"),
    (CKM_AES_ECB, CKF_ENCRYPT | CKF_DECRYPT, "aes_known_answers"),
    (CKM_AES_CBC, CKF_ENCRYPT | CKF_DECRYPT, "aes_known_answers"),
    (CKM_AES_CBC_PAD, CKF_ENCRYPT | CKF_DECRYPT, "aes_round_trips_all_key_sizes"),
    (CKM_AES_CTR, CKF_ENCRYPT | CKF_DECRYPT, "aes_known_answers"),
    (CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT, "aes_known_answers"),
    (CKM_AES_CMAC, CKF_SIGN | CKF_VERIFY, "aes_known_answers"),
    (CKM_AES_KEY_WRAP, CKF_WRAP | CKF_UNWRAP, "aes_key_wrap_known_answers_and_round_trip"),
    (CKM_AES_KEY_WRAP_PAD, CKF_WRAP | CKF_UNWRAP, "aes_key_wrap_known_answers_and_round_trip"),
    (CKM_AES_KEY_WRAP_KWP, CKF_WRAP | CKF_UNWRAP, "aes_key_wrap_known_answers_and_round_trip"),
    (CKM_ML_KEM_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "ml_kem_encapsulate_decapsulate"),
    (CKM_ML_KEM, CKF_ENCAPSULATE | CKF_DECAPSULATE, "ml_kem_encapsulate_decapsulate"),
    (CKM_ML_DSA_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "ml_dsa_sign_verify"),
    (CKM_ML_DSA, CKF_SIGN | CKF_VERIFY, "ml_dsa_sign_verify"),
    (CKM_HASH_ML_DSA, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA224, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA256, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA384, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA512, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA3_224, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA3_256, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA3_384, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHA3_512, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHAKE128, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_HASH_ML_DSA_SHAKE256, CKF_SIGN | CKF_VERIFY, "ml_dsa_contexts_hedging_and_hash_ml_dsa"),
    (CKM_SM3, CKF_DIGEST, "digests_match_known_answers"),
    (CKM_SM3_HMAC, CKF_SIGN | CKF_VERIFY, "hmac_known_answers_and_round_trips"),
    (CKM_SM4_KEY_GEN, CKF_GENERATE, "sm4_modes"),
    (CKM_SM4_ECB, CKF_ENCRYPT | CKF_DECRYPT, "sm4_modes"),
    (CKM_SM4_CBC, CKF_ENCRYPT | CKF_DECRYPT, "sm4_modes"),
    (CKM_SM4_CBC_PAD, CKF_ENCRYPT | CKF_DECRYPT, "sm4_modes"),
    (CKM_SM4_CTR, CKF_ENCRYPT | CKF_DECRYPT, "sm4_modes"),
    (CKM_SM4_GCM, CKF_ENCRYPT | CKF_DECRYPT, "sm4_modes"),
    (CKM_SM4_MAC, CKF_SIGN | CKF_VERIFY, "sm4_modes"),
    (CKM_SM2_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "sm2_signatures"),
    (CKM_SM2, CKF_SIGN | CKF_VERIFY, "sm2_signatures"),
    (CKM_SM2_SM3, CKF_SIGN | CKF_VERIFY, "sm2_signatures"),
    (CKM_SM2_ENCRYPT, CKF_ENCRYPT | CKF_DECRYPT, "sm2_encryption"),
];

// ------------------------------------------------------------------ harness

struct T {
    h: Harness,
    c: Conn,
    s: u64,
}

fn hx(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn bools(list: &[u64]) -> Vec<Attribute> {
    list.iter().map(|t| Attribute::bool(*t, true)).collect()
}

fn with_session_object(mut t: Vec<Attribute>) -> Vec<Attribute> {
    if !t.iter().any(|a| a.ty == CKA_TOKEN) {
        t.push(Attribute::bool(CKA_TOKEN, false));
    }
    t
}

impl T {
    fn new(tag: &str) -> T {
        let h = Harness::new(tag);
        let (c, s) = h.user();
        T { h, c, s }
    }
    fn ok(&mut self, r: Request) -> Reply {
        self.h.ok(&mut self.c, r)
    }
    fn rv(&mut self, r: Request) -> Rv {
        self.h.rv(&mut self.c, r)
    }
    fn bytes(&mut self, r: Request) -> Vec<u8> {
        self.h.bytes(&mut self.c, r)
    }
    fn handle(&mut self, r: Request) -> u64 {
        self.h.handle(&mut self.c, r)
    }
    fn attr(&mut self, o: u64, ty: u64) -> Vec<u8> {
        let s = self.s;
        match self.h.attr(&mut self.c, s, o, ty) {
            Ok(v) => v,
            Err(rv) => panic!("attribute 0x{ty:x} of {o}: {rv}"),
        }
    }
    /// C_GenerateKey of a session key.
    fn gen(&mut self, mech: u64, template: Vec<Attribute>) -> u64 {
        let s = self.s;
        self.handle(Request::GenerateKey { session: s, mechanism: Mechanism::new(mech), template: with_session_object(template) })
    }
    /// Imports a secret key of a known value as a session object.
    fn import(&mut self, kt: u64, value: &[u8], mut attrs: Vec<Attribute>) -> u64 {
        let mut t = vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, kt), Attribute::new(CKA_VALUE, value.to_vec())];
        t.append(&mut attrs);
        let s = self.s;
        self.handle(Request::CreateObject { session: s, template: with_session_object(t) })
    }
    fn pair(&mut self, mech: u64, public: Vec<Attribute>, private: Vec<Attribute>) -> (u64, u64) {
        let s = self.s;
        match self.ok(Request::GenerateKeyPair {
            session: s,
            mechanism: Mechanism::new(mech),
            public_template: with_session_object(public),
            private_template: with_session_object(private),
        }) {
            Reply::KeyPair { public, private } => (public, private),
            r => panic!("expected a key pair, got {r:?}"),
        }
    }
    fn sign(&mut self, m: &Mechanism, key: u64, data: &[u8]) -> Vec<u8> {
        let s = self.s;
        self.bytes(Request::Sign { session: s, mechanism: m.clone(), key, data: data.to_vec() })
    }
    fn sign_rv(&mut self, m: &Mechanism, key: u64, data: &[u8]) -> Rv {
        let s = self.s;
        self.rv(Request::Sign { session: s, mechanism: m.clone(), key, data: data.to_vec() })
    }
    fn verify(&mut self, m: &Mechanism, key: u64, data: &[u8], sig: &[u8]) -> Rv {
        let s = self.s;
        self.rv(Request::Verify { session: s, mechanism: m.clone(), key, data: data.to_vec(), signature: sig.to_vec() })
    }
    fn enc(&mut self, m: &Mechanism, key: u64, data: &[u8]) -> Vec<u8> {
        let s = self.s;
        self.bytes(Request::Encrypt { session: s, mechanism: m.clone(), key, data: data.to_vec() })
    }
    fn enc_rv(&mut self, m: &Mechanism, key: u64, data: &[u8]) -> Rv {
        let s = self.s;
        self.rv(Request::Encrypt { session: s, mechanism: m.clone(), key, data: data.to_vec() })
    }
    fn dec(&mut self, m: &Mechanism, key: u64, data: &[u8]) -> Vec<u8> {
        let s = self.s;
        self.bytes(Request::Decrypt { session: s, mechanism: m.clone(), key, data: data.to_vec() })
    }
    fn dec_rv(&mut self, m: &Mechanism, key: u64, data: &[u8]) -> Rv {
        let s = self.s;
        self.rv(Request::Decrypt { session: s, mechanism: m.clone(), key, data: data.to_vec() })
    }
    fn digest(&mut self, mech: u64, data: &[u8]) -> Vec<u8> {
        let s = self.s;
        self.bytes(Request::Digest { session: s, mechanism: Mechanism::new(mech), data: data.to_vec() })
    }
    fn wrap(&mut self, m: &Mechanism, wrapping_key: u64, key: u64) -> Vec<u8> {
        let s = self.s;
        self.bytes(Request::WrapKey { session: s, mechanism: m.clone(), wrapping_key, key })
    }
    fn unwrap(&mut self, m: &Mechanism, unwrapping_key: u64, wrapped: &[u8], template: Vec<Attribute>) -> u64 {
        let s = self.s;
        self.handle(Request::UnwrapKey {
            session: s,
            mechanism: m.clone(),
            unwrapping_key,
            wrapped: wrapped.to_vec(),
            template: with_session_object(template),
        })
    }
}

/// Sign, verify, and the refusals every signature mechanism must give:
/// a changed bit in the signature or the data is CKR_SIGNATURE_INVALID, a
/// signature one byte short or long is CKR_SIGNATURE_LEN_RANGE.
fn sign_verify(t: &mut T, m: &Mechanism, sk: u64, vk: u64, data: &[u8]) -> Vec<u8> {
    let what = format!("mechanism 0x{:x}", m.mech);
    let sig = t.sign(m, sk, data);
    assert_eq!(t.verify(m, vk, data, &sig), Rv::OK, "{what}: a fresh signature must verify");
    let mut bad = sig.clone();
    let i = bad.len() / 2;
    bad[i] ^= 0x01;
    assert_eq!(t.verify(m, vk, data, &bad), Rv::SIGNATURE_INVALID, "{what}: tampered signature");
    let mut other = data.to_vec();
    *other.last_mut().unwrap() ^= 0x01;
    assert_eq!(t.verify(m, vk, &other, &sig), Rv::SIGNATURE_INVALID, "{what}: changed data");
    assert_eq!(t.verify(m, vk, data, &sig[..sig.len() - 1]), Rv::SIGNATURE_LEN_RANGE, "{what}: signature one byte short");
    let mut long = sig.clone();
    long.push(0);
    assert_eq!(t.verify(m, vk, data, &long), Rv::SIGNATURE_LEN_RANGE, "{what}: signature one byte long");
    sig
}

// ------------------------------------------------------------------ the list

#[test]
fn mechanism_list_is_exactly_the_tested_set() {
    let mut t = T::new("mech-list");
    let listed = match t.ok(Request::GetMechanismList { slot: 0 }) {
        Reply::Mechanisms(v) => v,
        r => panic!("{r:?}"),
    };
    let mut listed_sorted = listed.clone();
    listed_sorted.sort_unstable();
    listed_sorted.dedup();
    assert_eq!(listed_sorted.len(), listed.len(), "C_GetMechanismList repeats a mechanism");
    let mut covered: Vec<u64> = COVERED.iter().map(|c| c.0).collect();
    covered.sort_unstable();
    let untested: Vec<String> = listed_sorted.iter().filter(|m| !covered.contains(m)).map(|m| format!("0x{m:x}")).collect();
    let unlisted: Vec<String> = covered.iter().filter(|m| !listed_sorted.contains(m)).map(|m| format!("0x{m:x}")).collect();
    assert!(untested.is_empty(), "listed by the TA but not exercised by this suite: {untested:?}");
    assert!(unlisted.is_empty(), "exercised here but no longer listed by the TA: {unlisted:?}");
    for (mech, needed, test) in COVERED {
        match t.ok(Request::GetMechanismInfo { slot: 0, mech: *mech }) {
            Reply::MechanismInfo { min_key, max_key, flags } => {
                assert_eq!(flags & needed, *needed, "0x{mech:x} (tested in {test}) does not advertise flags 0x{needed:x}");
                assert!(min_key <= max_key, "0x{mech:x}: key sizes {min_key}..{max_key}");
            }
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(t.rv(Request::GetMechanismInfo { slot: 0, mech: CKM_MD5 }), Rv::MECHANISM_INVALID);
    assert_eq!(t.rv(Request::GetMechanismInfo { slot: 7, mech: CKM_SHA256 }), Rv::SLOT_ID_INVALID);
    assert_eq!(t.rv(Request::GetMechanismList { slot: 7 }), Rv::SLOT_ID_INVALID);
}

// ------------------------------------------------------------------ digests

#[test]
fn digests_match_known_answers() {
    let mut t = T::new("mech-digest");
    let abc = b"abc";
    for (mech, want) in [
        (CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (CKM_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (CKM_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (CKM_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (
            CKM_SHA512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (CKM_SM3, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    ] {
        assert_eq!(hex::encode(t.digest(mech, abc)), want, "digest 0x{mech:x} of \"abc\"");
    }
    assert_eq!(hex::encode(t.digest(CKM_SHA256, b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // GB/T 32905 example 2: 64 bytes of "abcd".
    assert_eq!(hex::encode(t.digest(CKM_SM3, &b"abcd".repeat(16))), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    let s = t.s;
    assert_eq!(t.rv(Request::Digest { session: s, mechanism: Mechanism::new(CKM_MD5), data: abc.to_vec() }), Rv::MECHANISM_INVALID);
    assert_eq!(t.rv(Request::Digest { session: s, mechanism: Mechanism::new(CKM_SHA256_HMAC), data: abc.to_vec() }), Rv::MECHANISM_INVALID);
    // A public session digests too.
    let mut c = t.h.conn();
    let ps = t.h.open(&mut c, false);
    match t.h.ok(&mut c, Request::Digest { session: ps, mechanism: Mechanism::new(CKM_SM3), data: abc.to_vec() }) {
        Reply::Bytes(b) => assert_eq!(hex::encode(b), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        r => panic!("{r:?}"),
    }
}

// ------------------------------------------------------------------ AES

fn gcm(iv: &[u8], aad: &[u8], tag_bits: u32) -> MechParam {
    MechParam::Gcm { iv: iv.to_vec(), aad: aad.to_vec(), tag_bits }
}

fn ctr(bits: u32, block: &[u8]) -> MechParam {
    MechParam::Ctr { counter_bits: bits, counter_block: block.to_vec() }
}

#[test]
fn aes_known_answers() {
    let mut t = T::new("mech-aes-kat");
    let ed = bools(&[CKA_ENCRYPT, CKA_DECRYPT]);
    // FIPS-197 C.1 and C.3.
    let pt = hx("00112233445566778899aabbccddeeff");
    let k128 = t.import(CKK_AES, &hx("000102030405060708090a0b0c0d0e0f"), ed.clone());
    let k256 = t.import(CKK_AES, &hx("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), ed.clone());
    let ecb = Mechanism::new(CKM_AES_ECB);
    assert_eq!(hex::encode(t.enc(&ecb, k128, &pt)), "69c4e0d86a7b0430d8cdb78070b4c55a");
    assert_eq!(hex::encode(t.enc(&ecb, k256, &pt)), "8ea2b7ca516745bfeafc49904b496089");
    assert_eq!(t.dec(&ecb, k256, &hx("8ea2b7ca516745bfeafc49904b496089")), pt);

    // SP 800-38A F.1.1 (ECB), F.2.1 (CBC), F.5.1 (CTR), key 2b7e1516...
    let key = t.import(CKK_AES, &hx("2b7e151628aed2a6abf7158809cf4f3c"), ed.clone());
    let p = hx("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710");
    let ecb_ct =
        hx("3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4");
    assert_eq!(t.enc(&ecb, key, &p), ecb_ct);
    assert_eq!(t.dec(&ecb, key, &ecb_ct), p);
    let cbc = Mechanism::with(CKM_AES_CBC, MechParam::Bytes(hx("000102030405060708090a0b0c0d0e0f")));
    let cbc_ct =
        hx("7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7");
    assert_eq!(t.enc(&cbc, key, &p), cbc_ct);
    assert_eq!(t.dec(&cbc, key, &cbc_ct), p);
    let ctr_ct =
        hx("874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee");
    for bits in [128, 32] {
        let m = Mechanism::with(CKM_AES_CTR, ctr(bits, &hx("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")));
        assert_eq!(t.enc(&m, key, &p), ctr_ct, "CTR with {bits} counter bits");
        assert_eq!(t.dec(&m, key, &ctr_ct), p);
        // A partial last block.
        assert_eq!(t.enc(&m, key, &p[..37]), ctr_ct[..37].to_vec());
    }

    // GCM, McGrew & Viega test case 4 (AES-128, 12-byte IV, AAD, 60-byte plaintext).
    let gk = t.import(CKK_AES, &hx("feffe9928665731c6d6a8f9467308308"), ed.clone());
    let gp = hx("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let aad = hx("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let iv = hx("cafebabefacedbaddecaf888");
    let gc = hx("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091");
    let tag = hx("5bc94fbc3221a5db94fae95ae7121a47");
    for (bits, tag_len) in [(128u32, 16usize), (96, 12)] {
        let m = Mechanism::with(CKM_AES_GCM, gcm(&iv, &aad, bits));
        let mut want = gc.clone();
        want.extend_from_slice(&tag[..tag_len]);
        assert_eq!(t.enc(&m, gk, &gp), want, "GCM with a {bits}-bit tag");
        assert_eq!(t.dec(&m, gk, &want), gp);
    }

    // CMAC, RFC 4493 examples 1 and 2.
    let mk = t.import(CKK_AES, &hx("2b7e151628aed2a6abf7158809cf4f3c"), bools(&[CKA_SIGN, CKA_VERIFY]));
    let cmac = Mechanism::new(CKM_AES_CMAC);
    assert_eq!(hex::encode(t.sign(&cmac, mk, b"")), "bb1d6929e95937287fa37d129b756746");
    assert_eq!(hex::encode(t.sign(&cmac, mk, &p[..16])), "070a16b46b4d4144f79bdd9dd04a287c");
    assert_eq!(hex::encode(t.sign(&cmac, mk, &p[..40])), "dfa66747de9ae63030ca32611497c827");
    assert_eq!(hex::encode(t.sign(&cmac, mk, &p)), "51f0bebf7e3b9d92fc49741779363cfe");
    sign_verify(&mut t, &cmac, mk, mk, &p[..40]);
}

#[test]
fn aes_round_trips_all_key_sizes() {
    let mut t = T::new("mech-aes");
    for len in [16u64, 24, 32] {
        let k = t
            .gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, len), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_DECRYPT, true)]);
        assert_eq!(t.attr(k, CKA_VALUE_LEN), len.to_be_bytes().to_vec());
        assert_eq!(t.attr(k, CKA_KEY_TYPE), CKK_AES.to_be_bytes().to_vec());
        assert_eq!(t.attr(k, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN.to_be_bytes().to_vec());
        let data: Vec<u8> = (0..48u8).collect();
        let ecb = Mechanism::new(CKM_AES_ECB);
        let c = t.enc(&ecb, k, &data);
        assert_eq!(c.len(), 48);
        assert_ne!(c, data);
        assert_eq!(t.dec(&ecb, k, &c), data);
        let cbc = Mechanism::with(CKM_AES_CBC, MechParam::Bytes(vec![0x42; 16]));
        let c = t.enc(&cbc, k, &data[..32]);
        assert_eq!(t.dec(&cbc, k, &c), data[..32].to_vec());
        let pad = Mechanism::with(CKM_AES_CBC_PAD, MechParam::Bytes(vec![0x24; 16]));
        for n in [0usize, 1, 15, 16, 17, 33, 48] {
            let c = t.enc(&pad, k, &data[..n]);
            assert_eq!(c.len(), (n / 16 + 1) * 16, "CBC_PAD of {n} bytes");
            assert_eq!(t.dec(&pad, k, &c), data[..n].to_vec(), "CBC_PAD of {n} bytes");
        }
        for bits in [32u32, 128] {
            let m = Mechanism::with(CKM_AES_CTR, ctr(bits, &[0x11; 16]));
            let c = t.enc(&m, k, &data[..37]);
            assert_eq!(c.len(), 37);
            assert_eq!(t.dec(&m, k, &c), data[..37].to_vec());
        }
        for (iv, bits) in [(vec![9u8; 12], 96u32), (vec![9u8; 12], 128), (vec![8u8; 16], 128)] {
            let m = Mechanism::with(CKM_AES_GCM, gcm(&iv, b"associated", bits));
            let c = t.enc(&m, k, &data[..21]);
            assert_eq!(c.len(), 21 + bits as usize / 8);
            assert_eq!(t.dec(&m, k, &c), data[..21].to_vec());
            let mut bad_tag = c.clone();
            *bad_tag.last_mut().unwrap() ^= 1;
            assert_eq!(t.dec_rv(&m, k, &bad_tag), Rv::ENCRYPTED_DATA_INVALID, "GCM tampered tag");
            let mut bad_ct = c.clone();
            bad_ct[0] ^= 1;
            assert_eq!(t.dec_rv(&m, k, &bad_ct), Rv::ENCRYPTED_DATA_INVALID, "GCM tampered ciphertext");
            let other_aad = Mechanism::with(CKM_AES_GCM, gcm(&iv, b"associateD", bits));
            assert_eq!(t.dec_rv(&other_aad, k, &c), Rv::ENCRYPTED_DATA_INVALID, "GCM other AAD");
        }
    }
    // Key sizes AES does not have.
    for (tmpl, want) in [
        (vec![Attribute::ulong(CKA_VALUE_LEN, 20)], Rv::KEY_SIZE_RANGE),
        (vec![Attribute::ulong(CKA_VALUE_LEN, 64)], Rv::KEY_SIZE_RANGE),
        (vec![], Rv::TEMPLATE_INCOMPLETE),
    ] {
        let s = t.s;
        assert_eq!(t.rv(Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: with_session_object(tmpl) }), want);
    }
}

#[test]
fn aes_parameter_and_length_errors() {
    let mut t = T::new("mech-aes-err");
    let k = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_DECRYPT, true)]);
    for p in [MechParam::Bytes(vec![0; 8]), MechParam::Bytes(vec![0; 17]), MechParam::None] {
        let m = Mechanism::with(CKM_AES_CBC, p.clone());
        assert_eq!(t.enc_rv(&m, k, &[0; 16]), Rv::MECHANISM_PARAM_INVALID, "CBC IV {p:?}");
        assert_eq!(t.dec_rv(&m, k, &[0; 16]), Rv::MECHANISM_PARAM_INVALID, "CBC IV {p:?}");
        let m = Mechanism::with(CKM_AES_CBC_PAD, p.clone());
        assert_eq!(t.enc_rv(&m, k, &[0; 5]), Rv::MECHANISM_PARAM_INVALID, "CBC_PAD IV {p:?}");
    }
    for p in [
        gcm(&[], b"", 128),
        gcm(&[0; 257], b"", 128),
        gcm(&[0; 12], b"", 100),
        gcm(&[0; 12], b"", 0),
        gcm(&[0; 12], b"", 136),
        MechParam::Bytes(vec![0; 12]),
    ] {
        let m = Mechanism::with(CKM_AES_GCM, p.clone());
        assert_eq!(t.enc_rv(&m, k, b"x"), Rv::MECHANISM_PARAM_INVALID, "GCM {p:?}");
        assert_eq!(t.dec_rv(&m, k, &[0; 32]), Rv::MECHANISM_PARAM_INVALID, "GCM {p:?}");
    }
    assert_eq!(t.enc_rv(&Mechanism::new(CKM_AES_CTR), k, b"x"), Rv::MECHANISM_PARAM_INVALID, "CTR without parameters");
    // Lengths.
    let ecb = Mechanism::new(CKM_AES_ECB);
    assert_eq!(t.enc_rv(&ecb, k, &[0; 17]), Rv::DATA_LEN_RANGE);
    assert_eq!(t.dec_rv(&ecb, k, &[0; 17]), Rv::ENCRYPTED_DATA_LEN_RANGE);
    let cbc = Mechanism::with(CKM_AES_CBC, MechParam::Bytes(vec![0; 16]));
    assert_eq!(t.enc_rv(&cbc, k, &[0; 15]), Rv::DATA_LEN_RANGE);
    assert_eq!(t.dec_rv(&cbc, k, &[0; 15]), Rv::ENCRYPTED_DATA_LEN_RANGE);
    let pad = Mechanism::with(CKM_AES_CBC_PAD, MechParam::Bytes(vec![0; 16]));
    assert_eq!(t.dec_rv(&pad, k, &[0; 15]), Rv::ENCRYPTED_DATA_LEN_RANGE);
    assert_eq!(t.dec_rv(&pad, k, &[]), Rv::ENCRYPTED_DATA_LEN_RANGE);
    // Bad padding: a block whose plaintext ends in 0x00 is no PKCS#7 padding.
    let c = t.enc(&cbc, k, &[0; 16]);
    assert_eq!(t.dec_rv(&pad, k, &c), Rv::ENCRYPTED_DATA_INVALID);
    let m = Mechanism::with(CKM_AES_GCM, gcm(&[0; 12], b"", 128));
    assert_eq!(t.dec_rv(&m, k, &[0; 15]), Rv::ENCRYPTED_DATA_LEN_RANGE, "GCM input shorter than its tag");
    // CTR counter width: the counter wraps inside its low bits, and input
    // that would reuse a counter value is refused.
    let kk = t.import(CKK_AES, &[0x77; 16], bools(&[CKA_ENCRYPT, CKA_DECRYPT]));
    let mut block = [0xA5u8; 16];
    block[15] = 0xff;
    let m8 = Mechanism::with(CKM_AES_CTR, ctr(8, &block));
    let ks = t.enc(&m8, kk, &[0; 32]);
    let mut wrapped = block;
    wrapped[15] = 0x00; // +1 within 8 bits: no carry into byte 14
    let mut want = t.enc(&ecb, kk, &block);
    want.extend(t.enc(&ecb, kk, &wrapped));
    assert_eq!(ks, want, "an 8-bit counter wraps without carrying");
    let m128 = Mechanism::with(CKM_AES_CTR, ctr(128, &block));
    assert_ne!(t.enc(&m128, kk, &[0; 32]), ks, "a 128-bit counter carries");
    let m1 = Mechanism::with(CKM_AES_CTR, ctr(1, &block));
    assert_eq!(t.enc(&m1, kk, &[0; 32]).len(), 32, "2 blocks fit a 1-bit counter");
    assert_eq!(t.enc_rv(&m1, kk, &[0; 33]), Rv::DATA_LEN_RANGE, "3 blocks would repeat a 1-bit counter");
}

/// CTR's parameters are its counter block and width: malformed ones are a
/// mechanism-parameter error, like CBC's IV or GCM's parameters.
#[test]
fn ctr_parameter_errors_are_mechanism_param_invalid() {
    let mut t = T::new("mech-ctr-param");
    let k = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_DECRYPT, true)]);
    let s4 = t.gen(CKM_SM4_KEY_GEN, bools(&[CKA_ENCRYPT, CKA_DECRYPT]));
    for (mech, key) in [(CKM_AES_CTR, k), (CKM_SM4_CTR, s4)] {
        for p in [ctr(128, &[0; 8]), ctr(128, &[0; 17]), ctr(0, &[0; 16]), ctr(129, &[0; 16])] {
            let m = Mechanism::with(mech, p.clone());
            assert_eq!(t.enc_rv(&m, key, b"data"), Rv::MECHANISM_PARAM_INVALID, "0x{mech:x} encrypt with {p:?}");
            assert_eq!(t.dec_rv(&m, key, b"data"), Rv::MECHANISM_PARAM_INVALID, "0x{mech:x} decrypt with {p:?}");
        }
    }
}

// ------------------------------------------------------------------ AES key wrap

#[test]
fn aes_key_wrap_known_answers_and_round_trip() {
    let mut t = T::new("mech-kw");
    let open = |mut v: Vec<Attribute>| {
        v.push(Attribute::bool(CKA_SENSITIVE, false));
        v.push(Attribute::bool(CKA_EXTRACTABLE, true));
        v
    };
    // RFC 3394 4.1 and 4.3: 128-bit key data under a 128- and a 256-bit KEK.
    let target = t.import(CKK_AES, &hx("00112233445566778899aabbccddeeff"), open(bools(&[CKA_ENCRYPT])));
    let kw = Mechanism::new(CKM_AES_KEY_WRAP);
    for (kek, want) in [
        ("000102030405060708090a0b0c0d0e0f", "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"),
    ] {
        let kek = t.import(CKK_AES, &hx(kek), bools(&[CKA_WRAP, CKA_UNWRAP]));
        assert_eq!(hex::encode(t.wrap(&kw, kek, target)), want);
        let back = t.unwrap(&kw, kek, &hx(want), vec![Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_ENCRYPT, true)]);
        let ecb = Mechanism::new(CKM_AES_ECB);
        assert_eq!(t.enc(&ecb, back, &[0; 16]), t.enc(&ecb, target, &[0; 16]), "the unwrapped key is the original");
    }
    // NIST SP 800-38F KWP vectors (1 and 8 bytes under a 128-bit KEK); both PKCS#11 names of KWP.
    for (kek, key, want) in [
        ("6decf10a1caf8e3b80c7a4be8c9c84e8", "49", "01a7d657fc4a5b216f261cca4d052c2b"),
        ("a8e06da625a65b25cf5030826830b661", "43acff293120dd5d", "b6f967616dd8d772e9fea295a456dba7"),
    ] {
        let kek = t.import(CKK_AES, &hx(kek), bools(&[CKA_WRAP, CKA_UNWRAP]));
        let k = t.import(CKK_GENERIC_SECRET, &hx(key), open(bools(&[CKA_SIGN])));
        for mech in [CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP] {
            let m = Mechanism::new(mech);
            assert_eq!(hex::encode(t.wrap(&m, kek, k)), want, "0x{mech:x}");
            let back = t.unwrap(&m, kek, &hx(want), vec![Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET), Attribute::bool(CKA_SIGN, true)]);
            assert_eq!(t.attr(back, CKA_VALUE_LEN), (key.len() as u64 / 2).to_be_bytes().to_vec());
            let hm = Mechanism::new(CKM_SHA256_HMAC);
            assert_eq!(t.sign(&hm, back, b"same key?"), t.sign(&hm, k, b"same key?"));
        }
    }

    // Round trip of a generated, sensitive key under a generated KEK: the
    // unwrapped key decrypts what the original encrypted.
    for mech in [CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP] {
        let m = Mechanism::new(mech);
        let kek =
            t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_WRAP, true), Attribute::bool(CKA_UNWRAP, true)]);
        let data_key = t.gen(
            CKM_AES_KEY_GEN,
            vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_EXTRACTABLE, true)],
        );
        let gm = Mechanism::with(CKM_AES_GCM, gcm(&[5; 12], b"aad", 128));
        let ct = t.enc(&gm, data_key, b"wrapped and back");
        let blob = t.wrap(&m, kek, data_key);
        assert_eq!(blob.len(), 40);
        let copy = t.unwrap(
            &m,
            kek,
            &blob,
            vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_DECRYPT, true)],
        );
        assert_eq!(t.dec(&gm, copy, &ct), b"wrapped and back", "0x{mech:x}");
        let mut bad = blob.clone();
        bad[10] ^= 1;
        let s = t.s;
        let r = t.rv(Request::UnwrapKey {
            session: s,
            mechanism: m.clone(),
            unwrapping_key: kek,
            wrapped: bad,
            template: with_session_object(vec![Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_DECRYPT, true)]),
        });
        assert_eq!(r, Rv::WRAPPED_KEY_INVALID, "0x{mech:x}: tampered blob");
    }
}

/// GetMechanismInfo advertises 16..32-byte keys for the AES key-wrap
/// mechanisms and AES-192 keys can be generated, but the backend wraps with
/// AES-128/256 only. A 24-byte KEK must then be refused as a wrapping-key
/// size problem, not as a key of the wrong type.
#[test]
fn aes_192_kek_is_refused_as_a_key_size_problem() {
    let mut t = T::new("mech-kw192");
    let kek = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 24), Attribute::bool(CKA_WRAP, true), Attribute::bool(CKA_UNWRAP, true)]);
    let target =
        t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_EXTRACTABLE, true)]);
    let s = t.s;
    for mech in [CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD] {
        let m = Mechanism::new(mech);
        assert_eq!(
            t.rv(Request::WrapKey { session: s, mechanism: m.clone(), wrapping_key: kek, key: target }),
            Rv::WRAPPING_KEY_SIZE_RANGE,
            "0x{mech:x} wrap"
        );
        let r = t.rv(Request::UnwrapKey {
            session: s,
            mechanism: m,
            unwrapping_key: kek,
            wrapped: vec![0; 24],
            template: with_session_object(vec![Attribute::ulong(CKA_KEY_TYPE, CKK_AES)]),
        });
        assert_eq!(r, Rv::UNWRAPPING_KEY_SIZE_RANGE, "0x{mech:x} unwrap");
    }
}

// ------------------------------------------------------------------ HMAC

/// HMAC rebuilt here from the TA's (KAT-checked) digest: an independent path.
fn hmac_by_digest(t: &mut T, mech: u64, block: usize, key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    if k.len() > block {
        k = t.digest(mech, &k);
    }
    k.resize(block, 0);
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let ih = t.digest(mech, &inner);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&ih);
    t.digest(mech, &outer)
}

#[test]
fn hmac_known_answers_and_round_trips() {
    let mut t = T::new("mech-hmac");
    let sv = bools(&[CKA_SIGN, CKA_VERIFY]);
    // RFC 4231 test case 2.
    let jefe = t.import(CKK_GENERIC_SECRET, b"Jefe", sv.clone());
    let msg = b"what do ya want for nothing?";
    for (mech, want) in [
        (CKM_SHA256_HMAC, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (CKM_SHA384_HMAC, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"),
        (
            CKM_SHA512_HMAC,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ] {
        assert_eq!(hex::encode(t.sign(&Mechanism::new(mech), jefe, msg)), want, "HMAC 0x{mech:x}");
    }
    // HMAC-SM3 against HMAC rebuilt from SM3, with a short and a longer-than-block key.
    for key in [b"Jefe".to_vec(), vec![0xaa; 100]] {
        let k = t.import(CKK_GENERIC_SECRET, &key, sv.clone());
        let want = hmac_by_digest(&mut t, CKM_SM3, 64, &key, msg);
        assert_eq!(t.sign(&Mechanism::new(CKM_SM3_HMAC), k, msg), want, "HMAC-SM3 with a {}-byte key", key.len());
        let want = hmac_by_digest(&mut t, CKM_SHA256, 64, &key, msg);
        assert_eq!(t.sign(&Mechanism::new(CKM_SHA256_HMAC), k, msg), want, "HMAC-SHA-256 with a {}-byte key", key.len());
    }
    // Generated keys, each HMAC: sign, verify, and the refusals.
    let g = t.gen(
        CKM_GENERIC_SECRET_KEY_GEN,
        vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_VERIFY, true)],
    );
    assert_eq!(t.attr(g, CKA_KEY_TYPE), CKK_GENERIC_SECRET.to_be_bytes().to_vec());
    for (mech, len) in [(CKM_SHA256_HMAC, 32), (CKM_SHA384_HMAC, 48), (CKM_SHA512_HMAC, 64), (CKM_SM3_HMAC, 32)] {
        let sig = sign_verify(&mut t, &Mechanism::new(mech), g, g, b"message to authenticate");
        assert_eq!(sig.len(), len, "0x{mech:x}");
    }
    // A CKK_SHA256_HMAC key works too.
    let hk = t.gen(
        CKM_GENERIC_SECRET_KEY_GEN,
        vec![
            Attribute::ulong(CKA_KEY_TYPE, CKK_SHA256_HMAC),
            Attribute::ulong(CKA_VALUE_LEN, 32),
            Attribute::bool(CKA_SIGN, true),
            Attribute::bool(CKA_VERIFY, true),
        ],
    );
    sign_verify(&mut t, &Mechanism::new(CKM_SHA256_HMAC), hk, hk, b"m");
    // Sizes.
    let s = t.s;
    for (tmpl, want) in [
        (vec![Attribute::ulong(CKA_VALUE_LEN, 0)], Rv::KEY_SIZE_RANGE),
        (vec![Attribute::ulong(CKA_VALUE_LEN, 513)], Rv::KEY_SIZE_RANGE),
        (vec![], Rv::TEMPLATE_INCOMPLETE),
    ] {
        let r = t.rv(Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_GENERIC_SECRET_KEY_GEN), template: with_session_object(tmpl) });
        assert_eq!(r, want);
    }
}

// ------------------------------------------------------------------ SM4

/// CMAC (SP 800-38B) rebuilt from raw block encryptions done by the TA's ECB.
fn cmac_by_ecb(t: &mut T, ecb: &Mechanism, key: u64, msg: &[u8]) -> Vec<u8> {
    let dbl = |b: &[u8]| -> Vec<u8> {
        let mut out = vec![0u8; 16];
        for i in 0..16 {
            out[i] = (b[i] << 1) | if i < 15 { b[i + 1] >> 7 } else { 0 };
        }
        if b[0] & 0x80 != 0 {
            out[15] ^= 0x87;
        }
        out
    };
    let l = t.enc(ecb, key, &[0; 16]);
    let k1 = dbl(&l);
    let k2 = dbl(&k1);
    let n = msg.len().div_ceil(16).max(1);
    let complete = !msg.is_empty() && msg.len().is_multiple_of(16);
    let mut last = msg[(n - 1) * 16..].to_vec();
    if complete {
        last.iter_mut().zip(&k1).for_each(|(a, b)| *a ^= b);
    } else {
        last.push(0x80);
        last.resize(16, 0);
        last.iter_mut().zip(&k2).for_each(|(a, b)| *a ^= b);
    }
    let mut x = vec![0u8; 16];
    for i in 0..n - 1 {
        let blk: Vec<u8> = x.iter().zip(&msg[i * 16..i * 16 + 16]).map(|(a, b)| a ^ b).collect();
        x = t.enc(ecb, key, &blk);
    }
    let blk: Vec<u8> = x.iter().zip(&last).map(|(a, b)| a ^ b).collect();
    t.enc(ecb, key, &blk)
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

#[test]
fn sm4_modes() {
    let mut t = T::new("mech-sm4");
    let all = bools(&[CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY]);
    // GB/T 32907 example 1.
    let kat = hx("0123456789abcdeffedcba9876543210");
    let k = t.import(CKK_SM4, &kat, all.clone());
    let ecb = Mechanism::new(CKM_SM4_ECB);
    assert_eq!(hex::encode(t.enc(&ecb, k, &kat)), "681edf34d206965e86b3e94f536e4246");
    assert_eq!(t.dec(&ecb, k, &hx("681edf34d206965e86b3e94f536e4246")), kat);

    // CBC, CBC_PAD and CTR checked against chaining the KAT-checked ECB by hand.
    let p: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(29)).collect();
    let iv = hx("000102030405060708090a0b0c0d0e0f");
    let mut prev = iv.clone();
    let mut cbc_want = Vec::new();
    for blk in p.chunks(16) {
        prev = t.enc(&ecb, k, &xor(blk, &prev));
        cbc_want.extend_from_slice(&prev);
    }
    let cbc = Mechanism::with(CKM_SM4_CBC, MechParam::Bytes(iv.clone()));
    assert_eq!(t.enc(&cbc, k, &p), cbc_want);
    assert_eq!(t.dec(&cbc, k, &cbc_want), p);
    let pad = Mechanism::with(CKM_SM4_CBC_PAD, MechParam::Bytes(iv.clone()));
    let padded = t.enc(&pad, k, &p[..16]);
    assert_eq!(padded[..16], cbc_want[..16], "CBC_PAD starts like CBC");
    let last = t.enc(&ecb, k, &xor(&[16u8; 16], &cbc_want[..16]));
    assert_eq!(padded[16..], last[..], "a full block of padding 0x10");
    for n in [0usize, 1, 15, 16, 17, 63] {
        let c = t.enc(&pad, k, &p[..n]);
        assert_eq!(c.len(), (n / 16 + 1) * 16);
        assert_eq!(t.dec(&pad, k, &c), p[..n].to_vec());
    }
    let counter = hx("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    let mut stream = Vec::new();
    for i in 0..4u128 {
        let c = (u128::from_be_bytes(counter.clone().try_into().unwrap()).wrapping_add(i)).to_be_bytes();
        stream.extend(t.enc(&ecb, k, &c));
    }
    for bits in [32u32, 128] {
        let m = Mechanism::with(CKM_SM4_CTR, ctr(bits, &counter));
        let c = t.enc(&m, k, &p[..50]);
        assert_eq!(c, xor(&p[..50], &stream), "SM4-CTR with {bits} counter bits");
        assert_eq!(t.dec(&m, k, &c), p[..50].to_vec());
    }

    // GCM, RFC 8998 A.1, with a 128- and a 96-bit tag.
    let gk = t.import(CKK_SM4, &hx("0123456789abcdeffedcba9876543210"), all.clone());
    let gp = hx("aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa");
    let gc = hx("17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d");
    let tag = hx("83de3541e4c2b58177e065a9bf7b62ec");
    let iv12 = hx("00001234567800000000abcd");
    let aad = hx("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    for (bits, n) in [(128u32, 16usize), (96, 12)] {
        let m = Mechanism::with(CKM_SM4_GCM, gcm(&iv12, &aad, bits));
        let mut want = gc.clone();
        want.extend_from_slice(&tag[..n]);
        assert_eq!(t.enc(&m, gk, &gp), want, "SM4-GCM with a {bits}-bit tag");
        assert_eq!(t.dec(&m, gk, &want), gp);
        let mut bad = want.clone();
        *bad.last_mut().unwrap() ^= 0x80;
        assert_eq!(t.dec_rv(&m, gk, &bad), Rv::ENCRYPTED_DATA_INVALID);
    }
    // Any IV length from 1 to 256 bytes (SP 800-38D J0 = GHASH(IV)); round trip with an 8-byte IV.
    let m8 = Mechanism::with(CKM_SM4_GCM, gcm(&[7; 8], b"aad", 128));
    let ct8 = t.enc(&m8, gk, b"eight-byte IV");
    assert_eq!(t.dec(&m8, gk, &ct8), b"eight-byte IV");
    assert_eq!(t.enc_rv(&Mechanism::with(CKM_SM4_GCM, gcm(&[], b"", 128)), gk, b"x"), Rv::MECHANISM_PARAM_INVALID, "SM4-GCM with an empty IV");
    assert_eq!(t.enc_rv(&Mechanism::with(CKM_SM4_CBC, MechParam::Bytes(vec![0; 12])), gk, &[0; 16]), Rv::MECHANISM_PARAM_INVALID);

    // SM4-MAC (CMAC) against CMAC rebuilt from the ECB.
    let mac = Mechanism::new(CKM_SM4_MAC);
    for n in [0usize, 5, 16, 17, 32, 64] {
        let want = cmac_by_ecb(&mut t, &ecb, k, &p[..n]);
        assert_eq!(t.sign(&mac, k, &p[..n]), want, "SM4-MAC of {n} bytes");
    }
    sign_verify(&mut t, &mac, k, k, &p[..33]);

    // Generated keys: 16 bytes by default, nothing else.
    let g = t.gen(CKM_SM4_KEY_GEN, bools(&[CKA_ENCRYPT, CKA_DECRYPT]));
    assert_eq!(t.attr(g, CKA_VALUE_LEN), 16u64.to_be_bytes().to_vec());
    assert_eq!(t.attr(g, CKA_KEY_TYPE), CKK_SM4.to_be_bytes().to_vec());
    let m = Mechanism::with(CKM_SM4_GCM, gcm(&[1; 12], b"a", 128));
    let c = t.enc(&m, g, b"sm4 round trip");
    assert_eq!(t.dec(&m, g, &c), b"sm4 round trip");
    let s = t.s;
    let r = t.rv(Request::GenerateKey {
        session: s,
        mechanism: Mechanism::new(CKM_SM4_KEY_GEN),
        template: with_session_object(vec![Attribute::ulong(CKA_VALUE_LEN, 32)]),
    });
    assert_eq!(r, Rv::KEY_SIZE_RANGE);
}

// ------------------------------------------------------------------ EC

fn raw_point(t: &mut T, public: u64) -> Vec<u8> {
    let der = t.attr(public, CKA_EC_POINT);
    assert_eq!(der[0], 0x04, "CKA_EC_POINT is a DER OCTET STRING");
    let raw = der[2..].to_vec();
    assert_eq!(der[1] as usize, raw.len());
    assert_eq!(raw[0], 0x04, "uncompressed point");
    raw
}

fn ec_pair(t: &mut T, params: &[u8], public: &[u64], private: &[u64]) -> (u64, u64) {
    let mut p = bools(public);
    p.push(Attribute::new(CKA_EC_PARAMS, params.to_vec()));
    t.pair(CKM_EC_KEY_PAIR_GEN, p, bools(private))
}

#[test]
fn ecdsa_p256_and_p384() {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED};
    let mut t = T::new("mech-ecdsa");
    let msg = b"an ECDSA message".to_vec();
    for (params, size) in [(P256, 32usize), (P384, 48)] {
        let (pk, sk) = ec_pair(&mut t, params, &[CKA_VERIFY], &[CKA_SIGN]);
        assert_eq!(t.attr(pk, CKA_KEY_TYPE), CKK_EC.to_be_bytes().to_vec());
        assert_eq!(t.attr(sk, CKA_EC_PARAMS), params.to_vec());
        assert_eq!(t.attr(sk, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN.to_be_bytes().to_vec());
        let point = raw_point(&mut t, pk);
        assert_eq!(point.len(), 1 + 2 * size);
        for mech in [CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512] {
            let sig = sign_verify(&mut t, &Mechanism::new(mech), sk, pk, &msg);
            assert_eq!(sig.len(), 2 * size, "r||s");
            // The hashed mechanism equals raw ECDSA over the hash (truncated to the curve size by the signer).
            let h = t.digest(
                match mech {
                    CKM_ECDSA_SHA256 => CKM_SHA256,
                    CKM_ECDSA_SHA384 => CKM_SHA384,
                    _ => CKM_SHA512,
                },
                &msg,
            );
            assert_eq!(t.verify(&Mechanism::new(CKM_ECDSA), pk, &h, &sig), Rv::OK, "0x{mech:x} as raw ECDSA over its hash");
        }
        // Raw ECDSA over a curve-sized and a shorter hash.
        for hlen in [size, 20] {
            sign_verify(&mut t, &Mechanism::new(CKM_ECDSA), sk, pk, &vec![0x5a; hlen]);
        }
        // Independent verification by aws-lc directly.
        let (m, alg) = if size == 32 { (CKM_ECDSA_SHA256, &ECDSA_P256_SHA256_FIXED) } else { (CKM_ECDSA_SHA384, &ECDSA_P384_SHA384_FIXED) };
        let sig = t.sign(&Mechanism::new(m), sk, &msg);
        assert!(UnparsedPublicKey::new(alg, &point).verify(&msg, &sig).is_ok(), "aws-lc rejects the TA's signature");
        let h = t.digest(if size == 32 { CKM_SHA256 } else { CKM_SHA384 }, &msg);
        let sig = t.sign(&Mechanism::new(CKM_ECDSA), sk, &h);
        assert!(UnparsedPublicKey::new(alg, &point).verify(&msg, &sig).is_ok(), "aws-lc rejects the TA's raw ECDSA signature");
    }
    // Curves the TA does not offer.
    let s = t.s;
    let r = t.rv(Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
        public_template: with_session_object(vec![Attribute::new(CKA_EC_PARAMS, SECP256K1.to_vec())]),
        private_template: with_session_object(vec![]),
    });
    assert_eq!(r, Rv::CURVE_NOT_SUPPORTED);
    let r = t.rv(Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
        public_template: with_session_object(vec![Attribute::bool(CKA_VERIFY, true)]),
        private_template: with_session_object(vec![]),
    });
    assert_eq!(r, Rv::TEMPLATE_INCOMPLETE, "no CKA_EC_PARAMS");
}

fn ecdh(peer_point: &[u8]) -> Mechanism {
    Mechanism::with(CKM_ECDH1_DERIVE, MechParam::Ecdh { kdf: CKD_NULL, shared_data: vec![], public_data: peer_point.to_vec() })
}

#[test]
fn ecdh_derives_the_same_secret_both_ways() {
    use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, ECDH_P256, ECDH_P384};
    let mut t = T::new("mech-ecdh");
    for (params, size, alg) in [(P256, 32usize, &ECDH_P256), (P384, 48, &ECDH_P384)] {
        let (a_pub, a_priv) = ec_pair(&mut t, params, &[], &[CKA_DERIVE]);
        // B's private half is extractable so the secret can be recomputed outside the TA.
        let mut bp = bools(&[CKA_DERIVE, CKA_EXTRACTABLE]);
        bp.push(Attribute::bool(CKA_SENSITIVE, false));
        let (b_pub, b_priv) = {
            let mut p = vec![Attribute::new(CKA_EC_PARAMS, params.to_vec())];
            p.push(Attribute::bool(CKA_TOKEN, false));
            t.pair(CKM_EC_KEY_PAIR_GEN, p, bp)
        };
        let a_point = raw_point(&mut t, a_pub);
        let b_point_der = t.attr(b_pub, CKA_EC_POINT);
        let readable = || {
            vec![
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::bool(CKA_SIGN, true),
                Attribute::bool(CKA_SENSITIVE, false),
                Attribute::bool(CKA_EXTRACTABLE, true),
                Attribute::bool(CKA_TOKEN, false),
            ]
        };
        let s = t.s;
        // A derives with B's DER-wrapped point, B with A's raw point: both encodings are accepted.
        let ab = t.handle(Request::DeriveKey { session: s, mechanism: ecdh(&b_point_der), base_key: a_priv, template: readable() });
        let ba = t.handle(Request::DeriveKey { session: s, mechanism: ecdh(&a_point), base_key: b_priv, template: readable() });
        let v_ab = t.attr(ab, CKA_VALUE);
        assert_eq!(v_ab.len(), size, "CKD_NULL yields the x-coordinate");
        assert_eq!(v_ab, t.attr(ba, CKA_VALUE), "both sides derive the same secret");
        // Recomputed by aws-lc from B's exported scalar and A's point.
        let b_scalar = t.attr(b_priv, CKA_VALUE);
        let b_key = PrivateKey::from_private_key(alg, &b_scalar).unwrap();
        let outside = agree(&b_key, UnparsedPublicKey::new(alg, &a_point), (), |z| Ok(z.to_vec())).unwrap();
        assert_eq!(v_ab, outside, "aws-lc computes the same ECDH secret");
        // Sensitive derived keys (the default) compared by their HMACs.
        let secret = vec![Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET), Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, false)];
        let k1 = t.handle(Request::DeriveKey { session: s, mechanism: ecdh(&b_point_der), base_key: a_priv, template: secret.clone() });
        let k2 = t.handle(Request::DeriveKey { session: s, mechanism: ecdh(&a_point), base_key: b_priv, template: secret });
        let hm = Mechanism::new(CKM_SHA256_HMAC);
        assert_eq!(t.sign(&hm, k1, b"same?"), t.sign(&hm, k2, b"same?"));
        assert_eq!(t.h.attr(&mut t.c, s, k1, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
        // Refusals: an unknown KDF, shared data with CKD_NULL, a key without CKA_DERIVE.
        let m = Mechanism::with(
            CKM_ECDH1_DERIVE,
            MechParam::Ecdh { kdf: 0x9 /* CKD_CPDIVERSIFY_KDF */, shared_data: vec![], public_data: a_point.clone() },
        );
        assert_eq!(t.rv(Request::DeriveKey { session: s, mechanism: m, base_key: b_priv, template: readable() }), Rv::MECHANISM_PARAM_INVALID);
        let m = Mechanism::with(CKM_ECDH1_DERIVE, MechParam::Ecdh { kdf: CKD_NULL, shared_data: vec![1], public_data: a_point.clone() });
        assert_eq!(t.rv(Request::DeriveKey { session: s, mechanism: m, base_key: b_priv, template: readable() }), Rv::MECHANISM_PARAM_INVALID);
        let m = Mechanism::new(CKM_ECDH1_DERIVE);
        assert_eq!(t.rv(Request::DeriveKey { session: s, mechanism: m, base_key: b_priv, template: readable() }), Rv::MECHANISM_PARAM_INVALID);
        let (_, signer) = ec_pair(&mut t, params, &[], &[CKA_SIGN]);
        assert_eq!(
            t.rv(Request::DeriveKey { session: s, mechanism: ecdh(&a_point), base_key: signer, template: readable() }),
            Rv::KEY_FUNCTION_NOT_PERMITTED
        );
    }
}

/// The peer's public point is a mechanism parameter: one that is not on the
/// base key's curve is CKR_MECHANISM_PARAM_INVALID (the base key is fine).
#[test]
fn ecdh_with_an_invalid_peer_point_is_mechanism_param_invalid() {
    let mut t = T::new("mech-ecdh-bad");
    let (_, a) = ec_pair(&mut t, P256, &[], &[CKA_DERIVE]);
    let (p384_pub, _) = ec_pair(&mut t, P384, &[], &[CKA_DERIVE]);
    let p384_point = raw_point(&mut t, p384_pub);
    let mut off_curve = vec![0x04];
    off_curve.extend_from_slice(&[0x11; 64]);
    let s = t.s;
    for peer in [off_curve, p384_point, vec![0x04], vec![]] {
        let r = t.rv(Request::DeriveKey {
            session: s,
            mechanism: ecdh(&peer),
            base_key: a,
            template: with_session_object(vec![Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET), Attribute::bool(CKA_SIGN, true)]),
        });
        assert_eq!(r, Rv::MECHANISM_PARAM_INVALID, "peer point of {} bytes", peer.len());
    }
}

// ------------------------------------------------------------------ RSA

fn rsa_pair(t: &mut T, bits: u64, public: &[u64], private: &[u64]) -> (u64, u64) {
    let mut p = bools(public);
    p.push(Attribute::ulong(CKA_MODULUS_BITS, bits));
    p.push(Attribute::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]));
    t.pair(CKM_RSA_PKCS_KEY_PAIR_GEN, p, bools(private))
}

fn pss(hash: u64, mgf: u64, salt_len: u64) -> MechParam {
    MechParam::Pss { hash, mgf, salt_len }
}

const DI_SHA256: &str = "3031300d060960864801650304020105000420";

#[test]
fn rsa_signatures() {
    use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PSS_2048_8192_SHA256};
    let mut t = T::new("mech-rsa-sig");
    let (pk, sk) = rsa_pair(&mut t, 2048, &[CKA_VERIFY], &[CKA_SIGN]);
    let n = t.attr(pk, CKA_MODULUS);
    let e = t.attr(pk, CKA_PUBLIC_EXPONENT);
    assert_eq!(n.len(), 256);
    assert_eq!(e, vec![1, 0, 1]);
    assert_eq!(t.attr(pk, CKA_MODULUS_BITS), 2048u64.to_be_bytes().to_vec());
    let outside = RsaPublicKeyComponents { n: &n, e: &e };
    let msg = b"an RSA message".to_vec();

    // PKCS#1 v1.5, hashed and raw (DigestInfo).
    for (mech, len) in [(CKM_SHA256_RSA_PKCS, 256usize), (CKM_SHA384_RSA_PKCS, 256), (CKM_SHA512_RSA_PKCS, 256)] {
        assert_eq!(sign_verify(&mut t, &Mechanism::new(mech), sk, pk, &msg).len(), len);
    }
    let sig = t.sign(&Mechanism::new(CKM_SHA256_RSA_PKCS), sk, &msg);
    assert!(outside.verify(&RSA_PKCS1_2048_8192_SHA256, &msg, &sig).is_ok(), "aws-lc rejects SHA256_RSA_PKCS");
    let mut di = hx(DI_SHA256);
    di.extend(t.digest(CKM_SHA256, &msg));
    let raw = sign_verify(&mut t, &Mechanism::new(CKM_RSA_PKCS), sk, pk, &di);
    assert_eq!(raw, sig, "PKCS#1 v1.5 is deterministic: raw over the DigestInfo equals the hashed mechanism");
    assert!(outside.verify(&RSA_PKCS1_2048_8192_SHA256, &msg, &raw).is_ok());

    // PSS, hashed and raw; salt = hash length.
    for (mech, hash, mgf, hl) in [
        (CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32u64),
        (CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48),
        (CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64),
    ] {
        let m = Mechanism::with(mech, pss(hash, mgf, hl));
        sign_verify(&mut t, &m, sk, pk, &msg);
        let h = t.digest(hash, &msg);
        let raw = Mechanism::with(CKM_RSA_PKCS_PSS, pss(hash, mgf, hl));
        let sig = sign_verify(&mut t, &raw, sk, pk, &h);
        assert_eq!(t.verify(&m, pk, &msg, &sig), Rv::OK, "raw PSS over the hash verifies as 0x{mech:x}");
    }
    let m = Mechanism::with(CKM_SHA256_RSA_PKCS_PSS, pss(CKM_SHA256, CKG_MGF1_SHA256, 32));
    let sig = t.sign(&m, sk, &msg);
    assert!(outside.verify(&RSA_PSS_2048_8192_SHA256, &msg, &sig).is_ok(), "aws-lc rejects SHA256_RSA_PKCS_PSS");
    // PSS parameter errors.
    for (mech, p) in [
        (CKM_SHA256_RSA_PKCS_PSS, pss(CKM_SHA256, CKG_MGF1_SHA256, 223)),
        (CKM_SHA256_RSA_PKCS_PSS, pss(CKM_SHA256, CKG_MGF1_SHA256, 1 << 40)),
        (CKM_SHA256_RSA_PKCS_PSS, pss(CKM_SHA256, 0x99, 32)),
        (CKM_SHA256_RSA_PKCS_PSS, pss(CKM_SHA384, CKG_MGF1_SHA384, 48)),
        (CKM_SHA256_RSA_PKCS_PSS, pss(CKM_SM3, CKG_MGF1_SHA256, 32)),
        (CKM_SHA256_RSA_PKCS_PSS, MechParam::None),
        (CKM_RSA_PKCS_PSS, MechParam::None),
        (CKM_RSA_PKCS_PSS, pss(CKM_MD5, CKG_MGF1_SHA256, 16)),
    ] {
        let data = if mech == CKM_RSA_PKCS_PSS { vec![0; 32] } else { msg.clone() };
        assert_eq!(t.sign_rv(&Mechanism::with(mech, p.clone()), sk, &data), Rv::MECHANISM_PARAM_INVALID, "0x{mech:x} with {p:?}");
    }

    // RSA-3072: CKA_MODULUS_BITS honoured.
    let (pk3, sk3) = rsa_pair(&mut t, 3072, &[CKA_VERIFY], &[CKA_SIGN]);
    let n3 = t.attr(pk3, CKA_MODULUS);
    assert_eq!(n3.len(), 384);
    let sig = sign_verify(&mut t, &Mechanism::new(CKM_SHA384_RSA_PKCS), sk3, pk3, &msg);
    assert_eq!(sig.len(), 384);
    assert!(RsaPublicKeyComponents { n: &n3, e: &e }.verify(&RSA_PKCS1_2048_8192_SHA384, &msg, &sig).is_ok());

    // Sizes the TA does not generate.
    let s = t.s;
    for (bits, want) in [(Some(1024u64), Rv::KEY_SIZE_RANGE), (Some(2047), Rv::KEY_SIZE_RANGE), (None, Rv::TEMPLATE_INCOMPLETE)] {
        let mut p = vec![Attribute::bool(CKA_VERIFY, true)];
        if let Some(b) = bits {
            p.push(Attribute::ulong(CKA_MODULUS_BITS, b));
        }
        let r = t.rv(Request::GenerateKeyPair {
            session: s,
            mechanism: Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
            public_template: with_session_object(p),
            private_template: with_session_object(bools(&[CKA_SIGN])),
        });
        assert_eq!(r, want, "RSA key generation with {bits:?} bits");
    }
}

/// Raw CKM_RSA_PKCS signs whatever block the caller formatted (what the
/// cryptoki crate's tests and pkcs11-tool send: 3 bytes, a SHA-1 DigestInfo),
/// up to k - 11 bytes; longer input is CKR_DATA_LEN_RANGE.
#[test]
fn raw_rsa_pkcs_signs_any_block_up_to_k_minus_11() {
    let mut t = T::new("mech-rsa-raw");
    let (pk, sk) = rsa_pair(&mut t, 2048, &[CKA_VERIFY], &[CKA_SIGN]);
    let m = Mechanism::new(CKM_RSA_PKCS);
    let empty = t.sign(&m, sk, b"");
    assert_eq!(t.verify(&m, pk, b"", &empty), Rv::OK, "an empty block");
    for data in [vec![0xff, 0x55, 0xdd], b"not a DigestInfo at all".to_vec(), vec![7; 245]] {
        let sig = sign_verify(&mut t, &m, sk, pk, &data);
        assert_eq!(sig.len(), 256);
        assert_eq!(t.sign(&m, sk, &data), sig, "deterministic");
    }
    // pkcs11-tool --test: the SHA-1 DigestInfo of its test data, signed raw, equals CKM_SHA1_RSA_PKCS.
    let verify_data: Vec<u8> = (0..100u32).map(|i| 0x30 + (i % 10) as u8).collect();
    let di = hx("3021300906052b0e03021a05000414 29b0e7878271645fffb7eec7db4a7473a1c00bc1");
    assert_eq!(&di[15..], &t.digest(CKM_SHA_1, &verify_data)[..]);
    assert_eq!(t.sign(&m, sk, &di), t.sign(&Mechanism::new(CKM_SHA1_RSA_PKCS), sk, &verify_data));
    assert_eq!(t.sign_rv(&m, sk, &[7; 246]), Rv::DATA_LEN_RANGE);
    let sig = t.sign(&m, sk, b"abc");
    assert_eq!(t.verify(&m, pk, b"abd", &sig), Rv::SIGNATURE_INVALID);
    assert_eq!(t.verify(&m, pk, b"abc", &sig[1..]), Rv::SIGNATURE_LEN_RANGE);
}

fn oaep(hash: u64, mgf: u64, label: &[u8]) -> MechParam {
    MechParam::Oaep { hash, mgf, source: if label.is_empty() { 0 } else { CKZ_DATA_SPECIFIED }, source_data: label.to_vec() }
}

#[test]
fn rsa_oaep_encrypt_and_wrap() {
    let mut t = T::new("mech-rsa-oaep");
    let (pk, sk) = rsa_pair(&mut t, 2048, &[CKA_ENCRYPT], &[CKA_DECRYPT]);
    for (hash, mgf, hl) in [(CKM_SHA256, CKG_MGF1_SHA256, 32usize), (CKM_SHA_1, CKG_MGF1_SHA1, 20), (CKM_SHA512, CKG_MGF1_SHA512, 64)] {
        for label in [&b""[..], &b"a label"[..]] {
            let m = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(hash, mgf, label));
            let c1 = t.enc(&m, pk, b"oaep plaintext");
            let c2 = t.enc(&m, pk, b"oaep plaintext");
            assert_eq!(c1.len(), 256);
            assert_ne!(c1, c2, "OAEP is randomized");
            assert_eq!(t.dec(&m, sk, &c1), b"oaep plaintext", "hash 0x{hash:x}, label {label:?}");
            // The largest plaintext, and one byte more.
            let max = 256 - 2 * hl - 2;
            let big = vec![0x33; max];
            let c = t.enc(&m, pk, &big);
            assert_eq!(t.dec(&m, sk, &c), big);
            assert_eq!(t.enc_rv(&m, pk, &vec![0x33; max + 1]), Rv::DATA_LEN_RANGE);
            // Another label, a changed byte, a short ciphertext.
            let other = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(hash, mgf, b"other label"));
            assert_eq!(t.dec_rv(&other, sk, &c1), Rv::ENCRYPTED_DATA_INVALID);
            let mut bad = c1.clone();
            bad[100] ^= 4;
            assert_eq!(t.dec_rv(&m, sk, &bad), Rv::ENCRYPTED_DATA_INVALID);
        }
    }
    let m = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_SHA256, CKG_MGF1_SHA256, b""));
    assert_eq!(t.enc(&m, pk, b"").len(), 256, "an empty message is fine");
    for p in [
        oaep(CKM_SHA256, 0x77, b""),
        oaep(CKM_SM3, CKG_MGF1_SHA256, b""),
        MechParam::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, source: 0, source_data: b"L".to_vec() },
        MechParam::None,
        MechParam::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, source: 7, source_data: vec![] },
    ] {
        let m = Mechanism::with(CKM_RSA_PKCS_OAEP, p.clone());
        assert_eq!(t.enc_rv(&m, pk, b"x"), Rv::MECHANISM_PARAM_INVALID, "{p:?}");
    }

    // Wrap a secret key with RSA-OAEP; the unwrapped copy decrypts what the original encrypted.
    let (wpk, wsk) = {
        let mut p = bools(&[CKA_WRAP]);
        p.push(Attribute::ulong(CKA_MODULUS_BITS, 2048));
        p.push(Attribute::bool(CKA_TOKEN, true));
        t.pair(CKM_RSA_PKCS_KEY_PAIR_GEN, p, bools(&[CKA_UNWRAP]))
    };
    let wm = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_SHA256, CKG_MGF1_SHA256, b"kt"));
    let gm = Mechanism::with(CKM_AES_GCM, gcm(&[4; 12], b"", 128));
    let unwrap_template =
        || vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_DECRYPT, true)];
    let plain_key = t.gen(
        CKM_AES_KEY_GEN,
        vec![
            Attribute::ulong(CKA_VALUE_LEN, 32),
            Attribute::bool(CKA_ENCRYPT, true),
            Attribute::bool(CKA_SENSITIVE, false),
            Attribute::bool(CKA_EXTRACTABLE, true),
        ],
    );
    let ct = t.enc(&gm, plain_key, b"via RSA-OAEP key transport");
    let blob = t.wrap(&wm, wpk, plain_key);
    assert_eq!(blob.len(), 256);
    let copy = t.unwrap(&wm, wsk, &blob, unwrap_template());
    assert_eq!(t.dec(&gm, copy, &ct), b"via RSA-OAEP key transport");
    assert_eq!(t.attr(copy, CKA_SENSITIVE), vec![1], "unwrapped keys are sensitive");
    // A sensitive key needs a wrapping key no one outside the TA knows: this
    // pair's private half was generated sensitive and non-extractable, so
    // its public key qualifies (rule R4; clulow.rs covers the refusals).
    let sensitive =
        t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_EXTRACTABLE, true)]);
    let s = t.s;
    let ct = t.enc(&gm, sensitive, b"sensitive key transported");
    let blob = t.wrap(&wm, wpk, sensitive);
    let copy = t.unwrap(&wm, wsk, &blob, unwrap_template());
    assert_eq!(t.dec(&gm, copy, &ct), b"sensitive key transported");
    // Wrong label on unwrap; the wrong kind of key for the mechanism.
    let other = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_SHA256, CKG_MGF1_SHA256, b"other"));
    let r = t.rv(Request::UnwrapKey {
        session: s,
        mechanism: other,
        unwrapping_key: wsk,
        wrapped: blob,
        template: with_session_object(unwrap_template()),
    });
    assert_eq!(r, Rv::WRAPPED_KEY_INVALID);
    let kek = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_WRAP, true), Attribute::bool(CKA_UNWRAP, true)]);
    assert_eq!(t.rv(Request::WrapKey { session: s, mechanism: wm.clone(), wrapping_key: kek, key: plain_key }), Rv::WRAPPING_KEY_TYPE_INCONSISTENT);
    let r = t.rv(Request::UnwrapKey {
        session: s,
        mechanism: wm,
        unwrapping_key: kek,
        wrapped: vec![0; 256],
        template: with_session_object(unwrap_template()),
    });
    assert_eq!(r, Rv::UNWRAPPING_KEY_TYPE_INCONSISTENT);
    let r = t.rv(Request::WrapKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_WRAP), wrapping_key: wpk, key: plain_key });
    assert_eq!(r, Rv::WRAPPING_KEY_TYPE_INCONSISTENT);
}

// ------------------------------------------------------------------ SM2

const SM2_A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
const SM2_B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
const SM2_GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
const SM2_GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";

/// e = SM3(Z || M), Z = SM3(ENTL || ID || a || b || Gx || Gy || x || y), computed here with the TA's SM3.
fn sm2_e(t: &mut T, point: &[u8], id: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut z_in = ((id.len() * 8) as u16).to_be_bytes().to_vec();
    z_in.extend_from_slice(id);
    for c in [SM2_A, SM2_B, SM2_GX, SM2_GY] {
        z_in.extend(hx(c));
    }
    z_in.extend_from_slice(&point[1..65]);
    let mut e_in = t.digest(CKM_SM3, &z_in);
    e_in.extend_from_slice(msg);
    t.digest(CKM_SM3, &e_in)
}

#[test]
fn sm2_signatures() {
    use sm2::dsa::signature::Verifier;
    let mut t = T::new("mech-sm2");
    let (pk, sk) = t.pair(CKM_SM2_KEY_PAIR_GEN, bools(&[CKA_VERIFY]), bools(&[CKA_SIGN]));
    assert_eq!(t.attr(pk, CKA_KEY_TYPE), CKK_SM2.to_be_bytes().to_vec());
    assert_eq!(t.attr(pk, CKA_EC_PARAMS), SM2_PARAMS.to_vec());
    let point = raw_point(&mut t, pk);
    assert_eq!(point.len(), 65);
    let msg = b"message digest".to_vec();

    // SM2 over a caller-computed e.
    let e = sm2_e(&mut t, &point, b"1234567812345678", &msg);
    let raw = Mechanism::new(CKM_SM2);
    assert_eq!(sign_verify(&mut t, &raw, sk, pk, &e).len(), 64);
    assert_eq!(t.sign_rv(&raw, sk, &e[..31]), Rv::DATA_LEN_RANGE, "CKM_SM2 signs a 32-byte e");

    // SM2_SM3 with the default ID, however it is spelled, equals SM2 over e computed with that ID.
    let default_id_mechs = [
        Mechanism::new(CKM_SM2_SM3),
        Mechanism::with(CKM_SM2_SM3, MechParam::Sm2 { user_id: vec![] }),
        Mechanism::with(CKM_SM2_SM3, MechParam::Sm2 { user_id: b"1234567812345678".to_vec() }),
        Mechanism::with(CKM_SM2_SM3, MechParam::Bytes(b"1234567812345678".to_vec())),
    ];
    for m in &default_id_mechs {
        let sig = sign_verify(&mut t, m, sk, pk, &msg);
        for other in &default_id_mechs {
            assert_eq!(t.verify(other, pk, &msg, &sig), Rv::OK, "{:?} signed, {:?} verifies", m.param, other.param);
        }
        assert_eq!(t.verify(&raw, pk, &e, &sig), Rv::OK, "SM2_SM3 is SM2 over SM3(Z || M)");
        // RustCrypto's sm2 computes Z itself from the ID.
        let vk = sm2::dsa::VerifyingKey::from_sec1_bytes("1234567812345678", &point).unwrap();
        let sig = sm2::dsa::Signature::from_slice(&sig).unwrap();
        assert!(vk.verify(&msg, &sig).is_ok(), "RustCrypto sm2 rejects the TA's SM2_SM3 signature");
    }
    // A custom user ID.
    let id = b"alice@bank.example";
    let custom = Mechanism::with(CKM_SM2_SM3, MechParam::Sm2 { user_id: id.to_vec() });
    let sig = sign_verify(&mut t, &custom, sk, pk, &msg);
    assert_eq!(t.verify(&Mechanism::new(CKM_SM2_SM3), pk, &msg, &sig), Rv::SIGNATURE_INVALID, "the ID is part of what is signed");
    let e_custom = sm2_e(&mut t, &point, id, &msg);
    assert_eq!(t.verify(&raw, pk, &e_custom, &sig), Rv::OK);
    let vk = sm2::dsa::VerifyingKey::from_sec1_bytes("alice@bank.example", &point).unwrap();
    assert!(vk.verify(&msg, &sm2::dsa::Signature::from_slice(&sig).unwrap()).is_ok());
    assert_eq!(
        t.sign_rv(&Mechanism::with(CKM_SM2_SM3, gcm(&[0; 12], b"", 128)), sk, &msg),
        Rv::MECHANISM_PARAM_INVALID,
        "an SM2 signature takes a user ID, nothing else"
    );
    // SM2 keys live on the SM2 curve only.
    let s = t.s;
    let r = t.rv(Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_SM2_KEY_PAIR_GEN),
        public_template: with_session_object(vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]),
        private_template: with_session_object(vec![]),
    });
    assert_eq!(r, Rv::CURVE_NOT_SUPPORTED);
}

#[test]
fn sm2_encryption() {
    let mut t = T::new("mech-sm2-enc");
    let (pk, sk) = t.pair(CKM_SM2_KEY_PAIR_GEN, bools(&[CKA_ENCRYPT]), bools(&[CKA_DECRYPT]));
    let m = Mechanism::new(CKM_SM2_ENCRYPT);
    for pt in [&b"x"[..], &b"encryption standard"[..], &[0x5a; 300][..]] {
        let c = t.enc(&m, pk, pt);
        assert_eq!(c.len(), 65 + 32 + pt.len(), "C1 || C3 || C2");
        assert_eq!(c[0], 0x04, "C1 is an uncompressed point");
        assert_ne!(t.enc(&m, pk, pt), c, "SM2 encryption is randomized");
        assert_eq!(t.dec(&m, sk, &c), pt.to_vec());
        for at in [1, 70, c.len() - 1] {
            let mut bad = c.clone();
            bad[at] ^= 1;
            assert_eq!(t.dec_rv(&m, sk, &bad), Rv::ENCRYPTED_DATA_INVALID, "flip at {at}");
        }
    }
    assert_eq!(t.enc_rv(&m, pk, b""), Rv::DATA_LEN_RANGE);
    assert_eq!(t.dec_rv(&m, sk, &[0x04; 90]), Rv::ENCRYPTED_DATA_INVALID);
}

// ------------------------------------------------------------------ ML-DSA

#[test]
fn ml_dsa_sign_verify() {
    let mut t = T::new("mech-mldsa");
    for (set, pk_len, sig_len) in [(CKP_ML_DSA_44, 1312usize, 2420usize), (CKP_ML_DSA_65, 1952, 3309), (CKP_ML_DSA_87, 2592, 4627)] {
        let mut p = bools(&[CKA_VERIFY]);
        p.push(Attribute::ulong(CKA_PARAMETER_SET, set));
        let (pk, sk) = t.pair(CKM_ML_DSA_KEY_PAIR_GEN, p, bools(&[CKA_SIGN]));
        assert_eq!(t.attr(pk, CKA_KEY_TYPE), CKK_ML_DSA.to_be_bytes().to_vec());
        assert_eq!(t.attr(sk, CKA_PARAMETER_SET), set.to_be_bytes().to_vec());
        assert_eq!(t.attr(pk, CKA_VALUE).len(), pk_len);
        let m = Mechanism::new(CKM_ML_DSA);
        let sig = sign_verify(&mut t, &m, sk, pk, b"post-quantum message");
        assert_eq!(sig.len(), sig_len, "ML-DSA parameter set {set}");
        let empty_ctx = Mechanism::with(CKM_ML_DSA, MechParam::SignContext { hedge: 0, context: vec![] });
        assert_eq!(t.verify(&empty_ctx, pk, b"post-quantum message", &sig), Rv::OK, "an empty context is the default");
        let ctx = Mechanism::with(CKM_ML_DSA, MechParam::SignContext { hedge: 0, context: b"ctx".to_vec() });
        assert_eq!(t.verify(&ctx, pk, b"post-quantum message", &sig), Rv::SIGNATURE_INVALID, "the context is part of what is signed");
        let with_ctx = sign_verify(&mut t, &ctx, sk, pk, b"m");
        assert_eq!(t.verify(&m, pk, b"m", &with_ctx), Rv::SIGNATURE_INVALID);
    }
    let s = t.s;
    for (tmpl, want) in [(vec![Attribute::ulong(CKA_PARAMETER_SET, 9)], Rv::ATTRIBUTE_VALUE_INVALID), (vec![], Rv::TEMPLATE_INCOMPLETE)] {
        let r = t.rv(Request::GenerateKeyPair {
            session: s,
            mechanism: Mechanism::new(CKM_ML_DSA_KEY_PAIR_GEN),
            public_template: with_session_object(tmpl),
            private_template: with_session_object(vec![]),
        });
        assert_eq!(r, want);
    }
}

// ------------------------------------------------------------------ ML-KEM

#[test]
fn ml_kem_encapsulate_decapsulate() {
    use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768};
    let mut t = T::new("mech-mlkem");
    let readable = || {
        vec![
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            Attribute::bool(CKA_SIGN, true),
            Attribute::bool(CKA_SENSITIVE, false),
            Attribute::bool(CKA_EXTRACTABLE, true),
            Attribute::bool(CKA_TOKEN, false),
        ]
    };
    let sensitive = || vec![Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET), Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, false)];
    let m = Mechanism::new(CKM_ML_KEM);
    for (set, ek_len, ct_len, alg) in
        [(CKP_ML_KEM_512, 800usize, 768usize, &ML_KEM_512), (CKP_ML_KEM_768, 1184, 1088, &ML_KEM_768), (CKP_ML_KEM_1024, 1568, 1568, &ML_KEM_1024)]
    {
        let mut p = bools(&[CKA_ENCAPSULATE]);
        p.push(Attribute::ulong(CKA_PARAMETER_SET, set));
        let (pk, sk) = t.pair(CKM_ML_KEM_KEY_PAIR_GEN, p, bools(&[CKA_DECAPSULATE]));
        assert_eq!(t.attr(pk, CKA_KEY_TYPE), CKK_ML_KEM.to_be_bytes().to_vec());
        let ek = t.attr(pk, CKA_VALUE);
        assert_eq!(ek.len(), ek_len);
        let s = t.s;
        let encap =
            |t: &mut T, template: Vec<Attribute>| match t.ok(Request::Encapsulate { session: s, mechanism: m.clone(), public_key: pk, template }) {
                Reply::Encapsulated { ciphertext, handle } => (ciphertext, handle),
                r => panic!("{r:?}"),
            };
        // Readable shared secrets compared directly.
        let (ct, k1) = encap(&mut t, readable());
        assert_eq!(ct.len(), ct_len);
        let k2 = t.handle(Request::Decapsulate { session: s, mechanism: m.clone(), private_key: sk, ciphertext: ct.clone(), template: readable() });
        let v1 = t.attr(k1, CKA_VALUE);
        assert_eq!(v1.len(), 32);
        assert_eq!(v1, t.attr(k2, CKA_VALUE), "ML-KEM set {set}: both sides hold the same secret");
        // Sensitive ones (the default) compared by their HMACs.
        let (ct, k1) = encap(&mut t, sensitive());
        let k2 = t.handle(Request::Decapsulate { session: s, mechanism: m.clone(), private_key: sk, ciphertext: ct.clone(), template: sensitive() });
        let hm = Mechanism::new(CKM_SHA256_HMAC);
        assert_eq!(t.sign(&hm, k1, b"kem"), t.sign(&hm, k2, b"kem"));
        // Encapsulated outside the TA (aws-lc) to the TA's public key.
        let (outside_ct, outside_ss) = EncapsulationKey::new(alg, &ek).unwrap().encapsulate().unwrap();
        let k3 = t.handle(Request::Decapsulate {
            session: s,
            mechanism: m.clone(),
            private_key: sk,
            ciphertext: outside_ct.as_ref().to_vec(),
            template: readable(),
        });
        assert_eq!(t.attr(k3, CKA_VALUE), outside_ss.as_ref().to_vec(), "the TA decapsulates what aws-lc encapsulated");
        // A changed ciphertext decapsulates (implicit rejection) to a different secret.
        let mut bad = ct.clone();
        bad[5] ^= 1;
        let k4 = t.handle(Request::Decapsulate { session: s, mechanism: m.clone(), private_key: sk, ciphertext: bad, template: readable() });
        assert_ne!(t.attr(k4, CKA_VALUE), v1);
        // Wrong length, wrong key, wrong purpose.
        let r = t.rv(Request::Decapsulate {
            session: s,
            mechanism: m.clone(),
            private_key: sk,
            ciphertext: ct[..ct_len - 1].to_vec(),
            template: readable(),
        });
        assert_eq!(r, Rv::ENCRYPTED_DATA_LEN_RANGE);
        let r = t.rv(Request::Encapsulate { session: s, mechanism: m.clone(), public_key: sk, template: readable() });
        assert_eq!(r, Rv::KEY_FUNCTION_NOT_PERMITTED, "the private half does not encapsulate");
        let r = t.rv(Request::Decapsulate { session: s, mechanism: m.clone(), private_key: pk, ciphertext: ct, template: readable() });
        assert_eq!(r, Rv::KEY_FUNCTION_NOT_PERMITTED, "the public half does not decapsulate");
    }
}

// ------------------------------------------------------------------ random

#[test]
fn generate_random_lengths() {
    let mut t = T::new("mech-random");
    let s = t.s;
    for len in [0u32, 1, 16, 32, 1000, MAX_DATA_LEN as u32] {
        assert_eq!(t.bytes(Request::GenerateRandom { session: s, len }).len(), len as usize);
    }
    let a = t.bytes(Request::GenerateRandom { session: s, len: 32 });
    let b = t.bytes(Request::GenerateRandom { session: s, len: 32 });
    assert_ne!(a, b);
    assert_ne!(a, vec![0; 32]);
    assert_eq!(t.rv(Request::GenerateRandom { session: s, len: MAX_DATA_LEN as u32 + 1 }), Rv::DATA_LEN_RANGE);
    assert_eq!(t.rv(Request::GenerateRandom { session: 999_999, len: 4 }), Rv::SESSION_HANDLE_INVALID);
    // No login is needed.
    let mut c = t.h.conn();
    let ps = t.h.open(&mut c, false);
    match t.h.ok(&mut c, Request::GenerateRandom { session: ps, len: 24 }) {
        Reply::Bytes(b) => assert_eq!(b.len(), 24),
        r => panic!("{r:?}"),
    }
}

// ------------------------------------------------------------------ refusals

#[test]
fn key_type_must_fit_the_mechanism() {
    let mut t = T::new("mech-keytype");
    let aes = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_SIGN, true)]);
    let sm4 = t.gen(CKM_SM4_KEY_GEN, bools(&[CKA_ENCRYPT, CKA_SIGN]));
    let (_, ec) = ec_pair(&mut t, P256, &[], &[CKA_SIGN]);
    let (sm2_pub, sm2) = t.pair(CKM_SM2_KEY_PAIR_GEN, bools(&[CKA_VERIFY]), bools(&[CKA_SIGN]));
    let (rsa_pub, rsa) = rsa_pair(&mut t, 2048, &[CKA_VERIFY], &[CKA_SIGN]);
    let iv = MechParam::Bytes(vec![0; 16]);
    let h32 = vec![1u8; 32];
    for (what, rv) in [
        ("AES key with SM4-CBC", t.enc_rv(&Mechanism::with(CKM_SM4_CBC, iv.clone()), aes, &[0; 16])),
        ("SM4 key with AES-CBC", t.enc_rv(&Mechanism::with(CKM_AES_CBC, iv.clone()), sm4, &[0; 16])),
        ("SM4 key with AES-GCM", t.enc_rv(&Mechanism::with(CKM_AES_GCM, gcm(&[0; 12], b"", 128)), sm4, b"x")),
        ("AES key with HMAC", t.sign_rv(&Mechanism::new(CKM_SHA256_HMAC), aes, b"x")),
        ("SM4 key with AES-CMAC", t.sign_rv(&Mechanism::new(CKM_AES_CMAC), sm4, b"x")),
        ("AES key with SM4-MAC", t.sign_rv(&Mechanism::new(CKM_SM4_MAC), aes, b"x")),
        ("EC key with RSA PKCS#1", t.sign_rv(&Mechanism::new(CKM_SHA256_RSA_PKCS), ec, b"x")),
        ("RSA key with ECDSA", t.sign_rv(&Mechanism::new(CKM_ECDSA), rsa, &h32)),
        ("SM2 key with ECDSA", t.sign_rv(&Mechanism::new(CKM_ECDSA_SHA256), sm2, b"x")),
        ("EC key with SM2", t.sign_rv(&Mechanism::new(CKM_SM2_SM3), ec, b"x")),
        ("EC key with ML-DSA", t.sign_rv(&Mechanism::new(CKM_ML_DSA), ec, b"x")),
        ("RSA public key with SM2 verify", t.verify(&Mechanism::new(CKM_SM2_SM3), rsa_pub, b"x", &[0; 64])),
        ("SM2 public key with ECDSA verify", t.verify(&Mechanism::new(CKM_ECDSA), sm2_pub, &h32, &[0; 64])),
    ] {
        assert_eq!(rv, Rv::KEY_TYPE_INCONSISTENT, "{what}");
    }
}

/// A template that grants no use gets the ordinary uses of its key type
/// (what Java's SunPKCS11 relies on); naming any use grants exactly that;
/// wrapping is never a default.
#[test]
fn templates_that_grant_nothing_get_the_ordinary_uses() {
    let mut t = T::new("mech-default-uses");
    let (pk, sk) = ec_pair(&mut t, P256, &[], &[]);
    let sig = t.sign(&Mechanism::new(CKM_ECDSA_SHA256), sk, b"x");
    assert_eq!(t.verify(&Mechanism::new(CKM_ECDSA_SHA256), pk, b"x", &sig), Rv::OK);
    for (key, ty, want) in
        [(sk, CKA_SIGN, 1u8), (sk, CKA_DECRYPT, 0), (sk, CKA_DERIVE, 0), (sk, CKA_UNWRAP, 0), (pk, CKA_VERIFY, 1), (pk, CKA_WRAP, 0)]
    {
        assert_eq!(t.attr(key, ty), vec![want], "attribute 0x{ty:x}");
    }
    let (rpk, rsk) = rsa_pair(&mut t, 2048, &[], &[]);
    for (key, ty, want) in
        [(rsk, CKA_SIGN, 1u8), (rsk, CKA_DECRYPT, 1), (rsk, CKA_UNWRAP, 0), (rpk, CKA_VERIFY, 1), (rpk, CKA_ENCRYPT, 1), (rpk, CKA_WRAP, 0)]
    {
        assert_eq!(t.attr(key, ty), vec![want], "RSA attribute 0x{ty:x}");
    }
    let aes = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16)]);
    for (ty, want) in [(CKA_ENCRYPT, 1u8), (CKA_DECRYPT, 1), (CKA_SIGN, 1), (CKA_VERIFY, 1), (CKA_WRAP, 0), (CKA_UNWRAP, 0), (CKA_DERIVE, 0)] {
        assert_eq!(t.attr(aes, ty), vec![want], "AES attribute 0x{ty:x}");
    }
    // Naming one use grants exactly that one.
    let enc_only = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_ENCRYPT, true)]);
    assert_eq!(t.attr(enc_only, CKA_DECRYPT), vec![0]);
    assert_eq!(t.attr(enc_only, CKA_SIGN), vec![0]);
}

#[test]
fn key_usage_attributes_are_enforced() {
    let mut t = T::new("mech-usage");
    let (_, no_sign) = ec_pair(&mut t, P256, &[], &[CKA_DERIVE]);
    assert_eq!(t.sign_rv(&Mechanism::new(CKM_ECDSA_SHA256), no_sign, b"x"), Rv::KEY_FUNCTION_NOT_PERMITTED, "EC key without CKA_SIGN");
    let (no_verify, sk) =
        t.pair(CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec()), Attribute::bool(CKA_VERIFY, false)], bools(&[CKA_SIGN]));
    let sig = t.sign(&Mechanism::new(CKM_ECDSA_SHA256), sk, b"x");
    assert_eq!(t.verify(&Mechanism::new(CKM_ECDSA_SHA256), no_verify, b"x", &sig), Rv::KEY_FUNCTION_NOT_PERMITTED, "public key without CKA_VERIFY");
    let enc_only = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_ENCRYPT, true)]);
    assert_eq!(t.sign_rv(&Mechanism::new(CKM_AES_CMAC), enc_only, b"x"), Rv::KEY_FUNCTION_NOT_PERMITTED, "AES key without CKA_SIGN");
    let m = Mechanism::with(CKM_AES_CBC, MechParam::Bytes(vec![0; 16]));
    let c = t.enc(&m, enc_only, &[0; 16]);
    assert_eq!(t.dec_rv(&m, enc_only, &c), Rv::KEY_FUNCTION_NOT_PERMITTED, "AES key without CKA_DECRYPT");
    let (pk, _) = rsa_pair(&mut t, 2048, &[CKA_VERIFY], &[CKA_SIGN]);
    let om = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_SHA256, CKG_MGF1_SHA256, b""));
    assert_eq!(t.enc_rv(&om, pk, b"x"), Rv::KEY_FUNCTION_NOT_PERMITTED, "RSA public key without CKA_ENCRYPT");
    // CKA_ALLOWED_MECHANISMS narrows a key to the listed mechanisms.
    let gcm_only = t.gen(
        CKM_AES_KEY_GEN,
        vec![
            Attribute::ulong(CKA_VALUE_LEN, 16),
            Attribute::bool(CKA_ENCRYPT, true),
            Attribute::new(CKA_ALLOWED_MECHANISMS, CKM_AES_GCM.to_be_bytes().to_vec()),
        ],
    );
    assert_eq!(t.enc(&Mechanism::with(CKM_AES_GCM, gcm(&[0; 12], b"", 128)), gcm_only, b"ok").len(), 18);
    assert_eq!(t.enc_rv(&m, gcm_only, &[0; 16]), Rv::MECHANISM_INVALID, "CBC is not in CKA_ALLOWED_MECHANISMS");
}

#[test]
fn unknown_mechanisms_are_mechanism_invalid() {
    let mut t = T::new("mech-unknown");
    let k = t.gen(
        CKM_AES_KEY_GEN,
        vec![
            Attribute::ulong(CKA_VALUE_LEN, 16),
            Attribute::bool(CKA_ENCRYPT, true),
            Attribute::bool(CKA_SIGN, true),
            Attribute::bool(CKA_VERIFY, true),
            Attribute::bool(CKA_DECRYPT, true),
        ],
    );
    let (_, ec) = ec_pair(&mut t, P256, &[], &[CKA_DERIVE]);
    let bogus = Mechanism::new(0x0dea_dbee);
    assert_eq!(t.sign_rv(&bogus, k, b"x"), Rv::MECHANISM_INVALID);
    assert_eq!(t.verify(&bogus, k, b"x", &[0; 16]), Rv::MECHANISM_INVALID);
    assert_eq!(t.enc_rv(&bogus, k, b"x"), Rv::MECHANISM_INVALID);
    assert_eq!(t.dec_rv(&bogus, k, &[0; 16]), Rv::MECHANISM_INVALID);
    assert_eq!(t.digest_rv(CKM_MD5), Rv::MECHANISM_INVALID);
    let s = t.s;
    assert_eq!(
        t.rv(Request::GenerateKey {
            session: s,
            mechanism: Mechanism::new(CKM_AES_GCM),
            template: with_session_object(vec![Attribute::ulong(CKA_VALUE_LEN, 16)])
        }),
        Rv::MECHANISM_INVALID
    );
    assert_eq!(
        t.rv(Request::GenerateKeyPair {
            session: s,
            mechanism: Mechanism::new(CKM_AES_KEY_GEN),
            public_template: with_session_object(vec![]),
            private_template: with_session_object(vec![]),
        }),
        Rv::MECHANISM_INVALID
    );
    assert_eq!(
        t.rv(Request::DeriveKey { session: s, mechanism: Mechanism::new(CKM_SHA256), base_key: ec, template: with_session_object(vec![]) }),
        Rv::MECHANISM_INVALID
    );
}

/// A mechanism the TA offers, used for an operation it does not offer it for
/// (RSA-PSS encryption, "signing" with GCM or with a digest), is
/// CKR_MECHANISM_INVALID: the key's type is not what is wrong.
#[test]
fn mechanism_not_offered_for_the_operation_is_mechanism_invalid() {
    let mut t = T::new("mech-wrong-op");
    let k = t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_SIGN, true)]);
    let (pk, _) = rsa_pair(&mut t, 2048, &[CKA_ENCRYPT], &[CKA_DECRYPT]);
    let checks = [
        ("CKM_RSA_PKCS_PSS encrypt", t.enc_rv(&Mechanism::with(CKM_RSA_PKCS_PSS, pss(CKM_SHA256, CKG_MGF1_SHA256, 32)), pk, b"x")),
        ("CKM_AES_GCM sign", t.sign_rv(&Mechanism::with(CKM_AES_GCM, gcm(&[0; 12], b"", 128)), k, b"x")),
        ("CKM_SHA256 sign", t.sign_rv(&Mechanism::new(CKM_SHA256), k, b"x")),
        ("CKM_AES_CMAC encrypt", t.enc_rv(&Mechanism::new(CKM_AES_CMAC), k, &[0; 16])),
    ];
    for (what, rv) in checks {
        assert_eq!(rv, Rv::MECHANISM_INVALID, "{what}");
    }
}

/// CKM_AES_CMAC and CKM_SM4_MAC produce a full 16-byte MAC; a verifier that
/// accepted a truncated one would let a forger win with 2^-32 odds.
#[test]
fn truncated_mac_is_refused_as_signature_len_range() {
    let mut t = T::new("mech-mac-len");
    for (mech, kgen, len) in [(CKM_AES_CMAC, CKM_AES_KEY_GEN, Some(16u64)), (CKM_SM4_MAC, CKM_SM4_KEY_GEN, None)] {
        let mut tmpl = bools(&[CKA_SIGN, CKA_VERIFY]);
        if let Some(l) = len {
            tmpl.push(Attribute::ulong(CKA_VALUE_LEN, l));
        }
        let k = t.gen(kgen, tmpl);
        let m = Mechanism::new(mech);
        let mac = t.sign(&m, k, b"data");
        assert_eq!(mac.len(), 16);
        for n in [4usize, 8, 15] {
            assert_eq!(t.verify(&m, k, b"data", &mac[..n]), Rv::SIGNATURE_LEN_RANGE, "0x{mech:x}: {n}-byte MAC prefix");
        }
    }
}

impl T {
    fn digest_rv(&mut self, mech: u64) -> Rv {
        let s = self.s;
        self.rv(Request::Digest { session: s, mechanism: Mechanism::new(mech), data: b"x".to_vec() })
    }
}

/// CKM_SHA*_KEY_GEN make keys of the matching CKK_SHA*_HMAC type, of the
/// requested length, usable with HMAC.
#[test]
fn sha_key_gens_make_typed_hmac_keys() {
    let mut t = T::new("mech-shakeygen");
    for (gen, kt, hmac) in [
        (CKM_SHA_1_KEY_GEN, CKK_SHA_1_HMAC, CKM_SHA256_HMAC),
        (CKM_SHA224_KEY_GEN, CKK_SHA224_HMAC, CKM_SHA256_HMAC),
        (CKM_SHA256_KEY_GEN, CKK_SHA256_HMAC, CKM_SHA256_HMAC),
        (CKM_SHA384_KEY_GEN, CKK_SHA384_HMAC, CKM_SHA384_HMAC),
        (CKM_SHA512_KEY_GEN, CKK_SHA512_HMAC, CKM_SHA512_HMAC),
    ] {
        let k = t.gen(gen, vec![Attribute::ulong(CKA_VALUE_LEN, 40), Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_VERIFY, true)]);
        let s = t.s;
        let got = t.h.attr(&mut t.c, s, k, CKA_KEY_TYPE).expect("key type");
        assert_eq!(got, kt.to_be_bytes(), "0x{gen:x}");
        assert_eq!(t.h.attr(&mut t.c, s, k, CKA_VALUE_LEN).unwrap(), 40u64.to_be_bytes());
        let mac = t.sign(&Mechanism::new(hmac), k, b"data");
        assert!(!mac.is_empty());
        // The template cannot ask for another key type.
        let r = t.rv(Request::GenerateKey {
            session: s,
            mechanism: Mechanism::new(gen),
            template: with_session_object(vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::ulong(CKA_KEY_TYPE, CKK_AES)]),
        });
        assert_eq!(r, Rv::TEMPLATE_INCONSISTENT, "0x{gen:x}");
    }
}

// ------------------------------------------------------------------ added: legacy hashes, PKCS#1 v1.5 encryption, EdDSA

#[test]
fn rsa_sha1_sha224_and_pss_parameters() {
    use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY};
    let mut t = T::new("mech-rsa-legacy");
    let (pk, sk) = rsa_pair(&mut t, 2048, &[CKA_VERIFY], &[CKA_SIGN]);
    let (n, e) = (t.attr(pk, CKA_MODULUS), t.attr(pk, CKA_PUBLIC_EXPONENT));
    let msg = b"legacy hash message".to_vec();
    for (mech, hash, di_prefix) in [
        (CKM_SHA1_RSA_PKCS, CKM_SHA_1, "3021300906052b0e03021a05000414"),
        (CKM_SHA224_RSA_PKCS, CKM_SHA224, "302d300d06096086480165030402040500041c"),
    ] {
        let sig = sign_verify(&mut t, &Mechanism::new(mech), sk, pk, &msg);
        // Raw CKM_RSA_PKCS over the DigestInfo gives the same bytes.
        let di = [hx(di_prefix), t.digest(hash, &msg)].concat();
        assert_eq!(t.sign(&Mechanism::new(CKM_RSA_PKCS), sk, &di), sig, "0x{mech:x}");
        assert_eq!(t.verify(&Mechanism::new(CKM_RSA_PKCS), pk, &di, &sig), Rv::OK);
    }
    let sig = t.sign(&Mechanism::new(CKM_SHA1_RSA_PKCS), sk, &msg);
    assert!(
        RsaPublicKeyComponents { n: &n, e: &e }.verify(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, &msg, &sig).is_ok(),
        "aws-lc rejects SHA1_RSA_PKCS"
    );
    // PSS: SHA-1/224 mechanisms; any salt that fits; another MGF1 hash; raw PSS over the hash.
    for (mech, hash, mgf, salt) in [
        (CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, 20u64),
        (CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA224, 28),
        (CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 0),
        (CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA1, 32),
        (CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 20),
    ] {
        let m = Mechanism::with(mech, pss(hash, mgf, salt));
        let sig = sign_verify(&mut t, &m, sk, pk, &msg);
        let h = t.digest(hash, &msg);
        assert_eq!(t.verify(&Mechanism::with(CKM_RSA_PKCS_PSS, pss(hash, mgf, salt)), pk, &h, &sig), Rv::OK, "0x{mech:x} salt {salt}");
        // The verifier must be told the same salt length and MGF.
        assert_eq!(t.verify(&Mechanism::with(mech, pss(hash, mgf, salt + 1)), pk, &msg, &sig), Rv::SIGNATURE_INVALID);
        let other_mgf = if mgf == CKG_MGF1_SHA384 { CKG_MGF1_SHA256 } else { CKG_MGF1_SHA384 };
        assert_eq!(t.verify(&Mechanism::with(mech, pss(hash, other_mgf, salt)), pk, &msg, &sig), Rv::SIGNATURE_INVALID);
    }
    // Multi-part SHA-1 / SHA-224 signing equals one-shot (PKCS#1 v1.5 is deterministic).
    let s = t.s;
    for mech in [CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS] {
        let m = Mechanism::new(mech);
        t.ok(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk });
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[..5].to_vec() });
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[5..].to_vec() });
        let many = t.bytes(Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] });
        assert_eq!(many, t.sign(&m, sk, &msg), "0x{mech:x}");
    }
}

#[test]
fn rsa_pkcs1v15_encryption_and_key_transport() {
    use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
    let mut t = T::new("mech-rsa-pkcs1-enc");
    let (pk, sk) = rsa_pair(&mut t, 2048, &[CKA_ENCRYPT], &[CKA_DECRYPT]);
    let m = Mechanism::new(CKM_RSA_PKCS);
    for len in [0usize, 10, 32, 245] {
        let pt = vec![0x6bu8; len];
        let c1 = t.enc(&m, pk, &pt);
        assert_eq!(c1.len(), 256);
        assert_ne!(c1, t.enc(&m, pk, &pt), "PKCS#1 v1.5 encryption is randomized");
        assert_eq!(t.dec(&m, sk, &c1), pt, "{len} bytes");
    }
    assert_eq!(t.enc_rv(&m, pk, &[0; 246]), Rv::DATA_LEN_RANGE);
    // A ciphertext made outside the TA (aws-lc-rs, from the public key's SPKI).
    let (n, e) = (t.attr(pk, CKA_MODULUS), t.attr(pk, CKA_PUBLIC_EXPONENT));
    let int = |v: &[u8]| {
        let mut b = v.to_vec();
        if b[0] & 0x80 != 0 {
            b.insert(0, 0);
        }
        [vec![0x02], der_len(b.len()), b].concat()
    };
    let rsapub = [int(&n), int(&e)].concat();
    let rsapub = [vec![0x30], der_len(rsapub.len()), rsapub].concat();
    let bits = [vec![0x00], rsapub].concat();
    let body = [hx("300d06092a864886f70d0101010500"), vec![0x03], der_len(bits.len()), bits].concat();
    let spki = [vec![0x30], der_len(body.len()), body].concat();
    let outside = Pkcs1PublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap();
    let mut ct = vec![0u8; outside.ciphertext_size()];
    let ct = outside.encrypt(b"encrypted outside the TA", &mut ct).unwrap().to_vec();
    assert_eq!(t.dec(&m, sk, &ct), b"encrypted outside the TA");
    // Refusals: a corrupted ciphertext (one indistinguishable code), a short one, a parameter.
    let mut bad = ct.clone();
    bad[0] ^= 0x40;
    assert_eq!(t.dec_rv(&m, sk, &bad), Rv::ENCRYPTED_DATA_INVALID);
    assert_eq!(t.dec_rv(&m, sk, &ct[1..]), Rv::ENCRYPTED_DATA_LEN_RANGE);
    assert_eq!(t.enc_rv(&Mechanism::with(CKM_RSA_PKCS, MechParam::Bytes(vec![1])), pk, b"x"), Rv::MECHANISM_PARAM_INVALID);
    // Multi-part decryption collects the ciphertext.
    let s = t.s;
    t.ok(Request::OpInit { session: s, kind: OpKind::Decrypt, mechanism: m.clone(), key: sk });
    t.ok(Request::OpUpdate { session: s, kind: OpKind::Decrypt, data: ct[..100].to_vec() });
    t.ok(Request::OpUpdate { session: s, kind: OpKind::Decrypt, data: ct[100..].to_vec() });
    assert_eq!(t.bytes(Request::OpFinal { session: s, kind: OpKind::Decrypt, signature: vec![] }), b"encrypted outside the TA");

    // Key transport (C_WrapKey / C_UnwrapKey with CKM_RSA_PKCS), as the cryptoki crate's tests do it.
    let (wpk, wsk) = {
        let mut p = bools(&[CKA_WRAP]);
        p.push(Attribute::ulong(CKA_MODULUS_BITS, 2048));
        t.pair(CKM_RSA_PKCS_KEY_PAIR_GEN, p, bools(&[CKA_UNWRAP]))
    };
    let key =
        t.gen(CKM_AES_KEY_GEN, vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_EXTRACTABLE, true)]);
    let ecb = Mechanism::new(CKM_AES_ECB);
    let ct = t.enc(&ecb, key, &[9; 32]);
    let blob = t.wrap(&m, wpk, key);
    assert_eq!(blob.len(), 256);
    let tmpl = vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_DECRYPT, true)];
    let copy = t.unwrap(&m, wsk, &blob, tmpl.clone());
    assert_eq!(t.dec(&ecb, copy, &ct), vec![9; 32]);
    let mut bad = blob.clone();
    bad[3] ^= 1;
    let r = t.rv(Request::UnwrapKey { session: s, mechanism: m.clone(), unwrapping_key: wsk, wrapped: bad, template: with_session_object(tmpl) });
    assert_eq!(r, Rv::WRAPPED_KEY_INVALID);
    // One purpose per key: the decryption key cannot unwrap, the unwrapping key cannot decrypt.
    assert_eq!(t.dec_rv(&m, wsk, &blob), Rv::KEY_FUNCTION_NOT_PERMITTED);
}

fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

#[test]
fn ecdsa_sha1_and_sha224() {
    let mut t = T::new("mech-ecdsa-legacy");
    let msg = b"legacy ECDSA".to_vec();
    for params in [P256, P384] {
        let (pk, sk) = ec_pair(&mut t, params, &[CKA_VERIFY], &[CKA_SIGN]);
        for (mech, hash) in [(CKM_ECDSA_SHA1, CKM_SHA_1), (CKM_ECDSA_SHA224, CKM_SHA224)] {
            let sig = sign_verify(&mut t, &Mechanism::new(mech), sk, pk, &msg);
            let h = t.digest(hash, &msg);
            assert_eq!(t.verify(&Mechanism::new(CKM_ECDSA), pk, &h, &sig), Rv::OK, "0x{mech:x} equals raw ECDSA over its hash");
            let raw = t.sign(&Mechanism::new(CKM_ECDSA), sk, &h);
            assert_eq!(t.verify(&Mechanism::new(mech), pk, &msg, &raw), Rv::OK);
        }
    }
}

#[test]
fn hmac_sha1_sha224_known_answers() {
    let mut t = T::new("mech-hmac-legacy");
    let sv = bools(&[CKA_SIGN, CKA_VERIFY]);
    let jefe = t.import(CKK_GENERIC_SECRET, b"Jefe", sv.clone());
    let msg = b"what do ya want for nothing?";
    // RFC 2202 test case 2 (HMAC-SHA-1), RFC 4231 test case 2 (HMAC-SHA-224).
    for (mech, want) in
        [(CKM_SHA_1_HMAC, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"), (CKM_SHA224_HMAC, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44")]
    {
        assert_eq!(hex::encode(t.sign(&Mechanism::new(mech), jefe, msg)), want, "0x{mech:x}");
        sign_verify(&mut t, &Mechanism::new(mech), jefe, jefe, msg);
    }
    // Typed keys from CKM_SHA_1_KEY_GEN / CKM_SHA224_KEY_GEN, one-shot = multi-part.
    let s = t.s;
    for (gen, mech, len) in [(CKM_SHA_1_KEY_GEN, CKM_SHA_1_HMAC, 20usize), (CKM_SHA224_KEY_GEN, CKM_SHA224_HMAC, 28)] {
        let k = t.gen(gen, vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_VERIFY, true)]);
        let m = Mechanism::new(mech);
        let one = t.sign(&m, k, msg);
        assert_eq!(one.len(), len);
        t.ok(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: k });
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[..7].to_vec() });
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[7..].to_vec() });
        assert_eq!(t.bytes(Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] }), one);
    }
}

const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

fn eddsa(prehash: bool, context: &[u8]) -> Mechanism {
    Mechanism::with(CKM_EDDSA, MechParam::Eddsa { prehash, context: context.to_vec() })
}

#[test]
fn eddsa_ed25519_all_variants() {
    use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
    let mut t = T::new("mech-eddsa");
    let msg = [0xffu8, 0x55, 0xdd];
    for params in [ED25519_NAME, ED25519_OID] {
        let mut p = bools(&[CKA_VERIFY]);
        p.push(Attribute::new(CKA_EC_PARAMS, params.to_vec()));
        let (pk, sk) = t.pair(CKM_EC_EDWARDS_KEY_PAIR_GEN, p, bools(&[CKA_SIGN]));
        assert_eq!(t.attr(pk, CKA_KEY_TYPE), CKK_EC_EDWARDS.to_be_bytes().to_vec());
        assert_eq!(t.attr(sk, CKA_EC_PARAMS), params.to_vec());
        let point = t.attr(pk, CKA_EC_POINT);
        assert_eq!(&point[..2], &[0x04, 0x20], "CKA_EC_POINT is a DER OCTET STRING of 32 bytes");
        // Pure Ed25519: no parameter, or phFlag false without a context; aws-lc verifies it.
        let pure = sign_verify(&mut t, &Mechanism::new(CKM_EDDSA), sk, pk, &msg);
        assert_eq!(pure.len(), 64);
        assert_eq!(t.sign(&eddsa(false, b""), sk, &msg), pure, "EdDSA is deterministic");
        assert!(UnparsedPublicKey::new(&ED25519, &point[2..]).verify(&msg, &pure).is_ok(), "aws-lc rejects the TA's Ed25519 signature");
        // Ed25519ctx and Ed25519ph (with and without a context): each verifies only as itself.
        let variants = [eddsa(false, b"context"), eddsa(true, b""), eddsa(true, b"context")];
        let sigs: Vec<Vec<u8>> = variants.iter().map(|m| sign_verify(&mut t, m, sk, pk, &msg)).collect();
        for (i, m) in variants.iter().enumerate() {
            assert_eq!(t.verify(&Mechanism::new(CKM_EDDSA), pk, &msg, &sigs[i]), Rv::SIGNATURE_INVALID);
            for (j, sig) in sigs.iter().enumerate() {
                if i != j {
                    assert_eq!(t.verify(m, pk, &msg, sig), Rv::SIGNATURE_INVALID, "variant {i} accepted variant {j}'s signature");
                }
            }
        }
        // Multi-part equals one-shot.
        let s = t.s;
        t.ok(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: eddsa(true, b"context"), key: sk });
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[..1].to_vec() });
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[1..].to_vec() });
        assert_eq!(t.bytes(Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] }), sigs[2]);
        assert_eq!(t.sign_rv(&eddsa(false, &[1; 256]), sk, &msg), Rv::MECHANISM_PARAM_INVALID);
        assert_eq!(t.sign_rv(&Mechanism::with(CKM_EDDSA, MechParam::Bytes(vec![1])), sk, &msg), Rv::MECHANISM_PARAM_INVALID);
    }
    // RFC 8032 7.1 TEST 2, imported: the TA's signature is the RFC's.
    let s = t.s;
    let secret = hx("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    let public = hx("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    let sk = t.handle(Request::CreateObject {
        session: s,
        template: with_session_object(vec![
            Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
            Attribute::new(CKA_EC_PARAMS, ED25519_NAME.to_vec()),
            Attribute::new(CKA_VALUE, secret),
            Attribute::bool(CKA_SIGN, true),
        ]),
    });
    assert_eq!(t.attr(sk, CKA_EC_POINT)[2..], public[..], "the public key is derived on import");
    let want = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
    assert_eq!(hex::encode(t.sign(&Mechanism::new(CKM_EDDSA), sk, &[0x72])), want);
    // A public key imported raw (32 bytes) or DER-wrapped verifies it.
    for point in [public.clone(), [vec![0x04, 0x20], public.clone()].concat()] {
        let pk = t.handle(Request::CreateObject {
            session: s,
            template: with_session_object(vec![
                Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
                Attribute::new(CKA_EC_PARAMS, ED25519_OID.to_vec()),
                Attribute::new(CKA_EC_POINT, point),
                Attribute::bool(CKA_VERIFY, true),
            ]),
        });
        assert_eq!(t.verify(&Mechanism::new(CKM_EDDSA), pk, &[0x72], &hx(want)), Rv::OK);
    }
    // Other curves are refused (Ed448: eddsa_ed448_and_ed448ph): X25519 and
    // X448 (by name and OID), NIST, an unknown name.
    let others = [
        b"\x13\x0acurve25519".to_vec(),
        vec![0x06, 0x03, 0x2b, 0x65, 0x6e],
        b"\x13\x08curve448".to_vec(),
        vec![0x06, 0x03, 0x2b, 0x65, 0x6f],
        P256.to_vec(),
        b"\x13\x0aedwards449".to_vec(),
    ];
    for params in others {
        let mut p = bools(&[CKA_VERIFY]);
        p.push(Attribute::new(CKA_EC_PARAMS, params));
        let r = t.rv(Request::GenerateKeyPair {
            session: s,
            mechanism: Mechanism::new(CKM_EC_EDWARDS_KEY_PAIR_GEN),
            public_template: with_session_object(p),
            private_template: with_session_object(bools(&[CKA_SIGN])),
        });
        assert_eq!(r, Rv::CURVE_NOT_SUPPORTED);
    }
    // An EC key with CKM_EDDSA, an Ed25519 key with ECDSA.
    let (_, ec) = ec_pair(&mut t, P256, &[CKA_VERIFY], &[CKA_SIGN]);
    assert_eq!(t.sign_rv(&Mechanism::new(CKM_EDDSA), ec, &msg), Rv::KEY_TYPE_INCONSISTENT);
    assert_eq!(t.sign_rv(&Mechanism::new(CKM_ECDSA_SHA256), sk, &msg), Rv::KEY_TYPE_INCONSISTENT);
}

const ED448_NAME: &[u8] = b"\x13\x0aedwards448";
const ED448_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];

/// C_CreateObject: the handle, or the refusal code.
fn create(t: &mut T, template: Vec<Attribute>) -> Result<u64, Rv> {
    let s = t.s;
    match t.h.call(&mut t.c, Request::CreateObject { session: s, template }) {
        Response::Ok(Reply::Handle(h)) => Ok(h),
        Response::Ok(r) => panic!("expected a handle, got {r:?}"),
        Response::Err { rv, .. } => Err(rv),
    }
}

fn ed_private(t: &mut T, params: &[u8], seed: &[u8]) -> Result<u64, Rv> {
    let template = with_session_object(vec![
        Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
        Attribute::new(CKA_EC_PARAMS, params.to_vec()),
        Attribute::new(CKA_VALUE, seed.to_vec()),
        Attribute::bool(CKA_SIGN, true),
    ]);
    create(t, template)
}

fn ed_public(t: &mut T, params: &[u8], point: &[u8]) -> Result<u64, Rv> {
    let template = with_session_object(vec![
        Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
        Attribute::new(CKA_EC_PARAMS, params.to_vec()),
        Attribute::new(CKA_EC_POINT, point.to_vec()),
        Attribute::bool(CKA_VERIFY, true),
    ]);
    create(t, template)
}

/// Ed448 and Ed448ph (RFC 8032 5.2) under CKM_EDDSA, as the `cryptoki`
/// crate's `sign_verify_eddsa_with_ed448_schemes` drives them: a pair
/// generated with CKA_EC_PARAMS "edwards448" (or the OID) on the public
/// template only, then EddsaSignatureScheme::Ed448(ctx) (phFlag false) and
/// Ed448ph(ctx) (phFlag true). Imported RFC 8032 7.4/7.5 keys give the RFC's
/// signatures; refusals are precise.
#[test]
fn eddsa_ed448_and_ed448ph() {
    use teehsm_crypto::eddsa::{self, Ed448Variant};
    let mut t = T::new("mech-ed448");
    let msg = [0xffu8, 0x55, 0xdd];
    // Token objects with the name (as the cryptoki test makes them), session objects with the OID.
    for (params, token) in [(ED448_NAME, true), (ED448_OID, false)] {
        let mut p = bools(&[CKA_VERIFY]);
        p.push(Attribute::new(CKA_EC_PARAMS, params.to_vec()));
        p.push(Attribute::bool(CKA_TOKEN, token));
        let (pk, sk) = t.pair(CKM_EC_EDWARDS_KEY_PAIR_GEN, p, vec![Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, token)]);
        assert_eq!(t.attr(pk, CKA_KEY_TYPE), CKK_EC_EDWARDS.to_be_bytes().to_vec());
        assert_eq!(t.attr(sk, CKA_KEY_TYPE), CKK_EC_EDWARDS.to_be_bytes().to_vec());
        assert_eq!(t.attr(pk, CKA_EC_PARAMS), params.to_vec());
        assert_eq!(t.attr(sk, CKA_EC_PARAMS), params.to_vec(), "the private half takes the public template's curve");
        let point = t.attr(pk, CKA_EC_POINT);
        assert_eq!(point.len(), 59);
        assert_eq!(&point[..2], &[0x04, 0x39], "CKA_EC_POINT is a DER OCTET STRING of 57 bytes");
        assert_eq!(t.attr(sk, CKA_EC_POINT), point);
        let public = point[2..].to_vec();
        // The cryptoki test's two schemes, plus no parameter and the empty contexts.
        let schemes = [
            (eddsa(false, b"context"), Ed448Variant::Pure, &b"context"[..]),
            (eddsa(true, b"context"), Ed448Variant::Ph, &b"context"[..]),
            (Mechanism::new(CKM_EDDSA), Ed448Variant::Pure, &b""[..]),
            (eddsa(true, b""), Ed448Variant::Ph, &b""[..]),
        ];
        let mut sigs = vec![];
        for (m, v, ctx) in &schemes {
            let sig = sign_verify(&mut t, m, sk, pk, &msg);
            assert_eq!(sig.len(), 114);
            assert_eq!(t.sign(m, sk, &msg), sig, "EdDSA is deterministic");
            // The crypto layer (RFC 8032 vectors in teehsm-crypto's kat.rs) agrees.
            eddsa::verify_ed448(&public, *v, ctx, &msg, &sig).unwrap();
            sigs.push(sig);
        }
        // phFlag false with an empty context is plain Ed448, as is no parameter.
        assert_eq!(t.sign(&eddsa(false, b""), sk, &msg), sigs[2]);
        assert_eq!(t.verify(&eddsa(false, b""), pk, &msg, &sigs[2]), Rv::OK);
        // Each signature verifies only under its own variant and context.
        for (i, (m, _, _)) in schemes.iter().enumerate() {
            for (j, sig) in sigs.iter().enumerate() {
                if i != j {
                    assert_eq!(t.verify(m, pk, &msg, sig), Rv::SIGNATURE_INVALID, "scheme {i} accepted scheme {j}'s signature");
                }
            }
        }
        for (ph, i) in [(false, 0), (true, 1)] {
            assert_eq!(t.verify(&eddsa(ph, b"contexT"), pk, &msg, &sigs[i]), Rv::SIGNATURE_INVALID, "wrong context");
            assert_eq!(t.verify(&eddsa(ph, b"context\0"), pk, &msg, &sigs[i]), Rv::SIGNATURE_INVALID, "longer context");
        }
        // Multi-part equals one-shot, for both variants.
        let s = t.s;
        for (i, m) in [(0, eddsa(false, b"context")), (1, eddsa(true, b"context"))] {
            t.ok(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk });
            t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[..1].to_vec() });
            t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: msg[1..].to_vec() });
            assert_eq!(t.bytes(Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] }), sigs[i]);
            t.ok(Request::OpInit { session: s, kind: OpKind::Verify, mechanism: m, key: pk });
            t.ok(Request::OpUpdate { session: s, kind: OpKind::Verify, data: msg[..2].to_vec() });
            t.ok(Request::OpUpdate { session: s, kind: OpKind::Verify, data: msg[2..].to_vec() });
            t.ok(Request::OpFinal { session: s, kind: OpKind::Verify, signature: sigs[i].clone() });
        }
        // Parameter refusals, as for Ed25519.
        assert_eq!(t.sign_rv(&eddsa(false, &[1; 256]), sk, &msg), Rv::MECHANISM_PARAM_INVALID);
        assert_eq!(t.sign_rv(&eddsa(true, &[1; 256]), sk, &msg), Rv::MECHANISM_PARAM_INVALID);
        assert_eq!(t.sign_rv(&Mechanism::with(CKM_EDDSA, MechParam::Bytes(vec![1])), sk, &msg), Rv::MECHANISM_PARAM_INVALID);
        let long_ctx = sign_verify(&mut t, &eddsa(true, &[0x5a; 255]), sk, pk, &msg);
        assert_eq!(long_ctx.len(), 114, "a 255-byte context is allowed");
        // Ed448 with ECDSA.
        assert_eq!(t.sign_rv(&Mechanism::new(CKM_ECDSA_SHA256), sk, &msg), Rv::KEY_TYPE_INCONSISTENT);
    }

    // RFC 8032 7.4 "1 octet" (context "foo") and 7.5 "abc" (Ed448ph, empty and "foo"), imported.
    let seed = hx("c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e");
    let public = hx("43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480");
    let sk = ed_private(&mut t, ED448_NAME, &seed).unwrap();
    assert_eq!(t.attr(sk, CKA_EC_POINT), [vec![0x04, 0x39], public.clone()].concat(), "the public key is derived on import");
    let want = "d4f8f6131770dd46f40867d6fd5d5055de43541f8c5e35abbcd001b32a89f7d2151f7647f11d8ca2ae279fb842d607217fce6e042f6815ea000c85741de5c8da1144a6a1aba7f96de42505d7a7298524fda538fccbbb754f578c1cad10d54d0d5428407e85dcbc98a49155c13764e66c3c00";
    assert_eq!(hex::encode(t.sign(&eddsa(false, b"foo"), sk, &[0x03])), want);
    // The 7.4 "1 octet" vector without a context: CKM_EDDSA with no parameter.
    let want_plain = "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00";
    assert_eq!(hex::encode(t.sign(&Mechanism::new(CKM_EDDSA), sk, &[0x03])), want_plain);
    // A public key imported raw (57 bytes) or DER-wrapped verifies it; stored DER-wrapped.
    for (params, point) in [(ED448_OID, public.clone()), (ED448_NAME, [vec![0x04, 0x39], public.clone()].concat())] {
        let pk = ed_public(&mut t, params, &point).unwrap();
        assert_eq!(t.attr(pk, CKA_EC_POINT), [vec![0x04, 0x39], public.clone()].concat());
        assert_eq!(t.verify(&eddsa(false, b"foo"), pk, &[0x03], &hx(want)), Rv::OK);
        assert_eq!(t.verify(&Mechanism::new(CKM_EDDSA), pk, &[0x03], &hx(want_plain)), Rv::OK);
        assert_eq!(t.verify(&Mechanism::new(CKM_EDDSA), pk, &[0x03], &hx(want)), Rv::SIGNATURE_INVALID, "context \"foo\" is not the empty context");
    }
    let ph_seed = hx("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49");
    let ph_public = hx("259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880");
    let ph_sk = ed_private(&mut t, ED448_OID, &ph_seed).unwrap();
    let ph_pk = ed_public(&mut t, ED448_OID, &ph_public).unwrap();
    for (ctx, want) in [
        (&b""[..], "822f6901f7480f3d5f562c592994d9693602875614483256505600bbc281ae381f54d6bce2ea911574932f52a4e6cadd78769375ec3ffd1b801a0d9b3f4030cd433964b6457ea39476511214f97469b57dd32dbc560a9a94d00bff07620464a3ad203df7dc7ce360c3cd3696d9d9fab90f00"),
        (&b"foo"[..], "c32299d46ec8ff02b54540982814dce9a05812f81962b649d528095916a2aa481065b1580423ef927ecf0af5888f90da0f6a9a85ad5dc3f280d91224ba9911a3653d00e484e2ce232521481c8658df304bb7745a73514cdb9bf3e15784ab71284f8d0704a608c54a6b62d97beb511d132100"),
    ] {
        assert_eq!(hex::encode(t.sign(&eddsa(true, ctx), ph_sk, b"abc")), want, "Ed448ph context {ctx:?}");
        assert_eq!(t.verify(&eddsa(true, ctx), ph_pk, b"abc", &hx(want)), Rv::OK);
        assert_eq!(t.verify(&eddsa(false, ctx), ph_pk, b"abc", &hx(want)), Rv::SIGNATURE_INVALID, "Ed448ph signature as plain Ed448");
    }

    // Curve and size mismatches between Ed25519 and Ed448 are refused precisely.
    let ed25519_seed = hx("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    let ed25519_public = hx("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    assert_eq!(ed_private(&mut t, ED448_NAME, &ed25519_seed), Err(Rv::ATTRIBUTE_VALUE_INVALID), "Ed448 params, 32-byte seed");
    assert_eq!(ed_private(&mut t, ED25519_NAME, &seed), Err(Rv::ATTRIBUTE_VALUE_INVALID), "Ed25519 params, 57-byte seed");
    assert_eq!(ed_public(&mut t, ED448_OID, &ed25519_public), Err(Rv::ATTRIBUTE_VALUE_INVALID), "Ed448 params, 32-byte point");
    assert_eq!(ed_public(&mut t, ED25519_OID, &public), Err(Rv::ATTRIBUTE_VALUE_INVALID), "Ed25519 params, 57-byte point");
    let mut off_curve = vec![0u8; 57];
    off_curve[0] = 2; // y = 2 is not on edwards448
    assert_eq!(ed_public(&mut t, ED448_OID, &off_curve), Err(Rv::ATTRIBUTE_VALUE_INVALID), "a point not on the curve");
    // Signatures of the other curve's size: CKR_SIGNATURE_LEN_RANGE both ways.
    let ed25519_sk = ed_private(&mut t, ED25519_NAME, &ed25519_seed).unwrap();
    let ed25519_pk = ed_public(&mut t, ED25519_NAME, &ed25519_public).unwrap();
    let sig25519 = t.sign(&eddsa(false, b"foo"), ed25519_sk, &[0x03]);
    let pk448 = ed_public(&mut t, ED448_NAME, &public).unwrap();
    assert_eq!(t.verify(&eddsa(false, b"foo"), pk448, &[0x03], &sig25519), Rv::SIGNATURE_LEN_RANGE);
    assert_eq!(t.verify(&eddsa(false, b"foo"), ed25519_pk, &[0x03], &hx(want)), Rv::SIGNATURE_LEN_RANGE);
}

fn ml_dsa_mech(mech: u64, hedge: u64, context: &[u8]) -> Mechanism {
    Mechanism::with(mech, MechParam::SignContext { hedge, context: context.to_vec() })
}

/// PKCS#11 3.2 ML-DSA: signing contexts, the hedge variants, HashML-DSA with a
/// caller-computed hash (single-part only) and the CKM_HASH_ML_DSA_<hash>
/// mechanisms that hash in the TA. Deterministic signatures are compared with
/// teehsm-crypto's (itself checked against Wycheproof and the `ml-dsa` crate)
/// from the same seed, read back through CKA_SEED.
#[test]
fn ml_dsa_contexts_hedging_and_hash_ml_dsa() {
    use teehsm_crypto::mldsa::{self, Hedge, MlDsaParam, PreHash};
    let mut t = T::new("mech-mldsa-ext");
    let s = t.s;
    let mut p = bools(&[CKA_VERIFY]);
    p.push(Attribute::ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44));
    let mut q = bools(&[CKA_SIGN]);
    q.extend([Attribute::bool(CKA_SENSITIVE, false), Attribute::bool(CKA_EXTRACTABLE, true)]);
    let (pk, sk) = t.pair(CKM_ML_DSA_KEY_PAIR_GEN, p, q);
    let seed = t.attr(sk, CKA_SEED);
    let twin = mldsa::MlDsaPrivateKey::from_seed(MlDsaParam::MlDsa44, &seed).unwrap();
    let data = [0xffu8, 0x55, 0xdd];
    let context = b"an application context".to_vec();

    // Context + deterministic: stable, equal to the reference, bound to the context.
    let det = ml_dsa_mech(CKM_ML_DSA, CKH_DETERMINISTIC_REQUIRED, &context);
    let sig = sign_verify(&mut t, &det, sk, pk, &data);
    assert_eq!(t.sign(&det, sk, &data), sig);
    assert_eq!(sig, twin.sign_with_context(&context, &data, Hedge::Deterministic).unwrap());
    assert_eq!(t.verify(&ml_dsa_mech(CKM_ML_DSA, CKH_HEDGE_PREFERRED, b"other"), pk, &data, &sig), Rv::SIGNATURE_INVALID);
    // Hedged (preferred / required) differ each time.
    for hedge in [CKH_HEDGE_PREFERRED, CKH_HEDGE_REQUIRED] {
        let m = ml_dsa_mech(CKM_ML_DSA, hedge, &context);
        let a = sign_verify(&mut t, &m, sk, pk, &data);
        assert_ne!(a, t.sign(&m, sk, &data));
        assert_eq!(t.verify(&det, pk, &data, &a), Rv::OK, "the hedge does not change verification");
    }
    // Multi-part with a context equals one-shot (deterministic).
    t.ok(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: det.clone(), key: sk });
    for part in data.chunks(2) {
        t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: part.to_vec() });
    }
    assert_eq!(t.bytes(Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] }), sig);

    // CKM_HASH_ML_DSA: the data is the hash; single-part only.
    let hash = t.digest(CKM_SHA384, b"message hashed by the caller");
    let hm = Mechanism::with(CKM_HASH_ML_DSA, MechParam::HashSignContext { hedge: CKH_DETERMINISTIC_REQUIRED, context: vec![], hash: CKM_SHA384 });
    let hsig = sign_verify(&mut t, &hm, sk, pk, &hash);
    assert_eq!(hsig, twin.sign_prehashed(b"", PreHash::Sha384, &hash, Hedge::Deterministic).unwrap());
    for kind in [OpKind::Sign, OpKind::Verify] {
        t.ok(Request::OpInit { session: s, kind, mechanism: hm.clone(), key: if kind == OpKind::Sign { sk } else { pk } });
        assert_eq!(
            t.rv(Request::OpUpdate { session: s, kind, data: hash[..10].to_vec() }),
            Rv::OPERATION_NOT_INITIALIZED,
            "{kind:?}: single-part only"
        );
        assert_eq!(t.rv(Request::OpFinal { session: s, kind, signature: vec![] }), Rv::OPERATION_NOT_INITIALIZED, "the update ended it");
        // C_Sign / C_Verify after the init (OpSingle) work.
        t.ok(Request::OpInit { session: s, kind, mechanism: hm.clone(), key: if kind == OpKind::Sign { sk } else { pk } });
        match t.ok(Request::OpSingle { session: s, kind, data: hash.clone(), signature: hsig.clone() }) {
            Reply::Bytes(b) => assert_eq!(b, hsig),
            Reply::Done => assert_eq!(kind, OpKind::Verify),
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(t.sign_rv(&hm, sk, &hash[..47]), Rv::DATA_LEN_RANGE, "a SHA-384 hash is 48 bytes");
    // CKM_HASH_ML_DSA_<hash>: the TA hashes; multi-part allowed; equals CKM_HASH_ML_DSA over the hash.
    let msg = b"a message the TA hashes".to_vec();
    for (mech, hash_mech, ph) in [
        (CKM_HASH_ML_DSA_SHA224, Some(CKM_SHA224), PreHash::Sha224),
        (CKM_HASH_ML_DSA_SHA256, Some(CKM_SHA256), PreHash::Sha256),
        (CKM_HASH_ML_DSA_SHA384, Some(CKM_SHA384), PreHash::Sha384),
        (CKM_HASH_ML_DSA_SHA512, Some(CKM_SHA512), PreHash::Sha512),
        (CKM_HASH_ML_DSA_SHA3_224, Some(CKM_SHA3_224), PreHash::Sha3_224),
        (CKM_HASH_ML_DSA_SHA3_256, Some(CKM_SHA3_256), PreHash::Sha3_256),
        (CKM_HASH_ML_DSA_SHA3_384, Some(CKM_SHA3_384), PreHash::Sha3_384),
        (CKM_HASH_ML_DSA_SHA3_512, Some(CKM_SHA3_512), PreHash::Sha3_512),
        (CKM_HASH_ML_DSA_SHAKE128, None, PreHash::Shake128),
        (CKM_HASH_ML_DSA_SHAKE256, None, PreHash::Shake256),
    ] {
        let m = ml_dsa_mech(mech, CKH_DETERMINISTIC_REQUIRED, b"ctx");
        let one = sign_verify(&mut t, &m, sk, pk, &msg);
        let h = ph.digest(&msg).unwrap();
        assert_eq!(one, twin.sign_prehashed(b"ctx", ph, &h, Hedge::Deterministic).unwrap(), "0x{mech:x}");
        if let Some(hm) = hash_mech {
            let generic = Mechanism::with(
                CKM_HASH_ML_DSA,
                MechParam::HashSignContext { hedge: CKH_DETERMINISTIC_REQUIRED, context: b"ctx".to_vec(), hash: hm },
            );
            assert_eq!(t.verify(&generic, pk, &h, &one), Rv::OK, "0x{mech:x} = CKM_HASH_ML_DSA over the hash");
        }
        t.ok(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk });
        for part in msg.chunks(10) {
            t.ok(Request::OpUpdate { session: s, kind: OpKind::Sign, data: part.to_vec() });
        }
        assert_eq!(t.bytes(Request::OpFinal { session: s, kind: OpKind::Sign, signature: vec![] }), one, "0x{mech:x} multi-part");
        // A pure ML-DSA signature is not a HashML-DSA one.
        let pure = t.sign(&ml_dsa_mech(CKM_ML_DSA, CKH_DETERMINISTIC_REQUIRED, b"ctx"), sk, &msg);
        assert_eq!(t.verify(&m, pk, &msg, &pure), Rv::SIGNATURE_INVALID);
    }
    // Parameter errors, at init and one-shot.
    for (m, what) in [
        (ml_dsa_mech(CKM_ML_DSA, 7, b""), "unknown hedge"),
        (ml_dsa_mech(CKM_ML_DSA, 0, &[0; 256]), "256-byte context"),
        (Mechanism::new(CKM_HASH_ML_DSA), "CKM_HASH_ML_DSA without its hash"),
        (
            Mechanism::with(CKM_HASH_ML_DSA, MechParam::HashSignContext { hedge: 0, context: vec![], hash: CKM_SHA_1 }),
            "SHA-1 is not a HashML-DSA hash",
        ),
        (
            Mechanism::with(CKM_HASH_ML_DSA, MechParam::HashSignContext { hedge: 0, context: vec![], hash: CKM_HASH_ML_DSA_SHA256 }),
            "a mechanism is not a hash",
        ),
        (Mechanism::with(CKM_HASH_ML_DSA, ml_dsa_mech(0, 0, b"").param), "CK_SIGN_ADDITIONAL_CONTEXT for CKM_HASH_ML_DSA"),
        (Mechanism::with(CKM_ML_DSA, MechParam::Bytes(vec![1])), "a byte string"),
    ] {
        assert_eq!(t.sign_rv(&m, sk, &hash), Rv::MECHANISM_PARAM_INVALID, "{what}");
        assert_eq!(
            t.rv(Request::OpInit { session: s, kind: OpKind::Sign, mechanism: m.clone(), key: sk }),
            Rv::MECHANISM_PARAM_INVALID,
            "{what} at init"
        );
    }
    // ML-DSA mechanisms need an ML-DSA key.
    let (_, ec) = ec_pair(&mut t, P256, &[CKA_VERIFY], &[CKA_SIGN]);
    assert_eq!(t.sign_rv(&ml_dsa_mech(CKM_HASH_ML_DSA_SHA256, 0, b""), ec, &msg), Rv::KEY_TYPE_INCONSISTENT);
}

fn ecdh_kdf_mech(kdf: u64, shared: &[u8], public: &[u8]) -> Mechanism {
    Mechanism::with(CKM_ECDH1_DERIVE, MechParam::Ecdh { kdf, shared_data: shared.to_vec(), public_data: public.to_vec() })
}

fn readable_secret(len: Option<u64>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
        Attribute::bool(CKA_SENSITIVE, false),
        Attribute::bool(CKA_EXTRACTABLE, true),
        Attribute::bool(CKA_TOKEN, false),
    ];
    if let Some(l) = len {
        t.push(Attribute::ulong(CKA_VALUE_LEN, l));
    }
    t
}

/// CKM_ECDH1_DERIVE with the X9.63 (CKD_SHA*_KDF) and SP 800-56C
/// (CKD_SHA*_KDF_SP800) key derivation functions, on P-256 and X25519
/// (CKK_EC_MONTGOMERY) keys; the OpenPGP vector the cryptoki crate's tests use.
#[test]
fn ecdh_kdfs_and_x25519() {
    use teehsm_crypto::digest::HashAlg;
    use teehsm_crypto::kdf::{sp800_56c_one_step, x963_kdf, KdfHash};
    let mut t = T::new("mech-ecdh-kdf");
    let s = t.s;
    // P-256: both sides, every SHA-2 KDF, against the KDF applied to the CKD_NULL secret.
    let (a_pub, a_priv) = ec_pair(&mut t, P256, &[], &[CKA_DERIVE]);
    let (b_pub, b_priv) = ec_pair(&mut t, P256, &[], &[CKA_DERIVE]);
    let (a_pt, b_pt) = (raw_point(&mut t, a_pub), raw_point(&mut t, b_pub));
    let derive = |t: &mut T, m: Mechanism, base: u64, len: Option<u64>| -> Result<Vec<u8>, Rv> {
        match t.h.call(&mut t.c, Request::DeriveKey { session: s, mechanism: m, base_key: base, template: readable_secret(len) }) {
            Response::Ok(Reply::Handle(k)) => Ok(t.attr(k, CKA_VALUE)),
            Response::Err { rv, .. } => Err(rv),
            r => panic!("{r:?}"),
        }
    };
    let z = derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"", &b_pt), a_priv, None).unwrap();
    for (kdf, h, x963) in [
        (CKD_SHA1_KDF, HashAlg::Sha1, true),
        (CKD_SHA224_KDF, HashAlg::Sha224, true),
        (CKD_SHA256_KDF, HashAlg::Sha256, true),
        (CKD_SHA384_KDF, HashAlg::Sha384, true),
        (CKD_SHA512_KDF, HashAlg::Sha512, true),
        (CKD_SHA1_KDF_SP800, HashAlg::Sha1, false),
        (CKD_SHA256_KDF_SP800, HashAlg::Sha256, false),
        (CKD_SHA512_KDF_SP800, HashAlg::Sha512, false),
    ] {
        for (shared, len) in [(&b""[..], Some(40u64)), (&b"shared info"[..], Some(16)), (&b"x"[..], None)] {
            let ab = derive(&mut t, ecdh_kdf_mech(kdf, shared, &b_pt), a_priv, len).unwrap();
            let ba = derive(&mut t, ecdh_kdf_mech(kdf, shared, &a_pt), b_priv, len).unwrap();
            assert_eq!(ab, ba, "KDF 0x{kdf:x}: both sides agree");
            let n = len.map(|l| l as usize).unwrap_or(h.output_len());
            let want = if x963 { x963_kdf(KdfHash::Sha(h), &z, shared, n) } else { sp800_56c_one_step(KdfHash::Sha(h), &z, shared, n) }.unwrap();
            assert_eq!(ab, want.to_vec(), "KDF 0x{kdf:x}, {n} bytes");
        }
    }
    assert_eq!(derive(&mut t, ecdh_kdf_mech(0x99, b"", &b_pt), a_priv, None), Err(Rv::MECHANISM_PARAM_INVALID));
    assert_eq!(derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"data", &b_pt), a_priv, None), Err(Rv::MECHANISM_PARAM_INVALID));
    assert_eq!(derive(&mut t, ecdh_kdf_mech(CKD_SHA256_KDF, b"", &b_pt), a_priv, Some(513)), Err(Rv::KEY_SIZE_RANGE));
    assert_eq!(derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"", &b_pt), a_priv, Some(33)), Err(Rv::TEMPLATE_INCONSISTENT), "CKD_NULL gives 32 bytes");

    // X25519: the OpenPGP vector (imported private key, raw ephemeral point, SP 800-56C SHA-256).
    let private = t.handle(Request::CreateObject {
        session: s,
        template: with_session_object(vec![
            Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_EC_MONTGOMERY),
            Attribute::new(CKA_EC_PARAMS, b"\x13\x0acurve25519".to_vec()),
            Attribute::new(CKA_VALUE, hx("F00670C5F139E7E6C2511EA04FF507AFBBE237CE3C71A89CA59A1C5CF8856562")),
            Attribute::bool(CKA_SENSITIVE, true),
            Attribute::bool(CKA_DERIVE, true),
        ]),
    });
    let param = hx("0A2B0601040197550105011203010807416E6F6E796D6F75732053656E646572202020205633A4C5AE4305BC0FE2ABB699A8EE54632790A0");
    let ephemeral = hx("533B3F09E53B3DEED661A13F7A7D9694AB71CE156C728E00DEE87A1EE3A14C4A");
    let got = derive(&mut t, ecdh_kdf_mech(CKD_SHA256_KDF_SP800, &param, &ephemeral), private, Some(16)).unwrap();
    assert_eq!(hex::encode_upper(got), "AF8CE51D0139A6D60831A9BABAB20186");
    // Generated X25519 pairs agree both ways (raw and DER-wrapped peer points).
    let mut pair = || {
        let p = vec![Attribute::new(CKA_EC_PARAMS, vec![0x06, 0x03, 0x2b, 0x65, 0x6e]), Attribute::bool(CKA_DERIVE, true)];
        t.pair(CKM_EC_MONTGOMERY_KEY_PAIR_GEN, p, bools(&[CKA_DERIVE]))
    };
    let (xa_pub, xa) = pair();
    let (xb_pub, xb) = pair();
    assert_eq!(t.attr(xa, CKA_KEY_TYPE), CKK_EC_MONTGOMERY.to_be_bytes().to_vec());
    let (pa, pb) = (t.attr(xa_pub, CKA_EC_POINT), t.attr(xb_pub, CKA_EC_POINT));
    assert_eq!(&pa[..2], &[0x04, 0x20]);
    let ab = derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"", &pb), xa, None).unwrap();
    let ba = derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"", &pa[2..]), xb, None).unwrap();
    assert_eq!(ab.len(), 32);
    assert_eq!(ab, ba);
    assert_eq!(derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"", &[9; 31]), xa, None), Err(Rv::MECHANISM_PARAM_INVALID));
    assert_eq!(derive(&mut t, ecdh_kdf_mech(CKD_NULL, b"", &[0; 32]), xa, None), Err(Rv::MECHANISM_PARAM_INVALID), "a small-order point");
    // Other Montgomery curves are refused.
    let r = t.rv(Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_EC_MONTGOMERY_KEY_PAIR_GEN),
        public_template: with_session_object(vec![Attribute::new(CKA_EC_PARAMS, b"\x13\x08curve448".to_vec())]),
        private_template: with_session_object(bools(&[CKA_DERIVE])),
    });
    assert_eq!(r, Rv::CURVE_NOT_SUPPORTED);
}

fn kbkdf_mech(mech: u64, prf: u64, data: Vec<KdfDataParam>, iv: &[u8], additional: Vec<Vec<Attribute>>) -> Mechanism {
    Mechanism::with(mech, MechParam::Kbkdf(KbkdfParams { prf, data, iv: iv.to_vec(), additional_keys: additional }))
}

/// SP 800-108 in the three modes, as the cryptoki crate's tests drive it
/// (AES-CMAC, a 16-bit counter, label / separator / context, a 32-bit DKM
/// length), with additional keys; values compared with teehsm-crypto's KBKDF
/// (itself checked against OpenSSL and rebuilt from HMAC/CMAC in kat.rs).
#[test]
fn kbkdf_modes_additional_keys_and_refusals() {
    use teehsm_crypto::kbkdf::{self, Field, IntFormat, Mode, Prf};
    let mut t = T::new("mech-kbkdf");
    let s = t.s;
    let base_value = hx("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    let base = t.import(CKK_AES, &base_value, bools(&[CKA_DERIVE]));
    let c16 = CounterFormat { little_endian: false, width_bits: 16 };
    let dkm = KdfDataParam::DkmLength { method: 2, format: CounterFormat { little_endian: false, width_bits: 32 } };
    let tail = || {
        vec![
            KdfDataParam::ByteArray(b"test_label".to_vec()),
            KdfDataParam::ByteArray(vec![0]),
            KdfDataParam::ByteArray(b"\xfe\xed\xbe\xef".to_vec()),
            dkm.clone(),
        ]
    };
    let fields_of = |data: &[KdfDataParam]| -> Vec<Field> {
        data.iter()
            .map(|d| match d {
                KdfDataParam::IterationVariable { format } => {
                    Field::Iteration(format.map(|c| IntFormat { little_endian: c.little_endian, width_bits: c.width_bits }))
                }
                KdfDataParam::Counter(c) => Field::Counter(IntFormat { little_endian: c.little_endian, width_bits: c.width_bits }),
                KdfDataParam::DkmLength { method, format } => Field::DkmLength {
                    sum_of_segments: *method == 2,
                    format: IntFormat { little_endian: format.little_endian, width_bits: format.width_bits },
                },
                KdfDataParam::ByteArray(b) => Field::Bytes(b.clone()),
            })
            .collect()
    };
    let aes = |len: u64, extra: &[(u64, bool)]| {
        let mut v = vec![
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
            Attribute::ulong(CKA_VALUE_LEN, len),
            Attribute::bool(CKA_SENSITIVE, false),
            Attribute::bool(CKA_EXTRACTABLE, true),
            Attribute::bool(CKA_TOKEN, false),
        ];
        v.extend(extra.iter().map(|(ty, b)| Attribute::bool(*ty, *b)));
        v
    };
    let counter_data = [vec![KdfDataParam::IterationVariable { format: Some(c16) }], tail()].concat();
    let feedback_data = vec![KdfDataParam::IterationVariable { format: None }, KdfDataParam::Counter(c16), dkm.clone()];
    for (mech, data, iv, mode) in [
        (CKM_SP800_108_COUNTER_KDF, counter_data.clone(), vec![], Mode::Counter),
        (CKM_SP800_108_FEEDBACK_KDF, feedback_data.clone(), vec![], Mode::Feedback { iv: vec![] }),
        (CKM_SP800_108_FEEDBACK_KDF, feedback_data.clone(), b"sixteen bytes iv".to_vec(), Mode::Feedback { iv: b"sixteen bytes iv".to_vec() }),
        (
            CKM_SP800_108_DOUBLE_PIPELINE_KDF,
            counter_data
                .iter()
                .map(|d| match d {
                    KdfDataParam::IterationVariable { .. } => KdfDataParam::IterationVariable { format: None },
                    d => d.clone(),
                })
                .collect(),
            vec![],
            Mode::DoublePipeline,
        ),
    ] {
        // One key.
        let k = t.handle(Request::DeriveKey {
            session: s,
            mechanism: kbkdf_mech(mech, CKM_AES_CMAC, data.clone(), &iv, vec![]),
            base_key: base,
            template: aes(32, &[(CKA_ENCRYPT, true)]),
        });
        let want = kbkdf::derive(Prf::AesCmac, &base_value, &mode, &fields_of(&data), &[32]).unwrap();
        assert_eq!(t.attr(k, CKA_VALUE), want[0].to_vec(), "0x{mech:x}");
        assert_eq!(t.attr(k, CKA_SIGN), vec![0]);
        // Three keys (AES-256, AES-128, a 1-byte generic secret): Handles, in order, from disjoint segments.
        let generic = vec![
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            Attribute::ulong(CKA_VALUE_LEN, 1),
            Attribute::bool(CKA_DERIVE, true),
            Attribute::bool(CKA_SENSITIVE, false),
            Attribute::bool(CKA_EXTRACTABLE, true),
            Attribute::bool(CKA_TOKEN, false),
        ];
        let m = kbkdf_mech(mech, CKM_AES_CMAC, data.clone(), &iv, vec![aes(16, &[(CKA_SIGN, true), (CKA_VERIFY, true)]), generic]);
        let hs = match t.ok(Request::DeriveKey { session: s, mechanism: m, base_key: base, template: aes(32, &[(CKA_ENCRYPT, true)]) }) {
            Reply::Handles(v) => v,
            r => panic!("{r:?}"),
        };
        assert_eq!(hs.len(), 3);
        let want = kbkdf::derive(Prf::AesCmac, &base_value, &mode, &fields_of(&data), &[32, 16, 1]).unwrap();
        for (h, w) in hs.iter().zip(&want) {
            assert_eq!(t.attr(*h, CKA_VALUE), w.to_vec(), "0x{mech:x}");
        }
        assert_eq!(t.attr(hs[1], CKA_KEY_TYPE), CKK_AES.to_be_bytes().to_vec());
        assert_eq!(t.attr(hs[1], CKA_SIGN), vec![1]);
        assert_eq!(t.attr(hs[2], CKA_DERIVE), vec![1]);
        assert_eq!(t.attr(hs[2], CKA_VALUE_LEN), 1u64.to_be_bytes().to_vec());
    }
    // HMAC PRFs take a generic secret / HMAC key.
    let hkey = t.import(CKK_GENERIC_SECRET, &[0x42; 32], bools(&[CKA_DERIVE]));
    let k = t.handle(Request::DeriveKey {
        session: s,
        mechanism: kbkdf_mech(CKM_SP800_108_COUNTER_KDF, CKM_SHA256_HMAC, counter_data.clone(), b"", vec![]),
        base_key: hkey,
        template: aes(16, &[(CKA_ENCRYPT, true)]),
    });
    let want =
        kbkdf::derive(Prf::Hmac(teehsm_crypto::digest::HashAlg::Sha256), &[0x42; 32], &Mode::Counter, &fields_of(&counter_data), &[16]).unwrap();
    assert_eq!(t.attr(k, CKA_VALUE), want[0].to_vec());
    // Refusals.
    let derive_rv = |t: &mut T, m: Mechanism, base: u64, tmpl: Vec<Attribute>| {
        t.rv(Request::DeriveKey { session: s, mechanism: m, base_key: base, template: tmpl })
    };
    let counter = |data: Vec<KdfDataParam>| kbkdf_mech(CKM_SP800_108_COUNTER_KDF, CKM_AES_CMAC, data, b"", vec![]);
    for (m, what) in [
        (counter(tail()), "missing iteration variable"),
        (counter([vec![KdfDataParam::IterationVariable { format: None }], tail()].concat()), "counter mode without a counter format"),
        (
            counter([vec![KdfDataParam::IterationVariable { format: Some(c16) }, KdfDataParam::Counter(c16)], tail()].concat()),
            "a counter in counter mode",
        ),
        (counter([counter_data.clone(), vec![dkm.clone()]].concat()), "two DKM lengths"),
        (kbkdf_mech(CKM_SP800_108_COUNTER_KDF, CKM_SM3_HMAC, counter_data.clone(), b"", vec![]), "an unsupported PRF"),
        (kbkdf_mech(CKM_SP800_108_COUNTER_KDF, CKM_AES_CMAC, counter_data.clone(), b"iv", vec![]), "an IV in counter mode"),
        (Mechanism::new(CKM_SP800_108_COUNTER_KDF), "no parameter"),
    ] {
        assert_eq!(derive_rv(&mut t, m, base, aes(32, &[])), Rv::MECHANISM_PARAM_INVALID, "{what}");
    }
    let hmac_prf = kbkdf_mech(CKM_SP800_108_COUNTER_KDF, CKM_SHA256_HMAC, counter_data.clone(), b"", vec![]);
    assert_eq!(derive_rv(&mut t, hmac_prf, base, aes(32, &[])), Rv::KEY_TYPE_INCONSISTENT, "an HMAC PRF with an AES base key");
    let no_len = vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES), Attribute::bool(CKA_TOKEN, false)];
    assert_eq!(derive_rv(&mut t, counter(counter_data.clone()), base, no_len.clone()), Rv::TEMPLATE_INCOMPLETE);
    let bad_additional = kbkdf_mech(CKM_SP800_108_COUNTER_KDF, CKM_AES_CMAC, counter_data.clone(), b"", vec![no_len]);
    assert_eq!(
        derive_rv(&mut t, bad_additional, base, aes(32, &[])),
        Rv::TEMPLATE_INCOMPLETE,
        "an additional key without a length: nothing is derived"
    );
}
