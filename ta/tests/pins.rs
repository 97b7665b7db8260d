//! PIN verification, retry counters and lockout (DESIGN invariant 2; PIN
//! rules in docs/key-policy.md), through `Ta::handle`.
//!
//! Convention asserted here: with `max_pin_failures = N`, failures 1..N-1
//! return CKR_PIN_INCORRECT, the N-th failure locks the PIN and says so
//! (CKR_PIN_LOCKED), and from then on every attempt, even with the right
//! PIN, returns CKR_PIN_LOCKED. CK_TOKEN_INFO.flags report COUNT_LOW after
//! a failure, FINAL_TRY when one attempt is left, LOCKED when none is.

mod common;

use common::{open_ta_with, temp_dir, Harness, SO_PIN, USER_PIN};
use teehsm_ta::handler::{Connection as Conn, HandlerConfig};
use teehsm_wire::ck::*;
use teehsm_wire::*;

const WRONG: &[u8] = b"wrong-pin-0000";
const USER_FLAGS: u64 = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
const SO_FLAGS: u64 = CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED;

fn cfg(max_pin_failures: u32) -> HandlerConfig {
    HandlerConfig { max_pin_failures, ..HandlerConfig::default() }
}

fn login(h: &Harness, c: &mut Conn, s: u64, user_type: u64, pin: &[u8]) -> Rv {
    h.rv(c, Request::Login { session: s, user_type, pin: Secret(pin.to_vec()) })
}

fn user_failures(h: &Harness) -> u32 {
    h.ta.store.state().tokens.get(&0).map(|t| t.user_failures).unwrap()
}

fn so_failures(h: &Harness) -> u32 {
    h.ta.store.state().tokens.get(&0).map(|t| t.so_failures).unwrap()
}

/// The user-PIN flags expected after `fails` consecutive failures out of `max`.
fn expected_user_flags(fails: u32, max: u32) -> u64 {
    match fails {
        0 => 0,
        f if f >= max => CKF_USER_PIN_LOCKED,
        f if f + 1 == max => CKF_USER_PIN_FINAL_TRY,
        _ => CKF_USER_PIN_COUNT_LOW,
    }
}

/// Fails `n` user logins in a row starting from `from` failures, checking
/// each return code, the durable counter and the token flags.
fn fail_user_logins(h: &Harness, c: &mut Conn, s: u64, from: u32, n: u32, max: u32) {
    for i in from + 1..=from + n {
        let want = if i >= max { Rv::PIN_LOCKED } else { Rv::PIN_INCORRECT };
        assert_eq!(login(h, c, s, CKU_USER, WRONG), want, "wrong user PIN, attempt {i} of max {max}");
        assert_eq!(user_failures(h), i.min(max), "durable failure count after attempt {i}");
        assert_eq!(h.token_flags(c) & USER_FLAGS, expected_user_flags(i, max), "token flags after {i} failures");
    }
}

#[test]
fn user_pin_locks_after_ten_failures_and_then_refuses_even_the_right_pin() {
    let h = Harness::new("pins-lockout");
    assert_eq!(HandlerConfig::default().max_pin_failures, 10);
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    assert_eq!(h.token_flags(&mut c) & (USER_FLAGS | SO_FLAGS), 0);
    assert_ne!(h.token_flags(&mut c) & CKF_USER_PIN_INITIALIZED, 0);
    fail_user_logins(&h, &mut c, s, 0, 10, 10);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_LOCKED, "the right PIN after lockout");
    assert_eq!(login(&h, &mut c, s, CKU_USER, WRONG), Rv::PIN_LOCKED);
    assert_eq!(user_failures(&h), 10, "attempts on a locked PIN are not counted further");
    assert_eq!(h.token_flags(&mut c) & SO_FLAGS, 0, "the SO PIN is not affected");
    // The locked user cannot use private keys through another connection either.
    let mut other = h.conn();
    let s2 = h.open(&mut other, true);
    assert_eq!(login(&h, &mut other, s2, CKU_USER, USER_PIN), Rv::PIN_LOCKED);
    // The SO still logs in.
    let mut so = h.conn();
    let s3 = h.open(&mut so, true);
    assert_eq!(login(&h, &mut so, s3, CKU_SO, SO_PIN), Rv::OK);
}

#[test]
fn failure_count_and_lockout_persist_across_ta_restart() {
    let mut h = Harness::new("pins-persist");
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    fail_user_logins(&h, &mut c, s, 0, 4, 10);
    drop(c);
    h.reopen(HandlerConfig::default());
    assert_eq!(user_failures(&h), 4, "a restart does not reset the failure count");
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, CKF_USER_PIN_COUNT_LOW);
    fail_user_logins(&h, &mut c, s, 4, 5, 10);
    drop(c);
    h.reopen(HandlerConfig::default());
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, CKF_USER_PIN_FINAL_TRY);
    fail_user_logins(&h, &mut c, s, 9, 1, 10);
    drop(c);
    h.reopen(HandlerConfig::default());
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, CKF_USER_PIN_LOCKED);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_LOCKED, "still locked after a restart");
}

