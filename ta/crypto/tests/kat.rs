//! Known-answer tests: the start-up self-test, then every vector of
//! `teehsm_crypto::vectors` (and a few more) as its own test, plus negative
//! tests: corrupted tags, wrong keys, flipped signature bytes and wrong
//! lengths must be refused with the right typed error, never a panic.
//! Vector sources are listed in src/vectors.rs.

use teehsm_crypto::digest::{self, HashAlg};
use teehsm_crypto::ec::{self, Curve};
use teehsm_crypto::mldsa::{self, MlDsaParam};
use teehsm_crypto::mlkem::{self, MlKemParam};
use teehsm_crypto::sym::{self, Cipher};
use teehsm_crypto::vectors::{self as v, unhex};
use teehsm_crypto::{aead, kdf, keywrap, mac, rsa, selftest, sm2, CryptoError};

fn h(s: &str) -> Vec<u8> {
    unhex(s).expect("vector hex")
}

fn flip(mut b: Vec<u8>, i: usize) -> Vec<u8> {
    b[i] ^= 0x80;
    b
}

fn find<'a, T>(list: &'a [T], name: impl Fn(&T) -> &str, want: &str) -> &'a T {
    list.iter().find(|t| name(t) == want).unwrap_or_else(|| panic!("no vector named {want}"))
}

// ============================================================ self-test

#[test]
fn selftest_run_all_passes_every_check() {
    let start = std::time::Instant::now();
    let report = selftest::run_all().expect("self-test");
    let elapsed = start.elapsed();
    eprintln!("self-test: {} checks passed in {elapsed:?}", report.passed.len());
    let expected = [
        "RNG",
        "SHA-1",
        "SHA-224",
        "SHA-256",
        "SHA-384",
        "SHA-512",
        "SM3",
        "HMAC-SHA256",
        "AES-ECB",
        "AES-CBC",
        "AES-GCM",
        "AES-KW",
        "AES-KWP",
        "AES-CMAC",
        "SM4",
        "PBKDF2-HMAC-SHA256",
        "HKDF-SHA256",
        "ECDSA-P256",
        "RSA-2048",
        "RSA-2048-legacy-paddings",
        "Ed25519",
        "Ed448",
        "X25519+SP800-56C",
        "SP800-108-KBKDF",
        "SM2-sign",
        "SM2-encrypt",
        "ML-KEM-768",
        "ML-DSA-65",
    ];
    assert_eq!(report.passed, expected);
    // The budget is 300 ms in a release build; a debug build of this crate
    // (dependencies are optimized) stays well inside a second.
    assert!(elapsed.as_millis() < 2000, "self-test took {elapsed:?}");
}

#[test]
fn selftest_is_repeatable() {
    let a = selftest::run_all().expect("first run");
    let b = selftest::run_all().expect("second run");
    assert_eq!(a, b);
}

// ============================================================ digests

fn digest_kat(t: &v::DigestVector) {
    assert_eq!(hex::encode(digest::digest(t.alg, t.msg)), hex::encode(h(t.digest)), "{}", t.name);
    // Byte-at-a-time streaming agrees with one-shot.
    let mut s = digest::Hasher::new(t.alg);
    for b in t.msg {
        s.update(std::slice::from_ref(b));
    }
    assert_eq!(hex::encode(s.finish()), hex::encode(h(t.digest)), "{} (streamed)", t.name);
    assert_eq!(t.alg.output_len(), h(t.digest).len());
}

fn digest_by_name(name: &str) {
    let all: Vec<&v::DigestVector> = v::DIGESTS.iter().chain(v::DIGESTS_EXTRA.iter()).collect();
    let t = all.into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no vector {name}"));
    digest_kat(t);
}

#[test]
fn sha1_abc() {
    digest_by_name("SHA-1 abc (FIPS 180-2)");
}
#[test]
fn sha1_448bit() {
    digest_by_name("SHA-1 448-bit (FIPS 180-2)");
}
#[test]
fn sha224_abc() {
    digest_by_name("SHA-224 abc (FIPS 180-2)");
}
#[test]
fn sha256_abc() {
    digest_by_name("SHA-256 abc (FIPS 180-2)");
}
#[test]
fn sha256_448bit() {
    digest_by_name("SHA-256 448-bit (FIPS 180-2)");
}
#[test]
fn sha256_empty() {
    digest_by_name("SHA-256 empty");
}
#[test]
fn sha384_abc() {
    digest_by_name("SHA-384 abc (FIPS 180-2)");
}
#[test]
fn sha512_abc() {
    digest_by_name("SHA-512 abc (FIPS 180-2)");
}
#[test]
fn sm3_abc_gbt32905() {
    digest_by_name("SM3 abc (GB/T 32905 A.1)");
}
#[test]
fn sm3_abcd16_gbt32905() {
    digest_by_name("SM3 abcd x16 (GB/T 32905 A.2)");
}
#[test]
fn sm3_empty() {
    digest_by_name("SM3 empty");
}

