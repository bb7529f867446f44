//! Reading and writing `<pve_dir>/lxc/<id>.conf` directly.
//!
//! Reading the file is the cheapest way to learn a container's configuration (no `pct` call,
//! so a converged run stays quiet); writing it is the only way to add raw `lxc.*` lines, which
//! `pct set` does not accept. Writes go to a temporary file in the same folder, then rename, so
//! Proxmox never sees half a file.

use std::path::{Path, PathBuf};

use pve::Conf;

use crate::step::{fail, Job, StepResult};

/// The conf file of the job's container.
pub fn path(job: &Job) -> PathBuf {
    conf_path(&job.ctx.env.pve_dir, job.id.0)
}

pub fn conf_path(pve_dir: &Path, id: u64) -> PathBuf {
    pve_dir.join("lxc").join(format!("{id}.conf"))
}

/// The container's conf, or `None` when it does not exist.
pub fn read(job: &Job, step: &'static str) -> StepResult<Option<Conf>> {
    read_path(&path(job)).map_err(|e| fail(step, e))
}

pub fn read_path(p: &Path) -> Result<Option<Conf>, String> {
    match std::fs::read_to_string(p) {
        Ok(t) => Ok(Some(Conf::parse(&t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Writes `text` to `p` atomically (temporary file beside it, then rename).
pub fn write_atomic(p: &Path, text: &str) -> Result<(), String> {
    phoenix_host::fs::write_atomic(p, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", p.display()))
}
