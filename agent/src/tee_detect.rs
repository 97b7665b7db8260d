//! Which trusted execution environments this host offers, read from what the
//! kernel exposes: device nodes, CPU flags in /proc/cpuinfo, and configfs /
//! sysfs entries. Only reads files, under a root directory that tests point
//! at fake trees; never opens a device or issues an ioctl.
//!
//! Each finding says what was seen (`evidence`), what is missing for the TEE
//! to be usable (`missing`), and which attestation interface a TA backend
//! would use there.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// A kind of TEE the host can provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TeeKind {
    /// The CPU and kernel can run SGX enclaves (a TA could run under Gramine-SGX).
    SgxHost,
    /// This process already runs inside a Gramine-SGX enclave.
    GramineSgx,
    /// This is an AMD SEV-SNP confidential VM.
    SevSnpGuest,
    /// This is an Intel TDX confidential VM.
    TdxGuest,
    /// An OP-TEE (or other GlobalPlatform) TEE driver is present (Arm TrustZone).
    OpTee,
}

/// How a TA on this TEE would obtain attestation evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationInterface {
    /// Gramine's /dev/attestation pseudo-files (user_report_data, quote).
    GramineDevAttestation,
    /// Linux configfs-tsm: /sys/kernel/config/tsm/report (SEV-SNP and TDX quotes).
    ConfigfsTsm,
    /// The SEV-SNP guest driver's ioctls on /dev/sev-guest.
    SevGuestDevice,
    /// The TDX guest driver's ioctls on /dev/tdx_guest.
    TdxGuestDevice,
    /// The SGX DCAP quoting stack (needs /dev/sgx_provision).
    SgxDcap,
    /// OP-TEE's own attestation PTA through /dev/tee0.
    OpTeeDevice,
}

/// One TEE found (fully or partly) on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeeFinding {
    pub kind: TeeKind,
    /// True when everything the TA needs is present.
    pub usable: bool,
    /// What was seen, e.g. "device /dev/sev-guest", "cpu flag sgx".
    pub evidence: Vec<String>,
    /// What is missing for `usable`, with the usual fix.
    pub missing: Vec<String>,
    /// The attestation interface a backend would use, when available.
    pub attestation: Option<AttestationInterface>,
}

/// Everything the probe saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub tees: Vec<TeeFinding>,
    /// The CPU reports running under a hypervisor (cpu flag "hypervisor").
    pub virtualized: bool,
    /// /proc/cpuinfo could be read (if not, CPU-flag checks were skipped).
    pub cpuinfo_read: bool,
}

impl Detection {
    /// The usable TEEs, best first (an enclave or CVM already running us, then the rest).
    pub fn usable(&self) -> impl Iterator<Item = &TeeFinding> {
        self.tees.iter().filter(|t| t.usable)
    }
}

/// Reads the host under `root` ("/" on a real host).
pub struct Probe {
    root: PathBuf,
}

