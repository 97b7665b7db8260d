//! `--init-dev-token`: give slot 0 a development token with well-known PINs,
//! through the TA protocol like any client (the TA makes every decision).

use teehsm_wire::ck::{CKF_TOKEN_INITIALIZED, CKF_USER_PIN_INITIALIZED, CKU_SO};
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::stream::Endpoint;
use teehsm_wire::Calls;
use teehsm_wire::{Reply, Request, Secret, TokenInfo};
use thiserror::Error;

pub const DEV_TOKEN_LABEL: &str = "dev-token";
pub const DEV_SO_PIN: &[u8] = b"12345678";
pub const DEV_USER_PIN: &[u8] = b"123456";
const SLOT: u64 = 0;

#[derive(Debug, Error)]
pub enum BootstrapError {
    #[error("{step} failed: {source}")]
    Call { step: &'static str, source: CallError },
    #[error("the TA answered GetTokenInfo with an unexpected reply")]
    Unexpected,
}

/// What bootstrap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token and its user PIN were already set up; nothing done.
    AlreadyInitialized,
    /// InitToken (if needed) and InitPIN were run.
    Initialized { token: bool, user_pin: bool },
}

fn step<T>(step: &'static str, r: Result<T, CallError>) -> Result<T, BootstrapError> {
    r.map_err(|source| BootstrapError::Call { step, source })
}

fn token_info(c: &mut Client) -> Result<TokenInfo, BootstrapError> {
    match step("GetTokenInfo", c.call(&Request::GetTokenInfo { slot: SLOT }))? {
        Reply::TokenInfo(t) => Ok(t),
        _ => Err(BootstrapError::Unexpected),
    }
}

/// Initializes slot 0 as the dev token if it is not initialized, and sets the
/// dev user PIN if the token has none. Talks to the TA (its socket or TCP address) directly.
pub fn ensure_dev_token(ta: &Endpoint) -> Result<Outcome, BootstrapError> {
    let mut c = step("connecting to the TA", Client::connect_endpoint(ta, "teehsm-ca bootstrap"))?;
    let info = token_info(&mut c)?;
    let mut did_token = false;
    if info.flags & CKF_TOKEN_INITIALIZED == 0 {
        tracing::warn!(
            label = DEV_TOKEN_LABEL,
            "DEVELOPMENT TOKEN: initializing slot 0 with the well-known SO PIN 12345678 and user PIN 123456 \
             (--init-dev-token). Anyone with access to the client socket can use its keys. Never use this in production."
        );
        step("InitToken", c.call_done(&Request::InitToken { slot: SLOT, so_pin: Secret(DEV_SO_PIN.to_vec()), label: DEV_TOKEN_LABEL.into() }))?;
        did_token = true;
    }
    let info = if did_token { token_info(&mut c)? } else { info };
    let mut did_pin = false;
    if info.flags & CKF_USER_PIN_INITIALIZED == 0 {
        if !did_token {
            tracing::warn!("DEVELOPMENT TOKEN: slot 0 has no user PIN; setting the well-known user PIN 123456 with the dev SO PIN");
        }
        let s = step("OpenSession", c.open_session(SLOT, true))?;
        step("SO login (dev SO PIN)", c.login(s, CKU_SO, DEV_SO_PIN))?;
        step("InitPIN", c.call_done(&Request::InitPin { session: s, pin: Secret(DEV_USER_PIN.to_vec()) }))?;
        let _ = c.call_done(&Request::Logout { session: s });
        let _ = c.call_done(&Request::CloseSession { session: s });
        did_pin = true;
    }
    if !did_token && !did_pin {
        return Ok(Outcome::AlreadyInitialized);
    }
    tracing::warn!(label = DEV_TOKEN_LABEL, "DEVELOPMENT TOKEN READY in slot 0: SO PIN 12345678, user PIN 123456. Not for production.");
    Ok(Outcome::Initialized { token: did_token, user_pin: did_pin })
}
