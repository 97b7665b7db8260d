//! CPU and memory of one process, read from a proc filesystem (`/proc` on a
//! real host, a fake tree in tests).
//!
//! Files read: `<root>/<pid>/stat` (utime, stime, starttime), `<root>/<pid>/status`
//! (VmRSS), `<root>/stat` (total jiffies over all CPUs, number of CPUs) and
//! `<root>/meminfo` (MemTotal). Every file is untrusted text: reads are
//! size-capped, numbers are parsed with overflow checks and nothing panics.
//!
//! CPU use needs two samples: [`CpuSampler`] keeps the previous one and
//! compares process ticks with machine ticks over the same interval, so no
//! clock-tick constant (`CLK_TCK`) and no wall clock are needed.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Largest file read from the proc tree (real ones are a few KiB).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a sample could not be taken.
#[derive(Debug, Error)]
pub enum ProcError {
    /// The process does not exist (any more), or has exited and is a zombie.
    #[error("process {pid} is gone")]
    Gone { pid: u32 },
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was larger than [`MAX_FILE_BYTES`].
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    /// A file did not have the expected shape.
    #[error("malformed {file}: {what}")]
    Malformed { file: &'static str, what: String },
}

fn malformed(file: &'static str, what: impl Into<String>) -> ProcError {
    ProcError::Malformed { file, what: what.into() }
}

/// The fields of `/proc/<pid>/stat` the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    /// The command name between the parentheses (may contain anything).
    pub comm: String,
    /// Field 3: R, S, D, Z, X, ...
    pub state: char,
    /// Field 14: user-mode clock ticks.
    pub utime: u64,
    /// Field 15: kernel-mode clock ticks.
    pub stime: u64,
    /// Field 22: start time after boot, in clock ticks (identifies the process with its pid).
    pub starttime: u64,
}

fn parse_u64(file: &'static str, field: &str, s: &str) -> Result<u64, ProcError> {
    s.parse::<u64>().map_err(|_| malformed(file, format!("{field} is not an unsigned 64-bit number: {:?}", truncate(s))))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Parses `/proc/<pid>/stat`. The comm field (2) is in parentheses and may
/// itself contain spaces and parentheses, so the fields after it are found
/// from the last ')'.
pub fn parse_pid_stat(text: &str) -> Result<PidStat, ProcError> {
    const F: &str = "pid stat";
    let open = text.find('(').ok_or_else(|| malformed(F, "no '(' before comm"))?;
    let close = text.rfind(')').ok_or_else(|| malformed(F, "no ')' after comm"))?;
    if close < open {
        return Err(malformed(F, "')' before '('"));
    }
    let comm = text[open + 1..close].to_string();
    // Fields from 3 (state) on; index 0 here is field 3.
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| -> Result<&str, ProcError> { rest.get(n - 3).copied().ok_or_else(|| malformed(F, format!("truncated: no field {n}"))) };
    let state_s = field(3)?;
    let mut chars = state_s.chars();
    let state = match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        _ => return Err(malformed(F, format!("state is not one character: {:?}", truncate(state_s)))),
    };
    Ok(PidStat {
        comm,
        state,
        utime: parse_u64(F, "utime", field(14)?)?,
        stime: parse_u64(F, "stime", field(15)?)?,
        starttime: parse_u64(F, "starttime", field(22)?)?,
    })
}

/// VmRSS from `/proc/<pid>/status`, in bytes. None when the line is absent
/// (kernel threads, zombies).
pub fn parse_vm_rss(text: &str) -> Result<Option<u64>, ProcError> {
    kib_field("pid status", text, "VmRSS:")
}

/// MemTotal from `/proc/meminfo`, in bytes.
pub fn parse_mem_total(text: &str) -> Result<u64, ProcError> {
    kib_field("meminfo", text, "MemTotal:")?.ok_or_else(|| malformed("meminfo", "no MemTotal line"))
}

/// A `Key:   1234 kB` line, converted to bytes.
fn kib_field(file: &'static str, text: &str, key: &str) -> Result<Option<u64>, ProcError> {
    let Some(line) = text.lines().find(|l| l.starts_with(key)) else {
        return Ok(None);
    };
    let mut words = line[key.len()..].split_ascii_whitespace();
    let n = words.next().ok_or_else(|| malformed(file, format!("{key} has no value")))?;
    let n = parse_u64(file, key, n)?;
    match words.next() {
        Some("kB") => {}
        other => return Err(malformed(file, format!("{key} unit is {other:?}, expected kB"))),
    }
    n.checked_mul(1024).map(Some).ok_or_else(|| malformed(file, format!("{key} overflows in bytes")))
}