impl Probe {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Probe { root: root.into() }
    }

    /// The real host.
    pub fn host() -> Self {
        Probe::new("/")
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn exists(&self, p: &str) -> bool {
        self.path(p).exists()
    }

    fn read(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.path(p)).ok()
    }

    fn has_entries(&self, p: &str) -> bool {
        std::fs::read_dir(self.path(p)).map(|mut d| d.next().is_some()).unwrap_or(false)
    }

    /// Runs every check.
    pub fn detect(&self) -> Detection {
        let cpuinfo = self.read("/proc/cpuinfo");
        let flags = cpuinfo.as_deref().map(cpu_flags).unwrap_or_default();
        let flag = |f: &str| flags.iter().any(|x| x == f);
        let mut tees = Vec::new();

        // Inside Gramine-SGX: its pseudo-filesystem is the tell.
        if self.exists("/dev/attestation/user_report_data") || self.exists("/dev/attestation/quote") {
            let mut f = finding(TeeKind::GramineSgx);
            f.evidence.push("gramine /dev/attestation".into());
            let kind = self.read("/dev/attestation/attestation_type").map(|s| s.trim().to_string()).unwrap_or_default();
            if kind.is_empty() || kind == "none" {
                f.missing.push(
                    "remote attestation is off (attestation_type is \"none\"): set sgx.remote_attestation = \"dcap\" in the Gramine manifest".into(),
                );
            } else {
                f.evidence.push(format!("attestation type {kind}"));
                f.attestation = Some(AttestationInterface::GramineDevAttestation);
            }
            f.usable = f.missing.is_empty();
            tees.push(f);
        }

        // SEV-SNP guest.
        let sev_dev = self.exists("/dev/sev-guest");
        let tsm = self.exists("/sys/kernel/config/tsm/report");
        if sev_dev || flag("sev_snp") {
            let mut f = finding(TeeKind::SevSnpGuest);
            if flag("sev_snp") {
                f.evidence.push("cpu flag sev_snp".into());
            }
            if sev_dev {
                f.evidence.push("device /dev/sev-guest".into());
            }
            if tsm {
                f.evidence.push("configfs-tsm /sys/kernel/config/tsm/report".into());
                f.attestation = Some(AttestationInterface::ConfigfsTsm);
            } else if sev_dev {
                f.attestation = Some(AttestationInterface::SevGuestDevice);
            } else {
                f.missing.push("no attestation interface: load the sev-guest module (modprobe sev-guest) or mount configfs".into());
            }
            f.usable = f.missing.is_empty();
            tees.push(f);
        }

        // TDX guest.
        let tdx_dev = self.exists("/dev/tdx_guest") || self.exists("/dev/tdx-guest");
        if tdx_dev || flag("tdx_guest") {
            let mut f = finding(TeeKind::TdxGuest);
            if flag("tdx_guest") {
                f.evidence.push("cpu flag tdx_guest".into());
            }
            if tdx_dev {
                f.evidence.push("device /dev/tdx_guest".into());
            }
            if tsm {
                f.evidence.push("configfs-tsm /sys/kernel/config/tsm/report".into());
                f.attestation = Some(AttestationInterface::ConfigfsTsm);
            } else if tdx_dev {
                f.attestation = Some(AttestationInterface::TdxGuestDevice);
            } else {
                f.missing
                    .push("no attestation interface: load the tdx-guest module or mount configfs (mount -t configfs none /sys/kernel/config)".into());
            }
            f.usable = f.missing.is_empty();
            tees.push(f);
        }

        // SGX host (enclaves can be launched here).
        let sgx_dev = self.exists("/dev/sgx_enclave") || self.exists("/dev/sgx/enclave") || self.exists("/dev/isgx");
        if flag("sgx") || sgx_dev {
            let mut f = finding(TeeKind::SgxHost);
            if flag("sgx") {
                f.evidence.push("cpu flag sgx".into());
            } else if cpuinfo.is_some() {
                f.missing.push("the CPU does not report sgx: enable SGX in the firmware setup".into());
            }
            if flag("sgx_lc") {
                f.evidence.push("cpu flag sgx_lc (flexible launch control)".into());
            } else if flag("sgx") {
                f.missing.push("no flexible launch control (sgx_lc): the in-kernel driver and Gramine need it".into());
            }
            if sgx_dev {
                f.evidence.push("SGX enclave device".into());
            } else {
                f.missing.push("no /dev/sgx_enclave: use a kernel >= 5.11 with CONFIG_X86_SGX".into());
            }
            if self.exists("/dev/sgx_provision") || self.exists("/dev/sgx/provision") {
                f.evidence.push("device /dev/sgx_provision".into());
                f.attestation = Some(AttestationInterface::SgxDcap);
            } else {
                f.missing.push("no /dev/sgx_provision: DCAP remote attestation is unavailable".into());
            }
            f.usable = f.missing.is_empty();
            tees.push(f);
        }

        // OP-TEE / GlobalPlatform TEE driver.
        if self.exists("/dev/tee0") || self.exists("/dev/teepriv0") || self.has_entries("/sys/class/tee") {
            let mut f = finding(TeeKind::OpTee);
            for d in ["/dev/tee0", "/dev/teepriv0"] {
                if self.exists(d) {
                    f.evidence.push(format!("device {d}"));
                }
            }
            let impl_id = self.read("/sys/class/tee/tee0/device/driver/module/parameters/optee_impl").unwrap_or_default();
            if self.has_entries("/sys/bus/tee/devices") || !impl_id.is_empty() {
                f.evidence.push("TEE bus devices".into());
            }
            if !self.exists("/dev/teepriv0") {
                f.missing.push("no /dev/teepriv0: tee-supplicant cannot serve secure storage".into());
            }
            if self.exists("/dev/tee0") {
                f.attestation = Some(AttestationInterface::OpTeeDevice);
            } else {
                f.missing.push("no /dev/tee0: load the optee driver".into());
            }
            f.usable = f.missing.is_empty();
            tees.push(f);
        }

        Detection { tees, virtualized: flag("hypervisor"), cpuinfo_read: cpuinfo.is_some() }
    }
}

fn finding(kind: TeeKind) -> TeeFinding {
    TeeFinding { kind, usable: false, evidence: Vec::new(), missing: Vec::new(), attestation: None }
}

