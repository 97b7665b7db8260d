//! Interoperability with independent Rust implementations (dev-dependencies):
//! `p256` (ECDSA), `rsa` (PKCS#1 v1.5, PSS, OAEP), `sm-crypto` (SM2/SM3/SM4,
//! a pure-Rust implementation unrelated to the RustCrypto `sm2` crate this
//! crate uses), `ml-dsa` and `ml-kem` (RustCrypto, independent of aws-lc).
//! Every case runs in both directions.

use p256::elliptic_curve::sec1::ToSec1Point;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::rand_core::UnwrapErr;
use rsa::signature::{Keypair, RandomizedSigner, SignatureEncoding, Signer, Verifier};
use sha2::{Sha256, Sha384, Sha512};
use teehsm_crypto::digest::{self, HashAlg};
use teehsm_crypto::ec::{self, Curve};
use teehsm_crypto::mldsa::{self, MlDsaParam};
use teehsm_crypto::mlkem::{self, MlKemParam};
use teehsm_crypto::sym::{self, Cipher};
use teehsm_crypto::vectors::{self as v, unhex};
use teehsm_crypto::{rng, rsa as trsa, sm2, CryptoError};

fn h(s: &str) -> Vec<u8> {
    unhex(s).expect("vector hex")
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rng::fill(&mut b).unwrap();
    b
}

fn sys_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

// ================================================================ ECDSA P-256 (p256)

#[test]
fn p256_ours_signs_theirs_verifies() {
    let key = ec::generate(Curve::P256).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.public_point()).unwrap();
    for i in 0..8u8 {
        let msg = [b"ecdsa interop ".as_slice(), &[i]].concat();
        let sig = key.sign(HashAlg::Sha256, &msg).unwrap();
        let theirs = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        vk.verify(&msg, &theirs).expect("p256 verifies our signature");
        assert!(vk.verify(b"another message", &theirs).is_err());
    }
}

#[test]
fn p256_theirs_signs_ours_verifies() {
    // p256 derives k by RFC 6979, so its signature over "sample"/"test" with the
    // RFC 6979 A.2.5 key must equal the published one, which ours verifies.
    let sk = p256::ecdsa::SigningKey::from_slice(&h(v::P256_RFC6979_D)).unwrap();
    let point = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
    assert_eq!(hex::encode(&point), hex::encode(h(v::P256_RFC6979_Q)));
    let sig: p256::ecdsa::Signature = sk.sign(b"sample");
    assert_eq!(hex::encode(sig.to_bytes()), hex::encode(h(v::P256_RFC6979_SAMPLE_SIG)));
    ec::verify(Curve::P256, &point, HashAlg::Sha256, b"sample", &sig.to_bytes()).unwrap();
    // A random key of theirs, imported by scalar into ours and back.
    let scalar: [u8; 32] = random();
    let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&scalar) else { return };
    let point = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
    let ours = ec::EcPrivateKey::from_scalar(Curve::P256, &scalar).unwrap();
    assert_eq!(ours.public_point(), point);
    for i in 0..8u8 {
        let msg = [b"signed by p256 ".as_slice(), &[i]].concat();
        let sig: p256::ecdsa::Signature = sk.sign(&msg);
        ec::verify(Curve::P256, &point, HashAlg::Sha256, &msg, &sig.to_bytes()).unwrap();
        // DER from the other implementation converts to r||s.
        let der = sig.to_der();
        assert_eq!(ec::sig_der_to_rs(Curve::P256, der.as_bytes()).unwrap(), sig.to_bytes().to_vec());
        assert_eq!(ec::sig_rs_to_der(&sig.to_bytes()), der.as_bytes().to_vec());
        assert_eq!(ec::verify(Curve::P256, &point, HashAlg::Sha256, b"other", &sig.to_bytes()), Err(CryptoError::InvalidSignature));
    }
}

