//! Invariant 3: the TA treats every byte as hostile. 100,000 random and
//! mutated frames each get a well-formed reply (an error for every random
//! frame), the TA never crashes, and it still serves correctly afterwards.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::*;

const FRAMES: usize = 100_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn send(stream: &mut UnixStream, payload: &[u8], declared_len: Option<u32>) -> std::io::Result<()> {
    let len = declared_len.unwrap_or(payload.len() as u32);
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    stream.write_all(&out)
}

fn recv(stream: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

fn hello(stream: &mut UnixStream) {
    let p = encode_request(1, &Request::Hello { client: "hostile".into(), channel: ChannelMode::Plain });
    send(stream, &p, None).unwrap();
    let (_, r) = decode_response(&recv(stream).unwrap()).unwrap();
    assert!(matches!(r, Response::Ok(_)));
}

#[test]
fn random_and_mutated_frames_get_error_replies_and_never_crash_the_ta() {
    let dir = TempDir::new("hostile");
    let mut ta = start_ta_ready(dir.path(), &[]);
    let (session, key) = {
        let mut c = ta.client();
        init_token(&mut c);
        let s = user_session(&mut c);
        let (_, private) = gen_pair(&mut c, &p256_pair(s, "hostile", false)).unwrap();
        (s, private)
    };
    // Valid requests to mutate (no PIN checks: those are deliberately slow).
    let corpus: Vec<Vec<u8>> = [
        Request::GetTokenInfo { slot: 0 },
        Request::OpenSession { slot: 0, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION },
        Request::GetSessionInfo { session },
        Request::Sign { session, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key, data: b"hello".to_vec() },
        Request::FindObjects { session, template: vec![Attribute::new(CKA_LABEL, b"hostile".to_vec())], max: 10 },
        Request::CreateObject {
            session,
            template: vec![Attribute::ulong(CKA_CLASS, CKO_DATA), Attribute::new(CKA_VALUE, vec![1, 2, 3]), Attribute::new(CKA_LABEL, b"d".to_vec())],
        },
        Request::Encrypt {
            session,
            mechanism: Mechanism::with(CKM_AES_GCM, MechParam::Gcm { iv: vec![0; 12], aad: vec![1; 5], tag_bits: 128 }),
            key,
            data: vec![7; 33],
        },
        Request::GetAttributeValue { session, object: key, types: vec![CKA_LABEL, CKA_VALUE, CKA_EC_POINT] },
        Request::GenerateRandom { session, len: 32 },
        Request::Digest { session, mechanism: Mechanism::new(CKM_SM3), data: vec![0; 64] },
    ]
    .iter()
    .enumerate()
    .map(|(i, r)| encode_request(i as u32 + 10, r))
    .collect();

    let mut rng = Rng(0x5eed_1234_abcd_ef01 ^ std::process::id() as u64);
    let mut stream = UnixStream::connect(&ta.socket).unwrap();
    hello(&mut stream);
    let (mut errors, mut oks, mut reconnects) = (0usize, 0usize, 0usize);
    let t0 = Instant::now();
    for i in 0..FRAMES {
        let kind = rng.below(100);
        let (payload, declared, must_fail) = if kind < 40 {
            // Pure noise.
            let n = rng.below(600);
            ((0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>(), None, true)
        } else if kind < 99 {
            // A valid request, mutated.
            let mut p = corpus[rng.below(corpus.len())].clone();
            match rng.below(4) {
                0 => {
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(p.len());
                        p[at] ^= 1 << rng.below(8);
                    }
                }
                1 => p.truncate(rng.below(p.len())),
                2 => p.extend((0..1 + rng.below(16)).map(|_| rng.next() as u8)),
                _ => {
                    // Smash a 4-byte window to an extreme length value.
                    if p.len() >= 10 {
                        let at = 6 + rng.below(p.len() - 9);
                        let v: u32 = [u32::MAX, 0x7fff_ffff, 0x0010_0001, 0x8000][rng.below(4)];
                        p[at..at + 4].copy_from_slice(&v.to_be_bytes());
                    }
                }
            }
            (p, None, false)
        } else {
            // A frame header that lies about its length (too large).
            (vec![1, 1, 0, 0, 0, 1], Some(0x0100_0000 + rng.below(1 << 20) as u32), true)
        };
        send(&mut stream, &payload, declared).unwrap();
        match recv(&mut stream) {
            Ok(resp) => {
                let (_, r) = decode_response(&resp).unwrap_or_else(|e| panic!("frame {i}: undecodable reply: {e}"));
                match r {
                    Response::Err { rv, .. } => {
                        assert!(!rv.is_ok());
                        errors += 1;
                    }
                    Response::Ok(_) => {
                        assert!(!must_fail, "frame {i}: random bytes were accepted");
                        oks += 1;
                    }
                }
                if declared.is_some() {
                    // The TA closes a desynchronized stream after replying.
                    stream = UnixStream::connect(&ta.socket).unwrap();
                    hello(&mut stream);
                    reconnects += 1;
                }
            }
            Err(e) => panic!("frame {i}: no reply ({e}); TA alive: {:?}", ta.child.try_wait()),
        }
    }
    assert!(ta.child.try_wait().unwrap().is_none(), "the TA is still running");
    eprintln!("{FRAMES} hostile frames in {:?}: {errors} error replies, {oks} mutated-but-valid accepted, {reconnects} reconnects", t0.elapsed());
    assert_eq!(errors + oks, FRAMES);
    // And it still works.
    let mut c = ta.client();
    let s = user_session(&mut c);
    let (_, k) = gen_pair(&mut c, &p256_pair(s, "after", false)).unwrap();
    c.call_bytes(&Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: k, data: b"ok".to_vec() }).unwrap();
    assert!(ta.stop().success());
}