#[test]
fn correct_login_resets_the_counter_before_lockout() {
    let h = Harness::new("pins-reset");
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    fail_user_logins(&h, &mut c, s, 0, 9, 10);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::OK, "the last try with the right PIN");
    assert_eq!(user_failures(&h), 0);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, 0);
    h.ok(&mut c, Request::Logout { session: s });
    // A full new series of 9 is allowed again, and the right PIN still works after it.
    fail_user_logins(&h, &mut c, s, 0, 9, 10);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::OK);
    assert_eq!(user_failures(&h), 0);
}

#[test]
fn so_unlocks_the_user_with_init_pin() {
    let h = Harness::new("pins-unlock");
    let (mut u, us) = h.user();
    let k = h.aes_key(&mut u, us, &[(CKA_TOKEN, true), (CKA_ENCRYPT, true), (CKA_DECRYPT, true)]);
    let m = Mechanism::with(CKM_AES_CBC_PAD, MechParam::Bytes(vec![3; 16]));
    let ct = h.bytes(&mut u, Request::Encrypt { session: us, mechanism: m.clone(), key: k, data: b"before lockout".to_vec() });
    h.ok(&mut u, Request::Logout { session: us });
    fail_user_logins(&h, &mut u, us, 0, 10, 10);

    // Only the SO may set a new user PIN.
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    h.refused(&mut c, Request::InitPin { session: s, pin: Secret(b"new-user-pin".to_vec()) }, Rv::USER_NOT_LOGGED_IN);
    assert_eq!(login(&h, &mut c, s, CKU_SO, SO_PIN), Rv::OK);
    h.ok(&mut c, Request::InitPin { session: s, pin: Secret(b"new-user-pin".to_vec()) });
    assert_eq!(user_failures(&h), 0);
    let flags = h.token_flags(&mut c);
    assert_eq!(flags & USER_FLAGS, 0, "unlocked");
    assert_ne!(flags & CKF_USER_PIN_INITIALIZED, 0);

    assert_eq!(login(&h, &mut u, us, CKU_USER, USER_PIN), Rv::PIN_INCORRECT, "the old PIN no longer works");
    assert_eq!(login(&h, &mut u, us, CKU_USER, b"new-user-pin"), Rv::OK, "the new PIN works");
    assert_eq!(user_failures(&h), 0);
    // The user's keys survived the unlock.
    let pt = h.bytes(&mut u, Request::Decrypt { session: us, mechanism: m, key: k, data: ct });
    assert_eq!(pt, b"before lockout");
}

#[test]
fn set_pin_with_a_wrong_old_pin_counts_as_a_failure() {
    let h = Harness::with_config("pins-setpin", cfg(3));
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    let set =
        |c: &mut Conn, old: &[u8], new: &[u8]| h.rv(c, Request::SetPin { session: s, old_pin: Secret(old.to_vec()), new_pin: Secret(new.to_vec()) });
    // A new PIN out of range is refused before the old one is checked: not a guess.
    assert_eq!(set(&mut c, WRONG, b"abc"), Rv::PIN_LEN_RANGE);
    assert_eq!(user_failures(&h), 0);
    // A read-only session cannot change the PIN, and that is not a guess either.
    let ro = h.open(&mut c, false);
    assert_eq!(
        h.rv(&mut c, Request::SetPin { session: ro, old_pin: Secret(WRONG.to_vec()), new_pin: Secret(b"new-pin-1".to_vec()) }),
        Rv::SESSION_READ_ONLY
    );
    assert_eq!(user_failures(&h), 0);

    assert_eq!(set(&mut c, WRONG, b"new-pin-1"), Rv::PIN_INCORRECT);
    assert_eq!(user_failures(&h), 1);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, CKF_USER_PIN_COUNT_LOW);
    // The PIN did not change.
    assert_eq!(login(&h, &mut c, s, CKU_USER, b"new-pin-1"), Rv::PIN_INCORRECT);
    assert_eq!(user_failures(&h), 2);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, CKF_USER_PIN_FINAL_TRY);
    // Login and SetPin failures share one counter: the third failure locks.
    assert_eq!(set(&mut c, WRONG, b"new-pin-1"), Rv::PIN_LOCKED);
    assert_eq!(user_failures(&h), 3);
    assert_eq!(set(&mut c, USER_PIN, b"new-pin-1"), Rv::PIN_LOCKED, "SetPin with the right old PIN on a locked PIN");
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_LOCKED);
}

