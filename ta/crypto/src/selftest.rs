// NEEDS: `pub mod vectors;` in src/lib.rs (line 27 is still commented out); this
// file and the tests use `crate::vectors` / `teehsm_crypto::vectors`.
//! Start-up self-test (DESIGN invariant 7): known-answer tests of every
//! algorithm the TA offers, pairwise-consistency checks of the asymmetric
//! ones, and the RNG health check. Runs in a few milliseconds in a release
//! build; it generates no RSA keys. Any mismatch is
//! `CryptoError::SelfTest("<algorithm>: <what differed>")` and the TA must
//! refuse to serve.
//!
//! The vectors and their sources are in [`crate::vectors`].

use crate::digest::{self, HashAlg};
use crate::sym::{self, Cipher};
use crate::vectors::{self as v, unhex};
use crate::{aead, ec, kdf, keywrap, mac, mldsa, mlkem, rng, rsa, sm2, CryptoError};

/// The checks that passed, in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTestReport {
    pub passed: Vec<&'static str>,
}

type Check = fn() -> Result<(), String>;

/// Every check, by algorithm. The names are what [`SelfTestReport::passed`] lists.
const CHECKS: &[(&str, Check)] = &[
    ("RNG", check_rng),
    ("SHA-1", || check_digests(HashAlg::Sha1)),
    ("SHA-224", || check_digests(HashAlg::Sha224)),
    ("SHA-256", || check_digests(HashAlg::Sha256)),
    ("SHA-384", || check_digests(HashAlg::Sha384)),
    ("SHA-512", || check_digests(HashAlg::Sha512)),
    ("SM3", || check_digests(HashAlg::Sm3)),
    ("HMAC-SHA256", check_hmac),
    ("AES-ECB", check_aes_ecb),
    ("AES-CBC", check_aes_cbc),
    ("AES-GCM", check_aes_gcm),
    ("AES-KW", check_aes_kw),
    ("AES-KWP", check_aes_kwp),
    ("AES-CMAC", check_aes_cmac),
    ("SM4", check_sm4),
    ("PBKDF2-HMAC-SHA256", check_pbkdf2),
    ("HKDF-SHA256", check_hkdf),
    ("ECDSA-P256", check_ecdsa_p256),
    ("RSA-2048", check_rsa),
    ("RSA-2048-legacy-paddings", check_rsa_legacy),
    ("Ed25519", check_ed25519),
    ("Ed448", check_ed448),
    ("X25519+SP800-56C", check_x25519),
    ("SP800-108-KBKDF", check_kbkdf),
    ("SM2-sign", check_sm2_sign),
    ("SM2-encrypt", check_sm2_encrypt),
    ("ML-KEM-768", check_mlkem),
    ("ML-DSA-65", check_mldsa),
];

/// Runs every known-answer and pairwise check; stops at the first failure.
pub fn run_all() -> Result<SelfTestReport, CryptoError> {
    let mut passed = Vec::with_capacity(CHECKS.len());
    for (name, check) in CHECKS {
        check().map_err(|what| CryptoError::SelfTest(format!("{name}: {what}")))?;
        passed.push(*name);
    }
    Ok(SelfTestReport { passed })
}

// ---------------------------------------------------------------- helpers

/// Attaches what was being done to a backend error.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T> Ctx<T> for Result<T, CryptoError> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

fn hx(s: &str) -> Result<Vec<u8>, String> {
    unhex(s).map_err(|e| e.to_string())
}

fn short_hex(b: &[u8]) -> String {
    if b.len() <= 48 {
        hex::encode(b)
    } else {
        format!("{}..{} ({} bytes)", hex::encode(&b[..16]), hex::encode(&b[b.len() - 8..]), b.len())
    }
}

fn expect_eq(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {}, expected {}", short_hex(got), short_hex(want)))
    }
}

/// A forgery or a corrupted input must be refused.
fn expect_refused<T>(what: &str, r: Result<T, CryptoError>) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!("{what} was accepted")),
        Err(_) => Ok(()),
    }
}

fn flip_last(mut b: Vec<u8>) -> Vec<u8> {
    if let Some(x) = b.last_mut() {
        *x ^= 0x01;
    }
    b
}

// ---------------------------------------------------------------- checks

fn check_rng() -> Result<(), String> {
    rng::health_check().ctx("health check")
}

