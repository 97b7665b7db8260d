//! SEV-SNP derived keys through the Linux SEV guest driver (`/dev/sev-guest`,
//! ioctl `SNP_GET_DERIVED_KEY`, uapi header `linux/sev-guest.h`), behind
//! [`SnpKeyDeriver`] so that tests use a fake.
//!
//! The firmware derives the key from a root key (the chip-unique VCEK or the
//! migration agent's VMRK) mixed with the guest fields selected in the
//! request. See [`SnpDerivedKeyRequest::teehsm_default`] for what the TA binds to.

use super::PlatformError;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// `guest_field_select` bits (SEV-SNP ABI, MSG_KEY_REQ).
pub const FIELD_GUEST_POLICY: u64 = 1 << 0;
pub const FIELD_IMAGE_ID: u64 = 1 << 1;
pub const FIELD_FAMILY_ID: u64 = 1 << 2;
pub const FIELD_MEASUREMENT: u64 = 1 << 3;
pub const FIELD_GUEST_SVN: u64 = 1 << 4;
pub const FIELD_TCB_VERSION: u64 = 1 << 5;

/// `struct snp_derived_key_req` from linux/sev-guest.h (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpDerivedKeyRequest {
    /// 0: VCEK (chip-unique), 1: VMRK (the migration agent's root key).
    pub root_key_select: u32,
    pub rsvd: u32,
    pub guest_field_select: u64,
    pub vmpl: u32,
    pub guest_svn: u32,
    pub tcb_version: u64,
}

impl SnpDerivedKeyRequest {
    /// What the TA asks for: the VCEK root (chip-unique) mixed with the
    /// guest policy and the launch MEASUREMENT, at VMPL 0.
    ///
    /// MEASUREMENT is the only selectable field that ties the key to the
    /// guest's code: the image and family IDs are values anyone can put in
    /// their own ID block, so a key bound only to them (and the policy)
    /// could be derived by another guest the host launches on the same chip.
    /// The price: a new guest image (a TA upgrade measured into the launch)
    /// derives a different key, so upgrades migrate keys (docs/tee-backends.md).
    /// Not mixed in: guest SVN (zero without an ID block) and TCB version
    /// (a firmware update would lose the keys). The TA's own security
    /// version is mixed in afterwards in software, with the same downgrade
    /// check as the other backends.
    pub fn teehsm_default() -> Self {
        Self { root_key_select: 0, rsvd: 0, guest_field_select: FIELD_GUEST_POLICY | FIELD_MEASUREMENT, vmpl: 0, guest_svn: 0, tcb_version: 0 }
    }
}

/// Something that derives SEV-SNP keys: the real device, or a test fake.
pub trait SnpKeyDeriver: Send + Sync {
    /// The 32-byte derived key for `req`.
    fn derive_key(&self, req: &SnpDerivedKeyRequest) -> Result<Zeroizing<[u8; 32]>, PlatformError>;
}

/// `struct snp_derived_key_resp` (64 bytes: the firmware's MSG_KEY_RSP).
#[repr(C)]
struct SnpDerivedKeyResponse {
    data: [u8; 64],
}

/// `struct snp_guest_request_ioctl` (32 bytes; `exitinfo2` is a union with fw_error/vmm_error).
#[repr(C)]
struct SnpGuestRequestIoctl {
    msg_version: u8,
    req_data: u64,
    resp_data: u64,
    exitinfo2: u64,
}

/// `_IOWR('S', 0x1, struct snp_guest_request_ioctl)`.
pub const SNP_GET_DERIVED_KEY: u64 = (3 << 30) | ((std::mem::size_of::<SnpGuestRequestIoctl>() as u64) << 16) | ((b'S' as u64) << 8) | 0x1;

/// The real `/dev/sev-guest` (under a configurable root).
pub struct SevGuestDevice {
    path: PathBuf,
}

impl SevGuestDevice {
    pub fn new(root: &Path) -> Self {
        Self { path: root.join("dev/sev-guest") }
    }
    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }
}

/// Reads the key out of a MSG_KEY_RSP: status (u32 LE) at 0, key at 0x20..0x40.
pub fn parse_key_response(data: &[u8; 64]) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
    let status = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    if status != 0 {
        return Err(PlatformError::Unavailable(format!("the SEV-SNP firmware refused the derived key request (status 0x{status:x})")));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&data[0x20..0x40]);
    Ok(key)
}

impl SnpKeyDeriver for SevGuestDevice {
    fn derive_key(&self, req: &SnpDerivedKeyRequest) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
        use std::os::unix::io::AsRawFd;
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| PlatformError::Io { path: self.path.display().to_string(), source: e })?;
        let mut request = *req;
        let mut resp = Zeroizing::new([0u8; 64]);
        let mut raw = SnpDerivedKeyResponse { data: [0u8; 64] };
        let mut ioc = SnpGuestRequestIoctl {
            msg_version: 1,
            req_data: &mut request as *mut SnpDerivedKeyRequest as u64,
            resp_data: &mut raw as *mut SnpDerivedKeyResponse as u64,
            exitinfo2: 0,
        };
        // SAFETY: `dev` is an open file descriptor for the whole call; `ioc`
        // is a live, correctly laid out `snp_guest_request_ioctl` whose
        // req_data / resp_data point to live `snp_derived_key_req` (32 bytes)
        // and `snp_derived_key_resp` (64 bytes) values on this stack frame,
        // which the kernel reads and writes only within those sizes. On any
        // other file the kernel returns ENOTTY without touching memory.
        let rc = unsafe { libc::ioctl(dev.as_raw_fd(), SNP_GET_DERIVED_KEY as _, &mut ioc as *mut SnpGuestRequestIoctl) };
        resp.copy_from_slice(&raw.data);
        zeroize::Zeroize::zeroize(&mut raw.data);
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(PlatformError::Unavailable(format!(
                "SNP_GET_DERIVED_KEY on {} failed: {e} (firmware error 0x{:x}, VMM error 0x{:x})",
                self.path.display(),
                ioc.exitinfo2 & 0xffff_ffff,
                ioc.exitinfo2 >> 32
            )));
        }
        parse_key_response(&resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_uapi_header() {
        assert_eq!(std::mem::size_of::<SnpDerivedKeyRequest>(), 32);
        assert_eq!(std::mem::size_of::<SnpDerivedKeyResponse>(), 64);
        assert_eq!(std::mem::size_of::<SnpGuestRequestIoctl>(), 32);
        assert_eq!(SNP_GET_DERIVED_KEY, 0xC020_5301);
    }

    #[test]
    fn firmware_status_is_checked() {
        let mut d = [0u8; 64];
        d[0x20..0x40].copy_from_slice(&[5u8; 32]);
        assert_eq!(*parse_key_response(&d).unwrap(), [5u8; 32]);
        d[0] = 0x16;
        assert!(matches!(parse_key_response(&d), Err(PlatformError::Unavailable(_))));
    }

    #[test]
    fn ioctl_on_something_else_fails_cleanly() {
        let p = std::env::temp_dir().join(format!("teehsm-not-sev-guest-{}", std::process::id()));
        std::fs::write(&p, b"").unwrap();
        let r = SevGuestDevice::at(p.clone()).derive_key(&SnpDerivedKeyRequest::teehsm_default());
        assert!(matches!(r, Err(PlatformError::Unavailable(_))), "{r:?}");
        let _ = std::fs::remove_file(&p);
        let missing = SevGuestDevice::new(Path::new("/nonexistent-root")).derive_key(&SnpDerivedKeyRequest::teehsm_default());
        assert!(matches!(missing, Err(PlatformError::Io { .. })));
    }
}
