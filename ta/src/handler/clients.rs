//! API clients (docs/client-auth.md): identities the CA service cannot
//! forge, for the signing API it serves.
//!
//! A client is registered by the token's SO and gets a 32-byte secret that
//! the TA generates and returns once. Each of its requests reaches the TA as
//! `Authorized { client_id, timestamp_ms, nonce, mac, request }`; the TA
//! checks the MAC (HMAC-SHA-256 over [`teehsm_wire::client_auth_message`]),
//! the timestamp window, the nonce against replay and the client's ACL for
//! the inner request, and only then runs the inner request as usual (with
//! its own session and login checks). Calls of the gRPC API
//! (`Request::ApiCall`, `handler::api`) use the same records and the same
//! checks ([`Ta::authenticate`], then [`Ta::consume_nonce`] once the call
//! passed its ACL), over `teehsm_wire::api_auth_message`; the replay cache
//! is shared, so a nonce is single-use across both.
//!
//! Client records are token objects of the internal class
//! `CKO_TEEHSM_CLIENT`, so they are sealed and durable like keys and go away
//! with the token on C_InitToken; `policy::visible` hides them from every
//! PKCS#11 call.

use super::{deny, store_err, Conn, Connection, Result, Ta};
use crate::audit::Event;
use crate::object::{Object, CKA_TEEHSM_CLIENT_ACL, CKA_TEEHSM_CLIENT_ID, CKO_TEEHSM_CLIENT};
use crate::policy::Role;
use crate::store::Op;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use teehsm_crypto::digest::HashAlg;
use teehsm_wire::ck::*;
use teehsm_wire::codec::{Reader, Writer};
use teehsm_wire::{acl_op, AclEntry, Attribute, ClientInfo, OpKind, Reply, Request, Rv, CLIENT_MAC_LEN, CLIENT_NONCE_LEN, CLIENT_SECRET_LEN};
use zeroize::Zeroizing;

/// How far a request's timestamp may be from the TA's clock, either way.
pub const CLIENT_WINDOW_MS: u64 = 120_000;
/// Most nonces remembered per client within one window (about 8,300
/// requests per second sustained, ~25 MB at most per client); beyond it
/// requests are refused until old nonces expire, never accepted unchecked.
pub const MAX_NONCES_PER_CLIENT: usize = 1_000_000;

/// Per-client replay caches and the time the TA started.
pub struct ClientAuth {
    started_ms: u64,
    /// Keys the nonce hashes of the replay caches.
    nonce_hasher: std::collections::hash_map::RandomState,
    seen: Mutex<HashMap<String, ReplayCache>>,
    /// Serializes registration, ACL changes and removal (applications run
    /// concurrently), so a client id is never registered twice.
    admin: Mutex<()>,
    /// Serializes changes to API key records (create, rotate, import,
    /// destroy, restore, expiry) so names stay unique and versions ordered.
    api_keys: Mutex<()>,
}

/// The nonces one client used within the window, each kept as a 64-bit
/// keyed hash (SipHash with a key drawn at TA start) of all 16 bytes: a
/// third of the memory of the full nonce, and two different nonces collide
/// with probability about 2^-44 per request at a full cache, which only
/// ever refuses a genuine request as a replay (the client retries), never
/// lets one through.
#[derive(Default)]
struct ReplayCache {
    nonces: HashSet<u64>,
    /// (expiry in ms, nonce hash) in arrival order.
    expiry: VecDeque<(u64, u64)>,
}

impl ReplayCache {
    /// Forgets nonces whose timestamps can no longer pass the window.
    fn expire(&mut self, now: u64) {
        // Expiries are not sorted (timestamps come from clients), so sweep
        // the front while it is expired and rebuild when the cache is full.
        while let Some((t, n)) = self.expiry.front().copied() {
            if t >= now {
                break;
            }
            self.expiry.pop_front();
            self.nonces.remove(&n);
        }
        if self.nonces.len() >= MAX_NONCES_PER_CLIENT {
            let nonces = &mut self.nonces;
            self.expiry.retain(|(t, n)| {
                let keep = *t >= now;
                if !keep {
                    nonces.remove(n);
                }
                keep
            });
        }
    }
}