#[test]
fn p256_ecdh_agrees() {
    let ours = ec::generate(Curve::P256).unwrap();
    let scalar: [u8; 32] = random();
    let Ok(theirs) = p256::SecretKey::from_slice(&scalar) else { return };
    let their_point = theirs.public_key().to_sec1_point(false).as_bytes().to_vec();
    let our_pub = p256::PublicKey::from_sec1_bytes(&ours.public_point()).unwrap();
    let z_theirs = p256::ecdh::diffie_hellman(theirs.to_nonzero_scalar(), our_pub.as_affine());
    let z_ours = ours.ecdh(&their_point).unwrap();
    assert_eq!(z_ours.as_slice(), z_theirs.raw_secret_bytes().as_slice());
}

// ================================================================ RSA (rsa)

fn their_rsa() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs1_der(&h(v::RSA2048_PKCS1_DER)).unwrap()
}

#[test]
fn rsa_pkcs1v15_both_directions() {
    // Our freshly generated key, exported as PKCS#1 DER and read by `rsa`.
    let ours = trsa::generate(2048, &[1, 0, 1]).unwrap();
    let theirs = rsa::RsaPrivateKey::from_pkcs1_der(&ours.to_pkcs1_der().unwrap()).unwrap();
    let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(theirs.to_public_key());
    let sig = ours.sign_pkcs1v15(HashAlg::Sha256, b"ours -> rsa").unwrap();
    vk.verify(b"ours -> rsa", &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap()).unwrap();
    // `rsa` signs with the same key: identical bytes (deterministic), and ours verifies.
    let sk = rsa::pkcs1v15::SigningKey::<Sha256>::new(theirs.clone());
    let theirs_sig = sk.sign(b"ours -> rsa").to_vec();
    assert_eq!(theirs_sig, sig);
    // The other way: their key (the vector key) into ours.
    let their_key = their_rsa();
    let our_copy = trsa::RsaPrivateKey::from_pkcs1_der(their_key.to_pkcs1_der().unwrap().as_bytes()).unwrap();
    for (alg, sig) in [
        (HashAlg::Sha256, rsa::pkcs1v15::SigningKey::<Sha256>::new(their_key.clone()).sign(b"rsa -> ours").to_vec()),
        (HashAlg::Sha384, rsa::pkcs1v15::SigningKey::<Sha384>::new(their_key.clone()).sign(b"rsa -> ours").to_vec()),
        (HashAlg::Sha512, rsa::pkcs1v15::SigningKey::<Sha512>::new(their_key.clone()).sign(b"rsa -> ours").to_vec()),
    ] {
        our_copy.public_key().verify_pkcs1v15(alg, b"rsa -> ours", &sig).unwrap();
        assert_eq!(our_copy.sign_pkcs1v15(alg, b"rsa -> ours").unwrap(), sig, "{}", alg.name());
        assert_eq!(our_copy.public_key().verify_pkcs1v15(alg, b"rsa -> ourS", &sig), Err(CryptoError::InvalidSignature));
    }
}

#[test]
fn rsa_pss_both_directions() {
    let their_key = their_rsa();
    let ours = trsa::RsaPrivateKey::from_pkcs1_der(&h(v::RSA2048_PKCS1_DER)).unwrap();
    // Ours -> rsa (salt = hash length).
    let sig = ours.sign_pss(HashAlg::Sha256, b"pss ours -> rsa", 32).unwrap();
    let vk = rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(their_key.to_public_key(), 32);
    vk.verify(b"pss ours -> rsa", &rsa::pss::Signature::try_from(sig.as_slice()).unwrap()).unwrap();
    let sig = ours.sign_pss(HashAlg::Sha512, b"pss ours -> rsa", 64).unwrap();
    let vk = rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(their_key.to_public_key(), 64);
    vk.verify(b"pss ours -> rsa", &rsa::pss::Signature::try_from(sig.as_slice()).unwrap()).unwrap();
    // rsa -> ours.
    let sk = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(their_key.clone(), 32);
    let mut r = sys_rng();
    for _ in 0..3 {
        let sig = sk.sign_with_rng(&mut r, b"pss rsa -> ours").to_vec();
        ours.public_key().verify_pss(HashAlg::Sha256, b"pss rsa -> ours", &sig, 32).unwrap();
    }
    let sk = rsa::pss::SigningKey::<Sha384>::new_with_salt_len(their_key, 48);
    let sig = sk.sign_with_rng(&mut r, b"pss rsa -> ours").to_vec();
    ours.public_key().verify_pss(HashAlg::Sha384, b"pss rsa -> ours", &sig, 48).unwrap();
    assert_eq!(ours.public_key().verify_pss(HashAlg::Sha384, b"pss rsa -> ourS", &sig, 48), Err(CryptoError::InvalidSignature));
}

