//! API client authentication and ACLs (docs/client-auth.md): the TA, not
//! the CA service, decides which client may use which key.

mod common;

use common::{acl, nonce, now_ms, register, so, Harness};
use teehsm_crypto::digest::HashAlg;
use teehsm_ta::handler::{Connection as Conn, HandlerConfig, CLIENT_WINDOW_MS};
use teehsm_ta::object::{CKA_TEEHSM_CLIENT_ID, CKO_TEEHSM_CLIENT};
use teehsm_wire::ck::*;
use teehsm_wire::*;

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn mac(secret: &[u8], id: &str, ts: u64, nonce: &[u8; 16], inner: &Request) -> [u8; 32] {
    let m = teehsm_crypto::mac::hmac(HashAlg::Sha256, secret, &client_auth_message(id, ts, nonce, inner)).unwrap();
    m.try_into().unwrap()
}

/// An `Authorized` request made the way an honest client makes it.
fn authorized(secret: &[u8], id: &str, inner: Request) -> Request {
    authorized_at(secret, id, now_ms(), nonce(), inner)
}

fn authorized_at(secret: &[u8], id: &str, ts: u64, nonce: [u8; 16], inner: Request) -> Request {
    let mac = mac(secret, id, ts, &nonce, &inner);
    Request::Authorized { client_id: id.into(), timestamp_ms: ts, nonce, mac, request: Box::new(inner) }
}

fn list(h: &Harness) -> Vec<ClientInfo> {
    let (mut c, s) = so(h);
    match h.ok(&mut c, Request::ListClients { session: s }) {
        Reply::Clients(v) => v,
        r => panic!("unexpected {r:?}"),
    }
}

/// A token P-256 key pair labelled `label` (private) and `label.pub`.
fn ec_pair(h: &Harness, c: &mut Conn, s: u64, label: &str) -> (u64, u64) {
    let public_template = vec![
        Attribute::new(CKA_EC_PARAMS, P256.to_vec()),
        Attribute::bool(CKA_VERIFY, true),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::new(CKA_LABEL, format!("{label}.pub").into_bytes()),
    ];
    let private_template =
        vec![Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_TOKEN, true), Attribute::new(CKA_LABEL, label.as_bytes().to_vec())];
    match h.ok(c, Request::GenerateKeyPair { session: s, mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN), public_template, private_template }) {
        Reply::KeyPair { public, private } => (public, private),
        r => panic!("unexpected {r:?}"),
    }
}

fn sign(s: u64, key: u64, data: &[u8]) -> Request {
    Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key, data: data.to_vec() }
}

#[test]
fn client_management_needs_the_so() {
    let h = Harness::new("clients-so");
    let a = acl(&[("pay/", acl_op::SIGN)]);
    // The user, or nobody, may not register, change, list or remove clients.
    let (mut u, us) = h.user();
    h.refused(&mut u, Request::RegisterClient { session: us, client_id: "svc".into(), acl: a.clone() }, Rv::USER_NOT_LOGGED_IN);
    let mut p = h.conn();
    let ps = h.open(&mut p, true);
    h.refused(&mut p, Request::RegisterClient { session: ps, client_id: "svc".into(), acl: a.clone() }, Rv::USER_NOT_LOGGED_IN);
    h.refused(&mut p, Request::ListClients { session: ps }, Rv::USER_NOT_LOGGED_IN);

    let secret = register(&h, "svc", a.clone());
    h.refused(&mut u, Request::SetClientAcl { session: us, client_id: "svc".into(), acl: vec![] }, Rv::USER_NOT_LOGGED_IN);
    h.refused(&mut u, Request::RemoveClient { session: us, client_id: "svc".into() }, Rv::USER_NOT_LOGGED_IN);
    h.refused(&mut u, Request::ListClients { session: us }, Rv::USER_NOT_LOGGED_IN);

    let (mut c, s) = so(&h);
    // Duplicates, bad ids and undefined operation bits are refused.
    h.refused(&mut c, Request::RegisterClient { session: s, client_id: "svc".into(), acl: a.clone() }, Rv::ARGUMENTS_BAD);
    h.refused(&mut c, Request::RegisterClient { session: s, client_id: "bad id".into(), acl: a.clone() }, Rv::ARGUMENTS_BAD);
    h.refused(&mut c, Request::RegisterClient { session: s, client_id: String::new(), acl: a.clone() }, Rv::ARGUMENTS_BAD);
    h.refused(&mut c, Request::RegisterClient { session: s, client_id: "x".into(), acl: acl(&[("", 1 << 20)]) }, Rv::ARGUMENTS_BAD);
    h.refused(&mut c, Request::SetClientAcl { session: s, client_id: "nobody".into(), acl: vec![] }, Rv::USER_NOT_LOGGED_IN);

    // ListClients gives ids and ACLs, never the secret.
    let resp = h.call(&mut c, Request::ListClients { session: s });
    let bytes = encode_response(1, &resp);
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()), "ListClients must not carry the secret");
    assert_eq!(list(&h), vec![ClientInfo { client_id: "svc".into(), acl: a }]);

    // ACL changes and removal.
    let b = acl(&[("", acl_op::GET_PUBLIC)]);
    h.ok(&mut c, Request::SetClientAcl { session: s, client_id: "svc".into(), acl: b.clone() });
    assert_eq!(list(&h), vec![ClientInfo { client_id: "svc".into(), acl: b }]);
    h.ok(&mut c, Request::RemoveClient { session: s, client_id: "svc".into() });
    assert!(list(&h).is_empty());
    h.refused(&mut c, Request::RemoveClient { session: s, client_id: "svc".into() }, Rv::USER_NOT_LOGGED_IN);
}

