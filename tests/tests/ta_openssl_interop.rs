//! Signatures made by the TA process (over its socket) verify with the
//! OpenSSL CLI, and OpenSSL's signatures verify in the TA: P-256 ECDSA,
//! SM2 with the default user ID, RSA-2048 PKCS#1 v1.5 and PSS.

use std::path::Path;
use std::process::Command;
use teehsm_tests::der::{ec_spki, pem, rs_to_der, rsa_spki, tlv, P256_OID, SM2_OID};
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::*;

const MSG: &[u8] = b"teehsm interop: the quick brown fox jumps over the lazy dog";
fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (apt install openssl)");
    out
}

fn openssl_ok(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = openssl(args, dir);
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// DER ECDSA-Sig-Value -> r||s (32-byte halves).
fn der_to_rs(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut i = if der[1] & 0x80 != 0 { 2 + (der[1] & 0x7f) as usize } else { 2 };
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let v = &der[i + 2..i + 2 + len];
        let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
        out.extend(std::iter::repeat_n(0u8, 32 - v.len()));
        out.extend_from_slice(&v);
        i += 2 + len;
    }
    out
}

fn attr(c: &mut Client, s: u64, obj: u64, ty: u64) -> Vec<u8> {
    match c.call(&Request::GetAttributeValue { session: s, object: obj, types: vec![ty] }).expect("GetAttributeValue") {
        Reply::Attributes(v) if v[0].status.is_ok() => v[0].value.clone(),
        r => panic!("attribute 0x{ty:x}: {r:?}"),
    }
}

/// CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
fn point_of(ec_point_attr: &[u8]) -> Vec<u8> {
    assert_eq!(ec_point_attr[0], 0x04, "CKA_EC_POINT is DER");
    ec_point_attr[2..].to_vec()
}

fn sign(c: &mut Client, s: u64, key: u64, m: Mechanism) -> Vec<u8> {
    c.call_bytes(&Request::Sign { session: s, mechanism: m, key, data: MSG.to_vec() }).expect("TA sign")
}

fn ta_verify(c: &mut Client, s: u64, key: u64, m: Mechanism, sig: Vec<u8>) -> Result<(), Rv> {
    c.call_done(&Request::Verify { session: s, mechanism: m, key, data: MSG.to_vec(), signature: sig }).map_err(|e| e.rv())
}

fn import_public(c: &mut Client, s: u64, key_type: u64, attrs: Vec<Attribute>) -> u64 {
    let mut t = vec![
        Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
        Attribute::ulong(CKA_KEY_TYPE, key_type),
        Attribute::bool(CKA_VERIFY, true),
        Attribute::bool(CKA_TOKEN, false),
    ];
    t.extend(attrs);
    c.call_handle(&Request::CreateObject { session: s, template: t }).expect("import public key")
}

struct Env {
    _dir: TempDir,
    work: std::path::PathBuf,
    ta: TaProcess,
}

fn env(tag: &str) -> (Env, Client, u64) {
    let dir = TempDir::new(tag);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let ta = start_ta_ready(dir.path(), &[]);
    let mut c = ta.client();
    init_token(&mut c);
    let s = user_session(&mut c);
    (Env { _dir: dir, work, ta }, c, s)
}

#[test]
fn p256_ecdsa_both_ways() {
    let (e, mut c, s) = env("ossl-p256");
    std::fs::write(e.work.join("msg"), MSG).unwrap();
    // TA -> OpenSSL
    let (public, private) = gen_pair(&mut c, &p256_pair(s, "ossl", false)).expect("generate P-256");
    let point = point_of(&attr(&mut c, s, public, CKA_EC_POINT));
    std::fs::write(e.work.join("pub.pem"), pem(&ec_spki(P256_OID, &point), "PUBLIC KEY")).unwrap();
    let sig = sign(&mut c, s, private, Mechanism::new(CKM_ECDSA_SHA256));
    assert_eq!(sig.len(), 64);
    std::fs::write(e.work.join("sig.der"), rs_to_der(&sig)).unwrap();
    let out = openssl_ok(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "msg"], &e.work);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
    // A tampered signature must fail in OpenSSL too (the check is real).
    let mut bad = sig.clone();
    bad[10] ^= 1;
    std::fs::write(e.work.join("bad.der"), rs_to_der(&bad)).unwrap();
    assert!(!openssl(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "bad.der", "msg"], &e.work).status.success());
    // OpenSSL -> TA
    openssl_ok(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "k.pem"], &e.work);
    let spki = openssl_ok(&["pkey", "-in", "k.pem", "-pubout", "-outform", "DER"], &e.work);
    let point = spki[spki.len() - 65..].to_vec();
    openssl_ok(&["dgst", "-sha256", "-sign", "k.pem", "-out", "osig.der", "msg"], &e.work);
    let osig = der_to_rs(&std::fs::read(e.work.join("osig.der")).unwrap());
    let key =
        import_public(&mut c, s, CKK_EC, vec![Attribute::new(CKA_EC_PARAMS, P256_OID.to_vec()), Attribute::new(CKA_EC_POINT, tlv(0x04, &point))]);
    ta_verify(&mut c, s, key, Mechanism::new(CKM_ECDSA_SHA256), osig.clone()).expect("TA verifies OpenSSL's ECDSA signature");
    let mut bad = osig;
    bad[40] ^= 0x80;
    assert_eq!(ta_verify(&mut c, s, key, Mechanism::new(CKM_ECDSA_SHA256), bad), Err(Rv::SIGNATURE_INVALID));
    e.ta.stop();
}

