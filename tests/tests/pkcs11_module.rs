//! Cross-component tests of the PKCS#11 module: libteehsm_pkcs11.so loaded
//! by the `cryptoki` crate (and through its raw function list), talking to a
//! real teehsm-ca (and its TA) with the dev token.
//!
//! Module state is process-wide (C_Initialize, TEEHSM_PKCS11_SOCKET), so:
//! the tests here share one CA and one initialized module per process
//! ([`shared`]); the fork and configuration cases run in child processes
//! (this binary re-run with `--exact child_* --ignored`), each with its own
//! environment and a fresh module.
//!
//! Needs the binaries and the module: `cargo build --bins -p teehsm-pkcs11`
//! (or `cargo build --workspace --bins --lib`), and the OpenSSL CLI.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys as sys;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::null_mut;
use std::sync::{Mutex, OnceLock};
use teehsm_tests::der::*;
use teehsm_tests::*;
use teehsm_wire::ck;

const MSG: &[u8] = b"teehsm pkcs11 interop: the quick brown fox jumps over the lazy dog";

// ------------------------------------------------------------ shared stack

struct Shared {
    pkcs11: Pkcs11,
    socket: PathBuf,
    slot: Slot,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static CA: Mutex<Option<CaProcess>> = Mutex::new(None);

extern "C" fn stop_shared_ca() {
    // Dropping the CaProcess sends SIGTERM and reaps it.
    let ca = CA.lock().map(|mut g| g.take()).unwrap_or(None);
    drop(ca);
}

/// One CA with the dev token and one initialized module for this process.
/// The CA is started from a thread that lives as long as the process (its
/// parent-death signal then fires only when the process ends) and stopped
/// by an atexit handler.
fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ca = start_ca_dev_token();
            let _ = tx.send(ca);
            loop {
                std::thread::park();
            }
        });
        let ca = rx.recv().expect("starting teehsm-ca failed (see its panic above)");
        let socket = ca.socket.clone();
        *CA.lock().unwrap() = Some(ca);
        // SAFETY: registering a plain extern "C" function.
        unsafe {
            libc::atexit(stop_shared_ca);
        }
        std::env::set_var("TEEHSM_PKCS11_SOCKET", &socket);
        let pkcs11 = Pkcs11::new(pkcs11_module()).expect("load libteehsm_pkcs11.so");
        pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
        let slots = pkcs11.get_slots_with_token().expect("C_GetSlotList");
        let slot = *slots.first().expect("the dev token's slot");
        let info = pkcs11.get_token_info(slot).expect("C_GetTokenInfo");
        assert_eq!(info.label().trim_end(), DEV_TOKEN_LABEL);
        Shared { pkcs11, socket, slot }
    })
}

fn user_pin() -> AuthPin {
    AuthPin::new(std::str::from_utf8(USER_PIN).unwrap().into())
}

/// A new RW session, logged in as the user (the login state is the
/// application's: another test may have logged in already).
fn user_session() -> Session {
    let sh = shared();
    let s = sh.pkcs11.open_rw_session(sh.slot).expect("C_OpenSession");
    match s.login(UserType::User, Some(&user_pin())) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("C_Login: {e}"),
    }
    s
}

fn rv_of<T: std::fmt::Debug>(r: Result<T, Error>) -> RvError {
    match r {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn vendor(mech: u64) -> Mechanism<'static> {
    Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(MechanismType::new_vendor_defined(mech).unwrap(), None))
}

fn vendor_with<T>(mech: u64, param: &T) -> Mechanism<'_> {
    Mechanism::VendorDefined(VendorDefinedMechanism::new(MechanismType::new_vendor_defined(mech).unwrap(), Some(param)))
}

fn ec_point(s: &Session, public: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(public, &[AttributeType::EcPoint]).expect("CKA_EC_POINT").pop() {
        Some(Attribute::EcPoint(p)) => unwrap_octet_string(&p),
        other => panic!("CKA_EC_POINT: {other:?}"),
    }
}

fn p256_pair(s: &Session, label: &str) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::Token(false), Attribute::Verify(true), Attribute::EcParams(P256_OID.to_vec()), Attribute::Label(label.into())],
        &[Attribute::Token(false), Attribute::Sign(true), Attribute::Sensitive(true), Attribute::Label(label.into())],
    )
    .expect("generate a P-256 key pair")
}

// ------------------------------------------------------------ OpenSSL

struct Work(TempDir);

impl Work {
    fn new(tag: &str) -> Self {
        Work(TempDir::new(tag))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn write(&self, name: &str, data: impl AsRef<[u8]>) {
        std::fs::write(self.path().join(name), data).unwrap();
    }
    fn openssl(&self, args: &[&str]) -> std::process::Output {
        Command::new("openssl").args(args).current_dir(self.path()).output().expect("run openssl (apt install openssl)")
    }
    fn openssl_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.openssl(args);
        assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }
    /// `openssl enc` over `input`, returning its output.
    fn enc(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        self.write("enc.in", input);
        let mut a = vec!["enc"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-in", "enc.in", "-out", "enc.out"]);
        self.openssl_ok(&a);
        std::fs::read(self.path().join("enc.out")).unwrap()
    }
}

// ------------------------------------------------------------ (a) SM2

#[test]
fn sm2_sm3_signature_verifies_in_openssl() {
    let s = user_session();
    let w = Work::new("p11-sm2");
    w.write("msg", MSG);
    let (public, private) = s
        .generate_key_pair(
            &vendor(ck::CKM_SM2_KEY_PAIR_GEN),
            &[Attribute::Token(false), Attribute::Verify(true)],
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::Sensitive(true)],
        )
        .expect("C_GenerateKeyPair CKM_SM2_KEY_PAIR_GEN (0x80000B20)");
    match s.get_attributes(private, &[AttributeType::KeyType]).unwrap().pop() {
        Some(Attribute::KeyType(t)) => assert_eq!(t, KeyType::new_vendor_defined(ck::CKK_SM2).unwrap()),
        other => panic!("CKA_KEY_TYPE: {other:?}"),
    }
    match s.get_attributes(public, &[AttributeType::EcParams]).unwrap().pop() {
        Some(Attribute::EcParams(p)) => assert_eq!(p, SM2_OID),
        other => panic!("CKA_EC_PARAMS: {other:?}"),
    }
    let point = ec_point(&s, public);
    assert_eq!(point.len(), 65);
    w.write("pub.pem", pem(&ec_spki(SM2_OID, &point), "PUBLIC KEY"));
    let verify = |sig: &[u8], id: &str| {
        w.write("sig.der", rs_to_der(sig));
        let distid = format!("distid:{id}");
        w.openssl(&[
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3", "-in", "msg", "-sigfile", "sig.der", "-pkeyopt", &distid,
        ])
    };

    // CKM_SM2_SM3 (0x80000B22) without a parameter: the default user ID.
    let sig = s.sign(&vendor(ck::CKM_SM2_SM3), private, MSG).expect("C_Sign CKM_SM2_SM3");
    assert_eq!(sig.len(), 64, "SM2 signatures are r||s");
    let out = verify(&sig, "1234567812345678");
    assert!(out.status.success(), "OpenSSL rejects the module's SM2 signature: {}", String::from_utf8_lossy(&out.stderr));
    let mut bad = sig.clone();
    bad[7] ^= 1;
    assert!(!verify(&bad, "1234567812345678").status.success(), "OpenSSL must reject a tampered SM2 signature");
    // The module verifies its own signature, and refuses another user ID's.
    s.verify(&vendor(ck::CKM_SM2_SM3), public, MSG, &sig).expect("C_Verify CKM_SM2_SM3");

    // With an explicit user ID (the raw bytes are the parameter).
    let id = b"alice@example.com";
    let sig = s.sign(&vendor_with(ck::CKM_SM2_SM3, id), private, MSG).expect("C_Sign CKM_SM2_SM3 with a user ID");
    let out = verify(&sig, "alice@example.com");
    assert!(out.status.success(), "OpenSSL rejects the SM2 signature under user ID alice@example.com: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!verify(&sig, "1234567812345678").status.success(), "the user ID must enter the signature");
    assert_eq!(rv_of(s.verify(&vendor(ck::CKM_SM2_SM3), public, MSG, &sig)), RvError::SignatureInvalid);
    s.verify(&vendor_with(ck::CKM_SM2_SM3, id), public, MSG, &sig).expect("C_Verify with the same user ID");
}

// ------------------------------------------------------------ (b) SM4

/// GB/T 32907-2016 appendix A.1: key = plaintext.
const SM4_KEY: &str = "0123456789abcdeffedcba9876543210";
const SM4_ECB_CT: &str = "681edf34d206965e86b3e94f536e4246";
/// SM4-CBC vector of draft-ribose-cfrg-sm4 (also in OpenSSL's evpciph_sm4.txt).
const SM4_CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";
const SM4_CBC_PT: &str = "aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffffaaaaaaaabbbbbbbb";
const SM4_CBC_CT: &str = "78ebb11cc40b0a48312aaeb2040244cb4cb7016951909226979b0d15dc6a8f6d";
/// RFC 8998 appendix A.1 (SM4-GCM).
const SM4_GCM_IV: &str = "00001234567800000000abcd";
const SM4_GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const SM4_GCM_PT: &str =
    "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa";
const SM4_GCM_CT: &str =
    "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d";
const SM4_GCM_TAG: &str = "83de3541e4c2b58177e065a9bf7b62ec";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn import_sm4(s: &Session) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::new_vendor_defined(ck::CKK_SM4).unwrap()),
        Attribute::Value(h(SM4_KEY)),
        Attribute::Token(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ])
    .expect("C_CreateObject of an SM4 key (CKK_SM4 0x80000B02)")
}

#[test]
fn sm4_ecb_and_cbc_match_vectors_and_openssl() {
    let s = user_session();
    let w = Work::new("p11-sm4");
    let key = import_sm4(&s);
    // ECB, GB/T 32907 A.1.
    let ct = s.encrypt(&vendor(ck::CKM_SM4_ECB), key, &h(SM4_KEY)).expect("C_Encrypt CKM_SM4_ECB");
    assert_eq!(hex::encode(&ct), SM4_ECB_CT);

    // CBC (0x80000B12): the IV is the parameter.
    let iv: [u8; 16] = h(SM4_CBC_IV).try_into().unwrap();
    let ct = s.encrypt(&vendor_with(ck::CKM_SM4_CBC, &iv), key, &h(SM4_CBC_PT)).expect("C_Encrypt CKM_SM4_CBC");
    assert_eq!(hex::encode(&ct), SM4_CBC_CT);
    let pt = s.decrypt(&vendor_with(ck::CKM_SM4_CBC, &iv), key, &ct).expect("C_Decrypt CKM_SM4_CBC");
    assert_eq!(hex::encode(pt), SM4_CBC_PT);
    let theirs = w.enc(&["-d", "-sm4-cbc", "-K", SM4_KEY, "-iv", SM4_CBC_IV, "-nopad"], &ct);
    assert_eq!(hex::encode(theirs), SM4_CBC_PT, "openssl enc -d -sm4-cbc");

    // CBC_PAD (0x80000B13) agrees with OpenSSL's PKCS#7 padding both ways.
    let msg = b"thirty-seven bytes of SM4-CBC-PAD ...";
    let ct = s.encrypt(&vendor_with(ck::CKM_SM4_CBC_PAD, &iv), key, msg).expect("C_Encrypt CKM_SM4_CBC_PAD");
    assert_eq!(ct.len(), 48);
    assert_eq!(w.enc(&["-d", "-sm4-cbc", "-K", SM4_KEY, "-iv", SM4_CBC_IV], &ct), msg, "openssl decrypts the module's CBC_PAD");
    let theirs = w.enc(&["-sm4-cbc", "-K", SM4_KEY, "-iv", SM4_CBC_IV], msg);
    assert_eq!(theirs, ct, "openssl's SM4-CBC with padding equals the module's");
    let pt = s.decrypt(&vendor_with(ck::CKM_SM4_CBC_PAD, &iv), key, &theirs).expect("C_Decrypt CKM_SM4_CBC_PAD");
    assert_eq!(pt, msg);
}

#[test]
fn sm4_gcm_matches_rfc8998() {
    let s = user_session();
    let key = import_sm4(&s);
    let (mut iv, mut aad) = (h(SM4_GCM_IV), h(SM4_GCM_AAD));
    let params = sys::CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: iv.len() as sys::CK_ULONG,
        ulIvBits: (iv.len() * 8) as sys::CK_ULONG,
        pAAD: aad.as_mut_ptr(),
        ulAADLen: aad.len() as sys::CK_ULONG,
        ulTagBits: 128,
    };
    let m = vendor_with(ck::CKM_SM4_GCM, &params);
    let out = s.encrypt(&m, key, &h(SM4_GCM_PT)).expect("C_Encrypt CKM_SM4_GCM (0x80000B15)");
    assert_eq!(hex::encode(&out), format!("{SM4_GCM_CT}{SM4_GCM_TAG}"), "ciphertext || tag");
    let pt = s.decrypt(&m, key, &out).expect("C_Decrypt CKM_SM4_GCM");
    assert_eq!(hex::encode(pt), SM4_GCM_PT);
    let mut bad = out.clone();
    bad[70] ^= 0x10;
    assert_eq!(rv_of(s.decrypt(&m, key, &bad)), RvError::EncryptedDataInvalid, "a tampered SM4-GCM ciphertext");
    // A 64-bit tag is the first 8 bytes of the full one.
    let short = sys::CK_GCM_PARAMS { ulTagBits: 64, ..params };
    let out = s.encrypt(&vendor_with(ck::CKM_SM4_GCM, &short), key, &h(SM4_GCM_PT)).expect("SM4-GCM with a 64-bit tag");
    assert_eq!(hex::encode(&out), format!("{SM4_GCM_CT}{}", &SM4_GCM_TAG[..16]));
}

// ------------------------------------------------------------ (c) P-256, RSA-PSS

#[test]
fn p256_ecdsa_sha256_verifies_in_openssl() {
    let s = user_session();
    let w = Work::new("p11-p256");
    w.write("msg", MSG);
    let (public, private) = p256_pair(&s, "p11-p256");
    w.write("pub.pem", pem(&ec_spki(P256_OID, &ec_point(&s, public)), "PUBLIC KEY"));
    let sig = s.sign(&Mechanism::EcdsaSha256, private, MSG).expect("C_Sign CKM_ECDSA_SHA256");
    assert_eq!(sig.len(), 64);
    w.write("sig.der", rs_to_der(&sig));
    let out = w.openssl_ok(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "msg"]);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
    let mut bad = sig;
    bad[3] ^= 1;
    w.write("bad.der", rs_to_der(&bad));
    assert!(!w.openssl(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "bad.der", "msg"]).status.success());
}

