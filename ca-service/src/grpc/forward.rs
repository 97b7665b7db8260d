//! Forwarding calls to the TA over a few pipelined, asynchronous
//! connections.
//!
//! Each connection is opened lazily with the blocking wire client (Hello,
//! on a blocking thread), then its stream is handed to tokio. The TA
//! answers the requests of one connection strictly in order, so a
//! connection keeps a FIFO of the calls it sent: a caller encodes its
//! frame, queues it with its reply slot and writes it straight away (or
//! leaves it to whoever is writing already, in one write with the others
//! queued meanwhile); one reader task per connection takes reply frames
//! off the socket and completes the FIFO's front. No thread hop, no
//! spinning: a call costs a `write` and its share of a `read`. At most
//! `PIPELINE_DEPTH` calls per connection are in flight; further callers
//! wait their turn.
//!
//! A connection that fails fails every call it has in flight and is
//! replaced on the next call; one opened before the TA last restarted is
//! replaced before use.

use crate::state::Shared;
use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use teehsm_wire::client::Client;
use teehsm_wire::stream::Stream;
use teehsm_wire::{decode_response, encode_request, Reply, Request, Response, Rv, MAX_FRAME_LEN};
use thiserror::Error;
use tokio::sync::oneshot;

/// Name the connections announce in Hello.
const CLIENT_NAME: &str = "teehsm-ca-grpc";
/// Bytes the reader asks the socket for at once.
const READ_CHUNK: usize = 64 * 1024;
/// Calls in flight per connection (on average over the connections) before
/// further callers wait, in one fair line: enough to keep each TA connection
/// thread fed with its next request, few enough that a call waits in that
/// line rather than behind one connection's backlog (64 clients on 4
/// connections: about the same ops/s as unbounded, a lower p99). Also
/// bounds what a flood of calls can queue.
const PIPELINE_DEPTH: usize = 4;
/// A connection with calls in flight and no reply for this long is busy
/// with a slow call (an RSA key generation, say): new calls go elsewhere
/// rather than queue behind it.
const STALLED: Duration = Duration::from_millis(10);
/// What a stalled connection costs in `Inner::pick` (on top of its calls in flight).
const STALLED_COST: usize = 1 << 20;

/// Why a call got no reply from the TA.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ForwardError {
    #[error("the TA is not running")]
    TaDown,
    #[error("lost the TA connection: {0}")]
    Lost(String),
    #[error("the forwarder is stopping")]
    Stopping,
    /// The TA answered with a protocol-level error instead of a reply.
    #[error("{rv}: {message}")]
    Refused { rv: Rv, message: String },
}

type ReplyTx = oneshot::Sender<Result<Reply, ForwardError>>;

/// The async handle; cheap to clone. The connections close once every
/// handle is dropped (calls in flight on them then fail).
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    slots: Vec<Slot>,
    /// Where the next pick starts scanning (spreads ties).
    rotor: AtomicUsize,
    /// `PIPELINE_DEPTH` per connection; a call holds one until it is answered.
    permits: tokio::sync::Semaphore,
}

/// One of the `connections` places a TA connection can live.
struct Slot {
    conn: Mutex<Option<Arc<Conn>>>,
    /// Held while (re)connecting, so concurrent callers open one connection, not many.
    connecting: tokio::sync::Mutex<()>,
}

impl Forwarder {
    /// Sets up `connections` connection slots. Nothing is opened and no task
    /// is started here: the first calls open the connections (from the
    /// runtime they run on), so this needs no runtime.
    pub fn start(connections: usize, shared: Arc<Shared>) -> io::Result<Forwarder> {
        let slots = (0..connections.max(1)).map(|_| Slot { conn: Mutex::new(None), connecting: tokio::sync::Mutex::new(()) }).collect();
        let permits = tokio::sync::Semaphore::new(connections.max(1) * PIPELINE_DEPTH);
        Ok(Forwarder { inner: Arc::new(Inner { shared, slots, rotor: AtomicUsize::new(0), permits }) })
    }

