//! What is particular to containers in the shared life cycle (`phoenix_guest::lifecycle`):
//! templates are never started by `start`, a container others were cloned from is not deleted
//! without `--force`, and the status with drift.

use phoenix_config::Lxc;
use phoenix_guest::lifecycle::{self, DeleteExtras};
use phoenix_guest::record::RecordFile;
use phoenix_guest::{GuestResult, Job};

fn refuse_template<'a>(job: &'a Job<'a>) -> impl Fn(&pve::Conf) -> Option<String> + 'a {
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
        let clones: Vec<String> = job
            .config()
            .guests()
            .filter(|g| g.clone_from == Some(job.id()))
            .filter(|g| phoenix_guest::local::conf_path(job.pve_dir(), crate::tag(g.id)).exists())
            .map(|g| g.id.to_string())
            .collect();
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
    let conf = job.conf("status")?;
    let name = conf
        .as_ref()
        .and_then(|c| c.get("hostname"))
        .unwrap_or(&lxc.name)
        .to_string();
    let fw = std::fs::read_to_string(crate::firewall::path(job.pve_dir(), job.guest.id)).ok();
    let drift = match &conf {
        Some(c) => crate::plan::drift(
            &job.target(),
            lxc,
            job.config(),
            c,
            fw.as_deref(),
            job.pve_dir(),
        ),
        None => Ok(Vec::new()),
    };
    let rec = RecordFile::load(&job.records_dir(), job.guest.id);
    let notes = rec.record.dropped_note(&lxc.features).into_iter().collect();
    let template = job.config().guest(job.id()).is_some_and(|g| g.is_template);
    let s = lifecycle::status_of(job, &name, template, conf.as_ref(), drift, notes)?;
    lifecycle::print_status(job, &s);
    Ok(())
}

/// `delete <id> --unmanaged`: a container no config file defines (refused when it is one);
/// configured containers cloned from it guard it as for a managed one.
pub fn delete_unmanaged(job: &Job) -> GuestResult<()> {
    if job.config().guest(job.id()).is_some() {
        return Err(job.err(
            "delete",
            "is defined in the config; delete it without --unmanaged",
        ));
    }
    delete(job)
}
