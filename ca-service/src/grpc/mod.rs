//! The gRPC server (`--grpc-listen`): `teehsm.v1.KeyManagementService`
//! forwarded to the TA ([`service`], [`forward`]), `grpc.health.v1` tracking
//! the TA's state, and server reflection, over TLS ([`tls`]) on a small
//! tokio runtime beside the CA's other threads.
//!
//! - [`metadata`]: the x-teehsm-* authenticator headers.
//! - [`status`]: TA answers and forwarding failures as gRPC statuses.

pub mod forward;
pub mod metadata;
pub mod service;
pub mod status;
pub mod tls;

use crate::config::GrpcConfig;
use crate::metrics::ApiMetrics;
use crate::state::Shared;
use forward::Forwarder;
use service::{InFlight, Kms};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use teehsm_wire::proto::v1::key_management_service_server::KeyManagementServiceServer;
use thiserror::Error;
use tokio::sync::{oneshot, watch};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The service name health checks ask about.
pub const SERVICE_NAME: &str = "teehsm.v1.KeyManagementService";
/// How often the health status follows the TA's state.
const HEALTH_POLL: Duration = Duration::from_millis(100);
/// After the last call in flight finished: time for its answer to be
/// written, and for a call that arrived just before the GOAWAY to start.
const SETTLE: Duration = Duration::from_millis(200);

#[derive(Debug, Error)]
pub enum GrpcError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen for gRPC on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot start the gRPC runtime: {0}")]
    Runtime(std::io::Error),
    #[error("gRPC: {0}")]
    Listener(#[from] crate::http::HttpError),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// The running server; [`GrpcServer::shutdown`] stops it.
pub struct GrpcServer {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    addr_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    draining: watch::Sender<bool>,
    served: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    in_flight: InFlight,
}

/// How the drain in [`GrpcServer::shutdown`] ended.
enum Drained {
    /// tonic's server future resolved: every connection closed.
    Served(Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>),
    /// No call in flight; connections still open (idle clients) are dropped.
    Idle,
    /// The grace period ran out with this many calls in flight.
    TimedOut(usize),
}

impl GrpcServer {
    /// Loads TLS, binds, writes `<state_dir>/grpc.addr`, and starts serving.
    pub fn start(cfg: &GrpcConfig, shared: Arc<Shared>, metrics: ApiMetrics) -> Result<GrpcServer, GrpcError> {
        let tls = Arc::new(tls::server_config(cfg, &metrics.tls, &metrics.client_ca_reloads)?);
        let handshake_failures = metrics.tls.handshake_failures.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.worker_threads)
            .thread_name("grpc")
            .enable_all()
            .build()
            .map_err(GrpcError::Runtime)?;
        let (listener, addr) = bind(&cfg.listen)?;
        let forwarder = Forwarder::start(cfg.ta_connections, shared.clone()).map_err(GrpcError::Runtime)?;

        let (health, health_service) = tonic_health::server::health_reporter();
        // NOT_SERVING from the first call on (the reporter starts "" as SERVING); track_health takes over.
        runtime.block_on(async {
            health.set_service_status("", ServingStatus::NotServing).await;
            health.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;
        });
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(teehsm_wire::proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let in_flight = InFlight::default();
        let kms = KeyManagementServiceServer::new(Kms::new(forwarder, metrics, in_flight.clone()))
            .max_decoding_message_size(cfg.max_message_bytes)
            .max_encoding_message_size(cfg.max_message_bytes);
        let router = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(kms);

        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (draining, draining_rx) = watch::channel(false);
        let served = {
            let _rt = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|source| GrpcError::Bind { addr: cfg.listen.clone(), source })?;
            let incoming = teehsm_tls::incoming(listener, tls, handshake_failures);
            runtime.spawn(track_health(health, shared, draining_rx));
            runtime.spawn(router.serve_with_incoming_shutdown(incoming, async {
                let _ = stop_rx.await;
            }))
        };
        crate::http::write_addr_file(&cfg.addr_file, addr)?;
        Ok(GrpcServer { runtime, addr, addr_file: cfg.addr_file.clone(), stop: Some(stop_tx), draining, served: Some(served), in_flight })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and calls, waits up to `grace` for the
    /// calls in flight, then stops the runtime and removes grpc.addr.
    ///
    /// tonic's server future resolves only once every connection has
    /// closed, and a client may hold an idle HTTP/2 connection open for as
    /// long as it likes; so the wait ends as soon as no RPC is in flight
    /// (counted by [`Kms`]), and the idle connections are dropped with the
    /// runtime.
    pub fn shutdown(mut self, grace: Duration) {
        let _ = self.draining.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut served) = self.served.take() {
            let in_flight = self.in_flight.clone();
            let drained = self.runtime.block_on(async {
                let deadline = Instant::now() + grace;
                loop {
                    tokio::select! {
                        r = &mut served => return Drained::Served(r),
                        idle = in_flight.wait_idle(deadline.saturating_duration_since(Instant::now())) => {
                            if !idle {
                                return Drained::TimedOut(in_flight.count());
                            }
                        }
                    }
                    if let Ok(r) = tokio::time::timeout(SETTLE, &mut served).await {
                        return Drained::Served(r);
                    }
                    if in_flight.count() == 0 {
                        return Drained::Idle;
                    }
                    if Instant::now() >= deadline {
                        return Drained::TimedOut(in_flight.count());
                    }
                }
            });
            match drained {
                Drained::Served(Ok(Ok(()))) => tracing::info!("gRPC server stopped; in-flight calls finished"),
                Drained::Served(Ok(Err(e))) => tracing::warn!(error = %e, "the gRPC server ended with an error"),
                Drained::Served(Err(e)) => tracing::warn!(error = %e, "the gRPC server task failed"),
                Drained::Idle => {
                    tracing::info!("gRPC server stopped; in-flight calls finished (closing idle client connections)");
                    served.abort();
                }
                Drained::TimedOut(n) => {
                    tracing::warn!(calls = n, "gRPC calls still in flight after {} s; cutting them off", grace.as_secs());
                    served.abort();
                }
            }
        }
        let _ = std::fs::remove_file(&self.addr_file);
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), GrpcError> {
    let (listener, bound) = crate::http::bind(addr)?;
    listener.set_nonblocking(true).map_err(|source| GrpcError::Bind { addr: addr.to_string(), source })?;
    Ok((listener, bound))
}

/// Keeps "" and the service SERVING while the TA runs, NOT_SERVING while it
/// is down or restarting, and NOT_SERVING for good once draining starts.
async fn track_health(health: HealthReporter, shared: Arc<Shared>, mut draining: watch::Receiver<bool>) {
    let mut last = ServingStatus::NotServing;
    let mut tick = tokio::time::interval(HEALTH_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = *draining.borrow();
        let status = if shared.ta_up() && !stopping { ServingStatus::Serving } else { ServingStatus::NotServing };
        if last != status {
            health.set_service_status("", status).await;
            health.set_service_status(SERVICE_NAME, status).await;
            tracing::info!(status = ?status, "gRPC health changed");
            last = status;
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = tick.tick() => {}
            changed = draining.changed() => {
                // The server handle is gone: nothing left to report to.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
