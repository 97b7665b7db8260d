//! Helpers for tests that run the real teehsm processes: finding the built
//! binaries, starting the TA and CA in throw-away directories, waiting for
//! readiness, and killing them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::*;

pub const SO_PIN: &[u8] = b"12345678";
pub const USER_PIN: &[u8] = b"123456";

/// Directory holding the workspace's built binaries (target/<profile>).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    assert!(
        dir.join("teehsm-ta").exists(),
        "{} has no teehsm-ta: build the binaries first (cargo build --bins)",
        dir.display()
    );
    dir
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut b = [0u8; 8];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (std::process::id() as u8).wrapping_add(i as u8) ^ (Instant::now().elapsed().as_nanos() as u8);
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("teehsm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running teehsm-ta process.
pub struct TaProcess {
    pub child: Child,
    pub socket: PathBuf,
    pub stderr_tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// How a TA start ended.
pub enum Started {
    Ready(TaProcess),
    Exited { status: ExitStatus, stderr: String },
}

/// Starts `teehsm-ta serve` on `root/{store,platform,ta.sock}` and waits for READY or exit.
pub fn start_ta(root: &Path, extra: &[&str]) -> Started {
    let socket = root.join("ta.sock");
    let mut child = Command::new(bin("teehsm-ta"))
        .arg("serve")
        .arg("--socket")
        .arg(&socket)
        .arg("--data-dir")
        .arg(root.join("store"))
        .arg("--platform-dir")
        .arg(root.join("platform"))
        .args(extra)
        .env("TEEHSM_TA_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn teehsm-ta");
    let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    if let Some(err) = child.stderr.take() {
        let tail = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.push(line);
                if t.len() > 200 {
                    t.remove(0);
                }
            }
        });
    }
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    match lines.next() {
        Some(Ok(l)) if l.starts_with("TEEHSM-TA READY") => {
            std::thread::spawn(move || for _ in lines {});
            Started::Ready(TaProcess { child, socket, stderr_tail: tail })
        }
        _ => {
            let status = child.wait().expect("wait teehsm-ta");
            std::thread::sleep(Duration::from_millis(50));
            let stderr = tail.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
            Started::Exited { status, stderr }
        }
    }
}

/// Starts the TA and panics with its stderr if it does not become ready.
pub fn start_ta_ready(root: &Path, extra: &[&str]) -> TaProcess {
    match start_ta(root, extra) {
        Started::Ready(p) => p,
        Started::Exited { status, stderr } => panic!("teehsm-ta did not start ({status}):\n{stderr}"),
    }
}

impl TaProcess {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    /// SIGKILL and reap.
    pub fn kill9(mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("reap")
    }
    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: sending a signal to our own child process id.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("reap")
    }
    pub fn client(&self) -> Client {
        connect(&self.socket)
    }
}

/// Connects, retrying briefly while the socket appears.
pub fn connect(socket: &Path) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Client::connect(socket, "teehsm-tests") {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot connect to {}: {e}", socket.display()),
        }
    }
}

/// Initializes slot 0 with SO_PIN/USER_PIN and label "test".
pub fn init_token(c: &mut Client) {
    c.call_done(&Request::InitToken { slot: 0, so_pin: Secret(SO_PIN.to_vec()), label: "test".into() }).expect("InitToken");
    let s = c.open_session(0, true).expect("OpenSession");
    c.login(s, CKU_SO, SO_PIN).expect("SO login");
    c.call_done(&Request::InitPin { session: s, pin: Secret(USER_PIN.to_vec()) }).expect("InitPin");
    c.call_done(&Request::CloseSession { session: s }).expect("CloseSession");
}

/// An RW session logged in as the user.
pub fn user_session(c: &mut Client) -> u64 {
    let s = c.open_session(0, true).expect("OpenSession");
    c.login(s, CKU_USER, USER_PIN).expect("user login");
    s
}

/// Template for a P-256 token key pair labelled `label`.
pub fn p256_pair(session: u64, label: &str, token: bool) -> Request {
    let params = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    Request::GenerateKeyPair {
        session,
        mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
        public_template: vec![
            Attribute::new(CKA_EC_PARAMS, params),
            Attribute::bool(CKA_TOKEN, token),
            Attribute::bool(CKA_VERIFY, true),
            Attribute::new(CKA_LABEL, label.as_bytes().to_vec()),
        ],
        private_template: vec![
            Attribute::bool(CKA_TOKEN, token),
            Attribute::bool(CKA_SIGN, true),
            Attribute::new(CKA_LABEL, label.as_bytes().to_vec()),
        ],
    }
}

/// Generates a key pair and returns (public, private) handles.
pub fn gen_pair(c: &mut Client, req: &Request) -> Result<(u64, u64), teehsm_wire::client::CallError> {
    match c.call(req)? {
        Reply::KeyPair { public, private } => Ok((public, private)),
        _ => Err(teehsm_wire::client::CallError::UnexpectedReply("GenerateKeyPair")),
    }
}
