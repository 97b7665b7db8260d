//! Interoperability of the API's outputs with the system OpenSSL CLI
//! (OpenSSL 3): our SubjectPublicKeyInfo PEMs parse (and, for keys OpenSSL
//! made, equal OpenSSL's own encoding byte for byte), OpenSSL verifies our
//! ECDSA, SM2 (default and explicit user ID), RSA-PSS and PKCS#1 v1.5
//! signatures, OpenSSL's RSA-OAEP and SM2 ciphertexts decrypt here and ours
//! decrypt in OpenSSL (SM2), and the ML-DSA / ML-KEM SPKIs carry the FIPS
//! 204 / 203 OIDs. These are unit tests because the API modules are private
//! to the crate. A missing `openssl` binary fails them.

use super::testkeys::{key, load};
use super::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use teehsm_wire::proto::v1::{DecryptRequest, EncryptRequest, SignRequest, SignatureFormat};

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("teehsm-api-algo-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, data).expect("write scratch file");
        p.to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).expect("read scratch file")
    }

    /// Runs openssl; returns (success, stdout, stderr).
    fn try_openssl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("openssl").args(args).current_dir(&self.0).output().expect("the openssl CLI must be installed");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn openssl(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_openssl(args);
        assert!(ok, "openssl {} failed: {stdout}{stderr}", args.join(" "));
        stdout
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pem_of(alg: Algorithm, k: &crate::keys::LoadedKey) -> String {
    get_public_key(alg, k, "k", 1).unwrap().pem
}

fn sign_data(alg: Algorithm, k: &crate::keys::LoadedKey, data: &[u8], uid: &[u8]) -> Vec<u8> {
    let req = SignRequest { data: data.to_vec(), sm2_user_id: uid.to_vec(), format: SignatureFormat::Der as i32, ..Default::default() };
    sign(alg, k, "k", 1, &req).unwrap().signature
}

#[test]
fn openssl_verifies_ecdsa() {
    let s = Scratch::new();
    for (alg, md) in [(Algorithm::EcSignP256Sha256, "-sha256"), (Algorithm::EcSignP384Sha384, "-sha384")] {
        let (k, _) = key(alg);
        let pubkey = s.write("ec.pem", pem_of(alg, &k).as_bytes());
        let msg = s.write("msg", b"ECDSA interop message");
        let sig = s.write("sig", &sign_data(alg, &k, b"ECDSA interop message", b""));
        let out = s.openssl(&["dgst", md, "-verify", &pubkey, "-signature", &sig, &msg]);
        assert!(out.contains("Verified OK"), "{alg:?}: {out}");
        let bad = s.write("bad", b"ECDSA interop messagE");
        let (ok, out, _) = s.try_openssl(&["dgst", md, "-verify", &pubkey, "-signature", &sig, &bad]);
        assert!(!ok && out.contains("Verification failure"), "{out}");
    }
}

#[test]
fn openssl_verifies_sm2_with_default_and_explicit_ids() {
    let s = Scratch::new();
    let alg = Algorithm::Sm2SignSm3;
    let (k, _) = key(alg);
    let pubkey = s.write("sm2.pem", pem_of(alg, &k).as_bytes());
    let text = s.openssl(&["pkey", "-pubin", "-in", &pubkey, "-text", "-noout"]);
    assert!(text.contains("SM2"), "OpenSSL does not read the SM2 SPKI as SM2: {text}");
    let msg = s.write("msg", b"SM2 interop message");
    for (uid, distid) in [(&b""[..], "1234567812345678"), (b"alice@example.com", "alice@example.com")] {
        let sig = s.write("sig", &sign_data(alg, &k, b"SM2 interop message", uid));
        let opt = format!("distid:{distid}");
        let args = ["pkeyutl", "-verify", "-pubin", "-inkey", &pubkey, "-rawin", "-digest", "sm3", "-in", &msg, "-sigfile", &sig, "-pkeyopt", &opt];
        let out = s.openssl(&args);
        assert!(out.contains("Signature Verified Successfully"), "{distid}: {out}");
        // Under another ID it does not verify.
        let (ok, out, _) = s.try_openssl(&[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            &pubkey,
            "-rawin",
            "-digest",
            "sm3",
            "-in",
            &msg,
            "-sigfile",
            &sig,
            "-pkeyopt",
            "distid:someone-else",
        ]);
        assert!(!ok, "{distid}: verified under the wrong ID: {out}");
    }
}

#[test]
fn openssl_verifies_rsa_pss_and_pkcs1() {
    let s = Scratch::new();
    let msg_bytes = b"RSA interop message";
    let msg = s.write("msg", msg_bytes);
    for alg in [Algorithm::RsaSignPss2048Sha256, Algorithm::RsaSignPss3072Sha256] {
        let (k, _) = key(alg);
        let pubkey = s.write("rsa.pem", pem_of(alg, &k).as_bytes());
        let sig = s.write("sig", &sign_data(alg, &k, msg_bytes, b""));
        let out = s.openssl(&[
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
            "-verify",
            &pubkey,
            "-signature",
            &sig,
            &msg,
        ]);
        assert!(out.contains("Verified OK"), "{alg:?}: {out}");
    }
    for alg in [Algorithm::RsaSignPkcs12048Sha256, Algorithm::RsaSignPkcs13072Sha256] {
        let (k, _) = key(alg);
        let pubkey = s.write("rsa.pem", pem_of(alg, &k).as_bytes());
        let sig = s.write("sig", &sign_data(alg, &k, msg_bytes, b""));
        let out = s.openssl(&["dgst", "-sha256", "-verify", &pubkey, "-signature", &sig, &msg]);
        assert!(out.contains("Verified OK"), "{alg:?}: {out}");
        // OpenSSL re-encodes our SPKI identically.
        let der = get_public_key(alg, &k, "k", 1).unwrap().der;
        s.openssl(&["pkey", "-pubin", "-in", &pubkey, "-pubout", "-outform", "DER", "-out", &s.path("re.der")]);
        assert_eq!(s.read("re.der"), der, "{alg:?}: OpenSSL's SPKI differs");
    }
}

#[test]
fn openssl_encrypts_to_rsa_oaep_keys() {
    let s = Scratch::new();
    for alg in [Algorithm::RsaDecryptOaep2048Sha256, Algorithm::RsaDecryptOaep3072Sha256] {
        let (k, _) = key(alg);
        let pubkey = s.write("rsa.pem", pem_of(alg, &k).as_bytes());
        let pt = s.write("pt", b"a secret for the TA");
        let ct = s.path("ct");
        s.openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &pubkey,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-in",
            &pt,
            "-out",
            &ct,
        ]);
        let req = DecryptRequest { name: "k".into(), ciphertext: s.read("ct"), ..Default::default() };
        assert_eq!(decrypt(alg, &k, 1, &req).unwrap().plaintext, b"a secret for the TA");
        // OAEP with SHA-1 (OpenSSL's default) is refused as not decrypting.
        s.openssl(&["pkeyutl", "-encrypt", "-pubin", "-inkey", &pubkey, "-pkeyopt", "rsa_padding_mode:oaep", "-in", &pt, "-out", &ct]);
        let req = DecryptRequest { name: "k".into(), ciphertext: s.read("ct"), ..Default::default() };
        assert_eq!(decrypt(alg, &k, 1, &req).unwrap_err().code, crate::handler::api::code::INVALID_ARGUMENT);
    }
}

