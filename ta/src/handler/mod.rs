//! Request handling: turns one decoded request into one response, making
//! every authorization decision through `policy` and every persistent change
//! through `store`.

mod api;
mod apps;
mod cipher_stream;
mod clients;
mod csr;
mod keydist;
mod objects;
mod ops;
mod stream;
mod tokens;

pub use apps::{App, Connection};
pub use clients::{CLIENT_WINDOW_MS, MAX_NONCES_PER_CLIENT};
pub use keydist::{KEYDIST_CLOCK_SKEW_MS, KEYDIST_MAX_VALIDITY_MS, MAX_REMEMBERED_ENVELOPES};

use crate::audit::{AuditLog, Event};
use crate::channel::ChannelKey;
use crate::object::{Object, SESSION_OBJECT_BIT};
use crate::platform::Platform;
use crate::policy::{Actor, Denied, Role};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use teehsm_wire::{Reply, Request, Response, Rv, TaInfo, PROTOCOL_VERSION};

/// Default of [`HandlerConfig::max_token_objects`].
pub const DEFAULT_MAX_TOKEN_OBJECTS: u64 = 100_000;

/// Settings of the running TA that affect request handling.
#[derive(Clone, Debug)]
pub struct HandlerConfig {
    pub slots: u64,
    pub pin_iterations: u32,
    pub max_pin_failures: u32,
    pub min_pin_len: usize,
    pub max_pin_len: usize,
    /// Refuse Hello on a plain connection: clients must open the attested
    /// channel first (`require_channel`, default false; docs/channel.md).
    pub require_channel: bool,
    /// Most objects one token may hold (`max_token_objects`; 0: no
    /// limit). Creating more fails with CKR_DEVICE_MEMORY; GetTokenInfo
    /// reports it so the CA and the fleet agent can show fill levels.
    pub max_token_objects: u64,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        HandlerConfig {
            slots: 1,
            pin_iterations: 100_000,
            max_pin_failures: 10,
            min_pin_len: 4,
            max_pin_len: 64,
            require_channel: false,
            max_token_objects: DEFAULT_MAX_TOKEN_OBJECTS,
        }
    }
}

struct SlotCounters {
    sessions: AtomicU64,
    rw_sessions: AtomicU64,
}

/// The TA's shared state.
pub struct Ta {
    pub platform: Arc<dyn Platform>,
    pub store: Store,
    pub audit: Arc<AuditLog>,
    pub cfg: HandlerConfig,
    pub self_tests: Vec<String>,
    /// The ephemeral channel key bundle every attestation report binds (see `channel`).
    pub channel: ChannelKey,
    /// Serializes PIN checks and token initialization per slot.
    token_locks: Vec<Mutex<()>>,
    counters: Vec<SlotCounters>,
    next_session: AtomicU64,
    next_session_object: AtomicU64,
    next_conn: AtomicU64,
    apps: apps::AppRegistry,
    /// API client replay caches (see `clients`).
    clients: clients::ClientAuth,
    /// Key distribution replay cache (see `keydist`).
    keydist: keydist::Keydist,
}

/// A session inside one connection.
#[derive(Clone, Copy, Debug)]
pub struct Session {
    pub slot: u64,
    pub rw: bool,
}

/// One PKCS#11 application's state (see `apps`): its sessions, logins and
/// session objects, shared by the connections that joined it.
pub struct Conn {
    pub id: u64,
    pub client: String,
    sessions: HashMap<u64, Session>,
    login: HashMap<u64, Role>,
    /// Session objects and the session that owns each.
    objects: HashMap<u64, (u64, Arc<Object>)>,
    /// Active multi-part operations by (session, kind); behind their own
    /// lock so updates run under the application's read lock.
    ops: Mutex<HashMap<(u64, teehsm_wire::OpKind), stream::ActiveOp>>,
}

type Result<T> = std::result::Result<T, Denied>;

/// What the read-locked dispatch did with a request.
enum Shared {
    Handled(Result<Reply>),
    NeedsWrite(Request),
}

pub(crate) fn deny(rv: Rv, message: impl Into<String>) -> Denied {
    Denied { rv, message: message.into() }
}

