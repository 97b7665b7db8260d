//! Interoperability with the system OpenSSL 3 CLI, both directions:
//! signatures made here verify in OpenSSL and OpenSSL's verify here (ECDSA
//! P-256/P-384, RSA PKCS#1 v1.5 and PSS, SM2 with the default ID), OAEP and
//! SM2 ciphertexts decrypt on the other side, keys cross over (PKCS#1 DER,
//! SEC1/SPKI), and SM3/HMAC-SM3/SM4/AES/CMAC/HKDF/PBKDF2 outputs agree.
//! AES-GCM and AES key wrap, which `openssl enc` does not offer, are checked
//! against Python's `cryptography` (OpenSSL-backed).
//!
//! Both tools are required (`scripts/install-deps.sh` installs them); a
//! missing tool fails the test rather than skipping it silently.
//!
//! OpenSSL note: `openssl pkeyutl` signs SM2 with an *empty* distinguishing
//! ID unless `-pkeyopt distid:...` is given; the GB/T default ID
//! "1234567812345678" must be passed explicitly (see `sm2_openssl_default_distid_is_empty`).

use std::path::PathBuf;
use std::process::Command;
use teehsm_crypto::digest::{self, HashAlg};
use teehsm_crypto::ec::{self, Curve};
use teehsm_crypto::sym::{self, Cipher};
use teehsm_crypto::{kdf, keywrap, mac, rsa, sm2};

// ---------------------------------------------------------------- harness

struct Ossl {
    dir: tempfile::TempDir,
}

fn openssl() -> Option<Ossl> {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => Some(Ossl { dir: tempfile::tempdir().expect("temp dir") }),
        _ => panic!("no `openssl` binary on PATH: run ./scripts/install-deps.sh"),
    }
}

impl Ossl {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, data: &[u8]) -> String {
        std::fs::write(self.path(name), data).expect("write temp file");
        self.p(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read temp file")
    }

    /// Runs `openssl args...`; returns (success, stdout, stderr).
    fn try_run(&self, args: &[&str]) -> (bool, Vec<u8>, String) {
        let out = Command::new("openssl").args(args).current_dir(self.dir.path()).output().expect("spawn openssl");
        (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Runs `openssl args...` and requires success.
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let (ok, stdout, stderr) = self.try_run(args);
        assert!(ok, "openssl {} failed: {stderr}", args.join(" "));
        stdout
    }
}

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

/// `openssl kdf`/`mac` print hex, sometimes with colons.
fn parse_hex_output(out: &[u8]) -> Vec<u8> {
    let s: String = String::from_utf8_lossy(out).chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(s).expect("openssl hex output")
}

// ---------------------------------------------------------------- tiny DER

/// Reads one TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = b[0];
    let (len, hdr) = if b[1] < 0x80 {
        (b[1] as usize, 2)
    } else {
        let n = (b[1] & 0x7f) as usize;
        (b[2..2 + n].iter().fold(0usize, |a, &x| (a << 8) | x as usize), 2 + n)
    };
    (tag, &b[hdr..hdr + len], &b[hdr + len..])
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

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    [vec![tag], der_len(content.len()), content.to_vec()].concat()
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_SM2: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// SubjectPublicKeyInfo for an uncompressed EC point on the curve with the given OID (DER).
fn ec_spki(curve_oid: &[u8], point: &[u8]) -> Vec<u8> {
    let alg = der(0x30, &[OID_EC_PUBLIC_KEY, curve_oid].concat());
    let bits = der(0x03, &[&[0u8][..], point].concat());
    der(0x30, &[alg, bits].concat())
}

/// The uncompressed point of a DER SubjectPublicKeyInfo.
fn spki_point(spki: &[u8]) -> Vec<u8> {
    let (_, seq, _) = tlv(spki);
    let (_, _alg, rest) = tlv(seq);
    let (tag, bits, _) = tlv(rest);
    assert_eq!(tag, 0x03);
    assert_eq!(bits[0], 0, "unused bits");
    bits[1..].to_vec()
}

/// (private scalar, public point) of a SEC1 ECPrivateKey DER.
fn sec1_key(der_bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (_, mut seq, _) = tlv(der_bytes);
    let (_, version, rest) = tlv(seq);
    assert_eq!(version, [1]);
    seq = rest;
    let (tag, d, mut rest) = tlv(seq);
    assert_eq!(tag, 0x04);
    let mut point = None;
    while !rest.is_empty() {
        let (tag, content, r) = tlv(rest);
        if tag == 0xa1 {
            let (_, bits, _) = tlv(content);
            point = Some(bits[1..].to_vec());
        }
        rest = r;
    }
    (d.to_vec(), point.expect("SEC1 key without its public point"))
}

fn curve_params(curve: Curve) -> (&'static str, HashAlg, &'static str, Vec<u8>) {
    match curve {
        Curve::P256 => ("prime256v1", HashAlg::Sha256, "-sha256", curve.ec_params_der().to_vec()),
        Curve::P384 => ("secp384r1", HashAlg::Sha384, "-sha384", curve.ec_params_der().to_vec()),
    }
}

// ================================================================ ECDSA

fn ecdsa_ours_to_openssl(curve: Curve) {
    let Some(o) = openssl() else { return };
    let (_, alg, dgst, oid) = curve_params(curve);
    let key = ec::generate(curve).unwrap();
    let msg = o.write("msg", b"signed by teehsm, verified by OpenSSL");
    o.write("pub.der", &ec_spki(&oid, &key.public_point()));
    o.run(&["pkey", "-pubin", "-inform", "DER", "-in", &o.p("pub.der"), "-out", &o.p("pub.pem")]);
    let sig = key.sign(alg, b"signed by teehsm, verified by OpenSSL").unwrap();
    let sig_der = o.write("sig.der", &ec::sig_rs_to_der(&sig));
    let out = o.run(&["dgst", dgst, "-verify", &o.p("pub.pem"), "-signature", &sig_der, &msg]);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
    // OpenSSL must refuse the same signature over another message.
    let other = o.write("other", b"signed by teehsm, verified by OpenSSL!");
    let (ok, _, _) = o.try_run(&["dgst", dgst, "-verify", &o.p("pub.pem"), "-signature", &sig_der, &other]);
    assert!(!ok, "OpenSSL accepted a signature over another message");
    // Pre-hashed signing (CKM_ECDSA) is the same signature scheme.
    let e = digest::digest(alg, b"signed by teehsm, verified by OpenSSL");
    let sig2 = key.sign_prehashed(&e).unwrap();
    o.write("sig2.der", &ec::sig_rs_to_der(&sig2));
    o.run(&["dgst", dgst, "-verify", &o.p("pub.pem"), "-signature", &o.p("sig2.der"), &msg]);
}

fn ecdsa_openssl_to_ours(curve: Curve) {
    let Some(o) = openssl() else { return };
    let (name, alg, dgst, _) = curve_params(curve);
    o.run(&["ecparam", "-name", name, "-genkey", "-noout", "-out", &o.p("key.pem")]);
    o.run(&["ec", "-in", &o.p("key.pem"), "-outform", "DER", "-out", &o.p("key.der")]);
    o.run(&["ec", "-in", &o.p("key.pem"), "-pubout", "-outform", "DER", "-out", &o.p("pub.der")]);
    let (d, point_in_key) = sec1_key(&o.read("key.der"));
    let point = spki_point(&o.read("pub.der"));
    assert_eq!(point, point_in_key);
    // Key import: our public point from OpenSSL's scalar is OpenSSL's point.
    let ours = ec::EcPrivateKey::from_scalar(curve, &d).unwrap();
    assert_eq!(hexs(&ours.public_point()), hexs(&point));
    let msg = o.write("msg", b"signed by OpenSSL, verified by teehsm");
    for i in 0..4 {
        let sig_path = o.p(&format!("sig{i}.der"));
        o.run(&["dgst", dgst, "-sign", &o.p("key.pem"), "-out", &sig_path, &msg]);
        let rs = ec::sig_der_to_rs(curve, &o.read(&format!("sig{i}.der"))).unwrap();
        ec::verify(curve, &point, alg, b"signed by OpenSSL, verified by teehsm", &rs).unwrap();
        assert_eq!(ec::verify(curve, &point, alg, b"signed by OpenSSL, verified by teehsm?", &rs), Err(teehsm_crypto::CryptoError::InvalidSignature));
    }
}

#[test]
fn ecdsa_p256_ours_verifies_in_openssl() {
    ecdsa_ours_to_openssl(Curve::P256);
}
#[test]
fn ecdsa_p256_openssl_verifies_in_ours() {
    ecdsa_openssl_to_ours(Curve::P256);
}
#[test]
fn ecdsa_p384_ours_verifies_in_openssl() {
    ecdsa_ours_to_openssl(Curve::P384);
}
#[test]
fn ecdsa_p384_openssl_verifies_in_ours() {
    ecdsa_openssl_to_ours(Curve::P384);
}

#[test]
fn ecdh_p256_agrees_with_openssl() {
    let Some(o) = openssl() else { return };
    o.run(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &o.p("theirs.pem")]);
    o.run(&["ec", "-in", &o.p("theirs.pem"), "-pubout", "-outform", "DER", "-out", &o.p("theirs_pub.der")]);
    let their_point = spki_point(&o.read("theirs_pub.der"));
    let ours = ec::generate(Curve::P256).unwrap();
    o.write("ours_pub.der", &ec_spki(Curve::P256.ec_params_der(), &ours.public_point()));
    o.run(&["pkey", "-pubin", "-inform", "DER", "-in", &o.p("ours_pub.der"), "-out", &o.p("ours_pub.pem")]);
    o.run(&["pkeyutl", "-derive", "-inkey", &o.p("theirs.pem"), "-peerkey", &o.p("ours_pub.pem"), "-out", &o.p("z")]);
    assert_eq!(hexs(&ours.ecdh(&their_point).unwrap()), hexs(&o.read("z")));
}

