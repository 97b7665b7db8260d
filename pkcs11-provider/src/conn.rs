//! Connections to the CA service, pooled per process.
//!
//! PKCS#11 state (sessions, logins, session objects) belongs to one TA
//! *application*. The first connection creates it (Hello returns an app
//! ticket); every further connection joins it with that ticket, so threads
//! of the process call the TA in parallel, each over its own connection,
//! while seeing the same sessions. Idle connections are kept for reuse;
//! at least one stays open, which keeps the application alive.
//!
//! If the TA restarts, its applications are gone: the next connection's
//! JoinApp is refused with TEEHSM_UNKNOWN_APP, the pool starts a new
//! application (a new *generation*), and the old session handles are
//! invalid, as after a token removal.
//!
//! With an attestation policy and a trust anchor configured, every pooled
//! connection is an attested channel ([`SecureClient`], docs/channel.md):
//! the TA's report is verified before anything else is sent, and all
//! traffic (PINs, imported keys, the application ticket) is sealed end to
//! end, so the CA service relays ciphertext only. Without them, connections
//! are plain [`Client`]s.

use crate::log;
use std::path::PathBuf;
use std::sync::Mutex;
use teehsm_channel::{ChannelError, SecureClient, Verifier};
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::{Reply, Request, Rv};
use thiserror::Error;
use zeroize::Zeroizing;

/// Idle connections kept beyond this are closed.
const MAX_IDLE: usize = 32;

/// The attested channel's settings: what the TA's report must satisfy, and
/// where the policy and trust anchor came from (for log lines).
pub struct Channel {
    pub verifier: Verifier,
    pub policy: PathBuf,
    pub anchor: PathBuf,
}

pub struct Pool {
    socket: PathBuf,
    socket_source: String,
    client_name: String,
    /// `Some`: every connection is an attested channel.
    channel: Option<Channel>,
    inner: Mutex<Inner>,
}

/// One connection to the TA: plain, or an attested channel.
enum Conn {
    Plain(Client),
    Secure(Box<SecureClient>),
}

impl Conn {
    fn call(&mut self, req: &Request) -> Result<Reply, CallError> {
        match self {
            Conn::Plain(c) => c.call(req),
            Conn::Secure(c) => c.call(req),
        }
    }

    fn app_ticket(&self) -> &[u8] {
        match self {
            Conn::Plain(c) => c.app_ticket(),
            Conn::Secure(c) => c.app_ticket(),
        }
    }
}

#[derive(Default)]
struct Inner {
    ticket: Option<Zeroizing<Vec<u8>>>,
    idle: Vec<Conn>,
    generation: u64,
}

/// Why a request got no reply.
#[derive(Debug, Error)]
pub enum ConnError {
    /// Connecting or talking to the CA/TA failed, or the TA answered with an error.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The TA's attestation report did not satisfy the verifier.
    #[error("attestation refused: {0}")]
    Refused(teehsm_attest::Refused),
    /// The channel handshake could not be completed.
    #[error("attested channel handshake failed: {0}")]
    Handshake(String),
}

impl From<ChannelError> for ConnError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Call(c) => ConnError::Call(c),
            ChannelError::Refused(r) => ConnError::Refused(r),
            ChannelError::Handshake(h) => ConnError::Handshake(h),
        }
    }
}

/// Why a request got no reply, as the PKCS#11 caller sees it.
pub fn rv_of(e: &ConnError) -> u64 {
    let rv = match e {
        ConnError::Call(CallError::Status { rv, .. }) => *rv,
        ConnError::Call(CallError::Connect(..) | CallError::Io(_) | CallError::Closed) => Rv::DEVICE_ERROR,
        ConnError::Call(CallError::Decode(_) | CallError::Mismatch { .. } | CallError::UnexpectedReply(_)) => Rv::DEVICE_ERROR,
        ConnError::Refused(_) | ConnError::Handshake(_) => Rv::DEVICE_ERROR,
    };
    rv.to_standard().0 as u64
}

impl Pool {
    pub fn new(socket: PathBuf, socket_source: String, client_name: String, channel: Option<Channel>) -> Self {
        Pool { socket, socket_source, client_name, channel, inner: Mutex::new(Inner::default()) }
    }