fn check_digests(alg: HashAlg) -> Result<(), String> {
    let mut ran = false;
    for t in v::DIGESTS.iter().filter(|t| t.alg == alg) {
        expect_eq(t.name, &digest::digest(alg, t.msg), &hx(t.digest)?)?;
        // The streaming interface, fed in two pieces, must agree.
        let (a, b) = t.msg.split_at(t.msg.len() / 2);
        let mut h = digest::Hasher::new(alg);
        h.update(a);
        h.update(b);
        expect_eq(&format!("{} (streamed)", t.name), &h.finish(), &hx(t.digest)?)?;
        ran = true;
    }
    if ran {
        Ok(())
    } else {
        Err("no vector".into())
    }
}

fn check_hmac() -> Result<(), String> {
    let t = &v::HMAC_SHA256_RFC4231_2;
    let key = hx(t.key)?;
    let want = hx(t.mac)?;
    expect_eq(t.name, &mac::hmac(t.alg, &key, t.data).ctx(t.name)?, &want)?;
    mac::hmac_verify(t.alg, &key, t.data, &want).ctx("verify")?;
    expect_refused("a corrupted HMAC", mac::hmac_verify(t.alg, &key, t.data, &flip_last(want)))
}

fn check_block(t: &v::BlockVector, mode: &str) -> Result<(), String> {
    let (key, pt, ct) = (hx(t.key)?, hx(t.pt)?, hx(t.ct)?);
    let (enc, dec) = match mode {
        "ecb" => (sym::ecb_encrypt(t.cipher, &key, &pt), sym::ecb_decrypt(t.cipher, &key, &ct)),
        _ => {
            let iv = hx(t.iv)?;
            (sym::cbc_encrypt(t.cipher, &key, &iv, &pt, false), sym::cbc_decrypt(t.cipher, &key, &iv, &ct, false).map(|z| z.to_vec()))
        }
    };
    expect_eq(&format!("{} encrypt", t.name), &enc.ctx(t.name)?, &ct)?;
    expect_eq(&format!("{} decrypt", t.name), &dec.ctx(t.name)?, &pt)
}

fn check_aes_ecb() -> Result<(), String> {
    check_block(&v::AES128_FIPS197, "ecb")?;
    check_block(&v::AES256_FIPS197, "ecb")
}

fn check_aes_cbc() -> Result<(), String> {
    check_block(&v::CBC_AES128_SP800_38A, "cbc")?;
    check_block(&v::CBC_AES256_SP800_38A, "cbc")
}

fn check_aes_gcm() -> Result<(), String> {
    let t = &v::GCM_MV4;
    let (key, iv, aad, pt, ct, tag) = (hx(t.key)?, hx(t.iv)?, hx(t.aad)?, hx(t.pt)?, hx(t.ct)?, hx(t.tag)?);
    let sealed = [ct.as_slice(), tag.as_slice()].concat();
    expect_eq("encrypt", &sym::gcm_encrypt(Cipher::Aes, &key, &iv, &aad, &pt, 16).ctx("encrypt")?, &sealed)?;
    expect_eq("decrypt", &sym::gcm_decrypt(Cipher::Aes, &key, &iv, &aad, &sealed, 16).ctx("decrypt")?, &pt)?;
    expect_refused("a corrupted tag", sym::gcm_decrypt(Cipher::Aes, &key, &iv, &aad, &flip_last(sealed), 16))?;
    // The AES-256-GCM used to seal TA state (aead module): McGrew-Viega case 16.
    let t = &v::GCM[3];
    let (key, iv, aad, pt) = (hx(t.key)?, hx(t.iv)?, hx(t.aad)?, hx(t.pt)?);
    let sealed = [hx(t.ct)?, hx(t.tag)?].concat();
    let key: [u8; 32] = key.as_slice().try_into().map_err(|_| "vector key size".to_string())?;
    let iv: [u8; 12] = iv.as_slice().try_into().map_err(|_| "vector IV size".to_string())?;
    expect_eq("aead seal", &aead::aes256gcm_seal(&key, &iv, &aad, &pt).ctx("aead seal")?, &sealed)?;
    expect_eq("aead open", &aead::aes256gcm_open(&key, &iv, &aad, &sealed).ctx("aead open")?, &pt)?;
    expect_refused("aead open of a corrupted tag", aead::aes256gcm_open(&key, &iv, &aad, &flip_last(sealed)))
}

