//! Reading a socket (Unix or TCP) with a short busy-wait before blocking.
//!
//! A request/reply hop whose reader sleeps in `recv` pays for a scheduler
//! wake-up on every message; on virtual machines that is tens of
//! microseconds, several times the cost of a P-256 signature. A reader that
//! expects an answer soon (a client waiting for its reply, the TA waiting for
//! the next request of a busy client) first polls the socket without blocking
//! for a small budget, yielding the CPU between polls, and only then blocks.
//! The budget bounds the CPU spent on an idle connection per message.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Environment variable that sets the spin budget in microseconds (0 = never spin).
pub const SPIN_ENV: &str = "TEEHSM_SPIN_US";
/// Default spin budget.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(200);

/// The process-wide spin budget: `TEEHSM_SPIN_US` if set and valid, else the default.
pub fn default_budget() -> Duration {
    static BUDGET: OnceLock<Duration> = OnceLock::new();
    *BUDGET.get_or_init(|| std::env::var(SPIN_ENV).ok().and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_micros).unwrap_or(DEFAULT_SPIN))
}

/// What a reader has learned about how long its peer takes to answer: an
/// exponentially weighted average of recent waits. Spinning pays only when
/// answers come within the budget (a P-256 signature, a busy client's next
/// request); for slow answers (an RSA signature, an idle client) the reader
/// blocks at once and leaves the CPU to whoever computes the answer.
#[derive(Debug, Default, Clone)]
pub struct SpinState {
    avg_wait_ns: u64,
}

impl SpinState {
    fn should_spin(&self, budget: Duration) -> bool {
        self.avg_wait_ns <= budget.as_nanos() as u64
    }

    fn record(&mut self, waited: Duration) {
        let w = waited.as_nanos().min(u64::MAX as u128 / 8) as u64;
        self.avg_wait_ns = (self.avg_wait_ns.saturating_mul(7).saturating_add(w)) / 8;
    }
}

/// `Read` for a borrowed socket (a `UnixStream`, a `TcpStream`, or a
/// `teehsm_wire::stream::Stream`) that spins up to `budget` before
/// blocking, when `state` says answers usually come that fast.
pub struct SpinReader<'a, S = UnixStream> {
    stream: &'a S,
    budget: Duration,
    state: &'a mut SpinState,
}

impl<'a, S> SpinReader<'a, S>
where
    S: AsRawFd,
    for<'b> &'b S: Read,
{
    pub fn new(stream: &'a S, budget: Duration, state: &'a mut SpinState) -> Self {
        SpinReader { stream, budget, state }
    }
}

/// One non-blocking receive: Some(result) if data, end of stream or an
/// error came back, None if nothing is there yet.
fn try_recv(stream: &impl AsRawFd, buf: &mut [u8]) -> Option<io::Result<usize>> {
    // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes for the
    // duration of the call, and the descriptor is owned by `stream`, which
    // outlives the call. MSG_DONTWAIT makes this one receive non-blocking
    // without changing the descriptor's flags.
    let n = unsafe { libc::recv(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n >= 0 {
        return Some(Ok(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => None,
        _ => Some(Err(e)),
    }
}

impl<S> Read for SpinReader<'_, S>
where
    S: AsRawFd,
    for<'b> &'b S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = Instant::now();
        if !self.budget.is_zero() && self.state.should_spin(self.budget) {
            loop {
                if let Some(r) = try_recv(self.stream, buf) {
                    self.state.record(start.elapsed());
                    return r;
                }
                if start.elapsed() >= self.budget {
                    break;
                }
                // Give the CPU to a peer that shares it (the TA computing
                // our answer, say) after every poll: with more threads than
                // CPUs, a spinner that holds on delays the very answer it
                // waits for (measured: 2-thread P-256 signing through the
                // module went from ~40k to ~80k/s when yielding every poll
                // instead of every 16th).
                std::thread::yield_now();
            }
        }
        let r = (&mut &*self.stream).read(buf);
        self.state.record(start.elapsed());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_data_end_of_stream_and_blocks_past_the_budget() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 8];
        b.write_all(b"hi").unwrap();
        let mut st = SpinState::default();
        let mut r = SpinReader::new(&a, Duration::from_micros(50), &mut st);
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        // Nothing there: spins 50 us, then blocks until the writer sends.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"late").unwrap();
            drop(b);
        });
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        t.join().unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 0, "end of stream");
        assert!(!st.should_spin(Duration::from_micros(50)), "a 20 ms wait teaches it to block");
        let mut st2 = SpinState::default();
        let mut none = SpinReader::new(&a, Duration::ZERO, &mut st2);
        assert_eq!(none.read(&mut buf).unwrap(), 0);
    }
}