#[test]
fn rsa_oaep_both_directions() {
    let their_key = their_rsa();
    let ours = trsa::RsaPrivateKey::from_pkcs1_der(&h(v::RSA2048_PKCS1_DER)).unwrap();
    let mut r = sys_rng();
    // rsa encrypts -> we decrypt (SHA-256 and SHA-1, with and without label).
    let ct = their_key.to_public_key().encrypt(&mut r, rsa::Oaep::<Sha256>::new(), b"rsa -> ours").unwrap();
    assert_eq!(ours.decrypt_oaep(HashAlg::Sha256, b"", &ct).unwrap().as_slice(), b"rsa -> ours");
    let ct = their_key.to_public_key().encrypt(&mut r, rsa::Oaep::<Sha256>::new_with_label(b"teehsm".to_vec()), b"labelled").unwrap();
    assert_eq!(ours.decrypt_oaep(HashAlg::Sha256, b"teehsm", &ct).unwrap().as_slice(), b"labelled");
    let ct = their_key.to_public_key().encrypt(&mut r, rsa::Oaep::<Sha512>::new(), b"sha-512").unwrap();
    assert_eq!(ours.decrypt_oaep(HashAlg::Sha512, b"", &ct).unwrap().as_slice(), b"sha-512");
    // We encrypt -> rsa decrypts.
    let ct = ours.public_key().encrypt_oaep(HashAlg::Sha256, b"", b"ours -> rsa").unwrap();
    assert_eq!(their_key.decrypt(rsa::Oaep::<Sha256>::new(), &ct).unwrap(), b"ours -> rsa");
    let ct = ours.public_key().encrypt_oaep(HashAlg::Sha256, b"teehsm", b"labelled").unwrap();
    assert_eq!(their_key.decrypt(rsa::Oaep::<Sha256>::new_with_label(b"teehsm".to_vec()), &ct).unwrap(), b"labelled");
    assert!(their_key.decrypt(rsa::Oaep::<Sha256>::new(), &ct).is_err(), "label mismatch");
}

// ================================================================ SM2 / SM3 / SM4 (sm-crypto)

/// sm-crypto writes public keys as 128 hex digits (no 04) and C1 without the 04 byte.
fn sm_crypto_pub(point: &[u8]) -> String {
    assert_eq!(point[0], 0x04);
    hex::encode(&point[1..])
}

#[test]
fn sm2_sign_ours_verifies_in_sm_crypto() {
    let key = sm2::generate().unwrap();
    let pk = sm_crypto_pub(&key.public_point());
    for i in 0..4u8 {
        let msg = [b"SM2 ours -> sm-crypto ".as_slice(), &[i]].concat();
        let sig = key.sign(sm2::DEFAULT_USER_ID, &msg).unwrap();
        let der = ec::sig_rs_to_der(&sig);
        assert!(sm_crypto::sm2::Verify::new(&pk).verify_der(&msg, &der, true), "default ID");
        assert!(!sm_crypto::sm2::Verify::new(&pk).verify_der(b"other", &der, true));
        // A non-default ID, on both sides.
        let sig = key.sign(b"ALICE123@YAHOO.COM", &msg).unwrap();
        let der = ec::sig_rs_to_der(&sig);
        assert!(sm_crypto::sm2::Verify::new_with_id(b"ALICE123@YAHOO.COM", &pk).verify_der(&msg, &der, true));
        assert!(!sm_crypto::sm2::Verify::new(&pk).verify_der(&msg, &der, true));
    }
}

