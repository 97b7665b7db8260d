//! Process-wide module state: whether C_Initialize ran (in this process:
//! a forked child sees CKR_CRYPTOKI_NOT_INITIALIZED until it initializes
//! itself), the connection pool, and per-session bookkeeping.

use crate::config::Config;
use crate::conn::{Channel, Pool};
use crate::guard::Result;
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, RwLock};
use teehsm_wire::OpKind;
use zeroize::Zeroizing;

pub struct Module {
    /// The process that called C_Initialize.
    pub pid: u32,
    pub pool: Pool,
    sessions: Mutex<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
}

/// A session the module mirrors. Its slot and generation never change, so
/// they are read without the state's lock (which a call on the session holds
/// for as long as the TA takes).
pub struct Session {
    pub slot: CK_SLOT_ID,
    /// The pool generation the session was opened in.
    pub generation: u64,
    pub state: Mutex<SessionState>,
}

static MODULE: RwLock<Option<Arc<Module>>> = RwLock::new(None);

/// This process's id, kept current without a system call per PKCS#11 call:
/// set when the module initializes and, in a forked child, by the
/// pthread_atfork child handler (which runs before the child does anything
/// else). Every entry compares it with the pid that initialized the module.
static CURRENT_PID: AtomicU32 = AtomicU32::new(0);

extern "C" fn after_fork_in_child() {
    CURRENT_PID.store(std::process::id(), Ordering::Relaxed);
}

fn current_pid() -> u32 {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        CURRENT_PID.store(std::process::id(), Ordering::Relaxed);
        // SAFETY: registers a handler that only stores to an atomic (async-signal-safe);
        // the function pointer lives as long as the module is mapped (linked -z nodelete).
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        if rc != 0 {
            crate::log::error("pthread_atfork failed: fork detection falls back to a getpid() per call");
            CURRENT_PID.store(0, Ordering::Relaxed);
        }
    });
    match CURRENT_PID.load(Ordering::Relaxed) {
        0 => std::process::id(),
        pid => pid,
    }
}

/// The operations a session can have in progress, one of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Digest,
    Sign,
    Verify,
    Encrypt,
    Decrypt,
    /// PKCS#11 3.2 C_VerifySignature*: carried by the TA's verify operation.
    VerifySignature,
    MessageEncrypt,
    MessageDecrypt,
}

impl Kind {
    pub fn wire(self) -> OpKind {
        match self {
            Kind::Digest => OpKind::Digest,
            Kind::Sign => OpKind::Sign,
            Kind::Verify | Kind::VerifySignature => OpKind::Verify,
            Kind::Encrypt | Kind::MessageEncrypt => OpKind::Encrypt,
            Kind::Decrypt | Kind::MessageDecrypt => OpKind::Decrypt,
        }
    }
}

/// Where an operation started with C_*Init stands.
pub enum Phase {
    /// Not started in the TA yet: this session already started the same
    /// kind of operation with the same key and mechanism successfully, so
    /// C_*Init skipped the round trip. A single-part call then sends the
    /// TA's one-shot request (which checks key, mechanism and policy again);
    /// an update or final call starts the operation in the TA first.
    Deferred { mechanism: teehsm_wire::Mechanism, key: u64 },
    /// Started in the TA; no data yet.
    Started,
    /// C_*Update was called: only Update and Final may follow.
    Updating,
    /// The result is computed but the caller's buffer was NULL or too small:
    /// the next call with a large enough buffer gets it without redoing the work.
    Output(Zeroizing<Vec<u8>>),
}

pub struct Op {
    pub phase: Phase,
    /// Output of an update that is waiting for a large enough buffer.
    pub pending_update: Option<Zeroizing<Vec<u8>>>,
    /// C_VerifySignatureInit's signature; message operations' mechanism and key.
    pub signature: Vec<u8>,
    pub message: Option<(teehsm_wire::Mechanism, u64)>,
}

impl Op {
    pub fn started() -> Self {
        Op { phase: Phase::Started, pending_update: None, signature: Vec::new(), message: None }
    }
}

#[derive(Default)]
pub struct SessionState {
    /// C_FindObjectsInit's matches and how many were returned.
    pub find: Option<(Vec<u64>, usize)>,
    pub ops: HashMap<Kind, Op>,
    /// (kind, key, mechanism type) that the TA accepted at C_*Init in this
    /// session: later inits of the same triple are deferred (see [`Phase::Deferred`]).
    pub accepted: std::collections::HashSet<(Kind, u64, u64)>,
}

impl Module {
    pub fn new(cfg: Config) -> Self {
        let channel = match (cfg.verifier, cfg.channel_source) {
            (Some(verifier), Some((policy, anchor))) => Some(Channel { verifier, policy, anchor }),
            _ => None,
        };
        Module { pid: current_pid(), pool: Pool::new(cfg.socket, cfg.socket_source, cfg.client_name, channel), sessions: Mutex::new(HashMap::new()) }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<CK_SESSION_HANDLE, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_session(&self, handle: CK_SESSION_HANDLE, slot: CK_SLOT_ID) {
        let state = Mutex::new(SessionState::default());
        self.table().insert(handle, Arc::new(Session { slot, generation: self.pool.generation(), state }));
    }

    pub fn remove_session(&self, handle: CK_SESSION_HANDLE) {
        self.table().remove(&handle);
    }

    /// Runs `f` on the state of every session on `slot`, one at a time.
    pub fn for_slot_sessions(&self, slot: CK_SLOT_ID, mut f: impl FnMut(&mut SessionState)) {
        let sessions: Vec<_> = self.table().values().filter(|s| s.slot == slot).cloned().collect();
        for s in sessions {
            f(&mut lock(&s.state));
        }
    }

    pub fn remove_slot_sessions(&self, slot: CK_SLOT_ID) {
        self.table().retain(|_, s| s.slot != slot);
    }

    /// An open session of this process. Sessions of an application the TA
    /// lost (it restarted) are invalid.
    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        let generation = self.pool.generation();
        let mut table = self.table();
        let s = table.get(&handle).cloned().ok_or(CKR_SESSION_HANDLE_INVALID)?;
        if s.generation != generation {
            table.remove(&handle);
            return Err(CKR_SESSION_HANDLE_INVALID);
        }
        Ok(s)
    }
}

/// Locks a session's state (a poisoned lock still holds usable state).
pub fn lock(s: &Mutex<SessionState>) -> MutexGuard<'_, SessionState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The initialized module of this process.
pub fn module() -> Result<Arc<Module>> {
    let guard = MODULE.read().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(m) if m.pid == current_pid() => Ok(m.clone()),
        _ => Err(CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}

/// C_Initialize: a module state for this process. A state inherited over
/// fork() is discarded (its connections belong to the parent).
pub fn initialize(cfg: Config) -> Result {
    let mut guard = MODULE.write().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(m) if m.pid == current_pid() => Err(CKR_CRYPTOKI_ALREADY_INITIALIZED),
        Some(_) => {
            // Inherited from the parent: forget it without closing anything
            // the parent still uses (the child's copies of the descriptors
            // close, which leaves the parent's connections open).
            *guard = Some(Arc::new(Module::new(cfg)));
            Ok(())
        }
        None => {
            *guard = Some(Arc::new(Module::new(cfg)));
            Ok(())
        }
    }
}

/// C_Finalize: closes every connection; the TA then ends the application's sessions.
pub fn finalize() -> Result {
    let mut guard = MODULE.write().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(m) if m.pid == current_pid() => {
            *guard = None;
            Ok(())
        }
        _ => Err(CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}
