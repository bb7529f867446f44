//! Run state and existence, the same for containers and VMs: `start` (polled until running,
//! retried), `stop`, `restart`, `delete`, snapshots, and the `status` verb. The few
//! differences (what makes a guest unstartable, what guards a delete, what else a delete
//! removes) are passed in by the manager.

use std::path::PathBuf;

use phoenix_report::{GuestStatus, Kind, Sync};
use pve::api::Method;
use pve::Conf;

use crate::apply::Applied;
use crate::error::GuestResult;
use crate::job::Job;
use crate::plan::{Action, Confirm, NodeOp, Settle, Step};
use crate::record::RecordFile;

/// The manager users run for this kind, for messages.
pub fn manager(kind: Kind) -> &'static str {
    match kind {
        Kind::Lxc => "lxc-manager",
        Kind::Vm => "vm-manager",
    }
}

/// The start request, polled until running and retried per `orchestration.start_retries`.
pub fn start_action(job: &Job, reason: &str) -> Action {
    let o = &job.config().hypervisor.orchestration;
    let settle = Settle {
        attempts: o.start_attempts(),
        interval: o.start_retry_interval(),
    };
    Action::api("start", reason, job.req(Method::Post, "/status/start"))
        .settle(settle)
        .long()
}

/// Start unless running.
pub fn start_step(job: &Job, state: &str) -> Step {
    if state == "running" {
        Step::new("start").unchanged("already running")
    } else {
        Step::new("start").with(start_action(job, &format!("{state}, should run")))
    }
}

/// Takes snapshot `name` unless the guest (config `conf`) has it.
pub fn snapshot_step(job: &Job, step: &str, name: &str, conf: &Conf) -> GuestResult<Step> {
    let s = Step::new(step);
    if job.has_snapshot(job.guest, conf, name, step)? {
        return Ok(s);
    }
    Ok(s.with(Action::api(
        step,
        format!("snapshot '{name}' is missing"),
        job.req(Method::Post, "/snapshot").param("snapname", name),
    )))
}

/// Whether a config marks a Proxmox template.
pub fn is_template(conf: &Conf) -> bool {
    conf.get("template").is_some_and(|v| v.trim() == "1")
}

/// The conf, or an error naming the create command.
pub fn require(job: &Job, step: &str) -> GuestResult<Conf> {
    job.conf(step)?.ok_or_else(|| {
        job.err(
            step,
            format!(
                "does not exist; run `{} create {}` first",
                manager(job.guest.kind),
                job.guest.id
            ),
        )
    })
}

/// `start` verb; `refuse` says why this guest must not run (given whether the node marks it a
/// template). A bulk read that lists the guest with its state and template flag answers
/// everything: no config is read.
pub fn start(job: &Job, refuse: impl Fn(bool) -> Option<String>) -> GuestResult<()> {
    let (template, state) = match job.observed().and_then(|o| Some((o.template?, o.state?))) {
        Some(seen) => seen,
        None => {
            let Some(conf) = job.conf("start")? else {
                if job.planning() {
                    // `LetsGo --dry-run` on a new host: the create before this only planned.
                    job.then("does not exist yet; it is started once created");
                    return Ok(());
                }
                return require(job, "start").map(|_| ());
            };
            (is_template(&conf), job.state("start")?)
        }
    };
    if state != "running" {
        if let Some(why) = refuse(template) {
            return Err(job.err("start", why));
        }
    }
    job.apply(start_step(job, &state)).map(|_| ())
}

/// `stop` verb.
pub fn stop(job: &Job) -> GuestResult<()> {
    require(job, "stop")?;
    let step = if job.state("stop")? == "running" {
        Step::new("stop").with(
            Action::api(
                "stop",
                "running, should stop",
                job.req(Method::Post, "/status/stop"),
            )
            .confirm(Confirm::Stopped),
        )
    } else {
        Step::new("stop").unchanged("already stopped")
    };
    job.apply(step).map(|_| ())
}