#[test]
fn sm2_sign_sm_crypto_verifies_in_ours() {
    let (sk, pk) = sm_crypto::sm2::gen_keypair();
    let point = h(&format!("04{pk}"));
    // Key import: our public point from their scalar.
    let ours = sm2::Sm2PrivateKey::from_scalar(&h(&sk)).unwrap();
    assert_eq!(hex::encode(ours.public_point()), hex::encode(&point));
    for i in 0..4u8 {
        let msg = [b"SM2 sm-crypto -> ours ".as_slice(), &[i]].concat();
        let der = sm_crypto::sm2::Sign::new(&sk).sign_der(&msg, true);
        let rs = ec::sig_der_to_rs(Curve::P256, &der).unwrap();
        sm2::verify(&point, sm2::DEFAULT_USER_ID, &msg, &rs).unwrap();
        assert_eq!(sm2::verify(&point, b"ALICE123@YAHOO.COM", &msg, &rs), Err(CryptoError::InvalidSignature));
    }
    // Their signature on the standard's key and message verifies here too.
    let der = sm_crypto::sm2::Sign::new(&hex::encode(h(v::SM2_D))).sign_der(v::SM2_SIGN_MSG, true);
    sm2::verify(&h(v::SM2_Q), sm2::DEFAULT_USER_ID, v::SM2_SIGN_MSG, &ec::sig_der_to_rs(Curve::P256, &der).unwrap()).unwrap();
    // And sm-crypto verifies the published GB/T 32918.5 signature.
    let pk_std = sm_crypto_pub(&h(v::SM2_Q));
    assert!(sm_crypto::sm2::Verify::new(&pk_std).verify_der(v::SM2_SIGN_MSG, &ec::sig_rs_to_der(&h(v::SM2_SIGN_RS)), true));
}

#[test]
fn sm2_encrypt_both_directions() {
    let (sk, pk) = sm_crypto::sm2::gen_keypair();
    let ours = sm2::Sm2PrivateKey::from_scalar(&h(&sk)).unwrap();
    // sm-crypto encrypts (C1 without 04 || C3 || C2) -> we decrypt.
    for pt in [&b"x"[..], b"sm-crypto -> ours", &[0x5au8; 200][..]] {
        let ct = sm_crypto::sm2::Encrypt::new(&pk).encrypt(pt);
        let ours_form = [&[0x04u8][..], &ct].concat();
        assert_eq!(ours.decrypt(&ours_form).unwrap().as_slice(), pt);
        // Their C1C2C3 form is not ours: reordering C3/C2 must fail authentication.
        let c1c2c3 = sm_crypto::sm2::Encrypt::new(&pk).encrypt_c1c2c3(pt);
        let wrong = [&[0x04u8][..], &c1c2c3].concat();
        if pt.len() > 1 {
            assert_eq!(ours.decrypt(&wrong).map(|_| ()), Err(CryptoError::EncryptedDataInvalid));
        }
    }
    // We encrypt -> sm-crypto decrypts (plaintexts start with a non-zero byte:
    // sm-crypto drops leading zero bytes of the plaintext).
    let key = sm2::generate().unwrap();
    let sk2 = hex::encode(key.scalar().as_slice());
    for pt in [&b"y"[..], b"ours -> sm-crypto", &[0xa5u8; 200][..]] {
        let ct = sm2::encrypt(&key.public_point(), pt).unwrap();
        assert_eq!(ct[0], 0x04);
        assert_eq!(sm_crypto::sm2::Decrypt::new(&sk2).decrypt(&ct[1..]), pt);
    }
    // The standard's ciphertext: sm-crypto decrypts it too.
    let std_ct = h(v::SM2_ENC_C1C3C2);
    assert_eq!(sm_crypto::sm2::Decrypt::new(&hex::encode(h(v::SM2_D))).decrypt(&std_ct[1..]), v::SM2_ENC_PT);
}

#[test]
fn sm3_agrees_with_sm_crypto() {
    for len in [0usize, 1, 3, 55, 56, 63, 64, 65, 1000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
        assert_eq!(digest::digest(HashAlg::Sm3, &data), sm_crypto::sm3::sm3_hash_raw(&data), "len {len}");
    }
    // Z = SM3(ENTL || ID || a || b || Gx || Gy || x || y) agrees with the standard via their SM3.
    let z = sm2::compute_z(&h(v::SM2_Q), sm2::DEFAULT_USER_ID).unwrap();
    let e = sm_crypto::sm3::sm3_hash_raw(&[&z[..], v::SM2_SIGN_MSG].concat());
    assert_eq!(hex::encode(e), hex::encode(h(v::SM2_SIGN_E)));
}