/// The machine's CPU time from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineCpu {
    /// Sum of user, nice, system, idle, iowait, irq, softirq and steal over all
    /// CPUs (guest time is already inside user and nice).
    pub total_jiffies: u64,
    /// Number of `cpuN` lines.
    pub cpus: u32,
}

/// Parses `/proc/stat`.
pub fn parse_machine_cpu(text: &str) -> Result<MachineCpu, ProcError> {
    const F: &str = "stat";
    let mut total = None;
    let mut cpus: u32 = 0;
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("cpu") => {
                let mut sum: u64 = 0;
                let mut n = 0;
                for w in words.take(8) {
                    let v = parse_u64(F, "cpu time", w)?;
                    sum = sum.checked_add(v).ok_or_else(|| malformed(F, "cpu total overflows"))?;
                    n += 1;
                }
                if n < 4 {
                    return Err(malformed(F, "the cpu line has fewer than 4 fields"));
                }
                total = Some(sum);
            }
            Some(w) if w.len() > 3 && w.starts_with("cpu") && w[3..].bytes().all(|b| b.is_ascii_digit()) => {
                cpus = cpus.saturating_add(1);
            }
            _ => {}
        }
    }
    let total_jiffies = total.ok_or_else(|| malformed(F, "no cpu line"))?;
    if cpus == 0 {
        return Err(malformed(F, "no cpuN lines"));
    }
    Ok(MachineCpu { total_jiffies, cpus })
}

/// One reading of a process and the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSample {
    pub pid: u32,
    pub comm: String,
    pub starttime: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size in bytes (None for processes without one).
    pub rss_bytes: Option<u64>,
    pub machine: MachineCpu,
    pub mem_total_bytes: u64,
}

impl ProcessSample {
    /// RSS as a percentage of the machine's memory.
    pub fn rss_percent(&self) -> Option<f64> {
        let rss = self.rss_bytes?;
        (self.mem_total_bytes > 0).then(|| rss as f64 * 100.0 / self.mem_total_bytes as f64)
    }
}

/// A proc filesystem under a root directory.
#[derive(Debug, Clone)]
pub struct ProcFs {
    root: PathBuf,
}

impl Default for ProcFs {
    fn default() -> Self {
        ProcFs::new("/proc")
    }
}

impl ProcFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProcFs { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a file, capped at [`MAX_FILE_BYTES`]; invalid UTF-8 (a comm may
    /// hold any bytes) is replaced. `pid` turns "not found" into [`ProcError::Gone`].
    fn read(&self, rel: &str, pid: Option<u32>) -> Result<String, ProcError> {
        let path = self.root.join(rel);
        let io = |source: std::io::Error| {
            // ESRCH: the process exited between open and read.
            let gone = source.kind() == ErrorKind::NotFound || source.raw_os_error() == Some(libc::ESRCH);
            match pid {
                Some(pid) if gone => ProcError::Gone { pid },
                _ => ProcError::Io { path: path.clone(), source },
            }
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        let mut buf = Vec::new();
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).map_err(io)?;
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(ProcError::TooLarge { path });
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Reads the machine's CPU counters.
    pub fn machine_cpu(&self) -> Result<MachineCpu, ProcError> {
        parse_machine_cpu(&self.read("stat", None)?)
    }

    /// Reads the machine's memory size in bytes.
    pub fn mem_total(&self) -> Result<u64, ProcError> {
        parse_mem_total(&self.read("meminfo", None)?)
    }

    /// Samples process `pid`. A missing or exited (zombie) process is [`ProcError::Gone`].
    pub fn sample(&self, pid: u32) -> Result<ProcessSample, ProcError> {
        if pid == 0 {
            return Err(ProcError::Gone { pid });
        }
        let stat = parse_pid_stat(&self.read(&format!("{pid}/stat"), Some(pid))?)?;
        if matches!(stat.state, 'Z' | 'X' | 'x') {
            return Err(ProcError::Gone { pid });
        }
        let rss_bytes = parse_vm_rss(&self.read(&format!("{pid}/status"), Some(pid))?)?;
        let machine = self.machine_cpu()?;
        let mem_total_bytes = self.mem_total()?;
        let cpu_ticks = stat.utime.checked_add(stat.stime).ok_or_else(|| malformed("pid stat", "utime + stime overflows"))?;
        Ok(ProcessSample { pid, comm: stat.comm, starttime: stat.starttime, cpu_ticks, rss_bytes, machine, mem_total_bytes })
    }
}

/// CPU use of a process between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    /// Percent of one core (200 = two cores busy).
    pub percent_of_core: f64,
    /// Percent of the whole machine (0..=100).
    pub percent_of_machine: f64,
}

/// Turns successive samples of one process into CPU use. Starts over (no
/// result) when the pid or its start time changes (the process was replaced,
/// e.g. the TA restarted or a pid was reused) or when a counter goes backwards.
#[derive(Debug, Default, Clone)]
pub struct CpuSampler {
    prev: Option<ProcessSample>,
}

impl CpuSampler {
    pub fn new() -> Self {
        CpuSampler::default()
    }

