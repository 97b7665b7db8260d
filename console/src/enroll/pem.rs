//! Just enough PEM to get the DER of one labelled block (RFC 7468, strict
//! base64 without line-length rules).

use super::EnrollError;

/// The DER of the first `-----BEGIN {label}-----` block of `text`.
pub(crate) fn decode(text: &str, label: &'static str) -> Result<Vec<u8>, EnrollError> {
    let err = || EnrollError::NoPem { expected: label };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or_else(err)? + begin.len();
    let len = text[start..].find(&end).ok_or_else(err)?;
    base64(&text[start..start + len]).ok_or_else(err)
}

/// Standard base64 with padding, ignoring whitespace; `None` if malformed.
fn base64(body: &str) -> Option<Vec<u8>> {
    let chars: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if chars.is_empty() || !chars.len().is_multiple_of(4) {
        return None;
    }
    let pad = chars.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 || chars[..chars.len() - pad].contains(&b'=') {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => 0,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    for quad in chars.chunks_exact(4) {
        let mut n = 0u32;
        for &c in quad {
            n = (n << 6) | value(c)?;
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.truncate(out.len() - pad);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses_garbage() {
        let pem = "x\n-----BEGIN T-----\naGVs\nbG8=\n-----END T-----\n";
        assert_eq!(decode(pem, "T").ok(), Some(b"hello".to_vec()));
        assert_eq!(base64("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64("aA==").as_deref(), Some(&b"h"[..]));
        for bad in ["", "a", "aGk", "a=Gk", "aGk*", "a==="] {
            assert!(base64(bad).is_none(), "{bad:?}");
        }
        assert!(matches!(decode("-----BEGIN T-----\naGk=\n", "T"), Err(EnrollError::NoPem { .. })));
        assert!(matches!(decode(pem, "U"), Err(EnrollError::NoPem { expected: "U" })));
    }
}