// ================================================================ RSA

/// An OpenSSL-generated 2048-bit key: (our key, path of key.pem, path of pub.pem).
fn openssl_rsa_key(o: &Ossl) -> rsa::RsaPrivateKey {
    o.run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &o.p("key.pem")]);
    o.run(&["rsa", "-in", &o.p("key.pem"), "-traditional", "-outform", "DER", "-out", &o.p("key.der")]);
    o.run(&["rsa", "-in", &o.p("key.pem"), "-pubout", "-out", &o.p("pub.pem")]);
    rsa::RsaPrivateKey::from_pkcs1_der(&o.read("key.der")).unwrap()
}

#[test]
fn rsa_pkcs1v15_both_directions_and_identical_bytes() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let text = b"RSA PKCS#1 v1.5 interop";
    let msg = o.write("msg", text);
    for (alg, dgst) in [(HashAlg::Sha256, "-sha256"), (HashAlg::Sha384, "-sha384"), (HashAlg::Sha512, "-sha512")] {
        // Ours -> OpenSSL.
        let sig = key.sign_pkcs1v15(alg, text).unwrap();
        let sig_path = o.write("ours.sig", &sig);
        let out = o.run(&["dgst", dgst, "-verify", &o.p("pub.pem"), "-signature", &sig_path, &msg]);
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
        // OpenSSL -> ours; PKCS#1 v1.5 is deterministic, so the bytes are identical.
        o.run(&["dgst", dgst, "-sign", &o.p("key.pem"), "-out", &o.p("theirs.sig"), &msg]);
        let theirs = o.read("theirs.sig");
        key.public_key().verify_pkcs1v15(alg, text, &theirs).unwrap();
        assert_eq!(hexs(&theirs), hexs(&sig), "{}", alg.name());
    }
    // OpenSSL refuses a corrupted signature of ours.
    let mut bad = key.sign_pkcs1v15(HashAlg::Sha256, text).unwrap();
    bad[10] ^= 1;
    let bad_path = o.write("bad.sig", &bad);
    let (ok, _, _) = o.try_run(&["dgst", "-sha256", "-verify", &o.p("pub.pem"), "-signature", &bad_path, &msg]);
    assert!(!ok);
}

#[test]
fn rsa_pss_both_directions() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let text = b"RSA PSS interop";
    let msg = o.write("msg", text);
    for (alg, dgst, salt) in [(HashAlg::Sha256, "-sha256", "32"), (HashAlg::Sha384, "-sha384", "48"), (HashAlg::Sha512, "-sha512", "64")] {
        let salt_len: usize = salt.parse().unwrap();
        let saltopt = format!("rsa_pss_saltlen:{salt}");
        let pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", saltopt.as_str()];
        // Ours -> OpenSSL.
        let sig = key.sign_pss(alg, text, salt_len).unwrap();
        let sig_path = o.write("ours.sig", &sig);
        let pub_path = o.p("pub.pem");
        let mut args = vec!["dgst", dgst, "-verify", pub_path.as_str()];
        args.extend_from_slice(&pss);
        args.extend_from_slice(&["-signature", sig_path.as_str(), msg.as_str()]);
        let out = o.run(&args);
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"), "{}", alg.name());
        // OpenSSL -> ours.
        let (key_path, theirs_path) = (o.p("key.pem"), o.p("theirs.sig"));
        let mut args = vec!["dgst", dgst, "-sign", key_path.as_str()];
        args.extend_from_slice(&pss);
        args.extend_from_slice(&["-out", theirs_path.as_str(), msg.as_str()]);
        o.run(&args);
        key.public_key().verify_pss(alg, text, &o.read("theirs.sig"), salt_len).unwrap();
    }
}

