//! The live client connections, so the CA can close them all at once (when
//! the TA dies, and at shutdown) instead of waiting for each client to notice.

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use teehsm_wire::stream::Stream;

#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Vec<Stream>>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the streams of one relayed client (clones of the client and
    /// TA sides); they are unregistered when the returned guard drops.
    pub fn register(&self, streams: Vec<Stream>) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, streams);
        Registration { registry: self, id }
    }

    /// Shuts down both directions of every registered stream; the relay
    /// threads then see end-of-stream and finish. Returns how many clients.
    pub fn close_all(&self) -> usize {
        let conns = self.lock();
        for streams in conns.values() {
            for s in streams {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        conns.len()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Stream>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes its client from the registry on drop.
pub struct Registration<'a> {
    registry: &'a Registry,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    #[test]
    fn close_all_ends_reads_and_guards_unregister() {
        let r = Registry::new();
        let (a, b) = UnixStream::pair().unwrap();
        let g = r.register(vec![Stream::Unix(a.try_clone().unwrap())]);
        assert_eq!(r.len(), 1);
        let t = std::thread::spawn(move || {
            let mut a = a;
            let mut buf = [0u8; 1];
            a.read(&mut buf).unwrap_or(0)
        });
        assert_eq!(r.close_all(), 1);
        assert_eq!(t.join().unwrap(), 0, "the blocked read returned end-of-stream");
        drop(g);
        assert!(r.is_empty());
        drop(b);
    }
}
