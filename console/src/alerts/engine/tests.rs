use super::*;
use crate::alerts::report::{TaReport, TokenReport};
use crate::alerts::rules::{Process, RuleKind, Scope, Severity};

const T0: u64 = 1_795_737_600_000;

fn rule(id: &str, kind: RuleKind) -> Rule {
    Rule { id: id.into(), scope: Scope::All, kind, severity: Severity::Warning, for_ms: None, summary: None }
}

fn engine(rules: Vec<Rule>) -> AlertEngine {
    AlertEngine::new(RuleSet::new(Some(10_000), rules).expect("valid rules"))
}

fn ta(id: &str) -> TaReport {
    TaReport {
        platform: String::new(),
        measurement: String::new(),
        ta_id: id.into(),
        version: "0.1.0".into(),
        up: true,
        restarts_total: 0,
        self_test_ok: true,
        audit_chain_ok: true,
        tokens: vec![TokenReport { slot: 0, label: "dev-token".into(), keys: 10, capacity: 1000 }],
    }
}

fn host(id: &str, group: &str) -> HostReport {
    HostReport {
        host_id: id.into(),
        group: group.into(),
        reported_at_ms: T0,
        tas: vec![ta("ta-0")],
        ta_cpu_percent: 5.0,
        ta_memory_bytes: 100,
        ca_cpu_percent: 1.0,
        ca_memory_bytes: 100,
        memory_limit_bytes: 1000,
        packages: None,
    }
}

fn seen(id: &str, group: &str, at: u64) -> HostSeen {
    HostSeen { host_id: id.into(), group: group.into(), last_seen_ms: at, cert_not_after_ms: None }
}

fn fired(changes: &[AlertChange]) -> Vec<&Alert> {
    changes.iter().filter_map(|c| if let AlertChange::Fired(a) = c { Some(a) } else { None }).collect()
}

fn resolved(changes: &[AlertChange]) -> Vec<&Alert> {
    changes.iter().filter_map(|c| if let AlertChange::Resolved(a) = c { Some(a) } else { None }).collect()
}

fn set_keys(r: &mut HostReport, keys: u64, capacity: u64) {
    r.tas[0].tokens[0].keys = keys;
    r.tas[0].tokens[0].capacity = capacity;
}

#[test]
fn key_count_threshold_edges_and_dedup() {
    let mut e = engine(vec![rule("TokenNearlyFull", RuleKind::KeyCountPercent { threshold_percent: 80.0 })]);
    let mut h = host("h1", "eu");
    set_keys(&mut h, 799, 1000);
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());

    // Exactly 80 % fires.
    set_keys(&mut h, 800, 1000);
    let c = e.evaluate(T0 + 1, std::slice::from_ref(&h), &[], None);
    let f = fired(&c);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].host.as_deref(), Some("h1"));
    assert_eq!(f[0].ta.as_deref(), Some("ta-0"));
    assert_eq!(f[0].slot, Some(0));
    assert_eq!(f[0].group.as_deref(), Some("eu"));
    assert_eq!(f[0].starts_at_ms, T0 + 1);
    assert_eq!(f[0].kind, "key_count_percent");

    // Still firing: no change, however often; description refreshed.
    set_keys(&mut h, 900, 1000);
    for i in 2..10 {
        assert!(e.evaluate(T0 + i, std::slice::from_ref(&h), &[], None).is_empty());
    }
    assert_eq!(e.firing().count(), 1);
    assert_eq!(e.firing().next().map(|a| a.description.as_str()), Some("token dev-token on host h1 holds 900 of 1000 keys (90 %), threshold 80 %"));

    // Clears: resolved with ends_at, same fingerprint.
    let fp = f[0].fingerprint.clone();
    set_keys(&mut h, 10, 1000);
    let c = e.evaluate(T0 + 20, std::slice::from_ref(&h), &[], None);
    let r = resolved(&c);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].fingerprint, fp);
    assert_eq!(r[0].ends_at_ms, Some(T0 + 20));
    assert_eq!(r[0].starts_at_ms, T0 + 1);
    assert_eq!(e.firing().count(), 0);
    assert!(e.evaluate(T0 + 21, std::slice::from_ref(&h), &[], None).is_empty());
}

