use aws_lc_rs::signature::Ed25519KeyPair;

use super::vendor::{sign_licence, sign_terms, vendor_public_key, LicenceTerms};
use super::*;

const DAY: u64 = 86_400_000;
/// 2026-11-27T00:00:00Z
const T0: u64 = 1_795_737_600_000;

fn key() -> Ed25519KeyPair {
    Ed25519KeyPair::generate().expect("key")
}

fn pk(k: &Ed25519KeyPair) -> VendorPublicKey {
    vendor_public_key(k).expect("pk")
}

fn terms() -> LicenceTerms {
    LicenceTerms {
        licence_id: "ACME-2026-0001".into(),
        customer: "ACME \"Corp\"".into(),
        max_hosts: 3,
        not_before_ms: T0,
        expires_ms: T0 + 365 * DAY,
        features: vec!["alerts".into(), "audit".into()],
    }
}

const BODY: &str = r#"licence_id = "ACME-2026-0001"
customer = "ACME Corp"
max_hosts = 3
not_before = 2026-11-27T00:00:00Z
expires = 2027-11-27
features = ["alerts", "audit"]
"#;

fn licence(k: &Ed25519KeyPair) -> VerifiedLicence {
    let file = sign_terms(&terms(), k).expect("sign");
    VerifiedLicence::verify(file.as_bytes(), &[pk(k)]).expect("verify")
}

/// Signs a body without the vendor-side checks, to test the verifier.
fn sign_raw(body: &str, k: &Ed25519KeyPair) -> String {
    let sig = k.sign(body.as_bytes());
    format!("{body}{SIGNATURE_BEGIN}\n{}\n{SIGNATURE_END}\n", hex::encode(sig.as_ref()))
}

fn verify_body(body: &str) -> Result<VerifiedLicence, LicenceError> {
    let k = key();
    VerifiedLicence::verify(sign_raw(body, &k).as_bytes(), &[pk(&k)])
}

#[test]
fn valid_licence_verifies() {
    let k = key();
    let file = sign_licence(BODY, &k).expect("sign");
    assert!(file.starts_with(BODY));
    let l = VerifiedLicence::verify(file.as_bytes(), &[pk(&k)]).expect("verify");
    assert_eq!(l.licence_id(), "ACME-2026-0001");
    assert_eq!(l.customer(), "ACME Corp");
    assert_eq!(l.max_hosts(), 3);
    assert_eq!(l.not_before_ms(), T0);
    assert_eq!(l.expires_ms(), T0 + 365 * DAY);
    assert_eq!(l.features(), ["alerts", "audit"]);
    assert!(l.has_feature("audit") && !l.has_feature("sm2"));
    assert_eq!(l.signed_by(), 0);
    // Without the final newline after END too.
    let trimmed = file.trim_end_matches('\n');
    assert!(VerifiedLicence::verify(trimmed.as_bytes(), &[pk(&k)]).is_ok());
}

#[test]
fn terms_round_trip_and_escape() {
    let k = key();
    let l = licence(&k);
    assert_eq!(l.customer(), "ACME \"Corp\"");
    assert_eq!(l.not_before_ms(), T0);
    assert_eq!(l.expires_ms(), T0 + 365 * DAY);
    let alert: crate::alerts::Licence = (&l).into();
    assert_eq!(alert, crate::alerts::Licence { max_hosts: 3, expires_at_ms: T0 + 365 * DAY });
}