/// FIPS 180-2: one million 'a', streamed in uneven chunks.
#[test]
fn sha_million_a_streamed() {
    let chunk = vec![b'a'; 999];
    for (alg, want) in [
        (HashAlg::Sha1, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
        (HashAlg::Sha256, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        (
            HashAlg::Sha512,
            "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
        ),
    ] {
        let mut s = digest::Hasher::new(alg);
        let mut left = 1_000_000usize;
        while left > 0 {
            let n = left.min(chunk.len());
            s.update(&chunk[..n]);
            left -= n;
        }
        assert_eq!(hex::encode(s.finish()), want, "{}", alg.name());
    }
}

// ============================================================ HMAC

fn hmac_kat(name: &str) {
    let t = find(v::HMACS, |t| t.name, name);
    let key = h(t.key);
    let want = h(t.mac);
    assert_eq!(hex::encode(mac::hmac(t.alg, &key, t.data).unwrap()), hex::encode(&want), "{name}");
    mac::hmac_verify(t.alg, &key, t.data, &want).unwrap();
}

#[test]
fn hmac_sha256_rfc4231_case1() {
    hmac_kat("HMAC-SHA256 (RFC 4231 case 1)");
}
#[test]
fn hmac_sha256_rfc4231_case2() {
    hmac_kat("HMAC-SHA256 (RFC 4231 case 2)");
}
#[test]
fn hmac_sha384_rfc4231_case2() {
    hmac_kat("HMAC-SHA384 (RFC 4231 case 2)");
}
#[test]
fn hmac_sha512_rfc4231_case2() {
    hmac_kat("HMAC-SHA512 (RFC 4231 case 2)");
}

#[test]
fn hmac_verify_refuses_wrong_tags() {
    let t = &v::HMAC_SHA256_RFC4231_2;
    let key = h(t.key);
    let good = h(t.mac);
    assert_eq!(mac::hmac_verify(t.alg, &key, t.data, &flip(good.clone(), 0)), Err(CryptoError::InvalidSignature));
    assert_eq!(mac::hmac_verify(t.alg, &key, b"what do ya want for something?", &good), Err(CryptoError::InvalidSignature));
    assert!(matches!(mac::hmac_verify(t.alg, &key, t.data, &good[..31]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(mac::hmac_verify(t.alg, &key, t.data, &[]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(mac::hmac(HashAlg::Sha256, &[], b"x"), Err(CryptoError::InvalidKey(_))));
}

// ============================================================ ECB / CBC / CTR

fn ecb_kat(t: &v::BlockVector) {
    let (key, pt, ct) = (h(t.key), h(t.pt), h(t.ct));
    assert_eq!(hex::encode(sym::ecb_encrypt(t.cipher, &key, &pt).unwrap()), hex::encode(&ct), "{} encrypt", t.name);
    assert_eq!(hex::encode(sym::ecb_decrypt(t.cipher, &key, &ct).unwrap()), hex::encode(&pt), "{} decrypt", t.name);
}

fn ecb_by_name(name: &str) {
    ecb_kat(find(v::ECB, |t| t.name, name));
}

#[test]
fn aes128_fips197_c1() {
    ecb_by_name("AES-128 (FIPS 197 C.1)");
}
#[test]
fn aes256_fips197_c3() {
    ecb_by_name("AES-256 (FIPS 197 C.3)");
}
#[test]
fn ecb_aes128_sp800_38a_f11() {
    ecb_by_name("ECB-AES128 (SP 800-38A F.1.1)");
}
#[test]
fn ecb_aes256_sp800_38a_f15() {
    ecb_by_name("ECB-AES256 (SP 800-38A F.1.5)");
}
#[test]
fn sm4_gbt32907_a1() {
    ecb_by_name("SM4 (GB/T 32907 A.1)");
}

/// GB/T 32907 A.2: the A.1 block encrypted 1,000,000 times under the same key.
#[test]
fn sm4_gbt32907_a2_million_iterations() {
    let t = &v::SM4_GBT32907;
    let key = h(t.key);
    let mut block = h(t.pt);
    for _ in 0..1_000_000 {
        block = sym::ecb_encrypt(Cipher::Sm4, &key, &block).unwrap();
    }
    assert_eq!(hex::encode(&block), v::SM4_GBT32907_MILLION);
}

fn cbc_kat(t: &v::BlockVector) {
    let (key, iv, pt, ct) = (h(t.key), h(t.iv), h(t.pt), h(t.ct));
    assert_eq!(hex::encode(sym::cbc_encrypt(t.cipher, &key, &iv, &pt, false).unwrap()), hex::encode(&ct), "{}", t.name);
    assert_eq!(hex::encode(sym::cbc_decrypt(t.cipher, &key, &iv, &ct, false).unwrap().as_slice()), hex::encode(&pt), "{}", t.name);
    // With PKCS#7 padding, a whole extra block of 0x10 is appended; the
    // first blocks are unchanged.
    let padded = sym::cbc_encrypt(t.cipher, &key, &iv, &pt, true).unwrap();
    assert_eq!(padded.len(), pt.len() + 16);
    assert_eq!(&padded[..ct.len()], &ct[..]);
    assert_eq!(sym::cbc_decrypt(t.cipher, &key, &iv, &padded, true).unwrap().as_slice(), &pt[..]);
}

#[test]
fn cbc_aes128_sp800_38a_f21() {
    cbc_kat(&v::CBC_AES128_SP800_38A);
}
#[test]
fn cbc_aes256_sp800_38a_f25() {
    cbc_kat(&v::CBC_AES256_SP800_38A);
}

#[test]
fn cbc_padding_roundtrip_every_length() {
    let key = h(v::SP800_38A_K128);
    let iv = [7u8; 16];
    for c in [Cipher::Aes, Cipher::Sm4] {
        for len in 0..=33 {
            let pt: Vec<u8> = (0..len as u8).collect();
            let ct = sym::cbc_encrypt(c, &key, &iv, &pt, true).unwrap();
            assert_eq!(ct.len(), (len / 16 + 1) * 16, "{c:?} {len}");
            assert_eq!(sym::cbc_decrypt(c, &key, &iv, &ct, true).unwrap().as_slice(), &pt[..], "{c:?} {len}");
        }
    }
}

#[test]
fn cbc_refuses_bad_padding_and_lengths() {
    let t = &v::CBC_AES128_SP800_38A;
    let (key, iv, pt) = (h(t.key), h(t.iv), h(t.pt));
    // The SP 800-38A ciphertext has no padding: its last block decrypts to
    // ...3710, which is not valid PKCS#7.
    assert_eq!(sym::cbc_decrypt(Cipher::Aes, &key, &iv, &h(t.ct), true).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    // Corrupting the padded ciphertext's next-to-last block changes the padding byte.
    let padded = sym::cbc_encrypt(Cipher::Aes, &key, &iv, &pt, true).unwrap();
    let n = padded.len();
    assert_eq!(sym::cbc_decrypt(Cipher::Aes, &key, &iv, &flip(padded.clone(), n - 17), true).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    // Lengths.
    assert!(matches!(sym::cbc_encrypt(Cipher::Aes, &key, &iv, &pt[..15], false), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sym::cbc_decrypt(Cipher::Aes, &key, &iv, &padded[..n - 1], true), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sym::cbc_decrypt(Cipher::Aes, &key, &iv, &[], true), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sym::cbc_encrypt(Cipher::Aes, &key, &iv[..8], &pt, false), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sym::ecb_encrypt(Cipher::Aes, &key, &pt[..17]), Err(CryptoError::DataLenRange(_))));
    // Key sizes.
    assert!(matches!(sym::ecb_encrypt(Cipher::Aes, &key[..15], &pt), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(sym::ecb_encrypt(Cipher::Sm4, &[0u8; 32], &pt), Err(CryptoError::InvalidKey(_))));
}

fn ctr_kat(name: &str) {
    let t = find(v::CTR, |t| t.name, name);
    let (key, ctr, pt, ct) = (h(t.key), h(t.iv), h(t.pt), h(t.ct));
    assert_eq!(hex::encode(sym::ctr_apply(t.cipher, &key, &ctr, 128, &pt).unwrap()), hex::encode(&ct), "{name}");
    assert_eq!(hex::encode(sym::ctr_apply(t.cipher, &key, &ctr, 128, &ct).unwrap()), hex::encode(&pt), "{name}");
    // A partial last block is the same keystream prefix.
    assert_eq!(sym::ctr_apply(t.cipher, &key, &ctr, 128, &pt[..37]).unwrap(), &ct[..37]);
    // The SP 800-38A counters never carry past the low 32 bits, so a 32-bit counter agrees.
    assert_eq!(sym::ctr_apply(t.cipher, &key, &ctr, 32, &pt).unwrap(), ct);
}

#[test]
fn ctr_aes128_sp800_38a_f51() {
    ctr_kat("CTR-AES128 (SP 800-38A F.5.1)");
}
#[test]
fn ctr_aes256_sp800_38a_f55() {
    ctr_kat("CTR-AES256 (SP 800-38A F.5.5)");
}

/// PKCS#11 CTR semantics: only the low `counter_bits` bits count and they
/// wrap without carrying into the nonce; input that would repeat the counter
/// is refused.
#[test]
fn ctr_counter_wraps_within_its_width() {
    let key = h(v::SP800_38A_K128);
    let start = h("00112233445566778899aabbffffffff");
    let data = [0u8; 32];
    let ks = sym::ctr_apply(Cipher::Aes, &key, &start, 32, &data).unwrap();
    let b0 = sym::ecb_encrypt(Cipher::Aes, &key, &start).unwrap();
    let b1 = sym::ecb_encrypt(Cipher::Aes, &key, &h("00112233445566778899aabb00000000")).unwrap();
    assert_eq!(ks, [b0.clone(), b1].concat());
    // With a 128-bit counter the same start carries into the upper bytes.
    let ks128 = sym::ctr_apply(Cipher::Aes, &key, &start, 128, &data).unwrap();
    let c1 = sym::ecb_encrypt(Cipher::Aes, &key, &h("00112233445566778899aabc00000000")).unwrap();
    assert_eq!(ks128, [b0, c1].concat());
    // A 1-bit counter allows two blocks, not three.
    assert!(sym::ctr_apply(Cipher::Aes, &key, &start, 1, &[0u8; 32]).is_ok());
    assert!(matches!(sym::ctr_apply(Cipher::Aes, &key, &start, 1, &[0u8; 33]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sym::ctr_apply(Cipher::Aes, &key, &start, 0, &data), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sym::ctr_apply(Cipher::Aes, &key, &start, 129, &data), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sym::ctr_apply(Cipher::Aes, &key, &start[..12], 32, &data), Err(CryptoError::InvalidInput(_))));
}

// ============================================================ GCM

fn gcm_kat(t: &v::GcmVector) {
    let (key, iv, aad, pt, ct, tag) = (h(t.key), h(t.iv), h(t.aad), h(t.pt), h(t.ct), h(t.tag));
    let sealed = [ct.clone(), tag.clone()].concat();
    assert_eq!(hex::encode(sym::gcm_encrypt(Cipher::Aes, &key, &iv, &aad, &pt, 16).unwrap()), hex::encode(&sealed), "{}", t.name);
    assert_eq!(sym::gcm_decrypt(Cipher::Aes, &key, &iv, &aad, &sealed, 16).unwrap().as_slice(), &pt[..], "{}", t.name);
    // Truncated tags are prefixes of the full tag.
    for tl in [12usize, 8, 4] {
        let short = [ct.clone(), tag[..tl].to_vec()].concat();
        assert_eq!(sym::gcm_encrypt(Cipher::Aes, &key, &iv, &aad, &pt, tl).unwrap(), short, "{} tag {tl}", t.name);
        assert_eq!(sym::gcm_decrypt(Cipher::Aes, &key, &iv, &aad, &short, tl).unwrap().as_slice(), &pt[..], "{} tag {tl}", t.name);
    }
}

#[test]
fn gcm_mcgrew_viega_2() {
    gcm_kat(find(v::GCM, |t| t.name, "AES-128-GCM (McGrew-Viega test case 2)"));
}
#[test]
fn gcm_mcgrew_viega_3() {
    gcm_kat(find(v::GCM, |t| t.name, "AES-128-GCM (McGrew-Viega test case 3)"));
}
#[test]
fn gcm_mcgrew_viega_4() {
    gcm_kat(&v::GCM_MV4);
}
#[test]
fn gcm_mcgrew_viega_16_aes256() {
    gcm_kat(find(v::GCM, |t| t.name, "AES-256-GCM (McGrew-Viega test case 16)"));
}

#[test]
fn gcm_refuses_tampering() {
    let t = &v::GCM_MV4;
    let (key, iv, aad, ct, tag) = (h(t.key), h(t.iv), h(t.aad), h(t.ct), h(t.tag));
    let sealed = [ct, tag].concat();
    let n = sealed.len();
    let dec = |k: &[u8], iv: &[u8], aad: &[u8], data: &[u8], tl| sym::gcm_decrypt(Cipher::Aes, k, iv, aad, data, tl).map(|_| ());
    assert_eq!(dec(&key, &iv, &aad, &flip(sealed.clone(), n - 1), 16), Err(CryptoError::EncryptedDataInvalid), "tag");
    assert_eq!(dec(&key, &iv, &aad, &flip(sealed.clone(), 0), 16), Err(CryptoError::EncryptedDataInvalid), "ciphertext");
    assert_eq!(dec(&key, &iv, &flip(aad.clone(), 3), &sealed, 16), Err(CryptoError::EncryptedDataInvalid), "aad");
    assert_eq!(dec(&key, &flip(iv.clone(), 11), &aad, &sealed, 16), Err(CryptoError::EncryptedDataInvalid), "iv");
    assert_eq!(dec(&flip(key.clone(), 5), &iv, &aad, &sealed, 16), Err(CryptoError::EncryptedDataInvalid), "key");
    // A truncated ciphertext (tag of the wrong position) is refused too.
    assert_eq!(dec(&key, &iv, &aad, &sealed[..n - 1], 16), Err(CryptoError::EncryptedDataInvalid), "truncated");
    // Lengths and parameters.
    assert!(matches!(dec(&key, &iv, &aad, &sealed[..10], 16), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sym::gcm_encrypt(Cipher::Aes, &key, &iv, &aad, b"x", 5), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sym::gcm_encrypt(Cipher::Aes, &key, &iv, &aad, b"x", 17), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sym::gcm_encrypt(Cipher::Aes, &key, &iv[..0], &aad, b"x", 16), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sym::gcm_encrypt(Cipher::Aes, &key[..10], &iv, &aad, b"x", 16), Err(CryptoError::InvalidKey(_))));
}

#[test]
fn sm4_gcm_roundtrip_and_tamper() {
    let key = h(v::SM4_GBT32907.key);
    let iv = [9u8; 12];
    let sealed = sym::gcm_encrypt(Cipher::Sm4, &key, &iv, b"hdr", b"SM4-GCM payload", 16).unwrap();
    assert_eq!(sealed.len(), 15 + 16);
    assert_eq!(sym::gcm_decrypt(Cipher::Sm4, &key, &iv, b"hdr", &sealed, 16).unwrap().as_slice(), b"SM4-GCM payload");
    assert_eq!(sym::gcm_decrypt(Cipher::Sm4, &key, &iv, b"hdR", &sealed, 16).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    // SM4-GCM differs from AES-GCM under the same bytes.
    assert_ne!(sealed, sym::gcm_encrypt(Cipher::Aes, &key, &iv, b"hdr", b"SM4-GCM payload", 16).unwrap());
}

#[test]
fn aead_aes256gcm_kat_and_tamper() {
    let t = find(v::GCM, |t| t.name, "AES-256-GCM (McGrew-Viega test case 16)");
    let key: [u8; 32] = h(t.key).try_into().unwrap();
    let iv: [u8; 12] = h(t.iv).try_into().unwrap();
    let (aad, pt) = (h(t.aad), h(t.pt));
    let sealed = [h(t.ct), h(t.tag)].concat();
    assert_eq!(aead::aes256gcm_seal(&key, &iv, &aad, &pt).unwrap(), sealed);
    assert_eq!(aead::aes256gcm_open(&key, &iv, &aad, &sealed).unwrap().as_slice(), &pt[..]);
    let n = sealed.len();
    assert_eq!(aead::aes256gcm_open(&key, &iv, &aad, &flip(sealed.clone(), n - 1)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    assert_eq!(aead::aes256gcm_open(&key, &iv, b"", &sealed).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    assert!(aead::aes256gcm_open(&key, &iv, &aad, &sealed[..15]).is_err());
}

// ============================================================ key wrap

fn kw_kat(t: &v::WrapVector) {
    let (kek, key, wrapped) = (h(t.kek), h(t.key), h(t.wrapped));
    assert_eq!(hex::encode(keywrap::aes_kw_wrap(&kek, &key).unwrap()), hex::encode(&wrapped), "{}", t.name);
    assert_eq!(keywrap::aes_kw_unwrap(&kek, &wrapped).unwrap().as_slice(), &key[..], "{}", t.name);
}

fn kwp_kat(t: &v::WrapVector) {
    let (kek, key, wrapped) = (h(t.kek), h(t.key), h(t.wrapped));
    assert_eq!(hex::encode(keywrap::aes_kwp_wrap(&kek, &key).unwrap()), hex::encode(&wrapped), "{}", t.name);
    assert_eq!(keywrap::aes_kwp_unwrap(&kek, &wrapped).unwrap().as_slice(), &key[..], "{}", t.name);
}

#[test]
fn aes_kw_rfc3394_4_1() {
    kw_kat(&v::KW_RFC3394_4_1);
}
#[test]
fn aes_kw_rfc3394_4_3() {
    kw_kat(find(v::KW, |t| t.name, "AES-KW (RFC 3394 4.3)"));
}
#[test]
fn aes_kw_rfc3394_4_6() {
    kw_kat(find(v::KW, |t| t.name, "AES-KW (RFC 3394 4.6)"));
}

/// RFC 3394 4.2 and RFC 5649 use a 192-bit KEK. The backend either supports
/// it (then the vector must match) or refuses it cleanly as an invalid key.
#[test]
fn aes_kw_and_kwp_192_bit_kek_match_or_are_refused() {
    for t in v::KW_192 {
        match keywrap::aes_kw_wrap(&h(t.kek), &h(t.key)) {
            Ok(w) => {
                assert_eq!(hex::encode(w), hex::encode(h(t.wrapped)), "{}", t.name);
                assert_eq!(keywrap::aes_kw_unwrap(&h(t.kek), &h(t.wrapped)).unwrap().as_slice(), &h(t.key)[..]);
            }
            Err(e) => assert!(matches!(e, CryptoError::InvalidKey(_) | CryptoError::Unsupported(_)), "{}: {e:?}", t.name),
        }
    }
    for t in v::KWP_RFC5649 {
        match keywrap::aes_kwp_wrap(&h(t.kek), &h(t.key)) {
            Ok(w) => {
                assert_eq!(hex::encode(w), hex::encode(h(t.wrapped)), "{}", t.name);
                assert_eq!(keywrap::aes_kwp_unwrap(&h(t.kek), &h(t.wrapped)).unwrap().as_slice(), &h(t.key)[..]);
            }
            Err(e) => assert!(matches!(e, CryptoError::InvalidKey(_) | CryptoError::Unsupported(_)), "{}: {e:?}", t.name),
        }
    }
}

#[test]
fn aes_kwp_wycheproof_1() {
    kwp_kat(&v::KWP_WYCHEPROOF_1);
}
#[test]
fn aes_kwp_wycheproof_4() {
    kwp_kat(find(v::KWP, |t| t.name, "AES-KWP (Wycheproof tcId 4, 24 bytes)"));
}
#[test]
fn aes_kwp_wycheproof_11_one_byte() {
    kwp_kat(find(v::KWP, |t| t.name, "AES-KWP (Wycheproof tcId 11, 1 byte)"));
}
#[test]
fn aes_kwp_wycheproof_19_nine_bytes() {
    kwp_kat(find(v::KWP, |t| t.name, "AES-KWP (Wycheproof tcId 19, 9 bytes)"));
}

#[test]
fn aes_kwp_refuses_modified_padding() {
    let t = &v::KWP_WYCHEPROOF_BAD_26;
    assert_eq!(keywrap::aes_kwp_unwrap(&h(t.kek), &h(t.wrapped)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
}

#[test]
fn key_wrap_refuses_wrong_kek_corruption_and_lengths() {
    let t = &v::KW_RFC3394_4_1;
    let (kek, key, wrapped) = (h(t.kek), h(t.key), h(t.wrapped));
    let other = flip(kek.clone(), 0);
    assert_eq!(keywrap::aes_kw_unwrap(&other, &wrapped).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "wrong KEK");
    assert_eq!(keywrap::aes_kw_unwrap(&kek, &flip(wrapped.clone(), 10)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "corrupted");
    // A KW ciphertext is not a KWP ciphertext.
    assert_eq!(keywrap::aes_kwp_unwrap(&kek, &wrapped).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "KW as KWP");
    assert!(matches!(keywrap::aes_kw_unwrap(&kek, &wrapped[..23]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(keywrap::aes_kw_unwrap(&kek, &wrapped[..16]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(keywrap::aes_kw_wrap(&kek, &key[..12]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(keywrap::aes_kw_wrap(&kek, &key[..8]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(keywrap::aes_kwp_wrap(&kek, &[]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(keywrap::aes_kwp_unwrap(&kek, &wrapped[..12]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(keywrap::aes_kw_wrap(&kek[..15], &key), Err(CryptoError::InvalidKey(_))));
    let kwp = &v::KWP_WYCHEPROOF_1;
    assert_eq!(keywrap::aes_kwp_unwrap(&flip(h(kwp.kek), 0), &h(kwp.wrapped)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "KWP wrong KEK");
}

// ============================================================ CMAC

fn cmac_kat(name: &str) {
    let t = find(v::CMAC, |t| t.name, name);
    assert_eq!(hex::encode(mac::cmac(Cipher::Aes, &h(t.key), &h(t.msg)).unwrap()), t.mac, "{name}");
}

#[test]
fn aes_cmac_rfc4493_example1_empty() {
    cmac_kat("AES-CMAC (RFC 4493 example 1)");
}
#[test]
fn aes_cmac_rfc4493_example2() {
    cmac_kat("AES-CMAC (RFC 4493 example 2)");
}
#[test]
fn aes_cmac_rfc4493_example3() {
    cmac_kat("AES-CMAC (RFC 4493 example 3)");
}
#[test]
fn aes_cmac_rfc4493_example4() {
    cmac_kat("AES-CMAC (RFC 4493 example 4)");
}

#[test]
fn cmac_refuses_bad_keys() {
    assert!(matches!(mac::cmac(Cipher::Aes, &[0u8; 15], b"x"), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mac::cmac(Cipher::Sm4, &[0u8; 32], b"x"), Err(CryptoError::InvalidKey(_))));
    // SM4-CMAC works and differs from AES-CMAC under the same key bytes.
    let k = [0x2bu8; 16];
    assert_ne!(mac::cmac(Cipher::Sm4, &k, b"abc").unwrap(), mac::cmac(Cipher::Aes, &k, b"abc").unwrap());
}

// ============================================================ KDFs

#[test]
fn pbkdf2_sha256_rfc7914_c1() {
    let t = &v::PBKDF2_RFC7914_1;
    let want = h(t.dk);
    assert_eq!(hex::encode(kdf::pbkdf2_sha256(t.password, t.salt, t.iterations, want.len()).unwrap().as_slice()), t.dk);
}

#[test]
fn pbkdf2_sha256_rfc7914_c80000() {
    let t = &v::PBKDF2_RFC7914_2;
    let want = h(t.dk);
    assert_eq!(hex::encode(kdf::pbkdf2_sha256(t.password, t.salt, t.iterations, want.len()).unwrap().as_slice()), t.dk);
}

#[test]
fn hkdf_sha256_rfc5869_case1() {
    let t = &v::HKDF_RFC5869_1;
    let out = kdf::hkdf_sha256(&h(t.ikm), &h(t.salt), &h(t.info), 42).unwrap();
    assert_eq!(hex::encode(out.as_slice()), t.okm);
}

#[test]
fn hkdf_sha256_rfc5869_case3_empty_salt_info() {
    let t = &v::HKDF_RFC5869_3;
    let out = kdf::hkdf_sha256(&h(t.ikm), &[], &[], 42).unwrap();
    assert_eq!(hex::encode(out.as_slice()), t.okm);
}

#[test]
fn kdf_refuses_bad_parameters() {
    assert!(matches!(kdf::pbkdf2_sha256(b"p", b"s", 0, 32), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(kdf::pbkdf2_sha256(b"p", b"s", 1, 0), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(kdf::hkdf_sha256(b"k", b"", b"", 0), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(kdf::hkdf_sha256(b"k", b"", b"", 255 * 32 + 1), Err(CryptoError::DataLenRange(_))));
    assert!(kdf::ct_eq(b"abc", b"abc"));
    assert!(!kdf::ct_eq(b"abc", b"abd"));
    assert!(!kdf::ct_eq(b"abc", b"ab"));
}

// ============================================================ ECDSA / ECDH

fn p256_key() -> ec::EcPrivateKey {
    ec::EcPrivateKey::from_scalar(Curve::P256, &h(v::P256_RFC6979_D)).unwrap()
}

#[test]
fn ecdsa_p256_rfc6979_public_key() {
    let k = p256_key();
    assert_eq!(hex::encode(k.public_point()), hex::encode(h(v::P256_RFC6979_Q)));
    assert_eq!(k.scalar().as_slice(), &h(v::P256_RFC6979_D)[..]);
    assert_eq!(k.curve(), Curve::P256);
    ec::validate_point(Curve::P256, &h(v::P256_RFC6979_Q)).unwrap();
}

#[test]
fn ecdsa_p256_rfc6979_verify_sample() {
    ec::verify(Curve::P256, &h(v::P256_RFC6979_Q), HashAlg::Sha256, b"sample", &h(v::P256_RFC6979_SAMPLE_SIG)).unwrap();
    let e = digest::digest(HashAlg::Sha256, b"sample");
    ec::verify_prehashed(Curve::P256, &h(v::P256_RFC6979_Q), &e, &h(v::P256_RFC6979_SAMPLE_SIG)).unwrap();
}

#[test]
fn ecdsa_p256_rfc6979_verify_test() {
    ec::verify(Curve::P256, &h(v::P256_RFC6979_Q), HashAlg::Sha256, b"test", &h(v::P256_RFC6979_TEST_SIG)).unwrap();
}

#[test]
fn ecdsa_p256_refuses_forgeries_and_bad_inputs() {
    let q = h(v::P256_RFC6979_Q);
    let sig = h(v::P256_RFC6979_SAMPLE_SIG);
    assert_eq!(ec::verify(Curve::P256, &q, HashAlg::Sha256, b"test", &sig), Err(CryptoError::InvalidSignature), "other message");
    for i in [0, 31, 32, 63] {
        assert_eq!(ec::verify(Curve::P256, &q, HashAlg::Sha256, b"sample", &flip(sig.clone(), i)), Err(CryptoError::InvalidSignature), "byte {i}");
    }
    assert!(matches!(ec::verify(Curve::P256, &q, HashAlg::Sha256, b"sample", &sig[..63]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(ec::verify(Curve::P256, &q, HashAlg::Sha256, b"sample", &[sig.clone(), vec![0]].concat()), Err(CryptoError::DataLenRange(_))));
    // r = 0 and s = 0 are never valid.
    let zero_r = [vec![0u8; 32], sig[32..].to_vec()].concat();
    assert_eq!(ec::verify(Curve::P256, &q, HashAlg::Sha256, b"sample", &zero_r), Err(CryptoError::InvalidSignature));
    // Points: off-curve, wrong length, compressed.
    assert!(matches!(ec::verify(Curve::P256, &flip(q.clone(), 64), HashAlg::Sha256, b"sample", &sig), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(ec::validate_point(Curve::P256, &q[..64]), Err(CryptoError::InvalidKey(_))));
    let mut compressed = vec![0x02 | (q[64] & 1)];
    compressed.extend_from_slice(&q[1..33]);
    assert!(matches!(ec::validate_point(Curve::P256, &compressed), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(ec::validate_point(Curve::P384, &q), Err(CryptoError::InvalidKey(_))));
    // Scalars: zero and the group order are refused.
    assert!(matches!(ec::EcPrivateKey::from_scalar(Curve::P256, &[0u8; 32]), Err(CryptoError::InvalidKey(_))));
    let n = h("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    assert!(matches!(ec::EcPrivateKey::from_scalar(Curve::P256, &n), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(ec::EcPrivateKey::from_scalar(Curve::P256, &[1u8; 33]), Err(CryptoError::InvalidKey(_))));
    // Hash lengths.
    assert!(matches!(p256_key().sign_prehashed(&[]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(p256_key().sign_prehashed(&[1u8; 65]), Err(CryptoError::DataLenRange(_))));
}

#[test]
fn ecdsa_pairwise_p256_and_p384() {
    for (curve, alg) in [(Curve::P256, HashAlg::Sha256), (Curve::P384, HashAlg::Sha384), (Curve::P256, HashAlg::Sha512)] {
        let k = ec::generate(curve).unwrap();
        let q = k.public_point();
        assert_eq!(q.len(), 1 + 2 * curve.scalar_len());
        let sig = k.sign(alg, b"pairwise").unwrap();
        assert_eq!(sig.len(), 2 * curve.scalar_len());
        ec::verify(curve, &q, alg, b"pairwise", &sig).unwrap();
        assert_eq!(ec::verify(curve, &q, alg, b"pairwisE", &sig), Err(CryptoError::InvalidSignature));
        // Randomized: two signatures differ, both verify.
        let sig2 = k.sign(alg, b"pairwise").unwrap();
        assert_ne!(sig, sig2);
        ec::verify(curve, &q, alg, b"pairwise", &sig2).unwrap();
        // Re-importing the scalar gives the same key.
        let k2 = ec::EcPrivateKey::from_scalar(curve, &k.scalar()).unwrap();
        assert_eq!(k2.public_point(), q);
    }
}

#[test]
fn ecdsa_der_conversion() {
    let rs = h(v::P256_RFC6979_SAMPLE_SIG);
    let der = ec::sig_rs_to_der(&rs);
    // Both r and s have the top bit set, so each INTEGER gets a leading 00.
    let want = [h("3046022100"), rs[..32].to_vec(), h("022100"), rs[32..].to_vec()].concat();
    assert_eq!(der, want);
    assert_eq!(ec::sig_der_to_rs(Curve::P256, &der).unwrap(), rs);
    // s of the "test" signature starts 01..: no padding, shorter DER.
    let rs2 = h(v::P256_RFC6979_TEST_SIG);
    let der2 = ec::sig_rs_to_der(&rs2);
    assert_eq!(&der2[..2], &[0x30, 0x45]);
    assert_eq!(ec::sig_der_to_rs(Curve::P256, &der2).unwrap(), rs2);
    // Short integers are left-padded back to 32 bytes.
    let small = [vec![0u8; 31], vec![5], vec![0u8; 30], vec![1, 2]].concat();
    assert_eq!(ec::sig_rs_to_der(&small), h("3007020105020201 02")[..].to_vec());
    assert_eq!(ec::sig_der_to_rs(Curve::P256, &ec::sig_rs_to_der(&small)).unwrap(), small);
    // Malformed DER is an error, not a panic.
    let bads: Vec<Vec<u8>> = vec![vec![], vec![0x30], vec![0x30, 0x03, 0x02, 0x01], der[..der.len() - 1].to_vec(), [der.clone(), vec![0]].concat()];
    for bad in bads {
        assert!(matches!(ec::sig_der_to_rs(Curve::P256, &bad), Err(CryptoError::InvalidInput(_))), "{bad:02x?}");
    }
}

#[test]
fn ecdh_p256_nist_cavs() {
    let k = ec::EcPrivateKey::from_scalar(Curve::P256, &h(v::P256_CDH_D)).unwrap();
    assert_eq!(hex::encode(k.ecdh(&h(v::P256_CDH_PEER)).unwrap().as_slice()), v::P256_CDH_Z);
}

#[test]
fn ecdh_pairwise_and_refusals() {
    for curve in [Curve::P256, Curve::P384] {
        let a = ec::generate(curve).unwrap();
        let b = ec::generate(curve).unwrap();
        let z1 = a.ecdh(&b.public_point()).unwrap();
        let z2 = b.ecdh(&a.public_point()).unwrap();
        assert_eq!(z1.as_slice(), z2.as_slice());
        assert_eq!(z1.len(), curve.scalar_len());
        let bad = flip(b.public_point(), 5);
        assert!(a.ecdh(&bad).is_err(), "off-curve peer point");
    }
    assert!(p256_key().ecdh(&h(v::P256_CDH_PEER)[..33]).is_err());
}

#[test]
fn ec_params_roundtrip() {
    for c in [Curve::P256, Curve::P384] {
        assert_eq!(Curve::from_ec_params(c.ec_params_der()), Some(c));
    }
    assert_eq!(Curve::from_ec_params(&[0x06, 0x03, 0x2b, 0x65, 0x70]), None);
}

// ============================================================ RSA

fn rsa_key() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs1_der(&h(v::RSA2048_PKCS1_DER)).unwrap()
}

#[test]
fn rsa_pkcs1v15_sha256_known_signature() {
    let k = rsa_key();
    assert_eq!(k.bits(), 2048);
    assert_eq!(k.public_exponent(), vec![1, 0, 1]);
    let sig = k.sign_pkcs1v15(HashAlg::Sha256, v::RSA_MSG).unwrap();
    assert_eq!(hex::encode(&sig), hex::encode(h(v::RSA2048_PKCS1V15_SHA256_SIG)));
    k.public_key().verify_pkcs1v15(HashAlg::Sha256, v::RSA_MSG, &sig).unwrap();
}

#[test]
fn rsa_pkcs1v15_raw_digestinfo_matches() {
    let k = rsa_key();
    let di = [h("3031300d060960864801650304020105000420"), digest::digest(HashAlg::Sha256, v::RSA_MSG)].concat();
    let sig = k.sign_pkcs1v15_raw(&di).unwrap();
    assert_eq!(sig, h(v::RSA2048_PKCS1V15_SHA256_SIG));
    k.public_key().verify_pkcs1v15_raw(&di, &sig).unwrap();
    assert_eq!(k.public_key().verify_pkcs1v15_raw(&flip(di.clone(), 40), &sig), Err(CryptoError::InvalidSignature));
    assert!(matches!(k.sign_pkcs1v15_raw(&[0u8; 246]), Err(CryptoError::DataLenRange(_))));
}

#[test]
fn rsa_pss_verifies_openssl_signature() {
    let k = rsa_key();
    k.public_key().verify_pss(HashAlg::Sha256, v::RSA_MSG, &h(v::RSA2048_PSS_SHA256_SIG), 32).unwrap();
    let e = digest::digest(HashAlg::Sha256, v::RSA_MSG);
    k.public_key().verify_pss_prehashed(HashAlg::Sha256, &e, &h(v::RSA2048_PSS_SHA256_SIG), 32).unwrap();
}

#[test]
fn rsa_pss_pairwise() {
    let k = rsa_key();
    let p = k.public_key();
    for alg in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
        let sig = k.sign_pss(alg, b"pss pairwise", alg.output_len()).unwrap();
        p.verify_pss(alg, b"pss pairwise", &sig, alg.output_len()).unwrap();
        assert_ne!(sig, k.sign_pss(alg, b"pss pairwise", alg.output_len()).unwrap(), "PSS is randomized");
        assert_eq!(p.verify_pss(alg, b"pss pairwisE", &sig, alg.output_len()), Err(CryptoError::InvalidSignature));
    }
}

#[test]
fn rsa_oaep_decrypts_openssl_ciphertext() {
    let pt = rsa_key().decrypt_oaep(HashAlg::Sha256, b"", &h(v::RSA2048_OAEP_SHA256_CT)).unwrap();
    assert_eq!(pt.as_slice(), v::RSA_OAEP_PT);
}

#[test]
fn rsa_oaep_pairwise_with_label() {
    let k = rsa_key();
    for alg in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
        let ct = k.public_key().encrypt_oaep(alg, b"label", b"secret").unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(k.decrypt_oaep(alg, b"label", &ct).unwrap().as_slice(), b"secret", "{}", alg.name());
        assert_eq!(k.decrypt_oaep(alg, b"other", &ct).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "{} label", alg.name());
    }
}

#[test]
fn rsa_refuses_forgeries_and_bad_inputs() {
    let k = rsa_key();
    let p = k.public_key();
    let sig = h(v::RSA2048_PKCS1V15_SHA256_SIG);
    for i in [0, 100, 255] {
        assert_eq!(p.verify_pkcs1v15(HashAlg::Sha256, v::RSA_MSG, &flip(sig.clone(), i)), Err(CryptoError::InvalidSignature), "byte {i}");
    }
    assert_eq!(p.verify_pkcs1v15(HashAlg::Sha256, b"abd", &sig), Err(CryptoError::InvalidSignature));
    assert_eq!(p.verify_pkcs1v15(HashAlg::Sha384, v::RSA_MSG, &sig), Err(CryptoError::InvalidSignature));
    assert!(matches!(p.verify_pkcs1v15(HashAlg::Sha256, v::RSA_MSG, &sig[1..]), Err(CryptoError::DataLenRange(_))));
    let pss = h(v::RSA2048_PSS_SHA256_SIG);
    assert_eq!(p.verify_pss(HashAlg::Sha256, v::RSA_MSG, &flip(pss, 7), 32), Err(CryptoError::InvalidSignature));
    // OAEP: corrupted, wrong length, too-long plaintext.
    let ct = h(v::RSA2048_OAEP_SHA256_CT);
    assert_eq!(k.decrypt_oaep(HashAlg::Sha256, b"", &flip(ct.clone(), 9)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    assert_eq!(k.decrypt_oaep(HashAlg::Sha1, b"", &ct).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    assert!(matches!(k.decrypt_oaep(HashAlg::Sha256, b"", &ct[1..]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(p.encrypt_oaep(HashAlg::Sha256, b"", &[0u8; 256 - 2 * 32 - 1]), Err(CryptoError::DataLenRange(_))));
    assert!(p.encrypt_oaep(HashAlg::Sha256, b"", &[0u8; 256 - 2 * 32 - 2]).is_ok());
    // Keys.
    let der = h(v::RSA2048_PKCS1_DER);
    assert!(matches!(rsa::RsaPrivateKey::from_pkcs1_der(&der[..der.len() - 1]), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(rsa::RsaPrivateKey::from_pkcs1_der(b"not DER"), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(rsa::RsaPublicKey::from_components(&[0xff; 128], &[1, 0, 1]), Err(CryptoError::InvalidKey(_))));
}

#[test]
fn rsa_key_encodings_roundtrip() {
    let der = h(v::RSA2048_PKCS1_DER);
    let k = rsa_key();
    assert_eq!(k.to_pkcs1_der().unwrap().as_slice(), &der[..]);
    let c = k.components().unwrap();
    assert_eq!(c.n, k.modulus());
    let k2 = rsa::RsaPrivateKey::from_components(&c).unwrap();
    assert_eq!(k2.to_pkcs1_der().unwrap().as_slice(), &der[..]);
    assert_eq!(k2.sign_pkcs1v15(HashAlg::Sha256, v::RSA_MSG).unwrap(), h(v::RSA2048_PKCS1V15_SHA256_SIG));
    // Inconsistent components are refused.
    let mut bad = k.components().unwrap();
    bad.d = flip(bad.d.clone(), 100);
    assert!(matches!(rsa::RsaPrivateKey::from_components(&bad), Err(CryptoError::InvalidKey(_))));
    // Public key DER roundtrip.
    let p = k.public_key();
    let p2 = rsa::RsaPublicKey::from_pkcs1_der(&p.to_pkcs1_der()).unwrap();
    assert_eq!(p2.modulus(), k.modulus());
    p2.verify_pkcs1v15(HashAlg::Sha256, v::RSA_MSG, &h(v::RSA2048_PKCS1V15_SHA256_SIG)).unwrap();
}

// ============================================================ SM2

fn sm2_key() -> sm2::Sm2PrivateKey {
    sm2::Sm2PrivateKey::from_scalar(&h(v::SM2_D)).unwrap()
}

#[test]
fn sm2_gbt32918_5_public_key_and_z() {
    let k = sm2_key();
    assert_eq!(hex::encode(k.public_point()), hex::encode(h(v::SM2_Q)));
    assert_eq!(k.scalar().as_slice(), &h(v::SM2_D)[..]);
    let z = sm2::compute_z(&h(v::SM2_Q), sm2::DEFAULT_USER_ID).unwrap();
    assert_eq!(hex::encode(z), hex::encode(h(v::SM2_SIGN_Z)));
    // e = SM3(Z || M)
    let e = digest::digest(HashAlg::Sm3, &[&z[..], v::SM2_SIGN_MSG].concat());
    assert_eq!(hex::encode(e), hex::encode(h(v::SM2_SIGN_E)));
}

#[test]
fn sm2_gbt32918_5_signature_with_published_k() {
    let rs = sm2_key().sign_prehashed_with_k(&h(v::SM2_SIGN_E), &h(v::SM2_SIGN_K)).unwrap();
    assert_eq!(hex::encode(rs), hex::encode(h(v::SM2_SIGN_RS)));
}

#[test]
fn sm2_gbt32918_5_verify_published_signature() {
    sm2::verify(&h(v::SM2_Q), sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &h(v::SM2_SIGN_RS)).unwrap();
    sm2::verify_prehashed(&h(v::SM2_Q), &h(v::SM2_SIGN_E), &h(v::SM2_SIGN_RS)).unwrap();
}

#[test]
fn sm2_refuses_forgeries_and_bad_inputs() {
    let q = h(v::SM2_Q);
    let rs = h(v::SM2_SIGN_RS);
    assert_eq!(sm2::verify(&q, b"1234567812345679", v::SM2_SIGN_MSG, &rs), Err(CryptoError::InvalidSignature), "other ID");
    assert_eq!(sm2::verify(&q, sm2::DEFAULT_USER_ID, b"message digesT", &rs), Err(CryptoError::InvalidSignature), "other message");
    for i in [0, 31, 32, 63] {
        assert_eq!(sm2::verify(&q, sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &flip(rs.clone(), i)), Err(CryptoError::InvalidSignature), "byte {i}");
    }
    assert!(matches!(sm2::verify(&q, sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &rs[..63]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sm2::verify_prehashed(&q, &h(v::SM2_SIGN_E)[..31], &rs), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sm2_key().sign_prehashed(&[0u8; 20]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(sm2::verify(&flip(q.clone(), 40), sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &rs), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(sm2::verify(&q[..64], sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &rs), Err(CryptoError::InvalidKey(_))));
    // Private scalars: 0, n-1 and n are not keys (GB/T 32918.1: d in [1, n-2]).
    let n = h("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123");
    let mut n1 = n.clone();
    n1[31] -= 1;
    let mut n2 = n.clone();
    n2[31] -= 2;
    for bad in [vec![0u8; 32], n1, n.clone(), vec![1u8; 31]] {
        assert!(matches!(sm2::Sm2PrivateKey::from_scalar(&bad), Err(CryptoError::InvalidKey(_))), "{}", hex::encode(&bad));
    }
    assert!(sm2::Sm2PrivateKey::from_scalar(&n2).is_ok(), "n-2 is the largest key");
}

#[test]
fn sm2_sign_pairwise_with_ids() {
    let k = sm2::generate().unwrap();
    let q = k.public_point();
    for id in [sm2::DEFAULT_USER_ID, b"ALICE123@YAHOO.COM".as_slice(), b"", &[0xffu8, 0x00, 0x80][..]] {
        let sig = k.sign(id, b"pairwise").unwrap();
        assert_eq!(sig.len(), 64);
        sm2::verify(&q, id, b"pairwise", &sig).unwrap();
        assert_eq!(sm2::verify(&q, b"someone else", b"pairwise", &sig), Err(CryptoError::InvalidSignature));
    }
    let s1 = k.sign(sm2::DEFAULT_USER_ID, b"m").unwrap();
    let s2 = k.sign(sm2::DEFAULT_USER_ID, b"m").unwrap();
    assert_ne!(s1, s2, "SM2 signing is randomized");
}

#[test]
fn sm2_gbt32918_5_decrypt_published_ciphertext() {
    let pt = sm2_key().decrypt(&h(v::SM2_ENC_C1C3C2)).unwrap();
    assert_eq!(pt.as_slice(), v::SM2_ENC_PT);
}

#[test]
fn sm2_ciphertext_der_conversion() {
    let raw = h(v::SM2_ENC_C1C3C2);
    let der = h(v::SM2_ENC_DER);
    assert_eq!(hex::encode(sm2::ciphertext_to_der(&raw).unwrap()), hex::encode(&der));
    assert_eq!(hex::encode(sm2::ciphertext_from_der(&der).unwrap()), hex::encode(&raw));
    assert!(matches!(sm2::ciphertext_from_der(&der[..der.len() - 1]), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sm2::ciphertext_from_der(b""), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(sm2::ciphertext_to_der(&raw[..90]), Err(CryptoError::InvalidInput(_))));
}

#[test]
fn sm2_encrypt_pairwise_and_refusals() {
    let k = sm2::generate().unwrap();
    for pt in [&b"x"[..], b"encryption standard", &[0xa5u8; 1000][..]] {
        let ct = sm2::encrypt(&k.public_point(), pt).unwrap();
        assert_eq!(ct.len(), 65 + 32 + pt.len());
        assert_eq!(ct[0], 0x04);
        assert_eq!(k.decrypt(&ct).unwrap().as_slice(), pt);
        assert_ne!(ct, sm2::encrypt(&k.public_point(), pt).unwrap(), "randomized");
        // C3 (bytes 65..97) and C2 (after) are both authenticated.
        assert_eq!(k.decrypt(&flip(ct.clone(), 70)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "C3");
        assert_eq!(k.decrypt(&flip(ct.clone(), ct.len() - 1)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "C2");
        assert_eq!(sm2_key().decrypt(&ct).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "wrong key");
    }
    assert!(matches!(sm2::encrypt(&k.public_point(), b""), Err(CryptoError::DataLenRange(_))));
    assert_eq!(k.decrypt(&[0x04; 97]).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    assert_eq!(k.decrypt(&[]).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    let published = h(v::SM2_ENC_C1C3C2);
    assert_eq!(sm2_key().decrypt(&flip(published, 1)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "C1 off the curve");
}

// ============================================================ ML-KEM

fn mlkem_kat(t: &v::MlKemDecapVector) {
    let dk_bytes = h(t.dk);
    let dk = mlkem::MlKemPrivateKey::from_bytes(t.param, &dk_bytes).unwrap();
    assert_eq!(dk.param(), t.param);
    assert_eq!(hex::encode(dk.decapsulate(&h(t.c)).unwrap().as_slice()), hex::encode(h(t.k)), "{}", t.name);
    assert_eq!(dk.to_bytes().unwrap().as_slice(), &dk_bytes[..], "{} to_bytes", t.name);
}

fn mlkem_by_name(name: &str) {
    mlkem_kat(find(v::MLKEM_DECAPS, |t| t.name, name));
}

#[test]
fn mlkem512_acvp_decaps_tc1() {
    mlkem_by_name("ML-KEM-512 decapsulation (ACVP tcId 1)");
}
#[test]
fn mlkem768_acvp_decaps_tc26() {
    mlkem_kat(&v::MLKEM768_ACVP_26);
}
#[test]
fn mlkem1024_acvp_decaps_tc51() {
    mlkem_by_name("ML-KEM-1024 decapsulation (ACVP tcId 51)");
}

fn k_of(p: MlKemParam) -> usize {
    match p {
        MlKemParam::MlKem512 => 2,
        MlKemParam::MlKem768 => 3,
        MlKemParam::MlKem1024 => 4,
    }
}

/// The encapsulation key of an imported dk is the ek embedded in it (FIPS 203:
/// dk = dk_pke || ek || H(ek) || z).
#[test]
fn mlkem_public_key_of_imported_dk() {
    for t in v::MLKEM_DECAPS {
        let dk_bytes = h(t.dk);
        let k = k_of(t.param);
        let ek = &dk_bytes[384 * k..384 * k + t.param.public_key_len()];
        let dk = mlkem::MlKemPrivateKey::from_bytes(t.param, &dk_bytes).unwrap();
        assert_eq!(dk.public_key().map(hex::encode), Ok(hex::encode(ek)), "{}", t.name);
    }
}

#[test]
fn mlkem_implicit_rejection() {
    let t = &v::MLKEM768_ACVP_26;
    let dk = mlkem::MlKemPrivateKey::from_bytes(t.param, &h(t.dk)).unwrap();
    let c = h(t.c);
    let good = dk.decapsulate(&c).unwrap();
    let bad1 = dk.decapsulate(&flip(c.clone(), 0)).expect("a modified ciphertext still decapsulates");
    let bad2 = dk.decapsulate(&flip(c.clone(), 0)).unwrap();
    assert_ne!(good.as_slice(), bad1.as_slice());
    assert_eq!(bad1.as_slice(), bad2.as_slice(), "implicit rejection is deterministic");
    assert_eq!(bad1.len(), 32);
}

#[test]
fn mlkem_pairwise_all_parameter_sets() {
    for p in [MlKemParam::MlKem512, MlKemParam::MlKem768, MlKemParam::MlKem1024] {
        let dk = mlkem::generate(p).unwrap();
        let ek = dk.public_key().unwrap();
        assert_eq!(ek.len(), p.public_key_len());
        let (ct, ss) = mlkem::encapsulate(p, &ek).unwrap();
        assert_eq!(ct.len(), p.ciphertext_len());
        assert_eq!(ss.len(), 32);
        assert_eq!(dk.decapsulate(&ct).unwrap().as_slice(), ss.as_slice(), "{}", p.name());
        // Export and re-import keeps the key.
        let again = mlkem::MlKemPrivateKey::from_bytes(p, &dk.to_bytes().unwrap()).unwrap();
        assert_eq!(again.decapsulate(&ct).unwrap().as_slice(), ss.as_slice());
    }
}

#[test]
fn mlkem_refuses_bad_lengths_and_keys() {
    let t = &v::MLKEM768_ACVP_26;
    let dk_bytes = h(t.dk);
    let dk = mlkem::MlKemPrivateKey::from_bytes(t.param, &dk_bytes).unwrap();
    let c = h(t.c);
    assert!(matches!(dk.decapsulate(&c[1..]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(dk.decapsulate(&[c.clone(), vec![0]].concat()), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(dk.decapsulate(&[]), Err(CryptoError::DataLenRange(_))));
    // Wrong length and a dk whose H(ek) does not match (FIPS 203 7.3 check).
    assert!(matches!(mlkem::MlKemPrivateKey::from_bytes(t.param, &dk_bytes[1..]), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mlkem::MlKemPrivateKey::from_bytes(MlKemParam::MlKem512, &dk_bytes), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mlkem::MlKemPrivateKey::from_bytes(t.param, &flip(dk_bytes.clone(), 1200)), Err(CryptoError::InvalidKey(_))));
    let ek = &dk_bytes[1152..1152 + 1184];
    assert!(matches!(mlkem::encapsulate(t.param, &ek[1..]), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mlkem::encapsulate(MlKemParam::MlKem1024, ek), Err(CryptoError::InvalidKey(_))));
    // An ek whose coefficients are not reduced mod q (FIPS 203 7.2 check): all-ones bytes.
    let r = mlkem::encapsulate(t.param, &vec![0xffu8; 1184]);
    assert!(matches!(r, Err(CryptoError::InvalidKey(_))), "{:?}", r.map(|(c, _)| c.len()));
}

// ============================================================ ML-DSA

fn mldsa_keygen_kat(t: &v::MlDsaKeyGenVector) {
    let k = mldsa::MlDsaPrivateKey::from_seed(t.param, &h(t.seed)).unwrap();
    assert_eq!(k.param(), t.param);
    assert_eq!(hex::encode(k.public_key()), hex::encode(h(t.pk)), "{}", t.name);
    assert_eq!(k.seed().unwrap().as_slice(), &h(t.seed)[..]);
}

#[test]
fn mldsa44_acvp_keygen_tc1() {
    mldsa_keygen_kat(find(v::MLDSA_KEYGEN, |t| t.name, "ML-DSA-44 keyGen (ACVP tcId 1)"));
}
#[test]
fn mldsa65_acvp_keygen_tc26() {
    mldsa_keygen_kat(&v::MLDSA65_ACVP_KEYGEN_26);
}
#[test]
fn mldsa87_acvp_keygen_tc51() {
    mldsa_keygen_kat(find(v::MLDSA_KEYGEN, |t| t.name, "ML-DSA-87 keyGen (ACVP tcId 51)"));
}

#[test]
fn mldsa65_wycheproof_verify_tc1() {
    let t = &v::MLDSA65_WYCHEPROOF_VERIFY_1;
    mldsa::verify(t.param, &h(t.pk), t.msg, &h(t.sig)).unwrap();
}

#[test]
fn mldsa_refuses_forgeries_and_bad_lengths() {
    let t = &v::MLDSA65_WYCHEPROOF_VERIFY_1;
    let (pk, sig) = (h(t.pk), h(t.sig));
    for i in [0, 100, 2000, sig.len() - 20] {
        assert_eq!(mldsa::verify(t.param, &pk, t.msg, &flip(sig.clone(), i)), Err(CryptoError::InvalidSignature), "byte {i}");
    }
    assert_eq!(mldsa::verify(t.param, &pk, b"Hello world!", &sig), Err(CryptoError::InvalidSignature));
    assert_eq!(mldsa::verify(t.param, &flip(pk.clone(), 50), t.msg, &sig), Err(CryptoError::InvalidSignature));
    assert!(matches!(mldsa::verify(t.param, &pk, t.msg, &sig[1..]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(mldsa::verify(t.param, &pk[1..], t.msg, &sig), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mldsa::verify(MlDsaParam::MlDsa44, &pk, t.msg, &sig), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mldsa::MlDsaPrivateKey::from_seed(t.param, &[0u8; 31]), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(mldsa::MlDsaPrivateKey::from_raw_private(t.param, &[0u8; 100]), Err(CryptoError::InvalidKey(_))));
}

#[test]
fn mldsa_pairwise_all_parameter_sets() {
    for p in [MlDsaParam::MlDsa44, MlDsaParam::MlDsa65, MlDsaParam::MlDsa87] {
        let k = mldsa::generate(p).unwrap();
        let pk = k.public_key();
        assert_eq!(pk.len(), p.public_key_len());
        let sig = k.sign(b"pairwise").unwrap();
        assert_eq!(sig.len(), p.signature_len());
        mldsa::verify(p, &pk, b"pairwise", &sig).unwrap();
        assert_eq!(mldsa::verify(p, &pk, b"pairwisE", &sig), Err(CryptoError::InvalidSignature));
        assert_ne!(sig, k.sign(b"pairwise").unwrap(), "hedged signing");
        // The seed regenerates the key; the expanded key signs for the same public key.
        let again = mldsa::MlDsaPrivateKey::from_seed(p, &k.seed().unwrap()).unwrap();
        assert_eq!(again.public_key(), pk);
        let raw = mldsa::MlDsaPrivateKey::from_raw_private(p, &k.raw_private().unwrap()).unwrap();
        assert_eq!(raw.public_key(), pk);
        assert!(raw.seed().is_none());
        mldsa::verify(p, &pk, b"from raw", &raw.sign(b"from raw").unwrap()).unwrap();
    }
}

// ============================================================ RNG and keys

#[test]
fn rng_health_and_generate_key() {
    teehsm_crypto::rng::health_check().unwrap();
    let a = sym::generate_key(32).unwrap();
    let b = sym::generate_key(32).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a.as_slice(), b.as_slice());
    assert!(matches!(sym::generate_key(0), Err(CryptoError::DataLenRange(_))));
    let mut buf = [0u8; 64];
    teehsm_crypto::rng::fill(&mut buf).unwrap();
    assert!(buf.iter().any(|&x| x != 0));
}

// ============================================================ RSA: SHA-1/224, other PSS parameters, PKCS#1 v1.5 encryption

#[test]
fn rsa_pkcs1v15_sha1_and_sha224_known_signatures() {
    let k = rsa_key();
    let p = k.public_key();
    for (alg, want) in [(HashAlg::Sha1, v::RSA2048_PKCS1V15_SHA1_SIG), (HashAlg::Sha224, v::RSA2048_PKCS1V15_SHA224_SIG)] {
        let sig = k.sign_pkcs1v15(alg, v::RSA_MSG).unwrap();
        assert_eq!(hex::encode(&sig), hex::encode(h(want)), "{}", alg.name());
        p.verify_pkcs1v15(alg, v::RSA_MSG, &sig).unwrap();
        assert_eq!(p.verify_pkcs1v15(alg, b"abd", &sig), Err(CryptoError::InvalidSignature));
        assert_eq!(p.verify_pkcs1v15(alg, v::RSA_MSG, &flip(sig.clone(), 17)), Err(CryptoError::InvalidSignature));
        // Raw CKM_RSA_PKCS over the DigestInfo gives the same bytes.
        let di = rsa::digest_info(alg, &digest::digest(alg, v::RSA_MSG)).unwrap();
        assert_eq!(k.sign_pkcs1v15_raw(&di).unwrap(), sig);
        p.verify_pkcs1v15_raw(&di, &sig).unwrap();
    }
}

#[test]
fn rsa_pkcs1v15_raw_signs_any_block_up_to_k_minus_11() {
    let k = rsa_key();
    let p = k.public_key();
    for len in [0usize, 1, 3, 100, 245] {
        let data: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
        let sig = k.sign_pkcs1v15_raw(&data).unwrap();
        assert_eq!(sig.len(), 256);
        p.verify_pkcs1v15_raw(&data, &sig).unwrap();
        // Deterministic, and bound to the exact bytes.
        assert_eq!(sig, k.sign_pkcs1v15_raw(&data).unwrap());
        let mut other = data.clone();
        other.push(0);
        assert_eq!(p.verify_pkcs1v15_raw(&other, &sig), Err(CryptoError::InvalidSignature));
    }
    assert!(matches!(k.sign_pkcs1v15_raw(&[1u8; 246]), Err(CryptoError::DataLenRange(_))));
}

#[test]
fn rsa_pss_other_hashes_salts_and_mgf_verify_openssl() {
    let p = rsa_key().public_key();
    let e1 = digest::digest(HashAlg::Sha1, v::RSA_MSG);
    p.verify_pss_mgf1_prehashed(HashAlg::Sha1, HashAlg::Sha1, &e1, &h(v::RSA2048_PSS_SHA1_S20_SIG), 20).unwrap();
    p.verify_pss(HashAlg::Sha1, v::RSA_MSG, &h(v::RSA2048_PSS_SHA1_S20_SIG), 20).unwrap();
    let e256 = digest::digest(HashAlg::Sha256, v::RSA_MSG);
    let s0 = h(v::RSA2048_PSS_SHA256_MGF1SHA1_S0_SIG);
    p.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha1, &e256, &s0, 0).unwrap();
    // The wrong MGF hash, salt length or message is refused.
    assert_eq!(p.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha256, &e256, &s0, 0), Err(CryptoError::InvalidSignature));
    assert_eq!(p.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha1, &e256, &s0, 32), Err(CryptoError::InvalidSignature));
    assert_eq!(p.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha1, &e1.repeat(2)[..32], &s0, 0), Err(CryptoError::InvalidSignature));
}

#[test]
fn rsa_pss_pairwise_any_salt_and_mgf() {
    let k = rsa_key();
    let p = k.public_key();
    for (alg, mgf, salt) in [
        (HashAlg::Sha1, HashAlg::Sha1, 20usize),
        (HashAlg::Sha224, HashAlg::Sha224, 28),
        (HashAlg::Sha256, HashAlg::Sha256, 0),
        (HashAlg::Sha256, HashAlg::Sha256, 20),
        (HashAlg::Sha256, HashAlg::Sha512, 32),
        (HashAlg::Sha512, HashAlg::Sha1, 190),
    ] {
        let e = digest::digest(alg, b"pss params");
        let sig = k.sign_pss_mgf1_prehashed(alg, mgf, &e, salt).unwrap();
        p.verify_pss_mgf1_prehashed(alg, mgf, &e, &sig, salt).unwrap();
        if salt > 0 {
            assert_ne!(sig, k.sign_pss_mgf1_prehashed(alg, mgf, &e, salt).unwrap(), "PSS with a salt is randomized");
        } else {
            assert_eq!(sig, k.sign_pss_mgf1_prehashed(alg, mgf, &e, salt).unwrap(), "PSS without a salt is deterministic");
        }
    }
    // A salt that does not fit the modulus: 64 + 191 + 2 > 256.
    let e = digest::digest(HashAlg::Sha512, b"x");
    assert!(matches!(k.sign_pss_mgf1_prehashed(HashAlg::Sha512, HashAlg::Sha512, &e, 191), Err(CryptoError::Unsupported(_))));
    assert!(matches!(k.sign_pss_mgf1_prehashed(HashAlg::Sha512, HashAlg::Sha512, &e[..10], 64), Err(CryptoError::DataLenRange(_))));
}

#[test]
fn rsa_pkcs1v15_decrypts_openssl_ciphertext_and_round_trips() {
    let k = rsa_key();
    let ct = h(v::RSA2048_PKCS1V15_CT);
    assert_eq!(k.decrypt_pkcs1v15(&ct).unwrap().as_slice(), v::RSA_ENC_PT);
    // Every corruption is the same error; the wrong length is a length error.
    for i in [0usize, 1, 50, 255] {
        assert_eq!(k.decrypt_pkcs1v15(&flip(ct.clone(), i)).map(|_| ()), Err(CryptoError::EncryptedDataInvalid), "byte {i}");
    }
    assert!(matches!(k.decrypt_pkcs1v15(&ct[1..]), Err(CryptoError::DataLenRange(_))));
    let p = k.public_key();
    for len in [0usize, 1, 32, 245] {
        let pt = vec![0xc3u8; len];
        let c1 = p.encrypt_pkcs1v15(&pt).unwrap();
        assert_eq!(c1.len(), 256);
        assert_ne!(c1, p.encrypt_pkcs1v15(&pt).unwrap(), "PKCS#1 v1.5 encryption is randomized");
        assert_eq!(k.decrypt_pkcs1v15(&c1).unwrap().as_slice(), &pt[..]);
    }
    assert!(matches!(p.encrypt_pkcs1v15(&[0u8; 246]), Err(CryptoError::DataLenRange(_))));
}

#[test]
fn rsa_oaep_sha224_with_label_decrypts_openssl_ciphertext() {
    let k = rsa_key();
    let ct = h(v::RSA2048_OAEP_SHA224_LABEL_CT);
    let pt = k.decrypt_oaep_mgf1(HashAlg::Sha224, HashAlg::Sha224, v::RSA_OAEP_LABEL, &ct).unwrap();
    assert_eq!(pt.as_slice(), v::RSA_ENC_PT);
    for (hh, mgf, label) in [
        (HashAlg::Sha224, HashAlg::Sha224, &b"other"[..]),
        (HashAlg::Sha224, HashAlg::Sha256, v::RSA_OAEP_LABEL),
        (HashAlg::Sha256, HashAlg::Sha224, v::RSA_OAEP_LABEL),
    ] {
        assert_eq!(k.decrypt_oaep_mgf1(hh, mgf, label, &ct).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
    }
}

#[test]
fn rsa_oaep_pairwise_every_hash_and_mgf() {
    let k = rsa_key();
    let p = k.public_key();
    let all = [HashAlg::Sha1, HashAlg::Sha224, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];
    for hh in all {
        for mgf in all {
            for label in [&b""[..], &b"L"[..]] {
                let max = 256 - 2 * hh.output_len() - 2;
                let pt = vec![0x42u8; max];
                let ct = p.encrypt_oaep_mgf1(hh, mgf, label, &pt).unwrap();
                assert_eq!(k.decrypt_oaep_mgf1(hh, mgf, label, &ct).unwrap().as_slice(), &pt[..], "{} / MGF1-{}", hh.name(), mgf.name());
                assert!(matches!(p.encrypt_oaep_mgf1(hh, mgf, label, &vec![0u8; max + 1]), Err(CryptoError::DataLenRange(_))));
            }
        }
    }
}

// ============================================================ Ed25519 (RFC 8032)

#[test]
fn ed25519_rfc8032_vectors() {
    use teehsm_crypto::eddsa;
    for t in v::EDDSA {
        let k = eddsa::Ed25519PrivateKey::from_seed(&h(t.secret)).unwrap();
        assert_eq!(hex::encode(k.public_key()), t.public, "{} public key", t.name);
        let (msg, ctx) = (h(t.msg), h(t.context));
        let sig = k.sign(t.variant, &ctx, &msg).unwrap();
        assert_eq!(hex::encode(&sig), t.sig, "{}", t.name);
        eddsa::verify(&h(t.public), t.variant, &ctx, &msg, &sig).unwrap();
        assert_eq!(
            eddsa::verify(&h(t.public), t.variant, &ctx, &[msg.clone(), vec![0]].concat(), &sig),
            Err(CryptoError::InvalidSignature),
            "{}",
            t.name
        );
        assert_eq!(eddsa::verify(&h(t.public), t.variant, &ctx, &msg, &flip(sig.clone(), 40)), Err(CryptoError::InvalidSignature), "{}", t.name);
        // A signature of one variant never verifies as another.
        for other in [eddsa::Ed25519Variant::Pure, eddsa::Ed25519Variant::Ctx, eddsa::Ed25519Variant::Ph] {
            if other != t.variant {
                let c = if other == eddsa::Ed25519Variant::Ctx { b"foo".to_vec() } else { vec![] };
                assert!(eddsa::verify(&h(t.public), other, &c, &msg, &sig).is_err(), "{} as {other:?}", t.name);
            }
        }
    }
}

#[test]
fn ed25519_refuses_bad_inputs() {
    use teehsm_crypto::eddsa::{self, Ed25519Variant as V};
    let t = &v::ED25519_RFC8032_TEST2;
    let k = eddsa::Ed25519PrivateKey::from_seed(&h(t.secret)).unwrap();
    assert!(matches!(eddsa::Ed25519PrivateKey::from_seed(&[1; 31]), Err(CryptoError::InvalidKey(_))));
    assert!(matches!(k.sign(V::Pure, b"ctx", b"m"), Err(CryptoError::Unsupported(_))), "pure Ed25519 has no context");
    assert!(matches!(k.sign(V::Ctx, b"", b"m"), Err(CryptoError::Unsupported(_))), "Ed25519ctx needs a context");
    assert!(matches!(k.sign(V::Ph, &[0; 256], b"m"), Err(CryptoError::Unsupported(_))));
    let sig = k.sign(V::Pure, b"", b"m").unwrap();
    assert!(matches!(eddsa::verify(&h(t.public), V::Pure, b"", b"m", &sig[..63]), Err(CryptoError::DataLenRange(_))));
    assert!(matches!(eddsa::verify(&h(t.public)[..31], V::Pure, b"", b"m", &sig), Err(CryptoError::InvalidKey(_))));
    // Fresh keys sign and verify.
    let g = eddsa::generate().unwrap();
    let s = g.sign(V::Ph, b"c", b"fresh").unwrap();
    eddsa::verify(&g.public_key(), V::Ph, b"c", b"fresh", &s).unwrap();
    assert_eq!(eddsa::Ed25519PrivateKey::from_seed(&g.seed()).unwrap().public_key(), g.public_key());
}

// ============================================================ Ed448 (RFC 8032 7.4, 7.5)

#[test]
fn ed448_rfc8032_vectors() {
    use teehsm_crypto::eddsa::{self, Ed448Variant as V};
    assert_eq!(v::ED448.len(), 11, "9 Ed448 (7.4) + 2 Ed448ph (7.5)");
    for t in v::ED448 {
        let k = eddsa::Ed448PrivateKey::from_seed(&h(t.secret)).unwrap();
        assert_eq!(hex::encode(k.public_key()), t.public, "{} public key", t.name);
        let (public, msg, ctx) = (h(t.public), h(t.msg), h(t.context));
        let sig = k.sign(t.variant, &ctx, &msg).unwrap();
        assert_eq!(hex::encode(&sig), t.sig, "{}", t.name);
        eddsa::verify_ed448(&public, t.variant, &ctx, &msg, &sig).unwrap();
        // Another message, a flipped bit in R or in S, another context: refused.
        let bad = Err(CryptoError::InvalidSignature);
        assert_eq!(eddsa::verify_ed448(&public, t.variant, &ctx, &[msg.clone(), vec![0]].concat(), &sig), bad, "{}", t.name);
        for i in [0, 30, 57, 90, 113] {
            assert_eq!(eddsa::verify_ed448(&public, t.variant, &ctx, &msg, &flip(sig.clone(), i)), bad, "{} byte {i}", t.name);
        }
        assert_eq!(eddsa::verify_ed448(&public, t.variant, b"bar", &msg, &sig), bad, "{}", t.name);
        // A signature of one variant never verifies as the other.
        let other = if t.variant == V::Pure { V::Ph } else { V::Pure };
        assert_eq!(eddsa::verify_ed448(&public, other, &ctx, &msg, &sig), bad, "{} as {other:?}", t.name);
        // Another (valid) public key.
        let other_key = eddsa::Ed448PrivateKey::from_seed(&[7; 57]).unwrap().public_key();
        assert_eq!(eddsa::verify_ed448(&other_key, t.variant, &ctx, &msg, &sig), bad, "{}", t.name);
    }
}

#[test]
fn ed448_refuses_bad_inputs() {
    use teehsm_crypto::eddsa::{self, Ed448Variant as V};
    let t = v::ED448_SELFTEST;
    let k = eddsa::Ed448PrivateKey::from_seed(&h(t.secret)).unwrap();
    let public = h(t.public);
    for len in [0, 32, 56, 58, 114] {
        assert!(matches!(eddsa::Ed448PrivateKey::from_seed(&vec![1; len]), Err(CryptoError::InvalidKey(_))), "{len}-byte seed");
    }
    for v in [V::Pure, V::Ph] {
        assert!(matches!(k.sign(v, &[0; 256], b"m"), Err(CryptoError::Unsupported(_))), "256-byte context");
        let sig = k.sign(v, &[0x5a; 255], b"m").unwrap();
        assert_eq!(sig.len(), eddsa::ED448_SIGNATURE_LEN);
        eddsa::verify_ed448(&public, v, &[0x5a; 255], b"m", &sig).unwrap();
        assert!(matches!(eddsa::verify_ed448(&public, v, &[0x5a; 256], b"m", &sig), Err(CryptoError::Unsupported(_))));
        // Wrong signature lengths, including an Ed25519-sized one.
        for len in [0, 64, 113, 115] {
            let s = [sig.clone(), vec![0; 2]].concat();
            assert!(
                matches!(eddsa::verify_ed448(&public, v, &[0x5a; 255], b"m", &s[..len]), Err(CryptoError::DataLenRange(_))),
                "{len}-byte signature"
            );
        }
        // Malformed public keys: wrong length, not a point, the identity.
        assert!(matches!(eddsa::verify_ed448(&public[..56], v, b"", b"m", &sig), Err(CryptoError::InvalidKey(_))));
        assert!(matches!(eddsa::verify_ed448(&[public.clone(), vec![0]].concat(), v, b"", b"m", &sig), Err(CryptoError::InvalidKey(_))));
        let mut two = [0u8; 57];
        two[0] = 2; // y = 2 is not on the curve
        assert!(matches!(eddsa::verify_ed448(&two, v, b"", b"m", &sig), Err(CryptoError::InvalidKey(_))));
        let mut identity = [0u8; 57];
        identity[0] = 1;
        assert!(matches!(eddsa::verify_ed448(&identity, v, b"", b"m", &sig), Err(CryptoError::InvalidKey(_))));
        // All-zero and all-ones signatures are invalid, not errors of another kind.
        for fill in [0u8, 0xff] {
            assert_eq!(eddsa::verify_ed448(&public, v, b"", b"m", &[fill; 114]), Err(CryptoError::InvalidSignature));
        }
    }
    assert!(eddsa::validate_ed448_public(&public).is_ok());
    assert!(eddsa::validate_ed448_public(&public[..32]).is_err());
    // Fresh keys sign and verify; the seed round-trips.
    let g = eddsa::generate_ed448().unwrap();
    for v in [V::Pure, V::Ph] {
        let s = g.sign(v, b"c", b"fresh").unwrap();
        eddsa::verify_ed448(&g.public_key(), v, b"c", b"fresh", &s).unwrap();
    }
    assert_eq!(eddsa::Ed448PrivateKey::from_seed(&g.seed()).unwrap().public_key(), g.public_key());
    assert_ne!(eddsa::generate_ed448().unwrap().public_key(), g.public_key());
}

// ============================================================ ML-DSA: contexts, deterministic, HashML-DSA

#[test]
fn mldsa_deterministic_wycheproof_sign_seed_vector() {
    let t = &v::MLDSA44_WYCHEPROOF_SIGN_SEED_1;
    let k = mldsa::MlDsaPrivateKey::from_seed(t.param, &h(t.seed)).unwrap();
    let sig = k.sign_with_context(t.ctx, t.msg, mldsa::Hedge::Deterministic).unwrap();
    assert_eq!(hex::encode(&sig), hex::encode(h(t.sig)));
    // The same signature verifies through both verification paths.
    mldsa::verify(t.param, &k.public_key(), t.msg, &sig).unwrap();
    mldsa::verify_with_context(t.param, &k.public_key(), b"", t.msg, &sig).unwrap();
    // Hedged signing differs each time and verifies.
    let a = k.sign_with_context(b"", t.msg, mldsa::Hedge::Hedged).unwrap();
    assert_ne!(a, k.sign_with_context(b"", t.msg, mldsa::Hedge::Hedged).unwrap());
    mldsa::verify(t.param, &k.public_key(), t.msg, &a).unwrap();
}

#[test]
fn mldsa_contexts_and_prehash_separate_signatures() {
    use mldsa::{Hedge, PreHash};
    for p in [MlDsaParam::MlDsa44, MlDsaParam::MlDsa65, MlDsaParam::MlDsa87] {
        let k = mldsa::generate(p).unwrap();
        let pk = k.public_key();
        let sig = k.sign_with_context(b"ctx", b"msg", Hedge::Deterministic).unwrap();
        assert_eq!(sig, k.sign_with_context(b"ctx", b"msg", Hedge::Deterministic).unwrap());
        mldsa::verify_with_context(p, &pk, b"ctx", b"msg", &sig).unwrap();
        assert_eq!(mldsa::verify_with_context(p, &pk, b"ctX", b"msg", &sig), Err(CryptoError::InvalidSignature));
        assert_eq!(mldsa::verify(p, &pk, b"msg", &sig), Err(CryptoError::InvalidSignature));
        for ph in [
            PreHash::Sha224,
            PreHash::Sha256,
            PreHash::Sha384,
            PreHash::Sha512,
            PreHash::Sha3_224,
            PreHash::Sha3_256,
            PreHash::Sha3_384,
            PreHash::Sha3_512,
            PreHash::Shake128,
            PreHash::Shake256,
        ] {
            let hash = ph.digest(b"msg").unwrap();
            assert_eq!(hash.len(), ph.output_len());
            let s = k.sign_prehashed(b"", ph, &hash, Hedge::Hedged).unwrap();
            mldsa::verify_prehashed(p, &pk, b"", ph, &hash, &s).unwrap();
            // HashML-DSA is not pure ML-DSA over the hash, and the OID binds the hash function.
            assert_eq!(mldsa::verify_with_context(p, &pk, b"", &hash, &s), Err(CryptoError::InvalidSignature));
            let other = if ph == PreHash::Sha256 { PreHash::Sha3_256 } else { PreHash::Sha256 };
            if other.output_len() == ph.output_len() {
                assert_eq!(mldsa::verify_prehashed(p, &pk, b"", other, &hash, &s), Err(CryptoError::InvalidSignature));
            }
            assert!(matches!(k.sign_prehashed(b"", ph, &hash[1..], Hedge::Hedged), Err(CryptoError::DataLenRange(_))));
        }
        assert!(matches!(k.sign_with_context(&[0; 256], b"m", Hedge::Hedged), Err(CryptoError::Unsupported(_))));
    }
}

#[test]
fn sha3_and_shake_known_answers() {
    use teehsm_crypto::lc::{sha3, Sha3};
    // FIPS 202 examples (NIST "SHA3-224_Msg0" etc.): the empty message, and "abc".
    assert_eq!(hex::encode(sha3(Sha3::Sha3_224, &[b""], 0).unwrap()), "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7");
    assert_eq!(hex::encode(sha3(Sha3::Sha3_256, &[b"abc"], 0).unwrap()), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
    assert_eq!(hex::encode(sha3(Sha3::Sha3_256, &[b"a", b"bc"], 0).unwrap()), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
    assert_eq!(hex::encode(sha3(Sha3::Shake128, &[b""], 16).unwrap()), "7f9c2ba4e88f827d616045507605853e");
    assert_eq!(hex::encode(sha3(Sha3::Shake256, &[b""], 16).unwrap()), "46b9dd2b0ba88d13233b3feb743eeb24");
}

// ============================================================ X25519 and ECDH KDFs

#[test]
fn x25519_rfc7748_vectors() {
    use teehsm_crypto::x25519::X25519PrivateKey;
    let a = X25519PrivateKey::from_bytes(&h(v::X25519_RFC7748_ALICE_PRIVATE)).unwrap();
    let b = X25519PrivateKey::from_bytes(&h(v::X25519_RFC7748_BOB_PRIVATE)).unwrap();
    assert_eq!(hex::encode(a.public_key()), v::X25519_RFC7748_ALICE_PUBLIC);
    assert_eq!(hex::encode(b.public_key()), v::X25519_RFC7748_BOB_PUBLIC);
    assert_eq!(hex::encode(a.agree(&h(v::X25519_RFC7748_BOB_PUBLIC)).unwrap().as_slice()), v::X25519_RFC7748_SHARED);
    assert_eq!(hex::encode(b.agree(&h(v::X25519_RFC7748_ALICE_PUBLIC)).unwrap().as_slice()), v::X25519_RFC7748_SHARED);
    // Small-order points give an all-zero secret, which is refused; bad lengths too.
    assert!(a.agree(&[0u8; 32]).is_err());
    assert!(matches!(a.agree(&[9u8; 31]), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(X25519PrivateKey::from_bytes(&[1u8; 33]), Err(CryptoError::InvalidKey(_))));
}

#[test]
fn openpgp_x25519_sp800_56c_vector() {
    use teehsm_crypto::kdf::{sp800_56c_one_step, KdfHash};
    use teehsm_crypto::x25519::X25519PrivateKey;
    let k = X25519PrivateKey::from_bytes(&h(v::OPENPGP_X25519_PRIVATE)).unwrap();
    let z = k.agree(&h(v::OPENPGP_X25519_EPHEMERAL)).unwrap();
    let out = sp800_56c_one_step(KdfHash::Sha(HashAlg::Sha256), &z, &h(v::OPENPGP_KDF_PARAM), 16).unwrap();
    assert_eq!(hex::encode(out.as_slice()), v::OPENPGP_DERIVED.to_lowercase());
}

#[test]
fn kdf_outputs_are_prefix_consistent_and_bounded() {
    use teehsm_crypto::kdf::{sp800_56c_one_step, x963_kdf, KdfHash, MAX_KDF_OUTPUT};
    use teehsm_crypto::lc::Sha3;
    for hh in [KdfHash::Sha(HashAlg::Sha1), KdfHash::Sha(HashAlg::Sha256), KdfHash::Sha(HashAlg::Sha512), KdfHash::Sha3(Sha3::Sha3_256)] {
        let long = x963_kdf(hh, b"Z", b"info", 100).unwrap();
        assert_eq!(&x963_kdf(hh, b"Z", b"info", 17).unwrap()[..], &long[..17]);
        let long = sp800_56c_one_step(hh, b"Z", b"info", 100).unwrap();
        assert_eq!(&sp800_56c_one_step(hh, b"Z", b"info", 33).unwrap()[..], &long[..33]);
        assert!(matches!(x963_kdf(hh, b"Z", b"", 0), Err(CryptoError::DataLenRange(_))));
        assert!(matches!(sp800_56c_one_step(hh, b"Z", b"", MAX_KDF_OUTPUT + 1), Err(CryptoError::DataLenRange(_))));
    }
    // The two constructions differ (the counter's position).
    assert_ne!(
        x963_kdf(KdfHash::Sha(HashAlg::Sha256), b"Z", b"", 32).unwrap(),
        sp800_56c_one_step(KdfHash::Sha(HashAlg::Sha256), b"Z", b"", 32).unwrap()
    );
}

// ============================================================ SP 800-108 KBKDF

/// Rebuilds each mode from the KAT-checked HMAC / CMAC primitives, as SP 800-108
/// sections 5.1-5.3 write them, and checks the PKCS#11 rules: whole segments per
/// key, the DKM length methods, and the field-list refusals.
#[test]
fn kbkdf_modes_match_sp800_108_constructions() {
    use teehsm_crypto::kbkdf::{self, Field, IntFormat, Mode, Prf};
    let key = h("000102030405060708090a0b0c0d0e0f");
    let c16 = IntFormat { little_endian: false, width_bits: 16 };
    let le8 = IntFormat { little_endian: true, width_bits: 32 };
    let cmac = |d: &[u8]| mac::cmac(Cipher::Aes, &key, d).unwrap().to_vec();
    // Counter mode, two keys (20 and 16 bytes: segments 1-2 and 3), DKM = sum of segments (3 x 128 bits).
    let fields = [Field::Iteration(Some(c16)), Field::Bytes(b"L".to_vec()), Field::DkmLength { sum_of_segments: true, format: le8 }];
    let keys = kbkdf::derive(Prf::AesCmac, &key, &Mode::Counter, &fields, &[20, 16]).unwrap();
    let seg = |i: u16| cmac(&[&i.to_be_bytes()[..], b"L", &384u32.to_le_bytes()].concat());
    assert_eq!(keys[0].to_vec(), [seg(1), seg(2)].concat()[..20].to_vec());
    assert_eq!(keys[1].to_vec(), seg(3), "the second key starts on a new segment");
    // Sum of keys: L = 36 * 8.
    let fields = [Field::Iteration(Some(c16)), Field::DkmLength { sum_of_segments: false, format: le8 }];
    let keys = kbkdf::derive(Prf::AesCmac, &key, &Mode::Counter, &fields, &[20, 16]).unwrap();
    assert_eq!(keys[1].to_vec(), cmac(&[&3u16.to_be_bytes()[..], &288u32.to_le_bytes()].concat()));
    // Feedback with an IV and a counter: K(i) = PRF(K(i-1) || [i] || data).
    let iv = vec![9u8; 16];
    let fields = [Field::Iteration(None), Field::Counter(c16), Field::Bytes(b"ctx".to_vec())];
    let out = kbkdf::derive(Prf::AesCmac, &key, &Mode::Feedback { iv: iv.clone() }, &fields, &[32]).unwrap();
    let k1 = cmac(&[&iv[..], &1u16.to_be_bytes(), b"ctx"].concat());
    let k2 = cmac(&[&k1[..], &2u16.to_be_bytes(), b"ctx"].concat());
    assert_eq!(out[0].to_vec(), [k1, k2].concat());
    // Double pipeline: A(0) = the fixed fields, A(i) = PRF(A(i-1)), K(i) = PRF(A(i) || [i] || fixed).
    let fields = [Field::Iteration(None), Field::Counter(c16), Field::Bytes(b"fixed".to_vec())];
    let out = kbkdf::derive(Prf::Hmac(HashAlg::Sha256), &key, &Mode::DoublePipeline, &fields, &[40]).unwrap();
    let hm = |d: &[u8]| mac::hmac(HashAlg::Sha256, &key, d).unwrap();
    let a1 = hm(b"fixed");
    let a2 = hm(&a1);
    let k1 = hm(&[&a1[..], &1u16.to_be_bytes(), b"fixed"].concat());
    let k2 = hm(&[&a2[..], &2u16.to_be_bytes(), b"fixed"].concat());
    assert_eq!(out[0].to_vec(), [k1, k2].concat()[..40].to_vec());
    // Refusals (PKCS#11 field rules), all InvalidInput.
    let it = Field::Iteration(Some(c16));
    let bytes = Field::Bytes(b"x".to_vec());
    let dkm = Field::DkmLength { sum_of_segments: false, format: le8 };
    for (mode, fields, what) in [
        (Mode::Counter, vec![bytes.clone()], "no iteration variable"),
        (Mode::Counter, vec![Field::Iteration(None), bytes.clone()], "counter mode without a counter format"),
        (Mode::Counter, vec![it.clone(), Field::Counter(c16)], "a counter field in counter mode"),
        (Mode::Counter, vec![it.clone(), dkm.clone(), dkm.clone()], "two DKM lengths"),
        (Mode::Counter, vec![it.clone(), it.clone()], "two iteration variables"),
        (Mode::Feedback { iv: vec![] }, vec![it.clone()], "a feedback iteration variable with a format"),
        (Mode::DoublePipeline, vec![Field::Iteration(None), Field::Counter(c16), Field::Counter(c16)], "two counters"),
        (Mode::Counter, vec![Field::Iteration(Some(IntFormat { little_endian: false, width_bits: 12 }))], "a 12-bit counter"),
        (Mode::Counter, vec![it.clone(), Field::Bytes(vec![])], "an empty byte array"),
    ] {
        assert!(matches!(kbkdf::derive(Prf::AesCmac, &key, &mode, &fields, &[16]), Err(CryptoError::InvalidInput(_))), "{what}");
    }
    // An 8-bit counter allows 255 segments: 255 * 16 bytes is too much for MAX_OUTPUT anyway.
    assert!(matches!(kbkdf::derive(Prf::AesCmac, &key, &Mode::Counter, std::slice::from_ref(&it), &[5000]), Err(CryptoError::DataLenRange(_))));
    assert!(
        matches!(
            kbkdf::derive(Prf::AesCmac, &key, &Mode::Counter, std::slice::from_ref(&it), &[usize::MAX, usize::MAX]),
            Err(CryptoError::DataLenRange(_))
        ),
        "no overflow"
    );
    assert!(matches!(
        kbkdf::derive(Prf::AesCmac, &key, &Mode::Counter, &[Field::Iteration(Some(IntFormat { little_endian: false, width_bits: 8 }))], &[16 * 256]),
        Err(CryptoError::DataLenRange(_))
    ));
}
