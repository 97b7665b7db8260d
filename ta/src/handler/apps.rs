//! Applications and the connections that carry them.
//!
//! PKCS#11 state (sessions, logins, session objects) belongs to an
//! application, not to one connection: a multi-threaded application talks
//! to the TA over several connections at once. The first connection's Hello
//! creates the application and returns a random ticket; further connections
//! present it with JoinApp. Requests that only read the application's state
//! (signing, finding, reading attributes...) run concurrently under a read
//! lock; those that change it take the write lock. The application ends,
//! closing its sessions, when its last connection closes.

use super::{deny, Conn, Result, Ta};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use teehsm_wire::{Reply, Rv};
use zeroize::Zeroizing;

const TICKET_LEN: usize = 32;

/// One application, shared by the connections that joined it.
pub struct App {
    state: RwLock<Conn>,
    /// Open connections; guards joining and the last leave.
    conns: Mutex<usize>,
    ticket: Zeroizing<[u8; TICKET_LEN]>,
    /// Registry key: SHA-256 of the ticket (the ticket itself is not kept as a map key).
    key: [u8; 32],
}

impl App {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Conn> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Conn> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, usize> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Applications by ticket hash, for JoinApp.
#[derive(Default)]
pub struct AppRegistry {
    apps: Mutex<HashMap<[u8; 32], Weak<App>>>,
}

impl AppRegistry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Weak<App>>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn ticket_key(ticket: &[u8]) -> [u8; 32] {
    let d = teehsm_crypto::digest::digest(teehsm_crypto::digest::HashAlg::Sha256, ticket);
    let mut k = [0u8; 32];
    k.copy_from_slice(&d[..32]);
    k
}

/// One accepted TA connection.
pub struct Connection {
    pub(super) hello: bool,
    pub(super) app: Arc<App>,
}

impl Ta {
    /// State for a newly accepted connection: a new application of its own
    /// until it joins another one.
    pub fn new_conn(&self) -> Connection {
        let mut ticket = Zeroizing::new([0u8; TICKET_LEN]);
        if let Err(e) = teehsm_crypto::rng::fill(&mut ticket[..]) {
            // A ticket of zeros is never registered (see `register`), so a
            // failed RNG only means this application cannot be joined.
            tracing::error!(error = %e, "RNG failed while making an application ticket");
        }
        let key = ticket_key(&ticket[..]);
        let app = Arc::new(App { state: RwLock::new(self.new_app_state()), conns: Mutex::new(1), ticket, key });
        if app.ticket.iter().any(|b| *b != 0) {
            self.apps.map().insert(key, Arc::downgrade(&app));
        }
        Connection { hello: false, app }
    }

    /// Releases what a closed connection held; the application ends with its last connection.
    pub fn close_conn(&self, c: &mut Connection) {
        self.leave(&c.app);
    }

    fn leave(&self, app: &Arc<App>) {
        let mut n = app.conns();
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.apps.map().remove(&app.key);
            let mut st = app.write();
            self.close_app(&mut st);
        }
    }

    /// The Hello reply's ticket for this connection's application.
    pub(super) fn ticket(&self, c: &Connection) -> Vec<u8> {
        c.app.ticket.to_vec()
    }

    /// JoinApp: moves the connection into the application `ticket` names.
    pub(super) fn join(&self, c: &mut Connection, ticket: &[u8]) -> Result<Reply> {
        let unknown = || deny(Rv::TEEHSM_UNKNOWN_APP, "no open application has this ticket");
        if ticket.len() != TICKET_LEN {
            return Err(unknown());
        }
        let target = self.apps.map().get(&ticket_key(ticket)).and_then(Weak::upgrade).ok_or_else(unknown)?;
        if !teehsm_crypto::kdf::ct_eq(&target.ticket[..], ticket) {
            return Err(unknown());
        }
        if Arc::ptr_eq(&target, &c.app) {
            return Ok(Reply::Done);
        }
        {
            let mut n = target.conns();
            if *n == 0 {
                return Err(unknown()); // closing right now
            }
            *n += 1;
        }
        let old = std::mem::replace(&mut c.app, target);
        self.leave(&old);
        Ok(Reply::Done)
    }
}
