//! Reading and writing `<pve_dir>/lxc/<id>.conf` directly.
//!
//! Reading the file is the cheapest way to learn a container's configuration (no `pct` call,
//! so a converged run stays quiet); writing it is the only way to add raw `lxc.*` lines, which
//! `pct set` does not accept. Writes go to a temporary file in the same folder, then rename, so
//! Proxmox never sees half a file.

use std::io::Write;
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
    let dir = p.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let res = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, p));
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", p.display())
    })
}
