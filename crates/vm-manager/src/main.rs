//! `vm-manager <verb> <vmid>`: one VM per process; each verb a check-then-act state machine
//! (docs/vms.md). Failures print `Error: VM <id>: <step>: <what>` and exit 1.

mod agent;
mod cloudinit;
mod create;
mod desired;
mod fail;
mod features;
mod health;
mod host;
mod image;
mod lifecycle;
mod nfs;
mod record;

use phoenix_host::{exit, manager};

fn main() {
    std::process::exit(run());
}

/// The guest verbs plus `health-check` (the Bash CLI's VM foundation check).
fn verbs() -> &'static [&'static str] {
    let mut v = manager::GUEST_VERBS.to_vec();
    v.push("health-check");
    Vec::leak(v)
}

fn run() -> i32 {
    let ctx = match manager::start(
        "vm-manager",
        "Phoenix manager for Proxmox VMs",
        verbs(),
        true,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = match ctx.inv.verb {
        "create" => create::create(&ctx).map(|_| exit::SUCCESS),
        "reconfigure" => create::reconfigure(&ctx).map(|_| exit::SUCCESS),
        "delete" => lifecycle::delete(&ctx).map(|_| exit::SUCCESS),
        "start" => lifecycle::start(&ctx).map(|_| exit::SUCCESS),
        "stop" => lifecycle::stop(&ctx).map(|_| exit::SUCCESS),
        "restart" => lifecycle::restart(&ctx).map(|_| exit::SUCCESS),
        "status" => lifecycle::status(&ctx).map(|_| exit::SUCCESS),
        "test" => lifecycle::test(&ctx),
        "health-check" => health::health_check(&ctx).map(|_| exit::SUCCESS),
        other => Err(fail::Fail::new("verb", format!("'{other}' is not handled"))),
    };
    let (reads, changes) = ctx.runner.counts();
    log::info!("VM {}: {reads} read(s), {changes} change(s)", ctx.id());
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("Error: VM {}: {}: {}", ctx.id(), f.step, f.what);
            exit::FAILURE
        }
    }
}
