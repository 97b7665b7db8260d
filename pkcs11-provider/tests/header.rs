//! include/teehsm_pkcs11.h publishes teehsm's vendor-defined PKCS#11 values
//! to C programs. These tests keep it from drifting from the Rust constants
//! (teehsm_wire::ck) and check that it compiles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use teehsm_wire::ck;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

fn header_path() -> PathBuf {
    repo().join("include/teehsm_pkcs11.h")
}

/// Every `#define NAME VALUE` of the header, VALUE as written (comments removed).
fn defines() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(header_path()).expect("read include/teehsm_pkcs11.h");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("#define") else { continue };
        let rest = rest.split("/*").next().unwrap_or("").trim();
        let mut parts = rest.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or("").to_string();
        let value = parts.next().unwrap_or("").trim().to_string();
        assert!(out.insert(name.clone(), value).is_none(), "{name} is defined twice");
    }
    out
}

/// A C integer literal like `0x80000B01UL` or `16UL`.
fn c_integer(s: &str) -> Option<u64> {
    let s = s.trim_end_matches(['U', 'u', 'L', 'l']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The vendor-defined values the header must publish, with the Rust constants.
fn expected() -> BTreeMap<&'static str, u64> {
    macro_rules! table {
        ($($n:ident),* $(,)?) => { BTreeMap::from([$((stringify!($n), ck::$n)),*]) };
    }
    let mut t = table!(
        CKK_SM2,
        CKK_SM4,
        CKM_SM3,
        CKM_SM3_HMAC,
        CKM_SM4_KEY_GEN,
        CKM_SM4_ECB,
        CKM_SM4_CBC,
        CKM_SM4_CBC_PAD,
        CKM_SM4_CTR,
        CKM_SM4_GCM,
        CKM_SM4_MAC,
        CKM_SM2_KEY_PAIR_GEN,
        CKM_SM2,
        CKM_SM2_SM3,
        CKM_SM2_ENCRYPT,
        CKM_SM2_KEY_EXCHANGE,
        CKA_TEEHSM_PRIVATE_NEVER_KNOWN,
    );
    t.insert("TEEHSM_SM2_DEFAULT_USER_ID_LEN", 16);
    t
}

#[test]
fn every_define_equals_the_rust_constant() {
    let defs = defines();
    let want = expected();
    for (name, value) in &defs {
        if name == "TEEHSM_PKCS11_H" {
            assert!(value.is_empty(), "the include guard has no value");
            continue;
        }
        if name == "TEEHSM_SM2_DEFAULT_USER_ID" {
            assert_eq!(value, "\"1234567812345678\"", "the SM2 default user ID (GB/T 32918; docs/mechanisms.md)");
            continue;
        }
        let got = c_integer(value).unwrap_or_else(|| panic!("{name}: {value:?} is not an integer literal"));
        let rust = want.get(name.as_str()).unwrap_or_else(|| panic!("{name} is in the header but not checked against teehsm_wire::ck"));
        assert_eq!(got, *rust, "{name}: header 0x{got:X}, teehsm_wire::ck 0x{rust:X}");
    }
    for name in want.keys() {
        assert!(defs.contains_key(*name), "{name} is missing from include/teehsm_pkcs11.h");
    }
    assert!(defs.contains_key("TEEHSM_SM2_DEFAULT_USER_ID"));
}

/// Scans wire/src/ck.rs for vendor-defined names, so that a value added
/// there without a header line (or a test-table entry) fails here.
#[test]
fn every_vendor_constant_of_ck_rs_is_published() {
    let src = std::fs::read_to_string(repo().join("wire/src/ck.rs")).expect("read wire/src/ck.rs");
    let defs = defines();
    let want = expected();
    let mut seen = 0;
    for line in src.lines() {
        let Some(rest) = line.trim_start().strip_prefix("pub const ") else { continue };
        let name = rest.split(':').next().unwrap_or("").trim();
        let vendor = name.starts_with("CKM_SM") || name.starts_with("CKK_SM") || name.contains("_TEEHSM_");
        if !vendor {
            continue;
        }
        seen += 1;
        assert!(defs.contains_key(name), "wire/src/ck.rs defines {name}; add it to include/teehsm_pkcs11.h");
        assert!(want.contains_key(name), "wire/src/ck.rs defines {name}; add it to expected() in this test");
    }
    assert!(seen >= 17, "found only {seen} vendor constants in wire/src/ck.rs: did the file move?");
}

/// The header compiles on its own, twice (include guard), as C99 and as
/// C++ when those compilers exist, without warnings, and its values are
/// the integers the Rust side has (checked by the C compiler itself).
#[test]
fn header_compiles() {
    let dir = std::env::temp_dir().join(format!("teehsm-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = String::from("#include \"teehsm_pkcs11.h\"\n#include \"teehsm_pkcs11.h\"\n");
    for (name, value) in expected() {
        c.push_str(&format!("_Static_assert({name} == {value}UL, \"{name}\");\n"));
    }
    c.push_str("static const char id[] = TEEHSM_SM2_DEFAULT_USER_ID;\n");
    c.push_str("_Static_assert(sizeof id - 1 == TEEHSM_SM2_DEFAULT_USER_ID_LEN, \"default ID length\");\n");
    c.push_str("unsigned long first(void) { return (unsigned long)id[0] + CKM_SM2_SM3; }\n");
    let file = dir.join("use_header.c");
    std::fs::write(&file, &c).unwrap();
    let include = repo().join("include");
    let mut ran = 0;
    for (cc, args) in [("cc", &["-std=c11", "-x", "c"][..]), ("c++", &["-std=c++17", "-x", "c++"][..])] {
        let probe = Command::new(cc).arg("--version").output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!("{cc} not found: skipping that compile check");
            continue;
        }
        let mut cmd = Command::new(cc);
        cmd.arg("-fsyntax-only").args(["-Wall", "-Wextra", "-Werror", "-pedantic"]).args(args).arg("-I").arg(&include);
        // C++ spells _Static_assert as static_assert.
        if cc == "c++" {
            cmd.arg("-D_Static_assert=static_assert");
        }
        let out = cmd.arg(&file).output().expect("run the compiler");
        assert!(out.status.success(), "{cc} rejects the header:\n{}", String::from_utf8_lossy(&out.stderr));
        // The header alone, too (not -pedantic: a file of only macros is an empty translation unit).
        let out = Command::new(cc)
            .arg("-fsyntax-only")
            .args(["-Wall", "-Wextra", "-Werror"])
            .args(args)
            .arg(header_path())
            .output()
            .expect("run the compiler");
        assert!(out.status.success(), "{cc} rejects the header alone:\n{}", String::from_utf8_lossy(&out.stderr));
        ran += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if ran == 0 {
        eprintln!("no C compiler: header_compiles checked nothing");
    }
}