#[test]
fn set_pin_with_the_right_old_pin_changes_it() {
    let h = Harness::new("pins-setpin-ok");
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    h.ok(&mut c, Request::SetPin { session: s, old_pin: Secret(USER_PIN.to_vec()), new_pin: Secret(b"changed-pin".to_vec()) });
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_INCORRECT);
    assert_eq!(login(&h, &mut c, s, CKU_USER, b"changed-pin"), Rv::OK);
    assert_eq!(user_failures(&h), 0);
    // Logged in as the user, SetPin changes the user's PIN.
    h.ok(&mut c, Request::SetPin { session: s, old_pin: Secret(b"changed-pin".to_vec()), new_pin: Secret(b"changed-again".to_vec()) });
    h.ok(&mut c, Request::Logout { session: s });
    assert_eq!(login(&h, &mut c, s, CKU_USER, b"changed-again"), Rv::OK);
    // Logged in as the SO, SetPin checks and changes the SO PIN and counts SO failures.
    let mut so = h.conn();
    let ss = h.open(&mut so, true);
    assert_eq!(login(&h, &mut so, ss, CKU_SO, SO_PIN), Rv::OK);
    let r = h.rv(&mut so, Request::SetPin { session: ss, old_pin: Secret(WRONG.to_vec()), new_pin: Secret(b"new-so-pin".to_vec()) });
    assert_eq!(r, Rv::PIN_INCORRECT);
    assert_eq!(so_failures(&h), 1);
    assert_eq!(h.token_flags(&mut so) & SO_FLAGS, CKF_SO_PIN_COUNT_LOW);
    h.ok(&mut so, Request::SetPin { session: ss, old_pin: Secret(SO_PIN.to_vec()), new_pin: Secret(b"new-so-pin".to_vec()) });
    assert_eq!(so_failures(&h), 0);
    h.ok(&mut so, Request::Logout { session: ss });
    assert_eq!(login(&h, &mut so, ss, CKU_SO, SO_PIN), Rv::PIN_INCORRECT);
    assert_eq!(login(&h, &mut so, ss, CKU_SO, b"new-so-pin"), Rv::OK);
}

#[test]
fn three_failures_lock_with_max_pin_failures_three() {
    let mut h = Harness::with_config("pins-max3", cfg(3));
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    fail_user_logins(&h, &mut c, s, 0, 3, 3);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_LOCKED);
    drop(c);
    h.reopen(cfg(3));
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    assert_eq!(h.token_flags(&mut c) & USER_FLAGS, CKF_USER_PIN_LOCKED);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_LOCKED);
}

/// The SO PIN locks too, and then nothing can re-initialize the token.
#[test]
fn so_pin_locks_and_blocks_reinitialization() {
    let h = Harness::with_config("pins-so", cfg(3));
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    for (i, (want_rv, want_flags)) in
        [(Rv::PIN_INCORRECT, CKF_SO_PIN_COUNT_LOW), (Rv::PIN_INCORRECT, CKF_SO_PIN_FINAL_TRY), (Rv::PIN_LOCKED, CKF_SO_PIN_LOCKED)]
            .into_iter()
            .enumerate()
    {
        assert_eq!(login(&h, &mut c, s, CKU_SO, WRONG), want_rv, "wrong SO PIN, attempt {}", i + 1);
        assert_eq!(h.token_flags(&mut c) & SO_FLAGS, want_flags, "SO flags after {} failures", i + 1);
        assert_eq!(h.token_flags(&mut c) & USER_FLAGS, 0, "user flags untouched");
    }
    assert_eq!(login(&h, &mut c, s, CKU_SO, SO_PIN), Rv::PIN_LOCKED);
    h.ok(&mut c, Request::CloseSession { session: s });
    h.refused(&mut c, Request::InitToken { slot: 0, so_pin: Secret(SO_PIN.to_vec()), label: "again".into() }, Rv::PIN_LOCKED);
    // The user is not affected.
    let (_u, _s) = h.user();
}

