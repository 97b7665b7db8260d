//! Housekeeping on a schedule: at start and every hour, host samples older
//! than `--sample-retention-days` (every heartbeat stores one, so a fleet
//! writes hosts x 86400 / interval rows a day) and enrollment tokens that
//! expired unused are deleted, in batches on a connection of its own, so
//! heartbeats never wait behind one large delete; and the audit log's chain
//! is verified (`teehsm_console_audit_chain_ok`, `teehsm_console_audit_entries`).

use super::Shared;
use crate::store::{Result, Store};
use std::sync::Arc;
use std::time::Duration;

/// How often the housekeeping runs.
pub const PERIOD: Duration = Duration::from_secs(60 * 60);
/// Samples deleted per write transaction (small in tests, to cross batches).
#[cfg(not(test))]
const BATCH: u64 = 5_000;
#[cfg(test)]
const BATCH: u64 = 20;

/// What one housekeeping pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub samples: u64,
    pub tokens: u64,
}

/// One pass: samples older than `retention_days` (0: keep them all) and
/// expired unused enrollment tokens.
pub fn prune(store: &Store, now_ms: u64, retention_days: u64) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    if retention_days > 0 {
        loop {
            let n = store.prune_samples(now_ms, retention_days, BATCH)?;
            pruned.samples += n;
            if n < BATCH {
                break;
            }
        }
    }
    pruned.tokens = store.prune_enrollment_tokens(now_ms)?;
    Ok(pruned)
}

/// Exports the result of an audit log verification, and logs a broken chain.
pub fn record_audit_check(shared: &Shared, check: &crate::store::AuditCheck) {
    shared.metrics.audit_chain_ok.set(i64::from(check.ok()));
    shared.metrics.audit_entries.set(i64::try_from(check.last_seq).unwrap_or(i64::MAX));
    if let (Some(at), Some(why)) = (check.broken_at, &check.reason) {
        tracing::error!(entry = at, reason = %why, "the audit log's chain is broken");
    }
}

/// Runs [`prune`] and the audit verification at start and every `period` until `stop`.
pub async fn run(shared: Arc<Shared>, store: Store, retention_days: u64, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut store = Some(store);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(st) = store.take() else { return };
        let now = super::now_ms();
        let key = shared.audit_key.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let r = prune(&st, now, retention_days);
            let check = st.verify_audit(&key);
            (st, r, check)
        })
        .await;
        let result = match outcome {
            Ok((st, r, check)) => {
                store = Some(st);
                match check {
                    Ok(c) => record_audit_check(&shared, &c),
                    Err(e) => tracing::error!(error = %e, "cannot verify the audit log"),
                }
                Ok(r)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Ok(p)) => {
                shared.metrics.pruned_rows.with_label_values(&["host_samples"]).inc_by(p.samples);
                shared.metrics.pruned_rows.with_label_values(&["enrollment_tokens"]).inc_by(p.tokens);
                if p != Pruned::default() {
                    tracing::info!(samples = p.samples, tokens = p.tokens, retention_days, "housekeeping: old samples and expired tokens deleted");
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "housekeeping failed; trying again in an hour"),
            Err(e) => {
                tracing::error!(error = %e, "the housekeeping task panicked; housekeeping stopped");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{on_both, TestDb};

    const DAY: u64 = 86_400_000;

    on_both!(prunes_old_samples_in_batches_and_expired_tokens);

    fn prunes_old_samples_in_batches_and_expired_tokens(db: &TestDb) {
        let mut store = db.open(1);
        store.add_host(&crate::store::testutil::new_host("h1", "g")).unwrap();
        let now = 400 * DAY;
        // BATCH + 3 samples older than 14 days, 2 newer.
        for i in 0..BATCH + 3 {
            store.record_report(&crate::store::testutil::host_report("h1", 1), 100 * DAY + i).unwrap();
        }
        for t in [now - DAY, now] {
            store.record_report(&crate::store::testutil::host_report("h1", 1), t).unwrap();
        }
        store.create_enrollment_token("old", "old", 0, now - 1).unwrap();
        store.create_enrollment_token("live", "live", 0, now + DAY).unwrap();
        assert_eq!(prune(&store, now, 14).unwrap(), Pruned { samples: BATCH + 3, tokens: 1 });
        assert_eq!(store.samples("h1", 0).unwrap().len(), 2);
        assert_eq!(prune(&store, now, 14).unwrap(), Pruned::default());
        // 0 keeps every sample.
        assert_eq!(prune(&store, now + 1000 * DAY, 0).unwrap().samples, 0);
        assert_eq!(store.samples("h1", 0).unwrap().len(), 2);
    }
}