fn check_wrap(t: &v::WrapVector, padded: bool) -> Result<(), String> {
    let (kek, key, wrapped) = (hx(t.kek)?, hx(t.key)?, hx(t.wrapped)?);
    let (w, u) = if padded {
        (keywrap::aes_kwp_wrap(&kek, &key), keywrap::aes_kwp_unwrap(&kek, &wrapped))
    } else {
        (keywrap::aes_kw_wrap(&kek, &key), keywrap::aes_kw_unwrap(&kek, &wrapped))
    };
    expect_eq(&format!("{} wrap", t.name), &w.ctx("wrap")?, &wrapped)?;
    expect_eq(&format!("{} unwrap", t.name), &u.ctx("unwrap")?, &key)?;
    let bad = flip_last(wrapped);
    let r = if padded { keywrap::aes_kwp_unwrap(&kek, &bad) } else { keywrap::aes_kw_unwrap(&kek, &bad) };
    expect_refused("unwrap of a corrupted ciphertext", r)
}

fn check_aes_kw() -> Result<(), String> {
    check_wrap(&v::KW_RFC3394_4_1, false)
}

fn check_aes_kwp() -> Result<(), String> {
    check_wrap(&v::KWP_WYCHEPROOF_1, true)
}

fn check_aes_cmac() -> Result<(), String> {
    let t = &v::CMAC_RFC4493_2;
    expect_eq(t.name, &mac::cmac(Cipher::Aes, &hx(t.key)?, &hx(t.msg)?).ctx(t.name)?, &hx(t.mac)?)
}

fn check_sm4() -> Result<(), String> {
    check_block(&v::SM4_GBT32907, "ecb")
}

fn check_pbkdf2() -> Result<(), String> {
    let t = &v::PBKDF2_RFC7914_1;
    let want = hx(t.dk)?;
    let got = kdf::pbkdf2_sha256(t.password, t.salt, t.iterations, want.len()).ctx(t.name)?;
    expect_eq(t.name, &got, &want)
}

fn check_hkdf() -> Result<(), String> {
    let t = &v::HKDF_RFC5869_1;
    let want = hx(t.okm)?;
    let got = kdf::hkdf_sha256(&hx(t.ikm)?, &hx(t.salt)?, &hx(t.info)?, want.len()).ctx(t.name)?;
    expect_eq(t.name, &got, &want)
}

fn check_ecdsa_p256() -> Result<(), String> {
    let curve = ec::Curve::P256;
    let key = ec::EcPrivateKey::from_scalar(curve, &hx(v::P256_RFC6979_D)?).ctx("import RFC 6979 key")?;
    let q = hx(v::P256_RFC6979_Q)?;
    expect_eq("public point of the RFC 6979 key", &key.public_point(), &q)?;
    let sig = hx(v::P256_RFC6979_SAMPLE_SIG)?;
    ec::verify(curve, &q, HashAlg::Sha256, b"sample", &sig).ctx("verify RFC 6979 A.2.5 signature")?;
    expect_refused("a signature over another message", ec::verify(curve, &q, HashAlg::Sha256, b"test", &sig))?;
    // Pairwise: ECDSA signing is randomized, so sign and verify.
    let msg = b"teehsm self-test";
    let mine = key.sign(HashAlg::Sha256, msg).ctx("sign")?;
    ec::verify(curve, &q, HashAlg::Sha256, msg, &mine).ctx("pairwise verify")?;
    expect_refused("a corrupted signature", ec::verify(curve, &q, HashAlg::Sha256, msg, &flip_last(mine)))
}

