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

pub mod fleet;

pub const SO_PIN: &[u8] = b"12345678";
pub const USER_PIN: &[u8] = b"123456";

/// Directory holding the workspace's built binaries (target/<profile>).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    assert!(dir.join("teehsm-ta").exists(), "{} has no teehsm-ta: build the binaries first (cargo build --bins)", dir.display());
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

/// The dev token `teehsm-ca --init-dev-token` creates: slot 0, this label,
/// SO PIN [`SO_PIN`], user PIN [`USER_PIN`].
pub const DEV_TOKEN_LABEL: &str = "dev-token";

/// A running teehsm-ca (which starts and supervises its TA) on a fresh
/// state directory with the dev token. SIGTERM and reaped on drop.
pub struct CaProcess {
    pub child: Child,
    /// The client socket (what TEEHSM_PKCS11_SOCKET names).
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    _dir: TempDir,
}

impl CaProcess {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for CaProcess {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Starts `teehsm-ca --state-dir D --init-dev-token --http-listen 127.0.0.1:0`
/// from [`bin_dir`] and waits (up to 60 s) until the dev token has its user
/// PIN. The CA gets SIGTERM if the thread that started it ends (so an
/// aborted test leaves no daemon behind): start it from the thread that
/// owns the returned value.
pub fn start_ca_dev_token() -> CaProcess {
    start_ca_dev_token_with(&[])
}

/// As [`start_ca_dev_token`], with extra `teehsm-ca` arguments (for
/// example `--client-transport relay`).
pub fn start_ca_dev_token_with(extra: &[&str]) -> CaProcess {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("ca");
    let state_dir = dir.path().join("state");
    let socket = state_dir.join("ca.sock");
    let mut cmd = Command::new(bin("teehsm-ca"));
    cmd.arg("--state-dir")
        .arg(&state_dir)
        .arg("--init-dev-token")
        .arg("--http-listen")
        .arg("127.0.0.1:0")
        .args(extra)
        .env("TEEHSM_CA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn teehsm-ca (build it: cargo build --bins)");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut c) = Client::connect(&socket, "teehsm-tests") {
            if let Ok(Reply::TokenInfo(t)) = c.call(&Request::GetTokenInfo { slot: 0 }) {
                if t.flags & CKF_USER_PIN_INITIALIZED != 0 {
                    break;
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("teehsm-ca exited during start-up: {status}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("teehsm-ca did not become ready with a dev token in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    CaProcess { child, socket, state_dir, _dir: dir }
}

/// The PKCS#11 module built next to the binaries (target/<profile>/libteehsm_pkcs11.so).
pub fn pkcs11_module() -> PathBuf {
    let p = bin_dir().join("libteehsm_pkcs11.so");
    assert!(p.exists(), "{} does not exist: build the module first (cargo build -p teehsm-pkcs11)", p.display());
    p
}

/// Small DER/PEM builders for handing public keys and signatures to the OpenSSL CLI.
pub mod der {
    /// OID of P-256 (CKA_EC_PARAMS of a P-256 key).
    pub const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// OID 1.2.156.10197.1.301 (CKA_EC_PARAMS of an SM2 key).
    pub const SM2_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
    const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const RSA_ALG: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

    pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let n = body.len();
        if n < 0x80 {
            v.push(n as u8);
        } else if n < 0x100 {
            v.extend_from_slice(&[0x81, n as u8]);
        } else {
            v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
        }
        v.extend_from_slice(body);
        v
    }

    /// A DER INTEGER from unsigned big-endian bytes.
    pub fn uint(v: &[u8]) -> Vec<u8> {
        let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
        if v.is_empty() || v[0] & 0x80 != 0 {
            tlv(0x02, &[&[0u8][..], &v].concat())
        } else {
            tlv(0x02, &v)
        }
    }

    pub fn pem(der: &[u8], label: &str) -> String {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in der.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    s.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        let lines: Vec<&str> = s.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap_or("")).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    /// SubjectPublicKeyInfo of an EC (or SM2) public point.
    pub fn ec_spki(curve_oid: &[u8], point: &[u8]) -> Vec<u8> {
        let alg = tlv(0x30, &[EC_PUBLIC_KEY_OID, curve_oid].concat());
        tlv(0x30, &[alg, tlv(0x03, &[&[0u8][..], point].concat())].concat())
    }

    /// SubjectPublicKeyInfo of an RSA public key.
    pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
        let key = tlv(0x30, &[uint(n), uint(e)].concat());
        tlv(0x30, &[RSA_ALG.to_vec(), tlv(0x03, &[&[0u8][..], &key].concat())].concat())
    }

    /// PKCS#11's r||s signature -> DER ECDSA-Sig-Value (what OpenSSL reads for ECDSA and SM2).
    pub fn rs_to_der(rs: &[u8]) -> Vec<u8> {
        let h = rs.len() / 2;
        tlv(0x30, &[uint(&rs[..h]), uint(&rs[h..])].concat())
    }

    /// CKA_EC_POINT (a DER OCTET STRING) -> the uncompressed point inside.
    pub fn unwrap_octet_string(v: &[u8]) -> Vec<u8> {
        assert_eq!(v.first(), Some(&0x04), "CKA_EC_POINT is a DER OCTET STRING");
        match v.get(1) {
            Some(&l) if l < 0x80 => v[2..].to_vec(),
            Some(0x81) => v[3..].to_vec(),
            _ => panic!("unexpected CKA_EC_POINT encoding {v:02x?}"),
        }
    }
}

/// Memory scraping of another process (the CA service), for the tests that
/// show what the attested channel keeps out of the CA's memory.
pub mod scrape {
    use std::io::Read;
    use std::os::unix::fs::FileExt;

    /// `n` random bytes from /dev/urandom.
    pub fn random_bytes(n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        std::fs::File::open("/dev/urandom").expect("open /dev/urandom").read_exact(&mut b).expect("read /dev/urandom");
        b
    }

    /// Whether `needle` occurs in `hay`.
    pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
        // SAFETY: both pointers and lengths come from live slices.
        !unsafe { libc::memmem(hay.as_ptr().cast(), hay.len(), needle.as_ptr().cast(), needle.len()) }.is_null()
    }

    /// Which of `needles` appear in any readable-writable mapping of process
    /// `pid` (`/proc/PID/maps` + `/proc/PID/mem`: needs root or ptrace
    /// rights over `pid`, e.g. being its parent).
    pub fn scrape(pid: i32, needles: &[&[u8]]) -> Vec<bool> {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
        let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open /proc/PID/mem (needs root or ptrace rights)");
        let mut found = vec![false; needles.len()];
        let mut scanned = 0usize;
        let max = needles.iter().map(|n| n.len()).max().unwrap_or(1);
        for line in maps.lines() {
            let mut parts = line.split_whitespace();
            let (Some(range), Some(perms)) = (parts.next(), parts.next()) else { continue };
            if !perms.starts_with("rw") {
                continue;
            }
            let Some((a, b)) = range.split_once('-') else { continue };
            let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else { continue };
            // Chunks overlapping by the longest needle, so nothing is missed at a seam.
            const CHUNK: u64 = 4 << 20;
            let mut at = start;
            let mut buf = vec![0u8; CHUNK as usize];
            while at < end {
                let n = (end - at).min(CHUNK) as usize;
                match mem.read_at(&mut buf[..n], at) {
                    Ok(got) if got > 0 => {
                        scanned += got;
                        for (i, needle) in needles.iter().enumerate() {
                            found[i] |= contains(&buf[..got], needle);
                        }
                    }
                    _ => break,
                }
                if at + n as u64 >= end {
                    break;
                }
                at += (n - max) as u64;
            }
        }
        assert!(scanned > 1 << 20, "scraped only {scanned} bytes of process {pid}'s memory");
        found
    }
}

/// The TA process a CA (`ca`, its pid) runs: the CA's `teehsm-ta` child.
pub fn ta_pid_of(ca: i32) -> Option<i32> {
    let tasks = std::fs::read_dir(format!("/proc/{ca}/task")).ok()?;
    for t in tasks.flatten() {
        let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for c in children.split_whitespace() {
            let pid: i32 = c.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains("teehsm-ta") {
                return Some(pid);
            }
        }
    }
    None
}

/// The sim platform's report public key (the attestation trust anchor) of
/// the TA whose platform directory is `platform_dir`, as `teehsm-ta platform
/// report-key` prints it (`format`: "pem" or "hex").
pub fn sim_report_key(platform_dir: &Path, format: &str) -> String {
    let out = Command::new(bin("teehsm-ta"))
        .args(["platform", "report-key", "--format", format, "--platform-dir"])
        .arg(platform_dir)
        .output()
        .expect("teehsm-ta platform report-key");
    assert!(out.status.success(), "teehsm-ta platform report-key: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The file (under the CA's state dir) where `teehsm-ca` writes its bound gRPC address.
pub const GRPC_ADDR_FILE: &str = "grpc.addr";
/// The dev TLS CA certificate `teehsm-ca --grpc-dev-tls` writes (under the state dir).
pub const GRPC_DEV_CA_CERT: &str = "grpc-dev-tls/ca.pem";

/// A CA service serving the gRPC API with its dev TLS certificate.
pub struct GrpcCa {
    pub ca: CaProcess,
    /// "https://127.0.0.1:PORT"
    pub endpoint: String,
    /// PEM of the CA that signed the dev server certificate.
    pub ca_cert_pem: Vec<u8>,
}

/// Starts `teehsm-ca` with the dev token and `--grpc-listen 127.0.0.1:0
/// --grpc-dev-tls` (plus `extra`), and waits (up to 60 s) for it to write
/// its gRPC address.
pub fn start_ca_grpc(extra: &[&str]) -> GrpcCa {
    let mut args = vec!["--grpc-listen", "127.0.0.1:0", "--grpc-dev-tls"];
    args.extend_from_slice(extra);
    let mut ca = start_ca_dev_token_with(&args);
    let addr_file = ca.state_dir.join(GRPC_ADDR_FILE);
    let cert_file = ca.state_dir.join(GRPC_DEV_CA_CERT);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let addr = std::fs::read_to_string(&addr_file).ok().and_then(|s| s.trim().parse::<std::net::SocketAddr>().ok());
        if let (Some(addr), Ok(pem)) = (addr, std::fs::read(&cert_file)) {
            if !pem.is_empty() {
                return GrpcCa { ca, endpoint: format!("https://{addr}"), ca_cert_pem: pem };
            }
        }
        if let Ok(Some(status)) = ca.child.try_wait() {
            panic!("teehsm-ca exited before serving gRPC: {status}");
        }
        assert!(Instant::now() < deadline, "teehsm-ca wrote no {} / {} in 60 s", addr_file.display(), cert_file.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the `teehsm` admin CLI.
pub fn teehsm_cli(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let mut cmd = Command::new(bin("teehsm"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap_or_else(|e| panic!("running teehsm (build it: cargo build --bins): {e}"))
}

/// Registers API client `id` with `acl` entries ("prefix:op,op") on the
/// dev token through `teehsm client add` (SO PIN [`SO_PIN`]) and returns
/// its 32-byte secret.
pub fn register_api_client(ca: &CaProcess, id: &str, acl: &[&str]) -> Vec<u8> {
    let dir = TempDir::new("so-pin");
    let pin = dir.path().join("so.pin");
    std::fs::write(&pin, [SO_PIN, b"\n"].concat()).expect("write SO PIN file");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"client", &"add", &id, &"--socket", &ca.socket, &"--so-pin-file", &pin];
    for a in acl {
        args.push(&"--acl");
        args.push(a);
    }
    let o = teehsm_cli(&args);
    assert!(o.status.success(), "teehsm client add {id} failed:\n{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let secret = hex::decode(String::from_utf8_lossy(&o.stdout).trim()).expect("client add prints the secret in hex");
    assert_eq!(secret.len(), CLIENT_SECRET_LEN);
    secret
}

// ---------------------------------------------------------------------------
// Fleet console (issue 6): teehsm-console, teehsm-agent, a webhook sink.

/// A child process killed (SIGTERM, then reaped) on drop; dies with the
/// thread that started it.
pub struct Daemon {
    pub child: Child,
    pub name: &'static str,
}

impl Daemon {
    /// Starts `name` from [`bin_dir`] with `args`.
    pub fn spawn(name: &'static str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Daemon {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(bin(name));
        for a in args {
            cmd.arg(a);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name} (build it: cargo build --bins): {e}"));
        Daemon { child, name }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Waits up to `timeout` for `path` to hold a non-empty line; returns it.
pub fn wait_for_file_line(path: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Some(l) = s.lines().next().filter(|l| !l.trim().is_empty()) {
                return l.trim().to_string();
            }
        }
        assert!(Instant::now() < deadline, "{} did not appear in {timeout:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small HTTP/1.1 request to `addr` (host:port); returns (status, body).
pub fn http_request(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// A webhook receiver: accepts POSTs on 127.0.0.1, answers 200, and keeps
/// each body with the time it arrived.
pub struct WebhookSink {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
}

impl WebhookSink {
    pub fn start() -> WebhookSink {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind webhook sink");
        let url = format!("http://{}/alerts", listener.local_addr().expect("local addr"));
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len: usize =
                            head.lines().find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse().ok())).unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            break Some(String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).into_owned());
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                if let Some(body) = body {
                    store.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), body));
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        });
        WebhookSink { url, received }
    }

    /// Waits up to `timeout` for a body (received at or after `since`) for
    /// which `pred` holds; returns its arrival time and text.
    pub fn wait_for(&self, since: Instant, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let got = self.received.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((t, b)) = got.iter().find(|(t, b)| *t >= since && pred(b)) {
                    return Some((*t, b.clone()));
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every body received so far.
    pub fn all(&self) -> Vec<String> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, b)| b.clone()).collect()
    }
}
