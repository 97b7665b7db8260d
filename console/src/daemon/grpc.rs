//! `teehsm.fleet.v1.AgentService`: Enroll (token); Heartbeat, ReportJob and
//! FetchPackage (mTLS: the host is the one named by the client certificate,
//! never by the request, and may only see and report its own jobs).

use super::auth::{authorize, AuthError, CertUse};
use super::convert::report_from_proto;
use super::packages::{package_files, stream_files};
use super::{now_ms, Shared};
use crate::enroll::{issue_client_cert, renew_client_cert};
use crate::store::{Host, JobState, NewHost, RolloutStatus, StoreError, ITEM_TA_VERSION, KIND_TA_UPGRADE};
use std::sync::Arc;
use std::time::Instant;
use teehsm_wire::proto::fleet::v1 as pb;
use teehsm_wire::proto::fleet::v1::agent_service_server::AgentService;
use tonic::{Request, Response, Status};

pub struct Agents {
    pub shared: Arc<Shared>,
}

/// Longest accepted job history and texts in a ReportJob.
const MAX_HISTORY: usize = 64;
const MAX_TEXT: usize = 4096;

fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "internal error");
    Status::internal("internal error; see the console's log")
}

#[tonic::async_trait]
impl AgentService for Agents {
    async fn enroll(&self, request: Request<pb::EnrollRequest>) -> Result<Response<pb::EnrollResponse>, Status> {
        let req = request.into_inner();
        let sh = &self.shared;
        let now = now_ms();
        crate::enroll::issue::check_host_id(&req.host_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if req.group.len() > 128 {
            return Err(Status::invalid_argument("group is longer than 128 bytes"));
        }
        let mut store = sh.store.lock().map_err(internal)?;
        if let Some(lic) = sh.licence() {
            let have = store.active_host_count().map_err(internal)?;
            lic.can_enroll(now, have).map_err(|e| {
                tracing::warn!(host = %req.host_id, error = %e, "enrollment refused by the licence");
                Status::failed_precondition(e.to_string())
            })?;
        }
        let cert = issue_client_cert(&sh.ca, &req.csr_pem, &req.host_id, now).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let host = NewHost {
            id: req.host_id.clone(),
            name: req.host_id.clone(),
            group: req.group.clone(),
            enrolled_at_ms: now,
            cert_fingerprint: cert.fingerprint.clone(),
            cert_not_after_ms: Some(cert.not_after_ms),
        };
        match store.enroll_host(&req.token, &host, now) {
            Ok(token_id) => {
                tracing::info!(host = %req.host_id, group = %req.group, token = %token_id, "host enrolled");
                if let Ok(n) = store.active_host_count() {
                    sh.metrics.hosts.set(n as i64);
                }
            }
            Err(e @ (StoreError::TokenUnknown | StoreError::TokenUsed | StoreError::TokenExpired)) => {
                tracing::warn!(host = %req.host_id, error = %e, "enrollment refused");
                return Err(Status::permission_denied(e.to_string()));
            }
            Err(e @ StoreError::AlreadyExists { .. }) => return Err(Status::already_exists(e.to_string())),
            Err(e) => return Err(internal(e)),
        }
        Ok(Response::new(pb::EnrollResponse {
            host_id: req.host_id,
            cert_pem: cert.cert_pem,
            ca_pem: if sh.operator_grpc_cert { String::new() } else { sh.ca.cert_pem().to_owned() },
            heartbeat_interval_ms: sh.interval_ms,
        }))
    }

    async fn heartbeat(&self, request: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let started = Instant::now();
        let sh = &self.shared;
        let host = self.caller(&request)?;
        let mut store = sh.store.lock().map_err(internal)?;
        let proto_report = request.into_inner().report.unwrap_or_default();
        let report = report_from_proto(&host.id, &host.group, &proto_report);
        let now = now_ms();
        store.record_report(&report, now).map_err(internal)?;
        let mut jobs = store.open_jobs(&host.id).map_err(internal)?;
        let desired = store.desired(&host.id, ITEM_TA_VERSION).map_err(internal)?;
        // Give a finished package job two heartbeats to show in the reports.
        let settle_ms = 2 * sh.interval_ms;
        if super::desired_state::reconcile(&mut store, &report, desired.as_deref(), &jobs, now, settle_ms).map_err(internal)?.is_some() {
            jobs = store.open_jobs(&host.id).map_err(internal)?;
        }
        drop(store);
        let nonce = sh.attestations.nonce_for(&host.id).map(|n| n.to_vec()).unwrap_or_default();
        for ta in proto_report.tas.iter().filter(|t| !t.attestation_report.is_empty()) {
            match sh.attestations.record(&host.id, &ta.attestation_report) {
                Ok(()) => tracing::info!(host = %host.id, ta = %ta.ta_id, "attestation report received"),
                Err(e) => return Err(Status::invalid_argument(format!("attestation_report: {e}"))),
            }
        }
        sh.metrics.heartbeats.inc();
        sh.metrics.heartbeat_duration.observe(started.elapsed().as_secs_f64());
        tracing::debug!(host = %host.id, "heartbeat");
        Ok(Response::new(pb::HeartbeatResponse {
            heartbeat_interval_ms: sh.interval_ms,
            desired: Some(pb::DesiredState { ta_version: desired.unwrap_or_default() }),
            jobs: jobs
                .into_iter()
                .map(|j| pb::Job { id: j.id, kind: j.kind, payload_json: j.payload.to_string(), state: j.state.as_str().to_owned() })
                .collect(),
            attestation_nonce: nonce,
            renew_certificate: host.renew_requested,
            console_ca_pem: sh.agent_ca_bundle.as_ref().map(|b| b.pem()).unwrap_or_default(),
        }))
    }

    async fn renew_certificate(&self, request: Request<pb::RenewCertificateRequest>) -> Result<Response<pb::RenewCertificateResponse>, Status> {
        const MAX_CSR: usize = 16 * 1024;
        let host = self.caller(&request)?;
        let current = peer_leaf(&request).ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let csr_pem = request.into_inner().csr_pem;
        if csr_pem.len() > MAX_CSR {
            return Err(Status::invalid_argument(format!("csr_pem is longer than {MAX_CSR} bytes")));
        }
        let sh = &self.shared;
        let now = now_ms();
        let cert = renew_client_cert(&sh.ca, &csr_pem, &host.id, &current, now).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut store = sh.store.lock().map_err(internal)?;
        store.set_pending_cert(&host.id, &cert.fingerprint, cert.not_after_ms).map_err(internal)?;
        let details = serde_json::json!({ "serial": cert.serial, "fingerprint": cert.fingerprint, "not_after_ms": cert.not_after_ms });
        store.append_audit(now, &format!("host:{}", host.id), "agent_certificate.issue", &host.id, &details).map_err(internal)?;
        drop(store);
        sh.metrics.agent_certificates_issued.inc();
        tracing::info!(host = %host.id, serial = %cert.serial, not_after_ms = cert.not_after_ms, "renewed the agent's certificate");
        Ok(Response::new(pb::RenewCertificateResponse { cert_pem: cert.cert_pem, not_after_ms: cert.not_after_ms }))
    }

    async fn report_job(&self, request: Request<pb::ReportJobRequest>) -> Result<Response<pb::ReportJobResponse>, Status> {
        let host = self.caller(&request)?;
        let req = request.into_inner();
        let state = match req.state.as_str() {
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "rolled_back" => JobState::RolledBack,
            other => return Err(Status::invalid_argument(format!("job state {other:?} is not one of running, succeeded, failed, rolled_back"))),
        };
        if req.history.len() > MAX_HISTORY {
            return Err(Status::invalid_argument(format!("a job history has at most {MAX_HISTORY} steps")));
        }
        let too_long = req.message.len() > MAX_TEXT
            || req.active_version.len() > 255
            || req.history.iter().any(|h| h.step.len() > 64 || h.detail.len() > MAX_TEXT);
        if too_long {
            return Err(Status::invalid_argument(format!(
                "message and step details are limited to {MAX_TEXT} bytes, steps to 64, active_version to 255"
            )));
        }
        let history: Vec<_> = req.history.iter().map(|h| serde_json::json!({ "step": h.step, "detail": h.detail })).collect();
        let result = serde_json::json!({ "history": history, "message": req.message, "active_version": req.active_version });
        let now = now_ms();
        let mut store = self.shared.store.lock().map_err(internal)?;
        let outcome = match store.report_job(&host.id, req.job_id, state, &result, &req.active_version, now) {
            Ok(o) => o,
            Err(e @ StoreError::NotFound { .. }) => return Err(Status::not_found(format!("{e} (for host {:?})", host.id))),
            Err(e @ StoreError::JobTransition { .. }) => return Err(Status::failed_precondition(e.to_string())),
            Err(e) => return Err(internal(e)),
        };
        tracing::info!(host = %host.id, job = req.job_id, state = %req.state, message = %req.message, "job report");
        if state != JobState::Running {
            let details = serde_json::json!({ "job": req.job_id, "kind": outcome.job.kind, "state": req.state, "result": result });
            store.append_audit(now, &format!("host:{}", host.id), "job.finished", &req.job_id.to_string(), &details).map_err(internal)?;
            if let Some((rollout, status)) = outcome.rollout {
                if status != RolloutStatus::Running {
                    tracing::info!(rollout, status = status.as_str(), "rollout finished");
                    let details = serde_json::json!({ "rollout": rollout, "status": status.as_str() });
                    store.append_audit(now, "console", "rollout.finished", &rollout.to_string(), &details).map_err(internal)?;
                }
            }
        }
        Ok(Response::new(pb::ReportJobResponse {}))
    }

    type FetchPackageStream = tokio_stream::wrappers::ReceiverStream<Result<pb::PackageChunk, Status>>;

    async fn fetch_package(&self, request: Request<pb::FetchPackageRequest>) -> Result<Response<Self::FetchPackageStream>, Status> {
        let host = self.caller(&request)?;
        let version = request.into_inner().version;
        let allowed = {
            let store = self.shared.store.lock().map_err(internal)?;
            store.open_jobs(&host.id).map_err(internal)?.iter().any(|j| {
                (j.kind == KIND_TA_UPGRADE || j.kind == super::desired_state::KIND_TA_INSTALL)
                    && j.payload.get("version").and_then(|v| v.as_str()) == Some(version.as_str())
            })
        };
        if !allowed {
            return Err(Status::permission_denied(format!("host {:?} has no open ta_upgrade or ta_install job for version {version:?}", host.id)));
        }
        let files = package_files(&self.shared.packages_dir, &version).map_err(internal)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tracing::info!(host = %host.id, %version, "sending package");
        tokio::task::spawn_blocking(move || {
            let sent = stream_files(&files, |c| tx.blocking_send(Ok(c)).is_ok());
            if let Err(e) = sent {
                tracing::error!(error = %e, "cannot read the package");
                let _ = tx.blocking_send(Err(Status::internal("cannot read the package; see the console's log")));
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
}

/// The DER of the request's client certificate (leaf), if any.
fn peer_leaf<T>(request: &Request<T>) -> Option<Vec<u8>> {
    request.peer_certs().and_then(|c| c.first().map(|c| c.as_ref().to_vec()))
}

impl Agents {
    /// The enrolled, active host named by the request's client certificate.
    /// The first call with a renewed certificate makes it the host's
    /// certificate (the old one stops authenticating).
    fn caller<T>(&self, request: &Request<T>) -> Result<Host, Status> {
        let leaf = peer_leaf(request);
        let mut store = self.shared.store.lock().map_err(internal)?;
        let (mut host, used) = authorize(leaf.as_deref(), |id| store.host(id).ok().flatten()).map_err(|e: AuthError| {
            tracing::warn!(error = %e, "agent call refused");
            Status::unauthenticated(e.to_string())
        })?;
        if used == CertUse::Pending {
            let fingerprint = host.pending_cert_fingerprint.take().unwrap_or_default();
            if store.promote_pending_cert(&host.id, &fingerprint).map_err(internal)? {
                let details = serde_json::json!({ "fingerprint": fingerprint, "previous": host.cert_fingerprint });
                store.append_audit(now_ms(), &format!("host:{}", host.id), "agent_certificate.in_use", &host.id, &details).map_err(internal)?;
                tracing::info!(host = %host.id, "the agent switched to its renewed certificate; the old one no longer authenticates");
                host.cert_fingerprint = fingerprint;
                host.renew_requested = false;
            }
        }
        Ok(host)
    }
}
