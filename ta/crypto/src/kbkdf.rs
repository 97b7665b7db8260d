//! NIST SP 800-108 key-based key derivation (counter, feedback and
//! double-pipeline modes) as PKCS#11 3.0 section 2.42 frames it: the PRF input
//! is the caller's list of data fields, the iteration variable among them; one
//! call may derive several keys, each from its own whole PRF output segments.
//!
//! The PRFs are HMAC (SHA-1, SHA-2) and AES-CMAC from [`crate::mac`].

use crate::digest::HashAlg;
use crate::sym::Cipher;
use crate::CryptoError;
use zeroize::Zeroizing;

/// The pseudo-random function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prf {
    Hmac(HashAlg),
    AesCmac,
}

impl Prf {
    pub fn output_len(self) -> usize {
        match self {
            Prf::Hmac(h) => h.output_len(),
            Prf::AesCmac => 16,
        }
    }

    fn eval(self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Ok(Zeroizing::new(match self {
            Prf::Hmac(HashAlg::Sm3) => return Err(CryptoError::Unsupported("HMAC-SM3 is not an SP 800-108 PRF here".into())),
            Prf::Hmac(h) => crate::mac::hmac(h, key, data)?,
            Prf::AesCmac => crate::mac::cmac(Cipher::Aes, key, data)?.to_vec(),
        }))
    }
}

/// The iteration structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Counter,
    /// K(0) is the IV (possibly empty).
    Feedback {
        iv: Vec<u8>,
    },
    DoublePipeline,
}

/// How an integer field is written: width in bits and byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntFormat {
    pub little_endian: bool,
    pub width_bits: u64,
}

/// One PRF input field (CK_PRF_DATA_PARAM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// The iteration variable: the counter (counter mode, with its format) or
    /// K(i-1) / A(i) (feedback / double pipeline, no format).
    Iteration(Option<IntFormat>),
    /// The optional counter of feedback and double-pipeline modes.
    Counter(IntFormat),
    /// The length L of the derived keying material, in bits.
    DkmLength {
        sum_of_segments: bool,
        format: IntFormat,
    },
    Bytes(Vec<u8>),
}

fn bad(msg: impl Into<String>) -> CryptoError {
    CryptoError::InvalidInput(msg.into())
}

fn encode(v: u64, f: IntFormat) -> Result<Vec<u8>, CryptoError> {
    let n = (f.width_bits / 8) as usize;
    if f.width_bits < 64 && v >> f.width_bits != 0 {
        return Err(bad(format!("the value {v} does not fit in {} bits", f.width_bits)));
    }
    let be = v.to_be_bytes();
    let mut out = be[8 - n..].to_vec();
    if f.little_endian {
        out.reverse();
    }
    Ok(out)
}

/// Checks the field list for `mode` (PKCS#11 3.0 tables 2.42.x).
fn validate(mode: &Mode, fields: &[Field]) -> Result<(), CryptoError> {
    let iterations: Vec<&Field> = fields.iter().filter(|f| matches!(f, Field::Iteration(_))).collect();
    if iterations.len() != 1 {
        return Err(bad("exactly one iteration variable is required"));
    }
    let counters = fields.iter().filter(|f| matches!(f, Field::Counter(_))).count();
    let dkms = fields.iter().filter(|f| matches!(f, Field::DkmLength { .. })).count();
    if dkms > 1 {
        return Err(bad("at most one DKM length field"));
    }
    match (mode, iterations[0]) {
        (Mode::Counter, Field::Iteration(Some(_))) if counters == 0 => {}
        (Mode::Counter, Field::Iteration(None)) => return Err(bad("counter mode's iteration variable needs a counter format")),
        (Mode::Counter, _) => return Err(bad("counter mode takes no separate counter field")),
        (_, Field::Iteration(Some(_))) => return Err(bad("the feedback / double-pipeline iteration variable takes no format")),
        (_, _) if counters > 1 => return Err(bad("at most one counter field")),
        _ => {}
    }
    for f in fields {
        match f {
            Field::Iteration(Some(c)) | Field::Counter(c) if !matches!(c.width_bits, 8 | 16 | 24 | 32) => {
                return Err(bad(format!("a counter of {} bits (8, 16, 24 or 32)", c.width_bits)));
            }
            Field::DkmLength { format, .. } if !(format.width_bits % 8 == 0 && (8..=64).contains(&format.width_bits)) => {
                return Err(bad(format!("a DKM length of {} bits (8 to 64, whole bytes)", format.width_bits)));
            }
            Field::Bytes(b) if b.is_empty() => return Err(bad("an empty byte array field")),
            _ => {}
        }
    }
    Ok(())
}