#[test]
fn rsa_oaep_sha256_both_directions() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"];
    // OpenSSL encrypts -> we decrypt.
    let pt = o.write("pt", b"a 32-byte AES key, say, or less");
    let (pub_path, ct_path) = (o.p("pub.pem"), o.p("ct"));
    let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-inkey", &pub_path, "-in", &pt, "-out", &ct_path];
    args.extend_from_slice(&oaep);
    o.run(&args);
    let got = key.decrypt_oaep(HashAlg::Sha256, b"", &o.read("ct")).unwrap();
    assert_eq!(got.as_slice(), b"a 32-byte AES key, say, or less");
    // We encrypt -> OpenSSL decrypts.
    let ct = key.public_key().encrypt_oaep(HashAlg::Sha256, b"", b"from teehsm to OpenSSL").unwrap();
    let ours_ct = o.write("ours.ct", &ct);
    let (key_path, out_path) = (o.p("key.pem"), o.p("out"));
    let mut args = vec!["pkeyutl", "-decrypt", "-inkey", &key_path, "-in", &ours_ct, "-out", &out_path];
    args.extend_from_slice(&oaep);
    o.run(&args);
    assert_eq!(o.read("out"), b"from teehsm to OpenSSL");
    // With a label (hex) in both directions.
    let ct = key.public_key().encrypt_oaep(HashAlg::Sha256, b"teehsm", b"labelled").unwrap();
    let ours_ct = o.write("ours2.ct", &ct);
    let out2 = o.p("out2");
    let mut args = vec!["pkeyutl", "-decrypt", "-inkey", &key_path, "-in", &ours_ct, "-out", &out2];
    args.extend_from_slice(&oaep);
    args.extend_from_slice(&["-pkeyopt", "rsa_oaep_label:74656568736d"]);
    o.run(&args);
    assert_eq!(o.read("out2"), b"labelled");
}

#[test]
fn rsa_generated_key_is_accepted_by_openssl() {
    let Some(o) = openssl() else { return };
    let key = rsa::generate(2048, &[1, 0, 1]).unwrap();
    assert_eq!(key.bits(), 2048);
    o.write("ours.der", &key.to_pkcs1_der().unwrap());
    let out = o.run(&["rsa", "-inform", "DER", "-in", &o.p("ours.der"), "-check", "-noout"]);
    assert!(String::from_utf8_lossy(&out).contains("RSA key ok"));
    o.run(&["rsa", "-inform", "DER", "-in", &o.p("ours.der"), "-out", &o.p("ours.pem")]);
    // OpenSSL signs with our key; we verify; and the bytes equal ours.
    let msg = o.write("msg", b"our key in OpenSSL");
    o.run(&["dgst", "-sha256", "-sign", &o.p("ours.pem"), "-out", &o.p("sig"), &msg]);
    key.public_key().verify_pkcs1v15(HashAlg::Sha256, b"our key in OpenSSL", &o.read("sig")).unwrap();
    assert_eq!(o.read("sig"), key.sign_pkcs1v15(HashAlg::Sha256, b"our key in OpenSSL").unwrap());
    // And the public key we export (PKCS#1 RSAPublicKey) is read by OpenSSL with the same modulus.
    o.write("pub1.der", &key.public_key().to_pkcs1_der());
    let text = o.run(&["rsa", "-RSAPublicKey_in", "-inform", "DER", "-in", &o.p("pub1.der"), "-noout", "-modulus"]);
    let modulus = String::from_utf8_lossy(&text).trim().trim_start_matches("Modulus=").to_lowercase();
    assert_eq!(modulus, hexs(&key.modulus()));
}

// ================================================================ SM2

/// An OpenSSL SM2 key: (scalar, point); files key.pem and pub.pem.
fn openssl_sm2_key(o: &Ossl) -> (Vec<u8>, Vec<u8>) {
    o.run(&["genpkey", "-algorithm", "SM2", "-out", &o.p("key.pem")]);
    o.run(&["pkey", "-in", &o.p("key.pem"), "-outform", "DER", "-out", &o.p("key.der")]);
    o.run(&["pkey", "-in", &o.p("key.pem"), "-pubout", "-out", &o.p("pub.pem")]);
    o.run(&["pkey", "-in", &o.p("key.pem"), "-pubout", "-outform", "DER", "-out", &o.p("pub.der")]);
    let (d, point) = sec1_key(&o.read("key.der"));
    assert_eq!(point, spki_point(&o.read("pub.der")));
    (d, point)
}

const DISTID: &str = "distid:1234567812345678";

#[test]
fn sm2_ours_verifies_in_openssl_default_id() {
    let Some(o) = openssl() else { return };
    let key = sm2::generate().unwrap();
    o.write("pub.der", &ec_spki(OID_SM2, &key.public_point()));
    o.run(&["pkey", "-pubin", "-inform", "DER", "-in", &o.p("pub.der"), "-out", &o.p("pub.pem")]);
    let text = b"SM2 signed by teehsm";
    let msg = o.write("msg", text);
    for i in 0..3 {
        let sig = key.sign(sm2::DEFAULT_USER_ID, text).unwrap();
        let sig_path = o.write(&format!("sig{i}.der"), &ec::sig_rs_to_der(&sig));
        let out = o.run(&[
            "pkeyutl",
            "-verify",
            "-rawin",
            "-digest",
            "sm3",
            "-pubin",
            "-inkey",
            &o.p("pub.pem"),
            "-in",
            &msg,
            "-sigfile",
            &sig_path,
            "-pkeyopt",
            DISTID,
        ]);
        assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
    }
    // Another ID or message is refused by OpenSSL.
    let sig = key.sign(b"ALICE123@YAHOO.COM", text).unwrap();
    let sig_path = o.write("alice.der", &ec::sig_rs_to_der(&sig));
    let (ok, _, _) = o.try_run(&[
        "pkeyutl",
        "-verify",
        "-rawin",
        "-digest",
        "sm3",
        "-pubin",
        "-inkey",
        &o.p("pub.pem"),
        "-in",
        &msg,
        "-sigfile",
        &sig_path,
        "-pkeyopt",
        DISTID,
    ]);
    assert!(!ok, "OpenSSL accepted a signature made under another ID");
    let (ok, _, _) = o.try_run(&[
        "pkeyutl",
        "-verify",
        "-rawin",
        "-digest",
        "sm3",
        "-pubin",
        "-inkey",
        &o.p("pub.pem"),
        "-in",
        &msg,
        "-sigfile",
        &sig_path,
        "-pkeyopt",
        "distid:ALICE123@YAHOO.COM",
    ]);
    assert!(ok, "a non-default ID also interoperates");
}