#[test]
fn key_count_capacity_zero_and_extremes() {
    let mut e = engine(vec![rule("Full", RuleKind::KeyCountPercent { threshold_percent: 100.0 })]);
    let mut h = host("h1", "");
    set_keys(&mut h, 5, 0);
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());
    set_keys(&mut h, u64::MAX, u64::MAX);
    let c = e.evaluate(T0, std::slice::from_ref(&h), &[], None);
    assert_eq!(fired(&c).len(), 1);
    assert_eq!(fired(&c)[0].group, None);
    set_keys(&mut h, u64::MAX - 1, u64::MAX);
    assert_eq!(resolved(&e.evaluate(T0, &[h], &[], None)).len(), 1);
    // Fractional threshold: 87.5 % of 8 keys is 7.
    let mut e = engine(vec![rule("F", RuleKind::KeyCountPercent { threshold_percent: 87.5 })]);
    let mut h = host("h1", "");
    set_keys(&mut h, 6, 8);
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());
    set_keys(&mut h, 7, 8);
    assert_eq!(fired(&e.evaluate(T0, &[h], &[], None)).len(), 1);
}

#[test]
fn one_alert_per_token_and_host() {
    let mut e = engine(vec![rule("Full", RuleKind::KeyCountPercent { threshold_percent: 50.0 })]);
    let mut h1 = host("h1", "");
    h1.tas[0].tokens.push(TokenReport { slot: 1, label: "b".into(), keys: 9, capacity: 10 });
    set_keys(&mut h1, 9, 10);
    let mut h2 = host("h2", "");
    set_keys(&mut h2, 9, 10);
    // The same host twice in the input still gives one alert per token.
    let reports = [h1.clone(), h2, h1];
    let c = e.evaluate(T0, &reports, &[], None);
    assert_eq!(fired(&c).len(), 3);
    let mut fps: Vec<&str> = fired(&c).iter().map(|a| a.fingerprint.as_str()).collect();
    fps.dedup();
    assert_eq!(fps.len(), 3);
    assert!(e.evaluate(T0 + 1, &reports, &[], None).is_empty());
}

#[test]
fn cpu_and_memory() {
    let mut e = engine(vec![
        rule("TaCpu", RuleKind::CpuPercent { process: Process::Ta, threshold: 90.0 }),
        rule("CaMem", RuleKind::MemoryPercent { process: Process::Ca, threshold: 80.0 }),
    ]);
    let mut h = host("h1", "");
    h.ta_cpu_percent = 89.9;
    h.ca_memory_bytes = 799;
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());
    h.ta_cpu_percent = 90.0;
    h.ca_memory_bytes = 800;
    let c = e.evaluate(T0, std::slice::from_ref(&h), &[], None);
    let mut ids: Vec<&str> = fired(&c).iter().map(|a| a.rule_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["CaMem", "TaCpu"]);
    let mem = fired(&c).into_iter().find(|a| a.rule_id == "CaMem").expect("mem");
    assert_eq!(mem.description, "CA process on host h1 uses 800 of 1000 bytes of its memory limit (80 %), threshold 80 %");
    assert_eq!(mem.ta, None);
    // The TA's memory does not count for a CA rule; limit 0 never fires;
    // NaN CPU never fires.
    h.ta_memory_bytes = 1000;
    h.ca_memory_bytes = 0;
    h.ta_cpu_percent = f64::NAN;
    let c = e.evaluate(T0 + 1, std::slice::from_ref(&h), &[], None);
    assert_eq!(resolved(&c).len(), 2);
    h.ca_memory_bytes = 5000;
    h.memory_limit_bytes = 0;
    assert!(e.evaluate(T0 + 2, &[h], &[], None).is_empty());
}

