//! The small subset of DER this crate reads and writes: SEQUENCE, INTEGER,
//! OCTET STRING, BIT STRING, OID, NULL. Bounded; every malformed input is an
//! error, never a panic.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Reads one TLV with the given tag, returning its contents.
    pub fn tlv(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let (&t, rest) = self.buf.split_first().ok_or(DerError)?;
        if t != tag {
            return Err(DerError);
        }
        let (&l0, mut rest) = rest.split_first().ok_or(DerError)?;
        let len = if l0 < 0x80 {
            l0 as usize
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 || n > 3 || rest.len() < n {
                return Err(DerError);
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            rest = &rest[n..];
            if len < 0x80 {
                return Err(DerError);
            }
            len
        };
        if rest.len() < len {
            return Err(DerError);
        }
        let (body, after) = rest.split_at(len);
        self.buf = after;
        Ok(body)
    }

    pub fn sequence(&mut self) -> Result<Reader<'a>, DerError> {
        self.tlv(0x30).map(Reader::new)
    }

    /// A non-negative INTEGER, without its sign-padding zero byte.
    pub fn unsigned_integer(&mut self) -> Result<&'a [u8], DerError> {
        let v = self.tlv(0x02)?;
        match v {
            [] => Err(DerError),
            [b, ..] if b & 0x80 != 0 => Err(DerError),
            [0, rest @ ..] if !rest.is_empty() => {
                if rest[0] & 0x80 == 0 {
                    Err(DerError) // non-minimal
                } else {
                    Ok(rest)
                }
            }
            v => Ok(v),
        }
    }

    pub fn octet_string(&mut self) -> Result<&'a [u8], DerError> {
        self.tlv(0x04)
    }

    /// The tag of the next TLV, if any is left.
    pub fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn finish(&self) -> Result<(), DerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DerError)
        }
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x10000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

/// A DER TLV with a definite length (up to 2^24 - 1 bytes of body).
pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    push_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// A DER SEQUENCE of already-encoded parts.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub(crate) fn unsigned_integer(v: &[u8]) -> Vec<u8> {
    let mut v = v;
    while v.len() > 1 && v[0] == 0 {
        v = &v[1..];
    }
    if v.is_empty() {
        return vec![0x02, 0x01, 0x00];
    }
    if v[0] & 0x80 != 0 {
        let mut b = Vec::with_capacity(v.len() + 1);
        b.push(0);
        b.extend_from_slice(v);
        tlv(0x02, &b)
    } else {
        tlv(0x02, v)
    }
}

/// Strips leading zero bytes from a big-endian magnitude.
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let z = v.iter().take_while(|&&b| b == 0).count();
    &v[z..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_every_size_class() {
        assert_eq!(&tlv(0x04, &[0u8; 0x7f])[..2], &[0x04, 0x7f]);
        assert_eq!(&tlv(0x04, &[0u8; 0x80])[..3], &[0x04, 0x81, 0x80]);
        assert_eq!(&tlv(0x04, &[0u8; 0x1234])[..4], &[0x04, 0x82, 0x12, 0x34]);
        assert_eq!(&tlv(0x04, &vec![0u8; 0x1_0000])[..5], &[0x04, 0x83, 0x01, 0x00, 0x00]);
        assert_eq!(sequence(&[&[1], &[2, 3]]), vec![0x30, 0x03, 1, 2, 3]);
    }
}
