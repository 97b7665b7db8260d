//! The per-call authenticator in request metadata (kms.proto header):
//! all four x-teehsm-* headers (an authenticated call) or none (anonymous).
//! Only the syntax is checked here; the TA verifies the MAC, the time
//! window, the nonce and the ACL.

use teehsm_wire::{valid_client_id, CLIENT_MAC_LEN, CLIENT_NONCE_LEN};
use tonic::metadata::MetadataMap;
use tonic::Status;

pub const CLIENT_ID: &str = "x-teehsm-client-id";
pub const TIMESTAMP_MS: &str = "x-teehsm-timestamp-ms";
pub const NONCE: &str = "x-teehsm-nonce";
pub const MAC: &str = "x-teehsm-mac";
/// Response metadata: the TA's MAC over the answer, hex.
pub const RESPONSE_MAC: &str = "x-teehsm-response-mac";

const HEADERS: [&str; 4] = [CLIENT_ID, TIMESTAMP_MS, NONCE, MAC];

/// What the CA forwards in `Request::ApiCall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticator {
    /// Empty for an anonymous call.
    pub client_id: String,
    pub timestamp_ms: u64,
    pub nonce: [u8; CLIENT_NONCE_LEN],
    pub mac: [u8; CLIENT_MAC_LEN],
}

impl Authenticator {
    /// No authenticator: empty id, timestamp 0, zero nonce and MAC.
    pub fn anonymous() -> Self {
        Authenticator { client_id: String::new(), timestamp_ms: 0, nonce: [0; CLIENT_NONCE_LEN], mac: [0; CLIENT_MAC_LEN] }
    }
}

/// Reads the authenticator: UNAUTHENTICATED if only some headers are
/// present, INVALID_ARGUMENT if one is malformed (naming it).
pub fn parse(md: &MetadataMap) -> Result<Authenticator, Status> {
    let mut values: [Option<&str>; 4] = [None; 4];
    for (slot, name) in values.iter_mut().zip(HEADERS) {
        let mut all = md.get_all(name).iter();
        let Some(first) = all.next() else { continue };
        if all.next().is_some() {
            return Err(Status::invalid_argument(format!("{name} is sent more than once; send it once")));
        }
        *slot = Some(first.to_str().map_err(|_| Status::invalid_argument(format!("{name} is not printable ASCII")))?);
    }
    let [id, ts, nonce, mac] = values;
    let (Some(id), Some(ts), Some(nonce), Some(mac)) = (id, ts, nonce, mac) else {
        if values.iter().all(Option::is_none) {
            return Ok(Authenticator::anonymous());
        }
        let missing: Vec<&str> = HEADERS.iter().zip(values).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        return Err(Status::unauthenticated(format!(
            "incomplete authenticator: {} missing; an authenticated call sends all of {}, an anonymous one none of them",
            missing.join(", "),
            HEADERS.join(", ")
        )));
    };
    if !valid_client_id(id) {
        return Err(Status::invalid_argument(format!("{CLIENT_ID} must be 1 to 64 characters from [A-Za-z0-9._-]")));
    }
    if ts.is_empty() || ts.len() > 20 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Status::invalid_argument(format!("{TIMESTAMP_MS} must be milliseconds since the Unix epoch, in decimal digits")));
    }
    let timestamp_ms = ts
        .parse::<u64>()
        .map_err(|_| Status::invalid_argument(format!("{TIMESTAMP_MS} must be milliseconds since the Unix epoch, in decimal digits")))?;
    Ok(Authenticator { client_id: id.to_string(), timestamp_ms, nonce: hex_array(NONCE, nonce)?, mac: hex_array(MAC, mac)? })
}