/// Most keying material one call derives.
pub const MAX_OUTPUT: usize = 4096;

/// Derives one key per entry of `key_lens` (bytes), in order, each from its
/// own PRF output segments.
pub fn derive(prf: Prf, key: &[u8], mode: &Mode, fields: &[Field], key_lens: &[usize]) -> Result<Vec<Zeroizing<Vec<u8>>>, CryptoError> {
    validate(mode, fields)?;
    let h = prf.output_len();
    if key_lens.is_empty() || key_lens.contains(&0) {
        return Err(CryptoError::DataLenRange("every derived key needs a length".into()));
    }
    // Bounded before any arithmetic: no overflow below.
    if key_lens.len() > MAX_OUTPUT || key_lens.iter().any(|l| *l > MAX_OUTPUT) {
        return Err(CryptoError::DataLenRange(format!("more than {MAX_OUTPUT} bytes of keying material")));
    }
    let segments: usize = key_lens.iter().map(|l| l.div_ceil(h)).sum();
    if segments * h > MAX_OUTPUT {
        return Err(CryptoError::DataLenRange(format!("more than {MAX_OUTPUT} bytes of keying material")));
    }
    let sum_of_keys = key_lens.iter().sum::<usize>() as u64 * 8;
    let sum_of_segments = (segments * h) as u64 * 8;
    // The counter must not overflow its width.
    for f in fields {
        if let Field::Iteration(Some(c)) | Field::Counter(c) = f {
            if c.width_bits < 64 && segments as u64 > (1u64 << c.width_bits) - 1 {
                return Err(CryptoError::DataLenRange(format!("{segments} iterations overflow a {}-bit counter", c.width_bits)));
            }
        }
    }
    // Fixed fields, and the input of iteration i given the iteration variable's bytes.
    let input = |i: u64, iter: &[u8]| -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut d = Zeroizing::new(Vec::new());
        for f in fields {
            match f {
                Field::Iteration(Some(c)) => d.extend_from_slice(&encode(i, *c)?),
                Field::Iteration(None) => d.extend_from_slice(iter),
                Field::Counter(c) => d.extend_from_slice(&encode(i, *c)?),
                Field::DkmLength { sum_of_segments: s, format } => {
                    d.extend_from_slice(&encode(if *s { sum_of_segments } else { sum_of_keys }, *format)?)
                }
                Field::Bytes(b) => d.extend_from_slice(b),
            }
        }
        Ok(d)
    };
    let mut stream = Zeroizing::new(Vec::with_capacity(segments * h));
    match mode {
        Mode::Counter => {
            for i in 1..=segments as u64 {
                stream.extend_from_slice(&prf.eval(key, &input(i, &[])?)?);
            }
        }
        Mode::Feedback { iv } => {
            let mut prev = Zeroizing::new(iv.clone());
            for i in 1..=segments as u64 {
                let k = prf.eval(key, &input(i, &prev)?)?;
                stream.extend_from_slice(&k);
                prev = k;
            }
        }
        Mode::DoublePipeline => {
            // A(0): every field but the iteration variable and the counter.
            let mut a = Zeroizing::new(Vec::new());
            for f in fields {
                match f {
                    Field::Iteration(_) | Field::Counter(_) => {}
                    Field::DkmLength { sum_of_segments: s, format } => {
                        a.extend_from_slice(&encode(if *s { sum_of_segments } else { sum_of_keys }, *format)?)
                    }
                    Field::Bytes(b) => a.extend_from_slice(b),
                }
            }
            for i in 1..=segments as u64 {
                a = prf.eval(key, &a)?;
                stream.extend_from_slice(&prf.eval(key, &input(i, &a)?)?);
            }
        }
    }
    let mut out = Vec::with_capacity(key_lens.len());
    let mut at = 0;
    for l in key_lens {
        out.push(Zeroizing::new(stream[at..at + l].to_vec()));
        at += l.div_ceil(h) * h;
    }
    Ok(out)
}