impl Default for ClientAuth {
    fn default() -> Self {
        ClientAuth {
            started_ms: now_ms(),
            nonce_hasher: Default::default(),
            seen: Mutex::new(HashMap::new()),
            admin: Mutex::new(()),
            api_keys: Mutex::new(()),
        }
    }
}

pub(super) use crate::audit::now_ms;

fn encode_acl(acl: &[AclEntry]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(acl.len() as u32);
    for e in acl {
        w.str(&e.key_label_prefix).u32(e.operations);
    }
    w.into_vec()
}

fn decode_acl(b: &[u8]) -> Option<Vec<AclEntry>> {
    let mut r = Reader::new(b);
    let n = r.count("ACL entries", teehsm_wire::MAX_ACL_ENTRIES, 8).ok()?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(AclEntry {
            key_label_prefix: r.string("key label prefix", teehsm_wire::MAX_ACL_PREFIX_LEN).ok()?,
            operations: r.u32("ACL operations").ok()?,
        });
    }
    r.finish().ok()?;
    Some(v)
}

fn check_id(id: &str) -> Result<()> {
    if teehsm_wire::valid_client_id(id) {
        Ok(())
    } else {
        Err(deny(Rv::ARGUMENTS_BAD, "a client id is 1 to 64 characters from [A-Za-z0-9._-]"))
    }
}

fn check_acl(acl: &[AclEntry]) -> Result<()> {
    for e in acl {
        if e.operations & !acl_op::ALL != 0 {
            return Err(deny(
                Rv::ARGUMENTS_BAD,
                format!("ACL entry for prefix {:?} has undefined operation bits 0x{:x}", e.key_label_prefix, e.operations & !acl_op::ALL),
            ));
        }
    }
    Ok(())
}

/// What an inner request needs from the client's ACL.
enum Need {
    /// Touches no key: any registered client may send it.
    Nothing,
    /// `op` on the existing object `handle` (looked up in `session`).
    Key { session: u64, handle: u64, op: u32 },
    /// `op` on each of these.
    Keys(Vec<(u64, u64, u32)>),
    /// Creating keys labelled like these templates say (`generate`), plus
    /// an operation on an existing key, if any.
    Create { session: u64, labels: Vec<Vec<u8>>, base: Option<(u64, u32)> },
    /// Continuing the active operation of `kind` on `session`: its key's permission.
    Continue { session: u64, kind: OpKind },
    /// Not allowed through the client layer.
    Refused,
}

fn label_of(template: &[Attribute]) -> Vec<u8> {
    template.iter().find(|a| a.ty == CKA_LABEL).map(|a| a.value.clone()).unwrap_or_default()
}

fn op_for_kind(kind: OpKind) -> Option<u32> {
    match kind {
        OpKind::Digest => None,
        OpKind::Sign => Some(acl_op::SIGN),
        OpKind::Verify => Some(acl_op::VERIFY),
        OpKind::Encrypt => Some(acl_op::ENCRYPT),
        OpKind::Decrypt => Some(acl_op::DECRYPT),
    }
}

