//! Per-slot token object counts, capacities and labels for `/metrics`
//! (`teehsm_token_objects`, `teehsm_token_capacity`, `teehsm_token_info`),
//! asked from the TA at scrape time over one kept TA connection.

use crate::state::Shared;
use std::sync::Mutex;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::{Reply, Request};

/// Name this connection announces in Hello.
const CLIENT_NAME: &str = "teehsm-ca-metrics";

/// One token as GetTokenInfo describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCount {
    pub slot: u64,
    pub label: String,
    /// Objects held (API key versions included, PIN verifiers not).
    pub objects: u64,
    /// The TA's `max_token_objects` (0: no limit).
    pub capacity: u64,
}

#[derive(Default)]
pub struct TokenStats {
    conn: Mutex<Option<Client>>,
}

impl TokenStats {
    /// Every slot whose token answers; empty while the TA is down or
    /// unreachable (the scrape still succeeds).
    pub fn sample(&self, shared: &Shared) -> Vec<TokenCount> {
        if !shared.ta_up() {
            return Vec::new();
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // A kept connection may belong to a TA that has since restarted: one retry on a fresh one.
        for _ in 0..2 {
            let client = match conn.as_mut() {
                Some(c) => c,
                None => match Client::connect_endpoint(&shared.ta_address, CLIENT_NAME) {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        tracing::debug!(error = %e, "metrics: cannot reach the TA for token object counts");
                        return Vec::new();
                    }
                },
            };
            match query(client) {
                Ok(v) => return v,
                Err(e) => {
                    tracing::debug!(error = %e, "metrics: token object counts failed; reconnecting");
                    *conn = None;
                }
            }
        }
        Vec::new()
    }
}

fn query(c: &mut Client) -> Result<Vec<TokenCount>, CallError> {
    let slots = match c.call(&Request::GetSlotList)? {
        Reply::Handles(s) => s,
        _ => return Err(CallError::UnexpectedReply("GetSlotList")),
    };
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        match c.call(&Request::GetTokenInfo { slot }) {
            Ok(Reply::TokenInfo(t)) => {
                out.push(TokenCount { slot, label: t.label.trim_end().to_string(), objects: t.total_objects, capacity: t.max_objects })
            }
            Ok(_) => return Err(CallError::UnexpectedReply("GetTokenInfo")),
            // A slot without a token is simply not reported.
            Err(CallError::Status { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