/// The private scalar `openssl pkey -text` prints for an EC/SM2 key, left-padded to `len`.
fn openssl_scalar(text: &str, len: usize) -> Vec<u8> {
    let start = text.find("priv:").expect("priv:") + 5;
    let end = text[start..].find("pub:").expect("pub:") + start;
    let hex_digits: String = text[start..end].chars().filter(char::is_ascii_hexdigit).collect();
    let v = hex::decode(hex_digits).expect("hex scalar");
    let v: Vec<u8> = v.into_iter().skip_while(|b| *b == 0).collect();
    let mut out = vec![0u8; len - v.len()];
    out.extend(v);
    out
}

#[test]
fn imported_openssl_keys_have_openssl_spkis() {
    let s = Scratch::new();
    for (alg, genargs, len) in [
        (Algorithm::EcSignP256Sha256, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..], 32),
        (Algorithm::EcSignP384Sha384, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..], 48),
        (Algorithm::Sm2SignSm3, &["-algorithm", "SM2"][..], 32),
    ] {
        let keyfile = s.path("key.pem");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genargs);
        args.extend_from_slice(&["-out", &keyfile]);
        s.openssl(&args);
        let scalar = openssl_scalar(&s.openssl(&["pkey", "-in", &keyfile, "-text", "-noout"]), len);
        s.openssl(&["pkey", "-in", &keyfile, "-pubout", "-outform", "DER", "-out", &s.path("pub.der")]);
        let k = load(&import(alg, &scalar).unwrap());
        let p = get_public_key(alg, &k, "k", 1).unwrap();
        assert_eq!(p.der, s.read("pub.der"), "{alg:?}: SPKI differs from OpenSSL's");
        s.openssl(&["pkey", "-in", &keyfile, "-pubout", "-out", &s.path("pub.pem")]);
        assert_eq!(p.pem.as_bytes(), s.read("pub.pem"), "{alg:?}: PEM differs from OpenSSL's");
    }
}