/// `restart` verb: reboot when running, else start.
pub fn restart(job: &Job, refuse: impl Fn(bool) -> Option<String>) -> GuestResult<()> {
    let conf = require(job, "restart")?;
    if let Some(why) = refuse(is_template(&conf)) {
        return Err(job.err("restart", why));
    }
    if job.state("restart")? == "running" {
        let step = Step::new("restart").with(Action::api(
            "restart",
            "restart requested",
            job.req(Method::Post, "/status/reboot"),
        ));
        return job.apply(step).map(|_| ());
    }
    start(job, refuse)
}

/// What a manager adds to a delete: its guard (clones that need this guest) and the node
/// files that go with the guest (snippets).
pub struct DeleteExtras {
    pub guard: Option<String>,
    pub stop_first: bool,
    pub files: Vec<PathBuf>,
}

/// `delete` verb: stop when running, destroy with `purge`, remove the record and `files`.
pub fn delete(
    job: &Job,
    extras: impl FnOnce(&Conf) -> GuestResult<DeleteExtras>,
) -> GuestResult<()> {
    let dir = job.records_dir();
    let record = RecordFile::path_of(&dir, job.guest.id);
    let Some(conf) = job.conf("delete")? else {
        let mut step = Step::new("delete").unchanged("does not exist; nothing to delete");
        if record.exists() {
            step.push(Action::node(
                "delete",
                "a record of a guest that is gone",
                NodeOp::ForgetRecord { path: record },
            ));
        }
        return job.apply(step).map(|_| ());
    };
    let x = extras(&conf)?;
    if let Some(why) = x.guard {
        return Err(job.err("delete", why));
    }
    let mut step = Step::new("delete");
    if x.stop_first && job.state("delete")? == "running" {
        step.push(
            Action::api(
                "delete",
                "running; stopped before it is destroyed",
                job.req(Method::Post, "/status/stop"),
            )
            .confirm(Confirm::Stopped),
        );
    }
    step.push(
        Action::api(
            "delete",
            "delete requested",
            job.req(Method::Delete, "").param("purge", "1"),
        )
        .long(),
    );
    if record.exists() {
        step.push(Action::node(
            "delete",
            "Phoenix's record of the destroyed guest",
            NodeOp::ForgetRecord { path: record },
        ));
    }
    for path in x.files {
        step.push(Action::node(
            "delete",
            "belongs to the destroyed guest",
            NodeOp::Remove { path },
        ));
    }
    if job.apply(step)? == Applied::Changed {
        job.done("destroyed");
    }
    Ok(())
}

/// Prints one guest's status in the one status shape (`--output json`), or as text.
pub fn print_status(job: &Job, s: &GuestStatus) {
    if job.ctx.inv.common.output == phoenix_host::OutputFormat::Json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
        return;
    }
    println!("status: {}", s.state.as_deref().unwrap_or("absent"));
    println!("name: {}", s.name);
    println!("drift: {}", s.drift_column());
    for c in &s.drift {
        println!("  ~ {c}");
    }
    for n in &s.notes {
        println!("note: {n}");
    }
}

/// `status` verb of either kind: the live name (`name_key` of the conf, else the configured
/// one), state and drift (`drift` of the conf), notes from the record.
pub fn status_verb(
    job: &Job,
    (name_key, configured): (&str, &str),
    template: bool,
    features: &[phoenix_config::FeatureName],
    drift: impl FnOnce(&Conf) -> Result<Vec<phoenix_report::Change>, String>,
) -> GuestResult<()> {
    let conf = job.conf("status")?;
    let name = conf
        .as_ref()
        .and_then(|c| c.get(name_key))
        .unwrap_or(configured)
        .to_string();
    let drift = conf.as_ref().map(drift).unwrap_or(Ok(Vec::new()));
    let rec = RecordFile::load(&job.records_dir(), job.guest.id);
    let notes = rec.record.dropped_note(features).into_iter().collect();
    let s = status_of(job, &name, template, conf.as_ref(), drift, notes)?;
    print_status(job, &s);
    Ok(())
}