/// Many connections guessing at once get no more than the allowed number of guesses.
#[test]
fn parallel_guessing_gets_no_more_than_max_attempts() {
    let h = Harness::new("pins-parallel");
    let results: Vec<Rv> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..12)
            .map(|_| {
                let h = &h;
                sc.spawn(move || {
                    let mut c = h.conn();
                    let s = h.open(&mut c, true);
                    (0..2).map(|_| login(h, &mut c, s, CKU_USER, WRONG)).collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let incorrect = results.iter().filter(|r| **r == Rv::PIN_INCORRECT).count();
    let locked = results.iter().filter(|r| **r == Rv::PIN_LOCKED).count();
    assert_eq!(incorrect + locked, 24, "unexpected codes: {results:?}");
    assert_eq!(incorrect, 9, "9 guesses answered 'incorrect', the 10th locks");
    assert_eq!(user_failures(&h), 10);
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::PIN_LOCKED);
}

#[test]
fn pin_length_limits_are_enforced() {
    let h = Harness::new("pins-len");
    let mut c = h.conn();
    match h.ok(&mut c, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => assert_eq!((t.min_pin_len, t.max_pin_len), (4, 64)),
        r => panic!("{r:?}"),
    }
    let s = h.open(&mut c, true);
    assert_eq!(login(&h, &mut c, s, CKU_SO, SO_PIN), Rv::OK);
    for bad in [&b"123"[..], &[b'x'; 65][..], &[][..]] {
        h.refused(&mut c, Request::InitPin { session: s, pin: Secret(bad.to_vec()) }, Rv::PIN_LEN_RANGE);
    }
    for bad in [&b"123"[..], &[b'x'; 65][..]] {
        h.refused(&mut c, Request::SetPin { session: s, old_pin: Secret(SO_PIN.to_vec()), new_pin: Secret(bad.to_vec()) }, Rv::PIN_LEN_RANGE);
    }
    assert_eq!(so_failures(&h), 0, "refused for length, not counted as guesses");
    // The bounds themselves are accepted.
    for good in [&b"1234"[..], &[b'y'; 64][..]] {
        h.ok(&mut c, Request::InitPin { session: s, pin: Secret(good.to_vec()) });
        let mut u = h.conn();
        let us = h.open(&mut u, true);
        assert_eq!(login(&h, &mut u, us, CKU_USER, good), Rv::OK, "a {}-byte PIN", good.len());
    }
    h.ok(&mut c, Request::CloseSession { session: s });
    h.refused(&mut c, Request::InitToken { slot: 0, so_pin: Secret(b"so1".to_vec()), label: "x".into() }, Rv::PIN_LEN_RANGE);
    h.refused(&mut c, Request::InitToken { slot: 0, so_pin: Secret(vec![b'z'; 65]), label: "x".into() }, Rv::PIN_LEN_RANGE);
}

#[test]
fn configured_pin_length_limits_are_enforced_and_reported() {
    let dir = temp_dir("pins-len-cfg");
    let ta = open_ta_with(&dir, HandlerConfig { min_pin_len: 6, max_pin_len: 8, ..HandlerConfig::default() }, 1);
    let h = Harness { dir, ta };
    let mut c = h.conn();
    h.refused(&mut c, Request::InitToken { slot: 0, so_pin: Secret(b"12345".to_vec()), label: "t".into() }, Rv::PIN_LEN_RANGE);
    h.refused(&mut c, Request::InitToken { slot: 0, so_pin: Secret(b"123456789".to_vec()), label: "t".into() }, Rv::PIN_LEN_RANGE);
    h.ok(&mut c, Request::InitToken { slot: 0, so_pin: Secret(b"so-pin-8".to_vec()), label: "t".into() });
    match h.ok(&mut c, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => assert_eq!((t.min_pin_len, t.max_pin_len), (6, 8)),
        r => panic!("{r:?}"),
    }
    let s = h.open(&mut c, true);
    assert_eq!(login(&h, &mut c, s, CKU_SO, b"so-pin-8"), Rv::OK);
    h.refused(&mut c, Request::InitPin { session: s, pin: Secret(b"12345".to_vec()) }, Rv::PIN_LEN_RANGE);
    h.refused(&mut c, Request::InitPin { session: s, pin: Secret(b"123456789".to_vec()) }, Rv::PIN_LEN_RANGE);
    h.ok(&mut c, Request::InitPin { session: s, pin: Secret(b"123456".to_vec()) });
}

/// Before C_InitPIN there is no user PIN to guess.
#[test]
fn user_login_before_init_pin_is_refused_without_counting() {
    let dir = temp_dir("pins-noinit");
    let ta = open_ta_with(&dir, HandlerConfig::default(), 1);
    let h = Harness { dir, ta };
    let mut c = h.conn();
    h.ok(&mut c, Request::InitToken { slot: 0, so_pin: Secret(SO_PIN.to_vec()), label: "t".into() });
    let s = h.open(&mut c, true);
    assert_eq!(h.token_flags(&mut c) & CKF_USER_PIN_INITIALIZED, 0);
    assert_eq!(login(&h, &mut c, s, CKU_USER, USER_PIN), Rv::USER_PIN_NOT_INITIALIZED);
    assert_eq!(user_failures(&h), 0);
}