#[test]
fn for_ms_delays_firing() {
    let mut r = rule("TaCpu", RuleKind::CpuPercent { process: Process::Ta, threshold: 90.0 });
    r.for_ms = Some(60_000);
    let mut e = engine(vec![r]);
    let mut h = host("h1", "");
    h.ta_cpu_percent = 95.0;
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());
    assert!(e.evaluate(T0 + 59_999, std::slice::from_ref(&h), &[], None).is_empty());
    assert_eq!(e.state().pending.len(), 1);
    let c = e.evaluate(T0 + 60_000, std::slice::from_ref(&h), &[], None);
    assert_eq!(fired(&c).len(), 1);
    assert_eq!(fired(&c)[0].starts_at_ms, T0 + 60_000);
    assert!(e.state().pending.is_empty());

    // A dip below the threshold restarts the timer.
    h.ta_cpu_percent = 10.0;
    assert_eq!(resolved(&e.evaluate(T0 + 70_000, std::slice::from_ref(&h), &[], None)).len(), 1);
    h.ta_cpu_percent = 95.0;
    assert!(e.evaluate(T0 + 80_000, std::slice::from_ref(&h), &[], None).is_empty());
    h.ta_cpu_percent = 10.0;
    assert!(e.evaluate(T0 + 90_000, std::slice::from_ref(&h), &[], None).is_empty());
    assert!(e.state().pending.is_empty());
    h.ta_cpu_percent = 95.0;
    assert!(e.evaluate(T0 + 100_000, std::slice::from_ref(&h), &[], None).is_empty());
    assert!(e.evaluate(T0 + 150_000, std::slice::from_ref(&h), &[], None).is_empty());
    assert_eq!(fired(&e.evaluate(T0 + 160_000, &[h], &[], None)).len(), 1);
}

#[test]
fn missed_heartbeats_fire_and_resolve() {
    // Interval 10 s (see `engine`), 3 intervals.
    let mut e = engine(vec![rule("HostSilent", RuleKind::MissedHeartbeats { intervals: 3 })]);
    let h = host("h1", "eu");
    let s = [seen("h1", "eu", T0), seen("h2", "us", T0 + 5_000)];
    assert!(e.evaluate(T0 + 30_000, std::slice::from_ref(&h), &s, None).is_empty());
    let c = e.evaluate(T0 + 30_001, std::slice::from_ref(&h), &s, None);
    let f = fired(&c);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].host.as_deref(), Some("h1"));
    assert_eq!(f[0].group.as_deref(), Some("eu"));
    assert_eq!(f[0].ta, None);
    assert!(f[0].description.contains("3 missed"), "{}", f[0].description);
    // h2 (no report at all) goes silent too.
    let c = e.evaluate(T0 + 35_001, std::slice::from_ref(&h), &s, None);
    assert_eq!(fired(&c).len(), 1);
    assert_eq!(fired(&c)[0].host.as_deref(), Some("h2"));
    // h1 returns.
    let s = [seen("h1", "eu", T0 + 40_000), seen("h2", "us", T0 + 5_000)];
    let c = e.evaluate(T0 + 40_000, &[h], &s, None);
    assert_eq!(resolved(&c).len(), 1);
    assert_eq!(resolved(&c)[0].host.as_deref(), Some("h1"));
    assert_eq!(e.firing().count(), 1);
    // A clock going backwards (last seen in the future) is not silence.
    let s = [seen("h2", "us", T0 + 1_000_000)];
    assert_eq!(resolved(&e.evaluate(T0 + 50_000, &[], &s, None)).len(), 1);
}