#[test]
fn authenticated_requests_and_every_refusal() {
    let h = Harness::new("clients-auth");
    let (mut u, s) = h.user();
    let (_, pay) = ec_pair(&h, &mut u, s, "pay/k1");
    let (hr_pub, hr) = ec_pair(&h, &mut u, s, "hr/k2");
    let secret = register(&h, "svc-a", acl(&[("pay/", acl_op::SIGN)]));

    // A valid authenticated sign works, and the inner request ran as usual.
    let sig = h.bytes(&mut u, authorized(&secret, "svc-a", sign(s, pay, b"pay 100")));
    assert_eq!(sig.len(), 64);

    // Wrong MAC.
    let mut r = authorized(&secret, "svc-a", sign(s, pay, b"x"));
    if let Request::Authorized { mac, .. } = &mut r {
        mac[0] ^= 1;
    }
    h.refused(&mut u, r, Rv::TEEHSM_CLIENT_AUTH_FAILED);
    // A different secret (someone guessing).
    h.refused(&mut u, authorized(&[7u8; 32], "svc-a", sign(s, pay, b"x")), Rv::TEEHSM_CLIENT_AUTH_FAILED);

    // Replayed nonce: the exact same request twice.
    let r = authorized(&secret, "svc-a", sign(s, pay, b"once"));
    h.ok(&mut u, r.clone());
    let m = h.refused(&mut u, r, Rv::TEEHSM_CLIENT_REPLAY);
    assert!(m.contains("svc-a"), "{m}");
    // Same nonce, other data, freshly MACed: still a replay.
    let n = nonce();
    h.ok(&mut u, authorized_at(&secret, "svc-a", now_ms(), n, sign(s, pay, b"a")));
    h.refused(&mut u, authorized_at(&secret, "svc-a", now_ms(), n, sign(s, pay, b"b")), Rv::TEEHSM_CLIENT_REPLAY);

    // Stale and future timestamps.
    let late = now_ms() - CLIENT_WINDOW_MS - 1_000;
    h.refused(&mut u, authorized_at(&secret, "svc-a", late, nonce(), sign(s, pay, b"x")), Rv::TEEHSM_CLIENT_AUTH_FAILED);
    let early = now_ms() + CLIENT_WINDOW_MS + 1_000;
    h.refused(&mut u, authorized_at(&secret, "svc-a", early, nonce(), sign(s, pay, b"x")), Rv::TEEHSM_CLIENT_AUTH_FAILED);

    // Unknown client.
    let m = h.refused(&mut u, authorized(&secret, "svc-b", sign(s, pay, b"x")), Rv::USER_NOT_LOGGED_IN);
    assert!(m.contains("svc-b"), "{m}");

    // The ACL: wrong label prefix, wrong operation.
    let m = h.refused(&mut u, authorized(&secret, "svc-a", sign(s, hr, b"x")), Rv::KEY_FUNCTION_NOT_PERMITTED);
    assert!(m.contains("svc-a") && m.contains("sign") && m.contains("hr/k2"), "{m}");
    let verify =
        Request::Verify { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: hr_pub, data: b"pay 100".to_vec(), signature: sig.clone() };
    let m = h.refused(&mut u, authorized(&secret, "svc-a", verify), Rv::KEY_FUNCTION_NOT_PERMITTED);
    assert!(m.contains("verify"), "{m}");
    let m = h.refused(
        &mut u,
        authorized(&secret, "svc-a", Request::OpInit { session: s, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: hr }),
        Rv::KEY_FUNCTION_NOT_PERMITTED,
    );
    assert!(m.contains("sign"), "{m}");
    // Deny by default: requests outside the client API.
    let create = Request::CreateObject { session: s, template: vec![Attribute::ulong(CKA_CLASS, CKO_DATA), Attribute::bool(CKA_TOKEN, false)] };
    h.refused(&mut u, authorized(&secret, "svc-a", create), Rv::KEY_FUNCTION_NOT_PERMITTED);
    h.refused(&mut u, authorized(&secret, "svc-a", Request::DigestKey { session: s, key: pay }), Rv::KEY_FUNCTION_NOT_PERMITTED);
    // Keyless requests are allowed for any registered client.
    h.bytes(&mut u, authorized(&secret, "svc-a", Request::GenerateRandom { session: s, len: 16 }));

    // What a CA tampering with the request produces: a MAC over one inner
    // request, sent with another (other key, other data).
    let ts = now_ms();
    let n = nonce();
    let good = mac(&secret, "svc-a", ts, &n, &sign(s, pay, b"pay 100"));
    for tampered in [sign(s, pay, b"pay 999999"), sign(s, hr, b"pay 100"), sign(s + 1, pay, b"pay 100")] {
        let r = Request::Authorized { client_id: "svc-a".into(), timestamp_ms: ts, nonce: n, mac: good, request: Box::new(tampered) };
        h.refused(&mut u, r, Rv::TEEHSM_CLIENT_AUTH_FAILED);
    }
    // ... or with another client id or timestamp.
    let r = Request::Authorized { client_id: "svc-a".into(), timestamp_ms: ts + 1, nonce: n, mac: good, request: Box::new(sign(s, pay, b"pay 100")) };
    h.refused(&mut u, r, Rv::TEEHSM_CLIENT_AUTH_FAILED);
    // Refused requests did not burn the nonce: the genuine one still works.
    let r = Request::Authorized { client_id: "svc-a".into(), timestamp_ms: ts, nonce: n, mac: good, request: Box::new(sign(s, pay, b"pay 100")) };
    h.bytes(&mut u, r);

    // Multi-part: init on an allowed key, continue; continuing goes through the ACL too.
    h.ok(
        &mut u,
        authorized(&secret, "svc-a", Request::OpInit { session: s, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: pay }),
    );
    let sig2 =
        h.bytes(&mut u, authorized(&secret, "svc-a", Request::OpSingle { session: s, kind: OpKind::Sign, data: b"m".to_vec(), signature: vec![] }));
    assert_eq!(sig2.len(), 64);
    // An operation the client did not start on a key it may not use.
    h.ok(&mut u, Request::OpInit { session: s, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: hr });
    h.refused(
        &mut u,
        authorized(&secret, "svc-a", Request::OpSingle { session: s, kind: OpKind::Sign, data: b"m".to_vec(), signature: vec![] }),
        Rv::KEY_FUNCTION_NOT_PERMITTED,
    );

    // The authenticator is an extra layer: the inner request still needs
    // its session's login (the private key is not visible to a public session).
    let mut p = h.conn();
    let ps = h.open(&mut p, false);
    let rv = h.rv(&mut p, authorized(&secret, "svc-a", sign(ps, pay, b"x")));
    assert_ne!(rv, Rv::OK);

    // Nested Authorized is refused.
    let inner = authorized(&secret, "svc-a", sign(s, pay, b"x"));
    h.refused(&mut u, authorized(&secret, "svc-a", inner), Rv::TEEHSM_MALFORMED_REQUEST);

    // ACL changes take effect at once; removal ends access.
    let (mut c, so_s) = so(&h);
    h.ok(&mut c, Request::SetClientAcl { session: so_s, client_id: "svc-a".into(), acl: acl(&[("hr/", acl_op::SIGN | acl_op::VERIFY)]) });
    h.bytes(&mut u, authorized(&secret, "svc-a", sign(s, hr, b"x")));
    h.refused(&mut u, authorized(&secret, "svc-a", sign(s, pay, b"x")), Rv::KEY_FUNCTION_NOT_PERMITTED);
    h.ok(&mut c, Request::RemoveClient { session: so_s, client_id: "svc-a".into() });
    h.refused(&mut u, authorized(&secret, "svc-a", sign(s, hr, b"x")), Rv::USER_NOT_LOGGED_IN);
    // Re-registering gives a new secret; the old one is dead.
    let secret2 = register(&h, "svc-a", acl(&[("hr/", acl_op::SIGN)]));
    assert_ne!(secret, secret2);
    h.refused(&mut u, authorized(&secret, "svc-a", sign(s, hr, b"x")), Rv::TEEHSM_CLIENT_AUTH_FAILED);
    h.bytes(&mut u, authorized(&secret2, "svc-a", sign(s, hr, b"x")));

    // Every decision is audited with the client id.
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join("audit.log")).unwrap();
    assert!(log.contains("api-client:svc-a"), "audit log names the client");
    assert!(log.contains("Authorized:Sign"));
    assert!(log.contains("RegisterClient") && log.contains("RemoveClient") && log.contains("SetClientAcl"));
    teehsm_ta::audit::verify(&h.dir.join("store").join("audit.log"), None).unwrap();
}

