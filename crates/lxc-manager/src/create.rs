//! `create` and `reconfigure`: each phase observes the container, plans a step, and hands it
//! to the executor; a phase that needs an earlier one's result is planned once that one ran
//! (a dry run stops there and says what follows). A second `create` on a converged host
//! changes nothing and issues one status read.
//!
//! 1 define (exists / clone / create from template) → 2 configure (one `pct set`, raw lines,
//! firewall) → 3 disk → 4 running → 5-8 lifecycle snapshots, features, application script,
//! health checks (recorded) → 9 template snapshot.

use phoenix_config::Lxc;
use phoenix_guest::lifecycle::{snapshot_step, start_step};
use phoenix_guest::record::{RecordFile, IN_GUEST};
use phoenix_guest::{Applied, GuestResult, Job, Step};
use pve::api::Method;
use pve::Conf;

use crate::features;
use crate::plan::{self, PlanError, TemplateFacts};

/// `PHOENIX_CONVERGE=1` (set by `phoenix converge`): re-run features even when recorded.
fn converge_requested() -> bool {
    std::env::var("PHOENIX_CONVERGE").is_ok_and(|v| v == "1")
}

fn planned<T>(job: &Job, r: Result<T, PlanError>) -> GuestResult<T> {
    r.map_err(|(step, msg)| job.err(step, msg))
}

/// `create` verb.
pub fn create(job: &Job, lxc: &Lxc) -> GuestResult<()> {
    features::check_exist(job, &features::scripts(&job.ctx.env.scripts_dir, lxc))?;
    let Some(conf) = define(job, lxc)? else {
        job.then("configure, disk, start, features, application script, health checks and snapshots (planned once the container exists)");
        return Ok(());
    };
    phoenix_guest::placement::place(job)?;
    let conf = configure(job, lxc, conf)?;
    job.apply(plan::disk(&job.target(), lxc, &conf))?;
    let state = job.state("start")?;
    if job.apply(start_step(job, &state))? == Applied::Planned {
        job.then("lifecycle snapshots, features, application script and health checks (planned once it runs)");
        return Ok(());
    }
    in_guest(job, lxc, converge_requested())?;
    if let Some(name) = &lxc.template_snapshot_name {
        let conf = job
            .conf("template snapshot")?
            .ok_or_else(|| job.err("template snapshot", "the conf file disappeared"))?;
        job.apply(snapshot_step(job, "template snapshot", name, &conf)?)?;
    }
    job.done_converged();
    Ok(())
}

/// `reconfigure` verb: configuration, disk, volumes and features of an existing container.
pub fn reconfigure(job: &Job, lxc: &Lxc) -> GuestResult<()> {
    features::check_exist(job, &features::scripts(&job.ctx.env.scripts_dir, lxc))?;
    let conf = job.conf("reconfigure")?.ok_or_else(|| {
        job.err(
            "reconfigure",
            format!(
                "does not exist; run `lxc-manager create {}` first",
                job.guest.id
            ),
        )
    })?;
    let conf = configure(job, lxc, conf)?;
    job.apply(plan::disk(&job.target(), lxc, &conf))?;
    if job.state("features")? != "running" {
        return Err(job.err(
            "features",
            format!(
                "is not running; run `lxc-manager start {}` to apply the features",
                job.guest.id
            ),
        ));
    }
    let mut step = Step::new("features");
    step.actions = features::feature_actions(job, lxc);
    job.apply(step).map(|_| ())
}