#[test]
fn scopes() {
    let mut by_group = rule("G", RuleKind::TaDown {});
    by_group.scope = Scope::Group("eu".into());
    let mut by_host = rule("H", RuleKind::TaDown {});
    by_host.scope = Scope::Host("h2".into());
    let mut by_ta = rule("T", RuleKind::TaDown {});
    by_ta.scope = Scope::Ta("ta-1".into());
    let mut silent_eu = rule("S", RuleKind::MissedHeartbeats { intervals: 1 });
    silent_eu.scope = Scope::Group("eu".into());
    let mut e = engine(vec![by_group, by_host, by_ta, silent_eu]);

    let mut h1 = host("h1", "eu");
    h1.tas[0].up = false;
    h1.tas.push(ta("ta-1"));
    h1.tas[1].up = false;
    let mut h2 = host("h2", "us");
    h2.tas[0].up = false;
    let mut h3 = host("h3", "us");
    h3.tas[0].up = false;
    let s = [seen("h1", "eu", T0), seen("h2", "us", T0), seen("h3", "us", T0)];
    let c = e.evaluate(T0 + 20_000, &[h1, h2, h3], &s, None);
    let mut got: Vec<(String, String, String)> =
        fired(&c).iter().map(|a| (a.rule_id.clone(), a.host.clone().unwrap_or_default(), a.ta.clone().unwrap_or_default())).collect();
    got.sort();
    let want: Vec<(String, String, String)> = [("G", "h1", "ta-0"), ("G", "h1", "ta-1"), ("H", "h2", "ta-0"), ("S", "h1", ""), ("T", "h1", "ta-1")]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn per_ta_flags() {
    let mut e =
        engine(vec![rule("Down", RuleKind::TaDown {}), rule("SelfTest", RuleKind::SelfTestFailed {}), rule("Audit", RuleKind::AuditChainBroken {})]);
    let mut h = host("h1", "");
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());
    h.tas[0].up = false;
    h.tas[0].self_test_ok = false;
    h.tas[0].audit_chain_ok = false;
    let c = e.evaluate(T0 + 1, std::slice::from_ref(&h), &[], None);
    assert_eq!(fired(&c).len(), 3);
    let audit = fired(&c).into_iter().find(|a| a.rule_id == "Audit").expect("audit");
    assert_eq!(audit.description, "the hash chain of the audit log of TA ta-0 on host h1 does not verify");
    h.tas[0].up = true;
    let c = e.evaluate(T0 + 2, std::slice::from_ref(&h), &[], None);
    assert_eq!(resolved(&c).len(), 1);
    assert_eq!(resolved(&c)[0].rule_id, "Down");
    // The TA disappears from the report: its alerts resolve.
    h.tas.clear();
    assert_eq!(resolved(&e.evaluate(T0 + 3, &[h], &[], None)).len(), 2);
}

#[test]
fn ta_restarting_window() {
    let mut e = engine(vec![rule("Restarting", RuleKind::TaRestarting { restarts_within_ms: 60_000, min_restarts: 2 })]);
    let mut h = host("h1", "");
    // First sighting is the baseline, however high the counter.
    h.tas[0].restarts_total = 7;
    assert!(e.evaluate(T0, std::slice::from_ref(&h), &[], None).is_empty());
    h.tas[0].restarts_total = 8;
    assert!(e.evaluate(T0 + 10_000, std::slice::from_ref(&h), &[], None).is_empty());
    h.tas[0].restarts_total = 9;
    let c = e.evaluate(T0 + 20_000, std::slice::from_ref(&h), &[], None);
    assert_eq!(fired(&c).len(), 1);
    assert!(fired(&c)[0].description.contains("restarted 2 times in the last 1 min"), "{}", fired(&c)[0].description);
    // Same counter: still firing until the first restart leaves the window.
    assert!(e.evaluate(T0 + 70_000, std::slice::from_ref(&h), &[], None).is_empty());
    let c = e.evaluate(T0 + 70_001, std::slice::from_ref(&h), &[], None);
    assert_eq!(resolved(&c).len(), 1);
    // Counter reset (CA restarted) is a new baseline, not a restart burst.
    h.tas[0].restarts_total = 0;
    assert!(e.evaluate(T0 + 80_000, std::slice::from_ref(&h), &[], None).is_empty());
    h.tas[0].restarts_total = 5;
    assert_eq!(fired(&e.evaluate(T0 + 90_000, &[h], &[], None)).len(), 1);
}

