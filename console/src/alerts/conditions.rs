//! Which conditions of a rule hold right now. Pure: no state but the
//! restart tracker, which the engine updates before asking.

use std::collections::BTreeSet;

use super::report::{HostReport, HostSeen, Licence, TaReport};
use super::restarts::RestartTracker;
use super::rules::{Process, Rule, RuleKind, Scope};
use super::text::{duration, pct, ratio_pct, rfc3339};

/// Everything a rule is evaluated against.
pub struct Inputs<'a> {
    pub now_ms: u64,
    pub reports: &'a [HostReport],
    pub seen: &'a [HostSeen],
    pub licence: Option<&'a Licence>,
    pub restarts: &'a RestartTracker,
    pub heartbeat_interval_ms: Option<u64>,
}

/// One holding condition: what it is about and the texts of its alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub host: Option<String>,
    pub group: Option<String>,
    pub ta: Option<String>,
    pub slot: Option<u64>,
    pub summary: String,
    pub description: String,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `part >= threshold % of whole`, exactly (threshold to 1/1000 %);
/// `whole == 0` never holds.
pub(crate) fn at_least_percent(part: u64, whole: u64, threshold: f64) -> bool {
    if whole == 0 || !threshold.is_finite() {
        return false;
    }
    let lhs = u128::from(part) * 100_000;
    // Float to int casts saturate (negative: 0), no panic.
    let milli = (threshold * 1000.0).round() as u128;
    lhs >= milli.saturating_mul(u128::from(whole))
}

fn host_in_scope(scope: &Scope, host_id: &str, group: &str, tas: &[TaReport]) -> bool {
    match scope {
        Scope::All => true,
        Scope::Group(g) => g == group,
        Scope::Host(h) => h == host_id,
        Scope::Ta(t) => tas.iter().any(|ta| &ta.ta_id == t),
    }
}

fn ta_in_scope(scope: &Scope, report: &HostReport, ta: &TaReport) -> bool {
    match scope {
        Scope::Ta(t) => &ta.ta_id == t,
        other => host_in_scope(other, &report.host_id, &report.group, &report.tas),
    }
}

/// The conditions of `rule` that hold now.
pub fn evaluate(rule: &Rule, inp: &Inputs<'_>) -> Vec<Condition> {
    match &rule.kind {
        RuleKind::KeyCountPercent { threshold_percent } => key_count(rule, inp, *threshold_percent),
        RuleKind::CpuPercent { process, threshold } => cpu(rule, inp, *process, *threshold),
        RuleKind::MemoryPercent { process, threshold } => memory(rule, inp, *process, *threshold),
        RuleKind::MissedHeartbeats { intervals } => missed_heartbeats(rule, inp, *intervals),
        RuleKind::TaDown {} => per_ta(
            rule,
            inp,
            |_, ta| !ta.up,
            |h, ta| (format!("TA {} down on host {h}", ta.ta_id), format!("TA {} (version {}) on host {h} is down", ta.ta_id, ta.version)),
        ),
        RuleKind::TaRestarting { restarts_within_ms, min_restarts } => {
            let (window, min) = (*restarts_within_ms, *min_restarts);
            per_ta(
                rule,
                inp,
                |r, ta| inp.restarts.restarts_within(&r.host_id, &ta.ta_id, inp.now_ms, window) >= min,
                |h, ta| {
                    let n = inp.restarts.restarts_within(h, &ta.ta_id, inp.now_ms, window);
                    (
                        format!("TA {} restarting on host {h}", ta.ta_id),
                        format!(
                            "TA {} on host {h} restarted {n} times in the last {} ({} in total), threshold {min}",
                            ta.ta_id,
                            duration(window),
                            ta.restarts_total
                        ),
                    )
                },
            )
        }
        RuleKind::SelfTestFailed {} => per_ta(
            rule,
            inp,
            |_, ta| !ta.self_test_ok,
            |h, ta| {
                (
                    format!("TA {} self-tests failed on host {h}", ta.ta_id),
                    format!("TA {} (version {}) on host {h} failed its self-tests", ta.ta_id, ta.version),
                )
            },
        ),
        RuleKind::AuditChainBroken {} => per_ta(
            rule,
            inp,
            |_, ta| !ta.audit_chain_ok,
            |h, ta| {
                (
                    format!("audit chain broken on TA {} of host {h}", ta.ta_id),
                    format!("the hash chain of the audit log of TA {} on host {h} does not verify", ta.ta_id),
                )
            },
        ),
        RuleKind::LicenceExpiry { warn_before_ms } => licence_expiry(inp, *warn_before_ms),
        RuleKind::AgentCertificateExpiry { warn_before_ms } => agent_certificate_expiry(rule, inp, *warn_before_ms),
        RuleKind::LicenceHostsExceeded {} => licence_hosts(inp),
    }
}

