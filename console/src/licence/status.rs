//! What a verified licence allows at a given time and host count.

use serde::Serialize;
use thiserror::Error;

use super::VerifiedLicence;

const DAY_MS: u64 = 86_400_000;

/// RFC 3339 UTC time of Unix milliseconds.
fn rfc3339(ms: u64) -> String {
    teehsm_wire::time::fmt_time(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// How long before expiry [`VerifiedLicence::check`] says
/// [`LicenceStatus::ExpiresSoon`]: 30 days (as the example
/// `licence_expiry` alert rule).
pub const EXPIRES_SOON_MS: u64 = 30 * DAY_MS;

/// A licence's state at some time, for some number of enrolled hosts. When
/// several apply, the first of NotYetValid, Expired, HostsExceeded,
/// ExpiresSoon is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LicenceStatus {
    Valid,
    /// Expires within the warning window; `days` is rounded up (>= 1).
    ExpiresSoon {
        days: u64,
    },
    /// Expired at `since_ms` (Unix ms).
    Expired {
        since_ms: u64,
    },
    /// Valid only from `not_before_ms` on.
    NotYetValid {
        not_before_ms: u64,
    },
    /// More hosts are enrolled than the licence allows.
    HostsExceeded {
        max: u64,
        have: u64,
    },
}

impl LicenceStatus {
    /// Whether the operator should act (anything but `Valid`).
    pub fn needs_attention(&self) -> bool {
        !matches!(self, LicenceStatus::Valid)
    }

    /// A sentence for the operator: what holds and what to do.
    pub fn message(&self, licence: &VerifiedLicence) -> String {
        let id = licence.licence_id();
        match *self {
            LicenceStatus::Valid => format!(
                "licence {id} for {} is valid until {} and allows {}",
                licence.customer(),
                rfc3339(licence.expires_ms()),
                hosts(licence.max_hosts()),
            ),
            LicenceStatus::ExpiresSoon { days } => format!(
                "licence {id} expires in {days} day{} ({}); ask the vendor for a renewed licence and install it before then",
                if days == 1 { "" } else { "s" },
                rfc3339(licence.expires_ms()),
            ),
            LicenceStatus::Expired { since_ms } => {
                format!("licence {id} expired on {}; no hosts can be enrolled until a renewed licence is installed", rfc3339(since_ms),)
            }
            LicenceStatus::NotYetValid { not_before_ms } => format!(
                "licence {id} is not valid before {}; check the console's clock, or install the licence currently in force",
                rfc3339(not_before_ms),
            ),
            LicenceStatus::HostsExceeded { max, have } => format!(
                "licence {id} allows {} but {have} {} enrolled; remove {} or install a licence for more hosts",
                hosts(max),
                are(have),
                hosts(have.saturating_sub(max)),
            ),
        }
    }
}

/// Why one more host may not be enrolled. The message tells the operator
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnrollRefused {
    #[error("no licence is installed; install the licence file from the vendor before enrolling hosts")]
    NoLicence,
    #[error("licence {licence_id} allows {} and {have} {} enrolled; remove a host or install a licence for more hosts", hosts(*.max), are(*.have))]
    HostLimit { licence_id: String, max: u64, have: u64 },
    #[error("licence {licence_id} expired on {}; install a renewed licence to enroll hosts", rfc3339(*.since_ms))]
    Expired { licence_id: String, since_ms: u64 },
    #[error("licence {licence_id} is not valid before {}; check the console's clock, or install the licence currently in force", rfc3339(*.not_before_ms))]
    NotYetValid { licence_id: String, not_before_ms: u64 },
}

fn hosts(n: u64) -> String {
    if n == 1 {
        "1 host".to_string()
    } else {
        format!("{n} hosts")
    }
}

fn are(n: u64) -> &'static str {
    if n == 1 {
        "is"
    } else {
        "are"
    }
}

impl VerifiedLicence {
    /// The status at `now_ms` with `enrolled_hosts` enrolled, warning
    /// [`EXPIRES_SOON_MS`] before expiry.
    pub fn check(&self, now_ms: u64, enrolled_hosts: u64) -> LicenceStatus {
        self.check_with_warning(now_ms, enrolled_hosts, EXPIRES_SOON_MS)
    }

    /// [`VerifiedLicence::check`] with another warning window.
    pub fn check_with_warning(&self, now_ms: u64, enrolled_hosts: u64, warn_before_ms: u64) -> LicenceStatus {
        if now_ms < self.not_before_ms() {
            return LicenceStatus::NotYetValid { not_before_ms: self.not_before_ms() };
        }
        if now_ms >= self.expires_ms() {
            return LicenceStatus::Expired { since_ms: self.expires_ms() };
        }
        if enrolled_hosts > self.max_hosts() {
            return LicenceStatus::HostsExceeded { max: self.max_hosts(), have: enrolled_hosts };
        }
        let left = self.expires_ms() - now_ms;
        if left <= warn_before_ms {
            return LicenceStatus::ExpiresSoon { days: left.div_ceil(DAY_MS) };
        }
        LicenceStatus::Valid
    }

    /// Whether one more host may be enrolled at `now_ms` while
    /// `current_hosts` are enrolled: the licence must be in force and
    /// `current_hosts < max_hosts`. An expiring licence still allows it.
    pub fn can_enroll(&self, now_ms: u64, current_hosts: u64) -> Result<(), EnrollRefused> {
        let licence_id = self.licence_id().to_string();
        if now_ms < self.not_before_ms() {
            return Err(EnrollRefused::NotYetValid { licence_id, not_before_ms: self.not_before_ms() });
        }
        if now_ms >= self.expires_ms() {
            return Err(EnrollRefused::Expired { licence_id, since_ms: self.expires_ms() });
        }
        if current_hosts >= self.max_hosts() {
            return Err(EnrollRefused::HostLimit { licence_id, max: self.max_hosts(), have: current_hosts });
        }
        Ok(())
    }
}

/// [`VerifiedLicence::can_enroll`] for a console that may have no licence
/// installed (then enrollment is refused).
pub fn can_enroll(licence: Option<&VerifiedLicence>, now_ms: u64, current_hosts: u64) -> Result<(), EnrollRefused> {
    licence.ok_or(EnrollRefused::NoLicence)?.can_enroll(now_ms, current_hosts)
}