#[test]
fn records_survive_a_restart_and_stay_invisible() {
    let mut h = Harness::new("clients-restart");
    let (mut u, s) = h.user();
    let (_, pay) = ec_pair(&h, &mut u, s, "pay/k1");
    let objects_before = match h.ok(&mut u, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => t.total_objects,
        r => panic!("unexpected {r:?}"),
    };
    let a = acl(&[("pay/", acl_op::SIGN), ("", acl_op::GET_PUBLIC)]);
    let secret = register(&h, "svc", a.clone());
    drop(u);

    h.reopen(HandlerConfig::default());
    assert_eq!(list(&h), vec![ClientInfo { client_id: "svc".into(), acl: a }]);
    let (mut u, s) = h.user();
    h.bytes(&mut u, authorized(&secret, "svc", sign(s, pay, b"after restart")));

    // Invisible to PKCS#11: not found (by anyone, with any template), not
    // readable, not destroyable, not counted.
    let client_handle = {
        let st = h.ta.store.state();
        let ids: Vec<u64> = st.objects.values().filter(|o| o.class() == CKO_TEEHSM_CLIENT).map(|o| o.id).collect();
        assert_eq!(ids.len(), 1);
        ids[0]
    };
    let (mut c, so_s) = so(&h);
    for (conn, session) in [(&mut u, s), (&mut c, so_s)] {
        for template in [vec![], vec![Attribute::ulong(CKA_CLASS, CKO_TEEHSM_CLIENT)], vec![Attribute::new(CKA_TEEHSM_CLIENT_ID, b"svc".to_vec())]] {
            match h.ok(conn, Request::FindObjects { session, template, max: 1000 }) {
                Reply::Handles(v) => assert!(!v.contains(&client_handle), "a client record was found: {v:?}"),
                r => panic!("unexpected {r:?}"),
            }
        }
        h.refused(conn, Request::GetAttributeValue { session, object: client_handle, types: vec![CKA_CLASS, CKA_VALUE] }, Rv::OBJECT_HANDLE_INVALID);
        h.refused(conn, Request::CopyObject { session, object: client_handle, template: vec![] }, Rv::OBJECT_HANDLE_INVALID);
        h.refused(conn, Request::SetAttributeValue { session, object: client_handle, template: vec![] }, Rv::OBJECT_HANDLE_INVALID);
    }
    h.refused(&mut u, Request::DestroyObject { session: s, object: client_handle }, Rv::OBJECT_HANDLE_INVALID);
    h.refused(
        &mut u,
        Request::Sign { session: s, mechanism: Mechanism::new(CKM_SHA256_HMAC), key: client_handle, data: vec![1] },
        Rv::KEY_HANDLE_INVALID,
    );
    match h.ok(&mut u, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => assert_eq!(t.total_objects, objects_before),
        r => panic!("unexpected {r:?}"),
    }
    // Nobody can create an object of the client class.
    h.refused(
        &mut u,
        Request::CreateObject { session: s, template: vec![Attribute::ulong(CKA_CLASS, CKO_TEEHSM_CLIENT), Attribute::bool(CKA_TOKEN, true)] },
        Rv::ATTRIBUTE_VALUE_INVALID,
    );
}

#[test]
fn concurrent_registrations_of_one_id_register_it_once() {
    let h = Harness::new("clients-race");
    let results: Vec<Rv> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                sc.spawn(|| {
                    let (mut c, s) = so(&h);
                    h.rv(&mut c, Request::RegisterClient { session: s, client_id: "svc".into(), acl: vec![] })
                })
            })
            .collect();
        hs.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| **r == Rv::OK).count(), 1, "{results:?}");
    assert_eq!(list(&h).len(), 1);
}
