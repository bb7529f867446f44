//! `vm-manager <verb> <vmid>`: one VM per process (docs/vms.md). Routes the verb to the
//! library (`vm_manager`); a failed step is reported as `Error: VM <id>: <step>: <what>`
//! (exit 1).

use phoenix_config::GuestKind;
use phoenix_guest::Job;
use phoenix_host::manager;
use vm_manager::{create, lifecycle};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let ctx = match manager::start(
        "vm-manager",
        "Phoenix manager for Proxmox VMs",
        manager::GUEST_VERBS,
        true,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let job = Job::new(&ctx, GuestKind::Vm);
    if ctx.inv.unmanaged {
        let r = lifecycle::delete_unmanaged(&job);
        return phoenix_guest::finish(&job, r);
    }
    if ctx.config.vm_entry(ctx.id()).is_none() {
        let e = job.err(
            "config",
            format!("not defined in {}", ctx.config.paths.vm_path().display()),
        );
        return phoenix_guest::finish(&job, Err(e));
    }
    let result = match ctx.inv.verb {
        "create" => create::create(&job),
        "reconfigure" => create::reconfigure(&job),
        "delete" => lifecycle::delete(&job),
        "start" => lifecycle::start(&job),
        "stop" => phoenix_guest::lifecycle::stop(&job),
        "restart" => lifecycle::restart(&job),
        "status" => lifecycle::status(&job),
        "test" => match lifecycle::test(&job) {
            Ok(code) => {
                job.finish();
                return code;
            }
            Err(e) => Err(e),
        },
        other => Err(job.err("verb", format!("'{other}' is not handled"))),
    };
    let (reads, changes) = ctx.runner.counts();
    log::info!("VM {}: {reads} read(s), {changes} change(s)", ctx.id());
    phoenix_guest::finish(&job, result)
}
