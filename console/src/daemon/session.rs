//! Login sessions and login throttling of the console's HTTP API.
//!
//! A session token is 32 random bytes (64 hex digits) given to the browser
//! in an HttpOnly, SameSite=Strict cookie (or to a script as a bearer
//! token). The console keeps only its SHA-256, with the user name and an
//! expiry; sessions live in memory and end when the console restarts.
//!
//! After [`FREE_FAILURES`] failed logins in a row for one user name, each
//! further attempt must wait: 1 s, 2 s, 4 s, ... up to [`MAX_LOCK_MS`].

use crate::store::Role;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Name of the session cookie.
pub const COOKIE: &str = "teehsm_session";
/// Session lifetime.
pub const SESSION_TTL_MS: u64 = 8 * 3600 * 1000;
/// Failed logins per user before attempts are delayed.
pub const FREE_FAILURES: u32 = 5;
/// Longest delay between attempts after repeated failures.
pub const MAX_LOCK_MS: u64 = 5 * 60 * 1000;
/// Bounds on the in-memory tables (oldest entries are dropped beyond them).
const MAX_SESSIONS: usize = 10_000;
const MAX_THROTTLED: usize = 10_000;
/// Password verifications running at once (each is 600,000 PBKDF2
/// iterations); more logins at the same moment get 429 instead of
/// queueing up CPU work.
pub const MAX_CONCURRENT_VERIFY: usize = 4;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// "session", "bearer" or "loopback".
    pub via: &'static str,
}

/// Whether `have` may do what needs `need`: auditor < operator < admin.
pub fn role_allows(have: Role, need: Role) -> bool {
    fn rank(r: Role) -> u8 {
        match r {
            Role::Auditor => 0,
            Role::Operator => 1,
            Role::Admin => 2,
        }
    }
    rank(have) >= rank(need)
}

#[derive(Debug, Clone)]
struct Session {
    user: String,
    expires_at_ms: u64,
}

#[derive(Debug, Clone, Default)]
struct Failures {
    count: u32,
    last_ms: u64,
    locked_until_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomFailed;

/// Sessions and failed-login counters.
#[derive(Debug, Default)]
pub struct WebState {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
    verifying: AtomicUsize,
    /// `--allow-loopback-admin`: requests from loopback that carry no
    /// credentials and do not come from a browser act as admin.
    pub allow_loopback_admin: bool,
    /// Second factors being set up (`POST /api/me/totp`), by user, until
    /// confirmed with a code or expired.
    pub pending_totp: Mutex<HashMap<String, (crate::totp::Secret, u64)>>,
}

fn token_key(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// A slot for one password verification; freed on drop.
#[derive(Debug)]
pub struct VerifySlot<'a>(&'a AtomicUsize);

impl Drop for VerifySlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl WebState {
    /// A verification slot, or `None` while [`MAX_CONCURRENT_VERIFY`] are busy.
    pub fn verify_slot(&self) -> Option<VerifySlot<'_>> {
        let prev = self.verifying.fetch_add(1, Ordering::AcqRel);
        let slot = VerifySlot(&self.verifying);
        (prev < MAX_CONCURRENT_VERIFY).then_some(slot)
    }

    pub fn new(allow_loopback_admin: bool) -> Self {
        WebState { allow_loopback_admin, ..Default::default() }
    }

    /// A new session for `user`; returns the token and its expiry.
    pub fn create(&self, user: &str, now_ms: u64) -> Result<(Zeroizing<String>, u64), RandomFailed> {
        let mut raw = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(raw.as_mut()).map_err(|_| RandomFailed)?;
        let token = Zeroizing::new(hex::encode(raw.as_ref()));
        let expires_at_ms = now_ms.saturating_add(SESSION_TTL_MS);
        if let Ok(mut s) = self.sessions.lock() {
            s.retain(|_, v| v.expires_at_ms > now_ms);
            if s.len() >= MAX_SESSIONS {
                if let Some(oldest) = s.iter().min_by_key(|(_, v)| v.expires_at_ms).map(|(k, _)| k.clone()) {
                    s.remove(&oldest);
                }
            }
            s.insert(token_key(&token), Session { user: user.to_owned(), expires_at_ms });
        }
        Ok((token, expires_at_ms))
    }

