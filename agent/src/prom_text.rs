//! A parser for the Prometheus text exposition format, version 0.0.4: the
//! format the CA's `/metrics` speaks.
//!
//! ```text
//! # HELP name docstring (escapes \\ and \n)
//! # TYPE name counter|gauge|histogram|summary|untyped
//! name{label="value",...} value [timestamp_ms]
//! ```
//!
//! Label values may hold the escapes `\\`, `\"` and `\n`; values are Go-style
//! floats including `+Inf`, `-Inf` and `NaN`; timestamps are integer
//! milliseconds. Any malformed line fails the whole parse (as a Prometheus
//! scrape does), with its line number. The text is untrusted: the input is
//! size-capped and the parser is linear, without recursion.

use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Largest exposition accepted (the CA's is a few tens of KiB).
pub const MAX_TEXT_BYTES: usize = 16 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("exposition is larger than {MAX_TEXT_BYTES} bytes")]
    TooLarge,
    #[error("line {line}: {what}")]
    Line { line: usize, what: String },
}

/// A metric family's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Untyped,
            _ => return None,
        })
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name (`x_bucket` for a bucket of histogram `x`).
    pub name: String,
    /// Labels sorted by name, unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A parsed exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Declared types by family name.
    pub types: BTreeMap<String, MetricType>,
    /// HELP texts by family name, unescaped.
    pub help: BTreeMap<String, String>,
    /// Samples in text order.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The family a sample belongs to and its type: `x_bucket`, `x_sum` and
    /// `x_count` belong to histogram (or summary) `x` when `x` is declared so.
    pub fn family_of<'a>(&self, sample_name: &'a str) -> (&'a str, MetricType) {
        if let Some(t) = self.types.get(sample_name) {
            return (sample_name, *t);
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = sample_name.strip_suffix(suffix) {
                match self.types.get(base) {
                    Some(MetricType::Histogram) => return (base, MetricType::Histogram),
                    Some(MetricType::Summary) if suffix != "_bucket" => return (base, MetricType::Summary),
                    _ => {}
                }
            }
        }
        (sample_name, MetricType::Untyped)
    }

    /// Samples named `name`.
    pub fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Sample> + 's {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

fn is_name_start(c: u8, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':')
}

fn is_name_char(c: u8, colon: bool) -> bool {
    is_name_start(c, colon) || c.is_ascii_digit()
}

fn valid_name(s: &str, colon: bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0], colon) && b[1..].iter().all(|&c| is_name_char(c, colon))
}

/// Parses a sample value: decimal or exponent floats, `+Inf`/`-Inf`/`Inf`, `NaN`
/// (case-insensitive, as Go's ParseFloat).
pub fn parse_value(s: &str) -> Option<f64> {
    let bad = |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if s.is_empty() || s.chars().any(bad) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Parses an exposition.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ParseError::TooLarge);
    }
    let mut out = Exposition::default();
    // Sample names seen so far (a TYPE must come before its samples).
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (i, line) in text.split('\n').enumerate() {
        let err = |what: String| ParseError::Line { line: i + 1, what };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_matches(|c| c == ' ' || c == '\t');
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            parse_comment(comment, &mut out, &seen).map_err(err)?;
            continue;
        }
        let sample = parse_sample(trimmed).map_err(err)?;
        if !seen.contains(&sample.name) {
            seen.insert(sample.name.clone());
        }
        out.samples.push(sample);
    }
    Ok(out)
}

/// Splits off the next blank-separated token.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn parse_comment(comment: &str, out: &mut Exposition, seen: &BTreeSet<String>) -> Result<(), String> {
    let (keyword, rest) = token(comment);
    match keyword {
        "HELP" => {
            let (name, doc) = token(rest);
            if !valid_name(name, true) {
                return Err(format!("bad metric name in HELP: {name:?}"));
            }
            let doc = unescape(doc.trim_start_matches([' ', '\t']), false)?;
            if out.help.insert(name.to_string(), doc).is_some() {
                return Err(format!("second HELP for {name}"));
            }
        }
        "TYPE" => {
            let (name, rest) = token(rest);
            let (kind, extra) = token(rest);
            if !valid_name(name, true) {
                return Err(format!("bad metric name in TYPE: {name:?}"));
            }
            let t = MetricType::parse(kind).ok_or_else(|| format!("unknown type {kind:?}"))?;
            if !extra.trim_matches([' ', '\t']).is_empty() {
                return Err("text after the type".into());
            }
            if seen.contains(name) {
                return Err(format!("TYPE for {name} after its samples"));
            }
            if out.types.insert(name.to_string(), t).is_some() {
                return Err(format!("second TYPE for {name}"));
            }
        }
        // Any other comment is ignored.
        _ => {}
    }
    Ok(())
}

