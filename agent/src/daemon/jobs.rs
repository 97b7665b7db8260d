//! Carrying out the console's jobs (docs/fleet-agent.md, "Jobs and desired
//! state"): choosing the next job from a heartbeat answer ([`next_action`]),
//! receiving a package into a staging directory ([`PackageWriter`]), and
//! running `ta_upgrade` ([`run_ta_upgrade`]), `ta_install` (stage a version
//! without switching, [`run_ta_install`]) and `ta_uninstall` (remove a
//! version that is not active, [`run_ta_uninstall`]) jobs end to end.

use super::upgrade::{job_history, job_message, job_state, CaHooks, HookTimeouts};
use crate::package::{run_upgrade, InstallOutcome, Installer, MAX_FILES, MAX_PATH_LEN, MAX_TOTAL_BYTES};
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use teehsm_wire::proto::fleet::v1::{FetchPackageRequest, Job, JobStep, PackageChunk, PackageInventory, ReportJobRequest};
use thiserror::Error;
use tonic::transport::Channel;

/// The job kind of a TA upgrade (also a first install: make it active).
pub const KIND_TA_UPGRADE: &str = "ta_upgrade";
/// The job kind that stages a TA version beside the active one.
pub const KIND_TA_INSTALL: &str = "ta_install";
/// The job kind that removes an installed TA version that is not active.
pub const KIND_TA_UNINSTALL: &str = "ta_uninstall";
/// The package job kinds this module carries out.
pub const PACKAGE_JOBS: [&str; 3] = [KIND_TA_UPGRADE, KIND_TA_INSTALL, KIND_TA_UNINSTALL];

/// What to do after a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    Idle,
    /// Upgrade (or downgrade) the TA to `version`.
    Upgrade { job_id: u64, version: String },
    /// The job asks for what is already active: report success.
    AlreadyActive { job_id: u64, version: String },
    /// Fetch, verify and stage `version` without switching to it.
    Install { job_id: u64, version: String },
    /// Remove the installed `version` (not the active one).
    Uninstall { job_id: u64, version: String },
    /// The job cannot be carried out: report it failed with `reason`.
    Reject { job_id: u64, reason: String },
}

/// The first job of `jobs` (oldest first) not yet `attempted`, given the
/// active TA version.
pub fn next_action(jobs: &[Job], active: Option<&str>, attempted: &HashSet<u64>) -> Action {
    let Some(job) = jobs.iter().find(|j| !attempted.contains(&j.id)) else { return Action::Idle };
    if !PACKAGE_JOBS.contains(&job.kind.as_str()) {
        return Action::Reject { job_id: job.id, reason: format!("this agent does not carry out {:?} jobs", job.kind) };
    }
    let payload: serde_json::Value = match serde_json::from_str(&job.payload_json) {
        Ok(v) => v,
        Err(e) => return Action::Reject { job_id: job.id, reason: format!("payload is not JSON: {e}") },
    };
    let Some(version) = payload.get("version").and_then(|v| v.as_str()) else {
        return Action::Reject { job_id: job.id, reason: "payload has no \"version\" string".into() };
    };
    if crate::package::validate_version(version).is_err() {
        return Action::Reject { job_id: job.id, reason: format!("{version:?} is not a package version") };
    }
    let (job_id, version) = (job.id, version.to_owned());
    match job.kind.as_str() {
        KIND_TA_INSTALL => Action::Install { job_id, version },
        KIND_TA_UNINSTALL if active == Some(version.as_str()) => {
            Action::Reject { job_id, reason: format!("{version} is the active TA version and cannot be uninstalled; roll out another version first") }
        }
        KIND_TA_UNINSTALL => Action::Uninstall { job_id, version },
        _ if active == Some(version.as_str()) => Action::AlreadyActive { job_id, version },
        _ => Action::Upgrade { job_id, version },
    }
}

/// What the heartbeat reports of the packages under the package root.
pub fn package_inventory(installer: &Installer) -> PackageInventory {
    PackageInventory {
        active: installer.active().ok().flatten().unwrap_or_default(),
        previous: installer.previous().ok().flatten().unwrap_or_default(),
        installed: installer.installed().map(|v| v.into_iter().map(|v| v.version).collect()).unwrap_or_default(),
    }
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("the package stream names an unsafe path {0:?}")]
    UnsafePath(String),
    #[error("the package stream sends data before naming a file")]
    NoFile,
    #[error("the package stream names {0} twice")]
    Duplicate(String),
    #[error("the package is larger than {MAX_TOTAL_BYTES} bytes or has more than {MAX_FILES} files")]
    TooLarge,
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the console refused the package: {0}")]
    Console(String),
}

