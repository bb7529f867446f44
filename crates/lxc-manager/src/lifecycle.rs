//! Run state: `status`, `start` (with retries that wait on the container's status, never on a
//! fixed sleep), `stop`, `restart`, `delete`.

use std::time::{Duration, Instant};

use phoenix_host::OutputFormat;

use crate::conffile;
use crate::step::{fail, tool, Job, StepResult};

/// How often a wait polls `pct status`.
const POLL: Duration = Duration::from_millis(200);

/// `running`, `stopped`, ... as `pct status` reports it.
pub fn status(job: &Job, step: &'static str) -> StepResult<String> {
    let out = job
        .ctx
        .runner
        .read("pct", &["status".to_string(), job.ids()])
        .map_err(tool(step))?;
    pve::output::parse_status(&out).map_err(|e| fail(step, e.to_string()))
}

/// Polls the status until it is `want` or `timeout` passed; returns whether it got there.
fn wait_for(job: &Job, want: &str, timeout: Duration) -> StepResult<bool> {
    let end = Instant::now() + timeout;
    loop {
        if status(job, "start")? == want {
            return Ok(true);
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
    }
}

/// Starts the container unless running: `orchestration.start_retries` attempts; after a failed
/// attempt the status is polled for `start_retry_interval_secs` before the next one.
/// Returns whether a start was (or, under `--dry-run`, would be) issued.
pub fn ensure_running(job: &Job) -> StepResult<bool> {
    if status(job, "start")? == "running" {
        return Ok(false);
    }
    let o = &job.ctx.config.hypervisor.orchestration;
    let attempts = o.start_retries.unwrap_or(3).max(1);
    let interval = Duration::from_secs(o.start_retry_interval_secs.unwrap_or(2).max(1));
    let mut last = String::new();
    for attempt in 1..=attempts {
        match job.pct_change("start", &["start".to_string(), job.ids()]) {
            Ok(_) if job.dry_run() => return Ok(true),
            Ok(_) => {
                if wait_for(job, "running", interval)? {
                    job.say("started");
                    return Ok(true);
                }
                last = format!(
                    "still not running {}s after `pct start`",
                    interval.as_secs()
                );
            }
            Err(e) => last = e.msg,
        }
        if attempt < attempts {
            job.say(format!(
                "start attempt {attempt}/{attempts} failed ({last}); waiting for the status"
            ));
            if wait_for(job, "running", interval)? {
                return Ok(true);
            }
        }
    }
    Err(fail(
        "start",
        format!("not running after {attempts} attempts: {last}"),
    ))
}

/// `start` verb.
pub fn start(job: &Job) -> StepResult<()> {
    // `LetsGo --dry-run` on a new host: the create step before this one only printed its work.
    if job.ctx.runner.dry_run && !conffile::path(job).exists() {
        job.say("[dry-run] does not exist yet; it is started once created");
        return Ok(());
    }
    require(job, "start")?;
    let st = status(job, "start")?;
    if st == "running" {
        job.say("already running");
        return Ok(());
    }
    if job.ctx.config.guest(job.id).is_some_and(|g| g.is_template) {
        return Err(fail(
            "start",
            "is a template; templates are only started by `create` to install their features",
        ));
    }
    ensure_running(job).map(|_| ())
}

/// `stop` verb.
pub fn stop(job: &Job) -> StepResult<()> {
    require(job, "stop")?;
    if status(job, "stop")? != "running" {
        job.say("already stopped");
        return Ok(());
    }
    job.pct_change("stop", &["stop".to_string(), job.ids()])?;
    job.say("stopped");
    Ok(())
}

/// `restart` verb: reboot when running, else start.
pub fn restart(job: &Job) -> StepResult<()> {
    require(job, "restart")?;
    if status(job, "restart")? == "running" {
        job.pct_change("restart", &["reboot".to_string(), job.ids()])?;
        job.say("restarted");
        return Ok(());
    }
    start(job)
}

/// `delete` verb: stop when running, then `pct destroy <id> --purge`.
pub fn delete(job: &Job) -> StepResult<()> {
    if conffile::read(job, "delete")?.is_none() {
        job.say("does not exist; nothing to delete");
        crate::record::remove(job);
        return Ok(());
    }
    guard_clones(job)?;
    if status(job, "delete")? == "running" {
        job.pct_change("stop", &["stop".to_string(), job.ids()])?;
    }
    job.pct_change(
        "delete",
        &["destroy".to_string(), job.ids(), "--purge".to_string()],
    )?;
    if !job.dry_run() {
        crate::record::remove(job);
        job.say("destroyed");
    }
    Ok(())
}

/// Refuses to delete a container that existing configured containers were cloned from.
fn guard_clones(job: &Job) -> StepResult<()> {
    if job.ctx.inv.force {
        return Ok(());
    }
    let clones: Vec<String> = job
        .ctx
        .config
        .guests()
        .filter(|g| g.clone_from == Some(job.id))
        .filter(|g| conffile::conf_path(&job.ctx.env.pve_dir, g.id.0).exists())
        .map(|g| g.id.to_string())
        .collect();
    if clones.is_empty() {
        return Ok(());
    }
    Err(fail(
        "delete",
        format!(
            "containers {} were cloned from it; delete them first or pass --force",
            clones.join(", ")
        ),
    ))
}

fn require(job: &Job, step: &'static str) -> StepResult<()> {
    if conffile::path(job).exists() {
        Ok(())
    } else {
        Err(fail(
            step,
            format!("does not exist; run `lxc-manager create {}` first", job.id),
        ))
    }
}

/// `status` verb: `status: running` and the name (or JSON with `--output json`).
pub fn show(job: &Job) -> StepResult<()> {
    let conf = conffile::read(job, "status")?;
    let (state, name) = match &conf {
        Some(c) => (
            status(job, "status")?,
            c.get("hostname").unwrap_or(&job.lxc.name).to_string(),
        ),
        None => ("absent".to_string(), job.lxc.name.to_string()),
    };
    match job.ctx.inv.common.output {
        OutputFormat::Json => {
            let v = serde_json::json!({"id": job.id.0, "name": name, "status": state, "exists": conf.is_some()});
            println!("{v}");
        }
        OutputFormat::Text => {
            println!("status: {state}");
            println!("name: {name}");
        }
    }
    Ok(())
}