#[test]
fn sm2_openssl_verifies_in_ours_default_id() {
    let Some(o) = openssl() else { return };
    let (d, point) = openssl_sm2_key(&o);
    // Key import: our public point from OpenSSL's scalar.
    let ours = sm2::Sm2PrivateKey::from_scalar(&d).unwrap();
    assert_eq!(hexs(&ours.public_point()), hexs(&point));
    let text = b"SM2 signed by OpenSSL";
    let msg = o.write("msg", text);
    for i in 0..3 {
        let sig_path = o.p(&format!("sig{i}.der"));
        o.run(&["pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", &o.p("key.pem"), "-in", &msg, "-out", &sig_path, "-pkeyopt", DISTID]);
        let rs = ec::sig_der_to_rs(Curve::P256, &o.read(&format!("sig{i}.der"))).unwrap();
        sm2::verify(&point, sm2::DEFAULT_USER_ID, text, &rs).unwrap();
        assert_eq!(sm2::verify(&point, b"", text, &rs), Err(teehsm_crypto::CryptoError::InvalidSignature));
    }
}

/// Documents OpenSSL 3.0's `pkeyutl` behaviour: with no `distid` it signs
/// with an empty ID, which our verify accepts under the empty ID only.
#[test]
fn sm2_openssl_default_distid_is_empty() {
    let Some(o) = openssl() else { return };
    let (_, point) = openssl_sm2_key(&o);
    let text = b"no distid given";
    let msg = o.write("msg", text);
    o.run(&["pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", &o.p("key.pem"), "-in", &msg, "-out", &o.p("sig.der")]);
    let rs = ec::sig_der_to_rs(Curve::P256, &o.read("sig.der")).unwrap();
    sm2::verify(&point, b"", text, &rs).unwrap();
    assert_eq!(sm2::verify(&point, sm2::DEFAULT_USER_ID, text, &rs), Err(teehsm_crypto::CryptoError::InvalidSignature));
}

#[test]
fn sm2_encryption_both_directions() {
    let Some(o) = openssl() else { return };
    let (d, _) = openssl_sm2_key(&o);
    let ours = sm2::Sm2PrivateKey::from_scalar(&d).unwrap();
    // OpenSSL encrypts (GM/T 0009 DER, C1C3C2 fields) -> we decrypt.
    for (i, pt) in [&b"x"[..], b"encryption standard", &[0x5au8; 300][..]].iter().enumerate() {
        let pt_path = o.write(&format!("pt{i}"), pt);
        let ct_path = o.p(&format!("ct{i}"));
        o.run(&["pkeyutl", "-encrypt", "-pubin", "-inkey", &o.p("pub.pem"), "-in", &pt_path, "-out", &ct_path]);
        let raw = sm2::ciphertext_from_der(&o.read(&format!("ct{i}"))).unwrap();
        assert_eq!(raw.len(), 65 + 32 + pt.len());
        assert_eq!(ours.decrypt(&raw).unwrap().as_slice(), *pt);
    }
    // We encrypt -> OpenSSL decrypts.
    for (i, pt) in [&b"y"[..], b"from teehsm", &[0xa5u8; 300][..]].iter().enumerate() {
        let ct = sm2::encrypt(&ours.public_point(), pt).unwrap();
        let ct_path = o.write(&format!("ours{i}.ct"), &sm2::ciphertext_to_der(&ct).unwrap());
        let out_path = o.p(&format!("out{i}"));
        o.run(&["pkeyutl", "-decrypt", "-inkey", &o.p("key.pem"), "-in", &ct_path, "-out", &out_path]);
        assert_eq!(o.read(&format!("out{i}")), *pt);
    }
}

// ================================================================ SM3 / SM4

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn sm3_digest_agrees() {
    let Some(o) = openssl() else { return };
    for len in [0usize, 3, 55, 56, 64, 65, 1000] {
        let data = sample(len);
        let f = o.write("data", &data);
        let theirs = o.run(&["dgst", "-sm3", "-binary", &f]);
        assert_eq!(hexs(&digest::digest(HashAlg::Sm3, &data)), hexs(&theirs), "len {len}");
    }
}

#[test]
fn hmac_sm3_and_sha256_agree() {
    let Some(o) = openssl() else { return };
    let key = sample(20);
    let data = sample(200);
    let f = o.write("data", &data);
    let hexkey = format!("hexkey:{}", hexs(&key));
    for (alg, name) in [(HashAlg::Sm3, "SM3"), (HashAlg::Sha256, "SHA256"), (HashAlg::Sha512, "SHA512")] {
        let out = o.run(&["mac", "-digest", name, "-macopt", &hexkey, "-in", &f, "HMAC"]);
        assert_eq!(hexs(&mac::hmac(alg, &key, &data).unwrap()), hexs(&parse_hex_output(&out)), "HMAC-{name}");
    }
}

fn enc(o: &Ossl, cipher: &str, key: &[u8], iv: Option<&[u8]>, data: &[u8], decrypt: bool, nopad: bool) -> Vec<u8> {
    let input = o.write("enc_in", data);
    let (k, out) = (hexs(key), o.p("enc_out"));
    let mut args = vec!["enc", cipher, "-K", &k, "-in", &input, "-out", &out];
    let ivh = iv.map(hexs);
    if let Some(ivh) = ivh.as_deref() {
        args.extend_from_slice(&["-iv", ivh]);
    }
    if decrypt {
        args.push("-d");
    }
    if nopad {
        args.push("-nopad");
    }
    o.run(&args);
    o.read("enc_out")
}

#[test]
fn sm4_cbc_ecb_ctr_agree() {
    let Some(o) = openssl() else { return };
    let key = sample(16);
    let iv = [0x42u8; 16];
    for len in [0usize, 1, 15, 16, 17, 100] {
        let data = sample(len);
        // CBC with PKCS#7 padding, both directions.
        let ours = sym::cbc_encrypt(Cipher::Sm4, &key, &iv, &data, true).unwrap();
        assert_eq!(hexs(&ours), hexs(&enc(&o, "-sm4-cbc", &key, Some(&iv), &data, false, false)), "SM4-CBC len {len}");
        assert_eq!(enc(&o, "-sm4-cbc", &key, Some(&iv), &ours, true, false), data);
        let theirs = enc(&o, "-sm4-cbc", &key, Some(&iv), &data, false, false);
        assert_eq!(sym::cbc_decrypt(Cipher::Sm4, &key, &iv, &theirs, true).unwrap().as_slice(), &data[..]);
        // CTR (128-bit counter).
        let ctr = [0xffu8; 16];
        assert_eq!(
            hexs(&sym::ctr_apply(Cipher::Sm4, &key, &ctr, 128, &data).unwrap()),
            hexs(&enc(&o, "-sm4-ctr", &key, Some(&ctr), &data, false, false)),
            "SM4-CTR len {len}"
        );
    }
    // ECB without padding, whole blocks; including the GB/T 32907 A.1 block.
    let data = sample(64);
    assert_eq!(hexs(&sym::ecb_encrypt(Cipher::Sm4, &key, &data).unwrap()), hexs(&enc(&o, "-sm4-ecb", &key, None, &data, false, true)));
    let k = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
    assert_eq!(hexs(&enc(&o, "-sm4-ecb", &k, None, &k, false, true)), "681edf34d206965e86b3e94f536e4246");
}

