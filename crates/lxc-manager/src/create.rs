//! The `create` state machine and `reconfigure`: each step checks the live state first and acts
//! only on a difference, so a second `create` on a converged host changes nothing and issues
//! one `pct status`.
//!
//! 1 defined (exists / clone / create from template) → 2 configured (one `pct set`, raw lines,
//! firewall) → 3 disk → 4 running → 5 lifecycle snapshot → 6 features → 7 application script →
//! 8 health checks → 5' final snapshot → 9 template snapshot.

use phoenix_host::slots::Resource;
use pve::Conf;

use crate::desired::{self, Desired};
use crate::diff::{self, SetPlan};
use crate::step::{fail, tool, Job, StepResult};
use crate::{conffile, features, firewall, gpu, lifecycle, record, template, volumes};

/// Snapshot names of `enable_lifecycle_snapshots`.
pub const SNAP_BEFORE: &str = "pre-configured";
pub const SNAP_AFTER: &str = "final-form";

/// `create` verb.
pub fn create(job: &Job) -> StepResult<()> {
    features::check_exist(&features::scripts(job))?;
    let Some(conf) = ensure_defined(job)? else {
        job.say("the remaining steps (configuration, start, features) follow after creation");
        return Ok(());
    };
    configure(job, &conf)?;
    let conf = current(job, "disk")?.unwrap_or(conf);
    ensure_disk(job, &conf)?;
    if lifecycle::ensure_running(job)? && job.dry_run() {
        job.say("features, application script and health checks follow after the start");
        return Ok(());
    }
    in_guest(job, converge_requested())?;
    ensure_snapshot(
        job,
        job.lxc.template_snapshot_name.as_deref(),
        "template snapshot",
    )?;
    job.say(if job.changed() {
        "converged"
    } else {
        "already in the desired state; nothing changed"
    });
    Ok(())
}

/// `reconfigure` verb: configuration, disk, volumes and features of an existing container.
pub fn reconfigure(job: &Job) -> StepResult<()> {
    features::check_exist(&features::scripts(job))?;
    let conf = current(job, "reconfigure")?.ok_or_else(|| {
        fail(
            "reconfigure",
            format!("does not exist; run `lxc-manager create {}` first", job.id),
        )
    })?;
    configure(job, &conf)?;
    let conf = current(job, "disk")?.unwrap_or(conf);
    ensure_disk(job, &conf)?;
    if lifecycle::status(job, "features")? != "running" {
        return Err(fail(
            "features",
            format!(
                "is not running; run `lxc-manager start {}` to apply the features",
                job.id
            ),
        ));
    }
    features::run_features(job)
}

/// `PHOENIX_CONVERGE=1` (set by `phoenix converge`): re-run features even when recorded.
fn converge_requested() -> bool {
    std::env::var("PHOENIX_CONVERGE").is_ok_and(|v| v == "1")
}

fn current(job: &Job, step: &'static str) -> StepResult<Option<Conf>> {
    conffile::read(job, step)
}

/// Step 1. `Some(conf)` when the container exists (or was just made); `None` under `--dry-run`
/// when it would be made.
fn ensure_defined(job: &Job) -> StepResult<Option<Conf>> {
    if let Some(c) = current(job, "define")? {
        return Ok(Some(c));
    }
    if let Some(src) = job.lxc.clone_from_ctid {
        clone(job, src)?;
    } else {
        create_from_template(job)?;
    }
    if job.dry_run() {
        return Ok(None);
    }
    let c = current(job, "define")?
        .ok_or_else(|| fail("define", "the conf file is missing after creation"))?;
    job.say("defined");
    Ok(Some(c))
}