    /// The user of a live session.
    pub fn user(&self, token: &str, now_ms: u64) -> Option<String> {
        if token.len() != 64 {
            return None;
        }
        let s = self.sessions.lock().ok()?;
        s.get(&token_key(token)).filter(|v| v.expires_at_ms > now_ms).map(|v| v.user.clone())
    }

    /// Ends a session; returns its user.
    pub fn remove(&self, token: &str) -> Option<String> {
        self.sessions.lock().ok()?.remove(&token_key(token)).map(|v| v.user)
    }

    /// Ends every session of `user` (deleted user, changed role).
    pub fn remove_user(&self, user: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.retain(|_, v| v.user != user);
        }
    }

    /// `Err(ms to wait)` while `user` is locked out by failed logins.
    pub fn check_throttle(&self, user: &str, now_ms: u64) -> Result<(), u64> {
        let Ok(f) = self.failures.lock() else { return Ok(()) };
        match f.get(user) {
            Some(x) if x.locked_until_ms > now_ms => Err(x.locked_until_ms - now_ms),
            _ => Ok(()),
        }
    }

    /// Counts a failed login; returns the delay now imposed (0: none yet).
    pub fn record_failure(&self, user: &str, now_ms: u64) -> u64 {
        let Ok(mut f) = self.failures.lock() else { return 0 };
        if f.len() >= MAX_THROTTLED && !f.contains_key(user) {
            if let Some(oldest) = f.iter().min_by_key(|(_, v)| v.last_ms).map(|(k, _)| k.clone()) {
                f.remove(&oldest);
            }
        }
        let e = f.entry(user.to_owned()).or_default();
        e.count = e.count.saturating_add(1);
        e.last_ms = now_ms;
        if e.count < FREE_FAILURES {
            return 0;
        }
        let shift = (e.count - FREE_FAILURES).min(20);
        let delay = (1000u64 << shift).min(MAX_LOCK_MS);
        e.locked_until_ms = now_ms.saturating_add(delay);
        delay
    }

    /// A successful login clears the counter.
    pub fn record_success(&self, user: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let w = WebState::new(false);
        let (t, exp) = w.create("alice", 1_000).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(exp, 1_000 + SESSION_TTL_MS);
        assert_eq!(w.user(&t, 2_000).as_deref(), Some("alice"));
        assert_eq!(w.user(&t, exp), None, "expired");
        assert_eq!(w.user("nonsense", 2_000), None);
        let (t2, _) = w.create("alice", 1_000).unwrap();
        assert_ne!(*t, *t2);
        assert_eq!(w.remove(&t).as_deref(), Some("alice"));
        assert_eq!(w.user(&t, 2_000), None);
        w.remove_user("alice");
        assert_eq!(w.user(&t2, 2_000), None);
    }

    #[test]
    fn throttle_after_five_failures() {
        let w = WebState::new(false);
        for _ in 0..4 {
            assert_eq!(w.record_failure("bob", 0), 0);
            assert_eq!(w.check_throttle("bob", 0), Ok(()));
        }
        assert_eq!(w.record_failure("bob", 0), 1000);
        assert_eq!(w.check_throttle("bob", 500), Err(500));
        assert_eq!(w.check_throttle("bob", 1000), Ok(()));
        assert_eq!(w.record_failure("bob", 1000), 2000);
        assert_eq!(w.check_throttle("carol", 1000), Ok(()), "per user");
        for i in 0..30 {
            w.record_failure("bob", 10_000 + i);
        }
        assert_eq!(w.check_throttle("bob", 10_029), Err(MAX_LOCK_MS));
        w.record_success("bob");
        assert_eq!(w.check_throttle("bob", 10_030), Ok(()));
    }

    #[test]
    fn verifications_are_bounded() {
        let w = WebState::new(false);
        let slots: Vec<_> = (0..MAX_CONCURRENT_VERIFY).map(|_| w.verify_slot().unwrap()).collect();
        assert!(w.verify_slot().is_none());
        drop(slots);
        assert!(w.verify_slot().is_some());
        assert!(w.verify_slot().is_some(), "refused attempts give their slot back");
    }

    #[test]
    fn roles_are_ordered() {
        assert!(role_allows(Role::Admin, Role::Operator));
        assert!(role_allows(Role::Operator, Role::Auditor));
        assert!(!role_allows(Role::Auditor, Role::Operator));
        assert!(!role_allows(Role::Operator, Role::Admin));
    }
}