    /// Forgets the previous sample (call it when the process is gone).
    pub fn reset(&mut self) {
        self.prev = None;
    }

    /// Adds a sample; returns the use since the previous one, if comparable.
    pub fn update(&mut self, cur: ProcessSample) -> Option<CpuUsage> {
        let usage = self.prev.as_ref().and_then(|prev| usage(prev, &cur));
        self.prev = Some(cur);
        usage
    }
}

fn usage(prev: &ProcessSample, cur: &ProcessSample) -> Option<CpuUsage> {
    if prev.pid != cur.pid || prev.starttime != cur.starttime || cur.machine.cpus == 0 {
        return None;
    }
    let proc_d = cur.cpu_ticks.checked_sub(prev.cpu_ticks)?;
    let total_d = cur.machine.total_jiffies.checked_sub(prev.machine.total_jiffies)?;
    if total_d == 0 {
        return None;
    }
    // Process and machine ticks are counted separately: clamp rounding skew.
    let machine = (proc_d as f64 / total_d as f64 * 100.0).min(100.0);
    Some(CpuUsage { percent_of_core: machine * f64::from(cur.machine.cpus), percent_of_machine: machine })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(PathBuf);

    impl Fake {
        fn new(tag: &str) -> Fake {
            let d = std::env::temp_dir().join(format!("teehsm-procstat-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Fake(d)
        }
        fn file(&self, p: &str, content: impl AsRef<[u8]>) -> &Self {
            let path = self.0.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
            self
        }
        fn machine(&self, total: u64) -> &Self {
            // 4 fields summing to `total`, plus iowait..steal zeros and guest fields that must be ignored.
            let user = total / 2;
            let rest = total - user;
            self.file("stat", format!("cpu  {user} 0 {rest} 0 0 0 0 0 999 999\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nintr 1 2 3\nctxt 5\n"))
                .file("meminfo", "MemTotal:        2000000 kB\nMemFree:          100 kB\n")
        }
        fn process(&self, pid: u32, comm: &str, utime: u64, stime: u64, start: u64) -> &Self {
            self.file(&format!("{pid}/stat"), stat_line(pid, comm, 'S', utime, stime, start))
                .file(&format!("{pid}/status"), "Name:\tx\nState:\tS (sleeping)\nVmPeak:\t  9999 kB\nVmRSS:\t   5120 kB\nThreads:\t3\n")
        }
        fn fs(&self) -> ProcFs {
            ProcFs::new(&self.0)
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn stat_line(pid: u32, comm: &str, state: char, utime: u64, stime: u64, start: u64) -> String {
        // Fields 4..13, then 14 utime, 15 stime, 16..21, 22 starttime, then more.
        format!("{pid} ({comm}) {state} 1 2 3 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 3 0 {start} 123456789 1280 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
    }

    #[test]
    fn pid_stat_simple_and_hostile_comm() {
        let s = parse_pid_stat(&stat_line(42, "teehsm-ta", 'R', 10, 5, 777)).unwrap();
        assert_eq!(s, PidStat { comm: "teehsm-ta".into(), state: 'R', utime: 10, stime: 5, starttime: 777 });
        for comm in [") (", "a) S 1 2 (b", "x y z", "))((", "", ")"] {
            let s = parse_pid_stat(&stat_line(7, comm, 'S', 11, 12, 13)).unwrap();
            assert_eq!((s.comm.as_str(), s.utime, s.stime, s.starttime), (comm, 11, 12, 13), "{comm:?}");
        }
    }

    #[test]
    fn pid_stat_rejects_bad_input_without_panicking() {
        let full = stat_line(42, "ta", 'S', 10, 5, 777);
        // Every truncation of a valid line either parses or is a typed error.
        for cut in 0..full.len() {
            let _ = parse_pid_stat(&full[..cut]);
        }
        assert!(matches!(parse_pid_stat(""), Err(ProcError::Malformed { .. })));
        assert!(matches!(parse_pid_stat("42 ta S 1 2"), Err(ProcError::Malformed { .. })));
        assert!(matches!(parse_pid_stat("42 )ta( S"), Err(ProcError::Malformed { .. })));
        assert!(matches!(parse_pid_stat("42 (ta) S 1 2 3"), Err(ProcError::Malformed { .. })));
        // Truncated just before starttime.
        let cut = full.find(" 777 ").unwrap();
        assert!(matches!(parse_pid_stat(&full[..cut]), Err(ProcError::Malformed { .. })));
        // Numbers past u64, negative, or not numbers.
        for bad in ["18446744073709551616", "-1", "1e3", "0x10", "99999999999999999999999999999"] {
            let line = stat_line(42, "ta", 'S', 10, 5, 777).replace(" 10 5 ", &format!(" {bad} 5 "));
            assert!(matches!(parse_pid_stat(&line), Err(ProcError::Malformed { .. })), "{bad}");
        }
        // Largest u64 is fine on its own, but utime + stime overflows in a sample.
        let s = parse_pid_stat(&stat_line(42, "ta", 'S', u64::MAX, 0, 1)).unwrap();
        assert_eq!(s.utime, u64::MAX);
        assert!(matches!(parse_pid_stat(&stat_line(42, "ta", '?', 1, 1, 1).replace(" ? ", " RS ")), Err(ProcError::Malformed { .. })));
    }

    #[test]
    fn status_meminfo_and_machine_stat() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t  100 kB\n").unwrap(), Some(102_400));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\nState:\tS\n").unwrap(), None);
        assert!(parse_vm_rss("VmRSS:\n").is_err());
        assert!(parse_vm_rss("VmRSS:\t100 MB\n").is_err());
        assert!(parse_vm_rss("VmRSS:\t100\n").is_err());
        assert!(parse_vm_rss("VmRSS:\t18446744073709551615 kB\n").is_err(), "bytes overflow");
        assert!(parse_vm_rss("VmRSS:\t-5 kB\n").is_err());
        assert_eq!(parse_mem_total("MemTotal: 4 kB\n").unwrap(), 4096);
        assert!(parse_mem_total("MemFree: 4 kB\n").is_err());
        assert!(parse_mem_total("").is_err());

        let m = parse_machine_cpu("cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 1\ncpu1 1\ncpu12 1\ncpux 1\n").unwrap();
        assert_eq!(m, MachineCpu { total_jiffies: 360, cpus: 3 });
        // Old kernels: only 4 fields.
        assert_eq!(parse_machine_cpu("cpu 1 2 3 4\ncpu0 1 2 3 4\n").unwrap().total_jiffies, 10);
        assert!(parse_machine_cpu("cpu 1 2 3\ncpu0 1\n").is_err());
        assert!(parse_machine_cpu("cpu0 1 2 3 4\n").is_err(), "no total line");
        assert!(parse_machine_cpu("cpu 1 2 3 4\n").is_err(), "no cpuN line");
        assert!(parse_machine_cpu(&format!("cpu {} {} 0 0\ncpu0 1\n", u64::MAX, 1)).is_err(), "sum overflow");
        assert!(parse_machine_cpu("cpu 1 x 3 4\ncpu0 1\n").is_err());
    }

    #[test]
    fn sample_and_cpu_percent() {
        let f = Fake::new("basic");
        f.machine(1000).process(42, "teehsm-ta", 100, 50, 5000);
        let fs = f.fs();
        let s1 = fs.sample(42).unwrap();
        assert_eq!(s1.cpu_ticks, 150);
        assert_eq!(s1.rss_bytes, Some(5120 * 1024));
        assert_eq!(s1.machine.cpus, 2);
        assert_eq!(s1.mem_total_bytes, 2_000_000 * 1024);
        assert!((s1.rss_percent().unwrap() - 0.256).abs() < 1e-9);
        let mut cpu = CpuSampler::new();
        assert_eq!(cpu.update(s1), None, "first sample");
        // 200 machine jiffies over 2 CPUs = 100 per core; the process used 150.
        f.machine(1200).process(42, "teehsm-ta", 200, 100, 5000);
        let u = cpu.update(fs.sample(42).unwrap()).unwrap();
        assert!((u.percent_of_machine - 75.0).abs() < 1e-9, "{u:?}");
        assert!((u.percent_of_core - 150.0).abs() < 1e-9, "{u:?}");
        // No machine time passed: no result, not a division by zero.
        assert_eq!(cpu.update(fs.sample(42).unwrap()), None);
    }

    #[test]
    fn pid_reuse_and_counter_reset_start_over() {
        let f = Fake::new("reuse");
        f.machine(1000).process(42, "teehsm-ta", 100, 50, 5000);
        let fs = f.fs();
        let mut cpu = CpuSampler::new();
        cpu.update(fs.sample(42).unwrap());
        // Same pid, another process (start time changed) with fewer ticks.
        f.machine(1100).process(42, "other", 1, 1, 9000);
        assert_eq!(cpu.update(fs.sample(42).unwrap()), None);
        f.machine(1200).process(42, "other", 11, 1, 9000);
        let u = cpu.update(fs.sample(42).unwrap()).unwrap();
        assert!((u.percent_of_machine - 10.0).abs() < 1e-9, "{u:?}");
        // Another pid (TA restarted).
        f.machine(1300).process(43, "teehsm-ta", 0, 0, 9500);
        assert_eq!(cpu.update(fs.sample(43).unwrap()), None);
        // Counters going backwards with the same identity.
        f.machine(1250).process(43, "teehsm-ta", 0, 0, 9500);
        assert_eq!(cpu.update(fs.sample(43).unwrap()), None);
        f.machine(1350).process(43, "teehsm-ta", 500, 0, 9500);
        let u = cpu.update(fs.sample(43).unwrap()).unwrap();
        assert_eq!(u.percent_of_machine, 100.0, "clamped");
    }

    #[test]
    fn gone_processes_are_typed() {
        let f = Fake::new("gone");
        f.machine(1000);
        let fs = f.fs();
        assert!(matches!(fs.sample(42), Err(ProcError::Gone { pid: 42 })));
        assert!(matches!(fs.sample(0), Err(ProcError::Gone { pid: 0 })));
        f.file("43/stat", stat_line(43, "teehsm-ta", 'Z', 1, 1, 1));
        assert!(matches!(fs.sample(43), Err(ProcError::Gone { pid: 43 })), "zombie");
        // stat present, status vanished meanwhile.
        f.file("44/stat", stat_line(44, "teehsm-ta", 'S', 1, 1, 1));
        assert!(matches!(fs.sample(44), Err(ProcError::Gone { pid: 44 })));
        // A missing machine file is an I/O error, not "gone".
        let empty = Fake::new("empty");
        empty.process(45, "x", 1, 1, 1);
        assert!(matches!(empty.fs().sample(45), Err(ProcError::Io { .. })));
    }

    #[test]
    fn hostile_files() {
        let f = Fake::new("hostile");
        f.machine(1000);
        // Non-UTF-8 comm holding ") (".
        let line = stat_line(46, "x", 'S', 3, 4, 5);
        let mut raw = b"46 (\xff) (\xfe".to_vec();
        raw.extend_from_slice(line.split_once("(x").unwrap().1.as_bytes());
        f.file("46/stat", &raw).file("46/status", "VmRSS: 1 kB\n");
        let s = f.fs().sample(46).unwrap();
        assert_eq!((s.cpu_ticks, s.starttime), (7, 5), "{:?}", s.comm);
        // Empty and truncated files.
        f.file("47/stat", "").file("47/status", "");
        assert!(matches!(f.fs().sample(47), Err(ProcError::Malformed { .. })));
        f.file("48/stat", stat_line(48, "x", 'S', u64::MAX, 1, 1)).file("48/status", "");
        assert!(matches!(f.fs().sample(48), Err(ProcError::Malformed { .. })), "tick overflow");
        // A huge file is refused, not read into memory.
        f.file("49/stat", vec![b'1'; (MAX_FILE_BYTES + 10) as usize]);
        assert!(matches!(f.fs().sample(49), Err(ProcError::TooLarge { .. })));
        // Binary garbage.
        f.file("50/stat", [0u8, 0x28, 0x29, 0xff, 0x00, 0x29]).file("50/status", [0xffu8; 64]);
        assert!(matches!(f.fs().sample(50), Err(ProcError::Malformed { .. })));
    }

    #[test]
    fn real_proc_for_this_process() {
        let fs = ProcFs::default();
        let pid = std::process::id();
        let s1 = fs.sample(pid).unwrap();
        assert!(s1.rss_bytes.unwrap() > 0);
        assert!(s1.mem_total_bytes > s1.rss_bytes.unwrap());
        assert!(s1.machine.cpus >= 1);
        assert!(s1.starttime > 0);
        let cpus = s1.machine.cpus;
        let mut cpu = CpuSampler::new();
        assert_eq!(cpu.update(s1), None);
        // Burn CPU for a while so the tick counters move (10 ms ticks).
        let start = std::time::Instant::now();
        let mut x: u64 = 1;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        let usage = cpu.update(fs.sample(pid).unwrap()).unwrap();
        assert!(usage.percent_of_core > 0.0 && usage.percent_of_core <= 100.0 * f64::from(cpus), "{usage:?}");
        assert!(usage.percent_of_machine <= 100.0);
    }
}