/// Writes a streamed package into a fresh staging directory. Only relative
/// paths of plain components are accepted; sizes and counts are capped. The
/// result is verified (signature, hashes) by the installer, not here.
#[derive(Debug)]
pub struct PackageWriter {
    dir: PathBuf,
    seen: HashSet<String>,
    current: Option<(fs::File, PathBuf)>,
    total: u64,
}

impl PackageWriter {
    /// Creates `dir` (it must not exist).
    pub fn create(dir: &Path) -> Result<Self, FetchError> {
        fs::DirBuilder::new().mode(0o700).create(dir).map_err(|source| FetchError::Io { path: dir.to_path_buf(), source })?;
        Ok(PackageWriter { dir: dir.to_path_buf(), seen: HashSet::new(), current: None, total: 0 })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes one chunk.
    pub fn write(&mut self, chunk: &PackageChunk) -> Result<(), FetchError> {
        if !chunk.path.is_empty() {
            self.finish_file()?;
            let rel = &chunk.path;
            let safe = !rel.is_empty()
                && rel.len() <= MAX_PATH_LEN
                && Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)))
                && !rel.contains('\\');
            if !safe {
                return Err(FetchError::UnsafePath(rel.clone()));
            }
            if !self.seen.insert(rel.clone()) {
                return Err(FetchError::Duplicate(rel.clone()));
            }
            if self.seen.len() > MAX_FILES + 2 {
                return Err(FetchError::TooLarge);
            }
            let path = self.dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|source| FetchError::Io { path: parent.to_path_buf(), source })?;
            }
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| FetchError::Io { path: path.clone(), source })?;
            self.current = Some((file, path));
        }
        let Some((file, path)) = self.current.as_mut() else { return Err(FetchError::NoFile) };
        self.total = self.total.saturating_add(chunk.data.len() as u64);
        if self.total > MAX_TOTAL_BYTES + 2 * 64 * 1024 {
            return Err(FetchError::TooLarge);
        }
        file.write_all(&chunk.data).map_err(|source| FetchError::Io { path: path.clone(), source })
    }

    fn finish_file(&mut self) -> Result<(), FetchError> {
        if let Some((f, path)) = self.current.take() {
            f.sync_all().map_err(|source| FetchError::Io { path, source })?;
        }
        Ok(())
    }

    /// Closes the last file; returns the staging directory.
    pub fn finish(mut self) -> Result<PathBuf, FetchError> {
        self.finish_file()?;
        Ok(self.dir.clone())
    }
}

/// Receives package `version` from the console into `staging` (created).
pub async fn fetch_package(client: &mut AgentServiceClient<Channel>, version: &str, staging: &Path) -> Result<PathBuf, FetchError> {
    let mut stream = client
        .fetch_package(FetchPackageRequest { version: version.to_owned() })
        .await
        .map_err(|s| FetchError::Console(format!("{:?}: {}", s.code(), s.message())))?
        .into_inner();
    let mut w = PackageWriter::create(staging)?;
    loop {
        match stream.message().await {
            Ok(Some(chunk)) => w.write(&chunk)?,
            Ok(None) => break,
            Err(s) => return Err(FetchError::Console(format!("{:?}: {}", s.code(), s.message()))),
        }
    }
    w.finish()
}

/// Settings of job execution.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub installer: Arc<Installer>,
    pub ca_state_dir: PathBuf,
    pub timeouts: HookTimeouts,
}

fn step(step: &str, detail: impl Into<String>) -> JobStep {
    JobStep { step: step.into(), detail: detail.into() }
}

/// Sends a job report, retrying for about a minute while the console is unreachable.
pub async fn report(client: &mut AgentServiceClient<Channel>, req: ReportJobRequest) -> Reported {
    let mut wait = Duration::from_millis(200);
    for attempt in 1..=20 {
        match client.report_job(req.clone()).await {
            Ok(_) => return Reported::Accepted,
            Err(s)
                if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled | tonic::Code::Unknown) =>
            {
                tracing::warn!(job = req.job_id, attempt, error = %s.message(), "cannot report the job; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(s) => {
                tracing::error!(job = req.job_id, code = ?s.code(), error = %s.message(), "the console refused the job report");
                return Reported::Refused(s.message().to_owned());
            }
        }
    }
    tracing::error!(job = req.job_id, "gave up reporting the job");
    Reported::GaveUp
}

