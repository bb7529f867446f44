//! The host-side record of what was applied inside a container.
//!
//! Feature scripts, the application script and health checks all work through `pct exec`, so
//! running them on every `create` would make a converged run issue dozens of calls. After they
//! succeed, Phoenix writes `<hypervisor_marker_dir>/guests/<id>.json` (under
//! `PHOENIX_HOST_ROOT`): the feature list, the application script's name, and fingerprints of
//! the container's JSON object and of every script involved. A later `create` skips those steps
//! when the record still matches and nothing else changed in the run; `reconfigure` and
//! `converge` (`PHOENIX_CONVERGE=1`) always re-run them; `delete` removes the record.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::conffile::write_atomic;
use crate::step::{fail, Job, StepResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub features: Vec<String>,
    pub application_script: Option<String>,
    /// Fingerprint of the container's JSON object and the content of every script run.
    pub fingerprint: String,
    /// Seconds since the epoch when the steps last completed.
    pub completed_at: u64,
}

pub fn path(job: &Job) -> PathBuf {
    job.ctx
        .env
        .records_dir(&job.ctx.config)
        .join(format!("{}.json", job.id))
}

pub fn load(job: &Job) -> Option<Record> {
    let text = std::fs::read_to_string(path(job)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The record the current config and scripts would produce.
pub fn expected(job: &Job, fingerprint: String) -> Record {
    Record {
        features: job.lxc.features.iter().map(|f| f.to_string()).collect(),
        application_script: job.lxc.application_script.as_ref().map(|a| a.to_string()),
        fingerprint,
        completed_at: 0,
    }
}

/// Whether `rec` describes what `want` asks for (the time does not matter).
pub fn matches(rec: &Record, want: &Record) -> bool {
    rec.features == want.features
        && rec.application_script == want.application_script
        && rec.fingerprint == want.fingerprint
}

pub fn save(job: &Job, mut rec: Record) -> StepResult<()> {
    if job.dry_run() {
        return Ok(());
    }
    rec.completed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = serde_json::to_string_pretty(&rec).map_err(|e| fail("record", e.to_string()))?;
    write_atomic(&path(job), &(text + "\n")).map_err(|e| fail("record", e))
}

pub fn remove(job: &Job) {
    if !job.dry_run() {
        let _ = std::fs::remove_file(path(job));
    }
}
