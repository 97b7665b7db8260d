//! The licence body: TOML with exactly the fields below, all required.
//!
//! ```toml
//! licence_id = "ACME-2026-0001"       # [A-Za-z0-9._-], 1..=128 chars
//! customer = "ACME Corp"              # 1..=256 chars, no control chars
//! max_hosts = 25                      # >= 1
//! not_before = 2026-11-27T00:00:00Z   # a time (below); inclusive
//! expires = 2027-11-27                # a time; exclusive, after not_before
//! features = ["alerts", "audit"]      # [A-Za-z0-9._-] each, no repeats, may be empty
//! ```
//!
//! A time is a TOML offset date-time (`2027-01-01T00:00:00Z`,
//! `...+02:00`), a TOML date (`2027-01-01`, meaning 00:00:00 UTC of that
//! day), the same as a string (`"2027-01-01T00:00:00Z"`), or Unix
//! milliseconds (a non-negative integer). Date-times without an offset
//! are refused: they would depend on the console's time zone.

use toml::value::{Datetime, Offset};
use toml::{Table, Value};

use super::LicenceError;

const MAX_ID_LEN: usize = 128;
const MAX_CUSTOMER_LEN: usize = 256;
const MAX_FEATURES: usize = 64;
const MAX_FEATURE_LEN: usize = 64;

const FIELDS: [&str; 6] = ["licence_id", "customer", "max_hosts", "not_before", "expires", "features"];

/// The checked fields of a licence body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Terms {
    pub licence_id: String,
    pub customer: String,
    pub max_hosts: u64,
    pub not_before_ms: u64,
    pub expires_ms: u64,
    pub features: Vec<String>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LicenceError {
    LicenceError::InvalidField { field, reason: reason.into() }
}

pub(super) fn parse(text: &str) -> Result<Terms, LicenceError> {
    let table: Table = toml::from_str(text).map_err(|e| LicenceError::Toml(e.message().to_string()))?;
    if let Some(unknown) = table.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(LicenceError::UnknownField(unknown.chars().take(64).collect()));
    }
    let get = |field: &'static str| table.get(field).ok_or(LicenceError::MissingField(field));

    let licence_id = string(get("licence_id")?, "licence_id", MAX_ID_LEN)?;
    if !licence_id.chars().all(is_name_char) {
        return Err(invalid("licence_id", "only letters, digits, '.', '_' and '-' are allowed"));
    }
    let customer = string(get("customer")?, "customer", MAX_CUSTOMER_LEN)?;
    if customer.chars().any(char::is_control) {
        return Err(invalid("customer", "control characters are not allowed"));
    }
    let max_hosts = match get("max_hosts")? {
        Value::Integer(n) if *n >= 1 => u64::try_from(*n).map_err(|_| invalid("max_hosts", "out of range"))?,
        Value::Integer(_) => return Err(invalid("max_hosts", "must be at least 1")),
        _ => return Err(invalid("max_hosts", "must be an integer")),
    };
    let not_before_ms = time(get("not_before")?, "not_before")?;
    let expires_ms = time(get("expires")?, "expires")?;
    if expires_ms <= not_before_ms {
        return Err(invalid("expires", "must be later than not_before"));
    }
    let features = features(get("features")?)?;
    Ok(Terms { licence_id, customer, max_hosts, not_before_ms, expires_ms, features })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn string(v: &Value, field: &'static str, max: usize) -> Result<String, LicenceError> {
    let Value::String(s) = v else {
        return Err(invalid(field, "must be a string"));
    };
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(invalid(field, format!("longer than {max} characters")));
    }
    Ok(s.clone())
}

fn features(v: &Value) -> Result<Vec<String>, LicenceError> {
    let Value::Array(items) = v else {
        return Err(invalid("features", "must be a list of strings"));
    };
    if items.len() > MAX_FEATURES {
        return Err(invalid("features", format!("more than {MAX_FEATURES} entries")));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let f = string(item, "features", MAX_FEATURE_LEN)?;
        if !f.chars().all(is_name_char) {
            return Err(invalid("features", "only letters, digits, '.', '_' and '-' are allowed"));
        }
        if out.contains(&f) {
            return Err(invalid("features", format!("{f:?} is listed twice")));
        }
        out.push(f);
    }
    Ok(out)
}

fn time(v: &Value, field: &'static str) -> Result<u64, LicenceError> {
    match v {
        Value::Integer(n) => u64::try_from(*n).map_err(|_| invalid(field, "milliseconds must not be negative")),
        Value::Datetime(dt) => datetime_ms(dt).map_err(|r| invalid(field, r)),
        Value::String(s) => {
            let dt: Datetime = s.parse().map_err(|_| invalid(field, "not an RFC 3339 date or date-time"))?;
            datetime_ms(&dt).map_err(|r| invalid(field, r))
        }
        _ => Err(invalid(field, "must be an RFC 3339 date or date-time, or Unix milliseconds")),
    }
}

/// Unix ms of a TOML date or offset date-time.
fn datetime_ms(dt: &Datetime) -> Result<u64, &'static str> {
    let date = dt.date.ok_or("a time of day alone is not a date")?;
    let (year, month, day) = (i64::from(date.year), i64::from(date.month), i64::from(date.day));
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    let (secs_of_day, millis, offset_min) = match (dt.time, dt.offset) {
        (None, None) => (0, 0, 0),
        (None, Some(_)) => return Err("an offset needs a time of day"),
        (Some(_), None) => return Err("a date-time needs `Z` or a UTC offset such as `+01:00`"),
        (Some(t), Some(off)) => {
            if t.hour > 23 || t.minute > 59 || t.second > 60 || t.nanosecond > 999_999_999 {
                return Err("no such time of day");
            }
            let offset = match off {
                Offset::Z => 0,
                Offset::Custom { minutes } => i64::from(minutes),
            };
            let secs = i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
            (secs, i64::from(t.nanosecond / 1_000_000), offset)
        }
    };
    let days = days_from_civil(year, month, day);
    let ms = ((days * 86_400 + secs_of_day - offset_min * 60) * 1000) + millis;
    u64::try_from(ms).map_err(|_| "before 1970-01-01T00:00:00Z")
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's days_from_civil); year < 65536.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Result<u64, &'static str> {
        datetime_ms(&s.parse::<Datetime>().map_err(|_| "parse")?)
    }

    #[test]
    fn times() {
        assert_eq!(ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(ms("2026-11-27T00:00:00.123Z"), Ok(1_795_737_600_123));
        assert_eq!(ms("2026-11-27T01:00:00.123+01:00"), Ok(1_795_737_600_123));
        assert_eq!(ms("2026-11-26T23:30:00-00:30"), Ok(1_795_737_600_000));
        assert_eq!(ms("2026-11-27"), Ok(1_795_737_600_000));
        assert_eq!(ms("2000-02-29"), Ok(951_782_400_000));
        assert!(ms("1969-12-31T23:59:59Z").is_err());
        assert!(ms("2026-11-27T00:00:00").is_err());
        assert!(ms("12:00:00").is_err());
        assert!(ms("9999-12-31T23:59:59.999Z").is_ok());
        for ms_ in [0u64, 951_782_400_000, 1_795_737_600_123, 253_402_300_799_999] {
            let text = teehsm_wire::time::fmt_time(ms_ as i64);
            assert_eq!(ms(&text), Ok(ms_), "{text}");
        }
    }
}