/// What became of a job report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    Accepted,
    /// The console answered no (a job cancelled or finished meanwhile, or
    /// not this host's).
    Refused(String),
    /// The console could not be reached in 20 attempts.
    GaveUp,
}

fn active(ctx: &JobContext) -> String {
    ctx.installer.active().ok().flatten().unwrap_or_default()
}

/// Carries out `action` (not Idle) and reports it.
pub async fn run_action(mut client: AgentServiceClient<Channel>, ctx: JobContext, action: Action) {
    match action {
        Action::Idle => {}
        Action::Reject { job_id, reason } => {
            tracing::warn!(job = job_id, %reason, "rejecting job");
            let history = vec![step("rejected", reason.clone())];
            report(
                &mut client,
                ReportJobRequest { job_id, state: "running".into(), history: history.clone(), message: String::new(), active_version: active(&ctx) },
            )
            .await;
            report(&mut client, ReportJobRequest { job_id, state: "failed".into(), history, message: reason, active_version: active(&ctx) }).await;
        }
        Action::AlreadyActive { job_id, version } => {
            tracing::info!(job = job_id, %version, "already active");
            let history = vec![step("done", format!("{version} is already active"))];
            report(
                &mut client,
                ReportJobRequest {
                    job_id,
                    state: "running".into(),
                    history: history.clone(),
                    message: String::new(),
                    active_version: version.clone(),
                },
            )
            .await;
            report(&mut client, ReportJobRequest { job_id, state: "succeeded".into(), history, message: String::new(), active_version: version })
                .await;
        }
        Action::Upgrade { job_id, version } => run_ta_upgrade(&mut client, &ctx, job_id, &version).await,
        Action::Install { job_id, version } => run_ta_install(&mut client, &ctx, job_id, &version).await,
        Action::Uninstall { job_id, version } => run_ta_uninstall(&mut client, &ctx, job_id, &version).await,
    }
}

/// Fetches package `version` for job `job_id` into a fresh staging
/// directory under the package root; on failure nothing is left behind.
async fn fetch_for_job(client: &mut AgentServiceClient<Channel>, ctx: &JobContext, job_id: u64, version: &str) -> Result<PathBuf, String> {
    let staging = ctx.installer.root().join(format!(".tmp-fetch-{job_id}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fetch_package(client, version, &staging).await.map_err(|e| {
        let _ = fs::remove_dir_all(&staging);
        format!("cannot fetch package {version}: {e}")
    })
}

/// Reports job `job_id` running with its `history` so far; false when the
/// console refused it (the job was cancelled, say): the job must not start.
/// An unreachable console does not stop a job it handed out.
async fn running(client: &mut AgentServiceClient<Channel>, ctx: &JobContext, job_id: u64, history: &[JobStep]) -> bool {
    let req = ReportJobRequest { job_id, state: "running".into(), history: history.to_vec(), message: String::new(), active_version: active(ctx) };
    match report(client, req).await {
        Reported::Refused(why) => {
            tracing::warn!(job = job_id, reason = %why, "the console refused to let the job start (cancelled?); not starting it");
            false
        }
        Reported::Accepted | Reported::GaveUp => true,
    }
}

/// Sends the terminal report of a job that went through `history`; a
/// failure ends the history with a `failed` step.
async fn finish(client: &mut AgentServiceClient<Channel>, ctx: &JobContext, job_id: u64, mut history: Vec<JobStep>, outcome: Result<String, String>) {
    if let Err(msg) = &outcome {
        history.push(step("failed", msg.clone()));
    }
    let (state, message) = match outcome {
        Ok(done) => {
            tracing::info!(job = job_id, %done, "job succeeded");
            ("succeeded", String::new())
        }
        Err(msg) => {
            tracing::error!(job = job_id, error = %msg, "job failed");
            ("failed", msg)
        }
    };
    report(client, ReportJobRequest { job_id, state: state.into(), history, message, active_version: active(ctx) }).await;
}