#[test]
fn sm4_and_aes_cmac_agree() {
    let Some(o) = openssl() else { return };
    for (cipher, name, klen) in [(Cipher::Sm4, "SM4-CBC", 16), (Cipher::Aes, "AES-128-CBC", 16), (Cipher::Aes, "AES-256-CBC", 32)] {
        let key = sample(klen);
        let hexkey = format!("hexkey:{}", hexs(&key));
        for len in [0usize, 16, 40, 64] {
            let data = sample(len);
            let f = o.write("data", &data);
            let out = o.run(&["mac", "-cipher", name, "-macopt", &hexkey, "-in", &f, "CMAC"]);
            assert_eq!(hexs(&mac::cmac(cipher, &key, &data).unwrap()), hexs(&parse_hex_output(&out)), "{name} CMAC len {len}");
        }
    }
}

// ================================================================ AES

#[test]
fn aes_cbc_ecb_ctr_agree() {
    let Some(o) = openssl() else { return };
    for (klen, cbc, ecb, ctr) in [
        (16, "-aes-128-cbc", "-aes-128-ecb", "-aes-128-ctr"),
        (24, "-aes-192-cbc", "-aes-192-ecb", "-aes-192-ctr"),
        (32, "-aes-256-cbc", "-aes-256-ecb", "-aes-256-ctr"),
    ] {
        let key = sample(klen);
        let iv = sample(16);
        for len in [0usize, 1, 16, 31, 100] {
            let data = sample(len);
            let ours = sym::cbc_encrypt(Cipher::Aes, &key, &iv, &data, true).unwrap();
            assert_eq!(hexs(&ours), hexs(&enc(&o, cbc, &key, Some(&iv), &data, false, false)), "{cbc} len {len}");
            assert_eq!(enc(&o, cbc, &key, Some(&iv), &ours, true, false), data);
            let counter = [0xfeu8; 16];
            assert_eq!(
                hexs(&sym::ctr_apply(Cipher::Aes, &key, &counter, 128, &data).unwrap()),
                hexs(&enc(&o, ctr, &key, Some(&counter), &data, false, false)),
                "{ctr} len {len}"
            );
        }
        let data = sample(48);
        assert_eq!(hexs(&sym::ecb_encrypt(Cipher::Aes, &key, &data).unwrap()), hexs(&enc(&o, ecb, &key, None, &data, false, true)), "{ecb}");
        let theirs = enc(&o, cbc, &key, Some(&iv), &data, false, true);
        assert_eq!(sym::cbc_decrypt(Cipher::Aes, &key, &iv, &theirs, false).unwrap().as_slice(), &data[..]);
    }
}

/// Runs a Python snippet with the OpenSSL-backed `cryptography` package;
/// Panics with the fix when Python or the package is missing.
fn python_cryptography(script: &str) -> Option<String> {
    let probe = Command::new("python3").args(["-c", "import cryptography"]).output();
    if !matches!(probe, Ok(ref o) if o.status.success()) {
        panic!("python3 with the `cryptography` package is required: run ./scripts/install-deps.sh");
    }
    let out = Command::new("python3").args(["-c", script]).output().expect("python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn aes_gcm_agrees_with_openssl_backend() {
    for klen in [16usize, 24, 32] {
        let key = sample(klen);
        let iv = sample(12);
        let aad = sample(20);
        let data = sample(77);
        let script = format!(
            "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
             k=bytes.fromhex('{}'); n=bytes.fromhex('{}'); a=bytes.fromhex('{}'); p=bytes.fromhex('{}')\n\
             print(AESGCM(k).encrypt(n,p,a).hex())",
            hexs(&key),
            hexs(&iv),
            hexs(&aad),
            hexs(&data)
        );
        let Some(theirs) = python_cryptography(&script) else { return };
        let ours = sym::gcm_encrypt(Cipher::Aes, &key, &iv, &aad, &data, 16).unwrap();
        assert_eq!(hexs(&ours), theirs, "AES-{}-GCM", klen * 8);
        let theirs = hex::decode(theirs).unwrap();
        assert_eq!(sym::gcm_decrypt(Cipher::Aes, &key, &iv, &aad, &theirs, 16).unwrap().as_slice(), &data[..]);
    }
}

#[test]
fn aes_key_wrap_agrees_with_openssl_backend() {
    for klen in [16usize, 32] {
        let kek = sample(klen);
        let key = sample(32);
        let odd = sample(21);
        let script = format!(
            "from cryptography.hazmat.primitives import keywrap\n\
             k=bytes.fromhex('{}')\n\
             print(keywrap.aes_key_wrap(k, bytes.fromhex('{}')).hex())\n\
             print(keywrap.aes_key_wrap_with_padding(k, bytes.fromhex('{}')).hex())",
            hexs(&kek),
            hexs(&key),
            hexs(&odd)
        );
        let Some(out) = python_cryptography(&script) else { return };
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(hexs(&keywrap::aes_kw_wrap(&kek, &key).unwrap()), lines[0], "KW");
        assert_eq!(hexs(&keywrap::aes_kwp_wrap(&kek, &odd).unwrap()), lines[1], "KWP");
    }
}

// ================================================================ KDFs

#[test]
fn hkdf_and_pbkdf2_agree() {
    let Some(o) = openssl() else { return };
    let (ikm, salt, info) = (sample(22), sample(13), sample(10));
    let out = o.run(&[
        "kdf",
        "-keylen",
        "80",
        "-kdfopt",
        "digest:SHA256",
        "-kdfopt",
        &format!("hexkey:{}", hexs(&ikm)),
        "-kdfopt",
        &format!("hexsalt:{}", hexs(&salt)),
        "-kdfopt",
        &format!("hexinfo:{}", hexs(&info)),
        "HKDF",
    ]);
    assert_eq!(hexs(&kdf::hkdf_sha256(&ikm, &salt, &info, 80).unwrap()), hexs(&parse_hex_output(&out)));
    let out = o.run(&[
        "kdf",
        "-keylen",
        "48",
        "-kdfopt",
        "digest:SHA256",
        "-kdfopt",
        "pass:correct horse",
        "-kdfopt",
        "salt:battery staple",
        "-kdfopt",
        "iter:1000",
        "PBKDF2",
    ]);
    assert_eq!(hexs(&kdf::pbkdf2_sha256(b"correct horse", b"battery staple", 1000, 48).unwrap()), hexs(&parse_hex_output(&out)));
}

// ---------------------------------------------------------------- RSA: legacy hashes, PSS parameters, PKCS#1 v1.5 and OAEP variants

fn md_name(h: HashAlg) -> &'static str {
    match h {
        HashAlg::Sha1 => "sha1",
        HashAlg::Sha224 => "sha224",
        HashAlg::Sha256 => "sha256",
        HashAlg::Sha384 => "sha384",
        HashAlg::Sha512 => "sha512",
        HashAlg::Sm3 => "sm3",
    }
}