fn check_rsa() -> Result<(), String> {
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&hx(v::RSA2048_PKCS1_DER)?).ctx("import key")?;
    let public = key.public_key();
    let want = hx(v::RSA2048_PKCS1V15_SHA256_SIG)?;
    let sig = key.sign_pkcs1v15(HashAlg::Sha256, v::RSA_MSG).ctx("PKCS#1 v1.5 sign")?;
    expect_eq("PKCS#1 v1.5 SHA-256 signature", &sig, &want)?;
    public.verify_pkcs1v15(HashAlg::Sha256, v::RSA_MSG, &want).ctx("PKCS#1 v1.5 verify")?;
    expect_refused("a corrupted PKCS#1 v1.5 signature", public.verify_pkcs1v15(HashAlg::Sha256, v::RSA_MSG, &flip_last(want)))?;
    public.verify_pss(HashAlg::Sha256, v::RSA_MSG, &hx(v::RSA2048_PSS_SHA256_SIG)?, 32).ctx("PSS verify of the OpenSSL signature")?;
    let pt = key.decrypt_oaep(HashAlg::Sha256, b"", &hx(v::RSA2048_OAEP_SHA256_CT)?).ctx("OAEP decrypt")?;
    expect_eq("OAEP plaintext", &pt, v::RSA_OAEP_PT)
}

/// The RSA paths that go to aws-lc's C API directly (crate::lc): SHA-1
/// PKCS#1 v1.5 signing, PSS with another salt and MGF1 hash, PKCS#1 v1.5 and
/// OAEP-SHA-224 (with a label) decryption.
fn check_rsa_legacy() -> Result<(), String> {
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&hx(v::RSA2048_PKCS1_DER)?).ctx("import key")?;
    let public = key.public_key();
    let want = hx(v::RSA2048_PKCS1V15_SHA1_SIG)?;
    let sig = key.sign_pkcs1v15(HashAlg::Sha1, v::RSA_MSG).ctx("PKCS#1 v1.5 SHA-1 sign")?;
    expect_eq("PKCS#1 v1.5 SHA-1 signature", &sig, &want)?;
    expect_refused("a corrupted PKCS#1 v1.5 SHA-1 signature", public.verify_pkcs1v15(HashAlg::Sha1, v::RSA_MSG, &flip_last(want)))?;
    let e = crate::digest::digest(HashAlg::Sha256, v::RSA_MSG);
    let pss = hx(v::RSA2048_PSS_SHA256_MGF1SHA1_S0_SIG)?;
    public.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha1, &e, &pss, 0).ctx("PSS (MGF1-SHA-1, salt 0) verify")?;
    expect_refused("PSS with the wrong MGF1 hash", public.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha256, &e, &pss, 0))?;
    let pt = key.decrypt_pkcs1v15(&hx(v::RSA2048_PKCS1V15_CT)?).ctx("PKCS#1 v1.5 decrypt")?;
    expect_eq("PKCS#1 v1.5 plaintext", &pt, v::RSA_ENC_PT)?;
    let ct = hx(v::RSA2048_OAEP_SHA224_LABEL_CT)?;
    let pt = key.decrypt_oaep_mgf1(HashAlg::Sha224, HashAlg::Sha224, v::RSA_OAEP_LABEL, &ct).ctx("OAEP-SHA-224 decrypt")?;
    expect_eq("OAEP-SHA-224 plaintext", &pt, v::RSA_ENC_PT)?;
    expect_refused("OAEP with the wrong label", key.decrypt_oaep_mgf1(HashAlg::Sha224, HashAlg::Sha224, b"", &ct))
}

fn check_ed25519() -> Result<(), String> {
    use crate::eddsa;
    let t = &v::ED25519_RFC8032_TEST2;
    let key = eddsa::Ed25519PrivateKey::from_seed(&hx(t.secret)?).ctx("import RFC 8032 key")?;
    let public = hx(t.public)?;
    expect_eq("Ed25519 public key", &key.public_key(), &public)?;
    let msg = hx(t.msg)?;
    let sig = key.sign(t.variant, b"", &msg).ctx("Ed25519 sign")?;
    expect_eq("Ed25519 signature", &sig, &hx(t.sig)?)?;
    eddsa::verify(&public, t.variant, b"", &msg, &sig).ctx("Ed25519 verify")?;
    expect_refused("a corrupted Ed25519 signature", eddsa::verify(&public, t.variant, b"", &msg, &flip_last(sig)))
}