/// Deny by default: every request not named here is refused.
fn need(req: &Request) -> Need {
    use Request as R;
    match req {
        R::GetTaInfo
        | R::GetSlotList
        | R::GetTokenInfo { .. }
        | R::GetMechanismList { .. }
        | R::GetMechanismInfo { .. }
        | R::OpenSession { .. }
        | R::CloseSession { .. }
        | R::CloseAllSessions { .. }
        | R::GetSessionInfo { .. }
        | R::Login { .. }
        | R::Logout { .. }
        | R::FindObjects { .. }
        | R::Digest { .. }
        | R::GenerateRandom { .. }
        | R::GetAuditHead
        | R::GetAttestation { .. } => Need::Nothing,
        R::Sign { session, key, .. } => Need::Key { session: *session, handle: *key, op: acl_op::SIGN },
        R::Verify { session, key, .. } => Need::Key { session: *session, handle: *key, op: acl_op::VERIFY },
        R::Encrypt { session, key, .. } => Need::Key { session: *session, handle: *key, op: acl_op::ENCRYPT },
        R::Decrypt { session, key, .. } => Need::Key { session: *session, handle: *key, op: acl_op::DECRYPT },
        R::GetAttributeValue { session, object, .. } => Need::Key { session: *session, handle: *object, op: acl_op::GET_PUBLIC },
        R::DestroyObject { session, object } => Need::Key { session: *session, handle: *object, op: acl_op::DESTROY },
        R::WrapKey { session, wrapping_key, key, .. } => Need::Keys(vec![(*session, *wrapping_key, acl_op::WRAP), (*session, *key, acl_op::WRAP)]),
        R::OpInit { session, kind, key, .. } => match op_for_kind(*kind) {
            Some(op) => Need::Key { session: *session, handle: *key, op },
            None => Need::Nothing,
        },
        R::OpUpdate { session, kind, .. } | R::OpFinal { session, kind, .. } | R::OpSingle { session, kind, .. } => {
            Need::Continue { session: *session, kind: *kind }
        }
        R::GenerateKey { session, template, .. } => Need::Create { session: *session, labels: vec![label_of(template)], base: None },
        R::GenerateKeyPair { session, public_template, private_template, .. } => {
            Need::Create { session: *session, labels: vec![label_of(public_template), label_of(private_template)], base: None }
        }
        R::UnwrapKey { session, unwrapping_key, template, .. } => {
            Need::Create { session: *session, labels: vec![label_of(template)], base: Some((*unwrapping_key, acl_op::UNWRAP)) }
        }
        R::DeriveKey { session, base_key, template, .. } => {
            Need::Create { session: *session, labels: vec![label_of(template)], base: Some((*base_key, acl_op::DERIVE)) }
        }
        R::Encapsulate { session, public_key, template, .. } => {
            Need::Create { session: *session, labels: vec![label_of(template)], base: Some((*public_key, acl_op::ENCAPSULATE)) }
        }
        R::Decapsulate { session, private_key, template, .. } => {
            Need::Create { session: *session, labels: vec![label_of(template)], base: Some((*private_key, acl_op::DECAPSULATE)) }
        }
        // Import, copy, attribute changes, key digests, token and PIN
        // administration, client administration, connection setup and
        // nesting are not part of the client API.
        R::Hello { .. }
        | R::ApiCall { .. }
        | R::JoinApp { .. }
        | R::InitToken { .. }
        | R::InitPin { .. }
        | R::SetPin { .. }
        | R::CreateObject { .. }
        | R::CopyObject { .. }
        | R::SetAttributeValue { .. }
        | R::DigestKey { .. }
        | R::OpenChannel { .. }
        | R::ChannelKeys { .. }
        | R::RegisterClient { .. }
        | R::SetClientAcl { .. }
        | R::RemoveClient { .. }
        | R::ListClients { .. }
        | R::TrustKeydistSigner { .. }
        | R::UntrustKeydistSigner { .. }
        | R::ImportDistributedKey { .. }
        | R::GenerateCsr { .. }
        | R::ListKeydistSigners { .. }
        | R::ApplyTokenPolicy { .. }
        | R::Authorized { .. } => Need::Refused,
    }
}

/// A stored client record.
pub(super) struct Client {
    /// The slot whose SO registered it: the only token it acts on.
    pub slot: u64,
    pub secret: Zeroizing<Vec<u8>>,
    pub acl: Vec<AclEntry>,
}

/// Why a client's request was not authenticated. The messages name the
/// reason, never the secret or the expected MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AuthError {
    UnknownClient,
    BadMac,
    OutsideWindow { timestamp_ms: u64, now_ms: u64 },
    BeforeStart,
    Replay,
    TooManyRequests,
    Internal(&'static str),
}

impl AuthError {
    /// The sentence that explains the refusal of `client_id`'s request.
    pub(super) fn message(&self, client_id: &str) -> String {
        let shown = shown_id(client_id);
        match self {
            AuthError::UnknownClient => format!("no API client {shown:?} is registered"),
            AuthError::BadMac => format!("API client {shown:?}: the request authenticator does not verify"),
            AuthError::OutsideWindow { timestamp_ms, now_ms } => {
                format!("API client {shown:?}: timestamp {timestamp_ms} is more than {} s from the TA clock ({now_ms})", CLIENT_WINDOW_MS / 1000)
            }
            AuthError::BeforeStart => format!("API client {shown:?}: the request predates the TA's start; send a fresh one"),
            AuthError::Replay => format!("API client {shown:?}: this nonce was already used (replayed request)"),
            AuthError::TooManyRequests => format!("API client {shown:?}: too many requests within the replay window; retry later"),
            AuthError::Internal(what) => (*what).to_string(),
        }
    }

