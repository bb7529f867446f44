//! `hypervisor-manager test [--suite NAME]`: runs `<scripts>/tests/hypervisor_test_runner.sh`,
//! passing `--suite NAME` on; without `--suite` the runner runs every suite of the config's
//! `tests`. The runner prints one `PASS`/`FAIL` line per test and a count; its failure is ours.

use phoenix_host::exit;
use phoenix_host::manager::Context;

use phoenix_report::{Event, EventKind, Reporter};

use crate::script;

/// The runner's path below the scripts folder.
pub const RUNNER: &str = "tests/hypervisor_test_runner.sh";

pub fn run(ctx: &Context, r: &Reporter) -> i32 {
    if ctx.inv.wipe_disks {
        r.emit(
            Event::new(EventKind::Note, None)
                .message("--wipe-disks applies to 'setup' only; ignored"),
        );
    }
    let runner = ctx.env.scripts_dir.join(RUNNER);
    if !runner.is_file() {
        crate::fail(
            r,
            format!(
                "host test runner {} not found (scripts folder {})",
                runner.display(),
                ctx.env.scripts_dir.display()
            ),
        );
        return exit::FAILURE;
    }
    let mut args = Vec::new();
    if let Some(s) = &ctx.inv.suite {
        args.push("--suite".to_string());
        args.push(s.clone());
    }
    match script::run(ctx, &runner, &args, &[]) {
        Ok(script::Ended::Ok) => {
            r.emit(Event::new(EventKind::Unchanged, None).step("host tests"));
            exit::SUCCESS
        }
        Ok(e) => {
            crate::fail(r, format!("host tests failed (exit {})", e.shown_code()));
            e.exit_code()
        }
        Err(e) => {
            crate::fail(r, e);
            exit::FAILURE
        }
    }
}