fn clone(job: &Job, src: phoenix_config::GuestId) -> StepResult<()> {
    let src_conf = conffile::read_path(&conffile::conf_path(&job.ctx.env.pve_dir, src.0))
        .map_err(|e| fail("clone", e))?;
    let snap = job
        .ctx
        .config
        .lxc(src)
        .and_then(|s| s.template_snapshot_name.as_ref().map(|n| n.to_string()));
    let missing = |what: String| {
        fail(
            "clone",
            format!(
                "container {} needs {what}; run `phoenix create {src}` first",
                job.id
            ),
        )
    };
    let is_pve_template = src_conf
        .as_ref()
        .is_some_and(|c| c.get("template").is_some_and(|v| v == "1"));
    match (&src_conf, &snap) {
        (None, _) if !job.dry_run() => return Err(missing(format!("container {src}"))),
        (Some(c), Some(s)) if c.snapshot(s).is_none() && !job.dry_run() => {
            return Err(missing(format!("{src}'s snapshot '{s}'")))
        }
        (Some(_), None) if !is_pve_template => {
            return Err(fail(
                "clone",
                format!("source {src} has no template_snapshot_name and is not a Proxmox template"),
            ))
        }
        _ => {}
    }
    let mut argv = vec!["clone".to_string(), src.to_string(), job.ids()];
    if let Some(s) = &snap {
        argv.extend(["--snapname".to_string(), s.clone()]);
    }
    argv.extend(["--hostname".to_string(), job.lxc.name.to_string()]);
    // A clone of a normal container is always full; of a Proxmox template, full unless asked.
    let full = !is_pve_template || job.lxc.full_clone != Some(false);
    if full {
        argv.extend(["--full".to_string(), "1".to_string()]);
        if let Some(p) = &job.lxc.storage_pool {
            argv.extend(["--storage".to_string(), p.to_string()]);
        }
    }
    // `pct clone` puts `lock: disk` on its source for the whole copy, template or not: one
    // clone per source at a time. The new disk lands on `--storage`, else beside the source's.
    let source_pool = || {
        job.ctx
            .config
            .lxc(src)
            .and_then(|s| s.storage_pool.as_ref().map(|p| p.to_string()))
    };
    let storage = if full {
        job.lxc
            .storage_pool
            .as_ref()
            .map(|p| p.to_string())
            .or_else(source_pool)
    } else {
        source_pool()
    };
    let mut wants = vec![Resource::CloneSource(src)];
    wants.extend(storage.map(Resource::Storage));
    let _slots = job.hold("clone", &wants)?;
    job.pct_change("clone", &argv)?;
    Ok(())
}

fn create_from_template(job: &Job) -> StepResult<()> {
    let value = job
        .lxc
        .template
        .as_deref()
        .ok_or_else(|| fail("define", "has neither clone_from_ctid nor template"))?;
    let cfg_path = job.ctx.env.pve_dir.join("storage.cfg");
    let cfg = std::fs::read_to_string(&cfg_path).map_err(|e| {
        fail(
            "storage",
            format!("cannot read {}: {e}", cfg_path.display()),
        )
    })?;
    let (store, name) = template::resolve(value, &template::parse_storage_cfg(&cfg))
        .map_err(|e| fail("template", e))?;
    let pool = job.lxc.storage_pool.as_ref().map(|p| p.to_string());
    check_storages(job, &[Some(&store), pool.as_ref()])?;
    ensure_template(job, &store, &name)?;
    let want = desired::build(job.lxc, &job.ctx.config);
    let mut argv = vec![
        "create".to_string(),
        job.ids(),
        format!("{store}:vztmpl/{name}"),
    ];
    match &want.rootfs {
        Some((pool, size)) => argv.extend(["--rootfs".to_string(), format!("{pool}:{size}")]),
        None => {
            if let Some(p) = &job.lxc.storage_pool {
                argv.extend(["--storage".to_string(), p.to_string()]);
            }
        }
    }
    if let Some(u) = want.unprivileged {
        argv.extend(["--unprivileged".to_string(), desired::bool01(u)]);
    }
    let plan = set_plan(job, &Conf::default(), &want)?;
    for (k, v) in plan.set {
        argv.extend([format!("--{k}"), v]);
    }
    let pool = want
        .rootfs
        .as_ref()
        .map(|(pool, _)| pool.clone())
        .or_else(|| job.lxc.storage_pool.as_ref().map(|p| p.to_string()));
    let _slots = job.hold(
        "create",
        &pool.into_iter().map(Resource::Storage).collect::<Vec<_>>(),
    )?;
    job.pct_change("create", &argv)?;
    Ok(())
}

/// Fails unless every named storage is listed by `pvesm status`.
fn check_storages(job: &Job, stores: &[Option<&String>]) -> StepResult<()> {
    let out = job
        .ctx
        .runner
        .read("pvesm", &["status"])
        .map_err(tool("storage"))?;
    let rows = pve::output::parse_pvesm_status(&out).map_err(|e| fail("storage", e.to_string()))?;
    for s in stores.iter().flatten() {
        if !rows.iter().any(|r| &r.name == *s) {
            return Err(fail(
                "storage",
                format!("storage '{s}' does not exist (pvesm status)"),
            ));
        }
    }
    Ok(())
}

/// Downloads the template into `store` unless `pveam list` shows it.
fn ensure_template(job: &Job, store: &str, name: &str) -> StepResult<()> {
    let out = job
        .ctx
        .runner
        .read("pveam", &["list", store])
        .map_err(tool("template"))?;
    let rows = pve::output::parse_pveam_list(&out).map_err(|e| fail("template", e.to_string()))?;
    let volid = format!("{store}:vztmpl/{name}");
    if rows.iter().any(|r| r.volid == volid) {
        return Ok(());
    }
    job.say(format!("downloading template {name} to {store}"));
    job.mark_changed();
    job.ctx
        .runner
        .change("pveam", &["download", store, name])
        .map_err(tool("template"))?;
    Ok(())
}