#[test]
fn sm2_default_id_both_ways() {
    let (e, mut c, s) = env("ossl-sm2");
    std::fs::write(e.work.join("msg"), MSG).unwrap();
    let req = Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_SM2_KEY_PAIR_GEN),
        public_template: vec![Attribute::bool(CKA_VERIFY, true), Attribute::bool(CKA_TOKEN, false)],
        private_template: vec![Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, false)],
    };
    let (public, private) = gen_pair(&mut c, &req).expect("generate SM2");
    let point = point_of(&attr(&mut c, s, public, CKA_EC_POINT));
    std::fs::write(e.work.join("pub.pem"), pem(&ec_spki(SM2_OID, &point), "PUBLIC KEY")).unwrap();
    // CKM_SM2_SM3 with no parameter uses the default ID 1234567812345678.
    let sig = sign(&mut c, s, private, Mechanism::new(CKM_SM2_SM3));
    std::fs::write(e.work.join("sig.der"), rs_to_der(&sig)).unwrap();
    let verify = |sigfile: &str| {
        openssl(
            &[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "pub.pem",
                "-rawin",
                "-digest",
                "sm3",
                "-in",
                "msg",
                "-sigfile",
                sigfile,
                "-pkeyopt",
                "distid:1234567812345678",
            ],
            &e.work,
        )
    };
    let out = verify("sig.der");
    assert!(out.status.success(), "OpenSSL rejects the TA's SM2 signature: {}", String::from_utf8_lossy(&out.stderr));
    let mut bad = sig.clone();
    bad[5] ^= 1;
    std::fs::write(e.work.join("bad.der"), rs_to_der(&bad)).unwrap();
    assert!(!verify("bad.der").status.success(), "OpenSSL must reject a tampered SM2 signature");
    // OpenSSL -> TA
    openssl_ok(&["genpkey", "-algorithm", "SM2", "-out", "k.pem"], &e.work);
    let spki = openssl_ok(&["pkey", "-in", "k.pem", "-pubout", "-outform", "DER"], &e.work);
    let point = spki[spki.len() - 65..].to_vec();
    openssl_ok(
        &["pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-digest", "sm3", "-in", "msg", "-out", "osig.der", "-pkeyopt", "distid:1234567812345678"],
        &e.work,
    );
    let osig = der_to_rs(&std::fs::read(e.work.join("osig.der")).unwrap());
    let key =
        import_public(&mut c, s, CKK_SM2, vec![Attribute::new(CKA_EC_PARAMS, SM2_OID.to_vec()), Attribute::new(CKA_EC_POINT, tlv(0x04, &point))]);
    ta_verify(&mut c, s, key, Mechanism::new(CKM_SM2_SM3), osig.clone()).expect("TA verifies OpenSSL's SM2 signature");
    // The same signature under another user ID must not verify.
    let other = Mechanism::with(CKM_SM2_SM3, MechParam::Sm2 { user_id: b"alice@bank".to_vec() });
    assert_eq!(ta_verify(&mut c, s, key, other, osig), Err(Rv::SIGNATURE_INVALID));
    e.ta.stop();
}

#[test]
fn rsa2048_pkcs1_and_pss_both_ways() {
    let (e, mut c, s) = env("ossl-rsa");
    std::fs::write(e.work.join("msg"), MSG).unwrap();
    let req = Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
        public_template: vec![Attribute::ulong(CKA_MODULUS_BITS, 2048), Attribute::bool(CKA_VERIFY, true), Attribute::bool(CKA_TOKEN, false)],
        private_template: vec![Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, false)],
    };
    let (public, private) = gen_pair(&mut c, &req).expect("generate RSA-2048");
    let n = attr(&mut c, s, public, CKA_MODULUS);
    let ex = attr(&mut c, s, public, CKA_PUBLIC_EXPONENT);
    assert_eq!(n.len(), 256);
    std::fs::write(e.work.join("pub.pem"), pem(&rsa_spki(&n, &ex), "PUBLIC KEY")).unwrap();
    let pss = || Mechanism::with(CKM_SHA256_RSA_PKCS_PSS, MechParam::Pss { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, salt_len: 32 });

    let sig = sign(&mut c, s, private, Mechanism::new(CKM_SHA256_RSA_PKCS));
    std::fs::write(e.work.join("sig"), &sig).unwrap();
    let out = openssl_ok(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "msg"], &e.work);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));

    let sig = sign(&mut c, s, private, pss());
    std::fs::write(e.work.join("pss"), &sig).unwrap();
    let out = openssl_ok(
        &["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-verify", "pub.pem", "-signature", "pss", "msg"],
        &e.work,
    );
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));

    // OpenSSL -> TA
    openssl_ok(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "k.pem"], &e.work);
    let modulus = String::from_utf8(openssl_ok(&["rsa", "-in", "k.pem", "-noout", "-modulus"], &e.work)).unwrap();
    let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
    let key = import_public(&mut c, s, CKK_RSA, vec![Attribute::new(CKA_MODULUS, n), Attribute::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1])]);
    openssl_ok(&["dgst", "-sha256", "-sign", "k.pem", "-out", "osig", "msg"], &e.work);
    let osig = std::fs::read(e.work.join("osig")).unwrap();
    ta_verify(&mut c, s, key, Mechanism::new(CKM_SHA256_RSA_PKCS), osig).expect("TA verifies OpenSSL's PKCS#1 v1.5 signature");
    openssl_ok(
        &["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sign", "k.pem", "-out", "opss", "msg"],
        &e.work,
    );
    let opss = std::fs::read(e.work.join("opss")).unwrap();
    ta_verify(&mut c, s, key, pss(), opss.clone()).expect("TA verifies OpenSSL's PSS signature");
    let mut bad = opss;
    bad[100] ^= 4;
    assert_eq!(ta_verify(&mut c, s, key, pss(), bad), Err(Rv::SIGNATURE_INVALID));
    e.ta.stop();
}