#[test]
fn rsa_pkcs1v15_sha1_sha224_and_raw_both_directions() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let text = b"legacy hashes";
    let msg = o.write("msg", text);
    for alg in [HashAlg::Sha1, HashAlg::Sha224] {
        let dgst = format!("-{}", md_name(alg));
        let sig = key.sign_pkcs1v15(alg, text).unwrap();
        let sig_path = o.write("ours.sig", &sig);
        let out = o.run(&["dgst", &dgst, "-verify", &o.p("pub.pem"), "-signature", &sig_path, &msg]);
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"), "{}", alg.name());
        o.run(&["dgst", &dgst, "-sign", &o.p("key.pem"), "-out", &o.p("theirs.sig"), &msg]);
        assert_eq!(hexs(&o.read("theirs.sig")), hexs(&sig), "{}: PKCS#1 v1.5 is deterministic", alg.name());
        key.public_key().verify_pkcs1v15(alg, text, &o.read("theirs.sig")).unwrap();
    }
    // Raw block (CKM_RSA_PKCS over arbitrary bytes) = `openssl pkeyutl -sign` with PKCS#1 padding.
    let block = o.write("block", b"\xff\x55\xdd arbitrary block");
    o.run(&["pkeyutl", "-sign", "-inkey", &o.p("key.pem"), "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", &block, "-out", &o.p("raw.sig")]);
    let theirs = o.read("raw.sig");
    assert_eq!(key.sign_pkcs1v15_raw(b"\xff\x55\xdd arbitrary block").unwrap(), theirs);
    key.public_key().verify_pkcs1v15_raw(b"\xff\x55\xdd arbitrary block", &theirs).unwrap();
    let ours = o.write("ours.raw", &key.sign_pkcs1v15_raw(b"\x01\x02\x03").unwrap());
    let rec = o.run(&["pkeyutl", "-verifyrecover", "-pubin", "-inkey", &o.p("pub.pem"), "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", &ours]);
    assert_eq!(rec, b"\x01\x02\x03");
}

#[test]
fn rsa_pss_salts_and_mgf1_hashes_both_directions() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let text = b"PSS parameters";
    let msg = o.write("msg", text);
    for (alg, mgf, salt) in [
        (HashAlg::Sha1, HashAlg::Sha1, 20usize),
        (HashAlg::Sha224, HashAlg::Sha224, 28),
        (HashAlg::Sha256, HashAlg::Sha256, 0),
        (HashAlg::Sha256, HashAlg::Sha1, 32),
        (HashAlg::Sha512, HashAlg::Sha256, 100),
    ] {
        let dgst = format!("-{}", md_name(alg));
        let opts = [format!("rsa_pss_saltlen:{salt}"), format!("rsa_mgf1_md:{}", md_name(mgf))];
        let pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", opts[0].as_str(), "-sigopt", opts[1].as_str()];
        let e = digest::digest(alg, text);
        let sig = key.sign_pss_mgf1_prehashed(alg, mgf, &e, salt).unwrap();
        let (sig_path, pub_path) = (o.write("ours.sig", &sig), o.p("pub.pem"));
        let mut args = vec!["dgst", dgst.as_str(), "-verify", pub_path.as_str()];
        args.extend_from_slice(&pss);
        args.extend_from_slice(&["-signature", sig_path.as_str(), msg.as_str()]);
        assert!(String::from_utf8_lossy(&o.run(&args)).contains("Verified OK"), "{} MGF1-{} salt {salt}", alg.name(), mgf.name());
        let (key_path, theirs_path) = (o.p("key.pem"), o.p("theirs.sig"));
        let mut args = vec!["dgst", dgst.as_str(), "-sign", key_path.as_str()];
        args.extend_from_slice(&pss);
        args.extend_from_slice(&["-out", theirs_path.as_str(), msg.as_str()]);
        o.run(&args);
        key.public_key().verify_pss_mgf1_prehashed(alg, mgf, &e, &o.read("theirs.sig"), salt).unwrap();
    }
}

#[test]
fn rsa_pkcs1v15_encryption_both_directions() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let pkcs1 = ["-pkeyopt", "rsa_padding_mode:pkcs1"];
    let pt = o.write("pt", b"0123456789abcdef0123456789abcdef");
    let (pub_path, ct_path, key_path) = (o.p("pub.pem"), o.p("ct"), o.p("key.pem"));
    let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-inkey", &pub_path, "-in", &pt, "-out", &ct_path];
    args.extend_from_slice(&pkcs1);
    o.run(&args);
    assert_eq!(key.decrypt_pkcs1v15(&o.read("ct")).unwrap().as_slice(), b"0123456789abcdef0123456789abcdef");
    let ours = o.write("ours.ct", &key.public_key().encrypt_pkcs1v15(b"from teehsm, PKCS#1 v1.5").unwrap());
    let out = o.p("out");
    let mut args = vec!["pkeyutl", "-decrypt", "-inkey", &key_path, "-in", &ours, "-out", &out];
    args.extend_from_slice(&pkcs1);
    o.run(&args);
    assert_eq!(o.read("out"), b"from teehsm, PKCS#1 v1.5");
}