/// Plain options, GPU devices and missing mount points: everything one `pct set` changes.
fn set_plan(job: &Job, conf: &Conf, want: &Desired) -> StepResult<SetPlan> {
    let mut plan = diff::plain(conf, want);
    plan.merge(gpu::plan(conf, &job.lxc.gpus));
    plan.merge(volumes::plan(conf, &volumes::wanted(job.lxc)));
    Ok(plan)
}

/// Step 2 (and 3's volumes and GPUs): one `pct set`, raw lines, firewall.
fn configure(job: &Job, conf: &Conf) -> StepResult<()> {
    let want = desired::build(job.lxc, &job.ctx.config);
    if let (Some(u), Some(cur)) = (want.unprivileged, conf.get("unprivileged")) {
        if !diff::same("unprivileged", cur, &desired::bool01(u)) {
            job.say(format!("warning: unprivileged is {cur} but the config says {u}; Proxmox only sets it at creation"));
        }
    }
    let plan = set_plan(job, conf, &want)?;
    if !plan.is_empty() {
        job.pct_change("configure", &plan.argv(&job.ids()))?;
    }
    let mut fresh = if plan.is_empty() || job.dry_run() {
        conf.clone()
    } else {
        current(job, "configure")?.unwrap_or_else(|| conf.clone())
    };
    let added = diff::apply_raw(&mut fresh, &want.raw);
    if !added.is_empty() {
        job.mark_changed();
        let p = conffile::path(job);
        if job.dry_run() {
            eprintln!("[dry-run] add to {}: {}", p.display(), added.join("; "));
        } else {
            conffile::write_atomic(&p, &fresh.to_string()).map_err(|e| fail("configure", e))?;
        }
    }
    firewall::ensure(job)
}

/// Step 3: grow the root disk to `storage_size_gb`; never shrink.
fn ensure_disk(job: &Job, conf: &Conf) -> StepResult<()> {
    let Some(want) = job.lxc.storage_size_gb else {
        return Ok(());
    };
    match volumes::disk(conf, want) {
        volumes::Disk::Grow { to_gb } => {
            job.pct_change(
                "disk",
                &[
                    "resize".to_string(),
                    job.ids(),
                    "rootfs".to_string(),
                    format!("{to_gb}G"),
                ],
            )?;
            job.say(format!("root disk grown to {to_gb}G"));
        }
        volumes::Disk::Larger { have_gb } => job.say(format!(
            "warning: root disk is {have_gb}G, larger than storage_size_gb {want}; never shrunk"
        )),
        volumes::Disk::Keep | volumes::Disk::Unknown => {}
    }
    Ok(())
}

/// Steps 5-8: lifecycle snapshots, features, application script, health checks; skipped when
/// the record says they were applied with this config and nothing changed in this run.
fn in_guest(job: &Job, force: bool) -> StepResult<()> {
    let want = record::expected(job, features::fingerprint(job)?);
    let recorded = record::load(job).is_some_and(|r| record::matches(&r, &want));
    if recorded && !force && !job.changed() {
        job.say(format!(
            "features, application script and health checks already applied (record {})",
            record::path(job).display()
        ));
        return Ok(());
    }
    lifecycle_snapshot(job, SNAP_BEFORE)?;
    features::run_features(job)?;
    features::run_application(job)?;
    features::run_health_checks(job)?;
    lifecycle_snapshot(job, SNAP_AFTER)?;
    record::save(job, want)
}

fn lifecycle_snapshot(job: &Job, name: &str) -> StepResult<()> {
    if !job.lxc.enable_lifecycle_snapshots {
        return Ok(());
    }
    if job.lxc.template_snapshot_name.as_deref() == Some(name) {
        job.say(format!("lifecycle snapshot '{name}' is also the template snapshot; it is taken after the features"));
        return Ok(());
    }
    ensure_snapshot(job, Some(name), "snapshot")
}

/// Takes snapshot `name` unless the conf already has it.
fn ensure_snapshot(job: &Job, name: Option<&str>, step: &'static str) -> StepResult<()> {
    let Some(name) = name else { return Ok(()) };
    let conf = current(job, step)?.ok_or_else(|| fail(step, "the conf file disappeared"))?;
    if conf.snapshot(name).is_some() {
        return Ok(());
    }
    job.pct_change(step, &["snapshot".to_string(), job.ids(), name.to_string()])?;
    job.say(format!("snapshot '{name}' taken"));
    Ok(())
}
