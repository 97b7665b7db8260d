//! `teehsm.fleet.v1.AgentService`: Enroll (token) and Heartbeat (mTLS).

use super::auth::{authorize, AuthError};
use super::convert::report_from_proto;
use super::{now_ms, Shared};
use crate::enroll::issue_client_cert;
use crate::store::{NewHost, StoreError};
use std::sync::Arc;
use std::time::Instant;
use teehsm_wire::proto::fleet::v1 as pb;
use teehsm_wire::proto::fleet::v1::agent_service_server::AgentService;
use tonic::{Request, Response, Status};

pub struct Agents {
    pub shared: Arc<Shared>,
}

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
        if let Some(lic) = &sh.licence {
            let have = store.hosts().map_err(internal)?.len() as u64;
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
        };
        match store.enroll_host(&req.token, &host, now) {
            Ok(token_id) => {
                tracing::info!(host = %req.host_id, group = %req.group, token = %token_id, "host enrolled");
                if let Ok(hosts) = store.hosts() {
                    sh.metrics.hosts.set(hosts.len() as i64);
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
            ca_pem: sh.ca.cert_pem().to_owned(),
            heartbeat_interval_ms: sh.interval_ms,
        }))
    }

    async fn heartbeat(&self, request: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let started = Instant::now();
        let sh = &self.shared;
        let certs = request.peer_certs();
        let leaf = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
        let mut store = sh.store.lock().map_err(internal)?;
        let host = authorize(leaf.as_deref(), |id| store.host(id).ok().flatten()).map_err(|e: AuthError| {
            tracing::warn!(error = %e, "heartbeat refused");
            Status::unauthenticated(e.to_string())
        })?;
        let report = request.into_inner().report.unwrap_or_default();
        let report = report_from_proto(&host.id, &host.group, &report);
        store.record_report(&report, now_ms()).map_err(internal)?;
        drop(store);
        sh.metrics.heartbeats.inc();
        sh.metrics.heartbeat_duration.observe(started.elapsed().as_secs_f64());
        tracing::debug!(host = %host.id, "heartbeat");
        Ok(Response::new(pb::HeartbeatResponse { heartbeat_interval_ms: sh.interval_ms }))
    }
}