#[test]
fn rsa_pss_verifies_in_openssl() {
    let s = user_session();
    let w = Work::new("p11-rsa");
    w.write("msg", MSG);
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::Token(false), Attribute::Verify(true), Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1])],
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::Sensitive(true)],
        )
        .expect("generate RSA-2048");
    let attrs = s.get_attributes(public, &[AttributeType::Modulus, AttributeType::PublicExponent]).unwrap();
    let (mut n, mut e) = (Vec::new(), Vec::new());
    for a in attrs {
        match a {
            Attribute::Modulus(v) => n = v,
            Attribute::PublicExponent(v) => e = v,
            _ => {}
        }
    }
    assert_eq!(n.len(), 256);
    w.write("pub.pem", pem(&rsa_spki(&n, &e), "PUBLIC KEY"));
    let pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };

    let sig = s.sign(&Mechanism::Sha256RsaPkcsPss(pss), private, MSG).expect("C_Sign CKM_SHA256_RSA_PKCS_PSS");
    w.write("sig", &sig);
    let out = w.openssl_ok(&[
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-verify",
        "pub.pem",
        "-signature",
        "sig",
        "msg",
    ]);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));

    // CKM_RSA_PKCS_PSS over a digest the caller made.
    let digest = s.digest(&Mechanism::Sha256, MSG).expect("C_Digest SHA-256");
    w.write("digest", &digest);
    let sig = s.sign(&Mechanism::RsaPkcsPss(pss), private, &digest).expect("C_Sign CKM_RSA_PKCS_PSS");
    w.write("sig2", &sig);
    let out = w.openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-in",
        "digest",
        "-sigfile",
        "sig2",
        "-pkeyopt",
        "digest:sha256",
        "-pkeyopt",
        "rsa_padding_mode:pss",
        "-pkeyopt",
        "rsa_pss_saltlen:32",
    ]);
    assert!(out.status.success(), "OpenSSL rejects CKM_RSA_PKCS_PSS: {}", String::from_utf8_lossy(&out.stderr));
    // A PSS hash other than the mechanism's is a parameter error.
    let other = PkcsPssParams { hash_alg: MechanismType::SHA384, mgf: PkcsMgfType::MGF1_SHA384, ..pss };
    assert_eq!(rv_of(s.sign(&Mechanism::Sha256RsaPkcsPss(other), private, MSG)), RvError::MechanismParamInvalid);
    // Another salt length: refused as a parameter error, or (when the TA
    // supports it) a signature OpenSSL verifies with that salt.
    let salt20 = PkcsPssParams { s_len: 20.into(), ..pss };
    match s.sign(&Mechanism::Sha256RsaPkcsPss(salt20), private, MSG) {
        Err(Error::Pkcs11(rv, _)) => assert_eq!(rv, RvError::MechanismParamInvalid, "PSS with a 20-byte salt"),
        Err(e) => panic!("PSS with a 20-byte salt: {e}"),
        Ok(sig) => {
            w.write("sig20", &sig);
            let out = w.openssl_ok(&[
                "dgst",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:20",
                "-verify",
                "pub.pem",
                "-signature",
                "sig20",
                "msg",
            ]);
            assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
        }
    }
}

// ------------------------------------------------------------ (d) threads

// ------------------------------------------------------------ (d) private keys wrapped as PKCS#8

/// An AES-256 key-encryption key known to the test (and so to OpenSSL).
const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// RFC 5649's alternative initial value: `openssl enc -id-aes256-wrap-pad -iv A65959A6`.
const KWP_IV: &str = "A65959A6";

fn import_kek(s: &Session) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(h(KEK)),
        Attribute::Token(false),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Label("p11-kek".into()),
    ])
    .expect("import the AES-256 KEK")
}

/// What OpenSSL derives as the public key of the private key in `pem_file` (SPKI DER).
fn openssl_public(w: &Work, pem_file: &str) -> Vec<u8> {
    w.openssl_ok(&["pkey", "-in", pem_file, "-pubout", "-outform", "DER"])
}

/// C_WrapKey of private keys with CKM_AES_KEY_WRAP_PAD gives PKCS#8 that
/// OpenSSL unwraps (`enc -id-aes256-wrap-pad`) and reads as the same key;
/// keys OpenSSL made, wrapped by OpenSSL, unwrap into the token and sign
/// what OpenSSL verifies with its own public key; and the refusals.
#[test]
fn private_keys_wrap_as_pkcs8_that_openssl_reads_and_unwrap_from_openssl() {
    let s = user_session();
    let w = Work::new("p11-pkcs8");
    w.write("msg", MSG);
    let kek = import_kek(&s);
    let unwrap_kwp = ["-d", "-id-aes256-wrap-pad", "-K", KEK, "-iv", KWP_IV];
    let wrap_kwp = ["-id-aes256-wrap-pad", "-K", KEK, "-iv", KWP_IV];

    // A P-256 key made in the token, extractable and not sensitive (a KEK whose
    // value is known outside the TA may not wrap sensitive keys: rule R4).
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::Token(false), Attribute::Verify(true), Attribute::EcParams(P256_OID.to_vec())],
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::Sensitive(false), Attribute::Extractable(true)],
        )
        .expect("generate an extractable P-256 pair");
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, private).expect("C_WrapKey of a private key");
    w.write("p256.der", w.enc(&unwrap_kwp, &wrapped));
    w.openssl_ok(&["pkey", "-inform", "DER", "-in", "p256.der", "-out", "p256.pem"]);
    assert_eq!(openssl_public(&w, "p256.pem"), ec_spki(P256_OID, &ec_point(&s, public)), "OpenSSL reads the token's private key");

    // Keys OpenSSL made: wrapped by OpenSSL, unwrapped into the token.
    let unwrap_template = |kt: KeyType| {
        vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(kt),
            Attribute::Token(false),
            Attribute::Sign(true),
            Attribute::Sensitive(true),
        ]
    };
    let from_openssl = |name: &str, genpkey: &[&str], kt: KeyType| -> ObjectHandle {
        let pem_file = format!("{name}.pem");
        w.openssl_ok(&[&["genpkey", "-out", pem_file.as_str()][..], genpkey].concat());
        w.openssl_ok(&["pkcs8", "-topk8", "-nocrypt", "-in", &pem_file, "-outform", "DER", "-out", &format!("{name}.p8")]);
        let p8 = std::fs::read(w.path().join(format!("{name}.p8"))).unwrap();
        let blob = w.enc(&wrap_kwp, &p8);
        s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &unwrap_template(kt)).unwrap_or_else(|e| panic!("C_UnwrapKey of OpenSSL's {name}: {e}"))
    };
    let verify = |pem_file: &str, sig: &[u8], extra: &[&str]| {
        w.write("sig.bin", sig);
        w.openssl_ok(&["pkey", "-in", pem_file, "-pubout", "-out", "pub.pem"]);
        let out = w.openssl_ok(&[&["dgst"][..], extra, &["-verify", "pub.pem", "-signature", "sig.bin", "msg"]].concat());
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"), "{pem_file}");
    };

    let rsa = from_openssl("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], KeyType::RSA);
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, rsa, MSG).expect("sign with the unwrapped RSA key");
    verify("rsa.pem", &sig, &["-sha256"]);

    let p384 = from_openssl("p384", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], KeyType::EC);
    let sig = s.sign(&Mechanism::EcdsaSha384, p384, MSG).expect("sign with the unwrapped P-384 key");
    verify("p384.pem", &rs_to_der(&sig), &["-sha384"]);

    let ed = from_openssl("ed25519", &["-algorithm", "ED25519"], KeyType::EC_EDWARDS);
    let sig = s
        .sign(&Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure)), ed, MSG)
        .expect("sign with the unwrapped Ed25519 key");
    w.write("sig.bin", &sig);
    w.openssl_ok(&["pkey", "-in", "ed25519.pem", "-pubout", "-out", "ed-pub.pem"]);
    let out = w.openssl_ok(&["pkeyutl", "-verify", "-pubin", "-inkey", "ed-pub.pem", "-rawin", "-in", "msg", "-sigfile", "sig.bin"]);
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"), "Ed25519");

    let sm2 = from_openssl("sm2", &["-algorithm", "SM2"], KeyType::new_vendor_defined(ck::CKK_SM2).unwrap());
    let sm2_spki = openssl_public(&w, "sm2.pem");
    assert_eq!(sm2_spki, ec_spki(SM2_OID, &ec_point(&s, sm2)), "the SM2 key's public point is OpenSSL's");

    // A token key unwrapped from its own wrap is the same key (wrap -> unwrap round trip).
    let again = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &wrapped, &unwrap_template(KeyType::EC)).expect("unwrap the token's own wrap");
    assert_eq!(ec_point(&s, again), ec_point(&s, public));

    // Refusals, each with its code.
    let p8 = std::fs::read(w.path().join("rsa.p8")).unwrap();
    let rsa_blob = w.enc(&wrap_kwp, &p8);
    assert_eq!(
        rv_of(s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &rsa_blob, &unwrap_template(KeyType::EC))),
        RvError::TemplateInconsistent,
        "an RSA key unwrapped as CKK_EC"
    );
    let junk = w.enc(&wrap_kwp, &[0x30u8; 40]);
    assert_eq!(rv_of(s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &junk, &unwrap_template(KeyType::EC))), RvError::WrappedKeyInvalid);
    let mut with_value = unwrap_template(KeyType::EC);
    with_value.push(Attribute::Value(vec![1; 32]));
    assert_eq!(rv_of(s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &rsa_blob, &with_value)), RvError::TemplateInconsistent);
    let mut readable = unwrap_template(KeyType::RSA);
    readable.retain(|a| !matches!(a, Attribute::Sensitive(_)));
    readable.push(Attribute::Sensitive(false));
    assert_eq!(
        rv_of(s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &rsa_blob, &readable)),
        RvError::TemplateInconsistent,
        "R5: unwrapped keys are sensitive"
    );
    let (_, sealed) = p256_pair(&s, "p11-pkcs8-sensitive"); // sensitive, not extractable
    assert_eq!(rv_of(s.wrap_key(&Mechanism::AesKeyWrapPad, kek, sealed)), RvError::KeyUnextractable);
    let (_, sensitive) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::Token(false), Attribute::EcParams(P256_OID.to_vec())],
            &[Attribute::Token(false), Attribute::Sensitive(true), Attribute::Extractable(true)],
        )
        .expect("generate a sensitive, extractable pair");
    assert_eq!(rv_of(s.wrap_key(&Mechanism::AesKeyWrapPad, kek, sensitive)), RvError::KeyNotWrappable, "R4: a known KEK");
}

#[test]
fn eight_threads_sign_concurrently() {
    let owner = user_session();
    let (public, private) = p256_pair(&owner, "p11-threads");
    let results: Vec<Result<Vec<u8>, String>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                sc.spawn(move || -> Result<Vec<u8>, String> {
                    let s = user_session();
                    let mut last = Vec::new();
                    for i in 0..200 {
                        let msg = format!("thread {t} message {i}");
                        last = s.sign(&Mechanism::EcdsaSha256, private, msg.as_bytes()).map_err(|e| format!("thread {t} sign {i}: {e}"))?;
                        if last.len() != 64 {
                            return Err(format!("thread {t} sign {i}: {} bytes", last.len()));
                        }
                    }
                    s.verify(&Mechanism::EcdsaSha256, public, format!("thread {t} message 199").as_bytes(), &last)
                        .map_err(|e| format!("thread {t}: its last signature does not verify: {e}"))?;
                    Ok(last)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into()))).collect()
    });
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.is_empty(), "{} of 8 threads failed: {errors:#?}", errors.len());
    drop(owner);
}

// ------------------------------------------------------------ raw function list

/// The module's CK_FUNCTION_LIST, for calls the `cryptoki` crate cannot make
/// (null pointers, exact buffer sizes). Loading the library again gives the
/// same module state (dlopen is reference-counted).
struct Raw {
    lib: sys::Pkcs11,
    f: sys::CK_FUNCTION_LIST,
}

impl Raw {
    fn load() -> Raw {
        // SAFETY: loading the module runs no initializer with preconditions;
        // C_GetFunctionList fills our pointer with the module's static table.
        unsafe {
            let lib = sys::Pkcs11::new(pkcs11_module()).expect("dlopen libteehsm_pkcs11.so");
            let mut list: sys::CK_FUNCTION_LIST_PTR = null_mut();
            assert_eq!(lib.C_GetFunctionList(&mut list), sys::CKR_OK, "C_GetFunctionList");
            assert!(!list.is_null());
            Raw { lib, f: *list }
        }
    }
}

/// Calls a function of the raw list. The tests pass pointers to live
/// buffers of the stated sizes, or null where a null is the point of the test.
macro_rules! p11 {
    ($raw:expr, $name:ident ( $($arg:expr),* $(,)? )) => {
        // SAFETY: see the macro's comment.
        unsafe { ($raw.f.$name.expect(concat!(stringify!($name), " is in the function list")))($($arg),*) }
    };
}

fn rv_name(rv: sys::CK_RV) -> String {
    match teehsm_wire::rv::rv_name(teehsm_wire::Rv(rv as u32)) {
        Some(n) => format!("CKR_{n}"),
        None => format!("0x{rv:x}"),
    }
}

/// Collects mismatches so that one run reports every wrong code.
#[derive(Default)]
struct Expect(Vec<String>);

impl Expect {
    fn rv(&mut self, what: &str, got: sys::CK_RV, want: sys::CK_RV) {
        if got != want {
            self.0.push(format!("{what}: expected {}, got {}", rv_name(want), rv_name(got)));
        }
    }
    fn rv_in(&mut self, what: &str, got: sys::CK_RV, allowed: &[sys::CK_RV]) {
        if !allowed.contains(&got) {
            let names: Vec<String> = allowed.iter().map(|r| rv_name(*r)).collect();
            self.0.push(format!("{what}: expected one of {}, got {}", names.join(", "), rv_name(got)));
        }
    }
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: expected {want:?}, got {got:?}"));
        }
    }
    fn check(self) {
        assert!(self.0.is_empty(), "{} mismatch(es):\n  {}", self.0.len(), self.0.join("\n  "));
    }
}

const PIN: &[u8] = USER_PIN;

fn raw_session(r: &Raw, slot: sys::CK_SLOT_ID) -> sys::CK_SESSION_HANDLE {
    let mut s: sys::CK_SESSION_HANDLE = 0;
    let rv = p11!(r, C_OpenSession(slot, sys::CKF_SERIAL_SESSION | sys::CKF_RW_SESSION, null_mut(), None, &mut s));
    assert_eq!(rv, sys::CKR_OK, "C_OpenSession: {}", rv_name(rv));
    let rv = p11!(r, C_Login(s, sys::CKU_USER, PIN.as_ptr() as *mut u8, PIN.len() as sys::CK_ULONG));
    assert!(rv == sys::CKR_OK || rv == sys::CKR_USER_ALREADY_LOGGED_IN, "C_Login: {}", rv_name(rv));
    s
}

fn attr<T>(ty: sys::CK_ATTRIBUTE_TYPE, v: &T) -> sys::CK_ATTRIBUTE {
    sys::CK_ATTRIBUTE { type_: ty, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as sys::CK_ULONG }
}

/// An attribute the module writes into (C_GetAttributeValue).
fn out_attr<T>(ty: sys::CK_ATTRIBUTE_TYPE, v: &mut T) -> sys::CK_ATTRIBUTE {
    sys::CK_ATTRIBUTE { type_: ty, pValue: (v as *mut T).cast(), ulValueLen: std::mem::size_of::<T>() as sys::CK_ULONG }
}

fn bytes_attr(ty: sys::CK_ATTRIBUTE_TYPE, v: &[u8]) -> sys::CK_ATTRIBUTE {
    sys::CK_ATTRIBUTE { type_: ty, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as sys::CK_ULONG }
}

/// A session P-256 key pair made through the raw list: (public, private).
fn raw_p256(r: &Raw, s: sys::CK_SESSION_HANDLE, label: &[u8]) -> (sys::CK_OBJECT_HANDLE, sys::CK_OBJECT_HANDLE) {
    raw_p256_with(r, s, label, &[])
}