/// Undoes `\\`, `\n` and (in label values) `\"`.
fn unescape(s: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            // HELP text: an unknown escape is kept as written (as Prometheus does).
            Some(other) if !quotes => {
                out.push('\\');
                out.push(other);
            }
            Some(other) => return Err(format!("invalid escape \\{other} in a label value")),
            None if !quotes => out.push('\\'),
            None => return Err("a label value ends in a backslash".into()),
        }
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && is_name_char(bytes[i], true) {
        i += 1;
    }
    let name = &line[..i];
    if !valid_name(name, true) {
        return Err(format!("bad metric name at {:?}", prefix(line)));
    }
    let mut labels: Labels = Vec::new();
    let mut rest = &line[i..];
    if let Some(after) = rest.trim_start_matches([' ', '\t']).strip_prefix('{') {
        let (parsed, after) = parse_labels(after)?;
        labels = parsed;
        rest = after;
    }
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return Err(format!("no blank before the value in {:?}", prefix(line)));
    }
    let (value_s, rest) = token(rest);
    let value = parse_value(value_s).ok_or_else(|| format!("bad value {:?}", prefix(value_s)))?;
    let (ts_s, rest) = token(rest);
    let timestamp_ms = if ts_s.is_empty() { None } else { Some(ts_s.parse::<i64>().map_err(|_| format!("bad timestamp {:?}", prefix(ts_s)))?) };
    if !rest.trim_matches([' ', '\t']).is_empty() {
        return Err("text after the timestamp".into());
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    if labels.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(format!("a label appears twice in {:?}", prefix(line)));
    }
    Ok(Sample { name: name.to_string(), labels, value, timestamp_ms })
}

/// Parses `name="value", ...}` (after the '{'); returns the labels and the text after '}'.
/// Labels as (name, value) pairs.
type Labels = Vec<(String, String)>;

fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let end = s.bytes().position(|c| !is_name_char(c, false)).unwrap_or(s.len());
        let name = &s[..end];
        if !valid_name(name, false) {
            return Err(format!("bad label name at {:?}", prefix(s)));
        }
        s = s[end..].trim_start_matches([' ', '\t']);
        s = s.strip_prefix('=').ok_or_else(|| format!("no '=' after label {name}"))?;
        s = s.trim_start_matches([' ', '\t']);
        s = s.strip_prefix('"').ok_or_else(|| format!("label {name}: value not quoted"))?;
        // The closing quote: the first '"' not escaped by a backslash.
        let b = s.as_bytes();
        let mut j = 0;
        let close = loop {
            match b.get(j) {
                None => return Err(format!("label {name}: unterminated value")),
                Some(b'\\') => j += 2,
                Some(b'"') => break j,
                Some(_) => j += 1,
            }
        };
        let value = unescape(&s[..close], true)?;
        labels.push((name.to_string(), value));
        s = s[close + 1..].trim_start_matches([' ', '\t']);
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {name}"));
        }
    }
}

