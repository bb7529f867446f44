//! `hypervisor-manager`: host set-up and host tests.

use phoenix_host::{exit, manager};

const VERBS: &[&str] = &["setup", "test"];

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let inv = match manager::parse("hypervisor-manager", "Phoenix manager for the Proxmox host itself", VERBS, false) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let ctx = match manager::Context::start(inv) {
        Ok(c) => c,
        Err(code) => return code,
    };
    eprintln!("Error: hypervisor-manager {}: this verb is not implemented yet", ctx.inv.verb);
    exit::FAILURE
}