#[test]
fn sm4_ecb_agrees_with_sm_crypto() {
    let key: [u8; 16] = random();
    let data: Vec<u8> = (0..64u8).collect();
    let theirs = sm_crypto::sm4::CryptSM4ECB::new(&key).encrypt_ecb(&data);
    // sm-crypto pads with PKCS#7; the first 64 bytes are the raw ECB blocks.
    assert_eq!(theirs.len(), 80);
    let ours = sym::ecb_encrypt(Cipher::Sm4, &key, &data).unwrap();
    assert_eq!(hex::encode(&theirs[..64]), hex::encode(&ours));
    // Their padded ECB decrypts with ours (ECB of whole blocks, then the padding block).
    let ours_dec = sym::ecb_decrypt(Cipher::Sm4, &key, &theirs).unwrap();
    assert_eq!(&ours_dec[..64], &data[..]);
    assert_eq!(&ours_dec[64..], &[16u8; 16]);
    let k = h(v::SM4_GBT32907.key);
    assert_eq!(hex::encode(&sm_crypto::sm4::CryptSM4ECB::new(&k).encrypt_ecb(&k)[..16]), v::SM4_GBT32907.ct);
}

// ================================================================ ML-DSA (ml-dsa)

macro_rules! mldsa_interop {
    ($test:ident, $P:ty, $param:expr) => {
        #[test]
        fn $test() {
            use ml_dsa::{EncodedSignature, EncodedVerifyingKey, Seed, Signature, SigningKey, VerifyingKey};
            let p: MlDsaParam = $param;
            // Same seed -> same public key.
            let seed: [u8; 32] = random();
            let ours = mldsa::MlDsaPrivateKey::from_seed(p, &seed).unwrap();
            let theirs = SigningKey::<$P>::from_seed(&Seed::try_from(&seed[..]).unwrap());
            let their_vk = theirs.verifying_key();
            assert_eq!(hex::encode(ours.public_key()), hex::encode(their_vk.encode()));
            // Ours signs -> theirs verifies (pure ML-DSA, empty context).
            for i in 0..3u8 {
                let msg = [b"ML-DSA ours -> ml-dsa ".as_slice(), &[i]].concat();
                let sig = ours.sign(&msg).unwrap();
                let enc = EncodedSignature::<$P>::try_from(sig.as_slice()).unwrap();
                let s = Signature::<$P>::decode(&enc).expect("decodes");
                assert!(their_vk.verify_with_context(&msg, b"", &s));
                assert!(!their_vk.verify_with_context(&msg, b"ctx", &s), "context separates");
                assert!(!their_vk.verify_with_context(b"other", b"", &s));
            }
            // Theirs signs -> ours verifies.
            let pk = ours.public_key();
            for i in 0..3u8 {
                let msg = [b"ML-DSA ml-dsa -> ours ".as_slice(), &[i]].concat();
                let s = theirs.expanded_key().sign_deterministic(&msg, b"").unwrap();
                let bytes = s.encode().to_vec();
                mldsa::verify(p, &pk, &msg, &bytes).unwrap();
                assert_eq!(mldsa::verify(p, &pk, b"other", &bytes), Err(CryptoError::InvalidSignature));
                // A signature with a non-empty context is not a pure empty-context signature.
                let s = theirs.expanded_key().sign_deterministic(&msg, b"ctx").unwrap();
                assert_eq!(mldsa::verify(p, &pk, &msg, &s.encode()), Err(CryptoError::InvalidSignature));
            }
            // Their public key decoded from our bytes verifies our signature.
            let vk = VerifyingKey::<$P>::decode(&EncodedVerifyingKey::<$P>::try_from(pk.as_slice()).unwrap());
            let sig = ours.sign(b"decoded key").unwrap();
            assert!(vk.verify_with_context(
                b"decoded key",
                b"",
                &Signature::<$P>::decode(&EncodedSignature::<$P>::try_from(sig.as_slice()).unwrap()).unwrap()
            ));
        }
    };
}