/// A `ta_install` job: fetch the package, verify its signature, hashes and
/// security version, and stage it in `versions/` without switching (a later
/// `ta_upgrade` to it then needs no download). A version already installed
/// with the same manifest is re-verified and reported done.
pub async fn run_ta_install(client: &mut AgentServiceClient<Channel>, ctx: &JobContext, job_id: u64, version: &str) {
    let mut history = vec![step("fetch", format!("package {version} from the console"))];
    if !running(client, ctx, job_id, &history).await {
        return;
    }
    if let Ok(m) = ctx.installer.verify_installed(version) {
        history.push(step("done", format!("{version} (security version {}) is already installed", m.security_version)));
        return finish(client, ctx, job_id, history, Ok(format!("{version} already installed"))).await;
    }
    let pkg_dir = match fetch_for_job(client, ctx, job_id, version).await {
        Ok(d) => d,
        Err(msg) => return finish(client, ctx, job_id, history, Err(msg)).await,
    };
    let inst = ctx.installer.clone();
    let dir = pkg_dir.clone();
    let installed = tokio::task::spawn_blocking(move || inst.install(&dir, false)).await;
    let _ = fs::remove_dir_all(&pkg_dir);
    let outcome = match installed {
        Ok(Ok(o)) if o.manifest().version != version => {
            // The signed manifest names another version: do not keep what
            // this job wrote (a version that was already there stays).
            let other = o.manifest().version.clone();
            if matches!(o, InstallOutcome::Installed(_)) {
                let _ = ctx.installer.uninstall(&other);
            }
            Err(format!("the console's package {version} is signed as version {other}; not installed"))
        }
        Ok(Ok(o)) => {
            let m = o.manifest();
            history.push(step("verify", format!("vendor signature, file hashes, security version {}", m.security_version)));
            history.push(step("stage", format!("{version} installed beside the active {:?}; not switched", active(ctx))));
            Ok(format!("{version} staged"))
        }
        Ok(Err(e)) => Err(format!("cannot install {version}: {e}")),
        Err(e) => Err(format!("the install task failed: {e}")),
    };
    finish(client, ctx, job_id, history, outcome).await;
}

/// A `ta_uninstall` job: remove an installed version that is not active
/// (the agent refuses the active one before getting here). Removing the
/// `previous` version also removes the rollback target; a version that is
/// not installed counts as removed, so the job is idempotent.
pub async fn run_ta_uninstall(client: &mut AgentServiceClient<Channel>, ctx: &JobContext, job_id: u64, version: &str) {
    let mut history = vec![step("uninstall", format!("remove {version}"))];
    if !running(client, ctx, job_id, &history).await {
        return;
    }
    let inst = ctx.installer.clone();
    let v = version.to_owned();
    let outcome = match tokio::task::spawn_blocking(move || inst.uninstall(&v)).await {
        Ok(Ok(())) => {
            history.push(step("done", format!("{version} removed")));
            Ok(format!("{version} removed"))
        }
        Ok(Err(crate::package::PackageError::NotInstalled(_))) => {
            history.push(step("done", format!("{version} was not installed")));
            Ok(format!("{version} was not installed"))
        }
        Ok(Err(e)) => Err(format!("cannot uninstall {version}: {e}")),
        Err(e) => Err(format!("the uninstall task failed: {e}")),
    };
    finish(client, ctx, job_id, history, outcome).await;
}

