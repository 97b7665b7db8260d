//! Console users' second factor (docs/fleet-console.md, "Second factor"):
//! a user sets up a TOTP authenticator for themselves, and from then on
//! logs in with their password and a 6-digit code; an admin can remove a
//! user's second factor (a lost phone).
//!
//! - `POST /api/me/totp`: a new secret for the caller, shown once
//!   (`secret`, `otpauth_uri`), pending for 10 minutes;
//! - `POST /api/me/totp/confirm` `{"code"}`: a code from the authenticator
//!   proves it holds the secret; the second factor is on from now;
//! - `DELETE /api/users/{name}/totp` (admin): off.
//!
//! With `--require-second-factor admins|all` ([`SecondFactorPolicy`]) a
//! user the policy covers who has no second factor yet may log in with the
//! password, but until one is set up the session reaches only
//! [`SETUP_ROUTES`] (who am I, set up, confirm, log out): every other call
//! answers 403 with `"second_factor_setup_required": true`.

use super::http::{error, json_resp, store_err, HttpRequest, HttpResponse};
use super::session::Principal;
use super::Shared;
use crate::store::{Role, StoreError};
use crate::totp::Secret;
use serde_json::{json, Value};

/// How long a secret waits for its confirming code.
const PENDING_MS: u64 = 10 * 60 * 1000;
/// The issuer authenticator apps show.
pub const ISSUER: &str = "teehsm console";

/// Who must have a second factor (`--require-second-factor`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecondFactorPolicy {
    /// Each user decides (the default).
    #[default]
    Off,
    /// Users with role admin.
    Admins,
    /// Every user.
    All,
}

impl SecondFactorPolicy {
    /// From the option's value: `off`, `admins` or `all`.
    pub fn parse(s: &str) -> Option<SecondFactorPolicy> {
        match s {
            "off" => Some(SecondFactorPolicy::Off),
            "admins" => Some(SecondFactorPolicy::Admins),
            "all" => Some(SecondFactorPolicy::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorPolicy::Off => "off",
            SecondFactorPolicy::Admins => "admins",
            SecondFactorPolicy::All => "all",
        }
    }

    /// Whether a user with `role` must have a second factor.
    pub fn covers(self, role: Role) -> bool {
        match self {
            SecondFactorPolicy::Off => false,
            SecondFactorPolicy::Admins => role == Role::Admin,
            SecondFactorPolicy::All => true,
        }
    }
}

/// What a session that still has to set up its second factor may call.
pub const SETUP_ROUTES: [(&str, &str); 4] = [("GET", "/api/me"), ("POST", "/api/me/totp"), ("POST", "/api/me/totp/confirm"), ("POST", "/api/logout")];

/// Whether `who` must still set up a second factor before using the console.
pub fn setup_pending(sh: &Shared, who: &Principal) -> Result<bool, HttpResponse> {
    if !sh.second_factor.covers(who.role) || who.via == "loopback" {
        return Ok(false);
    }
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    Ok(store.user_totp(&who.name).map_err(store_err)?.is_none())
}

/// `Ok` unless the policy holds `who` to setting up a second factor and
/// this call is not one of [`SETUP_ROUTES`]; then the 403 that says so.
pub fn gate(sh: &Shared, who: &Principal, req: &HttpRequest) -> Result<(), HttpResponse> {
    if SETUP_ROUTES.contains(&(req.method.as_str(), req.path.as_str())) || !setup_pending(sh, who)? {
        return Ok(());
    }
    let why = format!(
        "this console requires a second factor for {} users (--require-second-factor {}): set it up first \
         (Account page, or POST /api/me/totp then POST /api/me/totp/confirm)",
        who.role.as_str(),
        sh.second_factor.as_str()
    );
    Err(json_resp(403, json!({ "error": why, "second_factor_setup_required": true })))
}

fn internal(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "second factor");
    error(500, "internal error; see the console's log")
}

/// `POST /api/me/totp`.
pub fn start(sh: &Shared, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    if actor == "loopback" {
        return Err(error(400, "the loopback admin has no password and no second factor"));
    }
    {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        if store.user_totp(actor).map_err(store_err)?.is_some() {
            return Err(error(409, "you already have a second factor; an admin removes it (DELETE /api/users/{name}/totp) before a new one"));
        }
    }
    let secret = Secret::generate().map_err(internal)?;
    let answer = json!({ "secret": secret.base32().as_str(), "otpauth_uri": secret.uri(ISSUER, actor).as_str(), "expires_at_ms": now + PENDING_MS });
    let Ok(mut pending) = sh.web.pending_totp.lock() else { return Err(error(500, "internal error")) };
    pending.retain(|_, (_, until)| *until > now);
    pending.insert(actor.to_owned(), (secret, now + PENDING_MS));
    Ok(json_resp(200, answer))
}

