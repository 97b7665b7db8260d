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

use crate::log;
use std::path::PathBuf;
use std::sync::Mutex;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::{Reply, Request, Rv};
use zeroize::Zeroizing;

/// Idle connections kept beyond this are closed.
const MAX_IDLE: usize = 32;

pub struct Pool {
    socket: PathBuf,
    socket_source: String,
    client_name: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ticket: Option<Zeroizing<Vec<u8>>>,
    idle: Vec<Client>,
    generation: u64,
}

/// Why a request got no reply, as the PKCS#11 caller sees it.
pub fn rv_of(e: &CallError) -> u64 {
    let rv = match e {
        CallError::Status { rv, .. } => *rv,
        CallError::Connect(..) | CallError::Io(_) | CallError::Closed => Rv::DEVICE_ERROR,
        CallError::Decode(_) | CallError::Mismatch { .. } | CallError::UnexpectedReply(_) => Rv::DEVICE_ERROR,
    };
    rv.to_standard().0 as u64
}

impl Pool {
    pub fn new(socket: PathBuf, socket_source: String, client_name: String) -> Self {
        Pool { socket, socket_source, client_name, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current application generation (changes when the TA lost it).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Sends one request on a pooled connection and returns its reply.
    pub fn call(&self, req: &Request) -> Result<Reply, CallError> {
        let (mut client, generation) = self.checkout()?;
        let result = client.call(req);
        match &result {
            // The connection is broken or out of step: never reuse it.
            Err(CallError::Io(_) | CallError::Closed) => {
                // The TA closes connections only when it stops: the idle ones
                // are dead too. Dropping them makes the next call reconnect
                // (and learn at once whether the application survived).
                log::error(format_args!("lost the connection to the CA service at {}: {}", self.socket.display(), result.as_ref().err().map(|e| e.to_string()).unwrap_or_default()));
                let mut inner = self.lock();
                if inner.generation == generation {
                    inner.idle.clear();
                }
            }
            Err(CallError::Decode(_) | CallError::Mismatch { .. }) => {
                log::error(format_args!("undecodable answer from the CA service at {}; closing that connection", self.socket.display()));
            }
            _ => self.checkin(client, generation),
        }
        result
    }

    /// Like [`Pool::call`], mapping every failure to its CKR code and
    /// logging refusals at debug level.
    pub fn request(&self, req: &Request) -> Result<Reply, u64> {
        self.call(req).map_err(|e| {
            log::debug(format_args!("{} refused: {e}", req.name()));
            rv_of(&e)
        })
    }

    fn checkout(&self) -> Result<(Client, u64), CallError> {
        let (ticket, generation) = {
            let mut inner = self.lock();
            if let Some(c) = inner.idle.pop() {
                return Ok((c, inner.generation));
            }
            (inner.ticket.clone(), inner.generation)
        };
        if let Some(ticket) = ticket {
            match Client::connect_joining(&self.socket, &self.client_name, &ticket) {
                Ok(c) => return Ok((c, generation)),
                Err(CallError::Status { rv, .. }) if rv == Rv::TEEHSM_UNKNOWN_APP => {
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
        let c = Client::connect(&self.socket, &self.client_name).map_err(|e| self.unreachable(e))?;
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
            Client::connect_joining(&self.socket, &self.client_name, &ticket).map(|c| (c, generation)).map_err(|e| self.unreachable(e))
        }
    }

    fn checkin(&self, client: Client, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation && inner.idle.len() < MAX_IDLE {
            inner.idle.push(client);
        }
    }

    fn unreachable(&self, e: CallError) -> CallError {
        if matches!(e, CallError::Connect(..)) {
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