    /// A new connection: a new application, or joining `ticket`'s.
    fn open(&self, ticket: Option<&[u8]>) -> Result<Conn, ConnError> {
        match (&self.channel, ticket) {
            (None, None) => Ok(Conn::Plain(Client::connect(&self.socket, &self.client_name)?)),
            (None, Some(t)) => Ok(Conn::Plain(Client::connect_joining(&self.socket, &self.client_name, t)?)),
            (Some(ch), None) => Ok(Conn::Secure(Box::new(SecureClient::connect(&self.socket, &self.client_name, &ch.verifier)?))),
            (Some(ch), Some(t)) => Ok(Conn::Secure(Box::new(SecureClient::connect_joining(&self.socket, &self.client_name, &ch.verifier, t)?))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current application generation (changes when the TA lost it).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Sends one request on a pooled connection and returns its reply.
    pub fn call(&self, req: &Request) -> Result<Reply, ConnError> {
        let (mut client, generation) = self.checkout()?;
        let result = client.call(req);
        match &result {
            // The connection is broken or out of step: never reuse it.
            Err(CallError::Io(_) | CallError::Closed) => {
                // The TA closes connections only when it stops: the idle ones
                // are dead too. Dropping them makes the next call reconnect
                // (and learn at once whether the application survived).
                log::error(format_args!(
                    "lost the connection to the CA service at {}: {}",
                    self.socket.display(),
                    result.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
                ));
                let mut inner = self.lock();
                if inner.generation == generation {
                    inner.idle.clear();
                }
            }
            Err(CallError::Decode(_) | CallError::Mismatch { .. }) => {
                log::error(format_args!("undecodable answer from the CA service at {}; closing that connection", self.socket.display()));
            }
            // On a channel: a reply that does not open, or a frame that
            // could not be sealed. The sequence numbers are out of step.
            Err(CallError::UnexpectedReply(why)) => {
                log::error(format_args!(
                    "bad frame on the connection to the CA service at {} ({why}); closing that connection",
                    self.socket.display()
                ));
            }
            _ => self.checkin(client, generation),
        }
        result.map_err(ConnError::Call)
    }

    /// Like [`Pool::call`], mapping every failure to its CKR code and
    /// logging refusals at debug level.
    pub fn request(&self, req: &Request) -> Result<Reply, u64> {
        self.call(req).map_err(|e| {
            log::debug(format_args!("{} refused: {e}", req.name()));
            rv_of(&e)
        })
    }

    fn checkout(&self) -> Result<(Conn, u64), ConnError> {
        let (ticket, generation) = {
            let mut inner = self.lock();
            if let Some(c) = inner.idle.pop() {
                return Ok((c, inner.generation));
            }
            (inner.ticket.clone(), inner.generation)
        };
        if let Some(ticket) = ticket {
            match self.open(Some(&ticket)) {
                Ok(c) => return Ok((c, generation)),
                Err(ConnError::Call(CallError::Status { rv, .. })) if rv == Rv::TEEHSM_UNKNOWN_APP => {
                    log::error("the TA no longer knows this application (it restarted): sessions and logins are gone; starting a new application");
                    let mut inner = self.lock();
                    if inner.generation == generation {
                        inner.ticket = None;
                        inner.idle.clear();
                    }
                }
                Err(e) => return Err(self.unreachable(e)),
            }
        }
        let c = self.open(None).map_err(|e| self.unreachable(e))?;
        let mut inner = self.lock();
        if inner.ticket.is_none() {
            inner.ticket = Some(Zeroizing::new(c.app_ticket().to_vec()));
            inner.generation += 1;
            Ok((c, inner.generation))
        } else {
            // Another thread started the application first: join it instead.
            let ticket = inner.ticket.clone().unwrap_or_default();
            let generation = inner.generation;
            drop(inner);
            drop(c);
            self.open(Some(&ticket)).map(|c| (c, generation)).map_err(|e| self.unreachable(e))
        }
    }

    fn checkin(&self, client: Conn, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation && inner.idle.len() < MAX_IDLE {
            inner.idle.push(client);
        }
    }

    fn unreachable(&self, e: ConnError) -> ConnError {
        if let (ConnError::Refused(_) | ConnError::Handshake(_), Some(ch)) = (&e, &self.channel) {
            log::error(format_args!(
                "{e} (attestation policy {}, trust anchor {}); no attested channel to the TA behind the CA service at {}",
                ch.policy.display(),
                ch.anchor.display(),
                self.socket.display(),
            ));
        }
        if matches!(e, ConnError::Call(CallError::Connect(..))) {
            log::error(format_args!(
                "cannot reach the teehsm CA service at {} (from {}): {e}. Start teehsm-ca, or point {} (or `socket` in {}) at its client socket.",
                self.socket.display(),
                self.socket_source,
                crate::config::SOCKET_ENV,
                crate::config::CONF_ENV,
            ));
        }
        e
    }
}
