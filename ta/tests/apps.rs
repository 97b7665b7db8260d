//! One PKCS#11 application over several TA connections (Request::JoinApp):
//! joined connections share sessions, logins and session objects; a wrong
//! ticket joins nothing; the application ends with its last connection.

mod common;

use common::*;
use teehsm_wire::ck::*;
use teehsm_wire::*;

fn ticket(h: &Harness, c: &mut teehsm_ta::handler::Connection) -> Vec<u8> {
    match h.ok(c, Request::Hello { client: "again".into(), channel: ChannelMode::Plain }) {
        Reply::Hello { app_ticket, .. } => app_ticket,
        r => panic!("unexpected {r:?}"),
    }
}

fn session_count(h: &Harness) -> u64 {
    let mut c = h.conn();
    match h.ok(&mut c, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => t.session_count,
        r => panic!("unexpected {r:?}"),
    }
}

#[test]
fn joined_connections_share_sessions_logins_and_session_objects() {
    let h = Harness::new("apps-share");
    let (mut a, s) = h.user();
    let t = ticket(&h, &mut a);
    assert_eq!(t.len(), 32);
    let key = h.aes_key(&mut a, s, &[(CKA_ENCRYPT, true), (CKA_DECRYPT, true)]);

    let mut b = h.conn();
    // Before joining, b is an application of its own: a's session is unknown to it.
    h.refused(&mut b, Request::GetSessionInfo { session: s }, Rv::SESSION_HANDLE_INVALID);
    h.ok(&mut b, Request::JoinApp { ticket: Secret(t.clone()) });
    // Same session, same login (private session object usable), same objects.
    let m = Mechanism::new(CKM_AES_ECB);
    let ct = h.bytes(&mut b, Request::Encrypt { session: s, mechanism: m.clone(), key, data: vec![7; 16] });
    let pt = h.bytes(&mut a, Request::Decrypt { session: s, mechanism: m, key, data: ct });
    assert_eq!(pt, vec![7; 16]);
    // A session opened on b is visible on a.
    let s2 = h.open(&mut b, false);
    h.ok(&mut a, Request::GetSessionInfo { session: s2 });
    // Logging out through b logs the application out.
    h.ok(&mut b, Request::Logout { session: s });
    h.refused(&mut a, Request::Encrypt { session: s, mechanism: Mechanism::new(CKM_AES_ECB), key, data: vec![7; 16] }, Rv::KEY_HANDLE_INVALID);

    // Closing one connection keeps the application; closing the last ends it.
    let before = session_count(&h);
    assert!(before >= 2, "two sessions open, counted {before}");
    h.ta.close_conn(&mut a);
    assert_eq!(session_count(&h), before, "the application lives while b is open");
    h.ok(&mut b, Request::GetSessionInfo { session: s });
    h.ta.close_conn(&mut b);
    assert_eq!(session_count(&h), before - 2, "its sessions closed with the last connection");
    let mut c = h.conn();
    h.refused(&mut c, Request::JoinApp { ticket: Secret(t) }, Rv::TEEHSM_UNKNOWN_APP);
}

#[test]
fn wrong_tickets_join_nothing_and_join_needs_hello() {
    let h = Harness::new("apps-bad");
    let (mut a, _s) = h.user();
    let t = ticket(&h, &mut a);
    let mut b = h.conn();
    for bad in [
        vec![],
        vec![0; 32],
        t[..31].to_vec(),
        {
            let mut x = t.clone();
            x[0] ^= 1;
            x
        },
        vec![1; 64],
    ] {
        h.refused(&mut b, Request::JoinApp { ticket: Secret(bad) }, Rv::TEEHSM_UNKNOWN_APP);
    }
    // Joining one's own application is a no-op.
    let own = ticket(&h, &mut b);
    h.ok(&mut b, Request::JoinApp { ticket: Secret(own) });
    let mut fresh = h.ta.new_conn();
    match h.call(&mut fresh, Request::JoinApp { ticket: Secret(t) }) {
        Response::Err { rv, .. } => assert_eq!(rv, Rv::TEEHSM_NO_HELLO),
        r => panic!("JoinApp before Hello: {r:?}"),
    }
}

#[test]
fn joined_connections_sign_concurrently() {
    let h = Harness::new("apps-par");
    let (mut a, s) = h.user();
    let t = ticket(&h, &mut a);
    let key = h.aes_key(&mut a, s, &[(CKA_SIGN, true), (CKA_VERIFY, true)]);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let t = t.clone();
            let h = &h;
            scope.spawn(move || {
                let mut c = h.conn();
                h.ok(&mut c, Request::JoinApp { ticket: Secret(t) });
                for i in 0..200u32 {
                    let data = i.to_be_bytes().to_vec();
                    let mac = h.bytes(&mut c, Request::Sign { session: s, mechanism: Mechanism::new(CKM_AES_CMAC), key, data: data.clone() });
                    h.ok(&mut c, Request::Verify { session: s, mechanism: Mechanism::new(CKM_AES_CMAC), key, data, signature: mac });
                }
                h.ta.close_conn(&mut c);
            });
        }
    });
    h.ok(&mut a, Request::GetSessionInfo { session: s });
}