/// Ed448 (RFC 8032 7.4 "1 octet" with context "foo"): the public key derived
/// from the seed, the RFC's signature, its verification, and a corrupted one
/// refused; then Ed448ph (7.5 TEST abc) signing, SHAKE256 prehash included.
/// About 3.5 ms (one verification is ~2 ms): the verification of Ed448ph is
/// left to the test suite.
fn check_ed448() -> Result<(), String> {
    use crate::eddsa;
    let t = v::ED448_SELFTEST;
    let key = eddsa::Ed448PrivateKey::from_seed(&hx(t.secret)?).ctx("import RFC 8032 key")?;
    let public = hx(t.public)?;
    expect_eq("Ed448 public key", &key.public_key(), &public)?;
    let (msg, context) = (hx(t.msg)?, hx(t.context)?);
    let sig = key.sign(t.variant, &context, &msg).ctx("Ed448 sign")?;
    expect_eq("Ed448 signature", &sig, &hx(t.sig)?)?;
    eddsa::verify_ed448(&public, t.variant, &context, &msg, &sig).ctx("Ed448 verify")?;
    expect_refused("a corrupted Ed448 signature", eddsa::verify_ed448(&public, t.variant, &context, &msg, &flip_last(sig)))?;
    let t = v::ED448PH_SELFTEST;
    let key = eddsa::Ed448PrivateKey::from_seed(&hx(t.secret)?).ctx("import RFC 8032 Ed448ph key")?;
    let sig = key.sign(t.variant, &hx(t.context)?, &hx(t.msg)?).ctx("Ed448ph sign")?;
    expect_eq("Ed448ph signature", &sig, &hx(t.sig)?)
}

fn check_sm2_sign() -> Result<(), String> {
    let key = sm2::Sm2PrivateKey::from_scalar(&hx(v::SM2_D)?).ctx("import key")?;
    let q = hx(v::SM2_Q)?;
    expect_eq("public point", &key.public_point(), &q)?;
    expect_eq("Z", &sm2::compute_z(&q, sm2::DEFAULT_USER_ID).ctx("Z")?, &hx(v::SM2_SIGN_Z)?)?;
    let rs = hx(v::SM2_SIGN_RS)?;
    let e = hx(v::SM2_SIGN_E)?;
    expect_eq("signature with the published k", &key.sign_prehashed_with_k(&e, &hx(v::SM2_SIGN_K)?).ctx("sign with k")?, &rs)?;
    sm2::verify(&q, sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &rs).ctx("verify the published signature")?;
    expect_refused("the published signature under another ID", sm2::verify(&q, b"ALICE123@YAHOO.COM", v::SM2_SIGN_MSG, &rs))?;
    let msg = b"teehsm self-test";
    let mine = key.sign(sm2::DEFAULT_USER_ID, msg).ctx("sign")?;
    sm2::verify(&q, sm2::DEFAULT_USER_ID, msg, &mine).ctx("pairwise verify")?;
    expect_refused("a corrupted signature", sm2::verify(&q, sm2::DEFAULT_USER_ID, msg, &flip_last(mine)))
}

fn check_sm2_encrypt() -> Result<(), String> {
    let key = sm2::Sm2PrivateKey::from_scalar(&hx(v::SM2_D)?).ctx("import key")?;
    let pt = key.decrypt(&hx(v::SM2_ENC_C1C3C2)?).ctx("decrypt the published ciphertext")?;
    expect_eq("decryption of the published ciphertext", &pt, v::SM2_ENC_PT)?;
    let ct = sm2::encrypt(&key.public_point(), b"teehsm self-test").ctx("encrypt")?;
    expect_eq("pairwise decryption", &key.decrypt(&ct).ctx("pairwise decrypt")?, b"teehsm self-test")?;
    expect_refused("a ciphertext with a corrupted C2", key.decrypt(&flip_last(ct)))
}

fn check_mlkem() -> Result<(), String> {
    let t = &v::MLKEM768_ACVP_26;
    let dk = mlkem::MlKemPrivateKey::from_bytes(t.param, &hx(t.dk)?).ctx("import dk")?;
    expect_eq("shared secret", &dk.decapsulate(&hx(t.c)?).ctx("decapsulate")?, &hx(t.k)?)?;
    // Pairwise: encapsulate to the vector's ek (FIPS 203: dk = dk_pke || ek || H(ek) || z,
    // with dk_pke 384*k bytes; k = 3 for ML-KEM-768) and decapsulate.
    let dk_bytes = hx(t.dk)?;
    let ek = dk_bytes.get(384 * 3..384 * 3 + t.param.public_key_len()).ok_or("vector dk too short")?;
    let (ct, ss) = mlkem::encapsulate(t.param, ek).ctx("encapsulate")?;
    expect_eq("pairwise shared secret", &dk.decapsulate(&ct).ctx("pairwise decapsulate")?, &ss)
}