/// A `ta_upgrade` job: report running, fetch, upgrade (with rollback),
/// report the outcome with the state history.
pub async fn run_ta_upgrade(client: &mut AgentServiceClient<Channel>, ctx: &JobContext, job_id: u64, version: &str) {
    let from = active(ctx);
    tracing::info!(job = job_id, from = %from, to = version, "TA upgrade starting");
    let fetch_step = step("fetch", format!("package {version} from the console"));
    if !running(client, ctx, job_id, std::slice::from_ref(&fetch_step)).await {
        return;
    }
    let pkg_dir = match fetch_for_job(client, ctx, job_id, version).await {
        Ok(d) => d,
        Err(msg) => return finish(client, ctx, job_id, vec![fetch_step], Err(msg)).await,
    };
    let (inst, ca_state_dir, timeouts) = (ctx.installer.clone(), ctx.ca_state_dir.clone(), ctx.timeouts);
    let dir = pkg_dir.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut hooks = CaHooks::new(&ca_state_dir, inst.root(), timeouts);
        let r = run_upgrade(&inst, &dir, &mut hooks);
        (r, hooks.notes)
    })
    .await;
    let _ = fs::remove_dir_all(&pkg_dir);
    let now_active = active(ctx);
    let req = match outcome {
        Ok((r, notes)) => {
            let mut history = vec![fetch_step];
            history.extend(job_history(&r, &notes));
            let state = job_state(&r);
            let message = job_message(&r);
            tracing::info!(job = job_id, state, active = %now_active, %message, "TA upgrade finished");
            ReportJobRequest { job_id, state: state.into(), history, message, active_version: now_active }
        }
        Err(e) => {
            let msg = format!("the upgrade task failed: {e}");
            ReportJobRequest {
                job_id,
                state: "failed".into(),
                history: vec![fetch_step, step("failed", msg.clone())],
                message: msg,
                active_version: now_active,
            }
        }
    };
    report(client, req).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, kind: &str, payload: &str) -> Job {
        Job { id, kind: kind.into(), payload_json: payload.into(), state: "queued".into() }
    }

    #[test]
    fn chooses_jobs() {
        let mut done = HashSet::new();
        assert_eq!(next_action(&[], Some("1.0.0"), &done), Action::Idle);
        let jobs = [job(1, "ta_upgrade", r#"{"version":"2.0.0","rollout_id":1}"#)];
        assert_eq!(next_action(&jobs, Some("1.0.0"), &done), Action::Upgrade { job_id: 1, version: "2.0.0".into() });
        assert_eq!(next_action(&jobs, None, &done), Action::Upgrade { job_id: 1, version: "2.0.0".into() });
        assert_eq!(next_action(&jobs, Some("2.0.0"), &done), Action::AlreadyActive { job_id: 1, version: "2.0.0".into() });
        done.insert(1);
        assert_eq!(next_action(&jobs, Some("1.0.0"), &done), Action::Idle);
        let install = [job(6, "ta_install", r#"{"version":"2.0.0"}"#)];
        assert_eq!(next_action(&install, Some("2.0.0"), &done), Action::Install { job_id: 6, version: "2.0.0".into() });
        let uninstall = [job(7, "ta_uninstall", r#"{"version":"1.0.0"}"#)];
        assert_eq!(next_action(&uninstall, Some("2.0.0"), &done), Action::Uninstall { job_id: 7, version: "1.0.0".into() });
        match next_action(&uninstall, Some("1.0.0"), &done) {
            Action::Reject { reason, .. } => assert!(reason.contains("active TA version and cannot be uninstalled"), "{reason}"),
            a => panic!("{a:?}"),
        }
        for (j, want) in [
            (job(2, "key_import", "{}"), "does not carry out"),
            (job(8, "ta_uninstall", r#"{"version":"../x"}"#), "not a package version"),
            (job(3, "ta_upgrade", "nope"), "not JSON"),
            (job(4, "ta_upgrade", "{}"), "no \"version\""),
            (job(5, "ta_upgrade", r#"{"version":"../../etc"}"#), "not a package version"),
        ] {
            match next_action(&[j], Some("1.0.0"), &done) {
                Action::Reject { reason, .. } => assert!(reason.contains(want), "{reason}"),
                a => panic!("{a:?}"),
            }
        }
    }

    fn chunk(path: &str, data: &[u8]) -> PackageChunk {
        PackageChunk { path: path.into(), data: data.to_vec(), mode: 0o644 }
    }

    #[test]
    fn writes_streams_and_refuses_unsafe_ones() {
        let base = std::env::temp_dir().join(format!("teehsm-agent-fetch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let mut w = PackageWriter::create(&base.join("ok")).unwrap();
        w.write(&chunk("manifest.toml", b"a")).unwrap();
        w.write(&chunk("lib/x.so", b"12")).unwrap();
        w.write(&chunk("", b"34")).unwrap();
        let dir = w.finish().unwrap();
        assert_eq!(fs::read(dir.join("lib/x.so")).unwrap(), b"1234");
        assert_eq!(fs::read(dir.join("manifest.toml")).unwrap(), b"a");

        for (i, bad) in ["../escape", "/etc/passwd", "a/../../b", "./x", "a\\b"].iter().enumerate() {
            let mut w = PackageWriter::create(&base.join(format!("bad{i}"))).unwrap();
            assert!(matches!(w.write(&chunk(bad, b"x")), Err(FetchError::UnsafePath(_))), "{bad}");
        }
        let mut w = PackageWriter::create(&base.join("nofile")).unwrap();
        assert!(matches!(w.write(&chunk("", b"x")), Err(FetchError::NoFile)));
        let mut w = PackageWriter::create(&base.join("dup")).unwrap();
        w.write(&chunk("a", b"x")).unwrap();
        assert!(matches!(w.write(&chunk("a", b"y")), Err(FetchError::Duplicate(_))));
        assert!(!base.parent().unwrap().join("escape").exists());
        let _ = fs::remove_dir_all(&base);
    }
}
