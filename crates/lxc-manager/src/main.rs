//! `lxc-manager`: one guest per process; each verb a check-then-act state machine.

use phoenix_host::{exit, manager};

const VERBS: &[&str] = &["create", "delete", "start", "stop", "restart", "status", "reconfigure", "test"];

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let inv = match manager::parse("lxc-manager", "Phoenix manager for Proxmox containers", VERBS, true) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let ctx = match manager::Context::start(inv) {
        Ok(c) => c,
        Err(code) => return code,
    };
    eprintln!("Error: lxc-manager {} {}: this verb is not implemented yet", ctx.inv.verb, ctx.id());
    exit::FAILURE
}
