//! Restart tracking for `ta_restarting`: the agent reports a counter
//! (`restarts_total`); the console remembers when it saw it go up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::report::HostReport;

/// Most increases kept per TA (older ones are dropped first).
const MAX_INCREASES: usize = 256;

/// One observed increase of a TA's restart counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Increase {
    pub at_ms: u64,
    pub by: u64,
}

/// What the console knows about one TA's restart counter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestartTrack {
    pub last_total: u64,
    pub increases: Vec<Increase>,
}

/// Restart tracks by host id, then TA id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestartTracker {
    pub hosts: BTreeMap<String, BTreeMap<String, RestartTrack>>,
}

impl RestartTracker {
    /// Take in the latest reports at `now_ms`, keeping increases for
    /// `keep_ms`. The first sighting of a TA is its baseline (no increase);
    /// a counter going down (CA restarted) is a new baseline too. TAs
    /// absent from `reports` are forgotten.
    pub fn observe(&mut self, now_ms: u64, reports: &[HostReport], keep_ms: u64) {
        let mut next: BTreeMap<String, BTreeMap<String, RestartTrack>> = BTreeMap::new();
        for report in reports {
            for ta in &report.tas {
                let old = self.hosts.get_mut(&report.host_id).and_then(|m| m.remove(&ta.ta_id));
                let track = next
                    .entry(report.host_id.clone())
                    .or_default()
                    .entry(ta.ta_id.clone())
                    .or_insert_with(|| RestartTrack { last_total: ta.restarts_total, increases: Vec::new() });
                if let Some(mut old) = old {
                    if ta.restarts_total > old.last_total && keep_ms > 0 {
                        old.increases.push(Increase { at_ms: now_ms, by: ta.restarts_total - old.last_total });
                    }
                    old.last_total = ta.restarts_total;
                    *track = old;
                }
                let cutoff = now_ms.saturating_sub(keep_ms);
                track.increases.retain(|i| i.at_ms >= cutoff && keep_ms > 0);
                if track.increases.len() > MAX_INCREASES {
                    let drop = track.increases.len() - MAX_INCREASES;
                    track.increases.drain(..drop);
                }
            }
        }
        self.hosts = next;
    }

    /// Restarts of `ta` on `host` seen within the last `window_ms`.
    pub fn restarts_within(&self, host: &str, ta: &str, now_ms: u64, window_ms: u64) -> u64 {
        let cutoff = now_ms.saturating_sub(window_ms);
        self.hosts
            .get(host)
            .and_then(|m| m.get(ta))
            .map(|t| t.increases.iter().filter(|i| i.at_ms >= cutoff).fold(0u64, |n, i| n.saturating_add(i.by)))
            .unwrap_or(0)
    }
}
