//! `vm-manager health-check <vmid>`: the Bash CLI's `phoenix health-check <vmid>` ("validates the
//! foundational health of a VM") in Phoenix's terms, with nothing hard-coded: the VM exists and
//! is not a template, it is running, its guest agent answers, and every one of its
//! `health_checks` passes (with its `retries` and `interval`). The checks run now, whatever the
//! host record says (`create` skips recorded ones); nothing on the host or in the guest is
//! changed. The old script's deployment-specific checks (fixed container IDs, host names, a
//! Traefik URL) become `health_checks` entries of the VM.

use std::time::Duration;

use phoenix_config::model::HealthCheck;
use phoenix_host::manager::Context;

use crate::agent::{failure_text, Agent};
use crate::desired::Desired;
use crate::fail::{Fail, StepResult};
use crate::host::{self, is_template};

/// Health check attempts when `retries` is not set.
pub const DEFAULT_RETRIES: u32 = 3;
/// Seconds between health check attempts when `interval` is not set.
pub const DEFAULT_INTERVAL_SECS: u64 = 5;

/// Runs one health check until it passes or runs out of attempts.
pub fn run_check(agent: &Agent, hc: &HealthCheck) -> StepResult<()> {
    let label = hc.name.clone().unwrap_or_else(|| hc.command.clone());
    let step = format!("health check {label}");
    let retries = hc.retries.unwrap_or(DEFAULT_RETRIES).max(1);
    let interval = Duration::from_secs(hc.interval.unwrap_or(DEFAULT_INTERVAL_SECS));
    let argv = ["sh", "-c", hc.command.as_str()];
    let mut attempt = 0;
    loop {
        attempt += 1;
        let s = agent.exec(&step, &argv, None)?;
        if s.exitcode == Some(0) {
            eprintln!(
                "VM {}: health check {label} passed (attempt {attempt}/{retries})",
                agent.id
            );
            return Ok(());
        }
        if attempt >= retries {
            return Err(Fail::new(
                step,
                format!(
                    "{} after {attempt} attempts",
                    failure_text(&argv, s.exitcode, &s)
                ),
            ));
        }
        std::thread::sleep(interval);
    }
}

/// `vm-manager health-check <vmid>`.
pub fn health_check(ctx: &Context) -> StepResult<()> {
    let step = "health-check";
    let d = Desired::load(&ctx.config, ctx.id())?;
    let conf = host::read_conf(&ctx.env, d.id)?.ok_or_else(|| {
        Fail::new(
            step,
            format!(
                "the VM does not exist; create it first (phoenix create {})",
                d.id
            ),
        )
    })?;
    if is_template(&conf) {
        return Err(Fail::new(
            step,
            "the VM is a template and never runs; check a VM cloned from it",
        ));
    }
    let state = host::status(&ctx.runner, d.id)?;
    if state != "running" {
        return Err(Fail::new(
            step,
            format!(
                "the VM is not running ({state}); start it first (phoenix start {})",
                d.id
            ),
        ));
    }
    eprintln!("VM {}: running", d.id);
    let agent = Agent::new(&ctx.runner, d.id, d.agent_poll_secs);
    agent.wait_ready(d.agent_timeout_secs)?;
    eprintln!("VM {}: guest agent answers", d.id);
    for hc in &d.health_checks {
        run_check(&agent, hc)?;
    }
    let checks = match d.health_checks.len() {
        0 => "no health_checks configured".to_string(),
        1 => "1 health check".to_string(),
        n => format!("{n} health checks"),
    };
    eprintln!(
        "VM {}: foundation checks passed (running, guest agent, {checks})",
        d.id
    );
    Ok(())
}