fn key_count(rule: &Rule, inp: &Inputs<'_>, threshold: f64) -> Vec<Condition> {
    let mut out = Vec::new();
    for r in inp.reports {
        for ta in r.tas.iter().filter(|ta| ta_in_scope(&rule.scope, r, ta)) {
            for t in ta.tokens.iter().filter(|t| at_least_percent(t.keys, t.capacity, threshold)) {
                out.push(Condition {
                    host: Some(r.host_id.clone()),
                    group: non_empty(&r.group),
                    ta: Some(ta.ta_id.clone()),
                    slot: Some(t.slot),
                    summary: format!("token {} on host {} nearly full", t.label, r.host_id),
                    description: format!(
                        "token {} on host {} holds {} of {} keys ({} %), threshold {} %",
                        t.label,
                        r.host_id,
                        t.keys,
                        t.capacity,
                        pct(ratio_pct(t.keys, t.capacity)),
                        pct(threshold)
                    ),
                });
            }
        }
    }
    out
}

fn host_condition(r: &HostReport, summary: String, description: String) -> Condition {
    Condition { host: Some(r.host_id.clone()), group: non_empty(&r.group), ta: None, slot: None, summary, description }
}

fn cpu(rule: &Rule, inp: &Inputs<'_>, process: Process, threshold: f64) -> Vec<Condition> {
    let p = process.as_str();
    inp.reports
        .iter()
        .filter(|r| host_in_scope(&rule.scope, &r.host_id, &r.group, &r.tas))
        .filter_map(|r| {
            let used = match process {
                Process::Ta => r.ta_cpu_percent,
                Process::Ca => r.ca_cpu_percent,
            };
            (used >= threshold).then(|| {
                host_condition(
                    r,
                    format!("{p} CPU high on host {}", r.host_id),
                    format!("{p} process on host {} uses {} % CPU, threshold {} %", r.host_id, pct(used), pct(threshold)),
                )
            })
        })
        .collect()
}

fn memory(rule: &Rule, inp: &Inputs<'_>, process: Process, threshold: f64) -> Vec<Condition> {
    let p = process.as_str();
    inp.reports
        .iter()
        .filter(|r| host_in_scope(&rule.scope, &r.host_id, &r.group, &r.tas))
        .filter_map(|r| {
            let used = match process {
                Process::Ta => r.ta_memory_bytes,
                Process::Ca => r.ca_memory_bytes,
            };
            at_least_percent(used, r.memory_limit_bytes, threshold).then(|| {
                host_condition(
                    r,
                    format!("{p} memory high on host {}", r.host_id),
                    format!(
                        "{p} process on host {} uses {} of {} bytes of its memory limit ({} %), threshold {} %",
                        r.host_id,
                        used,
                        r.memory_limit_bytes,
                        pct(ratio_pct(used, r.memory_limit_bytes)),
                        pct(threshold)
                    ),
                )
            })
        })
        .collect()
}

/// The hosts with a heartbeat time that the rule's scope takes in.
fn seen_in_scope<'a>(rule: &'a Rule, inp: &'a Inputs<'a>) -> impl Iterator<Item = &'a HostSeen> + 'a {
    inp.seen.iter().filter(move |s| {
        let tas = inp.reports.iter().find(|r| r.host_id == s.host_id).map(|r| r.tas.as_slice()).unwrap_or(&[]);
        host_in_scope(&rule.scope, &s.host_id, &s.group, tas)
    })
}