    /// As a PKCS#11 refusal of an `Authorized` request.
    fn denied(&self, client_id: &str) -> crate::policy::Denied {
        let rv = match self {
            AuthError::UnknownClient => Rv::USER_NOT_LOGGED_IN,
            AuthError::BadMac | AuthError::OutsideWindow { .. } | AuthError::BeforeStart => Rv::TEEHSM_CLIENT_AUTH_FAILED,
            AuthError::Replay => Rv::TEEHSM_CLIENT_REPLAY,
            AuthError::TooManyRequests => Rv::FUNCTION_FAILED,
            AuthError::Internal(_) => Rv::GENERAL_ERROR,
        };
        deny(rv, self.message(client_id))
    }

    /// True once the MAC verified: the refusal can be MACed for the client.
    pub(super) fn after_mac(&self) -> bool {
        !matches!(self, AuthError::UnknownClient | AuthError::BadMac)
    }
}

/// A client id as messages and audit entries show it.
pub(super) fn shown_id(client_id: &str) -> &str {
    if teehsm_wire::valid_client_id(client_id) {
        client_id
    } else {
        "<invalid id>"
    }
}

pub(super) fn allows(acl: &[AclEntry], label: &[u8], op: u32) -> bool {
    acl.iter().any(|e| e.operations & op == op && label.starts_with(e.key_label_prefix.as_bytes()))
}

impl Ta {
    /// The record object of `client_id`, in any slot.
    fn client_object(&self, client_id: &str) -> Option<Arc<Object>> {
        let st = self.store.state();
        let probe = [Attribute::new(CKA_TEEHSM_CLIENT_ID, client_id.as_bytes().to_vec())];
        let found = st.candidates(&probe).find(|o| o.class() == CKO_TEEHSM_CLIENT && o.matches(&probe)).cloned();
        found
    }

    pub(super) fn client(&self, client_id: &str) -> Option<Client> {
        let o = self.client_object(client_id)?;
        let secret = o.secret.clone()?;
        let acl = decode_acl(o.get(CKA_TEEHSM_CLIENT_ACL)?)?;
        Some(Client { slot: o.slot, secret, acl })
    }

    /// The slot of an SO-logged-in session, or why not.
    fn so_slot(&self, conn: &Conn, session: u64) -> Result<u64> {
        let (s, actor) = self.actor(conn, session)?;
        if actor.role != Role::So {
            return Err(deny(Rv::USER_NOT_LOGGED_IN, "managing API clients needs a session where the SO is logged in"));
        }
        Ok(s.slot)
    }

    fn audit_client(&self, conn: &Conn, op: &str, client_id: &str, slot: Option<u64>, session: Option<u64>, rv: Rv) {
        let app = if conn.client.is_empty() { String::new() } else { format!("{} ", conn.client) };
        self.audit.append(Event {
            op: op.to_string(),
            client: Some(format!("{app}api-client:{client_id}")),
            slot,
            session,
            object: None,
            mechanism: None,
            key: None,
            rv: rv.0,
        });
    }

