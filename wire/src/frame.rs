//! Length-prefixed frames over any byte stream: `len u32 BE | payload`.

use crate::msg::MAX_FRAME_LEN;
use std::io::{self, Read, Write};

/// Reads one frame into `buf`. Returns `Ok(false)` on a clean end of stream
/// before any byte of a new frame; refuses frames longer than `MAX_FRAME_LEN`.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended inside a frame header")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit")));
    }
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf)?;
    Ok(true)
}

/// Reads the one frame a peer sends in answer to a request, usually with a
/// single `read` (header and payload together) instead of one for each.
/// Only for request/reply streams where the peer never sends a second frame
/// before it gets the next request: bytes past the frame are an error.
pub fn read_reply_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    const FIRST_READ: usize = 16 * 1024;
    buf.clear();
    buf.resize(FIRST_READ, 0);
    let mut got = 0;
    while got < 4 {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => {
                buf.clear();
                return Ok(false);
            }
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended inside a frame header")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit")));
    }
    if got > 4 + len {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the peer sent bytes past its reply"));
    }
    buf.resize(4 + len, 0);
    r.read_exact(&mut buf[got..])?;
    buf.drain(..4);
    Ok(true)
}

/// Writes one frame with a single `write_all` (header and payload together).
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "frame too large"));
    }
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes in the chunks given.
    struct Chunks(Vec<Vec<u8>>);
    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let c = &mut self.0[0];
            let n = c.len().min(out.len());
            out[..n].copy_from_slice(&c[..n]);
            c.drain(..n);
            if c.is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        write_frame(&mut v, payload).unwrap();
        v
    }

    #[test]
    fn reply_frames_in_one_piece_or_many() {
        let f = framed(b"hello");
        let mut buf = Vec::new();
        assert!(read_reply_frame(&mut Chunks(vec![f.clone()]), &mut buf).unwrap());
        assert_eq!(buf, b"hello");
        let pieces = f.iter().map(|b| vec![*b]).collect();
        assert!(read_reply_frame(&mut Chunks(pieces), &mut buf).unwrap());
        assert_eq!(buf, b"hello");
        let big = vec![7u8; 100_000];
        assert!(read_reply_frame(&mut Chunks(vec![framed(&big)]), &mut buf).unwrap());
        assert_eq!(buf, big);
        assert!(!read_reply_frame(&mut Chunks(vec![]), &mut buf).unwrap());
    }

    #[test]
    fn reply_frames_refuse_trailing_bytes_truncation_and_oversize() {
        let mut buf = Vec::new();
        let mut two = framed(b"a");
        two.extend(framed(b"b"));
        assert!(read_reply_frame(&mut Chunks(vec![two]), &mut buf).is_err());
        let f = framed(b"hello");
        assert!(read_reply_frame(&mut Chunks(vec![f[..6].to_vec()]), &mut buf).is_err());
        assert!(read_reply_frame(&mut Chunks(vec![f[..2].to_vec()]), &mut buf).is_err());
        let huge = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
        assert!(read_reply_frame(&mut Chunks(vec![huge]), &mut buf).is_err());
    }
}