impl Ta {
    /// The TA's shared state; generates this process's channel key pair.
    pub fn new(
        platform: Arc<dyn Platform>,
        store: Store,
        audit: Arc<AuditLog>,
        cfg: HandlerConfig,
        self_tests: Vec<String>,
    ) -> std::result::Result<Self, teehsm_crypto::CryptoError> {
        let slots = cfg.slots as usize;
        let channel = ChannelKey::generate()?;
        Ok(Ta {
            platform,
            channel,
            store,
            audit,
            self_tests,
            token_locks: (0..slots).map(|_| Mutex::new(())).collect(),
            counters: (0..slots).map(|_| SlotCounters { sessions: AtomicU64::new(0), rw_sessions: AtomicU64::new(0) }).collect(),
            next_session: AtomicU64::new(1),
            next_session_object: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
            apps: apps::AppRegistry::default(),
            clients: clients::ClientAuth::default(),
            keydist: keydist::Keydist::default(),
            cfg,
        })
    }

    fn new_app_state(&self) -> Conn {
        Conn {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            client: String::new(),
            sessions: HashMap::new(),
            login: HashMap::new(),
            objects: HashMap::new(),
            ops: Mutex::new(HashMap::new()),
        }
    }

    /// Ends an application: closes its sessions (and so its session objects and logins).
    fn close_app(&self, conn: &mut Conn) {
        let handles: Vec<u64> = conn.sessions.keys().copied().collect();
        for h in handles {
            self.drop_session(conn, h);
        }
    }

    /// Handles one request.
    pub fn handle(&self, c: &mut Connection, req: Request) -> Response {
        let name = req.name();
        let result = match req {
            // The server checks that `channel` matches how the connection
            // is protected (teehsm_ta::server) before a Hello gets here.
            Request::Hello { client, channel } => {
                c.hello = true;
                c.app.write().client = client;
                Ok(Reply::Hello { version: PROTOCOL_VERSION, ta_version: env!("CARGO_PKG_VERSION").into(), channel, app_ticket: self.ticket(c) })
            }
            // The channel handshake is handled by the server loop, only as
            // the first requests of a fresh connection.
            Request::OpenChannel { .. } | Request::ChannelKeys { .. } => {
                return Response::err(
                    Rv::TEEHSM_MALFORMED_REQUEST,
                    "OpenChannel and ChannelKeys are only allowed as the first requests of a fresh connection",
                )
            }
            _ if !c.hello => return Response::err(Rv::TEEHSM_NO_HELLO, "the first request on a connection must be Hello"),
            Request::JoinApp { ticket } => self.join(c, &ticket.0),
            // A gRPC API call (handler::api) needs no session or login: the
            // client's authenticator and ACL are the authority. It runs
            // without the application's lock, so a slow call (an RSA key
            // generation, a store commit) never holds up the application.
            Request::ApiCall { client_id, timestamp_ms, nonce, mac, method, body } => {
                let app = c.app.read().client.clone();
                Ok(self.api_call(&app, &client_id, timestamp_ms, &nonce, &mac, &method, &body))
            }
            // An API client's request (docs/client-auth.md): authenticated
            // and checked against the client's ACL, then run as usual.
            Request::Authorized { client_id, timestamp_ms, nonce, mac, request } => {
                if matches!(*request, Request::Authorized { .. }) {
                    Err(deny(Rv::TEEHSM_MALFORMED_REQUEST, "Authorized requests may not be nested"))
                } else {
                    match self.authorize(c, &client_id, timestamp_ms, &nonce, &mac, &request) {
                        Ok(()) => return self.handle(c, *request),
                        Err(d) => Err(d),
                    }
                }
            }
            req => {
                // Requests that only read the application's state run
                // concurrently with other connections of the same application.
                let shared = {
                    let st = c.app.read();
                    self.dispatch_shared(&st, req)
                };
                match shared {
                    Shared::Handled(r) => r,
                    Shared::NeedsWrite(req) => self.dispatch(&mut c.app.write(), req),
                }
            }
        };
        match result {
            Ok(reply) => Response::Ok(reply),
            Err(d) => {
                tracing::debug!(op = name, rv = %d.rv, message = %d.message, "request refused");
                Response::Err { rv: d.rv, message: d.message }
            }
        }
    }

