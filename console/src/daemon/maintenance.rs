//! Housekeeping on a schedule: at start and every hour, host samples older
//! than `--sample-retention-days` (every heartbeat stores one, so a fleet
//! writes hosts x 86400 / interval rows a day) and enrollment tokens that
//! expired unused are deleted, in batches on a connection of its own, so
//! heartbeats never wait behind one large delete; with
//! `--job-retention-days`, jobs and rollouts that finished before then
//! ([`Store::prune_jobs`]); and the audit log's chain is verified
//! (`teehsm_console_audit_chain_ok`, `teehsm_console_audit_entries`).

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
    pub jobs: u64,
    pub rollouts: u64,
}

/// How long things are kept, in days (0: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `--sample-retention-days`.
    pub sample_days: u64,
    /// `--job-retention-days`.
    pub job_days: u64,
}

/// One pass: samples older than `retention.sample_days`, expired unused
/// enrollment tokens, and finished jobs and rollouts older than
/// `retention.job_days`.
pub fn prune(store: &mut Store, now_ms: u64, retention: Retention) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    if retention.job_days > 0 {
        let j = store.prune_jobs(now_ms, retention.job_days)?;
        pruned.jobs = j.jobs;
        pruned.rollouts = j.rollouts;
    }
    let retention_days = retention.sample_days;
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
pub async fn run(shared: Arc<Shared>, store: Store, retention: Retention, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut store = Some(store);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(mut st) = store.take() else { return };
        let now = super::now_ms();
        let key = shared.audit_key.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let r = prune(&mut st, now, retention);
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
                shared.metrics.pruned_rows.with_label_values(&["jobs"]).inc_by(p.jobs);
                shared.metrics.pruned_rows.with_label_values(&["rollouts"]).inc_by(p.rollouts);
                if p != Pruned::default() {
                    tracing::info!(
                        samples = p.samples,
                        tokens = p.tokens,
                        jobs = p.jobs,
                        rollouts = p.rollouts,
                        sample_retention_days = retention.sample_days,
                        job_retention_days = retention.job_days,
                        "housekeeping: old samples, expired tokens and finished jobs deleted"
                    );
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

    on_both!(prunes_old_samples_in_batches_and_expired_tokens, prunes_finished_jobs_and_rollouts);

    fn prunes_finished_jobs_and_rollouts(db: &TestDb) {
        use crate::store::JobState;
        let mut store = db.open(1);
        for h in ["h1", "h2"] {
            store.add_host(&crate::store::testutil::new_host(h, "g")).unwrap();
        }
        let now = 400 * DAY;
        let old = now - 100 * DAY;
        let job = |store: &mut Store, state: JobState, at: u64| {
            let id = store.create_job("import_key", "h1", &serde_json::json!({}), at).unwrap();
            if state != JobState::Queued {
                store.update_job(id, JobState::Running, None, at).unwrap();
                if state != JobState::Running {
                    store.update_job(id, state, None, at).unwrap();
                }
            }
            id
        };
        let old_done = job(&mut store, JobState::Succeeded, old);
        let old_failed = job(&mut store, JobState::Failed, old);
        let old_running = job(&mut store, JobState::Running, old);
        let recent_done = job(&mut store, JobState::Succeeded, now - DAY);
        // A rollout all of whose jobs finished long ago, and one still running.
        for version in ["2.0.0", "3.0.0"] {
            store.add_package(&crate::store::testutil::package(version)).unwrap();
        }
        let done_rollout = store.create_rollout("2.0.0", &["h1".to_string(), "h2".to_string()], "alice", old).unwrap();
        let rollout_jobs = |store: &Store, id: u64| store.rollout(id).unwrap().unwrap().hosts.iter().map(|h| h.job.id).collect::<Vec<u64>>();
        for id in rollout_jobs(&store, done_rollout) {
            store.update_job(id, JobState::Running, None, old).unwrap();
            store.update_job(id, JobState::Succeeded, None, old).unwrap();
        }
        let running_rollout = store.create_rollout("3.0.0", &["h1".to_string()], "alice", old).unwrap();
        let newest = job(&mut store, JobState::Succeeded, old);
        let done_jobs = rollout_jobs(&store, done_rollout);
        let keep = Retention { sample_days: 0, job_days: 90 };
        let p = prune(&mut store, now, keep).unwrap();
        assert_eq!((p.jobs, p.rollouts), (4, 1), "{p:?}");
        for gone in [old_done, old_failed].into_iter().chain(done_jobs) {
            assert!(store.job(gone).unwrap().is_none(), "job {gone}");
        }
        for kept in [old_running, recent_done, newest] {
            assert!(store.job(kept).unwrap().is_some(), "job {kept}");
        }
        assert!(store.rollout(done_rollout).unwrap().is_none());
        assert!(store.rollout(running_rollout).unwrap().is_some(), "a rollout with an open job stays");
        assert_eq!(prune(&mut store, now, keep).unwrap(), Pruned::default());
        // The next job does not reuse an id.
        let next = job(&mut store, JobState::Queued, now);
        assert_eq!(next, newest + 1);
    }

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
        let keep = |days| Retention { sample_days: days, job_days: 0 };
        assert_eq!(prune(&mut store, now, keep(14)).unwrap(), Pruned { samples: BATCH + 3, tokens: 1, ..Pruned::default() });
        assert_eq!(store.samples("h1", 0).unwrap().len(), 2);
        assert_eq!(prune(&mut store, now, keep(14)).unwrap(), Pruned::default());
        // 0 keeps every sample.
        assert_eq!(prune(&mut store, now + 1000 * DAY, keep(0)).unwrap().samples, 0);
        assert_eq!(store.samples("h1", 0).unwrap().len(), 2);
    }
}
