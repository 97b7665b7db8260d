//! GenerateCsr (issue 6): PKCS#10 requests for TA-held keys, signed in the
//! TA; OpenSSL verifies each one and reads back the key's public half.

mod common;

use common::Harness;
use std::process::Command;
use teehsm_ta::handler::Connection;
use teehsm_wire::ck::*;
use teehsm_wire::*;

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

fn pair(h: &Harness, c: &mut Connection, s: u64, mech: u64, public: Vec<Attribute>, sign: bool) -> (u64, u64) {
    let private = vec![Attribute::bool(CKA_SIGN, sign), Attribute::bool(CKA_TOKEN, false)];
    let mut public = public;
    public.push(Attribute::bool(CKA_TOKEN, false));
    match h.ok(c, Request::GenerateKeyPair { session: s, mechanism: Mechanism::new(mech), public_template: public, private_template: private }) {
        Reply::KeyPair { public, private } => (public, private),
        r => panic!("unexpected {r:?}"),
    }
}

/// `openssl req -verify` on the DER request; returns the subject line and the public key PEM.
fn openssl_verify(h: &Harness, der: &[u8], tag: &str) -> (String, String) {
    let path = h.dir.join(format!("{tag}.csr"));
    std::fs::write(&path, der).unwrap();
    let o = Command::new("openssl")
        .args(["req", "-inform", "DER", "-verify", "-noout", "-subject", "-pubkey", "-in"])
        .arg(&path)
        .output()
        .expect("openssl");
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "openssl req -verify refused the {tag} CSR:\n{out}");
    assert!(out.contains("verify OK") || out.contains("Certificate request self-signature verify OK"), "{out}");
    let subject = out.lines().find(|l| l.starts_with("subject=")).unwrap_or_default().to_string();
    let pem_start = out.find("-----BEGIN PUBLIC KEY-----").expect("public key in openssl output");
    let pem_end = out.find("-----END PUBLIC KEY-----").expect("end of public key") + "-----END PUBLIC KEY-----".len();
    (subject, out[pem_start..pem_end].to_string())
}

fn csr(h: &Harness, c: &mut Connection, s: u64, key: u64, subject: &str, mechanism: u64) -> Vec<u8> {
    h.bytes(c, Request::GenerateCsr { session: s, key, subject: subject.into(), mechanism })
}

#[test]
fn csrs_for_ec_rsa_and_ed25519_keys_verify_with_openssl() {
    let h = Harness::new("csr-ok");
    let (mut c, s) = h.user();

    let (pk, sk) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())], true);
    let der = csr(&h, &mut c, s, sk, "CN=web01.example, O=Example\\, Inc., C=DE", CKM_ECDSA_SHA256);
    let (subject, pem) = openssl_verify(&h, &der, "ec");
    assert!(subject.contains("CN = web01.example") && subject.contains("O = \"Example, Inc.\"") && subject.contains("C = DE"), "{subject}");
    // The request carries the pair's public point.
    let point = h.attr(&mut c, s, pk, CKA_EC_POINT).unwrap();
    let point = &point[2..]; // DER OCTET STRING header of a 65-byte point
    let der_pub: Vec<u8> = {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let o = Command::new("openssl")
            .args(["base64", "-d", "-A"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        o.stdin.as_ref().unwrap().write_all(b64.as_bytes()).unwrap();
        o.wait_with_output().unwrap().stdout
    };
    assert!(der_pub.ends_with(point), "the CSR's public key is not the pair's");

    let (_, rsa) = pair(
        &h,
        &mut c,
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        vec![Attribute::ulong(CKA_MODULUS_BITS, 2048), Attribute::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1])],
        true,
    );
    let (subject, _) = openssl_verify(&h, &csr(&h, &mut c, s, rsa, "CN=rsa", CKM_SHA256_RSA_PKCS), "rsa");
    assert!(subject.contains("CN = rsa"), "{subject}");

    let (_, ed) = pair(&h, &mut c, s, CKM_EC_EDWARDS_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, ED25519_NAME.to_vec())], true);
    let (subject, pem) = openssl_verify(&h, &csr(&h, &mut c, s, ed, "CN=ed, OU=fleet, SERIALNUMBER=42", CKM_EDDSA), "ed25519");
    assert!(subject.contains("OU = fleet") && subject.contains("serialNumber = 42"), "{subject}");
    assert!(pem.contains("MCowBQYDK2Vw"), "not an Ed25519 SPKI: {pem}");
}

#[test]
fn csr_requests_are_checked() {
    let h = Harness::new("csr-refused");
    let (mut c, s) = h.user();
    let (pk, no_sign) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())], false);
    let (_, sk) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())], true);
    let req = |key: u64, subject: &str, mechanism: u64| Request::GenerateCsr { session: s, key, subject: subject.into(), mechanism };
    h.refused(&mut c, req(no_sign, "CN=x", CKM_ECDSA_SHA256), Rv::KEY_FUNCTION_NOT_PERMITTED);
    let public = h.rv(&mut c, req(pk, "CN=x", CKM_ECDSA_SHA256));
    assert_ne!(public, Rv::OK, "a public key got a CSR");
    h.refused(&mut c, req(sk, "CN=x", CKM_SHA256_RSA_PKCS), Rv::KEY_TYPE_INCONSISTENT);
    h.refused(&mut c, req(sk, "CN=x", CKM_ECDSA_SHA384), Rv::KEY_TYPE_INCONSISTENT);
    let m = h.refused(&mut c, req(sk, "FOO=bar", CKM_ECDSA_SHA256), Rv::ARGUMENTS_BAD);
    assert!(m.contains("unknown attribute"), "{m}");
    h.refused(&mut c, req(sk, "", CKM_ECDSA_SHA256), Rv::ARGUMENTS_BAD);
    h.refused(&mut c, req(999_999, "CN=x", CKM_ECDSA_SHA256), Rv::KEY_HANDLE_INVALID);
    // Without a login the private key is not visible.
    let mut pc = h.conn();
    let ps = h.open(&mut pc, false);
    h.refused(&mut pc, Request::GenerateCsr { session: ps, key: sk, subject: "CN=x".into(), mechanism: CKM_ECDSA_SHA256 }, Rv::KEY_HANDLE_INVALID);
}
