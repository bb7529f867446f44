//! `lxc-manager`: one container per process; each verb a check-then-act state machine.
//!
//! This file only routes: parse (PHX-LXC-01 messages), load the config, pick the verb, print a
//! failed step as `Error: container <id>: <step>: <what>` and exit 1.

mod conffile;
mod create;
mod desired;
mod diff;
mod features;
mod firewall;
mod gpu;
mod lifecycle;
mod record;
mod step;
mod template;
mod tests;
mod volumes;

use phoenix_host::{exit, manager};

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
    let id = ctx.id();
    let Some(lxc) = ctx.config.lxc(id) else {
        eprintln!(
            "Error: container {id}: config: not defined in {}",
            ctx.config.paths.lxc.display()
        );
        return exit::FAILURE;
    };
    let job = step::Job::new(&ctx, id, lxc);
    let result = match ctx.inv.verb {
        "create" => create::create(&job),
        "reconfigure" => create::reconfigure(&job),
        "delete" => lifecycle::delete(&job),
        "start" => lifecycle::start(&job),
        "stop" => lifecycle::stop(&job),
        "restart" => lifecycle::restart(&job),
        "status" => lifecycle::show(&job),
        _ => tests::run(&job),
    };
    match result {
        Ok(()) => exit::SUCCESS,
        Err(e) => {
            eprintln!("Error: container {id}: {e}");
            exit::FAILURE
        }
    }
}