/// The same, with more attributes for the private key.
fn raw_p256_with(r: &Raw, s: sys::CK_SESSION_HANDLE, label: &[u8], extra: &[sys::CK_ATTRIBUTE]) -> (sys::CK_OBJECT_HANDLE, sys::CK_OBJECT_HANDLE) {
    let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
    let public = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_VERIFY, &t), bytes_attr(sys::CKA_EC_PARAMS, P256_OID), bytes_attr(sys::CKA_LABEL, label)];
    let mut private = vec![attr(sys::CKA_TOKEN, &f), attr(sys::CKA_SIGN, &t), attr(sys::CKA_SENSITIVE, &t), bytes_attr(sys::CKA_LABEL, label)];
    private.extend_from_slice(extra);
    let mut m = sys::CK_MECHANISM { mechanism: sys::CKM_EC_KEY_PAIR_GEN, pParameter: null_mut(), ulParameterLen: 0 };
    let (mut pub_h, mut priv_h) = (0, 0);
    let rv = p11!(
        r,
        C_GenerateKeyPair(
            s,
            &mut m,
            public.as_ptr() as *mut _,
            public.len() as _,
            private.as_ptr() as *mut _,
            private.len() as _,
            &mut pub_h,
            &mut priv_h
        )
    );
    assert_eq!(rv, sys::CKR_OK, "C_GenerateKeyPair: {}", rv_name(rv));
    (pub_h, priv_h)
}

fn mech(m: sys::CK_MECHANISM_TYPE) -> sys::CK_MECHANISM {
    sys::CK_MECHANISM { mechanism: m, pParameter: null_mut(), ulParameterLen: 0 }
}

fn slot_id() -> sys::CK_SLOT_ID {
    shared().slot.id()
}

// ------------------------------------------------------------ (g) bad inputs

#[test]
fn null_pointers_are_arguments_bad() {
    let slot = slot_id();
    let r = Raw::load();
    let s = raw_session(&r, slot);
    let (_, key) = raw_p256(&r, s, b"p11-null");
    let mut e = Expect::default();
    let bad = sys::CKR_ARGUMENTS_BAD;
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_GetFunctionList(NULL)", p11!(r, C_GetFunctionList(null_mut())), bad);
    e.rv("C_GetInfo(NULL)", p11!(r, C_GetInfo(null_mut())), bad);
    e.rv("C_GetSlotList(.., NULL, NULL)", p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), null_mut())), bad);
    e.rv("C_GetSlotInfo(slot, NULL)", p11!(r, C_GetSlotInfo(slot, null_mut())), bad);
    e.rv("C_GetTokenInfo(slot, NULL)", p11!(r, C_GetTokenInfo(slot, null_mut())), bad);
    e.rv("C_GetMechanismList(slot, NULL, NULL)", p11!(r, C_GetMechanismList(slot, null_mut(), null_mut())), bad);
    e.rv("C_GetMechanismInfo(slot, ECDSA, NULL)", p11!(r, C_GetMechanismInfo(slot, sys::CKM_ECDSA, null_mut())), bad);
    e.rv("C_OpenSession(.., phSession NULL)", p11!(r, C_OpenSession(slot, sys::CKF_SERIAL_SESSION, null_mut(), None, null_mut())), bad);
    e.rv("C_GetSessionInfo(s, NULL)", p11!(r, C_GetSessionInfo(s, null_mut())), bad);
    e.rv("C_Login(s, USER, NULL, 6)", p11!(r, C_Login(s, sys::CKU_USER, null_mut(), 6)), bad);
    // With no operation active, PKCS#11 3.0's "NULL mechanism ends the
    // operation" has nothing to end: a refusal or a no-op are both fine.
    let nothing_to_end = [bad, sys::CKR_OK, sys::CKR_OPERATION_NOT_INITIALIZED];
    e.rv_in("C_SignInit(s, NULL mechanism, key)", p11!(r, C_SignInit(s, null_mut(), key)), &nothing_to_end);
    e.rv_in("C_EncryptInit(s, NULL mechanism, key)", p11!(r, C_EncryptInit(s, null_mut(), key)), &nothing_to_end);
    e.rv_in("C_DigestInit(s, NULL mechanism)", p11!(r, C_DigestInit(s, null_mut())), &nothing_to_end);
    e.rv("C_GenerateKeyPair(s, NULL mechanism, ..)", p11!(r, C_GenerateKeyPair(s, null_mut(), null_mut(), 0, null_mut(), 0, &mut n, &mut n)), bad);
    e.rv("C_GetAttributeValue(s, key, NULL, 1)", p11!(r, C_GetAttributeValue(s, key, null_mut(), 1)), bad);
    e.rv("C_FindObjectsInit(s, NULL, 1)", p11!(r, C_FindObjectsInit(s, null_mut(), 1)), bad);
    e.rv("C_GenerateRandom(s, NULL, 16)", p11!(r, C_GenerateRandom(s, null_mut(), 16)), bad);
    e.rv("C_CreateObject(s, NULL, 1, &h)", p11!(r, C_CreateObject(s, null_mut(), 1, &mut n)), bad);
    // Output pointers of an operation in progress.
    let mut m = mech(sys::CKM_ECDSA_SHA256);
    e.rv("C_SignInit", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_OK);
    e.rv("C_Sign(s, data, len, sig, NULL pulSignatureLen)", p11!(r, C_Sign(s, MSG.as_ptr() as *mut u8, MSG.len() as _, null_mut(), null_mut())), bad);
    // That C_Sign ended the operation (only BUFFER_TOO_SMALL and a length query keep it).
    e.rv(
        "C_Sign after a failed C_Sign",
        p11!(r, C_Sign(s, MSG.as_ptr() as *mut u8, MSG.len() as _, null_mut(), &mut n)),
        sys::CKR_OPERATION_NOT_INITIALIZED,
    );
    e.rv("C_SignInit", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_OK);
    e.rv("C_Sign(s, NULL data, 10, ..)", p11!(r, C_Sign(s, null_mut(), 10, null_mut(), &mut n)), bad);
    let empty = sys::CK_ATTRIBUTE { type_: sys::CKA_CLASS, pValue: null_mut(), ulValueLen: 0 };
    e.rv("C_FindObjectsInit(s, [CLASS], 1)", p11!(r, C_FindObjectsInit(s, &empty as *const _ as *mut _, 0)), sys::CKR_OK);
    e.rv("C_FindObjects(s, NULL, 1, &n)", p11!(r, C_FindObjects(s, null_mut(), 1, &mut n)), bad);
    let mut h: sys::CK_OBJECT_HANDLE = 0;
    e.rv("C_FindObjects(s, &h, 1, NULL)", p11!(r, C_FindObjects(s, &mut h, 1, null_mut())), bad);
    e.rv("C_FindObjectsFinal", p11!(r, C_FindObjectsFinal(s)), sys::CKR_OK);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

#[test]
fn invalid_session_handles() {
    let slot = slot_id();
    let r = Raw::load();
    let mut e = Expect::default();
    let inv = sys::CKR_SESSION_HANDLE_INVALID;
    let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
    let mut m = mech(sys::CKM_ECDSA_SHA256);
    let mut buf = [0u8; 16];
    for (what, s) in [("a made-up handle", 0xdead_beef as sys::CK_SESSION_HANDLE), ("handle 0", 0)] {
        e.rv(&format!("C_GetSessionInfo({what})"), p11!(r, C_GetSessionInfo(s, &mut info)), inv);
        e.rv(&format!("C_SignInit({what})"), p11!(r, C_SignInit(s, &mut m, 1)), inv);
        e.rv(&format!("C_GenerateRandom({what})"), p11!(r, C_GenerateRandom(s, buf.as_mut_ptr(), 16)), inv);
        e.rv(&format!("C_FindObjectsInit({what})"), p11!(r, C_FindObjectsInit(s, null_mut(), 0)), inv);
        e.rv(&format!("C_Login({what})"), p11!(r, C_Login(s, sys::CKU_USER, PIN.as_ptr() as *mut u8, PIN.len() as _)), inv);
        e.rv(&format!("C_CloseSession({what})"), p11!(r, C_CloseSession(s)), inv);
    }
    // A closed session's handle.
    let s = raw_session(&r, slot);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.rv("C_GetSessionInfo(closed)", p11!(r, C_GetSessionInfo(s, &mut info)), inv);
    e.rv("C_SignInit(closed)", p11!(r, C_SignInit(s, &mut m, 1)), inv);
    e.rv("C_CloseSession(closed)", p11!(r, C_CloseSession(s)), inv);
    e.check();
}