fn missed_heartbeats(rule: &Rule, inp: &Inputs<'_>, intervals: u64) -> Vec<Condition> {
    let Some(interval) = inp.heartbeat_interval_ms.filter(|ms| *ms > 0) else {
        return Vec::new();
    };
    let limit = interval.saturating_mul(intervals);
    seen_in_scope(rule, inp)
        .filter_map(|s| {
            let silent = inp.now_ms.saturating_sub(s.last_seen_ms);
            (silent > limit).then(|| Condition {
                host: Some(s.host_id.clone()),
                group: non_empty(&s.group),
                ta: None,
                slot: None,
                summary: format!("host {} stopped sending heartbeats", s.host_id),
                description: format!(
                    "host {} last sent a heartbeat {} ago at {} ({} missed at an interval of {}), threshold {intervals}",
                    s.host_id,
                    duration(silent),
                    rfc3339(s.last_seen_ms),
                    silent / interval,
                    duration(interval)
                ),
            })
        })
        .collect()
}

fn per_ta(
    rule: &Rule,
    inp: &Inputs<'_>,
    holds: impl Fn(&HostReport, &TaReport) -> bool,
    texts: impl Fn(&str, &TaReport) -> (String, String),
) -> Vec<Condition> {
    let mut out = Vec::new();
    for r in inp.reports {
        for ta in r.tas.iter().filter(|ta| ta_in_scope(&rule.scope, r, ta) && holds(r, ta)) {
            let (summary, description) = texts(&r.host_id, ta);
            out.push(Condition {
                host: Some(r.host_id.clone()),
                group: non_empty(&r.group),
                ta: Some(ta.ta_id.clone()),
                slot: None,
                summary,
                description,
            });
        }
    }
    out
}

fn global(summary: String, description: String) -> Vec<Condition> {
    vec![Condition { host: None, group: None, ta: None, slot: None, summary, description }]
}

fn licence_expiry(inp: &Inputs<'_>, warn_before_ms: u64) -> Vec<Condition> {
    let Some(l) = inp.licence else {
        return Vec::new();
    };
    if inp.now_ms >= l.expires_at_ms {
        return global("licence expired".into(), format!("the licence expired at {}", rfc3339(l.expires_at_ms)));
    }
    let left = l.expires_at_ms - inp.now_ms;
    if left > warn_before_ms {
        return Vec::new();
    }
    global(
        "licence expires soon".into(),
        format!("the licence expires at {} (in {}), warning {} before", rfc3339(l.expires_at_ms), duration(left), duration(warn_before_ms)),
    )
}

fn agent_certificate_expiry(rule: &Rule, inp: &Inputs<'_>, warn_before_ms: u64) -> Vec<Condition> {
    seen_in_scope(rule, inp)
        .filter_map(|s| {
            let end = s.cert_not_after_ms?;
            let (summary, description) = if inp.now_ms >= end {
                (
                    format!("the agent certificate of host {} has expired", s.host_id),
                    format!("the agent certificate of host {} expired at {}; enroll the host again", s.host_id, rfc3339(end)),
                )
            } else if end - inp.now_ms <= warn_before_ms {
                (
                    format!("the agent certificate of host {} expires soon", s.host_id),
                    format!(
                        "the agent certificate of host {} expires at {} (in {}) and has not been renewed; agents renew 30 days before, see the agent's log",
                        s.host_id,
                        rfc3339(end),
                        duration(end - inp.now_ms)
                    ),
                )
            } else {
                return None;
            };
            Some(Condition { host: Some(s.host_id.clone()), group: non_empty(&s.group), ta: None, slot: None, summary, description })
        })
        .collect()
}

fn licence_hosts(inp: &Inputs<'_>) -> Vec<Condition> {
    let Some(l) = inp.licence else {
        return Vec::new();
    };
    let hosts: BTreeSet<&str> = inp.reports.iter().map(|r| r.host_id.as_str()).chain(inp.seen.iter().map(|s| s.host_id.as_str())).collect();
    let n = hosts.len() as u64;
    if n <= l.max_hosts {
        return Vec::new();
    }
    global("more hosts than the licence allows".into(), format!("{n} hosts known, the licence allows {}", l.max_hosts))
}
