//! The verbs of `lxc-manager`: which library function handles each.

use phoenix_config::GuestKind;
use phoenix_guest::{GuestResult, Job};

use crate::{create, lifecycle, tests};

/// The manager's `main`: its exit code.
pub fn main() -> i32 {
    let id = (
        "lxc-manager",
        "Phoenix manager for Proxmox containers",
        phoenix_host::manager::GUEST_VERBS,
    );
    phoenix_guest::run_manager(id, GuestKind::Lxc, route, lifecycle::delete)
}

/// Routes one verb (`delete --unmanaged` is routed by the guest core).
fn route(job: &Job) -> GuestResult<i32> {
    let lxc = job.defined(job.config().lxc(job.id()))?;
    match job.ctx.inv.verb {
        "create" => create::create(job, lxc),
        "reconfigure" => create::reconfigure(job, lxc),
        "delete" => lifecycle::delete(job),
        "start" => lifecycle::start(job),
        "stop" => phoenix_guest::lifecycle::stop(job),
        "restart" => lifecycle::restart(job),
        "status" => lifecycle::status(job, lxc),
        _ => tests::run(job, lxc),
    }
    .map(|_| 0)
}