#[test]
fn get_attribute_value_buffer_protocol() {
    let slot = slot_id();
    let r = Raw::load();
    let s = raw_session(&r, slot);
    let label = b"buffer-protocol-label";
    let (public, private) = raw_p256(&r, s, label);
    let mut e = Expect::default();
    let unavailable = sys::CK_UNAVAILABLE_INFORMATION;

    // NULL pValue: the length.
    let mut t = [sys::CK_ATTRIBUTE { type_: sys::CKA_LABEL, pValue: null_mut(), ulValueLen: 0 }];
    e.rv("NULL pValue", p11!(r, C_GetAttributeValue(s, public, t.as_mut_ptr(), 1)), sys::CKR_OK);
    e.eq("NULL pValue: ulValueLen", t[0].ulValueLen, label.len() as sys::CK_ULONG);
    // Too small: CKR_BUFFER_TOO_SMALL and CK_UNAVAILABLE_INFORMATION.
    let mut small = [0u8; 5];
    let mut t = [sys::CK_ATTRIBUTE { type_: sys::CKA_LABEL, pValue: small.as_mut_ptr().cast(), ulValueLen: 5 }];
    e.rv("5-byte buffer", p11!(r, C_GetAttributeValue(s, public, t.as_mut_ptr(), 1)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("5-byte buffer: ulValueLen", t[0].ulValueLen, unavailable);
    // Exactly large enough, and larger.
    for size in [label.len(), 64] {
        let mut buf = vec![0u8; size];
        let mut t = [sys::CK_ATTRIBUTE { type_: sys::CKA_LABEL, pValue: buf.as_mut_ptr().cast(), ulValueLen: size as _ }];
        e.rv(&format!("{size}-byte buffer"), p11!(r, C_GetAttributeValue(s, public, t.as_mut_ptr(), 1)), sys::CKR_OK);
        e.eq(&format!("{size}-byte buffer: ulValueLen"), t[0].ulValueLen, label.len() as sys::CK_ULONG);
        e.eq(&format!("{size}-byte buffer: value"), &buf[..label.len()], &label[..]);
    }
    // Every attribute is processed even when one fails.
    let mut small = [0u8; 3];
    let mut sign: sys::CK_BBOOL = 0xAA;
    let mut t = [
        sys::CK_ATTRIBUTE { type_: sys::CKA_LABEL, pValue: small.as_mut_ptr().cast(), ulValueLen: 3 },
        sys::CK_ATTRIBUTE { type_: sys::CKA_EC_PARAMS, pValue: null_mut(), ulValueLen: 0 },
        sys::CK_ATTRIBUTE { type_: sys::CKA_SIGN, pValue: (&mut sign as *mut u8).cast(), ulValueLen: 1 },
    ];
    e.rv("mixed template", p11!(r, C_GetAttributeValue(s, private, t.as_mut_ptr(), 3)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("mixed: LABEL ulValueLen", t[0].ulValueLen, unavailable);
    e.eq("mixed: EC_PARAMS ulValueLen", t[1].ulValueLen, P256_OID.len() as sys::CK_ULONG);
    e.eq("mixed: SIGN ulValueLen", t[2].ulValueLen, 1);
    e.eq("mixed: SIGN value", sign, sys::CK_TRUE);
    // A sensitive value and an unknown type.
    let mut t = [
        sys::CK_ATTRIBUTE { type_: sys::CKA_VALUE, pValue: null_mut(), ulValueLen: 0 },
        sys::CK_ATTRIBUTE { type_: sys::CKA_LABEL, pValue: null_mut(), ulValueLen: 0 },
    ];
    e.rv("sensitive CKA_VALUE", p11!(r, C_GetAttributeValue(s, private, t.as_mut_ptr(), 2)), sys::CKR_ATTRIBUTE_SENSITIVE);
    e.eq("sensitive: VALUE ulValueLen", t[0].ulValueLen, unavailable);
    e.eq("sensitive: LABEL ulValueLen", t[1].ulValueLen, label.len() as sys::CK_ULONG);
    let mut t = [sys::CK_ATTRIBUTE { type_: 0x7fff_0000, pValue: null_mut(), ulValueLen: 0 }];
    e.rv("unknown type", p11!(r, C_GetAttributeValue(s, public, t.as_mut_ptr(), 1)), sys::CKR_ATTRIBUTE_TYPE_INVALID);
    e.eq("unknown type: ulValueLen", t[0].ulValueLen, unavailable);
    // A CK_ULONG attribute comes back in native form.
    let mut class: sys::CK_ULONG = 0;
    let mut t = [out_attr(sys::CKA_CLASS, &mut class)];
    e.rv("CKA_CLASS", p11!(r, C_GetAttributeValue(s, private, t.as_mut_ptr(), 1)), sys::CKR_OK);
    e.eq("CKA_CLASS value", class, sys::CKO_PRIVATE_KEY);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

#[test]
fn sign_length_query_keeps_the_operation() {
    let slot = slot_id();
    let r = Raw::load();
    let s = raw_session(&r, slot);
    let (public, private) = raw_p256(&r, s, b"p11-sign-len");
    let mut e = Expect::default();
    let data = MSG.as_ptr() as *mut u8;
    let dlen = MSG.len() as sys::CK_ULONG;
    let mut m = mech(sys::CKM_ECDSA_SHA256);
    e.rv("C_SignInit", p11!(r, C_SignInit(s, &mut m, private)), sys::CKR_OK);
    let mut len: sys::CK_ULONG = 0;
    e.rv("C_Sign(NULL output)", p11!(r, C_Sign(s, data, dlen, null_mut(), &mut len)), sys::CKR_OK);
    e.eq("C_Sign(NULL output): length", len, 64);
    let mut small = [0u8; 10];
    len = 10;
    e.rv("C_Sign(10-byte buffer)", p11!(r, C_Sign(s, data, dlen, small.as_mut_ptr(), &mut len)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("C_Sign(10-byte buffer): length", len, 64);
    let mut sig = [0u8; 80];
    len = 80;
    e.rv("C_Sign(80-byte buffer)", p11!(r, C_Sign(s, data, dlen, sig.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.eq("C_Sign: length", len, 64);
    // The operation ended with the successful call.
    let mut again = 80;
    e.rv("C_Sign after the operation ended", p11!(r, C_Sign(s, data, dlen, sig.as_mut_ptr(), &mut again)), sys::CKR_OPERATION_NOT_INITIALIZED);
    // The signature is good.
    e.rv("C_VerifyInit", p11!(r, C_VerifyInit(s, &mut m, public)), sys::CKR_OK);
    e.rv("C_Verify", p11!(r, C_Verify(s, data, dlen, sig.as_mut_ptr(), 64)), sys::CKR_OK);

    // The same for a multi-part signature's C_SignFinal.
    e.rv("C_SignInit (multi-part)", p11!(r, C_SignInit(s, &mut m, private)), sys::CKR_OK);
    e.rv("C_SignUpdate", p11!(r, C_SignUpdate(s, data, dlen)), sys::CKR_OK);
    len = 0;
    e.rv("C_SignFinal(NULL output)", p11!(r, C_SignFinal(s, null_mut(), &mut len)), sys::CKR_OK);
    e.eq("C_SignFinal(NULL output): length", len, 64);
    len = 10;
    e.rv("C_SignFinal(10-byte buffer)", p11!(r, C_SignFinal(s, small.as_mut_ptr(), &mut len)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("C_SignFinal(10-byte buffer): length", len, 64);
    len = 64;
    e.rv("C_SignFinal(64-byte buffer)", p11!(r, C_SignFinal(s, sig.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.rv("C_VerifyInit", p11!(r, C_VerifyInit(s, &mut m, public)), sys::CKR_OK);
    e.rv("C_Verify (multi-part signature)", p11!(r, C_Verify(s, data, dlen, sig.as_mut_ptr(), 64)), sys::CKR_OK);

    // C_Encrypt's length query for SM4-CBC-PAD (output longer than the input).
    let key_bytes = h(SM4_KEY);
    let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
    let (class, kt) = (sys::CKO_SECRET_KEY, ck::CKK_SM4 as sys::CK_KEY_TYPE);
    let tmpl = [
        attr(sys::CKA_CLASS, &class),
        attr(sys::CKA_KEY_TYPE, &kt),
        attr(sys::CKA_TOKEN, &f),
        attr(sys::CKA_ENCRYPT, &t),
        bytes_attr(sys::CKA_VALUE, &key_bytes),
    ];
    let mut key: sys::CK_OBJECT_HANDLE = 0;
    e.rv("C_CreateObject SM4", p11!(r, C_CreateObject(s, tmpl.as_ptr() as *mut _, tmpl.len() as _, &mut key)), sys::CKR_OK);
    let mut iv = h(SM4_CBC_IV);
    let mut em = sys::CK_MECHANISM { mechanism: ck::CKM_SM4_CBC_PAD, pParameter: iv.as_mut_ptr().cast(), ulParameterLen: 16 };
    e.rv("C_EncryptInit SM4_CBC_PAD", p11!(r, C_EncryptInit(s, &mut em, key)), sys::CKR_OK);
    len = 0;
    e.rv("C_Encrypt(NULL output)", p11!(r, C_Encrypt(s, data, 20, null_mut(), &mut len)), sys::CKR_OK);
    let mut ct = vec![0u8; len as usize];
    e.rv("C_Encrypt", p11!(r, C_Encrypt(s, data, 20, ct.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.eq("C_Encrypt: length", len, 32);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

#[test]
fn bad_mechanism_parameters_are_refused_by_the_module() {
    let slot = slot_id();
    let r = Raw::load();
    let s = raw_session(&r, slot);
    let (_, key) = raw_p256(&r, s, b"p11-params");
    let mut e = Expect::default();
    // CK_RSA_PKCS_PSS_PARAMS of the wrong size.
    let mut pss = [0u8; 16];
    let mut m = sys::CK_MECHANISM { mechanism: sys::CKM_SHA256_RSA_PKCS_PSS, pParameter: pss.as_mut_ptr().cast(), ulParameterLen: 16 };
    e.rv("PSS params of 16 bytes", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_MECHANISM_PARAM_INVALID);
    // Neither CK_GCM_PARAMS layout (3.0: 48 bytes, 2.40: 40 bytes).
    let mut gcm = [0u8; 44];
    let mut m = sys::CK_MECHANISM { mechanism: ck::CKM_SM4_GCM, pParameter: gcm.as_mut_ptr().cast(), ulParameterLen: 44 };
    e.rv("GCM params of 44 bytes", p11!(r, C_EncryptInit(s, &mut m, key)), sys::CKR_MECHANISM_PARAM_INVALID);
    // A parameter pointer that is null with a length.
    let mut m = sys::CK_MECHANISM { mechanism: sys::CKM_AES_CBC, pParameter: null_mut(), ulParameterLen: 16 };
    e.rv("NULL parameter with length 16", p11!(r, C_EncryptInit(s, &mut m, key)), sys::CKR_MECHANISM_PARAM_INVALID);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

#[test]
fn list_buffer_protocol_and_double_initialize() {
    let slot = slot_id();
    let r = Raw::load();
    let mut e = Expect::default();
    e.rv("second C_Initialize", p11!(r, C_Initialize(null_mut())), sys::CKR_CRYPTOKI_ALREADY_INITIALIZED);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_GetMechanismList(NULL)", p11!(r, C_GetMechanismList(slot, null_mut(), &mut n)), sys::CKR_OK);
    assert!(n > 10, "the TA offers more than {n} mechanisms");
    let mut list = vec![0 as sys::CK_MECHANISM_TYPE; n as usize];
    let mut short = n - 1;
    e.rv("C_GetMechanismList(short)", p11!(r, C_GetMechanismList(slot, list.as_mut_ptr(), &mut short)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("C_GetMechanismList(short): count", short, n);
    let mut full = n;
    e.rv("C_GetMechanismList", p11!(r, C_GetMechanismList(slot, list.as_mut_ptr(), &mut full)), sys::CKR_OK);
    for m in [ck::CKM_SM2_SM3, ck::CKM_SM4_GCM, ck::CKM_ECDSA_SHA256, ck::CKM_SHA256_RSA_PKCS_PSS] {
        e.eq(&format!("mechanism 0x{m:x} listed"), list.contains(&(m as sys::CK_MECHANISM_TYPE)), true);
    }
    let mut info = sys::CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
    e.rv("C_GetMechanismInfo(SM2_SM3)", p11!(r, C_GetMechanismInfo(slot, ck::CKM_SM2_SM3 as _, &mut info)), sys::CKR_OK);
    e.eq("SM2_SM3 can sign", info.flags & sys::CKF_SIGN != 0, true);
    e.rv("C_GetMechanismInfo(unknown)", p11!(r, C_GetMechanismInfo(slot, 0x8fff_fff0, &mut info)), sys::CKR_MECHANISM_INVALID);
    let mut slots = [0 as sys::CK_SLOT_ID; 0];
    n = 0;
    e.rv("C_GetSlotList(buffer of 0)", p11!(r, C_GetSlotList(sys::CK_TRUE, slots.as_mut_ptr(), &mut n)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("C_GetSlotList(buffer of 0): count", n >= 1, true);
    e.check();
}

// ------------------------------------------------------------ child processes

/// Runs `child` (an ignored test of this binary) in a new process with the
/// given environment changes, and checks that it ran and passed.
fn run_child(child: &str, set: &[(&str, &std::ffi::OsStr)], unset: &[&str]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([child, "--exact", "--ignored", "--nocapture", "--test-threads=1"]).env("TEEHSM_TEST_CHILD", "1");
    for k in unset {
        cmd.env_remove(k);
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test {child} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

fn in_child() -> bool {
    std::env::var_os("TEEHSM_TEST_CHILD").is_some()
}

// ------------------------------------------------------------ (e) fork

#[test]
fn fork_child_must_initialize_again() {
    let sh = shared();
    run_child("child_fork", &[("TEEHSM_PKCS11_SOCKET", sh.socket.as_os_str())], &["TEEHSM_PKCS11_CONF"]);
}

/// What each exit code of the forked process means.
const FORK_STEPS: &[(i32, &str)] = &[
    (10, "C_GetSlotList before C_Initialize did not return CKR_CRYPTOKI_NOT_INITIALIZED"),
    (11, "C_Sign on the parent's session before C_Initialize did not return CKR_CRYPTOKI_NOT_INITIALIZED"),
    (12, "C_Finalize before C_Initialize did not return CKR_CRYPTOKI_NOT_INITIALIZED"),
    (13, "C_Initialize in the child failed"),
    (14, "C_GetSlotList after C_Initialize failed or listed no slot"),
    (15, "the parent's session handle was valid in the child (C_GetSessionInfo did not return CKR_SESSION_HANDLE_INVALID)"),
    (16, "C_OpenSession or C_Login in the child failed"),
    (17, "C_GenerateKeyPair or C_Sign in the child failed"),
    (18, "C_Finalize in the child failed"),
];

#[test]
#[ignore = "run in a child process by fork_child_must_initialize_again"]
fn child_fork() {
    if !in_child() {
        return;
    }
    let r = Raw::load();
    assert_eq!(p11!(r, C_Initialize(null_mut())), sys::CKR_OK, "C_Initialize in the parent");
    let s = raw_session(&r, 0);
    let (_, key) = raw_p256(&r, s, b"p11-fork-parent");
    let sign = |s: sys::CK_SESSION_HANDLE, key: sys::CK_OBJECT_HANDLE| -> sys::CK_RV {
        let mut m = mech(sys::CKM_ECDSA_SHA256);
        let rv = p11!(r, C_SignInit(s, &mut m, key));
        if rv != sys::CKR_OK {
            return rv;
        }
        let mut sig = [0u8; 64];
        let mut len: sys::CK_ULONG = 64;
        p11!(r, C_Sign(s, MSG.as_ptr() as *mut u8, MSG.len() as _, sig.as_mut_ptr(), &mut len))
    };
    assert_eq!(sign(s, key), sys::CKR_OK, "parent signs before fork");

    // SAFETY: this process runs one test thread; the child only calls the
    // module and then _exit()s without running this process's atexit handlers.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let step = || -> i32 {
            let mut n: sys::CK_ULONG = 0;
            if p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)) != sys::CKR_CRYPTOKI_NOT_INITIALIZED {
                return 10;
            }
            if sign(s, key) != sys::CKR_CRYPTOKI_NOT_INITIALIZED {
                return 11;
            }
            if p11!(r, C_Finalize(null_mut())) != sys::CKR_CRYPTOKI_NOT_INITIALIZED {
                return 12;
            }
            if p11!(r, C_Initialize(null_mut())) != sys::CKR_OK {
                return 13;
            }
            if p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)) != sys::CKR_OK || n == 0 {
                return 14;
            }
            let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
            if p11!(r, C_GetSessionInfo(s, &mut info)) != sys::CKR_SESSION_HANDLE_INVALID {
                return 15;
            }
            let mut cs: sys::CK_SESSION_HANDLE = 0;
            if p11!(r, C_OpenSession(0, sys::CKF_SERIAL_SESSION | sys::CKF_RW_SESSION, null_mut(), None, &mut cs)) != sys::CKR_OK
                || p11!(r, C_Login(cs, sys::CKU_USER, PIN.as_ptr() as *mut u8, PIN.len() as _)) != sys::CKR_OK
            {
                return 16;
            }
            let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
            let public = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_VERIFY, &t), bytes_attr(sys::CKA_EC_PARAMS, P256_OID)];
            let private = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_SIGN, &t)];
            let mut m = mech(sys::CKM_EC_KEY_PAIR_GEN);
            let (mut pb, mut pv) = (0, 0);
            if p11!(r, C_GenerateKeyPair(cs, &mut m, public.as_ptr() as *mut _, 3, private.as_ptr() as *mut _, 2, &mut pb, &mut pv)) != sys::CKR_OK
                || sign(cs, pv) != sys::CKR_OK
            {
                return 17;
            }
            if p11!(r, C_Finalize(null_mut())) != sys::CKR_OK {
                return 18;
            }
            0
        };
        let code = std::panic::catch_unwind(step).unwrap_or(99);
        // SAFETY: ending the forked process without unwinding into the harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "the forked process did not exit normally (status {status:#x})");
    let code = libc::WEXITSTATUS(status);
    let meaning = FORK_STEPS.iter().find(|(c, _)| *c == code).map(|(_, m)| *m).unwrap_or("unexpected exit code");
    assert_eq!(code, 0, "forked process: {meaning}");

    // The parent's connections, session and login survived the child.
    let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
    assert_eq!(p11!(r, C_GetSessionInfo(s, &mut info)), sys::CKR_OK, "parent's session after the fork");
    assert_eq!(info.state, sys::CKS_RW_USER_FUNCTIONS, "the parent is still logged in");
    for i in 0..20 {
        assert_eq!(sign(s, key), sys::CKR_OK, "parent sign {i} after the child exited");
    }
    // A child that exits without touching the module leaves the parent working too.
    // SAFETY: as above; the child does nothing but _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: ending the forked process immediately.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(sign(s, key), sys::CKR_OK, "parent signs after a second child exited");
    assert_eq!(p11!(r, C_Finalize(null_mut())), sys::CKR_OK);
}

// ------------------------------------------------------------ (f) configuration

fn write_conf(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn configuration_selects_the_ca_socket() {
    let sh = shared();
    let dir = TempDir::new("p11-conf");
    let good = sh.socket.as_os_str();
    let missing = dir.path().join("no-such-dir/ca.sock");
    let conf_good = write_conf(&dir, "good.toml", &format!("socket = \"{}\"\n", sh.socket.display()));
    let conf_missing = write_conf(&dir, "missing.toml", &format!("socket = \"{}\"\n", missing.display()));
    let conf_bad = write_conf(&dir, "bad.toml", "sockett = \"/x\"\n");
    let absent = dir.path().join("absent.toml");
    let (sock, conf) = ("TEEHSM_PKCS11_SOCKET", "TEEHSM_PKCS11_CONF");
    // The environment variable names an unreachable socket.
    run_child("child_unreachable_ca", &[(sock, missing.as_os_str())], &[conf]);
    // The config file names it instead.
    run_child("child_unreachable_ca", &[(conf, conf_missing.as_os_str())], &[sock]);
    // The config file names the CA's socket.
    run_child("child_reachable_ca", &[(conf, conf_good.as_os_str())], &[sock]);
    // The environment variable wins over the file.
    run_child("child_reachable_ca", &[(conf, conf_missing.as_os_str()), (sock, good)], &[]);
    // An explicitly named config file that is missing or not teehsm's.
    run_child("child_bad_config", &[(conf, absent.as_os_str())], &[sock]);
    run_child("child_bad_config", &[(conf, conf_bad.as_os_str())], &[sock]);
}

#[test]
#[ignore = "run in a child process by configuration_selects_the_ca_socket"]
fn child_unreachable_ca() {
    if !in_child() {
        return;
    }
    let r = Raw::load();
    let mut e = Expect::default();
    e.rv("C_Initialize (does not connect)", p11!(r, C_Initialize(null_mut())), sys::CKR_OK);
    // SAFETY: CK_INFO is plain data; all zeroes is a valid value.
    let mut info: sys::CK_INFO = unsafe { std::mem::zeroed() };
    e.rv("C_GetInfo (needs no CA)", p11!(r, C_GetInfo(&mut info)), sys::CKR_OK);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_GetSlotList", p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)), sys::CKR_DEVICE_ERROR);
    // SAFETY: CK_TOKEN_INFO is plain data; all zeroes is a valid value.
    let mut token: sys::CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    e.rv("C_GetTokenInfo", p11!(r, C_GetTokenInfo(0, &mut token)), sys::CKR_DEVICE_ERROR);
    let mut s: sys::CK_SESSION_HANDLE = 0;
    e.rv("C_OpenSession", p11!(r, C_OpenSession(0, sys::CKF_SERIAL_SESSION, null_mut(), None, &mut s)), sys::CKR_DEVICE_ERROR);
    e.rv("C_Finalize", p11!(r, C_Finalize(null_mut())), sys::CKR_OK);
    e.check();
}

#[test]
#[ignore = "run in a child process by configuration_selects_the_ca_socket"]
fn child_reachable_ca() {
    if !in_child() {
        return;
    }
    let pkcs11 = Pkcs11::new(pkcs11_module()).expect("load the module");
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slots = pkcs11.get_slots_with_token().expect("C_GetSlotList");
    assert!(!slots.is_empty());
    assert_eq!(pkcs11.get_token_info(slots[0]).expect("C_GetTokenInfo").label().trim_end(), DEV_TOKEN_LABEL);
    pkcs11.finalize().expect("C_Finalize");
}

#[test]
#[ignore = "run in a child process by configuration_selects_the_ca_socket"]
fn child_bad_config() {
    if !in_child() {
        return;
    }
    let r = Raw::load();
    let mut e = Expect::default();
    e.rv("C_Initialize with a bad config file", p11!(r, C_Initialize(null_mut())), sys::CKR_GENERAL_ERROR);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_GetSlotList after the failed C_Initialize", p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)), sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    e.check();
}

// ------------------------------------------------------------ more of the C API

fn secret_key(r: &Raw, s: sys::CK_SESSION_HANDLE, key_type: u64, value: &[u8], extra: &[sys::CK_ATTRIBUTE]) -> sys::CK_OBJECT_HANDLE {
    let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
    let (class, kt) = (sys::CKO_SECRET_KEY, key_type as sys::CK_KEY_TYPE);
    let mut tmpl = vec![
        attr(sys::CKA_CLASS, &class),
        attr(sys::CKA_KEY_TYPE, &kt),
        attr(sys::CKA_TOKEN, &f),
        attr(sys::CKA_ENCRYPT, &t),
        attr(sys::CKA_DECRYPT, &t),
        bytes_attr(sys::CKA_VALUE, value),
    ];
    tmpl.extend_from_slice(extra);
    let mut key: sys::CK_OBJECT_HANDLE = 0;
    let rv = p11!(r, C_CreateObject(s, tmpl.as_mut_ptr(), tmpl.len() as _, &mut key));
    assert_eq!(rv, sys::CKR_OK, "C_CreateObject secret key: {}", rv_name(rv));
    key
}

/// PKCS#11 3.0 (C_EncryptInit and the other *Init functions): "can be called
/// with pMechanism set to NULL_PTR to terminate an active ... operation".
#[test]
fn init_with_null_mechanism_cancels_the_operation() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let (_, key) = raw_p256(&r, s, b"p11-cancel");
    let mut e = Expect::default();
    let mut m = mech(sys::CKM_ECDSA_SHA256);
    let mut len: sys::CK_ULONG = 64;
    let mut sig = [0u8; 64];
    e.rv("C_SignInit", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_OK);
    e.rv("C_SignInit(NULL) with an active operation", p11!(r, C_SignInit(s, null_mut(), key)), sys::CKR_OK);
    e.rv(
        "C_Sign after the cancel",
        p11!(r, C_Sign(s, MSG.as_ptr() as *mut u8, MSG.len() as _, sig.as_mut_ptr(), &mut len)),
        sys::CKR_OPERATION_NOT_INITIALIZED,
    );
    e.rv("C_SignInit after the cancel", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_OK);
    let mut d = mech(sys::CKM_SHA256);
    e.rv("C_DigestInit", p11!(r, C_DigestInit(s, &mut d)), sys::CKR_OK);
    e.rv("C_DigestInit(NULL) with an active operation", p11!(r, C_DigestInit(s, null_mut())), sys::CKR_OK);
    e.rv("C_DigestInit after the cancel", p11!(r, C_DigestInit(s, &mut d)), sys::CKR_OK);
    // C_SessionCancel (3.0) ends them too.
    // SAFETY: the module's exported C_SessionCancel, on our session.
    let rv = unsafe { r.lib.C_SessionCancel(s, sys::CKF_SIGN | sys::CKF_DIGEST) };
    e.rv("C_SessionCancel(SIGN|DIGEST)", rv, sys::CKR_OK);
    e.rv("C_SignInit after C_SessionCancel", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_OK);
    e.rv("C_DigestInit after C_SessionCancel", p11!(r, C_DigestInit(s, &mut d)), sys::CKR_OK);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

/// C_DeriveKey with a null phKey must be refused before a key is made (a
/// key nobody has the handle of is an orphan; a token one for good).
#[test]
fn derive_key_with_null_handle_pointer_makes_no_key() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let yes: sys::CK_BBOOL = sys::CK_TRUE;
    let (_, ours) = raw_p256_with(&r, s, b"p11-ecdh-a", &[attr(sys::CKA_DERIVE, &yes)]);
    let sh = user_session();
    let (peer_pub, _) = p256_pair(&sh, "p11-ecdh-b");
    let peer_point = tlv(0x04, &ec_point(&sh, peer_pub));
    let mut params = sys::CK_ECDH1_DERIVE_PARAMS {
        kdf: sys::CKD_NULL,
        ulSharedDataLen: 0,
        pSharedData: null_mut(),
        ulPublicDataLen: peer_point.len() as _,
        pPublicData: peer_point.as_ptr() as *mut u8,
    };
    let mut m = sys::CK_MECHANISM {
        mechanism: sys::CKM_ECDH1_DERIVE,
        pParameter: (&mut params as *mut sys::CK_ECDH1_DERIVE_PARAMS).cast(),
        ulParameterLen: std::mem::size_of::<sys::CK_ECDH1_DERIVE_PARAMS>() as _,
    };
    let (f, t): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_FALSE, sys::CK_TRUE);
    let (class, kt, len) = (sys::CKO_SECRET_KEY, sys::CKK_GENERIC_SECRET, 32 as sys::CK_ULONG);
    let label = b"p11-orphan-derived-key";
    let tmpl = [
        attr(sys::CKA_CLASS, &class),
        attr(sys::CKA_KEY_TYPE, &kt),
        attr(sys::CKA_VALUE_LEN, &len),
        attr(sys::CKA_TOKEN, &f),
        attr(sys::CKA_SENSITIVE, &f),
        attr(sys::CKA_EXTRACTABLE, &t),
        bytes_attr(sys::CKA_LABEL, label),
    ];
    let mut e = Expect::default();
    e.rv(
        "C_DeriveKey(ECDH, phKey NULL)",
        p11!(r, C_DeriveKey(s, &mut m, ours, tmpl.as_ptr() as *mut _, tmpl.len() as _, null_mut())),
        sys::CKR_ARGUMENTS_BAD,
    );
    let find = [bytes_attr(sys::CKA_LABEL, label)];
    e.rv("C_FindObjectsInit(label)", p11!(r, C_FindObjectsInit(s, find.as_ptr() as *mut _, 1)), sys::CKR_OK);
    let mut found = [0 as sys::CK_OBJECT_HANDLE; 4];
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_FindObjects", p11!(r, C_FindObjects(s, found.as_mut_ptr(), 4, &mut n)), sys::CKR_OK);
    e.eq("keys made by the refused C_DeriveKey", n, 0);
    e.rv("C_FindObjectsFinal", p11!(r, C_FindObjectsFinal(s)), sys::CKR_OK);
    // With a handle pointer it works, and both sides agree (the module maps CK_ECDH1_DERIVE_PARAMS).
    let mut k: sys::CK_OBJECT_HANDLE = 0;
    e.rv("C_DeriveKey(ECDH)", p11!(r, C_DeriveKey(s, &mut m, ours, tmpl.as_ptr() as *mut _, tmpl.len() as _, &mut k)), sys::CKR_OK);
    let mut v = [0u8; 32];
    let mut a = [sys::CK_ATTRIBUTE { type_: sys::CKA_VALUE, pValue: v.as_mut_ptr().cast(), ulValueLen: 32 }];
    e.rv("CKA_VALUE of the derived key", p11!(r, C_GetAttributeValue(s, k, a.as_mut_ptr(), 1)), sys::CKR_OK);
    e.eq("derived secret is not all zero", v.iter().any(|b| *b != 0), true);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

#[test]
fn find_objects_in_pages() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let label = b"p11-find-pages";
    let (class, f): (sys::CK_ULONG, sys::CK_BBOOL) = (sys::CKO_DATA, sys::CK_FALSE);
    let mut made = Vec::new();
    for i in 0..5u8 {
        let value = [i; 4];
        let t = [attr(sys::CKA_CLASS, &class), attr(sys::CKA_TOKEN, &f), bytes_attr(sys::CKA_LABEL, label), bytes_attr(sys::CKA_VALUE, &value)];
        let mut h = 0;
        assert_eq!(p11!(r, C_CreateObject(s, t.as_ptr() as *mut _, 4, &mut h)), sys::CKR_OK, "C_CreateObject data object");
        made.push(h);
    }
    let mut e = Expect::default();
    let find = [bytes_attr(sys::CKA_LABEL, label)];
    e.rv("C_FindObjectsInit", p11!(r, C_FindObjectsInit(s, find.as_ptr() as *mut _, 1)), sys::CKR_OK);
    e.rv("C_FindObjectsInit while active", p11!(r, C_FindObjectsInit(s, find.as_ptr() as *mut _, 1)), sys::CKR_OPERATION_ACTIVE);
    let mut got = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..5 {
        let mut page = [0 as sys::CK_OBJECT_HANDLE; 2];
        let mut n: sys::CK_ULONG = 99;
        e.rv("C_FindObjects(max 2)", p11!(r, C_FindObjects(s, page.as_mut_ptr(), 2, &mut n)), sys::CKR_OK);
        pages.push(n);
        got.extend_from_slice(&page[..n.min(2) as usize]);
        if n == 0 {
            break;
        }
    }
    e.eq("page sizes", pages, vec![2, 2, 1, 0]);
    got.sort();
    e.eq("found objects", got, made.clone());
    e.rv("C_FindObjectsFinal", p11!(r, C_FindObjectsFinal(s)), sys::CKR_OK);
    let mut n: sys::CK_ULONG = 0;
    let mut h: sys::CK_OBJECT_HANDLE = 0;
    e.rv("C_FindObjects after Final", p11!(r, C_FindObjects(s, &mut h, 1, &mut n)), sys::CKR_OPERATION_NOT_INITIALIZED);
    e.rv("C_FindObjectsFinal twice", p11!(r, C_FindObjectsFinal(s)), sys::CKR_OPERATION_NOT_INITIALIZED);
    // C_GetObjectSize, C_DestroyObject.
    let mut size: sys::CK_ULONG = 0;
    let rv = p11!(r, C_GetObjectSize(s, made[0], &mut size));
    e.eq("C_GetObjectSize is OK or FUNCTION_NOT_SUPPORTED", rv == sys::CKR_OK || rv == sys::CKR_FUNCTION_NOT_SUPPORTED, true);
    e.rv("C_DestroyObject", p11!(r, C_DestroyObject(s, made[0])), sys::CKR_OK);
    e.rv("C_DestroyObject again", p11!(r, C_DestroyObject(s, made[0])), sys::CKR_OBJECT_HANDLE_INVALID);
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

#[test]
fn decrypt_and_multipart_length_queries() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let key = secret_key(&r, s, ck::CKK_SM4, &h(SM4_KEY), &[]);
    let mut e = Expect::default();
    let mut iv = h(SM4_CBC_IV);
    let mut cbc_pad = sys::CK_MECHANISM { mechanism: ck::CKM_SM4_CBC_PAD, pParameter: iv.as_mut_ptr().cast(), ulParameterLen: 16 };
    let msg = b"twenty-one bytes here";
    // Encrypt (single part) to get a ciphertext.
    let mut ct = [0u8; 64];
    let mut ct_len: sys::CK_ULONG = 64;
    e.rv("C_EncryptInit", p11!(r, C_EncryptInit(s, &mut cbc_pad, key)), sys::CKR_OK);
    e.rv("C_Encrypt", p11!(r, C_Encrypt(s, msg.as_ptr() as *mut u8, msg.len() as _, ct.as_mut_ptr(), &mut ct_len)), sys::CKR_OK);
    e.eq("CBC_PAD ciphertext length", ct_len, 32);
    // Decrypt: length query (may overestimate), too small, then enough.
    e.rv("C_DecryptInit", p11!(r, C_DecryptInit(s, &mut cbc_pad, key)), sys::CKR_OK);
    let mut len: sys::CK_ULONG = 0;
    e.rv("C_Decrypt(NULL)", p11!(r, C_Decrypt(s, ct.as_mut_ptr(), ct_len, null_mut(), &mut len)), sys::CKR_OK);
    e.eq("C_Decrypt(NULL) length >= plaintext", len >= msg.len() as sys::CK_ULONG, true);
    let mut pt = [0u8; 64];
    let mut small: sys::CK_ULONG = 4;
    e.rv("C_Decrypt(4-byte buffer)", p11!(r, C_Decrypt(s, ct.as_mut_ptr(), ct_len, pt.as_mut_ptr(), &mut small)), sys::CKR_BUFFER_TOO_SMALL);
    len = 64;
    e.rv("C_Decrypt", p11!(r, C_Decrypt(s, ct.as_mut_ptr(), ct_len, pt.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.eq("plaintext", &pt[..len as usize], &msg[..]);

    // Multi-part encryption with a length query on an update and on the final part.
    e.rv("C_EncryptInit (multi-part)", p11!(r, C_EncryptInit(s, &mut cbc_pad, key)), sys::CKR_OK);
    let mut out = Vec::new();
    for part in [&msg[..7], &msg[7..19], &msg[19..]] {
        let mut n: sys::CK_ULONG = 0;
        e.rv("C_EncryptUpdate(NULL)", p11!(r, C_EncryptUpdate(s, part.as_ptr() as *mut u8, part.len() as _, null_mut(), &mut n)), sys::CKR_OK);
        let mut buf = vec![0u8; n as usize + 1];
        let mut m = buf.len() as sys::CK_ULONG;
        e.rv("C_EncryptUpdate", p11!(r, C_EncryptUpdate(s, part.as_ptr() as *mut u8, part.len() as _, buf.as_mut_ptr(), &mut m)), sys::CKR_OK);
        out.extend_from_slice(&buf[..m as usize]);
    }
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_EncryptFinal(NULL)", p11!(r, C_EncryptFinal(s, null_mut(), &mut n)), sys::CKR_OK);
    let mut buf = vec![0u8; n as usize];
    e.rv("C_EncryptFinal", p11!(r, C_EncryptFinal(s, buf.as_mut_ptr(), &mut n)), sys::CKR_OK);
    out.extend_from_slice(&buf[..n as usize]);
    e.eq("multi-part ciphertext equals single-part", &out[..], &ct[..ct_len as usize]);
    e.rv("C_EncryptFinal after the end", p11!(r, C_EncryptFinal(s, buf.as_mut_ptr(), &mut n)), sys::CKR_OPERATION_NOT_INITIALIZED);

    // SM3 digest, GB/T 32905 example 1, with a length query.
    let mut d = mech(ck::CKM_SM3 as sys::CK_MECHANISM_TYPE);
    e.rv("C_DigestInit(SM3)", p11!(r, C_DigestInit(s, &mut d)), sys::CKR_OK);
    let mut dl: sys::CK_ULONG = 0;
    e.rv("C_Digest(NULL)", p11!(r, C_Digest(s, b"abc".as_ptr() as *mut u8, 3, null_mut(), &mut dl)), sys::CKR_OK);
    e.eq("SM3 length", dl, 32);
    let mut dv = [0u8; 32];
    e.rv("C_Digest", p11!(r, C_Digest(s, b"abc".as_ptr() as *mut u8, 3, dv.as_mut_ptr(), &mut dl)), sys::CKR_OK);
    e.eq("SM3(abc)", hex::encode(dv), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0".to_string());
    e.rv("C_CloseSession", p11!(r, C_CloseSession(s)), sys::CKR_OK);
    e.check();
}

/// PKCS#11 puts no bound on a message to hash-and-sign or digest; the module
/// must not refuse what it could stream through the TA in parts.
#[test]
fn inputs_larger_than_one_frame() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let (public, private) = raw_p256(&r, s, b"p11-large");
    let big = vec![0x5au8; 3 << 20];
    let mut e = Expect::default();
    let mut d = mech(sys::CKM_SHA256);
    let mut out = [0u8; 64];
    let mut len: sys::CK_ULONG = 64;
    e.rv("C_DigestInit", p11!(r, C_DigestInit(s, &mut d)), sys::CKR_OK);
    e.rv("C_Digest(3 MiB)", p11!(r, C_Digest(s, big.as_ptr() as *mut u8, big.len() as _, out.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.rv("C_DigestInit", p11!(r, C_DigestInit(s, &mut d)), sys::CKR_OK);
    e.rv("C_DigestUpdate(3 MiB)", p11!(r, C_DigestUpdate(s, big.as_ptr() as *mut u8, big.len() as _)), sys::CKR_OK);
    len = 64;
    e.rv("C_DigestFinal", p11!(r, C_DigestFinal(s, out.as_mut_ptr(), &mut len)), sys::CKR_OK);
    let mut m = mech(sys::CKM_ECDSA_SHA256);
    e.rv("C_SignInit", p11!(r, C_SignInit(s, &mut m, private)), sys::CKR_OK);
    len = 64;
    e.rv("C_Sign(3 MiB, ECDSA_SHA256)", p11!(r, C_Sign(s, big.as_ptr() as *mut u8, big.len() as _, out.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.rv("C_VerifyInit", p11!(r, C_VerifyInit(s, &mut m, public)), sys::CKR_OK);
    e.rv("C_Verify(3 MiB)", p11!(r, C_Verify(s, big.as_ptr() as *mut u8, big.len() as _, out.as_mut_ptr(), 64)), sys::CKR_OK);
    let _ = p11!(r, C_CloseSession(s));
    e.check();
}

#[test]
fn slot_token_and_library_info() {
    let r = Raw::load();
    let slot = slot_id();
    let mut e = Expect::default();
    // SAFETY (the zeroed values below): plain C structures; all zeroes is valid.
    let mut info: sys::CK_INFO = unsafe { std::mem::zeroed() };
    e.rv("C_GetInfo", p11!(r, C_GetInfo(&mut info)), sys::CKR_OK);
    e.eq("cryptokiVersion", (info.cryptokiVersion.major, info.cryptokiVersion.minor), (3, 2));
    e.eq("manufacturerID is blank-padded text", info.manufacturerID.iter().all(|b| (0x20..0x7f).contains(b)), true);
    // SAFETY: as above.
    let mut si: sys::CK_SLOT_INFO = unsafe { std::mem::zeroed() };
    e.rv("C_GetSlotInfo", p11!(r, C_GetSlotInfo(slot, &mut si)), sys::CKR_OK);
    e.eq("slot has CKF_TOKEN_PRESENT", si.flags & sys::CKF_TOKEN_PRESENT != 0, true);
    // SAFETY: as above.
    let mut ti: sys::CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    e.rv("C_GetTokenInfo", p11!(r, C_GetTokenInfo(slot, &mut ti)), sys::CKR_OK);
    e.eq("token label", String::from_utf8_lossy(&ti.label).trim_end().to_string(), DEV_TOKEN_LABEL.to_string());
    for (flag, name) in [
        (sys::CKF_TOKEN_INITIALIZED, "CKF_TOKEN_INITIALIZED"),
        (sys::CKF_USER_PIN_INITIALIZED, "CKF_USER_PIN_INITIALIZED"),
        (sys::CKF_LOGIN_REQUIRED, "CKF_LOGIN_REQUIRED"),
        (sys::CKF_RNG, "CKF_RNG"),
    ] {
        e.eq(&format!("token flag {name}"), ti.flags & flag != 0, true);
    }
    e.eq("serialNumber is blank-padded text", ti.serialNumber.iter().all(|b| (0x20..0x7f).contains(b)), true);
    // A slot that does not exist.
    let bad: sys::CK_SLOT_ID = 4242;
    e.rv("C_GetSlotInfo(4242)", p11!(r, C_GetSlotInfo(bad, &mut si)), sys::CKR_SLOT_ID_INVALID);
    e.rv("C_GetTokenInfo(4242)", p11!(r, C_GetTokenInfo(bad, &mut ti)), sys::CKR_SLOT_ID_INVALID);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_GetMechanismList(4242)", p11!(r, C_GetMechanismList(bad, null_mut(), &mut n)), sys::CKR_SLOT_ID_INVALID);
    let mut h: sys::CK_SESSION_HANDLE = 0;
    e.rv("C_OpenSession(4242)", p11!(r, C_OpenSession(bad, sys::CKF_SERIAL_SESSION, null_mut(), None, &mut h)), sys::CKR_SLOT_ID_INVALID);
    e.rv(
        "C_OpenSession without CKF_SERIAL_SESSION",
        p11!(r, C_OpenSession(slot, 0, null_mut(), None, &mut h)),
        sys::CKR_SESSION_PARALLEL_NOT_SUPPORTED,
    );
    // Random bytes.
    let s = raw_session(&r, slot);
    let mut rnd = [0u8; 64];
    e.rv("C_GenerateRandom(64)", p11!(r, C_GenerateRandom(s, rnd.as_mut_ptr(), 64)), sys::CKR_OK);
    e.eq("random bytes are not all zero", rnd.iter().any(|b| *b != 0), true);
    e.rv("C_GenerateRandom(0)", p11!(r, C_GenerateRandom(s, rnd.as_mut_ptr(), 0)), sys::CKR_OK);
    let _ = p11!(r, C_CloseSession(s));
    e.check();
}

/// Logout and C_CloseAllSessions change the whole application's state, so
/// they run in a child process with its own module (and TA application).
#[test]
fn logout_and_close_all_sessions() {
    let sh = shared();
    run_child("child_logout_and_close_all", &[("TEEHSM_PKCS11_SOCKET", sh.socket.as_os_str())], &["TEEHSM_PKCS11_CONF"]);
}

#[test]
#[ignore = "run in a child process by logout_and_close_all_sessions"]
fn child_logout_and_close_all() {
    if !in_child() {
        return;
    }
    let r = Raw::load();
    assert_eq!(p11!(r, C_Initialize(null_mut())), sys::CKR_OK);
    let mut e = Expect::default();
    let a = raw_session(&r, 0);
    let b = raw_session(&r, 0);
    let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
    e.rv("C_GetSessionInfo(b)", p11!(r, C_GetSessionInfo(b, &mut info)), sys::CKR_OK);
    e.eq("b is logged in through a's login", info.state, sys::CKS_RW_USER_FUNCTIONS);
    // An operation in progress on b ends with the login (the TA ends them).
    let mut d = mech(sys::CKM_SHA256);
    e.rv("C_DigestInit(b)", p11!(r, C_DigestInit(b, &mut d)), sys::CKR_OK);
    e.rv("C_Logout(a)", p11!(r, C_Logout(a)), sys::CKR_OK);
    e.rv("C_GetSessionInfo(b) after logout", p11!(r, C_GetSessionInfo(b, &mut info)), sys::CKR_OK);
    e.eq("b is public after logout", info.state, sys::CKS_RW_PUBLIC_SESSION);
    e.rv("C_DigestInit(b) after the logout ended b's digest", p11!(r, C_DigestInit(b, &mut d)), sys::CKR_OK);
    e.rv("C_Logout(b) when nobody is logged in", p11!(r, C_Logout(b)), sys::CKR_USER_NOT_LOGGED_IN);
    // Session objects belong to their session.
    let (class, f): (sys::CK_ULONG, sys::CK_BBOOL) = (sys::CKO_DATA, sys::CK_FALSE);
    let t = [attr(sys::CKA_CLASS, &class), attr(sys::CKA_TOKEN, &f), attr(sys::CKA_PRIVATE, &f)];
    let mut obj = 0;
    e.rv("C_CreateObject in a", p11!(r, C_CreateObject(a, t.as_ptr() as *mut _, 3, &mut obj)), sys::CKR_OK);
    let mut cl: sys::CK_ULONG = 0;
    let mut q = [out_attr(sys::CKA_CLASS, &mut cl)];
    e.rv("b reads a's session object", p11!(r, C_GetAttributeValue(b, obj, q.as_mut_ptr(), 1)), sys::CKR_OK);
    e.rv("C_CloseSession(a)", p11!(r, C_CloseSession(a)), sys::CKR_OK);
    e.rv("b reads it after a closed", p11!(r, C_GetAttributeValue(b, obj, q.as_mut_ptr(), 1)), sys::CKR_OBJECT_HANDLE_INVALID);
    // C_CloseAllSessions.
    let c = raw_session(&r, 0);
    e.rv("C_CloseAllSessions", p11!(r, C_CloseAllSessions(0)), sys::CKR_OK);
    for (name, s) in [("b", b), ("c", c)] {
        e.rv(&format!("C_GetSessionInfo({name}) after C_CloseAllSessions"), p11!(r, C_GetSessionInfo(s, &mut info)), sys::CKR_SESSION_HANDLE_INVALID);
    }
    let mut d2: sys::CK_SESSION_HANDLE = 0;
    e.rv("C_OpenSession after C_CloseAllSessions", p11!(r, C_OpenSession(0, sys::CKF_SERIAL_SESSION, null_mut(), None, &mut d2)), sys::CKR_OK);
    e.rv("C_GetSessionInfo", p11!(r, C_GetSessionInfo(d2, &mut info)), sys::CKR_OK);
    e.eq("no login survives C_CloseAllSessions", info.state, sys::CKS_RO_PUBLIC_SESSION);
    e.rv("C_Finalize", p11!(r, C_Finalize(null_mut())), sys::CKR_OK);
    e.check();
}

// ------------------------------------------------------------ TA restart

/// The TA restarts under the CA (here: SIGKILL, the CA starts it again).
/// Its sessions and logins are gone; the module must say so
/// (CKR_SESSION_HANDLE_INVALID for the old handles) and work again with
/// new sessions, without a string of errors from its stale pooled connections.
#[test]
fn ta_restart_invalidates_sessions_and_recovers() {
    let ca = start_ca_dev_token();
    let pid = ca.pid().to_string();
    run_child(
        "child_ta_restart",
        &[("TEEHSM_PKCS11_SOCKET", ca.socket.as_os_str()), ("TEEHSM_TEST_CA_PID", std::ffi::OsStr::new(&pid))],
        &["TEEHSM_PKCS11_CONF"],
    );
    drop(ca);
}

#[test]
#[ignore = "run in a child process by ta_restart_invalidates_sessions_and_recovers"]
fn child_ta_restart() {
    if !in_child() {
        return;
    }
    let ca: i32 = std::env::var("TEEHSM_TEST_CA_PID").unwrap().parse().unwrap();
    let socket = PathBuf::from(std::env::var_os("TEEHSM_PKCS11_SOCKET").unwrap());
    let r = Raw::load();
    assert_eq!(p11!(r, C_Initialize(null_mut())), sys::CKR_OK);
    let s = raw_session(&r, 0);
    let (_, key) = raw_p256(&r, s, b"p11-restart");
    // Several threads, so the module pools several connections.
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                let t = raw_session(&r, 0);
                let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
                for _ in 0..50 {
                    assert_eq!(p11!(r, C_GetSessionInfo(t, &mut info)), sys::CKR_OK);
                }
            });
        }
    });
    let ta = ta_pid_of(ca).expect("the CA's teehsm-ta child");
    // SAFETY: signalling the TA process of our own test CA.
    unsafe { libc::kill(ta, libc::SIGKILL) };
    // Wait until the CA runs a new TA that answers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let new = ta_pid_of(ca).filter(|p| *p != ta);
        if new.is_some() {
            if let Ok(mut c) = teehsm_wire::client::Client::connect(&socket, "probe") {
                if c.call(&teehsm_wire::Request::GetTokenInfo { slot: 0 }).is_ok() {
                    break;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "the CA did not restart the TA in 60 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut seen = Vec::new();
    let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
    for _ in 0..40 {
        let rv = p11!(r, C_GetSessionInfo(s, &mut info));
        seen.push(rv_name(rv));
        if rv != sys::CKR_DEVICE_ERROR {
            break;
        }
    }
    eprintln!("C_GetSessionInfo(old session) after the TA restart: {seen:?}");
    let mut e = Expect::default();
    e.eq("the old session's answer", seen.last().cloned(), Some("CKR_SESSION_HANDLE_INVALID".to_string()));
    // The first call may meet a connection to the dead TA; after that the
    // module knows the TA went away and must not hand out its other stale
    // pooled connections one failed call at a time.
    e.eq("at most one CKR_DEVICE_ERROR before it (stale pooled connections)", seen.len() - 1 <= 1, true);
    let mut m = mech(sys::CKM_ECDSA_SHA256);
    e.rv("C_SignInit with the old session", p11!(r, C_SignInit(s, &mut m, key)), sys::CKR_SESSION_HANDLE_INVALID);
    // A new session works (the dev token's keys are gone with the session objects, so make one).
    let s2 = raw_session(&r, 0);
    let (_, key2) = raw_p256(&r, s2, b"p11-restart-2");
    e.rv("C_SignInit in a new session", p11!(r, C_SignInit(s2, &mut m, key2)), sys::CKR_OK);
    let mut sig = [0u8; 64];
    let mut len: sys::CK_ULONG = 64;
    e.rv("C_Sign in a new session", p11!(r, C_Sign(s2, MSG.as_ptr() as *mut u8, MSG.len() as _, sig.as_mut_ptr(), &mut len)), sys::CKR_OK);
    e.rv("C_Finalize", p11!(r, C_Finalize(null_mut())), sys::CKR_OK);
    e.check();
}

// ------------------------------------------------------------ the C example of docs/pkcs11.md

/// The C program in docs/pkcs11.md compiles against include/teehsm_pkcs11.h
/// (with p11-kit's pkcs11.h) and runs against the module. Skipped, with a
/// note, without a C compiler or p11-kit's header (libp11-kit-dev).
#[test]
fn c_example_in_the_docs_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let doc = std::fs::read_to_string(repo.join("docs/pkcs11.md")).expect("docs/pkcs11.md");
    let start = doc.find("```c\n").expect("a ```c block in docs/pkcs11.md") + 5;
    let len = doc[start..].find("```").expect("the end of the ```c block");
    let program = &doc[start..start + len];
    let p11kit = Path::new("/usr/include/p11-kit-1/p11-kit/pkcs11.h");
    let cc_ok = Command::new("cc").arg("--version").output().is_ok_and(|o| o.status.success());
    if !cc_ok || !p11kit.exists() {
        eprintln!("SKIP: needs cc and {} (apt install build-essential libp11-kit-dev)", p11kit.display());
        return;
    }
    let sh = shared();
    let w = Work::new("p11-c-example");
    w.write("sm_example.c", program);
    let out = Command::new("cc")
        .args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo.join("include"))
        .args(["-I", "/usr/include/p11-kit-1", "sm_example.c", "-o", "sm_example", "-ldl"])
        .current_dir(w.path())
        .output()
        .expect("run cc");
    assert!(out.status.success(), "the C example does not compile:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(w.path().join("sm_example"))
        .arg(pkcs11_module())
        .arg(std::str::from_utf8(USER_PIN).unwrap())
        .env("TEEHSM_PKCS11_SOCKET", &sh.socket)
        .env_remove("TEEHSM_PKCS11_CONF")
        .output()
        .expect("run the C example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("verified"),
        "the C example failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------ SP 800-108 through the module

/// CKM_SP800_108_COUNTER_KDF with two additional keys: the module maps
/// CK_SP800_108_KDF_PARAMS (mechanism.rs) and writes the additional keys'
/// handles back into the caller's CK_DERIVED_KEY array; the three keys are
/// slices of the KDF output (each from its own PRF block), checked against
/// HMAC-SHA256 from the OpenSSL CLI.
#[test]
fn kbkdf_counter_mode_with_additional_keys() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let base_value = [0x0bu8; 32];
    let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
    let base = secret_key(&r, s, sys::CKK_GENERIC_SECRET, &base_value, &[attr(sys::CKA_DERIVE, &t)]);
    let counter = sys::CK_SP800_108_COUNTER_FORMAT { bLittleEndian: 0, ulWidthInBits: 32 };
    let dkm = sys::CK_SP800_108_DKM_LENGTH_FORMAT { dkmLengthMethod: sys::CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, bLittleEndian: 0, ulWidthInBits: 32 };
    let label = b"teehsm kbkdf label";
    let data = [
        attr_param(sys::CK_SP800_108_ITERATION_VARIABLE, &counter),
        sys::CK_PRF_DATA_PARAM { type_: sys::CK_SP800_108_BYTE_ARRAY, pValue: label.as_ptr() as *mut c_void, ulValueLen: label.len() as _ },
        attr_param(sys::CK_SP800_108_DKM_LENGTH, &dkm),
    ];
    let (class, kt, len) = (sys::CKO_SECRET_KEY, sys::CKK_GENERIC_SECRET, 16 as sys::CK_ULONG);
    let tmpl = [
        attr(sys::CKA_CLASS, &class),
        attr(sys::CKA_KEY_TYPE, &kt),
        attr(sys::CKA_VALUE_LEN, &len),
        attr(sys::CKA_TOKEN, &f),
        attr(sys::CKA_SENSITIVE, &f),
        attr(sys::CKA_EXTRACTABLE, &t),
    ];
    let (mut h1, mut h2): (sys::CK_OBJECT_HANDLE, sys::CK_OBJECT_HANDLE) = (0, 0);
    let mut extra = [
        sys::CK_DERIVED_KEY { pTemplate: tmpl.as_ptr() as *mut _, ulAttributeCount: tmpl.len() as _, phKey: &mut h1 },
        sys::CK_DERIVED_KEY { pTemplate: tmpl.as_ptr() as *mut _, ulAttributeCount: tmpl.len() as _, phKey: &mut h2 },
    ];
    let mut params = sys::CK_SP800_108_KDF_PARAMS {
        prfType: sys::CKM_SHA256_HMAC,
        ulNumberOfDataParams: data.len() as _,
        pDataParams: data.as_ptr() as *mut _,
        ulAdditionalDerivedKeys: 2,
        pAdditionalDerivedKeys: extra.as_mut_ptr(),
    };
    let mut m = sys::CK_MECHANISM {
        mechanism: sys::CKM_SP800_108_COUNTER_KDF,
        pParameter: (&mut params as *mut sys::CK_SP800_108_KDF_PARAMS).cast(),
        ulParameterLen: std::mem::size_of::<sys::CK_SP800_108_KDF_PARAMS>() as _,
    };
    let mut e = Expect::default();
    let mut primary: sys::CK_OBJECT_HANDLE = 0;
    e.rv(
        "C_DeriveKey(SP800_108_COUNTER_KDF)",
        p11!(r, C_DeriveKey(s, &mut m, base, tmpl.as_ptr() as *mut _, tmpl.len() as _, &mut primary)),
        sys::CKR_OK,
    );
    e.eq("additional key handles written back", h1 != 0 && h2 != 0 && h1 != h2 && h1 != primary && h2 != primary, true);
    // The KDF output: K(i) = HMAC-SHA256(base, [i]32 || label || [384]32).
    // PKCS#11 3.0: no two keys share a PRF output block, so each key starts
    // at a new 32-byte block (L still counts the keys' bits: SUM_OF_KEYS).
    let w = Work::new("p11-kbkdf");
    let mut stream = Vec::new();
    for i in 1u32..=3 {
        let mut input = i.to_be_bytes().to_vec();
        input.extend_from_slice(label);
        input.extend_from_slice(&(48u32 * 8).to_be_bytes());
        w.write("in", &input);
        let key = format!("hexkey:{}", hex::encode(base_value));
        stream.extend(w.openssl_ok(&["dgst", "-sha256", "-mac", "HMAC", "-macopt", &key, "-binary", "in"]));
    }
    for (name, h, range) in [("primary", primary, 0..16), ("additional 1", h1, 32..48), ("additional 2", h2, 64..80)] {
        let mut v = [0u8; 16];
        let mut a = [sys::CK_ATTRIBUTE { type_: sys::CKA_VALUE, pValue: v.as_mut_ptr().cast(), ulValueLen: 16 }];
        e.rv(&format!("CKA_VALUE of the {name} key"), p11!(r, C_GetAttributeValue(s, h, a.as_mut_ptr(), 1)), sys::CKR_OK);
        e.eq(&format!("{name} key = KDF output bytes {range:?}"), hex::encode(v), hex::encode(&stream[range]));
        // Every usage attribute of a secret key is there (false unless the template set it).
        for (ty, an) in
            [(sys::CKA_SIGN, "CKA_SIGN"), (sys::CKA_VERIFY, "CKA_VERIFY"), (sys::CKA_DERIVE, "CKA_DERIVE"), (sys::CKA_ENCRYPT, "CKA_ENCRYPT")]
        {
            let mut b: sys::CK_BBOOL = 0xAA;
            let mut a = [out_attr(ty, &mut b)];
            e.rv(&format!("{an} of the {name} key"), p11!(r, C_GetAttributeValue(s, h, a.as_mut_ptr(), 1)), sys::CKR_OK);
        }
    }
    let _ = p11!(r, C_CloseSession(s));
    e.check();
}

fn attr_param<T>(ty: sys::CK_ULONG, v: &T) -> sys::CK_PRF_DATA_PARAM {
    sys::CK_PRF_DATA_PARAM { type_: ty, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as _ }
}

// ------------------------------------------------------------ more conformance

/// Array attributes: CKA_ALLOWED_MECHANISMS (CK_ULONGs) and CKA_WRAP_TEMPLATE
/// (a nested CK_ATTRIBUTE array) go through the module's native <-> wire
/// conversion both ways, with the two-step length protocol.
#[test]
fn array_attributes_round_trip() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
    let allowed: [sys::CK_MECHANISM_TYPE; 2] = [sys::CKM_AES_CBC_PAD, sys::CKM_AES_GCM];
    let inner = [attr(sys::CKA_EXTRACTABLE, &f), attr(sys::CKA_SENSITIVE, &t)];
    let extra = [
        sys::CK_ATTRIBUTE {
            type_: sys::CKA_ALLOWED_MECHANISMS,
            pValue: allowed.as_ptr() as *mut c_void,
            ulValueLen: std::mem::size_of_val(&allowed) as _,
        },
        sys::CK_ATTRIBUTE { type_: sys::CKA_WRAP_TEMPLATE, pValue: inner.as_ptr() as *mut c_void, ulValueLen: std::mem::size_of_val(&inner) as _ },
    ];
    let key = secret_key(&r, s, sys::CKK_AES, &[7u8; 16], &extra);
    let mut e = Expect::default();
    // CKA_ALLOWED_MECHANISMS: length, then values.
    let mut a = [sys::CK_ATTRIBUTE { type_: sys::CKA_ALLOWED_MECHANISMS, pValue: null_mut(), ulValueLen: 0 }];
    e.rv("ALLOWED_MECHANISMS length", p11!(r, C_GetAttributeValue(s, key, a.as_mut_ptr(), 1)), sys::CKR_OK);
    e.eq("ALLOWED_MECHANISMS length", a[0].ulValueLen, std::mem::size_of_val(&allowed) as sys::CK_ULONG);
    let mut got = [0 as sys::CK_MECHANISM_TYPE; 2];
    a[0].pValue = got.as_mut_ptr().cast();
    e.rv("ALLOWED_MECHANISMS value", p11!(r, C_GetAttributeValue(s, key, a.as_mut_ptr(), 1)), sys::CKR_OK);
    e.eq("ALLOWED_MECHANISMS value", got, allowed);
    // CKA_WRAP_TEMPLATE: the array's size, then the inner lengths, then the inner values.
    let mut a = [sys::CK_ATTRIBUTE { type_: sys::CKA_WRAP_TEMPLATE, pValue: null_mut(), ulValueLen: 0 }];
    e.rv("WRAP_TEMPLATE length", p11!(r, C_GetAttributeValue(s, key, a.as_mut_ptr(), 1)), sys::CKR_OK);
    e.eq("WRAP_TEMPLATE length", a[0].ulValueLen, std::mem::size_of_val(&inner) as sys::CK_ULONG);
    let mut slots = [sys::CK_ATTRIBUTE { type_: 0, pValue: null_mut(), ulValueLen: 0 }; 2];
    a[0].pValue = slots.as_mut_ptr().cast();
    e.rv("WRAP_TEMPLATE inner lengths", p11!(r, C_GetAttributeValue(s, key, a.as_mut_ptr(), 1)), sys::CKR_OK);
    let mut types: Vec<sys::CK_ATTRIBUTE_TYPE> = slots.iter().map(|x| x.type_).collect();
    types.sort();
    e.eq("WRAP_TEMPLATE inner types", types, vec![sys::CKA_SENSITIVE, sys::CKA_EXTRACTABLE]);
    e.eq("WRAP_TEMPLATE inner lengths", slots.iter().map(|x| x.ulValueLen).collect::<Vec<_>>(), vec![1, 1]);
    let mut vals = [0xAAu8; 2];
    slots[0].pValue = (&mut vals[0] as *mut u8).cast();
    slots[1].pValue = (&mut vals[1] as *mut u8).cast();
    e.rv("WRAP_TEMPLATE inner values", p11!(r, C_GetAttributeValue(s, key, a.as_mut_ptr(), 1)), sys::CKR_OK);
    for (slot, v) in slots.iter().zip(vals) {
        let want = if slot.type_ == sys::CKA_SENSITIVE { sys::CK_TRUE } else { sys::CK_FALSE };
        e.eq(&format!("WRAP_TEMPLATE value of 0x{:x}", slot.type_), v, want);
    }
    // The allowed mechanisms are enforced: CBC_PAD yes, ECB no.
    let mut iv = [0u8; 16];
    let mut cbc = sys::CK_MECHANISM { mechanism: sys::CKM_AES_CBC_PAD, pParameter: iv.as_mut_ptr().cast(), ulParameterLen: 16 };
    e.rv("C_EncryptInit with an allowed mechanism", p11!(r, C_EncryptInit(s, &mut cbc, key)), sys::CKR_OK);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_Encrypt(NULL)", p11!(r, C_Encrypt(s, iv.as_mut_ptr(), 16, null_mut(), &mut n)), sys::CKR_OK);
    let mut out = vec![0u8; n as usize];
    e.rv("C_Encrypt", p11!(r, C_Encrypt(s, iv.as_mut_ptr(), 16, out.as_mut_ptr(), &mut n)), sys::CKR_OK);
    let mut ecb = mech(sys::CKM_AES_ECB);
    let rv = p11!(r, C_EncryptInit(s, &mut ecb, key));
    e.eq("C_EncryptInit with a mechanism not allowed is refused", rv != sys::CKR_OK, true);
    let _ = p11!(r, C_CloseSession(s));
    e.check();
}

/// Many threads opening, using and closing sessions at once (while a long
/// session keeps the login): no error, no deadlock, no mixed-up sessions.
#[test]
fn concurrent_session_churn() {
    let r = Raw::load();
    let slot = slot_id();
    let owner = raw_session(&r, slot);
    let (_, key) = raw_p256(&r, owner, b"p11-churn");
    let errors: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|t| {
                let r = &r;
                sc.spawn(move || -> Vec<String> {
                    let mut errs = Vec::new();
                    for i in 0..60 {
                        let mut s: sys::CK_SESSION_HANDLE = 0;
                        let rv = p11!(r, C_OpenSession(slot, sys::CKF_SERIAL_SESSION | sys::CKF_RW_SESSION, null_mut(), None, &mut s));
                        if rv != sys::CKR_OK {
                            errs.push(format!("thread {t} iteration {i}: C_OpenSession {}", rv_name(rv)));
                            continue;
                        }
                        let mut info = sys::CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
                        let rv = p11!(r, C_GetSessionInfo(s, &mut info));
                        if rv != sys::CKR_OK || info.state != sys::CKS_RW_USER_FUNCTIONS {
                            errs.push(format!("thread {t} iteration {i}: C_GetSessionInfo {} state {}", rv_name(rv), info.state));
                        }
                        let find = [bytes_attr(sys::CKA_LABEL, b"p11-churn")];
                        let mut found = [0 as sys::CK_OBJECT_HANDLE; 4];
                        let mut n: sys::CK_ULONG = 0;
                        let rvs = [
                            p11!(r, C_FindObjectsInit(s, find.as_ptr() as *mut _, 1)),
                            p11!(r, C_FindObjects(s, found.as_mut_ptr(), 4, &mut n)),
                            p11!(r, C_FindObjectsFinal(s)),
                        ];
                        if rvs.iter().any(|x| *x != sys::CKR_OK) || n != 2 {
                            errs.push(format!("thread {t} iteration {i}: find {:?} found {n}", rvs.map(rv_name)));
                        }
                        let mut m = mech(sys::CKM_ECDSA_SHA256);
                        let mut sig = [0u8; 64];
                        let mut len: sys::CK_ULONG = 64;
                        let rv1 = p11!(r, C_SignInit(s, &mut m, key));
                        let rv2 = p11!(r, C_Sign(s, MSG.as_ptr() as *mut u8, MSG.len() as _, sig.as_mut_ptr(), &mut len));
                        if rv1 != sys::CKR_OK || rv2 != sys::CKR_OK {
                            errs.push(format!("thread {t} iteration {i}: sign {} {}", rv_name(rv1), rv_name(rv2)));
                        }
                        let rv = p11!(r, C_CloseSession(s));
                        if rv != sys::CKR_OK {
                            errs.push(format!("thread {t} iteration {i}: C_CloseSession {}", rv_name(rv)));
                        }
                    }
                    errs
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec!["thread panicked".into()])).collect()
    });
    let _ = p11!(r, C_CloseSession(owner));
    assert!(errors.is_empty(), "{} errors, first ones:\n  {}", errors.len(), errors.iter().take(10).cloned().collect::<Vec<_>>().join("\n  "));
}

#[test]
fn interfaces() {
    let r = Raw::load();
    let mut e = Expect::default();
    let mut n: sys::CK_ULONG = 0;
    // SAFETY: the module's exported 3.0 functions, with our buffers.
    e.rv("C_GetInterfaceList(NULL)", unsafe { r.lib.C_GetInterfaceList(null_mut(), &mut n) }, sys::CKR_OK);
    e.eq("interfaces offered", n, 3);
    // SAFETY: plain C structures; all zeroes is valid.
    let mut list: Vec<sys::CK_INTERFACE> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
    // SAFETY: as above.
    e.rv("C_GetInterfaceList", unsafe { r.lib.C_GetInterfaceList(list.as_mut_ptr(), &mut n) }, sys::CKR_OK);
    let mut versions = Vec::new();
    for i in &list {
        // SAFETY: the module's interface name is a NUL-terminated static string.
        let name = unsafe { std::ffi::CStr::from_ptr(i.pInterfaceName as *const std::ffi::c_char) };
        e.eq("interface name", name.to_bytes(), &b"PKCS 11"[..]);
        // SAFETY: every function list starts with its CK_VERSION.
        let v = unsafe { *(i.pFunctionList as *const sys::CK_VERSION) };
        versions.push((v.major, v.minor));
    }
    versions.sort();
    e.eq("interface versions", versions, vec![(2, 40), (3, 0), (3, 2)]);
    let mut want = sys::CK_VERSION { major: 3, minor: 0 };
    let mut found: *mut sys::CK_INTERFACE = null_mut();
    let name = b"PKCS 11\0";
    // SAFETY: as above.
    e.rv("C_GetInterface(PKCS 11, 3.0)", unsafe { r.lib.C_GetInterface(name.as_ptr() as *mut u8, &mut want, &mut found, 0) }, sys::CKR_OK);
    if !found.is_null() {
        // SAFETY: the module's static interface and its function list.
        let v = unsafe { *((*found).pFunctionList as *const sys::CK_VERSION) };
        e.eq("C_GetInterface(3.0) function list version", (v.major, v.minor), (3, 0));
    }
    let other = b"Vendor XYZ\0";
    // SAFETY: as above.
    let rv = unsafe { r.lib.C_GetInterface(other.as_ptr() as *mut u8, null_mut(), &mut found, 0) };
    e.eq("C_GetInterface(unknown name) fails", rv != sys::CKR_OK, true);
    e.check();
}

#[test]
fn initialize_and_finalize_arguments() {
    let sh = shared();
    run_child("child_initialize_arguments", &[("TEEHSM_PKCS11_SOCKET", sh.socket.as_os_str())], &["TEEHSM_PKCS11_CONF"]);
}

unsafe extern "C" fn create_mutex(m: *mut *mut c_void) -> sys::CK_RV {
    // SAFETY: the module passes a writable pointer.
    unsafe { *m = Box::into_raw(Box::new(0u8)).cast() };
    sys::CKR_OK
}
unsafe extern "C" fn destroy_mutex(m: *mut c_void) -> sys::CK_RV {
    // SAFETY: made by create_mutex.
    drop(unsafe { Box::from_raw(m.cast::<u8>()) });
    sys::CKR_OK
}
unsafe extern "C" fn lock_mutex(_: *mut c_void) -> sys::CK_RV {
    sys::CKR_OK
}

#[test]
#[ignore = "run in a child process by initialize_and_finalize_arguments"]
fn child_initialize_arguments() {
    if !in_child() {
        return;
    }
    let r = Raw::load();
    let mut e = Expect::default();
    let mut info: sys::CK_INFO = unsafe { std::mem::zeroed() };
    e.rv("C_GetInfo before C_Initialize", p11!(r, C_GetInfo(&mut info)), sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    e.rv("C_Finalize before C_Initialize", p11!(r, C_Finalize(null_mut())), sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    let base =
        sys::CK_C_INITIALIZE_ARGS { CreateMutex: None, DestroyMutex: None, LockMutex: None, UnlockMutex: None, flags: 0, pReserved: null_mut() };
    let mut x = 0u8;
    let mut a = sys::CK_C_INITIALIZE_ARGS { pReserved: (&mut x as *mut u8).cast(), ..base };
    e.rv("C_Initialize(pReserved set)", p11!(r, C_Initialize((&mut a as *mut sys::CK_C_INITIALIZE_ARGS).cast())), sys::CKR_ARGUMENTS_BAD);
    let mut a = sys::CK_C_INITIALIZE_ARGS { CreateMutex: Some(create_mutex), ..base };
    e.rv("C_Initialize(some mutex functions)", p11!(r, C_Initialize((&mut a as *mut sys::CK_C_INITIALIZE_ARGS).cast())), sys::CKR_ARGUMENTS_BAD);
    let all = sys::CK_C_INITIALIZE_ARGS {
        CreateMutex: Some(create_mutex),
        DestroyMutex: Some(destroy_mutex),
        LockMutex: Some(lock_mutex),
        UnlockMutex: Some(lock_mutex),
        ..base
    };
    let mut a = all;
    e.rv(
        "C_Initialize(mutex functions, no OS locking)",
        p11!(r, C_Initialize((&mut a as *mut sys::CK_C_INITIALIZE_ARGS).cast())),
        sys::CKR_CANT_LOCK,
    );
    let mut a = sys::CK_C_INITIALIZE_ARGS { flags: sys::CKF_OS_LOCKING_OK, ..all };
    e.rv("C_Initialize(mutex functions + CKF_OS_LOCKING_OK)", p11!(r, C_Initialize((&mut a as *mut sys::CK_C_INITIALIZE_ARGS).cast())), sys::CKR_OK);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_GetSlotList", p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)), sys::CKR_OK);
    e.rv("C_Finalize(non-null)", p11!(r, C_Finalize((&mut x as *mut u8).cast())), sys::CKR_ARGUMENTS_BAD);
    e.rv("C_Finalize", p11!(r, C_Finalize(null_mut())), sys::CKR_OK);
    e.rv("C_Finalize twice", p11!(r, C_Finalize(null_mut())), sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    e.rv("C_GetSlotList after C_Finalize", p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)), sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    // Initialize again (with CKF_LIBRARY_CANT_CREATE_OS_THREADS: the module makes none) and work.
    let mut a = sys::CK_C_INITIALIZE_ARGS { flags: sys::CKF_LIBRARY_CANT_CREATE_OS_THREADS, ..base };
    e.rv("C_Initialize again", p11!(r, C_Initialize((&mut a as *mut sys::CK_C_INITIALIZE_ARGS).cast())), sys::CKR_OK);
    e.rv("C_GetSlotList after re-initializing", p11!(r, C_GetSlotList(sys::CK_TRUE, null_mut(), &mut n)), sys::CKR_OK);
    e.rv("C_Finalize", p11!(r, C_Finalize(null_mut())), sys::CKR_OK);
    e.check();
}

/// Key management through the module: AES key wrap with a length query,
/// unwrap, copy and set attributes, and ML-KEM encapsulation (whose length
/// query must not make a key).
#[test]
fn wrap_unwrap_copy_and_encapsulate() {
    let r = Raw::load();
    let s = raw_session(&r, slot_id());
    let mut e = Expect::default();
    let (t, f): (sys::CK_BBOOL, sys::CK_BBOOL) = (sys::CK_TRUE, sys::CK_FALSE);
    let (class, aes) = (sys::CKO_SECRET_KEY, sys::CKK_AES);
    let (l16, l32): (sys::CK_ULONG, sys::CK_ULONG) = (16, 32);
    // A wrapping key generated in the TA (rule R4) and a key to wrap.
    let mut gen = mech(sys::CKM_AES_KEY_GEN);
    let kek_t = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_VALUE_LEN, &l32), attr(sys::CKA_WRAP, &t), attr(sys::CKA_UNWRAP, &t)];
    let mut kek = 0;
    e.rv("C_GenerateKey (KEK)", p11!(r, C_GenerateKey(s, &mut gen, kek_t.as_ptr() as *mut _, 4, &mut kek)), sys::CKR_OK);
    let key_t = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_VALUE_LEN, &l16), attr(sys::CKA_EXTRACTABLE, &t), attr(sys::CKA_ENCRYPT, &t)];
    let mut key = 0;
    e.rv("C_GenerateKey (key)", p11!(r, C_GenerateKey(s, &mut gen, key_t.as_ptr() as *mut _, 4, &mut key)), sys::CKR_OK);
    let mut kw = mech(sys::CKM_AES_KEY_WRAP);
    let mut n: sys::CK_ULONG = 0;
    e.rv("C_WrapKey(NULL)", p11!(r, C_WrapKey(s, &mut kw, kek, key, null_mut(), &mut n)), sys::CKR_OK);
    e.eq("wrapped length", n, 24);
    let mut small = [0u8; 8];
    let mut sn: sys::CK_ULONG = 8;
    e.rv("C_WrapKey(8-byte buffer)", p11!(r, C_WrapKey(s, &mut kw, kek, key, small.as_mut_ptr(), &mut sn)), sys::CKR_BUFFER_TOO_SMALL);
    e.eq("C_WrapKey(8-byte buffer) length", sn, 24);
    let mut wrapped = [0u8; 24];
    e.rv("C_WrapKey", p11!(r, C_WrapKey(s, &mut kw, kek, key, wrapped.as_mut_ptr(), &mut n)), sys::CKR_OK);
    let label = b"p11-unwrapped";
    let un_t = [
        attr(sys::CKA_CLASS, &class),
        attr(sys::CKA_KEY_TYPE, &aes),
        attr(sys::CKA_TOKEN, &f),
        attr(sys::CKA_ENCRYPT, &t),
        bytes_attr(sys::CKA_LABEL, label),
    ];
    let mut un = 0;
    e.rv(
        "C_UnwrapKey",
        p11!(r, C_UnwrapKey(s, &mut kw, kek, wrapped.as_mut_ptr(), 24, un_t.as_ptr() as *mut _, un_t.len() as _, &mut un)),
        sys::CKR_OK,
    );
    e.rv(
        "C_UnwrapKey(NULL phKey)",
        p11!(r, C_UnwrapKey(s, &mut kw, kek, wrapped.as_mut_ptr(), 24, un_t.as_ptr() as *mut _, un_t.len() as _, null_mut())),
        sys::CKR_ARGUMENTS_BAD,
    );
    // Both keys encrypt alike.
    let block = [0x42u8; 16];
    let mut ecb = mech(sys::CKM_AES_ECB);
    let mut outs = Vec::new();
    for (name, k) in [("original", key), ("unwrapped", un)] {
        let mut out = [0u8; 16];
        let mut ol: sys::CK_ULONG = 16;
        e.rv(&format!("C_EncryptInit ({name})"), p11!(r, C_EncryptInit(s, &mut ecb, k)), sys::CKR_OK);
        e.rv(&format!("C_Encrypt ({name})"), p11!(r, C_Encrypt(s, block.as_ptr() as *mut u8, 16, out.as_mut_ptr(), &mut ol)), sys::CKR_OK);
        outs.push(out);
    }
    e.eq("unwrapped key = original key", outs[0], outs[1]);
    // C_CopyObject with a new label; C_SetAttributeValue changes it again.
    let new_label = b"p11-copied";
    let cp_t = [bytes_attr(sys::CKA_LABEL, new_label)];
    let mut copy = 0;
    e.rv("C_CopyObject", p11!(r, C_CopyObject(s, un, cp_t.as_ptr() as *mut _, 1, &mut copy)), sys::CKR_OK);
    let read_label = |h: sys::CK_OBJECT_HANDLE| -> Vec<u8> {
        let mut buf = [0u8; 64];
        let mut a = [sys::CK_ATTRIBUTE { type_: sys::CKA_LABEL, pValue: buf.as_mut_ptr().cast(), ulValueLen: 64 }];
        let rv = p11!(r, C_GetAttributeValue(s, h, a.as_mut_ptr(), 1));
        if rv != sys::CKR_OK {
            return format!("error {}", rv_name(rv)).into_bytes();
        }
        buf[..a[0].ulValueLen as usize].to_vec()
    };
    e.eq("label of the copy", read_label(copy), new_label.to_vec());
    e.eq("label of the original", read_label(un), label.to_vec());
    let set = [bytes_attr(sys::CKA_LABEL, b"p11-renamed")];
    e.rv("C_SetAttributeValue(label)", p11!(r, C_SetAttributeValue(s, copy, set.as_ptr() as *mut _, 1)), sys::CKR_OK);
    e.eq("label after C_SetAttributeValue", read_label(copy), b"p11-renamed".to_vec());

    // ML-KEM-768.
    let set768: sys::CK_ULONG = 2;
    let pub_t = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_PARAMETER_SET, &set768), attr(sys::CKA_ENCAPSULATE, &t)];
    let priv_t = [attr(sys::CKA_TOKEN, &f), attr(sys::CKA_DECAPSULATE, &t)];
    let mut kg = mech(sys::CKM_ML_KEM_KEY_PAIR_GEN);
    let (mut pk, mut sk) = (0, 0);
    e.rv(
        "C_GenerateKeyPair(ML-KEM-768)",
        p11!(r, C_GenerateKeyPair(s, &mut kg, pub_t.as_ptr() as *mut _, 3, priv_t.as_ptr() as *mut _, 2, &mut pk, &mut sk)),
        sys::CKR_OK,
    );
    let generic = sys::CKK_GENERIC_SECRET;
    let ss_label = b"p11-kem-secret";
    let ss_t = [
        attr(sys::CKA_CLASS, &class),
        attr(sys::CKA_KEY_TYPE, &generic),
        attr(sys::CKA_TOKEN, &f),
        attr(sys::CKA_SENSITIVE, &f),
        attr(sys::CKA_EXTRACTABLE, &t),
        bytes_attr(sys::CKA_LABEL, ss_label),
    ];
    let mut kem = mech(sys::CKM_ML_KEM);
    let mut ct_len: sys::CK_ULONG = 0;
    let mut h1 = 0;
    // SAFETY: the module's exported 3.2 functions, with our buffers.
    let rv = unsafe { r.lib.C_EncapsulateKey(s, &mut kem, pk, ss_t.as_ptr() as *mut _, ss_t.len() as _, null_mut(), &mut ct_len, &mut h1) };
    e.rv("C_EncapsulateKey(NULL ciphertext)", rv, sys::CKR_OK);
    e.eq("ML-KEM-768 ciphertext length", ct_len, 1088);
    let count_secrets = |e: &mut Expect| -> sys::CK_ULONG {
        let find = [bytes_attr(sys::CKA_LABEL, ss_label)];
        let mut found = [0 as sys::CK_OBJECT_HANDLE; 8];
        let mut n: sys::CK_ULONG = 0;
        e.rv("C_FindObjectsInit", p11!(r, C_FindObjectsInit(s, find.as_ptr() as *mut _, 1)), sys::CKR_OK);
        e.rv("C_FindObjects", p11!(r, C_FindObjects(s, found.as_mut_ptr(), 8, &mut n)), sys::CKR_OK);
        e.rv("C_FindObjectsFinal", p11!(r, C_FindObjectsFinal(s)), sys::CKR_OK);
        n
    };
    let made = count_secrets(&mut e);
    e.eq("keys made by the length query", made, 0);
    let mut ct = vec![0u8; 1088];
    // SAFETY: as above.
    let rv = unsafe { r.lib.C_EncapsulateKey(s, &mut kem, pk, ss_t.as_ptr() as *mut _, ss_t.len() as _, ct.as_mut_ptr(), &mut ct_len, &mut h1) };
    e.rv("C_EncapsulateKey", rv, sys::CKR_OK);
    let mut h2 = 0;
    // SAFETY: as above.
    let rv = unsafe { r.lib.C_DecapsulateKey(s, &mut kem, sk, ss_t.as_ptr() as *mut _, ss_t.len() as _, ct.as_mut_ptr(), ct_len, &mut h2) };
    e.rv("C_DecapsulateKey", rv, sys::CKR_OK);
    let value = |h: sys::CK_OBJECT_HANDLE| -> Vec<u8> {
        let mut buf = [0u8; 64];
        let mut a = [sys::CK_ATTRIBUTE { type_: sys::CKA_VALUE, pValue: buf.as_mut_ptr().cast(), ulValueLen: 64 }];
        let rv = p11!(r, C_GetAttributeValue(s, h, a.as_mut_ptr(), 1));
        if rv != sys::CKR_OK {
            return format!("error {}", rv_name(rv)).into_bytes();
        }
        buf[..a[0].ulValueLen as usize].to_vec()
    };
    let (v1, v2) = (value(h1), value(h2));
    e.eq("shared secret length", v1.len(), 32);
    e.eq("encapsulated secret = decapsulated secret", v1, v2);
    let _ = p11!(r, C_CloseSession(s));
    e.check();
}