#[test]
fn agent_certificate_expiry_fires_before_the_end_and_resolves_on_renewal() {
    const DAY: u64 = 86_400_000;
    let mut e = engine(vec![rule("AgentCertificateExpiring", RuleKind::AgentCertificateExpiry { warn_before_ms: 14 * DAY })]);
    let with_cert = |end: Option<u64>| vec![HostSeen { cert_not_after_ms: end, ..seen("h1", "eu", T0) }];
    assert!(e.evaluate(T0, &[], &with_cert(Some(T0 + 15 * DAY)), None).is_empty(), "15 days left");
    assert!(e.evaluate(T0, &[], &with_cert(None), None).is_empty(), "unknown expiry");
    let c = e.evaluate(T0, &[], &with_cert(Some(T0 + 14 * DAY)), None);
    let f = fired(&c);
    assert_eq!((f.len(), f[0].host.as_deref(), f[0].kind.as_str()), (1, Some("h1"), "agent_certificate_expiry"));
    assert!(f[0].summary.contains("expires soon") && f[0].description.contains("(in 14 d)"), "{:?}", f[0]);
    // Expired: still the same alert, now saying so.
    assert!(e.evaluate(T0 + 15 * DAY, &[], &with_cert(Some(T0 + 14 * DAY)), None).is_empty());
    assert!(e.firing().next().is_some_and(|a| a.summary.contains("has expired")));
    // Renewed: resolved.
    let c = e.evaluate(T0 + 15 * DAY, &[], &with_cert(Some(T0 + 105 * DAY)), None);
    assert_eq!(resolved(&c).len(), 1);
}

#[test]
fn licence_rules() {
    let day = 86_400_000;
    let mut e = engine(vec![
        rule("LicenceExpiring", RuleKind::LicenceExpiry { warn_before_ms: 30 * day }),
        rule("LicenceHosts", RuleKind::LicenceHostsExceeded {}),
    ]);
    let lic = Licence { max_hosts: 2, expires_at_ms: T0 + 31 * day };
    let reports = [host("h1", ""), host("h2", "")];
    // No licence: quiet.
    assert!(e.evaluate(T0, &reports, &[seen("h3", "", T0)], None).is_empty());
    assert!(e.evaluate(T0, &reports, &[seen("h1", "", T0)], Some(&lic)).is_empty());
    // Exactly 30 days before expiry: warns.
    let c = e.evaluate(T0 + day, &reports, &[seen("h1", "", T0)], Some(&lic));
    let f = fired(&c);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule_id, "LicenceExpiring");
    assert_eq!(f[0].host, None);
    assert!(f[0].description.contains("in 30 d"), "{}", f[0].description);
    // Expired: same alert keeps firing.
    assert!(e.evaluate(T0 + 40 * day, &reports, &[], Some(&lic)).is_empty());
    let a = e.firing().next().expect("firing");
    assert_eq!(a.summary, "licence expired");
    assert!(a.description.starts_with("the licence expired at 2026-12-28T"), "{}", a.description);
    // A third host (seen only) exceeds max_hosts = 2.
    let c = e.evaluate(T0 + 40 * day, &reports, &[seen("h3", "", T0)], Some(&lic));
    assert_eq!(fired(&c).len(), 1);
    assert_eq!(fired(&c)[0].description, "3 hosts known, the licence allows 2");
    // Renewed licence with more hosts: both resolve.
    let renewed = Licence { max_hosts: 3, expires_at_ms: T0 + 400 * day };
    let c = e.evaluate(T0 + 41 * day, &reports, &[seen("h3", "", T0)], Some(&renewed));
    assert_eq!(resolved(&c).len(), 2);
}