mldsa_interop!(mldsa44_both_directions_and_same_key_from_seed, ml_dsa::MlDsa44, MlDsaParam::MlDsa44);
mldsa_interop!(mldsa65_both_directions_and_same_key_from_seed, ml_dsa::MlDsa65, MlDsaParam::MlDsa65);
mldsa_interop!(mldsa87_both_directions_and_same_key_from_seed, ml_dsa::MlDsa87, MlDsaParam::MlDsa87);

#[test]
fn mldsa_acvp_keygen_vectors_agree_with_ml_dsa_crate() {
    use ml_dsa::signature::Keypair as _;
    let t = &v::MLDSA65_ACVP_KEYGEN_26;
    let theirs = ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_seed(&ml_dsa::Seed::try_from(&h(t.seed)[..]).unwrap());
    assert_eq!(hex::encode(theirs.verifying_key().encode()), hex::encode(h(t.pk)));
    let w = &v::MLDSA65_WYCHEPROOF_VERIFY_1;
    let vk = ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::decode(&ml_dsa::EncodedVerifyingKey::<ml_dsa::MlDsa65>::try_from(&h(w.pk)[..]).unwrap());
    let s = ml_dsa::Signature::<ml_dsa::MlDsa65>::decode(&ml_dsa::EncodedSignature::<ml_dsa::MlDsa65>::try_from(&h(w.sig)[..]).unwrap()).unwrap();
    assert!(vk.verify_with_context(w.msg, b"", &s));
}

// ================================================================ ML-KEM (ml-kem)

macro_rules! mlkem_interop {
    ($test:ident, $P:ty, $param:expr) => {
        #[test]
        #[allow(deprecated)]
        fn $test() {
            use ml_kem::{Ciphertext, Decapsulate, DecapsulationKey, EncapsulationKey, ExpandedKeyEncoding, KeyExport, TryKeyInit};
            let p: MlKemParam = $param;
            // Theirs encapsulates to our public key -> we decapsulate.
            let ours = mlkem::generate(p).unwrap();
            let ek = ours.public_key().unwrap();
            let their_ek = EncapsulationKey::<$P>::new_from_slice(&ek).unwrap();
            for _ in 0..3 {
                let m: [u8; 32] = random();
                let (ct, ss) = their_ek.encapsulate_deterministic(&m.into());
                assert_eq!(ours.decapsulate(ct.as_slice()).unwrap().as_slice(), ss.as_slice());
            }
            // Ours encapsulates to their public key -> theirs decapsulates.
            let seed: [u8; 64] = random();
            let theirs = DecapsulationKey::<$P>::from_seed(seed.into());
            let their_ek_bytes = theirs.encapsulation_key().to_bytes().to_vec();
            for _ in 0..3 {
                let (ct, ss) = mlkem::encapsulate(p, &their_ek_bytes).unwrap();
                let ct = Ciphertext::<$P>::try_from(ct.as_slice()).unwrap();
                assert_eq!(theirs.decapsulate(&ct).as_slice(), ss.as_slice());
            }
            // Key encodings cross over: their expanded dk imports here and
            // decapsulates their ciphertexts; our dk imports there.
            let expanded = theirs.to_expanded_bytes().to_vec();
            let imported = mlkem::MlKemPrivateKey::from_bytes(p, &expanded).unwrap();
            let m: [u8; 32] = random();
            let (ct, ss) = theirs.encapsulation_key().encapsulate_deterministic(&m.into());
            assert_eq!(imported.decapsulate(ct.as_slice()).unwrap().as_slice(), ss.as_slice());
            let ours_dk = ours.to_bytes().unwrap();
            let their_copy = DecapsulationKey::<$P>::from_expanded_bytes(&ours_dk.as_slice().try_into().unwrap()).unwrap();
            assert_eq!(their_copy.encapsulation_key().to_bytes().as_slice(), ek.as_slice());
            let (ct, ss) = mlkem::encapsulate(p, &ek).unwrap();
            assert_eq!(their_copy.decapsulate(&Ciphertext::<$P>::try_from(ct.as_slice()).unwrap()).as_slice(), ss.as_slice());
            // Implicit rejection agrees too: a modified ciphertext gives the same
            // (pseudo-random) secret on both sides.
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_eq!(
                their_copy.decapsulate(&Ciphertext::<$P>::try_from(bad.as_slice()).unwrap()).as_slice(),
                ours.decapsulate(&bad).unwrap().as_slice()
            );
        }
    };
}

