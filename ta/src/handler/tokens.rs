//! Tokens, sessions, login and PINs.

use super::{deny, store_err, Conn, Result, Session, Ta};
use crate::policy::Role;
use crate::store::Op;
use crate::token::TokenRecord;
use std::sync::atomic::Ordering;
use teehsm_wire::ck::*;
use teehsm_wire::{Reply, Rv, SessionInfo, TokenInfo};

impl Ta {
    fn token(&self, slot: u64) -> TokenRecord {
        self.store.state().tokens.get(&slot).cloned().unwrap_or(TokenRecord { slot, ..Default::default() })
    }

    fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
        if pin.len() < self.cfg.min_pin_len || pin.len() > self.cfg.max_pin_len {
            return Err(deny(Rv::PIN_LEN_RANGE, format!("PINs must be {} to {} bytes long", self.cfg.min_pin_len, self.cfg.max_pin_len)));
        }
        Ok(())
    }

    pub(super) fn token_info(&self, slot: u64) -> Result<Reply> {
        self.check_slot(slot)?;
        let t = self.token(slot);
        let max = self.cfg.max_pin_failures;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_RESTORE_KEY_NOT_NEEDED;
        if t.initialized() {
            flags |= CKF_TOKEN_INITIALIZED;
        }
        if t.user_pin.is_some() {
            flags |= CKF_USER_PIN_INITIALIZED;
        }
        for (fails, low, last, locked) in [
            (t.user_failures, CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED),
            (t.so_failures, CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED),
        ] {
            if fails >= max {
                flags |= locked;
            } else if fails + 1 == max {
                flags |= last;
            } else if fails > 0 {
                flags |= low;
            }
        }
        let c = &self.counters[slot as usize];
        let total_objects = self.store.state().objects_on(slot);
        Ok(Reply::TokenInfo(TokenInfo {
            label: t.label.clone(),
            serial: t.serial.clone(),
            flags,
            session_count: c.sessions.load(Ordering::Relaxed),
            rw_session_count: c.rw_sessions.load(Ordering::Relaxed),
            min_pin_len: self.cfg.min_pin_len as u64,
            max_pin_len: self.cfg.max_pin_len as u64,
            total_objects,
            max_objects: self.effective_max_objects(slot),
        }))
    }

    /// Verifies a PIN against a verifier with a retry counter that is raised
    /// durably *before* the comparison, so killing the TA mid-check cannot
    /// buy a free guess; a success resets it.
    fn check_pin(&self, slot: u64, role: Role, pin: &[u8]) -> Result<()> {
        let mut t = self.token(slot);
        let (verifier, failures) = match role {
            Role::So => (t.so_pin.clone(), t.so_failures),
            _ => (t.user_pin.clone(), t.user_failures),
        };
        let verifier = verifier.ok_or_else(|| match role {
            Role::So => deny(Rv::TOKEN_NOT_RECOGNIZED, "the token is not initialized"),
            _ => deny(Rv::USER_PIN_NOT_INITIALIZED, "the user PIN is not initialized; the SO sets it with C_InitPIN"),
        })?;
        if failures >= self.cfg.max_pin_failures {
            return Err(deny(
                Rv::PIN_LOCKED,
                match role {
                    Role::So => "the SO PIN is locked after too many failures",
                    _ => "the user PIN is locked after too many failures; the SO must set a new one with C_InitPIN",
                },
            ));
        }
        match role {
            Role::So => t.so_failures += 1,
            _ => t.user_failures += 1,
        }
        self.store.commit(vec![Op::PutToken(t.clone())]).map_err(store_err)?;
        if crate::pin::matches(&verifier, pin) {
            match role {
                Role::So => t.so_failures = 0,
                _ => t.user_failures = 0,
            }
            self.store.commit(vec![Op::PutToken(t)]).map_err(store_err)?;
            Ok(())
        } else if failures + 1 >= self.cfg.max_pin_failures {
            Err(deny(Rv::PIN_LOCKED, "incorrect PIN; that was the last allowed attempt: the PIN is now locked"))
        } else {
            Err(deny(Rv::PIN_INCORRECT, "incorrect PIN"))
        }
    }

    pub(super) fn init_token(&self, conn: &Conn, slot: u64, so_pin: &[u8], label: &str) -> Result<Reply> {
        self.check_slot(slot)?;
        self.check_pin_len(so_pin)?;
        let _guard = self.token_locks[slot as usize].lock().map_err(|_| deny(Rv::GENERAL_ERROR, "token lock poisoned"))?;
        let r: Result<Reply> = (|| {
            if self.counters[slot as usize].sessions.load(Ordering::SeqCst) > 0 {
                return Err(deny(Rv::SESSION_EXISTS, "close every session on this token before initializing it"));
            }
            let old = self.token(slot);
            if old.initialized() {
                self.check_pin(slot, Role::So, so_pin)?;
            }
            let mut serial = [0u8; 8];
            teehsm_crypto::rng::fill(&mut serial).map_err(crate::keys::crypto_denied)?;
            let t = TokenRecord {
                slot,
                label: label.trim_end().to_string(),
                serial: hex::encode(serial),
                so_pin: Some(crate::pin::make(so_pin, self.cfg.pin_iterations).map_err(crate::keys::crypto_denied)?),
                user_pin: None,
                so_failures: 0,
                user_failures: 0,
            };
            let mut ops = vec![Op::PutToken(t)];
            ops.extend(self.store.state().objects.values().filter(|o| o.slot == slot).map(|o| Op::DeleteObject(o.id)));
            self.store.commit(ops).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        self.audit(conn, "InitToken", Some(slot), None, None, None, r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK));
        r
    }

    pub(super) fn open_session(&self, conn: &mut Conn, slot: u64, flags: u64) -> Result<Reply> {
        self.check_slot(slot)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(deny(Rv::SESSION_PARALLEL_NOT_SUPPORTED, "CKF_SERIAL_SESSION must be set"));
        }
        if !self.token(slot).initialized() {
            return Err(deny(Rv::TOKEN_NOT_RECOGNIZED, "the token is not initialized; run C_InitToken first"));
        }
        let rw = flags & CKF_RW_SESSION != 0;
        if !rw && conn.login.get(&slot) == Some(&Role::So) {
            return Err(deny(Rv::SESSION_READ_WRITE_SO_EXISTS, "the SO is logged in: only read-write sessions may be opened"));
        }
        let h = self.next_session.fetch_add(1, Ordering::Relaxed);
        conn.sessions.insert(h, Session { slot, rw });
        let c = &self.counters[slot as usize];
        c.sessions.fetch_add(1, Ordering::Relaxed);
        if rw {
            c.rw_sessions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Reply::Handle(h))
    }

    pub(super) fn session_info(&self, conn: &Conn, session: u64) -> Result<Reply> {
        let (s, actor) = self.actor(conn, session)?;
        let state = match (actor.role, s.rw) {
            (Role::Public, false) => CKS_RO_PUBLIC_SESSION,
            (Role::Public, true) => CKS_RW_PUBLIC_SESSION,
            (Role::User, false) => CKS_RO_USER_FUNCTIONS,
            (Role::User, true) => CKS_RW_USER_FUNCTIONS,
            (Role::So, _) => CKS_RW_SO_FUNCTIONS,
        };
        let flags = CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 };
        Ok(Reply::SessionInfo(SessionInfo { slot: s.slot, state, flags }))
    }

    pub(super) fn login(&self, conn: &mut Conn, session: u64, user_type: u64, pin: &[u8]) -> Result<Reply> {
        let s = self.session(conn, session)?;
        let role = match user_type {
            CKU_SO => Role::So,
            CKU_USER => Role::User,
            CKU_CONTEXT_SPECIFIC => {
                return Err(deny(Rv::OPERATION_NOT_INITIALIZED, "context-specific login needs an active operation on a key that requires it"))
            }
            _ => return Err(deny(Rv::USER_TYPE_INVALID, format!("user type {user_type} is not CKU_SO or CKU_USER"))),
        };
        match conn.login.get(&s.slot) {
            Some(r) if *r == role => return Err(deny(Rv::USER_ALREADY_LOGGED_IN, "already logged in")),
            Some(_) => return Err(deny(Rv::USER_ANOTHER_ALREADY_LOGGED_IN, "another user type is logged in")),
            None => {}
        }
        if role == Role::So && conn.sessions.values().any(|x| x.slot == s.slot && !x.rw) {
            return Err(deny(Rv::SESSION_READ_ONLY_EXISTS, "close read-only sessions before the SO logs in"));
        }
        let r = {
            let _guard = self.token_locks[s.slot as usize].lock().map_err(|_| deny(Rv::GENERAL_ERROR, "token lock poisoned"))?;
            self.check_pin(s.slot, role, pin)
        };
        self.audit(
            conn,
            if role == Role::So { "LoginSO" } else { "Login" },
            Some(s.slot),
            Some(session),
            None,
            None,
            r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK),
        );
        r?;
        conn.login.insert(s.slot, role);
        Ok(Reply::Done)
    }

    pub(super) fn logout(&self, conn: &mut Conn, session: u64) -> Result<Reply> {
        let s = self.session(conn, session)?;
        if conn.login.remove(&s.slot).is_none() {
            return Err(deny(Rv::USER_NOT_LOGGED_IN, "not logged in"));
        }
        // Private session objects do not outlive the login.
        let sessions_on_slot: Vec<u64> = conn.sessions.iter().filter(|(_, x)| x.slot == s.slot).map(|(h, _)| *h).collect();
        conn.objects.retain(|_, (owner, o)| !(sessions_on_slot.contains(owner) && o.is_private()));
        // Operations started under the login end with it.
        self.end_ops(conn, |session| sessions_on_slot.contains(&session));
        Ok(Reply::Done)
    }

    pub(super) fn init_pin(&self, conn: &Conn, session: u64, pin: &[u8]) -> Result<Reply> {
        let (s, actor) = self.actor(conn, session)?;
        if actor.role != Role::So {
            return Err(deny(Rv::USER_NOT_LOGGED_IN, "only the SO may initialize the user PIN"));
        }
        self.check_pin_len(pin)?;
        let r: Result<Reply> = (|| {
            let _guard = self.token_locks[s.slot as usize].lock().map_err(|_| deny(Rv::GENERAL_ERROR, "token lock poisoned"))?;
            let mut t = self.token(s.slot);
            t.user_pin = Some(crate::pin::make(pin, self.cfg.pin_iterations).map_err(crate::keys::crypto_denied)?);
            t.user_failures = 0;
            self.store.commit(vec![Op::PutToken(t)]).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        self.audit(conn, "InitPin", Some(s.slot), Some(session), None, None, r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK));
        r
    }

    pub(super) fn set_pin(&self, conn: &Conn, session: u64, old: &[u8], new: &[u8]) -> Result<Reply> {
        let (s, actor) = self.actor(conn, session)?;
        if !s.rw {
            return Err(deny(Rv::SESSION_READ_ONLY, "C_SetPIN needs a read-write session"));
        }
        self.check_pin_len(new)?;
        let role = if actor.role == Role::So { Role::So } else { Role::User };
        let r: Result<Reply> = (|| {
            let _guard = self.token_locks[s.slot as usize].lock().map_err(|_| deny(Rv::GENERAL_ERROR, "token lock poisoned"))?;
            self.check_pin(s.slot, role, old)?;
            let mut t = self.token(s.slot);
            let v = crate::pin::make(new, self.cfg.pin_iterations).map_err(crate::keys::crypto_denied)?;
            match role {
                Role::So => t.so_pin = Some(v),
                _ => t.user_pin = Some(v),
            }
            self.store.commit(vec![Op::PutToken(t)]).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        self.audit(conn, "SetPin", Some(s.slot), Some(session), None, None, r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK));
        r
    }
}
