use crate::alerts::{Alert, AlertChange, EngineState, Severity};
use crate::store::testutil::{on_both, TestDb};
use crate::store::{Page, StoreError};

fn alert(fp: &str, starts: u64) -> Alert {
    Alert {
        fingerprint: fp.into(),
        rule_id: "TokenNearlyFull".into(),
        kind: "key_count_percent".into(),
        severity: Severity::Warning,
        host: Some("h1".into()),
        group: Some("eu".into()),
        ta: Some("ta-0".into()),
        slot: Some(3),
        summary: "nearly full".into(),
        description: "900 of 1000".into(),
        starts_at_ms: starts,
        ends_at_ms: None,
        acknowledged_by: None,
        acknowledged_at_ms: None,
    }
}

fn resolved(mut a: Alert, ends: u64) -> Alert {
    a.ends_at_ms = Some(ends);
    a.description = "500 of 1000".into();
    a
}

fn apply_ack_resolve(db: &TestDb) {
    let mut store = db.open(1);
    let a = alert("aaaa", 100);
    let b = alert("bbbb", 200);
    store.apply_changes(&[AlertChange::Fired(a.clone()), AlertChange::Fired(b.clone())]).unwrap();
    assert_eq!(store.firing_alerts().unwrap(), vec![a.clone(), b.clone()]);
    // Replaying the same batch changes nothing.
    store.apply_changes(&[AlertChange::Fired(a.clone())]).unwrap();
    assert_eq!(store.firing_alerts().unwrap().len(), 2);

    store.ack_alert("aaaa", "alice", 150).unwrap();
    let firing = store.firing_alerts().unwrap();
    assert_eq!(firing[0].acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(firing[0].acknowledged_at_ms, Some(150));
    assert!(matches!(store.ack_alert("nope", "alice", 151), Err(StoreError::NotFound { .. })));

    // The engine resolves `a` (it never carries the ack): the ack stays.
    store.apply_changes(&[AlertChange::Resolved(resolved(a.clone(), 300))]).unwrap();
    assert_eq!(store.firing_alerts().unwrap(), vec![b.clone()]);
    let history = store.alert_history(Page::new(0, 10)).unwrap();
    let ra = history.iter().find(|x| x.fingerprint == "aaaa").unwrap();
    assert_eq!(ra.ends_at_ms, Some(300));
    assert_eq!(ra.description, "500 of 1000");
    assert_eq!(ra.acknowledged_by.as_deref(), Some("alice"));
    // A resolved alert cannot be acknowledged.
    assert!(store.ack_alert("aaaa", "bob", 400).is_err());
}

fn refire_keeps_history_and_resolve_without_fire_is_recorded(db: &TestDb) {
    let mut store = db.open(1);
    let a = alert("aaaa", 100);
    store.apply_changes(&[AlertChange::Fired(a.clone())]).unwrap();
    store.apply_changes(&[AlertChange::Resolved(resolved(a.clone(), 200))]).unwrap();
    let again = alert("aaaa", 300);
    // A resolution the store never saw fire is recorded as resolved.
    let orphan = resolved(alert("cccc", 250), 260);
    store.apply_changes(&[AlertChange::Fired(again.clone()), AlertChange::Resolved(orphan)]).unwrap();
    assert_eq!(store.firing_alerts().unwrap(), vec![again]);
    let history = store.alert_history(Page::new(0, 10)).unwrap();
    let keys: Vec<(&str, u64, Option<u64>)> = history.iter().map(|a| (a.fingerprint.as_str(), a.starts_at_ms, a.ends_at_ms)).collect();
    assert_eq!(keys, vec![("aaaa", 300, None), ("cccc", 250, Some(260)), ("aaaa", 100, Some(200))]);
}

fn history_pages(db: &TestDb) {
    let mut store = db.open(1);
    let changes: Vec<AlertChange> = (0..25).map(|i| AlertChange::Fired(alert(&format!("fp{i:02}"), 1000 + i))).collect();
    store.apply_changes(&changes).unwrap();
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = store.alert_history(Page::new(offset, 10)).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        offset += page.len() as u64;
        seen.extend(page.into_iter().map(|a| a.starts_at_ms));
    }
    let expected: Vec<u64> = (0..25).rev().map(|i| 1000 + i).collect();
    assert_eq!(seen, expected);
}

