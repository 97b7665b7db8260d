//! Alert fingerprints: rule id + host + TA + slot, hashed to 16 hex digits
//! (the form Alertmanager uses).

/// Fingerprint of the alert of `rule_id` for the given host/TA/slot.
///
/// FNV-1a 64 over the fields, each preceded by 0xff and an absent field
/// written as 0xfe: neither byte occurs in UTF-8, so distinct field tuples
/// give distinct inputs.
pub fn fingerprint(rule_id: &str, host: Option<&str>, ta: Option<&str>, slot: Option<u64>) -> String {
    let slot = slot.map(|s| s.to_string());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for field in [Some(rule_id), host, ta, slot.as_deref()] {
        eat(&[0xff]);
        match field {
            Some(v) => eat(v.as_bytes()),
            None => eat(&[0xfe]),
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn stable_and_distinct() {
        let a = fingerprint("r", Some("h1"), Some("ta-0"), Some(0));
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint("r", Some("h1"), Some("ta-0"), Some(0)));
        assert_ne!(a, fingerprint("r", Some("h1"), Some("ta-0"), Some(1)));
        assert_ne!(a, fingerprint("r", Some("h1"), Some("ta-0"), None));
        assert_ne!(fingerprint("r", Some("ab"), Some("c"), None), fingerprint("r", Some("a"), Some("bc"), None));
        assert_ne!(fingerprint("r", None, None, None), fingerprint("r", Some(""), None, None));
    }
}