#[test]
fn rsa_oaep_sha1_sha224_sha384_sha512_both_directions() {
    let Some(o) = openssl() else { return };
    let key = openssl_rsa_key(&o);
    let (pub_path, key_path) = (o.p("pub.pem"), o.p("key.pem"));
    for (hh, mgf, label) in [
        (HashAlg::Sha1, HashAlg::Sha1, &b""[..]),
        (HashAlg::Sha224, HashAlg::Sha224, &b"L224"[..]),
        (HashAlg::Sha384, HashAlg::Sha384, &b""[..]),
        (HashAlg::Sha512, HashAlg::Sha512, &b"L512"[..]),
        (HashAlg::Sha256, HashAlg::Sha1, &b""[..]),
    ] {
        let opts = [format!("rsa_oaep_md:{}", md_name(hh)), format!("rsa_mgf1_md:{}", md_name(mgf)), format!("rsa_oaep_label:{}", hexs(label))];
        let mut oaep = vec!["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", opts[0].as_str(), "-pkeyopt", opts[1].as_str()];
        if !label.is_empty() {
            oaep.extend_from_slice(&["-pkeyopt", opts[2].as_str()]);
        }
        let pt = o.write("pt", b"OAEP interop plaintext");
        let ct_path = o.p("ct");
        let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-inkey", &pub_path, "-in", &pt, "-out", &ct_path];
        args.extend_from_slice(&oaep);
        o.run(&args);
        assert_eq!(key.decrypt_oaep_mgf1(hh, mgf, label, &o.read("ct")).unwrap().as_slice(), b"OAEP interop plaintext", "{}", hh.name());
        let ours = o.write("ours.ct", &key.public_key().encrypt_oaep_mgf1(hh, mgf, label, b"teehsm OAEP").unwrap());
        let out = o.p("out");
        let mut args = vec!["pkeyutl", "-decrypt", "-inkey", &key_path, "-in", &ours, "-out", &out];
        args.extend_from_slice(&oaep);
        o.run(&args);
        assert_eq!(o.read("out"), b"teehsm OAEP", "{} MGF1-{}", hh.name(), mgf.name());
    }
}

// ---------------------------------------------------------------- Ed25519

#[test]
fn ed25519_both_directions() {
    use teehsm_crypto::eddsa::{self, Ed25519Variant};
    let Some(o) = openssl() else { return };
    o.run(&["genpkey", "-algorithm", "ED25519", "-outform", "DER", "-out", &o.p("ed.der")]);
    // PKCS#8 of Ed25519: the 32-byte private key is the last 32 bytes.
    let p8 = o.read("ed.der");
    let ours = eddsa::Ed25519PrivateKey::from_seed(&p8[p8.len() - 32..]).unwrap();
    let spki = o.run(&["pkey", "-inform", "DER", "-in", &o.p("ed.der"), "-pubout", "-outform", "DER"]);
    assert_eq!(hexs(&spki[spki.len() - 32..]), hexs(&ours.public_key()), "public key derivation");
    let msg = o.write("msg", b"Ed25519 interop message");
    // OpenSSL -> ours: identical (EdDSA is deterministic) and it verifies.
    let theirs = o.run(&["pkeyutl", "-sign", "-inkey", &o.p("ed.der"), "-keyform", "DER", "-rawin", "-in", &msg]);
    let mine = ours.sign(Ed25519Variant::Pure, b"", b"Ed25519 interop message").unwrap();
    assert_eq!(hexs(&theirs), hexs(&mine));
    eddsa::verify(&ours.public_key(), Ed25519Variant::Pure, b"", b"Ed25519 interop message", &theirs).unwrap();
    // Ours (fresh key) -> OpenSSL.
    let g = eddsa::generate().unwrap();
    let sig = o.write("ours.sig", &g.sign(Ed25519Variant::Pure, b"", b"Ed25519 interop message").unwrap());
    let pub_der = [hex::decode("302a300506032b6570032100").unwrap(), g.public_key()].concat();
    let pub_path = o.write("pub.der", &pub_der);
    let out = o.run(&["pkeyutl", "-verify", "-pubin", "-inkey", &pub_path, "-keyform", "DER", "-rawin", "-in", &msg, "-sigfile", &sig]);
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
}

// ---------------------------------------------------------------- Ed448

/// Plain Ed448 (empty context) both ways. OpenSSL 3.0's CLI cannot sign or
/// verify Ed448 with a context or Ed448ph (`-pkeyopt context-string:` and
/// `instance:` are refused: "command not supported"), so those variants are
/// covered by the RFC 8032 7.4/7.5 vectors in kat.rs instead.
#[test]
fn ed448_both_directions() {
    use teehsm_crypto::eddsa::{self, Ed448Variant};
    let Some(o) = openssl() else { return };
    let text = b"Ed448 interop message";
    let msg = o.write("msg", text);
    for round in 0..3 {
        let der = o.p(&format!("ed448-{round}.der"));
        o.run(&["genpkey", "-algorithm", "ED448", "-outform", "DER", "-out", &der]);
        // PKCS#8 of Ed448: the 57-byte private key is the last 57 bytes.
        let p8 = std::fs::read(&der).expect("read key");
        let ours = eddsa::Ed448PrivateKey::from_seed(&p8[p8.len() - 57..]).unwrap();
        let spki = o.run(&["pkey", "-inform", "DER", "-in", &der, "-pubout", "-outform", "DER"]);
        assert_eq!(hexs(&spki[..12]), "3043300506032b6571033a00", "SPKI of id-Ed448");
        assert_eq!(hexs(&spki[12..]), hexs(&ours.public_key()), "public key derivation");
        // OpenSSL -> ours: identical (EdDSA is deterministic) and it verifies.
        let theirs = o.run(&["pkeyutl", "-sign", "-inkey", &der, "-keyform", "DER", "-rawin", "-in", &msg]);
        let mine = ours.sign(Ed448Variant::Pure, b"", text).unwrap();
        assert_eq!(hexs(&theirs), hexs(&mine));
        eddsa::verify_ed448(&ours.public_key(), Ed448Variant::Pure, b"", text, &theirs).unwrap();
        assert!(eddsa::verify_ed448(&ours.public_key(), Ed448Variant::Ph, b"", text, &theirs).is_err());
    }
    // Ours (fresh keys) -> OpenSSL; a tampered signature is refused there too.
    for round in 0..3 {
        let g = eddsa::generate_ed448().unwrap();
        let sig = g.sign(Ed448Variant::Pure, b"", text).unwrap();
        let sig_path = o.write(&format!("ours-{round}.sig"), &sig);
        let pub_der = [hex::decode("3043300506032b6571033a00").unwrap(), g.public_key()].concat();
        let pub_path = o.write(&format!("pub-{round}.der"), &pub_der);
        let out = o.run(&["pkeyutl", "-verify", "-pubin", "-inkey", &pub_path, "-keyform", "DER", "-rawin", "-in", &msg, "-sigfile", &sig_path]);
        assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
        let mut bad = sig.clone();
        bad[10] ^= 1;
        let bad_path = o.write(&format!("bad-{round}.sig"), &bad);
        let (ok, _, _) =
            o.try_run(&["pkeyutl", "-verify", "-pubin", "-inkey", &pub_path, "-keyform", "DER", "-rawin", "-in", &msg, "-sigfile", &bad_path]);
        assert!(!ok, "OpenSSL accepted a tampered Ed448 signature");
        // Our key, imported into OpenSSL as PKCS#8, signs identically.
        let p8 = [hex::decode("3047020100300506032b6571043b0439").unwrap(), g.seed().to_vec()].concat();
        let key_path = o.write(&format!("ours-{round}.p8"), &p8);
        let theirs = o.run(&["pkeyutl", "-sign", "-inkey", &key_path, "-keyform", "DER", "-rawin", "-in", &msg]);
        assert_eq!(hexs(&theirs), hexs(&sig));
    }
}