    fn audited_client<T>(&self, conn: &Conn, op: &str, client_id: &str, session: u64, r: Result<T>) -> Result<T> {
        let slot = conn.sessions.get(&session).map(|s| s.slot);
        self.audit_client(conn, op, client_id, slot, Some(session), r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK));
        r
    }

    pub(super) fn register_client(&self, conn: &Conn, session: u64, client_id: &str, acl: Vec<AclEntry>) -> Result<Reply> {
        let r = (|| {
            let slot = self.so_slot(conn, session)?;
            check_id(client_id)?;
            check_acl(&acl)?;
            let _admin = self.admin_lock()?;
            if self.client_object(client_id).is_some() {
                return Err(deny(Rv::ARGUMENTS_BAD, format!("API client {client_id:?} is already registered")));
            }
            let mut secret = Zeroizing::new(vec![0u8; CLIENT_SECRET_LEN]);
            teehsm_crypto::rng::fill(&mut secret[..]).map_err(crate::keys::crypto_denied)?;
            let mut o = Object::new(self.store.alloc_id(), slot);
            o.set_ulong(CKA_CLASS, CKO_TEEHSM_CLIENT);
            o.set_bool(CKA_TOKEN, true);
            o.set_bool(CKA_PRIVATE, true);
            o.attrs.insert(CKA_TEEHSM_CLIENT_ID, client_id.as_bytes().to_vec());
            o.attrs.insert(CKA_TEEHSM_CLIENT_ACL, encode_acl(&acl));
            o.secret = Some(secret.clone());
            self.store.commit(vec![Op::PutObject(Arc::new(o))]).map_err(store_err)?;
            // A fresh registration starts with an empty replay cache.
            self.forget_nonces(client_id);
            Ok(Reply::Bytes(secret.to_vec()))
        })();
        self.audited_client(conn, "RegisterClient", client_id, session, r)
    }

    pub(super) fn set_client_acl(&self, conn: &Conn, session: u64, client_id: &str, acl: Vec<AclEntry>) -> Result<Reply> {
        let r = (|| {
            let slot = self.so_slot(conn, session)?;
            check_acl(&acl)?;
            let _admin = self.admin_lock()?;
            let o = self.client_object(client_id).filter(|o| o.slot == slot).ok_or_else(|| unknown_client(client_id))?;
            let mut n = (*o).clone();
            n.attrs.insert(CKA_TEEHSM_CLIENT_ACL, encode_acl(&acl));
            self.store.commit(vec![Op::PutObject(Arc::new(n))]).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        self.audited_client(conn, "SetClientAcl", client_id, session, r)
    }

    pub(super) fn remove_client(&self, conn: &Conn, session: u64, client_id: &str) -> Result<Reply> {
        let r = (|| {
            let slot = self.so_slot(conn, session)?;
            let _admin = self.admin_lock()?;
            let o = self.client_object(client_id).filter(|o| o.slot == slot).ok_or_else(|| unknown_client(client_id))?;
            self.store.commit(vec![Op::DeleteObject(o.id)]).map_err(store_err)?;
            self.forget_nonces(client_id);
            Ok(Reply::Done)
        })();
        self.audited_client(conn, "RemoveClient", client_id, session, r)
    }

    pub(super) fn list_clients(&self, conn: &Conn, session: u64) -> Result<Reply> {
        let slot = self.so_slot(conn, session)?;
        let st = self.store.state();
        let mut v: Vec<ClientInfo> = st
            .objects
            .values()
            .filter(|o| o.slot == slot && o.class() == CKO_TEEHSM_CLIENT)
            .filter_map(|o| {
                let id = String::from_utf8(o.get(CKA_TEEHSM_CLIENT_ID)?.to_vec()).ok()?;
                let acl = decode_acl(o.get(CKA_TEEHSM_CLIENT_ACL)?)?;
                Some(ClientInfo { client_id: id, acl })
            })
            .collect();
        v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        v.truncate(teehsm_wire::MAX_CLIENTS);
        Ok(Reply::Clients(v))
    }

    fn admin_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.clients.admin.lock().map_err(|_| deny(Rv::GENERAL_ERROR, "client administration lock poisoned"))
    }

    fn forget_nonces(&self, client_id: &str) {
        if let Ok(mut seen) = self.clients.seen.lock() {
            seen.remove(client_id);
        }
    }

    /// Checks an `Authorized` request: MAC, window, replay, then ACL. Ok
    /// means the inner request may run (with its own checks). Every
    /// decision is audited with the client id.
    pub(super) fn authorize(
        &self,
        c: &Connection,
        client_id: &str,
        timestamp_ms: u64,
        nonce: &[u8; CLIENT_NONCE_LEN],
        mac: &[u8; CLIENT_MAC_LEN],
        request: &Request,
    ) -> Result<()> {
        let conn = c.app.read();
        let r = self.authorize_inner(&conn, client_id, timestamp_ms, nonce, mac, request);
        let shown = shown_id(client_id);
        let op = format!("Authorized:{}", request.name());
        self.audit_client(&conn, &op, shown, None, session_of(request), r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK));
        r
    }

    fn authorize_inner(
        &self,
        conn: &Conn,
        client_id: &str,
        timestamp_ms: u64,
        nonce: &[u8; CLIENT_NONCE_LEN],
        mac: &[u8; CLIENT_MAC_LEN],
        request: &Request,
    ) -> Result<()> {
        let msg = teehsm_wire::client_auth_message(client_id, timestamp_ms, nonce, request);
        let client = self.authenticate(client_id, timestamp_ms, &msg, mac).map_err(|e| e.denied(client_id))?;
        self.check_acl(conn, client_id, &client, request)?;
        // The nonce is recorded last, only for requests that passed every
        // check, so refused requests cannot fill the cache.
        self.consume_nonce(client_id, timestamp_ms, nonce).map_err(|e| e.denied(client_id))
    }

    /// The first half of authenticating a client's request (`Authorized`
    /// and `ApiCall` alike): the client record, the MAC over `msg` (in
    /// constant time), the timestamp window and the TA-start rule. The
    /// nonce is checked and recorded separately ([`Ta::consume_nonce`]) once
    /// the request has passed its other checks.
    pub(super) fn authenticate(
        &self,
        client_id: &str,
        timestamp_ms: u64,
        msg: &[u8],
        mac: &[u8; CLIENT_MAC_LEN],
    ) -> std::result::Result<Client, AuthError> {
        let client = self.client(client_id).ok_or(AuthError::UnknownClient)?;
        teehsm_crypto::mac::hmac_verify(HashAlg::Sha256, &client.secret, msg, mac).map_err(|_| AuthError::BadMac)?;
        let now = now_ms();
        if timestamp_ms.abs_diff(now) > CLIENT_WINDOW_MS {
            return Err(AuthError::OutsideWindow { timestamp_ms, now_ms: now });
        }
        if timestamp_ms < self.clients.started_ms {
            // The replay cache does not survive a restart; requests made
            // before it could otherwise be replayed.
            return Err(AuthError::BeforeStart);
        }
        Ok(client)
    }

    /// Records `nonce` for `client_id`, refusing one already seen within the window.
    pub(super) fn consume_nonce(&self, client_id: &str, timestamp_ms: u64, nonce: &[u8; CLIENT_NONCE_LEN]) -> std::result::Result<(), AuthError> {
        use std::hash::BuildHasher;
        let key = self.clients.nonce_hasher.hash_one(nonce);
        let mut seen = self.clients.seen.lock().map_err(|_| AuthError::Internal("replay cache lock poisoned"))?;
        let cache = match seen.get_mut(client_id) {
            Some(c) => c,
            None => seen.entry(client_id.to_string()).or_default(),
        };
        cache.expire(now_ms());
        if cache.nonces.contains(&key) {
            return Err(AuthError::Replay);
        }
        if cache.nonces.len() >= MAX_NONCES_PER_CLIENT {
            return Err(AuthError::TooManyRequests);
        }
        cache.nonces.insert(key);
        cache.expiry.push_back((timestamp_ms.saturating_add(CLIENT_WINDOW_MS), key));
        Ok(())
    }

    /// Serializes changes to API key records (`handler::api::keys`).
    pub(super) fn api_key_lock(&self) -> std::result::Result<std::sync::MutexGuard<'_, ()>, AuthError> {
        self.clients.api_keys.lock().map_err(|_| AuthError::Internal("API key lock poisoned"))
    }

    fn check_acl(&self, conn: &Conn, client_id: &str, client: &Client, request: &Request) -> Result<()> {
        let refuse = |what: String| deny(Rv::KEY_FUNCTION_NOT_PERMITTED, format!("API client {client_id:?} may not {what}"));
        // A client acts only in the slot whose SO registered it.
        if let Some(session) = session_of(request) {
            if let Some(s) = conn.sessions.get(&session) {
                if s.slot != client.slot {
                    return Err(refuse(format!("use slot {} (it is registered in slot {})", s.slot, client.slot)));
                }
            }
        }
        let key = |session: u64, handle: u64, op: u32| -> Result<()> {
            let (s, actor) = self.actor(conn, session)?;
            let o = self.object(conn, s, actor, handle, Rv::KEY_HANDLE_INVALID)?;
            if allows(&client.acl, o.label(), op) {
                Ok(())
            } else {
                Err(refuse(format!("{} with object {handle} (label {:?})", acl_op::name(op), String::from_utf8_lossy(o.label()))))
            }
        };
        match need(request) {
            Need::Nothing => Ok(()),
            Need::Key { session, handle, op } => key(session, handle, op),
            Need::Keys(v) => v.into_iter().try_for_each(|(s, h, op)| key(s, h, op)),
            Need::Create { session, labels, base } => {
                self.session(conn, session)?;
                for l in &labels {
                    if !allows(&client.acl, l, acl_op::GENERATE) {
                        return Err(refuse(format!("generate keys labelled {:?}", String::from_utf8_lossy(l))));
                    }
                }
                match base {
                    Some((h, op)) => key(session, h, op),
                    None => Ok(()),
                }
            }
            Need::Continue { session, kind } => {
                self.session(conn, session)?;
                let handle = {
                    let ops = conn.ops.lock().map_err(|_| deny(Rv::GENERAL_ERROR, "operation table lock poisoned"))?;
                    match ops.get(&(session, kind)) {
                        Some(op) => op.key_handle(),
                        None => return Err(deny(Rv::OPERATION_NOT_INITIALIZED, format!("no {kind:?} operation is active on session {session}"))),
                    }
                };
                match (handle, op_for_kind(kind)) {
                    (Some(h), Some(op)) => key(session, h, op),
                    (None, None) => Ok(()),
                    _ => Err(refuse(format!("continue this {kind:?} operation"))),
                }
            }
            Need::Refused => Err(refuse(format!("send {} (not part of the client API)", request.name()))),
        }
    }
}