mlkem_interop!(mlkem512_both_directions, ml_kem::MlKem512, MlKemParam::MlKem512);
mlkem_interop!(mlkem768_both_directions, ml_kem::MlKem768, MlKemParam::MlKem768);
mlkem_interop!(mlkem1024_both_directions, ml_kem::MlKem1024, MlKemParam::MlKem1024);

#[test]
#[allow(deprecated)]
fn mlkem_acvp_vectors_agree_with_ml_kem_crate() {
    use ml_kem::{Ciphertext, Decapsulate, DecapsulationKey, ExpandedKeyEncoding};
    let t = &v::MLKEM768_ACVP_26;
    let dk = DecapsulationKey::<ml_kem::MlKem768>::from_expanded_bytes(&h(t.dk).as_slice().try_into().unwrap()).unwrap();
    let ss = dk.decapsulate(&Ciphertext::<ml_kem::MlKem768>::try_from(h(t.c).as_slice()).unwrap());
    assert_eq!(hex::encode(ss), hex::encode(h(t.k)));
}

// ================================================================ ML-DSA contexts / HashML-DSA (ml-dsa)

#[test]
fn mldsa_context_deterministic_and_hashmldsa_equal_ml_dsa_crate() {
    use ml_dsa::{EncodedSignature, MlDsa65, Seed, Signature, SigningKey};
    use mldsa::{Hedge, PreHash};
    let seed: [u8; 32] = random();
    let ours = mldsa::MlDsaPrivateKey::from_seed(MlDsaParam::MlDsa65, &seed).unwrap();
    let theirs = SigningKey::<MlDsa65>::from_seed(&Seed::try_from(&seed[..]).unwrap());
    let vk = theirs.verifying_key();
    for ctx in [&b""[..], &b"a context"[..], &[0x5a; 255][..]] {
        // Deterministic ML-DSA with a context: byte-identical to ml-dsa's.
        let mine = ours.sign_with_context(ctx, b"contexts", Hedge::Deterministic).unwrap();
        let theirs_sig = theirs.expanded_key().sign_deterministic(b"contexts", ctx).unwrap();
        assert_eq!(hex::encode(&mine), hex::encode(theirs_sig.encode()), "context of {} bytes", ctx.len());
        // Hedged: ml-dsa verifies ours; ours verifies theirs.
        let h1 = ours.sign_with_context(ctx, b"hedged", Hedge::Hedged).unwrap();
        let s = Signature::<MlDsa65>::decode(&EncodedSignature::<MlDsa65>::try_from(h1.as_slice()).unwrap()).unwrap();
        assert!(vk.verify_with_context(b"hedged", ctx, &s));
        mldsa::verify_with_context(MlDsaParam::MlDsa65, &ours.public_key(), ctx, b"contexts", &theirs_sig.encode()).unwrap();
        // HashML-DSA: M' = 1 || |ctx| || ctx || OID || PH(M), signed by ml-dsa's Sign_internal with rnd = 0.
        for ph in [PreHash::Sha256, PreHash::Sha384, PreHash::Sha3_224, PreHash::Shake256] {
            let hash = ph.digest(b"pre-hashed message").unwrap();
            let mine = ours.sign_prehashed(ctx, ph, &hash, Hedge::Deterministic).unwrap();
            let header = [vec![1u8, ctx.len() as u8], ctx.to_vec(), ph.oid_der().to_vec()].concat();
            let theirs_sig = theirs.expanded_key().sign_internal(&[&header, &hash], &Default::default());
            assert_eq!(hex::encode(&mine), hex::encode(theirs_sig.encode()), "{ph:?}, context of {} bytes", ctx.len());
        }
    }
}
