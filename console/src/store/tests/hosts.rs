use crate::store::testutil::host_report as report;
use crate::store::testutil::{on_both, TestDb};
use crate::store::{HostStatus, NewHost, StoreError, TokenKeys};

const DAY: u64 = 24 * 60 * 60 * 1000;

fn new_host(id: &str, group: &str) -> NewHost {
    NewHost { id: id.into(), name: id.into(), group: group.into(), enrolled_at_ms: 1, cert_fingerprint: "fp".into(), cert_not_after_ms: None }
}

fn reports_update_latest_last_seen_and_samples(db: &TestDb) {
    let mut store = db.open(1);
    store.add_host(&new_host("h1", "eu")).unwrap();
    store.add_host(&new_host("h2", "us")).unwrap();
    assert!(store.hosts_seen().unwrap().is_empty());

    store.record_report(&report("h1", 5), 1000).unwrap();
    store.record_report(&report("h1", 7), 2000).unwrap();
    let latest = store.latest_reports().unwrap();
    assert_eq!(latest, vec![report("h1", 7)]);
    let seen = store.hosts_seen().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].host_id.as_str(), seen[0].group.as_str(), seen[0].last_seen_ms), ("h1", "eu", 2000));

    let samples = store.samples("h1", 0).unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[1].at_ms, 2000);
    assert_eq!(samples[1].ta_cpu_percent, 12.5);
    assert_eq!(samples[1].ca_memory_bytes, 2 << 20);
    assert_eq!(samples[1].tokens, vec![TokenKeys { ta: "ta-0".into(), slot: 0, keys: 7 }]);
    assert_eq!(store.samples("h1", 1500).unwrap().len(), 1);
    assert!(store.samples("h2", 0).unwrap().is_empty());
}

fn report_of_unknown_host_is_refused(db: &TestDb) {
    let mut store = db.open(1);
    assert!(matches!(store.record_report(&report("ghost", 1), 10), Err(StoreError::NotFound { .. })));
    assert!(store.latest_reports().unwrap().is_empty());
}

fn pruning_drops_old_samples_only(db: &TestDb) {
    let mut store = db.open(1);
    store.add_host(&new_host("h1", "eu")).unwrap();
    let now = 100 * DAY;
    for days_ago in [40, 31, 30, 29, 1, 0] {
        store.record_report(&report("h1", days_ago), now - days_ago * DAY).unwrap();
    }
    assert_eq!(store.prune_samples(now, 30, 1).unwrap(), 1, "one at a time: the oldest");
    assert_eq!(store.prune_samples(now, 30, 100).unwrap(), 1);
    let left: Vec<u64> = store.samples("h1", 0).unwrap().iter().map(|s| (now - s.at_ms) / DAY).collect();
    assert_eq!(left, vec![30, 29, 1, 0]);
    // The latest report is not history: it stays.
    assert_eq!(store.latest_reports().unwrap().len(), 1);
    assert_eq!(store.prune_samples(now, 30, 100).unwrap(), 0);
}

fn host_status_and_duplicates(db: &TestDb) {
    let store = db.open(1);
    store.add_host(&new_host("h1", "eu")).unwrap();
    assert!(matches!(store.add_host(&new_host("h1", "us")), Err(StoreError::AlreadyExists { .. })));
    store.set_host_status("h1", HostStatus::Revoked).unwrap();
    assert_eq!(store.host("h1").unwrap().unwrap().status, HostStatus::Revoked);
    assert!(store.set_host_status("h9", HostStatus::Active).is_err());
    assert_eq!(store.host("h9").unwrap(), None);
}

fn injection_looking_names_are_stored_verbatim(db: &TestDb) {
    let mut store = db.open(1);
    let nasty = "h1'; DROP TABLE hosts; --";
    let group = "\"group\") OR 1=1 --";
    store.add_host(&new_host(nasty, group)).unwrap();
    store.record_report(&report(nasty, 1), 10).unwrap();
    let hosts = store.hosts().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].id, nasty);
    assert_eq!(hosts[0].group, group);
    assert_eq!(store.host(nasty).unwrap().unwrap().name, nasty);
    assert_eq!(store.latest_reports().unwrap()[0].host_id, nasty);
    assert_eq!(store.samples(nasty, 0).unwrap().len(), 1);
}

fn certificate_renewal_and_revocation(db: &TestDb) {
    let mut store = db.open(1);
    store.add_host(&NewHost { cert_not_after_ms: Some(90 * DAY), ..new_host("h1", "eu") }).unwrap();
    store.add_host(&new_host("h2", "eu")).unwrap();
    let h = store.host("h1").unwrap().unwrap();
    assert_eq!((h.cert_not_after_ms, h.pending_cert_fingerprint, h.renew_requested), (Some(90 * DAY), None, false));
    store.request_cert_renewal("h1").unwrap();
    assert!(matches!(store.request_cert_renewal("h9"), Err(StoreError::NotFound { .. })));
    store.set_pending_cert("h1", "new1", 170 * DAY).unwrap();
    store.set_pending_cert("h1", "new2", 180 * DAY).unwrap();
    let h = store.host("h1").unwrap().unwrap();
    assert_eq!((h.cert_fingerprint.as_str(), h.pending_cert_fingerprint.as_deref(), h.renew_requested), ("fp", Some("new2"), true));
    assert!(!store.promote_pending_cert("h1", "new1").unwrap(), "a replaced renewal is not promoted");
    assert!(!store.promote_pending_cert("h2", "new2").unwrap(), "another host's");
    assert!(store.promote_pending_cert("h1", "new2").unwrap());
    let h = store.host("h1").unwrap().unwrap();
    assert_eq!(
        (h.cert_fingerprint.as_str(), h.cert_not_after_ms, h.pending_cert_fingerprint, h.renew_requested),
        ("new2", Some(180 * DAY), None, false)
    );
    assert!(!store.promote_pending_cert("h1", "new2").unwrap(), "once");

    // Revoked hosts leave the alert inputs and the licence count.
    store.record_report(&report("h1", 1), 10).unwrap();
    store.record_report(&report("h2", 1), 10).unwrap();
    assert_eq!(store.active_host_count().unwrap(), 2);
    store.set_host_status("h2", HostStatus::Revoked).unwrap();
    assert_eq!(store.active_host_count().unwrap(), 1);
    assert_eq!(store.latest_reports().unwrap().iter().map(|r| r.host_id.as_str()).collect::<Vec<_>>(), ["h1"]);
    assert_eq!(store.hosts_seen().unwrap().iter().map(|s| s.host_id.as_str()).collect::<Vec<_>>(), ["h1"]);
    assert_eq!(store.hosts().unwrap().len(), 2, "still listed");
    assert_eq!(store.latest_report("h2").unwrap().map(|r| r.host_id), Some("h2".to_string()), "its last report is kept");
    assert_eq!(store.latest_report("h9").unwrap(), None);
}

on_both!(
    certificate_renewal_and_revocation,
    reports_update_latest_last_seen_and_samples,
    report_of_unknown_host_is_refused,
    pruning_drops_old_samples_only,
    host_status_and_duplicates,
    injection_looking_names_are_stored_verbatim,
);