#[test]
fn sm2_encryption_both_directions() {
    let s = Scratch::new();
    let alg = Algorithm::Sm2Encrypt;
    let keyfile = s.path("key.pem");
    s.openssl(&["genpkey", "-algorithm", "SM2", "-out", &keyfile]);
    let scalar = openssl_scalar(&s.openssl(&["pkey", "-in", &keyfile, "-text", "-noout"]), 32);
    let k = load(&import(alg, &scalar).unwrap());
    let pubkey = s.write("pub.pem", pem_of(alg, &k).as_bytes());
    // OpenSSL encrypts to our public key; we decrypt.
    for (i, pt) in [&b"x"[..], b"SM2 encryption interop", &[0x5au8; 1000][..]].iter().enumerate() {
        let ptf = s.write(&format!("pt{i}"), pt);
        let ct = s.path(&format!("ct{i}"));
        s.openssl(&["pkeyutl", "-encrypt", "-pubin", "-inkey", &pubkey, "-in", &ptf, "-out", &ct]);
        let req = DecryptRequest { name: "k".into(), ciphertext: s.read(&format!("ct{i}")), ..Default::default() };
        assert_eq!(decrypt(alg, &k, 1, &req).unwrap().plaintext, *pt);
    }
    // We encrypt; OpenSSL decrypts with the private key.
    let req = EncryptRequest { name: "k".into(), plaintext: b"from the TA".to_vec(), ..Default::default() };
    let ct = s.write("ours.ct", &encrypt(alg, &k, "k", 1, &req).unwrap().ciphertext);
    let out = s.path("out");
    s.openssl(&["pkeyutl", "-decrypt", "-inkey", &keyfile, "-in", &ct, "-out", &out]);
    assert_eq!(s.read("out"), b"from the TA");
}

#[test]
fn pq_spkis_carry_nist_oids() {
    let s = Scratch::new();
    for (alg, oid, key_len) in [
        (Algorithm::MlDsa44, "2.16.840.1.101.3.4.3.17", 1312),
        (Algorithm::MlDsa65, "2.16.840.1.101.3.4.3.18", 1952),
        (Algorithm::MlDsa87, "2.16.840.1.101.3.4.3.19", 2592),
        (Algorithm::MlKem512, "2.16.840.1.101.3.4.4.1", 800),
        (Algorithm::MlKem768, "2.16.840.1.101.3.4.4.2", 1184),
        (Algorithm::MlKem1024, "2.16.840.1.101.3.4.4.3", 1568),
    ] {
        let (k, _) = key(alg);
        let pem = s.write("pq.pem", pem_of(alg, &k).as_bytes());
        // OpenSSL 3.0 knows no ML-DSA/ML-KEM names: it prints the numeric OID (3.5 prints the name).
        let out = s.openssl(&["asn1parse", "-in", &pem]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{alg:?}: {out}");
        assert!(lines[0].contains("cons: SEQUENCE") && lines[1].contains("cons: SEQUENCE"), "{out}");
        let name = alg.as_str_name().replace('_', "-");
        assert!(lines[2].contains("prim: OBJECT") && (lines[2].contains(oid) || lines[2].contains(&name)), "{alg:?}: {out}");
        // BIT STRING of 00 || raw key, no parameters between.
        assert!(lines[3].contains("prim: BIT STRING") && lines[3].contains(&format!("l={:4}", key_len + 1)), "{alg:?}: {out}");
    }
}

#[test]
fn openssl_parses_every_pem() {
    let s = Scratch::new();
    for &alg in super::testkeys::ALL {
        let (k, _) = key(alg);
        let Ok(p) = get_public_key(alg, &k, "k", 1) else { continue };
        let pem = s.write("k.pem", p.pem.as_bytes());
        s.openssl(&["asn1parse", "-in", &pem, "-out", &s.path("k.der"), "-noout"]);
        assert_eq!(s.read("k.der"), p.der, "{alg:?}: PEM does not decode to the DER");
    }
}