/// The status of this job's guest from its conf, state and drift.
pub fn status_of(
    job: &Job,
    name: &str,
    template: bool,
    conf: Option<&Conf>,
    drift: Result<Vec<phoenix_report::Change>, String>,
    notes: Vec<String>,
) -> GuestResult<GuestStatus> {
    let state = match conf {
        Some(_) => Some(job.state("status")?),
        None => None,
    };
    let (sync, drift, problems) = match (conf, drift) {
        (None, _) => (Sync::Absent, Vec::new(), Vec::new()),
        (Some(_), Err(e)) => (Sync::Error, Vec::new(), vec![e]),
        (Some(_), Ok(d)) if d.is_empty() => (Sync::InSync, d, Vec::new()),
        (Some(_), Ok(d)) => (Sync::Drifted, d, Vec::new()),
    };
    Ok(GuestStatus {
        id: job.guest.id,
        kind: job.guest.kind,
        name: name.to_string(),
        template,
        exists: conf.is_some(),
        state,
        managed: true,
        sync,
        drift,
        notes,
        problems,
    })
}

/// A disk brought to `want_gb`: grown when smaller (`PUT .../resize`); refused when larger,
/// since Proxmox cannot shrink a disk (the plan fails for that guest, it never reports the
/// larger disk as the desired state). `setting` names the config key; `have`: live bytes.
pub fn disk_step(
    t: &crate::Target,
    step: &str,
    disk: &str,
    have: Option<u64>,
    want_gb: u64,
    setting: &str,
) -> Step {
    let s = Step::new(step);
    let Some(have) = have else { return s };
    let size = pve::propstring::format_size;
    match have.cmp(&(want_gb << 30)) {
        std::cmp::Ordering::Equal => s,
        std::cmp::Ordering::Greater => s.refuse(format!(
            "{setting} {want_gb} is below the live {disk} ({}); Proxmox cannot shrink a disk: raise {setting}, or recreate the guest",
            size(have)
        )),
        std::cmp::Ordering::Less => s.with(
            Action::api(
                step,
                format!("{disk} is smaller than {setting}"),
                t.req(Method::Put, "/resize")
                    .param("disk", disk)
                    .param("size", format!("{want_gb}G")),
            )
            .changes(vec![phoenix_report::Change::new(
                format!("{disk}.size"),
                Some(&size(have)),
                Some(&format!("{want_gb}G")),
            )]),
        ),
    }
}

/// `delete <id> --unmanaged`: only for a guest no config file defines; then as `delete`.
pub fn delete_unmanaged(
    job: &Job,
    delete: impl FnOnce(&Job) -> GuestResult<()>,
) -> GuestResult<()> {
    if job.config().guest(job.id()).is_some() {
        return Err(job.err(
            "delete",
            "is defined in the config; delete it without --unmanaged",
        ));
    }
    delete(job)
}

/// `test` verb of both managers: `bash <runner> <id> [--suite S]` on the node, with the
/// environment contract (here for the local transports, over SSH with the scripts staged for
/// the API's), its output streamed.
pub fn run_test_runner(job: &Job, runner: &std::path::Path) -> GuestResult<crate::ExecOutput> {
    let mut args = vec![runner.display().to_string(), job.guest.id.to_string()];
    if let Some(s) = &job.ctx.inv.suite {
        args.extend(["--suite".to_string(), s.clone()]);
    }
    job.transport
        .node_run(&crate::NodeCommand {
            program: "bash".into(),
            args,
            env: Vec::new(),
            stream: true,
            what: "test_runner.sh".into(),
        })
        .map_err(|e| job.err("test", e.0))
}