    /// The requests that do not change the application's state; any other
    /// request is handed back.
    fn dispatch_shared(&self, conn: &Conn, req: Request) -> Shared {
        Shared::Handled(match req {
            Request::Sign { session, mechanism, key, data } => self.sign(conn, session, &mechanism, key, &data),
            Request::Verify { session, mechanism, key, data, signature } => self.verify(conn, session, &mechanism, key, &data, &signature),
            Request::Encrypt { session, mechanism, key, data } => self.encrypt(conn, session, &mechanism, key, &data),
            Request::Decrypt { session, mechanism, key, data } => self.decrypt(conn, session, &mechanism, key, &data),
            Request::GetAttributeValue { session, object, types } => self.get_attributes(conn, session, object, &types),
            Request::FindObjects { session, template, max } => self.find_objects(conn, session, &template, max),
            Request::WrapKey { session, mechanism, wrapping_key, key } => self.wrap_key(conn, session, &mechanism, wrapping_key, key),
            Request::GetSessionInfo { session } => self.session_info(conn, session),
            Request::Digest { session, mechanism, data } => self.digest(conn, session, &mechanism, &data),
            Request::GenerateRandom { session, len } => self.random(conn, session, len),
            Request::OpInit { session, kind, mechanism, key } => self.op_init(conn, session, kind, mechanism, key),
            Request::OpUpdate { session, kind, data } => self.op_update(conn, session, kind, &data),
            Request::OpFinal { session, kind, signature } => self.op_final(conn, session, kind, &signature),
            Request::OpSingle { session, kind, data, signature } => self.op_single(conn, session, kind, &data, &signature),
            Request::DigestKey { session, key } => self.digest_key(conn, session, key),
            Request::GetAttestation { nonce } => self.attestation(conn, &nonce),
            other => return Shared::NeedsWrite(other),
        })
    }