fn unknown_client(client_id: &str) -> crate::policy::Denied {
    AuthError::UnknownClient.denied(client_id)
}

/// The session a request names, if any.
fn session_of(req: &Request) -> Option<u64> {
    use Request as R;
    match req {
        R::CloseSession { session }
        | R::GetSessionInfo { session }
        | R::Login { session, .. }
        | R::Logout { session }
        | R::InitPin { session, .. }
        | R::SetPin { session, .. }
        | R::CreateObject { session, .. }
        | R::CopyObject { session, .. }
        | R::DestroyObject { session, .. }
        | R::GetAttributeValue { session, .. }
        | R::SetAttributeValue { session, .. }
        | R::FindObjects { session, .. }
        | R::GenerateKey { session, .. }
        | R::GenerateKeyPair { session, .. }
        | R::Sign { session, .. }
        | R::Verify { session, .. }
        | R::Encrypt { session, .. }
        | R::Decrypt { session, .. }
        | R::Digest { session, .. }
        | R::WrapKey { session, .. }
        | R::UnwrapKey { session, .. }
        | R::DeriveKey { session, .. }
        | R::Encapsulate { session, .. }
        | R::Decapsulate { session, .. }
        | R::GenerateRandom { session, .. }
        | R::OpInit { session, .. }
        | R::OpUpdate { session, .. }
        | R::OpFinal { session, .. }
        | R::OpSingle { session, .. }
        | R::DigestKey { session, .. }
        | R::RegisterClient { session, .. }
        | R::SetClientAcl { session, .. }
        | R::RemoveClient { session, .. }
        | R::ListClients { session }
        | R::TrustKeydistSigner { session, .. }
        | R::UntrustKeydistSigner { session, .. }
        | R::ImportDistributedKey { session, .. }
        | R::GenerateCsr { session, .. }
        | R::ListKeydistSigners { session }
        | R::ApplyTokenPolicy { session, .. } => Some(*session),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_round_trip_and_matching() {
        let acl = vec![
            AclEntry { key_label_prefix: "pay/".into(), operations: acl_op::SIGN },
            AclEntry { key_label_prefix: String::new(), operations: acl_op::GET_PUBLIC },
        ];
        assert_eq!(decode_acl(&encode_acl(&acl)), Some(acl.clone()));
        assert!(decode_acl(&[0, 0, 0, 1]).is_none());
        assert!(allows(&acl, b"pay/k1", acl_op::SIGN));
        assert!(!allows(&acl, b"other", acl_op::SIGN));
        assert!(!allows(&acl, b"pay/k1", acl_op::DECRYPT));
        assert!(allows(&acl, b"anything", acl_op::GET_PUBLIC));
        assert!(!allows(&[], b"", acl_op::GET_PUBLIC));
    }

    #[test]
    fn replay_cache_expires() {
        let mut c = ReplayCache::default();
        c.nonces.insert(1);
        c.expiry.push_back((100, 1));
        c.nonces.insert(2);
        c.expiry.push_back((300, 2));
        c.expire(200);
        assert!(!c.nonces.contains(&1));
        assert!(c.nonces.contains(&2));
    }
}