fn check_mldsa() -> Result<(), String> {
    let t = &v::MLDSA65_ACVP_KEYGEN_26;
    let key = mldsa::MlDsaPrivateKey::from_seed(t.param, &hx(t.seed)?).ctx("key from seed")?;
    let pk = key.public_key();
    expect_eq("public key from the ACVP seed", &pk, &hx(t.pk)?)?;
    let w = &v::MLDSA65_WYCHEPROOF_VERIFY_1;
    let sig = hx(w.sig)?;
    mldsa::verify(w.param, &hx(w.pk)?, w.msg, &sig).ctx("verify the Wycheproof signature")?;
    expect_refused("a corrupted signature", mldsa::verify(w.param, &hx(w.pk)?, w.msg, &flip_last(sig)))?;
    let msg = b"teehsm self-test";
    let mine = key.sign(msg).ctx("sign")?;
    mldsa::verify(t.param, &pk, msg, &mine).ctx("pairwise verify")?;
    // Sign_internal / Verify_internal (contexts, deterministic, HashML-DSA).
    let d = &v::MLDSA44_WYCHEPROOF_SIGN_SEED_1;
    let dk = mldsa::MlDsaPrivateKey::from_seed(d.param, &hx(d.seed)?).ctx("key from the Wycheproof seed")?;
    let sig = dk.sign_with_context(d.ctx, d.msg, mldsa::Hedge::Deterministic).ctx("deterministic sign")?;
    expect_eq("deterministic ML-DSA-44 signature", &sig, &hx(d.sig)?)?;
    mldsa::verify_with_context(d.param, &dk.public_key(), d.ctx, d.msg, &sig).ctx("verify with context")?;
    expect_refused("a signature under another context", mldsa::verify_with_context(d.param, &dk.public_key(), b"x", d.msg, &sig))
}

/// X25519 (RFC 7748 6.1) and the ECDH KDFs (the OpenPGP SP 800-56C vector; X9.63 shares its code).
fn check_x25519() -> Result<(), String> {
    use crate::x25519::X25519PrivateKey;
    let a = X25519PrivateKey::from_bytes(&hx(v::X25519_RFC7748_ALICE_PRIVATE)?).ctx("import RFC 7748 key")?;
    expect_eq("X25519 public key", &a.public_key(), &hx(v::X25519_RFC7748_ALICE_PUBLIC)?)?;
    let z = a.agree(&hx(v::X25519_RFC7748_BOB_PUBLIC)?).ctx("X25519")?;
    expect_eq("X25519 shared secret", &z, &hx(v::X25519_RFC7748_SHARED)?)?;
    let k = X25519PrivateKey::from_bytes(&hx(v::OPENPGP_X25519_PRIVATE)?).ctx("import OpenPGP key")?;
    let z = k.agree(&hx(v::OPENPGP_X25519_EPHEMERAL)?).ctx("X25519 (OpenPGP)")?;
    let out = kdf::sp800_56c_one_step(kdf::KdfHash::Sha(HashAlg::Sha256), &z, &hx(v::OPENPGP_KDF_PARAM)?, 16).ctx("SP 800-56C KDF")?;
    expect_eq("SP 800-56C output", &out, &hx(v::OPENPGP_DERIVED)?)
}

fn check_kbkdf() -> Result<(), String> {
    use crate::kbkdf::{derive, Field, IntFormat, Mode, Prf};
    let be32 = IntFormat { little_endian: false, width_bits: 32 };
    let fields = [
        Field::Iteration(Some(be32)),
        Field::Bytes(v::KBKDF_LABEL.to_vec()),
        Field::Bytes(vec![0]),
        Field::Bytes(v::KBKDF_CONTEXT.to_vec()),
        Field::DkmLength { sum_of_segments: false, format: be32 },
    ];
    let out = derive(Prf::AesCmac, &hx(v::KBKDF_CMAC_KEY)?, &Mode::Counter, &fields, &[32]).ctx("KBKDF counter mode")?;
    expect_eq("KBKDF AES-CMAC counter-mode output", &out[0], &hx(v::KBKDF_CMAC_COUNTER_32)?)
}