    fn dispatch(&self, conn: &mut Conn, req: Request) -> Result<Reply> {
        match req {
            Request::Hello { .. } | Request::JoinApp { .. } => {
                Err(deny(Rv::TEEHSM_MALFORMED_REQUEST, "Hello and JoinApp are handled per connection"))
            }
            Request::ApiCall { client_id, timestamp_ms, nonce, mac, method, body } => {
                Ok(self.api_call(&conn.client, &client_id, timestamp_ms, &nonce, &mac, &method, &body))
            }
            Request::GetTaInfo => Ok(Reply::TaInfo(TaInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                platform: self.platform.name().into(),
                simulation: self.platform.is_simulation(),
                measurement: self.platform.measurement().to_vec(),
                security_version: self.platform.identity().security_version,
                self_tests: self.self_tests.clone(),
                slots: self.cfg.slots as u32,
            })),
            Request::GetSlotList => Ok(Reply::Handles((0..self.cfg.slots).collect())),
            Request::GetTokenInfo { slot } => self.token_info(slot),
            Request::GetMechanismList { slot } => {
                self.check_slot(slot)?;
                let rules = self.crypto_rules(slot);
                Ok(Reply::Mechanisms(
                    crate::mech::MECHANISMS.iter().filter(|m| rules.mechanism_info(m.0, m.1, m.2, m.3).is_some()).map(|m| m.0).collect(),
                ))
            }
            Request::GetMechanismInfo { slot, mech } => {
                self.check_slot(slot)?;
                let m = crate::mech::MECHANISMS
                    .iter()
                    .find(|m| m.0 == mech)
                    .ok_or_else(|| deny(Rv::MECHANISM_INVALID, format!("mechanism 0x{mech:x} is not supported")))?;
                self.crypto_rules(slot)
                    .mechanism_info(m.0, m.1, m.2, m.3)
                    .map(|(min_key, max_key, flags)| Reply::MechanismInfo { min_key, max_key, flags })
                    .ok_or_else(|| {
                        deny(Rv::MECHANISM_INVALID, format!("mechanism 0x{mech:x} is refused by the token's policy (pushed by the fleet console)"))
                    })
            }
            Request::InitToken { slot, so_pin, label } => self.init_token(conn, slot, &so_pin.0, &label),
            Request::OpenSession { slot, flags } => self.open_session(conn, slot, flags),
            Request::CloseSession { session } => {
                self.session(conn, session)?;
                self.drop_session(conn, session);
                Ok(Reply::Done)
            }
            Request::CloseAllSessions { slot } => {
                self.check_slot(slot)?;
                let hs: Vec<u64> = conn.sessions.iter().filter(|(_, s)| s.slot == slot).map(|(h, _)| *h).collect();
                for h in hs {
                    self.drop_session(conn, h);
                }
                Ok(Reply::Done)
            }
            Request::GetSessionInfo { session } => self.session_info(conn, session),
            Request::Login { session, user_type, pin } => self.login(conn, session, user_type, &pin.0),
            Request::Logout { session } => self.logout(conn, session),
            Request::InitPin { session, pin } => self.init_pin(conn, session, &pin.0),
            Request::SetPin { session, old_pin, new_pin } => self.set_pin(conn, session, &old_pin.0, &new_pin.0),
            Request::CreateObject { session, template } => self.create_object(conn, session, template),
            Request::CopyObject { session, object, template } => self.copy_object(conn, session, object, template),
            Request::DestroyObject { session, object } => self.destroy_object(conn, session, object),
            Request::GetAttributeValue { session, object, types } => self.get_attributes(conn, session, object, &types),
            Request::SetAttributeValue { session, object, template } => self.set_attributes(conn, session, object, template),
            Request::FindObjects { session, template, max } => self.find_objects(conn, session, &template, max),
            Request::GenerateKey { session, mechanism, template } => self.generate_key(conn, session, mechanism, template),
            Request::GenerateKeyPair { session, mechanism, public_template, private_template } => {
                self.generate_key_pair(conn, session, mechanism, public_template, private_template)
            }
            Request::Sign { session, mechanism, key, data } => self.sign(conn, session, &mechanism, key, &data),
            Request::Verify { session, mechanism, key, data, signature } => self.verify(conn, session, &mechanism, key, &data, &signature),
            Request::Encrypt { session, mechanism, key, data } => self.encrypt(conn, session, &mechanism, key, &data),
            Request::Decrypt { session, mechanism, key, data } => self.decrypt(conn, session, &mechanism, key, &data),
            Request::Digest { session, mechanism, data } => self.digest(conn, session, &mechanism, &data),
            Request::WrapKey { session, mechanism, wrapping_key, key } => self.wrap_key(conn, session, &mechanism, wrapping_key, key),
            Request::UnwrapKey { session, mechanism, unwrapping_key, wrapped, template } => {
                self.unwrap_key(conn, session, &mechanism, unwrapping_key, &wrapped, template)
            }
            Request::DeriveKey { session, mechanism, base_key, template } => self.derive_key(conn, session, &mechanism, base_key, template),
            Request::Encapsulate { session, mechanism, public_key, template } => self.encapsulate(conn, session, &mechanism, public_key, template),
            Request::Decapsulate { session, mechanism, private_key, ciphertext, template } => {
                self.decapsulate(conn, session, &mechanism, private_key, &ciphertext, template)
            }
            Request::GenerateRandom { session, len } => self.random(conn, session, len),
            Request::OpInit { session, kind, mechanism, key } => self.op_init(conn, session, kind, mechanism, key),
            Request::OpUpdate { session, kind, data } => self.op_update(conn, session, kind, &data),
            Request::OpFinal { session, kind, signature } => self.op_final(conn, session, kind, &signature),
            Request::OpSingle { session, kind, data, signature } => self.op_single(conn, session, kind, &data, &signature),
            Request::DigestKey { session, key } => self.digest_key(conn, session, key),
            Request::GetAttestation { nonce } => self.attestation(conn, &nonce),
            Request::OpenChannel { .. } | Request::ChannelKeys { .. } => {
                Err(deny(Rv::TEEHSM_MALFORMED_REQUEST, "OpenChannel and ChannelKeys are only allowed as the first requests of a fresh connection"))
            }
            Request::RegisterClient { session, client_id, acl } => self.register_client(conn, session, &client_id, acl),
            Request::SetClientAcl { session, client_id, acl } => self.set_client_acl(conn, session, &client_id, acl),
            Request::RemoveClient { session, client_id } => self.remove_client(conn, session, &client_id),
            Request::ListClients { session } => self.list_clients(conn, session),
            Request::TrustKeydistSigner { session, public_key } => self.trust_keydist_signer(conn, session, &public_key),
            Request::UntrustKeydistSigner { session, public_key } => self.untrust_keydist_signer(conn, session, &public_key),
            Request::ImportDistributedKey { session, envelope } => self.import_distributed_key(conn, session, &envelope),
            Request::ApplyTokenPolicy { session, policy } => self.apply_token_policy(conn, session, &policy),
            Request::GenerateCsr { session, key, subject, mechanism } => self.generate_csr(conn, session, key, &subject, mechanism),
            Request::ListKeydistSigners { session } => self.list_keydist_signers(conn, session),
            Request::Authorized { .. } => Err(deny(Rv::TEEHSM_MALFORMED_REQUEST, "Authorized requests are handled per connection")),
            Request::GetAuditHead => {
                let (seq, hash) = self.audit.head();
                Ok(Reply::AuditHead(teehsm_wire::AuditHead { seq, hash: hash.to_vec() }))
            }
        }
    }

    /// A platform report over `nonce || SHA-256(channel public key)`, with
    /// the channel public key alongside. Needs no session and no login; audited.
    fn attestation(&self, conn: &Conn, nonce: &[u8]) -> Result<Reply> {
        let r = self.make_attestation(nonce);
        self.audit(conn, "GetAttestation", None, None, None, None, r.as_ref().map(|_| Rv::OK).unwrap_or_else(|d| d.rv));
        r
    }

    /// The report that answers `OpenChannel { nonce }` (audited as
    /// `OpenChannel`), or the error response to send.
    pub fn channel_report(&self, c: &Connection, nonce: &[u8; 32]) -> std::result::Result<teehsm_wire::AttestationReport, Response> {
        let r = self.make_attestation(nonce);
        self.audit_channel(c, "OpenChannel", r.as_ref().map(|_| Rv::OK).unwrap_or_else(|d| d.rv));
        match r {
            Ok(Reply::Attestation(rep)) => Ok(*rep),
            Ok(_) => Err(Response::err(Rv::GENERAL_ERROR, "internal error while making the channel report")),
            Err(d) => Err(Response::Err { rv: d.rv, message: d.message }),
        }
    }

    /// Appends a channel event (handshake steps, refused frames) to the audit log.
    pub fn audit_channel(&self, c: &Connection, op: &str, rv: Rv) {
        let st = c.app.read();
        self.audit(&st, op, None, None, None, None, rv);
    }

    fn make_attestation(&self, nonce: &[u8]) -> Result<Reply> {
        let nonce: &[u8; teehsm_wire::ATTESTATION_NONCE_LEN] = nonce.try_into().map_err(|_| {
            deny(
                Rv::ARGUMENTS_BAD,
                format!("the attestation nonce must be exactly {} bytes, got {}", teehsm_wire::ATTESTATION_NONCE_LEN, nonce.len()),
            )
        })?;
        let report = self.platform.report(&self.channel.report_data(nonce)).map_err(|e| {
            tracing::error!(error = %e, "the platform could not produce a report");
            deny(Rv::DEVICE_ERROR, format!("the platform could not produce an attestation report: {e}"))
        })?;
        Ok(Reply::Attestation(Box::new(teehsm_wire::AttestationReport {
            platform: report.platform,
            simulation: report.simulation,
            measurement: report.measurement,
            signer: report.identity.signer,
            product_id: report.identity.product_id,
            security_version: report.identity.security_version,
            report_data: report.report_data,
            body: report.body,
            signature: report.signature,
            channel_public_key: self.channel.public_key().to_vec(),
        })))
    }

    fn digest(&self, conn: &Conn, session: u64, mechanism: &teehsm_wire::Mechanism, data: &[u8]) -> Result<Reply> {
        self.session(conn, session)?;
        Ok(Reply::Bytes(crate::mech::digest(mechanism, data)?))
    }

    fn random(&self, conn: &Conn, session: u64, len: u32) -> Result<Reply> {
        self.session(conn, session)?;
        if len as usize > teehsm_wire::MAX_DATA_LEN {
            return Err(deny(Rv::DATA_LEN_RANGE, "at most 1 MiB of random data per call"));
        }
        let mut out = vec![0u8; len as usize];
        teehsm_crypto::rng::fill(&mut out).map_err(crate::keys::crypto_denied)?;
        Ok(Reply::Bytes(out))
    }

    // ------------------------------------------------------------ shared helpers

    fn check_slot(&self, slot: u64) -> Result<()> {
        if slot < self.cfg.slots {
            Ok(())
        } else {
            Err(deny(Rv::SLOT_ID_INVALID, format!("slot {slot} does not exist (this TA has {} slots)", self.cfg.slots)))
        }
    }

    fn session(&self, conn: &Conn, handle: u64) -> Result<Session> {
        conn.sessions
            .get(&handle)
            .copied()
            .ok_or_else(|| deny(Rv::SESSION_HANDLE_INVALID, format!("session {handle} is not open on this connection")))
    }

    /// The session and who is acting in it.
    fn actor(&self, conn: &Conn, handle: u64) -> Result<(Session, Actor)> {
        let s = self.session(conn, handle)?;
        let role = conn.login.get(&s.slot).copied().unwrap_or(Role::Public);
        Ok((s, Actor { role, rw: s.rw }))
    }

    /// Looks up an object visible in this session.
    fn object(&self, conn: &Conn, s: Session, actor: Actor, handle: u64, missing: Rv) -> Result<Arc<Object>> {
        let o = if handle & SESSION_OBJECT_BIT != 0 {
            conn.objects.get(&handle).map(|(_, o)| o.clone())
        } else {
            self.store.state().objects.get(&handle).cloned()
        };
        match o {
            Some(o) if o.slot == s.slot && crate::policy::visible(&o, actor) => Ok(o),
            _ => Err(deny(missing, format!("no object with handle {handle} is visible in this session"))),
        }
    }

    fn drop_session(&self, conn: &mut Conn, handle: u64) {
        if let Some(s) = conn.sessions.remove(&handle) {
            if let Some(c) = self.counters.get(s.slot as usize) {
                c.sessions.fetch_sub(1, Ordering::Relaxed);
                if s.rw {
                    c.rw_sessions.fetch_sub(1, Ordering::Relaxed);
                }
            }
            conn.objects.retain(|_, (owner, _)| *owner != handle);
            self.end_ops(conn, |session| session == handle);
            if !conn.sessions.values().any(|x| x.slot == s.slot) {
                conn.login.remove(&s.slot);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one audit entry's fields, named at every call site
    fn audit(&self, conn: &Conn, op: &str, slot: Option<u64>, session: Option<u64>, object: Option<u64>, mechanism: Option<u64>, rv: Rv) {
        self.audit.append(Event {
            op: op.to_string(),
            client: if conn.client.is_empty() { None } else { Some(conn.client.clone()) },
            slot,
            session,
            object,
            mechanism,
            key: None,
            rv: rv.0,
        });
    }

    /// Audits the outcome of a key-management or key-use call and passes it through.
    #[allow(clippy::too_many_arguments)] // as `audit`, plus the result
    fn audited<T>(
        &self,
        conn: &Conn,
        op: &str,
        session: u64,
        object: Option<u64>,
        mechanism: Option<u64>,
        r: Result<T>,
        object_of: impl Fn(&T) -> Option<u64>,
    ) -> Result<T> {
        let slot = conn.sessions.get(&session).map(|s| s.slot);
        match &r {
            Ok(v) => self.audit(conn, op, slot, Some(session), object_of(v).or(object), mechanism, Rv::OK),
            Err(d) => self.audit(conn, op, slot, Some(session), object, mechanism, d.rv),
        }
        r
    }
}

/// A token that would exceed [`HandlerConfig::max_token_objects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenFull {
    pub slot: u64,
    pub held: u64,
    pub adding: u64,
    pub max: u64,
}

impl TokenFull {
    pub fn message(&self) -> String {
        format!(
            "the token in slot {} holds {} of the {} objects it may hold (max_token_objects); {} more would not fit: destroy unused objects or raise the TA's max_token_objects",
            self.slot, self.held, self.max, self.adding
        )
    }
}

impl Ta {
    /// Refuses `ops` if their new token objects (not replacements, not
    /// internal records) would take a token past its capacity (the TA's
    /// `max_token_objects`, or a lower limit of the token's pushed policy). Checked
    /// before the commit; concurrent creations may overshoot by the
    /// objects in flight.
    pub(crate) fn check_capacity(&self, ops: &[crate::store::Op]) -> std::result::Result<(), TokenFull> {
        let state = self.store.state();
        let mut adding: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
        for op in ops {
            if let crate::store::Op::PutObject(o) = op {
                if !state.objects.contains_key(&o.id) && !crate::object::is_internal_record(o) {
                    *adding.entry(o.slot).or_default() += 1;
                }
            }
        }
        drop(state);
        for (slot, n) in adding {
            let max = self.effective_max_objects(slot);
            if max == 0 {
                continue;
            }
            let held = self.store.state().objects_on(slot);
            if held.saturating_add(n) > max {
                return Err(TokenFull { slot, held, adding: n, max });
            }
        }
        Ok(())
    }
}

fn store_err(e: crate::store::StoreError) -> Denied {
    tracing::error!(error = %e, "store failure");
    deny(Rv::DEVICE_ERROR, format!("the TA could not persist the change: {e}"))
}
