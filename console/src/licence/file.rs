//! The file layout: the body, then the signature block.
//!
//! ```text
//! <body: UTF-8 TOML, ending in "\n">
//! -----BEGIN TEEHSM LICENCE SIGNATURE-----\n
//! <128 hex digits: the 64-byte Ed25519 signature>\n
//! -----END TEEHSM LICENCE SIGNATURE-----[\n]
//! ```
//!
//! The signed bytes are the body: everything before the first line that
//! starts with the BEGIN marker, including the "\n" ending the line before.

use super::LicenceError;

pub const SIGNATURE_BEGIN: &str = "-----BEGIN TEEHSM LICENCE SIGNATURE-----";
pub const SIGNATURE_END: &str = "-----END TEEHSM LICENCE SIGNATURE-----";

/// Length of an Ed25519 signature in bytes.
pub(super) const SIGNATURE_LEN: usize = 64;

/// Offset of the first line starting with the BEGIN marker.
pub(super) fn find_begin(file: &[u8]) -> Option<usize> {
    let marker = SIGNATURE_BEGIN.as_bytes();
    let mut line_start = 0;
    loop {
        let rest = file.get(line_start..)?;
        if rest.starts_with(marker) {
            return Some(line_start);
        }
        let nl = rest.iter().position(|&b| b == b'\n')?;
        line_start += nl + 1;
    }
}

/// Splits a licence file into the signed body and the signature.
pub(super) fn split(file: &[u8]) -> Result<(&[u8], [u8; SIGNATURE_LEN]), LicenceError> {
    let begin = find_begin(file).ok_or(LicenceError::NoSignature)?;
    let (body, block) = file.split_at(begin);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(LicenceError::EmptyBody);
    }
    let block = block
        .strip_prefix(SIGNATURE_BEGIN.as_bytes())
        .ok_or(LicenceError::NoSignature)?
        .strip_prefix(b"\n")
        .ok_or(LicenceError::MalformedSignature("the BEGIN line must hold only the marker"))?;
    let nl = block.iter().position(|&b| b == b'\n').ok_or(LicenceError::MalformedSignature("the END line is missing"))?;
    let (sig_line, rest) = block.split_at(nl);
    if sig_line.len() != 2 * SIGNATURE_LEN {
        return Err(LicenceError::MalformedSignature("the signature line must be 128 hex digits"));
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    hex::decode_to_slice(sig_line, &mut signature).map_err(|_| LicenceError::MalformedSignature("the signature line is not hex"))?;
    let rest = rest.get(1..).unwrap_or_default();
    let end = SIGNATURE_END.as_bytes();
    if rest != end && rest.strip_suffix(b"\n") != Some(end) {
        return Err(LicenceError::MalformedSignature("the END line must follow the signature line and end the file"));
    }
    Ok((body, signature))
}
