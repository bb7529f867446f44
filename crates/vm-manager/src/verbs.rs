//! The verbs of `vm-manager`: which library function handles each.

use phoenix_config::GuestKind;
use phoenix_guest::{GuestResult, Job};

use crate::{create, lifecycle};

/// The guest verbs plus `health-check` (the Bash CLI's VM foundation check).
fn verbs() -> &'static [&'static str] {
    let mut v = phoenix_host::manager::GUEST_VERBS.to_vec();
    v.push("health-check");
    Vec::leak(v)
}

/// The manager's `main`: its exit code.
pub fn main() -> i32 {
    let id = ("vm-manager", "Phoenix manager for Proxmox VMs", verbs());
    phoenix_guest::run_manager(id, GuestKind::Vm, route, lifecycle::delete)
}

/// Routes one verb (`delete --unmanaged` is routed by the guest core).
fn route(job: &Job) -> GuestResult<i32> {
    let ctx = job.ctx;
    let vm = job.defined(ctx.config.vm(ctx.id()))?;
    let done = match ctx.inv.verb {
        "create" => create::create(job, vm),
        "reconfigure" => create::reconfigure(job, vm),
        "delete" => lifecycle::delete(job),
        "start" => lifecycle::start(job),
        "stop" => phoenix_guest::lifecycle::stop(job),
        "restart" => lifecycle::restart(job),
        "status" => lifecycle::status(job, vm),
        "test" => return lifecycle::test(job),
        "health-check" => crate::health::health_check(job, vm),
        other => Err(job.err("verb", format!("'{other}' is not handled"))),
    };
    let (reads, changes) = ctx.runner.counts();
    log::info!("VM {}: {reads} read(s), {changes} change(s)", ctx.id());
    done.map(|_| 0)
}