/// The flags of the first CPU in /proc/cpuinfo (x86 "flags", Arm "Features").
fn cpu_flags(cpuinfo: &str) -> Vec<String> {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k.trim(), "flags" | "Features").then(|| v.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// Convenience for callers that only need the names of usable TEEs.
pub fn usable_kinds(root: &Path) -> Vec<TeeKind> {
    Probe::new(root).detect().usable().map(|t| t.kind).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(PathBuf);

    impl Fake {
        fn new(tag: &str) -> Fake {
            let d = std::env::temp_dir().join(format!("teehsm-tee-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Fake(d)
        }
        fn file(&self, p: &str, content: &str) -> &Self {
            let path = self.0.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
            self
        }
        fn dir(&self, p: &str) -> &Self {
            std::fs::create_dir_all(self.0.join(p.trim_start_matches('/'))).unwrap();
            self
        }
        fn cpu(&self, flags: &str) -> &Self {
            self.file("/proc/cpuinfo", &format!("processor\t: 0\nvendor_id\t: X\nflags\t\t: fpu vme {flags}\n\nprocessor\t: 1\nflags\t\t: fpu\n"))
        }
        fn detect(&self) -> Detection {
            Probe::new(&self.0).detect()
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn only(d: &Detection) -> &TeeFinding {
        assert_eq!(d.tees.len(), 1, "{d:?}");
        &d.tees[0]
    }

    #[test]
    fn a_plain_vm_has_no_tee() {
        let f = Fake::new("none");
        f.cpu("hypervisor aes avx2");
        let d = f.detect();
        assert!(d.tees.is_empty());
        assert!(d.virtualized && d.cpuinfo_read);
        let empty = Fake::new("empty");
        let d = empty.detect();
        assert!(d.tees.is_empty() && !d.cpuinfo_read);
    }

    #[test]
    fn sev_snp_guest_with_configfs_tsm() {
        let f = Fake::new("snp");
        f.cpu("hypervisor sev sev_es sev_snp").file("/dev/sev-guest", "").dir("/sys/kernel/config/tsm/report");
        let d = f.detect();
        let t = only(&d);
        assert_eq!(t.kind, TeeKind::SevSnpGuest);
        assert!(t.usable, "{t:?}");
        assert_eq!(t.attestation, Some(AttestationInterface::ConfigfsTsm));
        // Without configfs the device ioctl is the interface.
        let g = Fake::new("snp-dev");
        g.file("/dev/sev-guest", "");
        assert_eq!(only(&g.detect()).attestation, Some(AttestationInterface::SevGuestDevice));
        // The flag alone: found, not usable, and the fix is named.
        let h = Fake::new("snp-flag");
        h.cpu("sev_snp");
        let t = h.detect().tees.remove(0);
        assert!(!t.usable && t.missing[0].contains("modprobe sev-guest"), "{t:?}");
    }

    #[test]
    fn tdx_guest() {
        let f = Fake::new("tdx");
        f.cpu("tdx_guest").file("/dev/tdx_guest", "").dir("/sys/kernel/config/tsm/report");
        let d = f.detect();
        let t = only(&d);
        assert_eq!((t.kind, t.usable, t.attestation), (TeeKind::TdxGuest, true, Some(AttestationInterface::ConfigfsTsm)));
    }

    #[test]
    fn sgx_host_needs_flc_driver_and_provisioning() {
        let f = Fake::new("sgx");
        f.cpu("sgx sgx_lc").file("/dev/sgx_enclave", "").file("/dev/sgx_provision", "");
        let t = only(&f.detect()).clone();
        assert_eq!((t.kind, t.usable, t.attestation), (TeeKind::SgxHost, true, Some(AttestationInterface::SgxDcap)));
        let old = Fake::new("sgx-old");
        old.cpu("sgx");
        let t = only(&old.detect()).clone();
        assert!(!t.usable);
        assert_eq!(t.missing.len(), 3, "no FLC, no enclave device, no provisioning: {t:?}");
    }

    #[test]
    fn inside_gramine_with_and_without_remote_attestation() {
        let f = Fake::new("gramine");
        f.file("/dev/attestation/user_report_data", "").file("/dev/attestation/quote", "").file("/dev/attestation/attestation_type", "dcap\n");
        let t = only(&f.detect()).clone();
        assert_eq!((t.kind, t.usable, t.attestation), (TeeKind::GramineSgx, true, Some(AttestationInterface::GramineDevAttestation)));
        let g = Fake::new("gramine-none");
        g.file("/dev/attestation/user_report_data", "").file("/dev/attestation/attestation_type", "none");
        let t = only(&g.detect()).clone();
        assert!(!t.usable && t.missing[0].contains("remote_attestation"), "{t:?}");
    }

    #[test]
    fn optee_on_arm() {
        let f = Fake::new("optee");
        f.file("/proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd aes\n")
            .file("/dev/tee0", "")
            .file("/dev/teepriv0", "")
            .dir("/sys/bus/tee/devices/optee-ta-1234");
        let d = f.detect();
        let t = only(&d);
        assert_eq!((t.kind, t.usable, t.attestation), (TeeKind::OpTee, true, Some(AttestationInterface::OpTeeDevice)));
        assert!(!d.virtualized);
        assert_eq!(usable_kinds(&f.0), vec![TeeKind::OpTee]);
    }

    #[test]
    fn the_real_host_is_probed_without_errors() {
        let d = Probe::host().detect();
        // Whatever this machine is, the report serializes for the console.
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"tees\""));
    }
}