fn hex_array<const N: usize>(name: &str, value: &str) -> Result<[u8; N], Status> {
    let mut out = [0u8; N];
    if value.len() != 2 * N || hex::decode_to_slice(value, &mut out).is_err() {
        return Err(Status::invalid_argument(format!("{name} must be {} hex digits ({N} bytes)", 2 * N)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    const NONCE_HEX: &str = "000102030405060708090a0b0c0d0e0f";

    fn md(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    fn full() -> Vec<(&'static str, String)> {
        vec![(CLIENT_ID, "svc-a.1".into()), (TIMESTAMP_MS, "1700000000123".into()), (NONCE, NONCE_HEX.into()), (MAC, "ab".repeat(32))]
    }

    fn with(replace: &str, value: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in full() {
            let v = if k == replace { value.map(str::to_string) } else { Some(v) };
            if let Some(v) = v {
                m.insert(k, v.parse().unwrap());
            }
        }
        m
    }

    fn err(m: &MetadataMap) -> Status {
        parse(m).unwrap_err()
    }

    #[test]
    fn none_is_anonymous() {
        let m = md(&[("user-agent", "x"), ("authorization", "Bearer y")]);
        assert_eq!(parse(&m).unwrap(), Authenticator::anonymous());
    }

    #[test]
    fn all_four_authenticate() {
        let a = parse(&with("", None)).unwrap();
        assert_eq!(a.client_id, "svc-a.1");
        assert_eq!(a.timestamp_ms, 1_700_000_000_123);
        assert_eq!(a.nonce, core::array::from_fn::<u8, 16, _>(|i| i as u8));
        assert_eq!(a.mac, [0xab; 32]);
        // upper-case hex is the same bytes
        let mut m = with(MAC, Some(&"AB".repeat(32)));
        m.insert(NONCE, NONCE_HEX.to_uppercase().parse().unwrap());
        assert_eq!(parse(&m).unwrap(), a);
    }

    #[test]
    fn some_missing_is_unauthenticated_naming_them() {
        for h in HEADERS {
            let s = err(&with(h, None));
            assert_eq!(s.code(), Code::Unauthenticated, "{h}");
            assert!(s.message().contains(&format!("{h} missing")), "{}", s.message());
        }
        let s = err(&md(&[(MAC, &"00".repeat(32))]));
        assert_eq!(s.code(), Code::Unauthenticated);
        assert!(s.message().contains("x-teehsm-client-id, x-teehsm-timestamp-ms, x-teehsm-nonce missing"), "{}", s.message());
    }

    #[test]
    fn malformed_is_invalid_argument_naming_the_header() {
        let cases: [(&str, &str); 11] = [
            (CLIENT_ID, "has space"),
            (CLIENT_ID, ""),
            (TIMESTAMP_MS, "-5"),
            (TIMESTAMP_MS, "12.5"),
            (TIMESTAMP_MS, "99999999999999999999"),
            (NONCE, "0011"),
            (NONCE, "zz0102030405060708090a0b0c0d0e0f"),
            (MAC, &"ab".repeat(31)),
            (MAC, "xyz"),
            (MAC, ""),
            (MAC, &"ab".repeat(33)),
        ];
        for (h, v) in cases {
            let s = err(&with(h, Some(v)));
            assert_eq!(s.code(), Code::InvalidArgument, "{h}={v}: {}", s.message());
            assert!(s.message().starts_with(h), "{h}: {}", s.message());
        }
        let long_id = "a".repeat(65);
        assert_eq!(err(&with(CLIENT_ID, Some(&long_id))).code(), Code::InvalidArgument);
    }

    #[test]
    fn duplicates_and_binary_values_are_refused() {
        let mut m = with("", None);
        m.append(NONCE, NONCE_HEX.parse().unwrap());
        let s = err(&m);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("x-teehsm-nonce is sent more than once"), "{}", s.message());
        let mut m = with("", None);
        m.insert(CLIENT_ID, tonic::metadata::MetadataValue::try_from(&b"caf\xc3\xa9"[..]).unwrap());
        let s = err(&m);
        assert_eq!(s.code(), Code::InvalidArgument, "{}", s.message());
    }
}