#[test]
fn every_tampered_byte_is_refused() {
    let k = key();
    let file = sign_licence(BODY, &k).expect("sign").into_bytes();
    let keys = [pk(&k)];
    let sig_line = BODY.len() + SIGNATURE_BEGIN.len() + 1..BODY.len() + SIGNATURE_BEGIN.len() + 129;
    for i in 0..file.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut t = file.clone();
            t[i] ^= flip;
            let r = VerifiedLicence::verify(&t, &keys);
            if flip == 0x20 && sig_line.contains(&i) && file[i].is_ascii_alphabetic() {
                // Hex digits are case-insensitive: the same signature.
                assert!(r.is_ok(), "byte {i}");
            } else {
                assert!(r.is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
    }
    // A body byte changed: the signature check says so.
    let mut t = file.clone();
    t[BODY.find('3').expect("3")] = b'9';
    assert_eq!(VerifiedLicence::verify(&t, &keys), Err(LicenceError::BadSignature { keys: 1 }));
    // Truncations never verify.
    for n in 0..file.len() - SIGNATURE_END.len() {
        assert!(VerifiedLicence::verify(&file[..n], &keys).is_err(), "prefix {n}");
    }
}

#[test]
fn signature_from_another_key_is_refused() {
    let (vendor, other) = (key(), key());
    let file = sign_licence(BODY, &other).expect("sign");
    let err = VerifiedLicence::verify(file.as_bytes(), &[pk(&vendor)]).unwrap_err();
    assert_eq!(err, LicenceError::BadSignature { keys: 1 });
    assert!(err.to_string().contains("ask the vendor for a fresh copy"), "{err}");
    assert_eq!(VerifiedLicence::verify(file.as_bytes(), &[]), Err(LicenceError::NoVendorKeys));
}

#[test]
fn multiple_vendor_keys() {
    let (old, new, stranger) = (key(), key(), key());
    let trusted = [pk(&old), pk(&new)];
    let by_old = sign_licence(BODY, &old).expect("sign");
    let by_new = sign_licence(BODY, &new).expect("sign");
    let by_stranger = sign_licence(BODY, &stranger).expect("sign");
    assert_eq!(VerifiedLicence::verify(by_old.as_bytes(), &trusted).expect("old").signed_by(), 0);
    assert_eq!(VerifiedLicence::verify(by_new.as_bytes(), &trusted).expect("new").signed_by(), 1);
    assert_eq!(VerifiedLicence::verify(by_stranger.as_bytes(), &trusted), Err(LicenceError::BadSignature { keys: 2 }));
    // Keys in hex, as in a config file.
    let hexed = VendorPublicKey::from_hex(&format!(" {}\n", pk(&new).to_hex())).expect("hex");
    assert_eq!(hexed, pk(&new));
    assert!(VendorPublicKey::from_hex("abcd").is_err());
    assert!(VendorPublicKey::from_hex(&"zz".repeat(32)).is_err());
    assert!(VendorPublicKey::from_bytes(&[0; 31]).is_err());
    // A junk (all-zero) key verifies nothing, and does not get in the way.
    let with_junk = [VendorPublicKey::from_bytes(&[0; 32]).expect("junk"), pk(&new)];
    assert_eq!(VerifiedLicence::verify(by_new.as_bytes(), &with_junk).expect("new").signed_by(), 1);
}

#[test]
fn unknown_fields_are_refused() {
    let body = format!("{BODY}support_level = \"gold\"\n");
    assert_eq!(verify_body(&body), Err(LicenceError::UnknownField("support_level".into())));
    let body = format!("{BODY}[extra]\nx = 1\n");
    assert_eq!(verify_body(&body), Err(LicenceError::UnknownField("extra".into())));
    // The vendor tool refuses to sign it in the first place.
    assert!(matches!(sign_licence(&format!("{BODY}x = 1\n"), &key()), Err(LicenceError::UnknownField(_))));
}

#[test]
fn missing_fields_are_refused() {
    for field in ["licence_id", "customer", "max_hosts", "not_before", "expires", "features"] {
        let body: String = BODY.lines().filter(|l| !l.starts_with(&format!("{field} "))).map(|l| format!("{l}\n")).collect();
        assert_eq!(verify_body(&body), Err(LicenceError::MissingField(field)), "{field}");
    }
}

#[test]
fn invalid_fields_are_refused() {
    let cases = [
        ("max_hosts = 3", "max_hosts = 0", "max_hosts"),
        ("max_hosts = 3", "max_hosts = -1", "max_hosts"),
        ("max_hosts = 3", "max_hosts = \"3\"", "max_hosts"),
        ("licence_id = \"ACME-2026-0001\"", "licence_id = \"\"", "licence_id"),
        ("licence_id = \"ACME-2026-0001\"", "licence_id = \"a b\"", "licence_id"),
        ("licence_id = \"ACME-2026-0001\"", "licence_id = 7", "licence_id"),
        ("customer = \"ACME Corp\"", "customer = \"ACME\\u0007\"", "customer"),
        ("expires = 2027-11-27", "expires = 2026-11-27", "expires"),
        ("expires = 2027-11-27", "expires = 2027-11-27T00:00:00", "expires"),
        ("expires = 2027-11-27", "expires = 12:00:00", "expires"),
        ("expires = 2027-11-27", "expires = \"next year\"", "expires"),
        ("expires = 2027-11-27", "expires = true", "expires"),
        ("not_before = 2026-11-27T00:00:00Z", "not_before = -5", "not_before"),
        ("not_before = 2026-11-27T00:00:00Z", "not_before = 1969-12-31", "not_before"),
        ("features = [\"alerts\", \"audit\"]", "features = [\"a\", \"a\"]", "features"),
        ("features = [\"alerts\", \"audit\"]", "features = [1]", "features"),
        ("features = [\"alerts\", \"audit\"]", "features = \"alerts\"", "features"),
        ("features = [\"alerts\", \"audit\"]", "features = [\"\"]", "features"),
    ];
    for (from, to, field) in cases {
        let body = BODY.replace(from, to);
        match verify_body(&body) {
            Err(LicenceError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{to}"),
            other => panic!("{to}: {other:?}"),
        }
    }
    // Other time forms: ms, string, offsets.
    let body = BODY
        .replace("not_before = 2026-11-27T00:00:00Z", &format!("not_before = {T0}"))
        .replace("expires = 2027-11-27", "expires = \"2027-11-27T02:00:00+02:00\"");
    let l = verify_body(&body).expect("ms and string");
    assert_eq!((l.not_before_ms(), l.expires_ms()), (T0, T0 + 365 * DAY));
    let l = verify_body(&BODY.replace("features = [\"alerts\", \"audit\"]", "features = []")).expect("empty");
    assert!(l.features().is_empty());
    assert!(matches!(verify_body("licence_id = \n"), Err(LicenceError::Toml(_))));
    assert!(matches!(verify_body(&format!("{BODY}max_hosts = 4\n")), Err(LicenceError::Toml(_))));
}

#[test]
fn status_over_time() {
    let l = licence(&key());
    let exp = l.expires_ms();
    assert_eq!(l.check(T0 - 1, 1), LicenceStatus::NotYetValid { not_before_ms: T0 });
    assert_eq!(l.check(T0, 1), LicenceStatus::Valid);
    assert_eq!(l.check(exp - 31 * DAY, 3), LicenceStatus::Valid);
    assert_eq!(l.check(exp - 30 * DAY, 3), LicenceStatus::ExpiresSoon { days: 30 });
    assert_eq!(l.check(exp - 29 * DAY - 1, 3), LicenceStatus::ExpiresSoon { days: 30 });
    assert_eq!(l.check(exp - 1, 0), LicenceStatus::ExpiresSoon { days: 1 });
    assert_eq!(l.check(exp, 0), LicenceStatus::Expired { since_ms: exp });
    assert_eq!(l.check(u64::MAX, u64::MAX), LicenceStatus::Expired { since_ms: exp });
    assert_eq!(l.check_with_warning(exp - 31 * DAY, 3, 60 * DAY), LicenceStatus::ExpiresSoon { days: 31 });
    assert_eq!(l.check_with_warning(exp - 1, 3, 0), LicenceStatus::Valid);
    assert!(!LicenceStatus::Valid.needs_attention());

    let m = LicenceStatus::ExpiresSoon { days: 1 }.message(&l);
    assert_eq!(
        m,
        "licence ACME-2026-0001 expires in 1 day (2027-11-27T00:00:00.000Z); ask the vendor for a renewed licence and install it before then"
    );
    let m = l.check(exp, 0).message(&l);
    assert!(m.contains("expired on 2027-11-27T00:00:00.000Z") && m.contains("renewed licence"), "{m}");
    let m = l.check(T0 - 1, 0).message(&l);
    assert!(m.contains("not valid before 2026-11-27T00:00:00.000Z") && m.contains("clock"), "{m}");
    let m = l.check(T0, 0).message(&l);
    assert!(m.contains("valid until 2027-11-27") && m.contains("3 hosts"), "{m}");
}

#[test]
fn host_limits() {
    let l = licence(&key());
    assert_eq!(l.check(T0, 3), LicenceStatus::Valid);
    assert_eq!(l.check(T0, 4), LicenceStatus::HostsExceeded { max: 3, have: 4 });
    // Expiry outranks the host count, host count outranks the warning.
    assert_eq!(l.check(l.expires_ms(), 4), LicenceStatus::Expired { since_ms: l.expires_ms() });
    assert_eq!(l.check(l.expires_ms() - 1, 4), LicenceStatus::HostsExceeded { max: 3, have: 4 });
    assert_eq!(
        l.check(T0, 5).message(&l),
        "licence ACME-2026-0001 allows 3 hosts but 5 are enrolled; remove 2 hosts or install a licence for more hosts"
    );

    assert_eq!(l.can_enroll(T0, 0), Ok(()));
    assert_eq!(l.can_enroll(T0, 2), Ok(()));
    assert_eq!(l.can_enroll(l.expires_ms() - 1, 2), Ok(()), "an expiring licence still enrolls");
    let err = l.can_enroll(T0, 3).unwrap_err();
    assert_eq!(err, EnrollRefused::HostLimit { licence_id: "ACME-2026-0001".into(), max: 3, have: 3 });
    assert_eq!(err.to_string(), "licence ACME-2026-0001 allows 3 hosts and 3 are enrolled; remove a host or install a licence for more hosts");
    assert!(matches!(l.can_enroll(T0, u64::MAX), Err(EnrollRefused::HostLimit { .. })));
    assert_eq!(
        l.can_enroll(l.expires_ms(), 0).unwrap_err().to_string(),
        "licence ACME-2026-0001 expired on 2027-11-27T00:00:00.000Z; install a renewed licence to enroll hosts"
    );
    assert!(matches!(l.can_enroll(T0 - 1, 0), Err(EnrollRefused::NotYetValid { .. })));
    assert_eq!(can_enroll(Some(&l), T0, 1), Ok(()));
    assert_eq!(can_enroll(None, T0, 0), Err(EnrollRefused::NoLicence));

    // Singular wording.
    let k = key();
    let one = LicenceTerms { max_hosts: 1, ..terms() };
    let l1 = VerifiedLicence::verify(sign_terms(&one, &k).expect("sign").as_bytes(), &[pk(&k)]).expect("verify");
    assert_eq!(
        l1.can_enroll(T0, 1).unwrap_err().to_string(),
        "licence ACME-2026-0001 allows 1 host and 1 is enrolled; remove a host or install a licence for more hosts"
    );
}

#[test]
fn garbage_is_refused() {
    let k = key();
    let keys = [pk(&k)];
    let good = sign_licence(BODY, &k).expect("sign");
    let sig_hex = good.lines().nth(BODY.lines().count() + 1).expect("sig line").to_string();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"\n\n\n".to_vec(),
        BODY.as_bytes().to_vec(),
        vec![0xff; 1000],
        format!("{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_END}\n").into_bytes(),
        format!("\n  \n{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_END}\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN} \n{sig_hex}\n{SIGNATURE_END}\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n{}\n{SIGNATURE_END}\n", &sig_hex[2..]).into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n{}\n{SIGNATURE_END}\n", "g".repeat(128)).into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_END}\nmore\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_END}\n\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n{sig_hex}\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\r\n{sig_hex}\r\n{SIGNATURE_END}\r\n").into_bytes(),
        good.replace('\n', "\r\n").into_bytes(),
        format!("{BODY}{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_END}\n").into_bytes(),
    ];
    for (i, c) in cases.iter().enumerate() {
        assert!(VerifiedLicence::verify(c, &keys).is_err(), "case {i}");
    }
    assert_eq!(VerifiedLicence::verify(b"", &keys), Err(LicenceError::NoSignature));
    assert_eq!(VerifiedLicence::verify(&cases[5], &keys), Err(LicenceError::EmptyBody));
    // A body that is not UTF-8 but correctly signed.
    let mut raw = b"licence_id = \"\xff\"\n".to_vec();
    let sig = k.sign(&raw);
    raw.extend_from_slice(format!("{SIGNATURE_BEGIN}\n{}\n{SIGNATURE_END}\n", hex::encode(sig.as_ref())).as_bytes());
    assert_eq!(VerifiedLicence::verify(&raw, &keys), Err(LicenceError::NotUtf8));
    // The vendor tool will not sign a body holding the marker line.
    assert!(sign_licence(&format!("{BODY}{SIGNATURE_BEGIN}\n"), &k).is_err());
    // Pseudo-random bytes, with and without a signature block.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..200usize {
        let mut buf = Vec::with_capacity(n * 7);
        for _ in 0..n * 7 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        assert!(VerifiedLicence::verify(&buf, &keys).is_err());
        buf.extend_from_slice(format!("\n{SIGNATURE_BEGIN}\n{sig_hex}\n{SIGNATURE_END}\n").as_bytes());
        assert!(VerifiedLicence::verify(&buf, &keys).is_err());
    }
}