fn prefix(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Sample {
        let e = parse(line).unwrap();
        assert_eq!(e.samples.len(), 1, "{line}");
        e.samples.into_iter().next().unwrap()
    }

    fn bad(text: &str) {
        assert!(matches!(parse(text), Err(ParseError::Line { .. })), "{text:?} parsed: {:?}", parse(text));
    }

    #[test]
    fn help_type_and_samples() {
        let text = "# HELP teehsm_ca_ta_up 1 if the TA is up.\\nSecond line \\\\ done\n\
                    # TYPE teehsm_ca_ta_up gauge\n\
                    teehsm_ca_ta_up 1\n\
                    # a free comment\n\
                    #\n\
                    \n\
                    # TYPE teehsm_grpc_request_duration_seconds histogram\n\
                    teehsm_grpc_request_duration_seconds_bucket{method=\"Sign\",le=\"0.001\"} 3\n\
                    teehsm_grpc_request_duration_seconds_bucket{method=\"Sign\",le=\"+Inf\"} 4\n\
                    teehsm_grpc_request_duration_seconds_sum{method=\"Sign\"} 0.0042\n\
                    teehsm_grpc_request_duration_seconds_count{method=\"Sign\"} 4\n";
        let e = parse(text).unwrap();
        assert_eq!(e.help["teehsm_ca_ta_up"], "1 if the TA is up.\nSecond line \\ done");
        assert_eq!(e.types["teehsm_ca_ta_up"], MetricType::Gauge);
        assert_eq!(e.samples.len(), 5);
        assert_eq!(e.samples[0], Sample { name: "teehsm_ca_ta_up".into(), labels: vec![], value: 1.0, timestamp_ms: None });
        let b = &e.samples[2];
        assert_eq!(b.label("le"), Some("+Inf"));
        assert_eq!(b.labels, vec![("le".into(), "+Inf".into()), ("method".into(), "Sign".into())], "sorted by name");
        for (name, fam) in [
            ("teehsm_grpc_request_duration_seconds_bucket", "teehsm_grpc_request_duration_seconds"),
            ("teehsm_grpc_request_duration_seconds_sum", "teehsm_grpc_request_duration_seconds"),
            ("teehsm_grpc_request_duration_seconds_count", "teehsm_grpc_request_duration_seconds"),
        ] {
            assert_eq!(e.family_of(name), (fam, MetricType::Histogram));
        }
        assert_eq!(e.family_of("teehsm_ca_ta_up"), ("teehsm_ca_ta_up", MetricType::Gauge));
        assert_eq!(e.family_of("other_count"), ("other_count", MetricType::Untyped));
        assert_eq!(e.named("teehsm_grpc_request_duration_seconds_bucket").count(), 2);
    }

    #[test]
    fn values_and_timestamps() {
        assert_eq!(one("a +Inf").value, f64::INFINITY);
        assert_eq!(one("a -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("a Inf").value, f64::INFINITY);
        assert!(one("a NaN").value.is_nan());
        assert!(one("a nan").value.is_nan());
        assert_eq!(one("a 1.5e-3").value, 0.0015);
        assert_eq!(one("a -0").value, 0.0);
        assert_eq!(one("a 18446744073709551616").value, 18446744073709551616.0);
        assert_eq!(one("a 1e400").value, f64::INFINITY);
        let s = one("a{b=\"c\"} 2 1700000000000");
        assert_eq!((s.value, s.timestamp_ms), (2.0, Some(1_700_000_000_000)));
        assert_eq!(one("a 2 -5").timestamp_ms, Some(-5));
        assert_eq!(one("  a \t 2\t 7  \r").timestamp_ms, Some(7), "blanks and CRLF");
        for v in ["a", "a ", "a one", "a 1,5", "a 0x10", "a 1_000", "a 1 2.5", "a 1 99999999999999999999", "a 1 2 3", "a \u{0661}"] {
            bad(v);
        }
    }

    #[test]
    fn label_escapes_and_layout() {
        let s = one(r#"m{path="C:\\dir\\",quote="say \"hi\"",nl="a\nb",empty="",uni="ключ } {"} 1"#);
        assert_eq!(s.label("path"), Some("C:\\dir\\"));
        assert_eq!(s.label("quote"), Some("say \"hi\""));
        assert_eq!(s.label("nl"), Some("a\nb"));
        assert_eq!(s.label("empty"), Some(""));
        assert_eq!(s.label("uni"), Some("ключ } {"));
        assert_eq!(s.label("absent"), None);
        // Trailing comma, blanks, empty label set, a name with colons.
        assert_eq!(one("m{a=\"1\",} 1").labels.len(), 1);
        assert_eq!(one("m { a = \"1\" , b=\"2\" } 1").labels.len(), 2);
        assert!(one("m{} 1").labels.is_empty());
        assert_eq!(one("job:rate:sum 3").name, "job:rate:sum");
        for l in [
            r#"m{a="1" 1"#,
            r#"m{a="1} 1"#,
            r#"m{a=1} 1"#,
            r#"m{a} 1"#,
            r#"m{="1"} 1"#,
            r#"m{1a="1"} 1"#,
            r#"m{a:b="1"} 1"#,
            r#"m{a="1"b="2"} 1"#,
            r#"m{a="1",a="2"} 1"#,
            r#"m{a="\t"} 1"#,
            r#"m{a="\"} 1"#,
            "m{a=\"x\\",
            r#"m{a="1"}1"#,
            "{a=\"1\"} 1",
            "1m 1",
            "m-x 1",
            "m{{a=\"1\"} 1",
        ] {
            bad(l);
        }
    }

    #[test]
    fn bad_comments() {
        bad("# TYPE m countr\n");
        bad("# TYPE m\n");
        bad("# TYPE 9m counter\n");
        bad("# TYPE m counter extra\n");
        bad("# TYPE m counter\n# TYPE m gauge\n");
        bad("m 1\n# TYPE m counter\n");
        bad("# HELP m a\n# HELP m b\n");
        bad("# HELP\n");
        // Unknown escapes in HELP are kept; a lone trailing backslash too.
        assert_eq!(parse("# HELP m a\\tb\\\n").unwrap().help["m"], "a\\tb\\");
        assert_eq!(parse("# HELP m\n").unwrap().help["m"], "");
        // Line numbers are reported.
        assert_eq!(parse("a 1\n\nb x\n"), Err(ParseError::Line { line: 3, what: "bad value \"x\"".into() }));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let big = "a 1\n".repeat(MAX_TEXT_BYTES / 4 + 1);
        assert_eq!(parse(&big), Err(ParseError::TooLarge));
        let sample =
            "teehsm_grpc_requests_total{code=\"OK\",method=\"Sign \\\"x\\\" \\\\ \\n\"} 12 1700000000000\n# HELP x y\\n\n# TYPE h histogram\n";
        // Every prefix and every single-byte corruption is a result, not a panic.
        for cut in 0..=sample.len() {
            if sample.is_char_boundary(cut) {
                let _ = parse(&sample[..cut]);
            }
        }
        for i in 0..sample.len() {
            for b in [b'"', b'\\', b'{', b'}', b'=', b',', b' ', b'\n', b'#', 0xff] {
                let mut v = sample.as_bytes().to_vec();
                v[i] = b;
                let _ = parse(&String::from_utf8_lossy(&v));
            }
        }
        // Long runs of openers, quotes and backslashes stay linear.
        let _ = parse(&format!("m{{a=\"{}\"}} 1", "\\".repeat(100_001)));
        let _ = parse(&"{".repeat(100_000));
        let _ = parse(&"m{a=\"\",".repeat(20_000));
    }
}