#[test]
fn state_round_trip_and_rebuild() {
    let mut slow = rule("TaCpu", RuleKind::CpuPercent { process: Process::Ta, threshold: 90.0 });
    slow.for_ms = Some(10_000);
    let rules = vec![rule("Full", RuleKind::KeyCountPercent { threshold_percent: 80.0 }), slow];
    let mut e = engine(rules.clone());
    let mut h = host("h1", "");
    set_keys(&mut h, 900, 1000);
    h.ta_cpu_percent = 99.0;
    h.tas[0].restarts_total = 3;
    let c = e.evaluate(T0, std::slice::from_ref(&h), &[], None);
    assert_eq!(fired(&c).len(), 1);

    let json = serde_json::to_string(e.state()).expect("serialize");
    let state: EngineState = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(&state, e.state());
    let set = RuleSet::new(Some(10_000), rules.clone()).expect("rules");
    let mut resumed = AlertEngine::with_state(set.clone(), state);
    // The pending CPU condition keeps its timer; the key alert stays deduplicated.
    let c = resumed.evaluate(T0 + 10_000, std::slice::from_ref(&h), &[], None);
    assert_eq!(fired(&c).len(), 1);
    assert_eq!(fired(&c)[0].rule_id, "TaCpu");

    // Rebuilt from the store's alerts (resolved ones ignored): no re-fire.
    let mut stored: Vec<Alert> = resumed.firing().cloned().collect();
    let mut old = stored[0].clone();
    old.fingerprint = "ffffffffffffffff".into();
    old.ends_at_ms = Some(T0);
    stored.push(old);
    stored[0].acknowledged_by = Some("alice".into());
    let mut rebuilt = AlertEngine::from_firing(set.clone(), stored);
    assert_eq!(rebuilt.firing().count(), 2);
    assert!(rebuilt.evaluate(T0 + 20_000, std::slice::from_ref(&h), &[], None).is_empty());
    // Acknowledgement is carried along untouched into the resolution.
    set_keys(&mut h, 0, 1000);
    h.ta_cpu_percent = 0.0;
    let c = rebuilt.evaluate(T0 + 30_000, &[h], &[], None);
    assert_eq!(resolved(&c).len(), 2);
    assert!(resolved(&c).iter().any(|a| a.acknowledged_by.as_deref() == Some("alice")));

    // A change list round-trips too (the daemon may queue them).
    let json = serde_json::to_string(&c).expect("ser");
    assert!(json.contains("\"change\":\"resolved\""));
    let back: Vec<AlertChange> = serde_json::from_str(&json).expect("de");
    assert_eq!(back, c);
}

#[test]
fn removed_rule_resolves_its_alerts() {
    let mut e = engine(vec![rule("Down", RuleKind::TaDown {})]);
    let mut h = host("h1", "");
    h.tas[0].up = false;
    assert_eq!(fired(&e.evaluate(T0, std::slice::from_ref(&h), &[], None)).len(), 1);
    e.set_rules(RuleSet::empty());
    assert_eq!(resolved(&e.evaluate(T0 + 1, &[h], &[], None)).len(), 1);
}

#[test]
fn report_json_shape() {
    let h = host("h1", "eu");
    let v = serde_json::to_value(&h).expect("ser");
    for k in
        ["host_id", "group", "reported_at_ms", "tas", "ta_cpu_percent", "ta_memory_bytes", "ca_cpu_percent", "ca_memory_bytes", "memory_limit_bytes"]
    {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["tas"][0]["tokens"][0]["label"], "dev-token");
    let back: HostReport = serde_json::from_value(v).expect("de");
    assert_eq!(back, h);
}

#[test]
fn extreme_inputs_do_not_panic() {
    let set = RuleSet::from_toml(
        r#"
heartbeat_interval_ms = 9223372036854775807
[[rules]]
id = "a"
severity = "info"
kind = { type = "missed_heartbeats", intervals = 9223372036854775807 }
[[rules]]
id = "b"
severity = "info"
kind = { type = "ta_restarting", restarts_within_ms = 9223372036854775807, min_restarts = 1 }
[[rules]]
id = "c"
severity = "info"
kind = { type = "memory_percent", process = "ta", threshold = 1e300 }
[[rules]]
id = "d"
severity = "info"
kind = { type = "licence_expiry", warn_before_ms = 9223372036854775807 }
[[rules]]
id = "e"
severity = "info"
kind = { type = "key_count_percent", threshold_percent = 1e-9 }
"#,
    )
    .expect("valid");
    let mut e = AlertEngine::new(set);
    let mut h = host("", "");
    h.ta_memory_bytes = u64::MAX;
    h.memory_limit_bytes = 1;
    h.tas[0].restarts_total = u64::MAX;
    set_keys(&mut h, 0, u64::MAX);
    let lic = Licence { max_hosts: 0, expires_at_ms: u64::MAX };
    for now in [0, 1, u64::MAX - 1, u64::MAX] {
        let _ = e.evaluate(now, std::slice::from_ref(&h), &[seen("", "", u64::MAX), seen("x", "", 0)], Some(&lic));
        h.tas[0].restarts_total = h.tas[0].restarts_total.wrapping_add(1);
    }
    let _ = crate::alerts::alertmanager_payload(&e.evaluate(u64::MAX, &[], &[], None), "");
}
