//! `hypervisor-manager`: host set-up and host tests.
//!
//! - `hypervisor-manager setup [--config PATH] [--wipe-disks] [--dry-run] [--sim[=DIR]]` runs the
//!   set-up steps (`scripts/hypervisor_setup/hypervisor_feature_<step>.sh`) in order, stopping at
//!   the first failure, and records a completed set-up in `core_paths.hypervisor_marker`
//!   (see [`setup`]).
//!   `--node NAME` sets up that node of `cluster.nodes` (see [`node`]).
//! - `hypervisor-manager test [--suite NAME]` runs `tests/hypervisor_test_runner.sh` with the
//!   host test suites of the config (see [`host_tests`]).
//! - `hypervisor-manager sync [all|certs|dns|gateway|portainer|stacks]` puts the service layer
//!   in place (see [`sync`]).
//!
//! Everything it says goes through the one reporter (`phoenix_report`), so under the
//! dispatcher its steps appear in the run's recap as the `host` row.

mod firewall;
mod host_tests;
mod hostfile;
mod network;
mod node;
mod script;
mod setup;
mod sync;

use phoenix_host::{exit, manager};
use phoenix_report::{Event, EventKind, Reporter, Verbosity};

const VERBS: &[&str] = &["setup", "test", "sync"];

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let mut ctx = match manager::start(
        "hypervisor-manager",
        "Phoenix manager for the Proxmox host itself: set-up steps and host tests",
        VERBS,
        false,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let common = &ctx.inv.common;
    let reporter = Reporter::from_env(
        common.output == phoenix_host::OutputFormat::Json,
        Verbosity {
            quiet: common.quiet,
            verbose: common.verbose,
        },
    );
    let code = match ctx.inv.verb {
        "setup" => match node::enter(&mut ctx, &reporter) {
            Ok(_node_config) => setup::run(&ctx, &reporter),
            Err(code) => code,
        },
        "test" => host_tests::run(&ctx, &reporter),
        "sync" => sync::run(&ctx, &reporter),
        other => {
            eprintln!("Error: Invalid verb '{other}'");
            exit::FAILURE
        }
    };
    reporter.finish();
    code
}

/// Reports a host failure (`Error: <message>`).
pub fn fail(r: &Reporter, msg: impl Into<String>) {
    r.emit(Event::new(EventKind::Failed, None).message(msg.into()));
}