fn batch_is_all_or_nothing(db: &TestDb) {
    let mut store = db.open(1);
    let mut bad = alert("bbbb", 100);
    bad.starts_at_ms = u64::MAX; // does not fit BIGINT
    let r = store.apply_changes(&[AlertChange::Fired(alert("aaaa", 1)), AlertChange::Fired(bad)]);
    assert!(matches!(r, Err(StoreError::OutOfRange(_))));
    assert!(store.firing_alerts().unwrap().is_empty());
}

fn engine_state_round_trips(db: &TestDb) {
    let store = db.open(1);
    assert_eq!(store.load_engine_state().unwrap(), None);
    let mut state = EngineState::default();
    state.firing.insert("aaaa".into(), alert("aaaa", 5));
    store.save_engine_state(&state, 10).unwrap();
    assert_eq!(store.load_engine_state().unwrap(), Some(state.clone()));
    state.firing.clear();
    store.save_engine_state(&state, 11).unwrap();
    assert_eq!(store.load_engine_state().unwrap(), Some(state));
}

/// The engine's output stored and the engine rebuilt from the store.
fn engine_round_trip_through_store(db: &TestDb) {
    use crate::alerts::{AlertEngine, HostReport, HostSeen, RuleSet, TaReport};
    let rules = RuleSet::from_toml(
        r#"
        [[rules]]
        id = "TaDown"
        kind = { type = "ta_down" }
        severity = "critical"
        "#,
    )
    .unwrap();
    let report = |up: bool| HostReport {
        host_id: "h1".into(),
        group: "eu".into(),
        reported_at_ms: 0,
        tas: vec![TaReport {
            platform: String::new(),
            measurement: String::new(),
            ta_id: "ta-0".into(),
            version: "1".into(),
            up,
            restarts_total: 0,
            self_test_ok: true,
            audit_chain_ok: true,
            tokens: vec![],
        }],
        ta_cpu_percent: 0.0,
        ta_memory_bytes: 0,
        ca_cpu_percent: 0.0,
        ca_memory_bytes: 0,
        memory_limit_bytes: 0,
        packages: None,
    };
    let seen = [HostSeen { host_id: "h1".into(), group: "eu".into(), last_seen_ms: 0, cert_not_after_ms: None }];
    let mut store = db.open(1);
    let mut engine = AlertEngine::new(rules.clone());
    let fired = engine.evaluate(1000, &[report(false)], &seen, None);
    assert_eq!(fired.len(), 1);
    store.apply_changes(&fired).unwrap();
    let fp = fired[0].alert().fingerprint.clone();
    store.ack_alert(&fp, "alice", 1500).unwrap();

    // Console restarts: the engine comes back from the store's firing alerts.
    let mut engine = AlertEngine::from_firing(rules, store.firing_alerts().unwrap());
    assert!(engine.evaluate(2000, &[report(false)], &seen, None).is_empty());
    let resolved = engine.evaluate(3000, &[report(true)], &seen, None);
    assert!(matches!(resolved.as_slice(), [AlertChange::Resolved(_)]));
    store.apply_changes(&resolved).unwrap();
    assert!(store.firing_alerts().unwrap().is_empty());
    let history = store.alert_history(Page::new(0, 10)).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].starts_at_ms, history[0].ends_at_ms), (1000, Some(3000)));
    assert_eq!(history[0].acknowledged_by.as_deref(), Some("alice"));
}

on_both!(
    apply_ack_resolve,
    refire_keeps_history_and_resolve_without_fire_is_recorded,
    history_pages,
    batch_is_all_or_nothing,
    engine_state_round_trips,
    engine_round_trip_through_store,
);
