//! `lxc-manager`: one container per process. Routes the verb to the library
//! (`lxc_manager`), which plans each step and applies it through the guest core; a failed step
//! is reported as `Error: container <id>: <step>: <what>` (exit 1).

use lxc_manager::{create, lifecycle, tests};
use phoenix_config::GuestKind;
use phoenix_guest::Job;
use phoenix_host::manager;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let ctx = match manager::start(
        "lxc-manager",
        "Phoenix manager for Proxmox containers",
        manager::GUEST_VERBS,
        true,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let job = Job::new(&ctx, GuestKind::Lxc);
    let result = match ctx.config.lxc(ctx.id()) {
        _ if ctx.inv.unmanaged => lifecycle::delete_unmanaged(&job),
        None => Err(job.err(
            "config",
            format!("not defined in {}", ctx.config.paths.lxc.display()),
        )),
        Some(lxc) => match ctx.inv.verb {
            "create" => create::create(&job, lxc),
            "reconfigure" => create::reconfigure(&job, lxc),
            "delete" => lifecycle::delete(&job),
            "start" => lifecycle::start(&job),
            "stop" => phoenix_guest::lifecycle::stop(&job),
            "restart" => lifecycle::restart(&job),
            "status" => lifecycle::status(&job, lxc),
            _ => tests::run(&job, lxc),
        },
    };
    phoenix_guest::finish(&job, result)
}
