//! Renewing the agent's client certificate (docs/fleet-enrollment.md,
//! "Certificate renewal"): when fewer than `--renew-before-days` days of
//! it are left, or when the console's heartbeat answer asks for it, the
//! agent makes a new P-256 key, sends its CSR with `RenewCertificate` over
//! the mTLS connection of the current certificate, and replaces its key and
//! certificate files ([`Enrollment::replace_identity`]). Its next call uses
//! the new certificate, which retires the old one at the console.

use crate::enroll::{cert_not_after_ms, AgentKey, EnrollError, Enrollment};
use std::path::Path;
use std::time::Duration;
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use teehsm_wire::proto::fleet::v1::RenewCertificateRequest;
use tonic::transport::Channel;

/// Default of `--renew-before-days`.
pub const DEFAULT_RENEW_BEFORE_DAYS: u64 = 30;
/// Largest `--renew-before-days`: the console issues 90-day certificates,
/// and an agent must not renew again right after renewing.
pub const MAX_RENEW_BEFORE_DAYS: u64 = 60;
/// How long a failed renewal waits before the next attempt.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error("the current certificate cannot be read: {0}")]
    Current(String),
    #[error(transparent)]
    Files(#[from] EnrollError),
    #[error("the console refused the renewal: {0}")]
    Refused(tonic::Status),
    #[error("the console's certificate does not parse or has expired already")]
    BadCertificate,
}

/// Whether `cert_pem` has less than `renew_before` left at `now_ms`.
pub fn due(cert_pem: &str, now_ms: u64, renew_before: Duration) -> Result<bool, RenewError> {
    let not_after = cert_not_after_ms(cert_pem).ok_or_else(|| RenewError::Current("no notAfter in the certificate".into()))?;
    Ok(not_after.saturating_sub(now_ms) < u64::try_from(renew_before.as_millis()).unwrap_or(u64::MAX))
}

/// Renews through `client` (connected with the current certificate) and
/// replaces the files in `state_dir`; returns the new enrollment.
pub async fn renew(client: &mut AgentServiceClient<Channel>, state_dir: &Path, now_ms: u64) -> Result<Enrollment, RenewError> {
    let key = AgentKey::generate()?;
    let csr_pem = key.csr_pem()?;
    let resp = client.renew_certificate(RenewCertificateRequest { csr_pem }).await.map_err(RenewError::Refused)?.into_inner();
    if cert_not_after_ms(&resp.cert_pem).is_none_or(|t| t <= now_ms) {
        return Err(RenewError::BadCertificate);
    }
    Enrollment::replace_identity(state_dir, key.pem(), &resp.cert_pem)?;
    tracing::info!(not_after_ms = resp.not_after_ms, "renewed the agent's client certificate with a new key");
    Ok(Enrollment::load(state_dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn cert_valid_for(days: u64) -> String {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "host-1");
        p.not_before = rcgen::date_time_ymd(2026, 1, 1);
        p.not_after = p.not_before + Duration::from_secs(days * 86_400);
        p.self_signed(&KeyPair::generate().unwrap()).unwrap().pem()
    }

    #[test]
    fn due_when_less_than_the_margin_is_left() {
        let jan1 = 1_767_225_600_000u64; // 2026-01-01T00:00:00Z
        let day = 86_400_000u64;
        let margin = Duration::from_secs(30 * 86_400);
        let cert = cert_valid_for(90);
        assert!(!due(&cert, jan1, margin).unwrap());
        assert!(!due(&cert, jan1 + 59 * day, margin).unwrap());
        assert!(due(&cert, jan1 + 61 * day, margin).unwrap());
        assert!(due(&cert, jan1 + 100 * day, margin).unwrap(), "expired: due");
        assert!(matches!(due("junk", jan1, margin), Err(RenewError::Current(_))));
    }
}