// ---------------------------------------------------------------- X25519 and the ECDH KDFs

#[test]
fn x25519_agrees_with_openssl_both_ways() {
    use teehsm_crypto::x25519;
    let Some(o) = openssl() else { return };
    o.run(&["genpkey", "-algorithm", "X25519", "-outform", "DER", "-out", &o.p("theirs.der")]);
    let spki = o.run(&["pkey", "-inform", "DER", "-in", &o.p("theirs.der"), "-pubout", "-outform", "DER"]);
    let their_public = &spki[spki.len() - 32..];
    let ours = x25519::generate().unwrap();
    let our_spki = [hex::decode("302a300506032b656e032100").unwrap(), ours.public_key()].concat();
    let peer = o.write("ours.pub.der", &our_spki);
    let z_theirs = o.run(&["pkeyutl", "-derive", "-inkey", &o.p("theirs.der"), "-keyform", "DER", "-peerkey", &peer, "-peerform", "DER"]);
    assert_eq!(hexs(&z_theirs), hexs(&ours.agree(their_public).unwrap()));
    // OpenSSL's private key imported here derives OpenSSL's public key.
    let p8 = o.read("theirs.der");
    assert_eq!(hexs(&x25519::X25519PrivateKey::from_bytes(&p8[p8.len() - 32..]).unwrap().public_key()), hexs(their_public));
}

#[test]
fn x963_and_sp800_56c_kdfs_agree_with_openssl() {
    use teehsm_crypto::kdf::{sp800_56c_one_step, x963_kdf, KdfHash};
    let Some(o) = openssl() else { return };
    let z = hex::decode("8d8054bcd94b8cec27f304c5b813547a3997188698249d2bf77cfced4ee8bb78").unwrap();
    for (hh, name) in
        [(HashAlg::Sha1, "SHA1"), (HashAlg::Sha224, "SHA224"), (HashAlg::Sha256, "SHA256"), (HashAlg::Sha384, "SHA384"), (HashAlg::Sha512, "SHA512")]
    {
        for info in [&b""[..], &b"shared info"[..]] {
            for len in [16usize, 40, 100] {
                let args = |kdf: &'static str| {
                    let mut a = vec![
                        "kdf".to_string(),
                        "-keylen".into(),
                        len.to_string(),
                        "-kdfopt".into(),
                        format!("digest:{name}"),
                        "-kdfopt".into(),
                        format!("hexkey:{}", hexs(&z)),
                    ];
                    if !info.is_empty() {
                        a.extend(["-kdfopt".into(), format!("hexinfo:{}", hexs(info))]);
                    }
                    a.push(kdf.into());
                    a
                };
                let run = |kdf| {
                    let a = args(kdf);
                    parse_hex_output(&o.run(&a.iter().map(String::as_str).collect::<Vec<_>>()))
                };
                assert_eq!(hexs(&run("X963KDF")), hexs(&x963_kdf(KdfHash::Sha(hh), &z, info, len).unwrap()), "X9.63 {name} {len}");
                assert_eq!(hexs(&run("SSKDF")), hexs(&sp800_56c_one_step(KdfHash::Sha(hh), &z, info, len).unwrap()), "SSKDF {name} {len}");
            }
        }
    }
}

// ---------------------------------------------------------------- SP 800-108 KBKDF

#[test]
fn kbkdf_counter_and_feedback_agree_with_openssl() {
    use teehsm_crypto::kbkdf::{self, Field, IntFormat, Mode, Prf};
    let Some(o) = openssl() else { return };
    let be32 = IntFormat { little_endian: false, width_bits: 32 };
    let (label, context) = (b"teehsm label".to_vec(), b"teehsm context".to_vec());
    for (prf, key, macopts) in [
        (Prf::Hmac(HashAlg::Sha256), vec![0x0bu8; 32], vec!["mac:HMAC", "digest:SHA256"]),
        (Prf::Hmac(HashAlg::Sha1), vec![0x0cu8; 20], vec!["mac:HMAC", "digest:SHA1"]),
        (Prf::Hmac(HashAlg::Sha512), vec![0x0du8; 64], vec!["mac:HMAC", "digest:SHA512"]),
        (Prf::AesCmac, vec![0x0eu8; 16], vec!["mac:CMAC", "cipher:AES-128-CBC"]),
        (Prf::AesCmac, vec![0x0fu8; 32], vec!["mac:CMAC", "cipher:AES-256-CBC"]),
    ] {
        for len in [16usize, 32, 42] {
            for feedback in [false, true] {
                let iv = vec![0x77u8; prf.output_len()];
                let mut fields = vec![];
                if feedback {
                    fields.push(Field::Iteration(None));
                    fields.push(Field::Counter(be32));
                } else {
                    fields.push(Field::Iteration(Some(be32)));
                }
                fields.extend([
                    Field::Bytes(label.clone()),
                    Field::Bytes(vec![0]),
                    Field::Bytes(context.clone()),
                    Field::DkmLength { sum_of_segments: false, format: be32 },
                ]);
                let mode = if feedback { Mode::Feedback { iv: iv.clone() } } else { Mode::Counter };
                let ours = kbkdf::derive(prf, &key, &mode, &fields, &[len]).unwrap();
                let mut args = vec!["kdf".to_string(), "-keylen".into(), len.to_string()];
                for m in &macopts {
                    args.extend(["-kdfopt".into(), m.to_string()]);
                }
                args.extend(["-kdfopt".into(), format!("hexkey:{}", hexs(&key))]);
                args.extend(["-kdfopt".into(), format!("hexsalt:{}", hexs(&label))]);
                args.extend(["-kdfopt".into(), format!("hexinfo:{}", hexs(&context))]);
                if feedback {
                    args.extend(["-kdfopt".into(), "mode:feedback".into(), "-kdfopt".into(), format!("hexseed:{}", hexs(&iv))]);
                }
                args.push("KBKDF".into());
                let theirs = parse_hex_output(&o.run(&args.iter().map(String::as_str).collect::<Vec<_>>()));
                assert_eq!(hexs(&theirs), hexs(&ours[0]), "{prf:?} {len} bytes, feedback {feedback}");
            }
        }
    }
}