/// `POST /api/me/totp/confirm` `{"code"}`.
pub fn confirm(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(code) = body["code"].as_str() else { return Err(error(400, "send {\"code\": \"123456\"}: the code the authenticator shows")) };
    let secret = {
        let Ok(mut pending) = sh.web.pending_totp.lock() else { return Err(error(500, "internal error")) };
        match pending.remove(actor) {
            Some((s, until)) if until > now => s,
            _ => return Err(error(409, "no second factor is being set up for you (or it expired): POST /api/me/totp first")),
        }
    };
    let Some(step) = secret.check(code, now / 1000) else {
        // Keep it pending: a mistyped code may be tried again.
        if let Ok(mut pending) = sh.web.pending_totp.lock() {
            pending.insert(actor.to_owned(), (secret, now + PENDING_MS));
        }
        return Err(error(400, "that code does not match; check the authenticator's clock and try the current code"));
    };
    let sealed = secret.seal(&sh.audit_key, actor).map_err(internal)?;
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    store.set_user_totp(actor, Some(&sealed)).map_err(store_err)?;
    store.use_totp_step(actor, step).map_err(store_err)?;
    store.append_audit(now, actor, "totp_enable", actor, &json!({})).map_err(store_err)?;
    tracing::info!(user = actor, "second factor set up");
    Ok(json_resp(200, json!({ "totp": true })))
}

/// `DELETE /api/users/{name}/totp` (admin).
pub fn reset(sh: &Shared, name: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    match store.user_totp(name) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(error(409, &format!("user {name} has no second factor"))),
        Err(e) => return Err(store_err(e)),
    }
    match store.set_user_totp(name, None) {
        Ok(()) => {}
        Err(StoreError::NotFound { .. }) => return Err(error(404, &format!("no user {name}"))),
        Err(e) => return Err(store_err(e)),
    }
    store.append_audit(now, actor, "totp_reset", name, &json!({})).map_err(store_err)?;
    tracing::warn!(user = name, by = actor, "second factor removed");
    Ok(json_resp(200, json!({ "user": name, "totp": false })))
}

/// Whether the login of `user` may go on: `Ok` without a second factor or
/// with a good, fresh `code`; else the answer (401 naming what is missing).
pub fn check_login(sh: &Shared, user: &str, code: Option<&str>, now: u64) -> Result<(), (HttpResponse, bool)> {
    let sealed = {
        let Ok(store) = sh.store.lock() else { return Err((error(500, "internal error"), false)) };
        store.user_totp(user).map_err(|e| (store_err(e), false))?
    };
    let Some(sealed) = sealed else { return Ok(()) };
    let Some(code) = code else {
        let why = "this user logs in with a second factor: send the 6-digit code of the authenticator app as \"totp\"";
        return Err((json_resp(401, json!({ "error": why, "totp_required": true })), false));
    };
    let secret = Secret::open(&sh.audit_key, user, &sealed).map_err(|e| (internal(e), false))?;
    let Some(step) = secret.check(code, now / 1000) else { return Err((error(401, "wrong user name, password or code"), true)) };
    let Ok(store) = sh.store.lock() else { return Err((error(500, "internal error"), false)) };
    if !store.use_totp_step(user, step).map_err(|e| (store_err(e), false))? {
        return Err((error(401, "this code was used already; wait for the next one"), true));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_covers_the_roles_it_names() {
        for (text, admin, operator, auditor) in [("off", false, false, false), ("admins", true, false, false), ("all", true, true, true)] {
            let p = SecondFactorPolicy::parse(text).unwrap();
            assert_eq!(p.as_str(), text);
            assert_eq!((p.covers(Role::Admin), p.covers(Role::Operator), p.covers(Role::Auditor)), (admin, operator, auditor), "{text}");
        }
        assert_eq!(SecondFactorPolicy::parse("yes"), None);
        assert_eq!(SecondFactorPolicy::default(), SecondFactorPolicy::Off);
    }
}
