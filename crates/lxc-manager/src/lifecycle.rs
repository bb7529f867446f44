//! What is particular to containers in the shared life cycle (`phoenix_guest::lifecycle`):
//! templates are never started by `start`, a container others were cloned from is not deleted
//! without `--force`, and the status with drift.

use phoenix_config::Lxc;
use phoenix_guest::lifecycle::{self, DeleteExtras};
use phoenix_guest::{GuestResult, Job};

fn refuse_template<'a>(job: &'a Job<'a>) -> impl Fn(bool) -> Option<String> + 'a {
    move |_| {
        job.config()
            .guest(job.id())
            .is_some_and(|g| g.is_template)
            .then(|| {
                "is a template; templates are only started by `create` to install their features"
                    .to_string()
            })
    }
}

pub fn start(job: &Job) -> GuestResult<()> {
    lifecycle::start(job, refuse_template(job))
}

pub fn restart(job: &Job) -> GuestResult<()> {
    lifecycle::restart(job, refuse_template(job))
}

/// `delete` verb: refuses a container that existing configured containers were cloned from.
pub fn delete(job: &Job) -> GuestResult<()> {
    lifecycle::delete(job, |_| {
        let mut clones = Vec::new();
        for g in job.config().guests() {
            if g.clone_from == Some(job.id()) && job.conf_of(crate::tag(g.id), "delete")?.is_some()
            {
                clones.push(g.id.to_string());
            }
        }
        let guard = (!clones.is_empty() && !job.ctx.inv.force).then(|| {
            format!(
                "containers {} were cloned from it; delete them first or pass --force",
                clones.join(", ")
            )
        });
        Ok(DeleteExtras {
            guard,
            stop_first: true,
            files: Vec::new(),
        })
    })
}

/// `status` verb: state, name and drift, in the one status shape.
pub fn status(job: &Job, lxc: &Lxc) -> GuestResult<()> {
    let fw = crate::firewall::read(job, lxc)?;
    lifecycle::status_verb(
        job,
        ("hostname", lxc.name.as_str()),
        lxc.is_template,
        &lxc.features,
        |c| crate::plan::drift(&job.target(), lxc, c, fw.as_deref(), job.pve_dir()),
    )
}
