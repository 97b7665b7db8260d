//! Bounded binary codec. Every length read from the wire is checked against
//! what remains in the buffer before anything is allocated, so a hostile
//! peer cannot make the decoder allocate or read past its input.

use thiserror::Error;

/// Why a buffer could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated input: needed {needed} more bytes for {what}")]
    Truncated { what: &'static str, needed: usize },
    #[error("{what} length {len} exceeds the limit {limit}")]
    TooLong { what: &'static str, len: usize, limit: usize },
    #[error("unknown {what} tag {tag}")]
    UnknownTag { what: &'static str, tag: u64 },
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: &'static str },
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

/// Appends big-endian integers and length-prefixed byte strings.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_capacity(n: usize) -> Self {
        Self { buf: Vec::with_capacity(n) }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A byte string with a u32 length prefix.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        // Lengths above u32::MAX cannot be framed anyway (frames are bounded far lower).
        self.u32(v.len().min(u32::MAX as usize) as u32);
        self.buf.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn u64s(&mut self, v: &[u64]) -> &mut Self {
        self.u32(v.len() as u32);
        for x in v {
            self.u64(*x);
        }
        self
    }
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
    pub fn as_mut_vec(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

/// Reads what [`Writer`] wrote, refusing anything that does not fit.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated { what, needed: n - self.buf.len() });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    /// Exactly `N` bytes, no length prefix (fixed-size fields such as hashes).
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid { what, why: "boolean must be 0 or 1" }),
        }
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    /// A length-prefixed byte string of at most `limit` bytes.
    pub fn bytes(&mut self, what: &'static str, limit: usize) -> Result<Vec<u8>, DecodeError> {
        Ok(self.bytes_ref(what, limit)?.to_vec())
    }
    pub fn bytes_ref(&mut self, what: &'static str, limit: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        if len > limit {
            return Err(DecodeError::TooLong { what, len, limit });
        }
        self.take(len, what)
    }
    pub fn string(&mut self, what: &'static str, limit: usize) -> Result<String, DecodeError> {
        let b = self.bytes_ref(what, limit)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| DecodeError::Invalid { what, why: "not UTF-8" })
    }
    /// A count prefix for a list whose items take at least `min_item_len`
    /// bytes each; refuses counts the remaining input cannot hold.
    pub fn count(&mut self, what: &'static str, limit: usize, min_item_len: usize) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n > limit {
            return Err(DecodeError::TooLong { what, len: n, limit });
        }
        if n.saturating_mul(min_item_len.max(1)) > self.buf.len() {
            return Err(DecodeError::Truncated { what, needed: n * min_item_len.max(1) - self.buf.len() });
        }
        Ok(n)
    }
    pub fn u64s(&mut self, what: &'static str, limit: usize) -> Result<Vec<u64>, DecodeError> {
        let n = self.count(what, limit, 8)?;
        (0..n).map(|_| self.u64(what)).collect()
    }
    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut w = Writer::new();
        w.u8(7).u16(513).u32(70000).u64(1 << 40).bytes(b"abc").str("label").bool(true);
        let v = w.into_vec();
        let mut r = Reader::new(&v);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 513);
        assert_eq!(r.u32("c").unwrap(), 70000);
        assert_eq!(r.u64("d").unwrap(), 1 << 40);
        assert_eq!(r.bytes("e", 3).unwrap(), b"abc");
        assert!(matches!(r.bytes("f", 2), Err(DecodeError::TooLong { .. })));
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocation() {
        let v = [0xff, 0xff, 0xff, 0xff];
        assert!(Reader::new(&v).bytes("x", usize::MAX).is_err());
        assert!(Reader::new(&v).count("x", usize::MAX, 1).is_err());
        assert!(matches!(Reader::new(&[2]).bool("b"), Err(DecodeError::Invalid { .. })));
        assert!(matches!(Reader::new(&[1, 2]).finish(), Err(DecodeError::Trailing(2))));
    }
}
