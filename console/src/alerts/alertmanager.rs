//! Alertmanager webhook payload (version 4) for a batch of alert changes,
//! so any receiver written for Alertmanager's webhook accepts the console's.

use serde_json::{json, Map, Value};

use super::alert::{Alert, AlertChange};
use super::text::rfc3339;

/// Name of the receiver in payloads.
pub const RECEIVER: &str = "teehsm-console";

/// `endsAt` of a firing alert, as Alertmanager writes it.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn labels(a: &Alert) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("alertname".into(), a.rule_id.clone().into());
    m.insert("severity".into(), a.severity.as_str().into());
    // Alertmanager treats an empty label like an absent one: leave them out.
    for (k, v) in [("host", a.host.clone()), ("ta", a.ta.clone()), ("group", a.group.clone())] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            m.insert(k.into(), v.into());
        }
    }
    if let Some(slot) = a.slot {
        m.insert("slot".into(), slot.to_string().into());
    }
    m
}

fn annotations(a: &Alert) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("summary".into(), a.summary.clone().into());
    m.insert("description".into(), a.description.clone().into());
    m
}

/// Entries present with the same value in every map.
fn common(maps: &[Map<String, Value>]) -> Map<String, Value> {
    let Some((first, rest)) = maps.split_first() else {
        return Map::new();
    };
    first.iter().filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v))).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The webhook body for `changes`. `status` is `firing` if any alert of the
/// batch fires, else `resolved`; the batch is one group with no group labels.
/// `external_url` is the console's base URL; each alert's `generatorURL`
/// is `<external_url>/alerts/<fingerprint>`.
pub fn alertmanager_payload(changes: &[AlertChange], external_url: &str) -> Value {
    let base = external_url.trim_end_matches('/');
    let mut all_labels = Vec::with_capacity(changes.len());
    let mut all_annotations = Vec::with_capacity(changes.len());
    let mut alerts = Vec::with_capacity(changes.len());
    let mut any_firing = false;
    for change in changes {
        let (status, a, ends_at) = match change {
            AlertChange::Fired(a) => ("firing", a, ZERO_TIME.to_string()),
            AlertChange::Resolved(a) => ("resolved", a, rfc3339(a.ends_at_ms.unwrap_or(a.starts_at_ms))),
        };
        any_firing |= status == "firing";
        let (l, an) = (labels(a), annotations(a));
        alerts.push(json!({
            "status": status,
            "labels": l,
            "annotations": an,
            "startsAt": rfc3339(a.starts_at_ms),
            "endsAt": ends_at,
            "generatorURL": format!("{base}/alerts/{}", a.fingerprint),
            "fingerprint": a.fingerprint,
        }));
        all_labels.push(l);
        all_annotations.push(an);
    }
    json!({
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": if any_firing { "firing" } else { "resolved" },
        "receiver": RECEIVER,
        "groupLabels": {},
        "commonLabels": common(&all_labels),
        "commonAnnotations": common(&all_annotations),
        "externalURL": base,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::Severity;

    fn alert(fp: &str, host: &str, slot: Option<u64>, ends: Option<u64>) -> Alert {
        Alert {
            fingerprint: fp.into(),
            rule_id: "TokenNearlyFull".into(),
            kind: "key_count_percent".into(),
            severity: Severity::Warning,
            host: Some(host.into()),
            group: Some("eu".into()),
            ta: Some("ta-0".into()),
            slot,
            summary: format!("token dev-token on host {host} nearly full"),
            description: format!("token dev-token on host {host} holds 900 of 1000 keys (90 %), threshold 80 %"),
            starts_at_ms: 1_795_737_600_123,
            ends_at_ms: ends,
            acknowledged_by: None,
            acknowledged_at_ms: None,
        }
    }

    #[test]
    fn payload_shape() {
        let changes = vec![
            AlertChange::Fired(alert("00000000000000aa", "h1", Some(0), None)),
            AlertChange::Resolved(alert("00000000000000bb", "h2", None, Some(1_795_737_660_000))),
        ];
        let p = alertmanager_payload(&changes, "https://console.example/");
        let obj = p.as_object().expect("object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "alerts",
                "commonAnnotations",
                "commonLabels",
                "externalURL",
                "groupKey",
                "groupLabels",
                "receiver",
                "status",
                "truncatedAlerts",
                "version"
            ]
        );
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["receiver"], RECEIVER);
        assert_eq!(p["externalURL"], "https://console.example");
        assert_eq!(p["groupLabels"], json!({}));
        assert_eq!(p["commonLabels"], json!({"alertname": "TokenNearlyFull", "severity": "warning", "ta": "ta-0", "group": "eu"}));
        assert_eq!(p["commonAnnotations"], json!({}));

        let a = &p["alerts"][0];
        let mut akeys: Vec<&str> = a.as_object().expect("alert").keys().map(String::as_str).collect();
        akeys.sort_unstable();
        assert_eq!(akeys, ["annotations", "endsAt", "fingerprint", "generatorURL", "labels", "startsAt", "status"]);
        assert_eq!(a["status"], "firing");
        assert_eq!(
            a["labels"],
            json!({"alertname": "TokenNearlyFull", "severity": "warning", "host": "h1", "ta": "ta-0", "slot": "0", "group": "eu"})
        );
        assert_eq!(a["annotations"]["description"], "token dev-token on host h1 holds 900 of 1000 keys (90 %), threshold 80 %");
        assert_eq!(a["startsAt"], "2026-11-27T00:00:00.123Z");
        assert_eq!(a["endsAt"], ZERO_TIME);
        assert_eq!(a["generatorURL"], "https://console.example/alerts/00000000000000aa");
        assert_eq!(a["fingerprint"], "00000000000000aa");

        let r = &p["alerts"][1];
        assert_eq!(r["status"], "resolved");
        assert_eq!(r["endsAt"], "2026-11-27T00:01:00.000Z");
        assert!(r["labels"].get("slot").is_none());

        let only_resolved = alertmanager_payload(&changes[1..], "http://c");
        assert_eq!(only_resolved["status"], "resolved");
        assert_eq!(only_resolved["commonAnnotations"]["summary"], "token dev-token on host h2 nearly full");
        let empty = alertmanager_payload(&[], "http://c");
        assert_eq!(empty["status"], "resolved");
        assert_eq!(empty["alerts"], json!([]));
    }
}