    /// Sends `request` to the TA and waits for its reply.
    pub async fn call(&self, request: Request) -> Result<Reply, ForwardError> {
        let inner = &self.inner;
        if !inner.shared.ta_up() {
            return Err(ForwardError::TaDown);
        }
        let _permit = inner.permits.acquire().await.map_err(|_| ForwardError::Stopping)?;
        let generation = inner.shared.metrics.ta_restarts.load(Ordering::Acquire);
        let conn = inner.pick(generation).await?;
        let rx = conn.send(&request)?;
        rx.await.map_err(|_| ForwardError::Stopping)?
    }
}

impl Inner {
    /// The connection with the fewest calls in flight (an open idle one
    /// before opening another, a stalled one last), opened if need be.
    async fn pick(&self, generation: u64) -> Result<Arc<Conn>, ForwardError> {
        let n = self.slots.len();
        let start = self.rotor.fetch_add(1, Ordering::Relaxed) % n;
        let (mut best, mut best_cost) = (start, usize::MAX);
        for k in 0..n {
            let i = (start + k) % n;
            // An open connection costs twice its calls in flight; opening one costs 1.
            let cost = match self.slots[i].current(generation) {
                Some(c) => c.cost(),
                None => 1,
            };
            if cost < best_cost {
                (best, best_cost) = (i, cost);
                if cost == 0 {
                    break;
                }
            }
        }
        let slot = &self.slots[best];
        if let Some(c) = slot.current(generation) {
            return Ok(c);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(c) = slot.current(generation) {
            return Ok(c);
        }
        // A dead or stale connection: close it (its reader then fails what it still had in flight).
        if let Some(old) = slot.lock().take() {
            old.close();
        }
        let conn = self.connect(generation).await?;
        *slot.lock() = Some(conn.clone());
        Ok(conn)
    }

    /// Opens a connection (Hello on a blocking thread) and starts its reader.
    async fn connect(&self, generation: u64) -> Result<Arc<Conn>, ForwardError> {
        let endpoint = self.shared.ta_address.clone();
        let opened =
            tokio::task::spawn_blocking(move || Client::connect_endpoint(&endpoint, CLIENT_NAME)).await.map_err(|_| ForwardError::Stopping)?;
        let stream = match opened {
            Ok(client) => client.into_stream(),
            Err(e) => {
                tracing::debug!(error = %e, "gRPC: cannot connect to the TA");
                return Err(ForwardError::TaDown);
            }
        };
        let conn = Conn::new(stream, generation, self.shared.clone()).map_err(|e| {
            tracing::warn!(error = %e, "gRPC: cannot set up the TA connection");
            ForwardError::Lost(e.to_string())
        })?;
        tokio::spawn(read_replies(conn.clone()));
        Ok(conn)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for slot in &self.slots {
            if let Some(c) = slot.lock().take() {
                c.close();
            }
        }
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Conn>>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot's connection, if it is alive and of the TA generation `generation`.
    fn current(&self, generation: u64) -> Option<Arc<Conn>> {
        self.lock().as_ref().filter(|c| c.generation == generation && !c.dead.load(Ordering::Acquire)).cloned()
    }
}

/// The TA stream, in tokio.
enum Io {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

impl Io {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Unix(s) => s.try_read(buf),
            Io::Tcp(s) => s.try_read(buf),
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Unix(s) => s.try_write(buf),
            Io::Tcp(s) => s.try_write(buf),
        }
    }

    async fn readable(&self) -> io::Result<()> {
        match self {
            Io::Unix(s) => s.readable().await,
            Io::Tcp(s) => s.readable().await,
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Io::Unix(s) => s.writable().await,
            Io::Tcp(s) => s.writable().await,
        }
    }
}

/// One pipelined TA connection.
struct Conn {
    io: Io,
    /// A second handle on the socket, to shut it down from anywhere.
    closer: Stream,
    /// The TA generation (restart count) it was opened in.
    generation: u64,
    shared: Arc<Shared>,
    next_id: AtomicU32,
    /// Calls sent and not yet answered (mirrors `queue.sent.len()` for a lock-free pick).
    in_flight: AtomicUsize,
    /// When the connection last made progress (a reply, or a call on an
    /// idle connection), in microseconds since `epoch`.
    progress_us: AtomicU64,
    epoch: Instant,
    /// Set (under `queue`'s lock) once the connection failed; never cleared.
    dead: AtomicBool,
    queue: Mutex<Queue>,
}

struct Queue {
    /// The calls written (or about to be) in order, with their request ids.
    sent: VecDeque<(u32, ReplyTx)>,
    /// Frames queued while another caller (or the flush task) is writing.
    out: Vec<u8>,
    /// Whether someone is writing; they write `out` too before they stop.
    writing: bool,
}

/// Why a connection failed.
enum Failure {
    Io(String),
    /// The task reading replies was dropped (the runtime is shutting down).
    Stopping,
}

impl Conn {
    fn new(stream: Stream, generation: u64, shared: Arc<Shared>) -> io::Result<Arc<Conn>> {
        let closer = stream.try_clone()?;
        let io = match stream {
            Stream::Unix(s) => {
                s.set_nonblocking(true)?;
                Io::Unix(tokio::net::UnixStream::from_std(s)?)
            }
            Stream::Tcp(s) => {
                s.set_nonblocking(true)?;
                Io::Tcp(tokio::net::TcpStream::from_std(s)?)
            }
        };
        Ok(Arc::new(Conn {
            io,
            closer,
            generation,
            shared,
            // The Hello used id 1.
            next_id: AtomicU32::new(2),
            in_flight: AtomicUsize::new(0),
            progress_us: AtomicU64::new(0),
            epoch: Instant::now(),
            dead: AtomicBool::new(false),
            queue: Mutex::new(Queue { sent: VecDeque::new(), out: Vec::new(), writing: false }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn progressed(&self) {
        self.progress_us.store(self.now_us(), Ordering::Relaxed);
    }

    /// What sending one more call here costs, for `Inner::pick`.
    fn cost(&self) -> usize {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let mut cost = in_flight.saturating_mul(2);
        if in_flight > 0 && self.now_us().saturating_sub(self.progress_us.load(Ordering::Relaxed)) > STALLED.as_micros() as u64 {
            cost = cost.saturating_add(STALLED_COST);
        }
        cost
    }

    /// Queues `request` and writes it (with whatever else is queued) unless
    /// someone else is writing; returns where its reply will come.
    /// Never waits, so a caller that goes away cannot leave a frame half written.
    fn send(self: &Arc<Self>, request: &Request) -> Result<oneshot::Receiver<Result<Reply, ForwardError>>, ForwardError> {
        let id = loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            // 0 is the id the TA answers unreadable frames with.
            if id != 0 {
                break id;
            }
        };
        let payload = encode_request(id, request);
        if payload.len() > MAX_FRAME_LEN {
            return Err(ForwardError::Refused { rv: Rv::DATA_LEN_RANGE, message: "the request is too large for one frame".into() });
        }
        let (tx, rx) = oneshot::channel();
        let mut batch = {
            let mut q = self.lock();
            if self.dead.load(Ordering::Acquire) {
                return Err(self.lost("the connection failed".into()));
            }
            q.sent.push_back((id, tx));
            if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
                self.progressed();
            }
            q.out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            q.out.extend_from_slice(&payload);
            if q.writing {
                return Ok(rx);
            }
            q.writing = true;
            std::mem::take(&mut q.out)
        };
        let mut done = 0;
        if !self.write_some(&mut batch, &mut done) {
            tokio::spawn(self.clone().flush(batch, done));
        }
        Ok(rx)
    }

    /// Writes `batch[done..]` and then whatever was queued meanwhile, without
    /// waiting. Returns false if the socket is full: the rest is for `flush`.
    /// Returns true when all is written (`writing` cleared) or the connection failed.
    fn write_some(&self, batch: &mut Vec<u8>, done: &mut usize) -> bool {
        loop {
            while *done < batch.len() {
                match self.io.try_write(&batch[*done..]) {
                    Ok(0) => {
                        self.fail(Failure::Io("the TA connection accepts no more data".into()));
                        return true;
                    }
                    Ok(n) => *done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.fail(Failure::Io(format!("writing to the TA: {e}")));
                        return true;
                    }
                }
            }
            let mut q = self.lock();
            if q.out.is_empty() || self.dead.load(Ordering::Acquire) {
                q.writing = false;
                // Keep the buffer's room for the next batch.
                batch.clear();
                if q.out.is_empty() && q.out.capacity() < batch.capacity() {
                    std::mem::swap(&mut q.out, batch);
                }
                return true;
            }
            batch.clear();
            std::mem::swap(&mut q.out, batch);
            *done = 0;
        }
    }

    /// Finishes a write the socket had no room for, waiting for room.
    async fn flush(self: Arc<Self>, mut batch: Vec<u8>, mut done: usize) {
        while !self.write_some(&mut batch, &mut done) {
            if let Err(e) = self.io.writable().await {
                self.fail(Failure::Io(format!("waiting to write to the TA: {e}")));
                return;
            }
        }
    }

    /// The error a call on a failed connection gets.
    fn lost(&self, why: String) -> ForwardError {
        if self.shared.ta_up() {
            ForwardError::Lost(why)
        } else {
            ForwardError::TaDown
        }
    }

    /// Marks the connection dead, fails every call in flight on it, and shuts the socket down.
    fn fail(&self, why: Failure) {
        let sent = {
            let mut q = self.lock();
            if self.dead.swap(true, Ordering::AcqRel) {
                return;
            }
            q.out = Vec::new();
            self.in_flight.store(0, Ordering::Relaxed);
            std::mem::take(&mut q.sent)
        };
        self.close();
        if !sent.is_empty() {
            if let Failure::Io(why) = &why {
                tracing::debug!(calls = sent.len(), error = %why, "gRPC: lost a TA connection with calls in flight");
            }
        }
        for (_, tx) in sent {
            let e = match &why {
                Failure::Io(why) => self.lost(why.clone()),
                Failure::Stopping => ForwardError::Stopping,
            };
            let _ = tx.send(Err(e));
        }
    }

    /// Shuts the socket down: the TA and the reader task see the end of the stream.
    fn close(&self) {
        let _ = self.closer.shutdown(Shutdown::Both);
    }

    /// Hands one reply frame to the call at the FIFO's front.
    fn complete(&self, payload: &[u8]) -> Result<(), String> {
        let (got, response) = decode_response(payload).map_err(|e| format!("undecodable response: {e}"))?;
        let (want, tx) = {
            let mut q = self.lock();
            let front = q.sent.pop_front().ok_or_else(|| format!("a reply (request {got}) nothing was waiting for"))?;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            front
        };
        self.progressed();
        if got != want {
            let e = format!("response for request {got} while waiting for {want}");
            let _ = tx.send(Err(self.lost(e.clone())));
            return Err(e);
        }
        let result = match response {
            Response::Ok(reply) => Ok(reply),
            Response::Err { rv, message } => Err(ForwardError::Refused { rv, message }),
        };
        // A caller that went away is simply not answered.
        let _ = tx.send(result);
        Ok(())
    }
}

/// Fails the connection's calls in flight if the reader task ends in any
/// way (including being dropped with its runtime).
struct ReaderGuard(Arc<Conn>);

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.0.fail(Failure::Stopping);
    }
}

/// The reader task of one connection: reply frames in, calls completed.
async fn read_replies(conn: Arc<Conn>) {
    let guard = ReaderGuard(conn);
    let conn = &guard.0;
    let why = read_loop(conn).await;
    conn.fail(Failure::Io(why));
}

/// Reads and dispatches replies until the connection fails; returns why it did.
async fn read_loop(conn: &Conn) -> String {
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut acc: Vec<u8> = Vec::new();
    loop {
        let n = match conn.io.try_read(&mut chunk) {
            Ok(0) => {
                return if acc.is_empty() { "the TA closed the connection".into() } else { "the TA closed the connection inside a frame".into() }
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = conn.io.readable().await {
                    return format!("waiting for the TA: {e}");
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return format!("reading from the TA: {e}"),
        };
        // Whole frames straight from the chunk when nothing is left over; the rest is kept.
        let data: &[u8] = if acc.is_empty() {
            &chunk[..n]
        } else {
            acc.extend_from_slice(&chunk[..n]);
            &acc
        };
        let mut pos = 0;
        while let Some(header) = data.get(pos..pos + 4) {
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if len > MAX_FRAME_LEN {
                return format!("a frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit");
            }
            let Some(payload) = data.get(pos + 4..pos + 4 + len) else { break };
            if let Err(why) = conn.complete(payload) {
                return why;
            }
            pos += 4 + len;
        }
        if acc.is_empty() {
            acc.extend_from_slice(&chunk[pos..n]);
        } else {
            acc.drain(..pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use teehsm_wire::frame::{read_frame, write_frame};
    use teehsm_wire::stream::Endpoint;
    use teehsm_wire::{decode_request, encode_response, ChannelMode};

    /// A fake TA on a Unix socket (see `serve_fake`).
    fn fake_ta(path: &std::path::Path, per_conn: usize, connections: Arc<AtomicUsize>) {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let s = s.unwrap();
                connections.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve_fake(s, per_conn));
            }
        });
    }

    /// The fake TA on a TCP listener; returns its address.
    fn fake_ta_tcp(per_conn: usize, connections: Arc<AtomicUsize>) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let s = s.unwrap();
                connections.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve_fake(s, per_conn));
            }
        });
        addr
    }

    /// One connection of the fake TA: answers Hello, echoes an ApiCall's
    /// body back as an OK Api reply (refuses it if the body is b"refuse";
    /// closes without a reply if it is b"close"; answers after 1 s if it is
    /// b"slow", after 2 ms if it starts with b"wait"), and closes the
    /// connection after `per_conn` API calls.
    fn serve_fake<S>(s: S, per_conn: usize)
    where
        for<'a> &'a S: std::io::Read + std::io::Write,
    {
        let (mut buf, mut r, mut served) = (Vec::new(), std::io::BufReader::new(&s), 0);
        while let Ok(true) = read_frame(&mut r, &mut buf) {
            let (id, req) = decode_request(&buf).unwrap();
            let response = match req {
                Request::Hello { .. } => {
                    Response::Ok(Reply::Hello { version: 1, ta_version: "fake".into(), channel: ChannelMode::Plain, app_ticket: vec![0; 32] })
                }
                Request::ApiCall { body, .. } if body == b"close" => return,
                Request::ApiCall { body, method, .. } if body == b"slow" => {
                    std::thread::sleep(std::time::Duration::from_millis(1000));
                    Response::Ok(Reply::Api { code: 0, message: method, body, mac: [7; 32], algorithm: 0 })
                }
                Request::ApiCall { body, .. } if body == b"refuse" => Response::err(Rv::ARGUMENTS_BAD, "refused"),
                Request::ApiCall { body, method, .. } => {
                    if body.starts_with(b"wait") {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    served += 1;
                    Response::Ok(Reply::Api { code: 0, message: method, body, mac: [7; 32], algorithm: 0 })
                }
                _ => Response::Ok(Reply::Done),
            };
            write_frame(&mut &s, &encode_response(id, &response)).unwrap();
            if served == per_conn {
                return;
            }
        }
    }

    fn api(body: &[u8]) -> Request {
        Request::ApiCall {
            client_id: String::new(),
            timestamp_ms: 0,
            nonce: [0; 16],
            mac: [0; 32],
            method: "/teehsm.v1.KeyManagementService/GenerateRandom".into(),
            body: body.to_vec(),
        }
    }

    /// A fresh socket path, a fake TA on it, and a Shared whose TA is up.
    fn setup(name: &str, per_conn: usize) -> (PathBuf, Arc<AtomicUsize>, Arc<Shared>) {
        let dir = std::env::temp_dir().join(format!("teehsm-ca-fwd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock: PathBuf = dir.join("ta.sock");
        let connections = Arc::new(AtomicUsize::new(0));
        fake_ta(&sock, per_conn, connections.clone());
        let shared = Arc::new(Shared::new(Endpoint::Unix(sock)));
        (dir, connections, shared)
    }

    /// `n` concurrent calls, each answered with its own body.
    fn calls_answer_their_own_bodies(rt: &tokio::runtime::Runtime, fwd: &Forwarder, n: u32) {
        rt.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let fwd = fwd.clone();
                    tokio::spawn(async move { fwd.call(api(&i.to_be_bytes())).await })
                })
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(body_of(t.await.unwrap()), (i as u32).to_be_bytes());
            }
        });
    }

    fn body_of(r: Result<Reply, ForwardError>) -> Vec<u8> {
        match r {
            Ok(Reply::Api { body, mac, .. }) => {
                assert_eq!(mac, [7; 32]);
                body
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forwards_and_replaces_broken_connections() {
        let (dir, connections, shared) = setup("basic", 2);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let fwd = Forwarder::start(1, shared.clone()).unwrap();

        // TA not up: refused without touching the socket.
        assert_eq!(rt.block_on(fwd.call(api(b"x"))), Err(ForwardError::TaDown));
        assert_eq!(connections.load(Ordering::SeqCst), 0);

        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        for i in 0..2u8 {
            assert_eq!(body_of(rt.block_on(fwd.call(api(&[i])))), vec![i]);
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "one pooled connection for both calls");
        // The fake TA closed that connection: the next call either fails as
        // lost (sent before the close was noticed) or already goes to a new connection.
        let third = rt.block_on(fwd.call(api(b"z")));
        assert!(matches!(third, Err(ForwardError::Lost(_)) | Ok(Reply::Api { .. })), "{third:?}");
        if third.is_err() {
            assert!(matches!(rt.block_on(fwd.call(api(b"z"))), Ok(Reply::Api { .. })));
        }
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        // A call in flight when the connection breaks fails as lost; the next one reconnects.
        assert!(matches!(rt.block_on(fwd.call(api(b"close"))), Err(ForwardError::Lost(_))));
        assert_eq!(body_of(rt.block_on(fwd.call(api(b"y")))), b"y");
        assert_eq!(connections.load(Ordering::SeqCst), 3);
        // A refusal keeps the connection.
        let refused = rt.block_on(fwd.call(api(b"refuse")));
        assert_eq!(refused, Err(ForwardError::Refused { rv: Rv::ARGUMENTS_BAD, message: "refused".into() }));
        assert_eq!(connections.load(Ordering::SeqCst), 3);
        // A TA restart (new generation) replaces the connection before use.
        crate::metrics::inc(&shared.metrics.ta_restarts);
        assert!(matches!(rt.block_on(fwd.call(api(b"r"))), Ok(Reply::Api { .. })));
        assert_eq!(connections.load(Ordering::SeqCst), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pipelines_many_calls_on_one_connection() {
        const CALLS: usize = 500;
        let (dir, connections, shared) = setup("pipeline", usize::MAX);
        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fwd = Forwarder::start(1, shared.clone()).unwrap();
        let results = rt.block_on(async {
            let tasks: Vec<_> = (0..CALLS)
                .map(|i| {
                    let fwd = fwd.clone();
                    let body = format!("call {i} {}", "x".repeat(i % 97)).into_bytes();
                    tokio::spawn(async move { (body.clone(), fwd.call(api(&body)).await) })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for (body, r) in results {
            assert_eq!(body_of(r), body);
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "all calls pipelined on one connection");
        // Calls the TA takes a while over: the connection has several in flight at once.
        let most_in_flight = rt.block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let fwd = fwd.clone();
                    tokio::spawn(async move { fwd.call(api(format!("wait {i}").as_bytes())).await })
                })
                .collect();
            let mut most = 0;
            while tasks.iter().any(|t| !t.is_finished()) {
                if let Some(c) = fwd.inner.slots[0].current(0) {
                    most = most.max(c.in_flight.load(Ordering::Relaxed));
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(body_of(t.await.unwrap()), format!("wait {i}").into_bytes());
            }
            most
        });
        assert!((2..=PIPELINE_DEPTH).contains(&most_in_flight), "{most_in_flight} calls in flight at most");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spreads_calls_and_fails_all_in_flight_on_a_lost_connection() {
        let (dir, connections, shared) = setup("spread", usize::MAX);
        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fwd = Forwarder::start(3, shared.clone()).unwrap();
        calls_answer_their_own_bodies(&rt, &fwd, 200);
        let opened = connections.load(Ordering::SeqCst);
        assert!((1..=3).contains(&opened), "{opened} connections");
        // Dropping every handle closes the connections; a new forwarder opens its own.
        drop(fwd);
        let fwd = Forwarder::start(1, shared.clone()).unwrap();
        // Calls queued behind one the TA never answers all fail, none hangs.
        let results = rt.block_on(async {
            let first = {
                let fwd = fwd.clone();
                tokio::spawn(async move { fwd.call(api(b"warm")).await })
            };
            assert!(first.await.unwrap().is_ok());
            let mut tasks = vec![];
            let f = fwd.clone();
            tasks.push(tokio::spawn(async move { f.call(api(b"close")).await }));
            for i in 0..20u8 {
                let f = fwd.clone();
                tasks.push(tokio::spawn(async move { f.call(api(&[i])).await }));
            }
            let mut out = vec![];
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        // "close" fails as lost, and so does everything sent after it on that connection.
        assert!(matches!(results[0], Err(ForwardError::Lost(_))), "{:?}", results[0]);
        for r in &results[1..] {
            assert!(matches!(r, Err(ForwardError::Lost(_)) | Ok(Reply::Api { .. })), "{r:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn calls_do_not_queue_behind_a_slow_one() {
        let (dir, connections, shared) = setup("slow", usize::MAX);
        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fwd = Forwarder::start(2, shared.clone()).unwrap();
        rt.block_on(async {
            // Open both connections first.
            let (a, b) = tokio::join!(fwd.call(api(b"wait a")), fwd.call(api(b"wait b")));
            assert!(a.is_ok() && b.is_ok());
            assert_eq!(connections.load(Ordering::SeqCst), 2);
            let slow = {
                let fwd = fwd.clone();
                tokio::spawn(async move { fwd.call(api(b"slow")).await })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Calls that take a little while, so several are in flight at once.
            let fast: Vec<_> = (0..16)
                .map(|i| {
                    let fwd = fwd.clone();
                    tokio::spawn(async move { fwd.call(api(format!("wait {i}").as_bytes())).await })
                })
                .collect();
            for (i, t) in fast.into_iter().enumerate() {
                assert_eq!(body_of(t.await.unwrap()), format!("wait {i}").into_bytes());
            }
            assert!(!slow.is_finished(), "the fast calls waited for the slow one");
            assert_eq!(body_of(slow.await.unwrap()), b"slow");
        });
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn forwards_over_tcp() {
        let connections = Arc::new(AtomicUsize::new(0));
        let addr = fake_ta_tcp(usize::MAX, connections.clone());
        let shared = Arc::new(Shared::new(Endpoint::Tcp(addr)));
        shared.spawn_unless_stopping(|| Ok(((), 1))).unwrap().unwrap();
        shared.set_running();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fwd = Forwarder::start(2, shared).unwrap();
        calls_answer_their_own_bodies(&rt, &fwd, 100);
        assert!((1..=2).contains(&connections.load(Ordering::SeqCst)));
    }
}