#[test]
fn huge_input_is_bounded() {
    let k = key();
    let keys = [pk(&k)];
    let huge = vec![b'a'; 64 * 1024 * 1024];
    assert_eq!(VerifiedLicence::verify(&huge, &keys), Err(LicenceError::TooLarge { len: huge.len(), max: MAX_LICENCE_BYTES }));
    let just_over = vec![b'\n'; MAX_LICENCE_BYTES + 1];
    assert!(matches!(VerifiedLicence::verify(&just_over, &keys), Err(LicenceError::TooLarge { .. })));
    // A correctly signed but oversized file is refused too, as is signing it.
    let big_body = format!("{BODY}{}", "# padding\n".repeat(MAX_LICENCE_BYTES / 10));
    let file = sign_raw(&big_body, &k);
    assert!(matches!(VerifiedLicence::verify(file.as_bytes(), &keys), Err(LicenceError::TooLarge { .. })));
    assert!(matches!(sign_licence(&big_body, &k), Err(LicenceError::TooLarge { .. })));
    // Many features: bounded.
    let many: Vec<String> = (0..65).map(|i| format!("\"f{i}\"")).collect();
    let body = BODY.replace("[\"alerts\", \"audit\"]", &format!("[{}]", many.join(", ")));
    assert!(matches!(verify_body(&body), Err(LicenceError::InvalidField { field: "features", .. })));
    let long_id = BODY.replace("ACME-2026-0001", &"x".repeat(129));
    assert!(matches!(verify_body(&long_id), Err(LicenceError::InvalidField { field: "licence_id", .. })));
}

#[test]
fn signing_appends_newline() {
    let k = key();
    let file = sign_licence(BODY.trim_end(), &k).expect("sign");
    assert!(file.starts_with(BODY));
    assert!(VerifiedLicence::verify(file.as_bytes(), &[pk(&k)]).is_ok());
}

#[test]
fn deep_nesting_in_a_signed_body_does_not_crash() {
    let body = format!("{BODY}x = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    assert!(verify_body(&body).is_err());
    let body = format!("{BODY}x = {}{}\n", "{ a = ".repeat(5000), "}".repeat(5000));
    assert!(verify_body(&body).is_err());
}
