//! Invariant 4 (acknowledged means durable): four client threads create token
//! keys while the TA is killed with SIGKILL at random moments, 20 times. After
//! every kill the TA must start again on the same store; at the end every key
//! whose creation was acknowledged must be present (same handle, same label)
//! and usable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::*;

const CLIENTS: usize = 4;
const TARGET_KEYS: usize = 2_000;
const KILLS: usize = 20;

struct Acked {
    public: u64,
    private: u64,
}

/// A tiny xorshift so kill timing differs run to run without extra crates.
fn rand_below(state: &mut u64, n: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % n
}

#[test]
fn acknowledged_keys_survive_random_sigkills() {
    let dir = TempDir::new("crash");
    let root = dir.path().to_path_buf();
    let ta = start_ta_ready(&root, &[]);
    init_token(&mut ta.client());
    let socket = ta.socket.clone();

    let acked: Arc<Mutex<BTreeMap<String, Acked>>> = Arc::default();
    let created = Arc::new(AtomicUsize::new(0));
    let kills_done = Arc::new(AtomicBool::new(false));
    let errors_seen = Arc::new(AtomicUsize::new(0));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (acked, created, kills_done, errors_seen, socket) =
                (acked.clone(), created.clone(), kills_done.clone(), errors_seen.clone(), socket.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                'outer: loop {
                    // (Re)connect and log in; the TA may be down or restarting.
                    let (mut c, s) = loop {
                        if let Ok(mut c) = teehsm_wire::client::Client::connect(&socket, "crash-test") {
                            if let Ok(s) = c.open_session(0, true) {
                                if c.login(s, CKU_USER, USER_PIN).is_ok() {
                                    break (c, s);
                                }
                            }
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    };
                    loop {
                        if created.load(Ordering::SeqCst) >= TARGET_KEYS && kills_done.load(Ordering::SeqCst) {
                            break 'outer;
                        }
                        let label = format!("crash-{t}-{i}");
                        match gen_pair(&mut c, &p256_pair(s, &label, true)) {
                            Ok((public, private)) => {
                                acked.lock().unwrap().insert(label, Acked { public, private });
                                created.fetch_add(1, Ordering::SeqCst);
                                i += 1;
                            }
                            Err(_) => {
                                // Not acknowledged: it may or may not exist. Retry under a new label.
                                errors_seen.fetch_add(1, Ordering::SeqCst);
                                i += 1;
                                continue 'outer;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    // The killer: spread the kills over the whole run (one per 1/21 of the
    // target), each at a random moment after its share is reached, SIGKILL
    // the TA and restart it on the same store.
    let mut seed = (std::process::id() as u64) << 17 | 0x9e37_79b9;
    let mut ta = ta;
    let mut restarts = 0;
    for k in 0..KILLS {
        let goal = (k + 1) * TARGET_KEYS / (KILLS + 1);
        while created.load(Ordering::SeqCst) < goal {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rand_below(&mut seed, 40)));
        let status = ta.kill9();
        assert!(!status.success(), "the TA was killed, not stopped");
        let t0 = Instant::now();
        ta = match start_ta(&root, &[]) {
            Started::Ready(p) => p,
            Started::Exited { status, stderr } => panic!("the store did not open after a SIGKILL ({status}):\n{stderr}"),
        };
        restarts += 1;
        eprintln!("restart {restarts}: ready in {:?}, {} keys acknowledged so far", t0.elapsed(), created.load(Ordering::SeqCst));
    }
    kills_done.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread");
    }
    assert_eq!(restarts, KILLS);

    // One more restart for good measure, then check every acknowledged key.
    let status = ta.kill9();
    assert!(!status.success());
    let ta = start_ta_ready(&root, &[]);
    let mut c = ta.client();
    let s = user_session(&mut c);
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= TARGET_KEYS, "only {} keys were acknowledged", acked.len());
    let mut verified = 0;
    for (label, k) in acked.iter() {
        let found = c.find(s, vec![Attribute::new(CKA_LABEL, label.as_bytes().to_vec())]).expect("FindObjects");
        assert!(found.contains(&k.private) && found.contains(&k.public), "acknowledged key {label} is missing: found {found:?}");
        let m = Mechanism::new(CKM_ECDSA_SHA256);
        let sig = c
            .call_bytes(&Request::Sign { session: s, mechanism: m.clone(), key: k.private, data: label.as_bytes().to_vec() })
            .unwrap_or_else(|e| panic!("acknowledged key {label} cannot sign: {e}"));
        c.call_done(&Request::Verify { session: s, mechanism: m, key: k.public, data: label.as_bytes().to_vec(), signature: sig })
            .unwrap_or_else(|e| panic!("acknowledged key {label} does not verify: {e}"));
        verified += 1;
    }
    eprintln!(
        "{verified} acknowledged keys present and usable after {KILLS} SIGKILLs ({} unacknowledged attempts)",
        errors_seen.load(Ordering::SeqCst)
    );
    ta.stop();
}
