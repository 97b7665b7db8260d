//! Invariant 5: restoring an older copy of the store is detected and refused,
//! so the PIN retry counter cannot be reset that way; a newer TA keeps the
//! keys (signed upgrade) and an older one is refused (downgrade).

use std::path::Path;
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn replace_dir(from: &Path, to: &Path) {
    std::fs::remove_dir_all(to).unwrap();
    copy_dir(from, to);
}

#[test]
fn restoring_an_old_store_is_refused_and_cannot_reset_the_pin_counter() {
    let dir = TempDir::new("rollback");
    let root = dir.path();
    let ta = start_ta_ready(root, &[]);
    {
        let mut c = ta.client();
        init_token(&mut c);
        let s = user_session(&mut c);
        gen_pair(&mut c, &p256_pair(s, "before-copy", true)).unwrap();
    }
    assert!(ta.stop().success());
    // The attacker keeps a copy of the store while the PIN counter is 0.
    let snapshot = root.join("snapshot");
    copy_dir(&root.join("store"), &snapshot);

    // Guess the user PIN 9 times (one short of the lockout).
    let ta = start_ta_ready(root, &[]);
    {
        let mut c = ta.client();
        let s = c.open_session(0, true).unwrap();
        for _ in 0..9 {
            let e = c.login(s, CKU_USER, b"wrong-pin").unwrap_err();
            assert_eq!(e.rv(), Rv::PIN_INCORRECT);
        }
        match c.call(&Request::GetTokenInfo { slot: 0 }).unwrap() {
            Reply::TokenInfo(t) => assert!(t.flags & CKF_USER_PIN_FINAL_TRY != 0, "one try left"),
            r => panic!("{r:?}"),
        }
    }
    assert!(ta.stop().success());

    // Restore the old copy to reset the counter: the TA refuses to open it.
    replace_dir(&snapshot, &root.join("store"));
    match start_ta(root, &[]) {
        Started::Ready(p) => {
            p.kill9();
            panic!("the TA opened a rolled-back store");
        }
        Started::Exited { status, stderr } => {
            assert_eq!(status.code(), Some(4), "exit code 4 means rollback detected; stderr:\n{stderr}");
            assert!(stderr.contains("rollback detected"), "the refusal says why:\n{stderr}");
        }
    }

    // Deleting the store outright is refused too.
    std::fs::remove_dir_all(root.join("store")).unwrap();
    match start_ta(root, &[]) {
        Started::Ready(p) => {
            p.kill9();
            panic!("the TA started empty over a deleted store");
        }
        Started::Exited { status, stderr } => {
            assert_eq!(status.code(), Some(4));
            assert!(stderr.contains("missing"), "{stderr}");
        }
    }
}

#[test]
fn upgrade_keeps_keys_and_downgrade_is_refused() {
    let dir = TempDir::new("svn");
    let root = dir.path();
    let ta = start_ta_ready(root, &["--sim-security-version", "1"]);
    let (public, private) = {
        let mut c = ta.client();
        init_token(&mut c);
        let s = user_session(&mut c);
        gen_pair(&mut c, &p256_pair(s, "survives-upgrade", true)).unwrap()
    };
    assert!(ta.stop().success());
    // A signed upgrade (same signer and product, higher security version) keeps the keys.
    let ta = start_ta_ready(root, &["--sim-security-version", "2"]);
    {
        let mut c = ta.client();
        let s = user_session(&mut c);
        let m = Mechanism::new(CKM_ECDSA_SHA256);
        let sig = c.call_bytes(&Request::Sign { session: s, mechanism: m.clone(), key: private, data: b"x".to_vec() }).unwrap();
        c.call_done(&Request::Verify { session: s, mechanism: m, key: public, data: b"x".to_vec(), signature: sig }).unwrap();
    }
    assert!(ta.stop().success());
    // Going back to version 1 is refused: the store is now sealed at version 2.
    match start_ta(root, &["--sim-security-version", "1"]) {
        Started::Ready(p) => {
            p.kill9();
            panic!("a downgraded TA opened the store");
        }
        Started::Exited { status, stderr } => {
            assert_eq!(status.code(), Some(4), "{stderr}");
            assert!(stderr.contains("downgrade"), "{stderr}");
        }
    }
}
