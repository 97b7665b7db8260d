//! The harness shared by the end-to-end tests: the real teehsm-ca binary,
//! started in a state directory, with its stderr collected into a log.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CA: &str = env!("CARGO_BIN_EXE_teehsm-ca");

/// target/<profile>/teehsm-ta, next to the test executable's deps/ directory.
pub fn ta_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let ta = dir.join("teehsm-ta");
    assert!(ta.is_file(), "{} is missing: build it first (cargo build -p teehsm-ta)", ta.display());
    ta
}

/// A directory under the system temp dir, `teehsm-<tag>-<pid>-<nanos>`, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("teehsm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to start a [`Ca`]: `teehsm-ca --state-dir S [--ta-binary T] --http-listen 127.0.0.1:0 ARGS`,
/// with TEEHSM_CA_CONFIG removed from the environment.
#[derive(Default)]
pub struct CaBuilder {
    state: Option<PathBuf>,
    temp_tag: Option<String>,
    ta_binary: bool,
    log_level: Option<String>,
    args: Vec<String>,
}

impl CaBuilder {
    /// Use this state directory (kept when the CA is dropped).
    pub fn state(mut self, state: &Path) -> Self {
        self.state = Some(state.to_path_buf());
        self
    }

    /// Use `<a fresh TempDir tagged tag>/state`, removed when the CA is dropped.
    pub fn temp_state(mut self, tag: &str) -> Self {
        self.temp_tag = Some(tag.to_string());
        self
    }

    /// Pass `--ta-binary` with the real TA ([`ta_binary`]).
    pub fn real_ta(mut self) -> Self {
        self.ta_binary = true;
        self
    }

    /// Set TEEHSM_CA_LOG_LEVEL.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_string());
        self
    }

    /// More arguments; "{state}" in them stands for the state directory's path.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn start(self) -> Ca {
        let dir = self.temp_tag.as_deref().map(TempDir::new);
        let state = match (&self.state, &dir) {
            (Some(s), _) => s.clone(),
            (None, Some(d)) => d.0.join("state"),
            (None, None) => panic!("CaBuilder: give a state directory or a temp tag"),
        };
        let args: Vec<String> = self.args.iter().map(|a| a.replace("{state}", &state.display().to_string())).collect();
        let mut cmd = Command::new(CA);
        cmd.arg("--state-dir").arg(&state);
        if self.ta_binary {
            cmd.arg("--ta-binary").arg(ta_binary());
        }
        cmd.args(["--http-listen", "127.0.0.1:0"]).args(args).env_remove("TEEHSM_CA_CONFIG");
        if let Some(level) = &self.log_level {
            cmd.env("TEEHSM_CA_LOG_LEVEL", level);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn teehsm-ca");
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().expect("stderr");
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Ca { child: Some(child), state, log, _dir: dir }
    }
}

/// A running teehsm-ca with its stderr collected; killed on drop if still running.
pub struct Ca {
    pub child: Option<Child>,
    pub state: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _dir: Option<TempDir>,
}

impl Ca {
    pub fn builder() -> CaBuilder {
        CaBuilder::default()
    }

    /// `teehsm-ca --state-dir STATE --http-listen 127.0.0.1:0 ARGS`.
    pub fn start(state: &Path, args: &[&str]) -> Ca {
        Ca::builder().state(state).args(args).start()
    }

    /// The process id (panics once it has been terminated).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn socket(&self) -> PathBuf {
        self.state.join("ca.sock")
    }

    /// Polls `f` every 50 ms until it returns Some; panics with the log after `timeout`.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; teehsm-ca log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address in <state>/NAME (http.addr, grpc.addr), once written.
    pub fn addr_file(&self, name: &str) -> String {
        let path = self.state.join(name);
        self.wait_for(&format!("{} to appear", path.display()), Duration::from_secs(30), || {
            std::fs::read_to_string(&path).ok().filter(|s| s.ends_with('\n')).map(|s| s.trim().to_string())
        })
    }

    /// The HTTP address from <state>/http.addr, once written.
    pub fn http(&self) -> String {
        self.addr_file("http.addr")
    }

    /// GET `path` from the CA's HTTP server: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.http(), path)
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("teehsm-ca did not exit within {timeout:?} after SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ca {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A one-shot HTTP/1.1 GET: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or_else(|| panic!("bad HTTP answer: {out:?}"));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("bad status line: {head}"));
    (code, body.to_string())
}