/// Step 1. `Some(conf)` when the container exists (or was just made); `None` when a dry run
/// only planned its creation.
fn define(job: &Job, lxc: &Lxc) -> GuestResult<Option<Conf>> {
    if let Some(c) = job.conf("define")? {
        job.unchanged("define", None);
        return Ok(Some(c));
    }
    let t = job.target();
    let cfg = job.config();
    let step = match lxc.clone_from_ctid {
        Some(src) => {
            let src_conf = job.conf_of(crate::tag(src), "clone")?;
            planned(job, plan::clone(&t, lxc, cfg, src, src_conf.as_ref()))?
        }
        None => template_step(job, lxc)?,
    };
    if job.apply(step)? == Applied::Planned {
        return Ok(None);
    }
    let dir = job.records_dir();
    RecordFile::load(&dir, job.guest.id)
        .clear()
        .map_err(|e| job.err("define", format!("cannot reset the record: {e}")))?;
    let c = job
        .conf("define")?
        .ok_or_else(|| job.err("define", "the conf file is missing after creation"))?;
    Ok(Some(c))
}

/// Step 1 from the OS template: reads `storage.cfg`, `pvesm status` and `pveam list`.
fn template_step(job: &Job, lxc: &Lxc) -> GuestResult<Step> {
    let t = job.target();
    let cfg_path = job.pve_dir().join("storage.cfg");
    let text = job
        .transport
        .node_read(&cfg_path)
        .map_err(|e| job.err("storage", e.0))?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .ok_or_else(|| job.err("storage", format!("{} does not exist", cfg_path.display())))?;
    let rows = job
        .transport
        .request(&t.node_req(Method::Get, "/storage"))
        .map_err(|e| job.err("storage", e.0))?;
    let storages = rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["storage"].as_str().map(str::to_string))
        .collect();
    let facts = TemplateFacts {
        storage_cfg: &text,
        storages,
    };
    let has = |store: &str, name: &str| -> Result<bool, PlanError> {
        let req = t
            .node_req(Method::Get, &format!("/storage/{store}/content"))
            .param("content", "vztmpl");
        let rows = job.transport.request(&req).map_err(|e| ("template", e.0))?;
        let volid = format!("{store}:vztmpl/{name}");
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["volid"].as_str() == Some(volid.as_str())))
    };
    planned(job, plan::create_from_template(&t, lxc, &facts, has))
}

/// Step 2 (and 3's volumes and GPUs); the conf after it.
fn configure(job: &Job, lxc: &Lxc, conf: Conf) -> GuestResult<Conf> {
    let fw = crate::firewall::read(job, lxc)?;
    let (step, notes) = plan::configure(&job.target(), lxc, &conf, fw.as_deref(), job.pve_dir());
    for n in notes {
        job.note(n);
    }
    let changed = job.apply(step)? == Applied::Changed;
    // Steps of keys most containers do not have are reported only where they apply.
    if lxc.unprivileged == Some(true) && !lxc.id_maps.is_empty() {
        job.apply(crate::subids::step(job, lxc)?)?;
    }
    if lxc
        .mount_points
        .iter()
        .any(|m| m.owner_uid.is_some() || m.owner_gid.is_some())
    {
        job.apply(crate::owners::step(job, lxc)?)?;
    }
    if changed {
        return Ok(job.conf("disk")?.unwrap_or(conf));
    }
    Ok(conf)
}

/// Steps 5-8, skipped while the record matches (unless `force`).
fn in_guest(job: &Job, lxc: &Lxc, force: bool) -> GuestResult<()> {
    let fp = features::fingerprint(job, lxc)?;
    let mut rec = RecordFile::load(&job.records_dir(), job.guest.id);
    if let Some(n) = rec.record.dropped_note(&lxc.features) {
        job.note(n);
    }
    if rec.record.done(IN_GUEST, &fp) && !force {
        job.unchanged("features", None);
        return Ok(());
    }
    let conf = job
        .conf("features")?
        .ok_or_else(|| job.err("features", "the conf file disappeared"))?;
    if job.apply(features::in_guest_step(job, lxc, &conf)?)? == Applied::Planned {
        return Ok(());
    }
    rec.set_features(&lxc.features);
    rec.mark(IN_GUEST, &fp, None).map_err(|e| {
        job.err(
            "record",
            format!("cannot write {}: {e}", rec.path.display()),
        )
    })
}
