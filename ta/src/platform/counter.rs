//! A monotonic counter kept in a file and protected by a MAC, for TEEs that
//! have no usable hardware monotonic counter (SGX under Gramine, SEV-SNP and
//! TDX guests).
//!
//! The MAC stops the host from *editing* the value (a tampered or forged
//! file is refused), but NOT from replaying an older copy of the file
//! together with an older copy of the store: a host that snapshots and later
//! restores the whole data directory rolls the TA back undetected. Real
//! rollback protection on these platforms needs an external counter (a
//! replicated counter service, or the console); see docs/tee-backends.md.

use super::PlatformError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use teehsm_crypto::{digest::HashAlg, mac};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"TEEHSMC1";
const FILE_LEN: usize = 8 + 8 + 32;

/// A file-backed counter under a MAC key (derived from a platform seal key).
pub struct MacCounter {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    lock: Mutex<()>,
}

fn io_err(path: &Path, source: std::io::Error) -> PlatformError {
    PlatformError::Io { path: path.display().to_string(), source }
}

impl MacCounter {
    /// A counter in `path` (created on the first advance; a missing file reads as 0).
    pub fn new(path: PathBuf, key: Zeroizing<[u8; 32]>) -> Self {
        Self { path, key, lock: Mutex::new(()) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tag(&self, value: u64) -> Result<Vec<u8>, PlatformError> {
        let mut msg = Vec::with_capacity(16);
        msg.extend_from_slice(MAGIC);
        msg.extend_from_slice(&value.to_be_bytes());
        mac::hmac(HashAlg::Sha256, &self.key[..], &msg).map_err(|e| PlatformError::Crypto(e.to_string()))
    }

    fn read(&self) -> Result<u64, PlatformError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(&self.path, e)),
        };
        let bad = |why: &str| PlatformError::Counter(format!("counter file {} is invalid: {why}; refusing to trust it", self.path.display()));
        if bytes.len() != FILE_LEN {
            return Err(bad(&format!("expected {FILE_LEN} bytes, found {}", bytes.len())));
        }
        if &bytes[..8] != MAGIC {
            return Err(bad("wrong magic"));
        }
        let mut v = [0u8; 8];
        v.copy_from_slice(&bytes[8..16]);
        let value = u64::from_be_bytes(v);
        let mut msg = Vec::with_capacity(16);
        msg.extend_from_slice(MAGIC);
        msg.extend_from_slice(&v);
        mac::hmac_verify(HashAlg::Sha256, &self.key[..], &msg, &bytes[16..])
            .map_err(|_| bad("its MAC does not verify (edited, or written by another platform key)"))?;
        Ok(value)
    }

    /// The current value (0 when no counter file exists yet).
    pub fn get(&self) -> Result<u64, PlatformError> {
        let _g = self.lock.lock().map_err(|_| PlatformError::Counter("lock poisoned".into()))?;
        self.read()
    }

    /// Raises the counter to `value` (never lowers it); durable on return.
    pub fn advance(&self, value: u64) -> Result<(), PlatformError> {
        let _g = self.lock.lock().map_err(|_| PlatformError::Counter("lock poisoned".into()))?;
        let current = self.read()?;
        if value < current {
            return Err(PlatformError::Counter(format!("refusing to lower the counter from {current} to {value}")));
        }
        if value == current {
            return Ok(());
        }
        let mut data = Vec::with_capacity(FILE_LEN);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&value.to_be_bytes());
        data.extend_from_slice(&self.tag(value)?);
        let mut tmp_name = self.path.clone().into_os_string();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&data).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| io_err(&self.path, e))?;
        if let Some(parent) = self.path.parent() {
            File::open(parent).and_then(|d| d.sync_all()).map_err(|e| io_err(parent, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_survives_reopen_and_refuses_tampering() {
        let d = std::env::temp_dir().join(format!("teehsm-maccounter-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let p = d.join("c");
        let c = MacCounter::new(p.clone(), Zeroizing::new([7u8; 32]));
        assert_eq!(c.get().unwrap(), 0);
        c.advance(5).unwrap();
        assert!(c.advance(4).is_err());
        let c2 = MacCounter::new(p.clone(), Zeroizing::new([7u8; 32]));
        assert_eq!(c2.get().unwrap(), 5);
        let other_key = MacCounter::new(p.clone(), Zeroizing::new([8u8; 32]));
        assert!(matches!(other_key.get(), Err(PlatformError::Counter(_))));
        let mut b = fs::read(&p).unwrap();
        b[15] ^= 1;
        fs::write(&p, &b).unwrap();
        assert!(matches!(c2.get(), Err(PlatformError::Counter(_))));
        fs::write(&p, b"short").unwrap();
        assert!(matches!(c2.get(), Err(PlatformError::Counter(_))));
        let _ = fs::remove_dir_all(&d);
    }
}
