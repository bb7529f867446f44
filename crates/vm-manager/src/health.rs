//! `vm-manager health-check <vmid>`: the Bash CLI's `phoenix health-check <vmid>` ("validates the
//! foundational health of a VM") in Phoenix's terms, with nothing hard-coded: the VM exists and
//! is not a template, it is running, its guest agent answers, and every one of its
//! `health_checks` passes (with its `retries` and `interval`). The checks run now, whatever the
//! host record says (`create` skips recorded ones); nothing on the host or in the guest is
//! changed, so they run through the executor's operations directly, not as a plan. The old
//! script's deployment-specific checks (fixed container IDs, host names, a Traefik URL) become
//! `health_checks` entries of the VM.

use phoenix_config::Vm;
use phoenix_guest::{GuestOp, GuestResult, Job, Op};

use crate::context::wait_agent;
use crate::host::is_template;

/// `vm-manager health-check <vmid>`.
pub fn health_check(job: &Job, vm: &Vm) -> GuestResult<()> {
    let step = "health-check";
    let conf = job.conf(step)?.ok_or_else(|| {
        job.err(
            step,
            format!(
                "the VM does not exist; create it first (phoenix create {})",
                vm.id
            ),
        )
    })?;
    if is_template(&conf) {
        return Err(job.err(
            step,
            "the VM is a template and never runs; check a VM cloned from it",
        ));
    }
    let state = job.state(step)?;
    if state != "running" {
        return Err(job.err(
            step,
            format!(
                "the VM is not running ({state}); start it first (phoenix start {})",
                vm.id
            ),
        ));
    }
    job.unchanged(step, Some("running".into()));
    job.run_op("guest agent", &Op::Guest(wait_agent(vm)))?;
    job.unchanged("guest agent", Some("guest agent answers".into()));
    for hc in &vm.health_checks {
        let check = GuestOp::health_check(hc);
        job.run_op(&format!("health check {}", hc.label()), &Op::Guest(check))?;
    }
    let checks = match vm.health_checks.len() {
        0 => "no health_checks configured".to_string(),
        1 => "1 health check".to_string(),
        n => format!("{n} health checks"),
    };
    job.done(format!(
        "foundation checks passed (running, guest agent, {checks})"
    ));
    Ok(())
}
