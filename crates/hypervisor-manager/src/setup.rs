//! `hypervisor-manager setup`: the host set-up steps, in order.
//!
//! The sequence is `setup_sequence` of the hypervisor config, else [`DEFAULT_SEQUENCE`]. Step
//! `<step>` is the script `<scripts>/hypervisor_setup/hypervisor_feature_<step>.sh`; every script
//! is checked to exist before the first one runs. Each runs with the environment contract
//! (`PHOENIX_CONFIG`, `PHOENIX_HOST_ROOT`, `PHOENIX_DRY_RUN`, ...), plus `PHOENIX_SETUP_STEP` and
//! `PHOENIX_WIPE_DISKS=1` under `--wipe-disks`; its output is streamed. The host run lock is
//! held by [`Context::start`] (or by the dispatcher that started us). The first failing step
//! ends the run: `Error: setup step '<step>' failed (exit N)`.
//!
//! Step `initial_setup` is followed by the planned step of the host's own address
//! (`network.rs`: `network.interfaces`), step `firewall` by that of the cluster's rules
//! (`firewall.rs`: the config's global rules in `cluster.fw` `[RULES]`, the operator's kept).
//!
//! The scripts are idempotent: a re-run re-checks every step and changes nothing on a configured
//! host. After a complete run (not a dry run) the marker file `core_paths.hypervisor_marker`
//! (under `PHOENIX_HOST_ROOT`, on the node under the `api` transport) records the steps; it is
//! rewritten only when they differ. With `--node NAME` all of this is that node's
//! (`crate::node`), and the scripts also see `PHOENIX_NODE=NAME`.

use std::path::{Path, PathBuf};

use phoenix_config::FeatureName;
use phoenix_host::exit;
use phoenix_host::manager::Context;

use phoenix_report::{Event, EventKind, Reporter};

use crate::script::{self, Ended};

/// Steps when the config has no `setup_sequence`.
pub const DEFAULT_SEQUENCE: &[&str] = &[
    "initial_setup",
    "zfs",
    "vfio",
    "nvidia",
    "firewall",
    "nfs",
    "users",
    "samba",
    "shared_resources",
    "apparmor",
    "tunables",
];

/// Marker file when `core_paths.hypervisor_marker` is absent.
pub const DEFAULT_MARKER: &str =
    "/usr/local/phoenix_hypervisor/lib/.phoenix_hypervisor_initialized";

pub fn run(ctx: &Context, r: &Reporter) -> i32 {
    if ctx.inv.suite.is_some() {
        r.emit(
            Event::new(EventKind::Note, None).message("--suite applies to 'test' only; ignored"),
        );
    }
    let steps = sequence(ctx);
    let scripts = match resolve_scripts(&ctx.env.scripts_dir, &steps) {
        Ok(s) => s,
        Err(msg) => {
            crate::fail(r, msg);
            return exit::FAILURE;
        }
    };
    let marker = ctx.env.host_path(Path::new(marker_setting(ctx)));
    if marker.exists() {
        log::info!(
            "the host was set up before ({}); re-checking every step",
            marker.display()
        );
    }
    if let Err(code) = run_steps(ctx, r, &steps, &scripts) {
        return code;
    }
    let done = |m: String| r.emit(Event::new(EventKind::Done, None).message(m));
    if ctx.env.dry_run {
        done(format!(
            "dry run: {} set-up steps checked; nothing was changed",
            steps.len()
        ));
        return exit::SUCCESS;
    }
    if let Err(e) = write_marker(ctx, &marker, &steps) {
        crate::fail(
            r,
            format!(
                "all set-up steps passed, but the marker {} could not be written: {e}",
                marker.display()
            ),
        );
        return exit::FAILURE;
    }
    done(format!("host set-up complete: {} steps", steps.len()));
    exit::SUCCESS
}

/// `setup_sequence` of the config, else the default.
pub fn sequence(ctx: &Context) -> Vec<FeatureName> {
    match &ctx.config.hypervisor.setup_sequence {
        Some(s) => s.clone(),
        None => default_sequence(),
    }
}

/// [`DEFAULT_SEQUENCE`] as step names (each one valid: see the test).
pub fn default_sequence() -> Vec<FeatureName> {
    DEFAULT_SEQUENCE
        .iter()
        .filter_map(|s| FeatureName::new(*s).ok())
        .collect()
}

fn marker_setting(ctx: &Context) -> &str {
    ctx.config
        .hypervisor
        .core_paths
        .hypervisor_marker
        .as_deref()
        .unwrap_or(DEFAULT_MARKER)
}

/// The script of every step; every missing one at once. (Step names are `FeatureName`s: the
/// config checked them, so each is safe in a file name.)
pub fn resolve_scripts(scripts_dir: &Path, steps: &[FeatureName]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for step in steps {
        let p = scripts_dir
            .join("hypervisor_setup")
            .join(format!("hypervisor_feature_{step}.sh"));
        if !p.is_file() {
            problems.push(format!(
                "set-up step '{step}' has no script {}",
                p.display()
            ));
        }
        out.push(p);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("\nError: "))
    }
}

/// Runs the steps in order; each is a `host` event (begun, then ok or failed).
fn run_steps(
    ctx: &Context,
    r: &Reporter,
    steps: &[FeatureName],
    scripts: &[PathBuf],
) -> Result<(), i32> {
    let n = steps.len();
    for (i, (step, path)) in steps.iter().zip(scripts).enumerate() {
        r.emit(
            Event::new(EventKind::Begin, None).message(format!("setup step {}/{n}: {step}", i + 1)),
        );
        let mut extra = vec![("PHOENIX_SETUP_STEP", step.to_string())];
        if let Some(n) = &ctx.inv.node {
            extra.push(("PHOENIX_NODE", n.clone()));
        }
        if ctx.inv.wipe_disks {
            extra.push(("PHOENIX_WIPE_DISKS", "1".to_string()));
        }
        let changes = ChangesFile::new(ctx);
        if let Some(c) = &changes {
            extra.push((CHANGES_FILE_VAR, c.path()));
        }
        match script::run(ctx, path, &[], &extra) {
            Ok(Ended::Ok) => {
                r.emit(step_event(step, changes.as_ref()));
                match step.as_str() {
                    "firewall" => crate::firewall::run(ctx, r)?,
                    "initial_setup" => crate::network::run(ctx, r)?,
                    _ => {}
                }
            }
            Ok(e) => {
                crate::fail(
                    r,
                    format!("setup step '{step}' failed (exit {})", e.shown_code()),
                );
                return Err(e.exit_code());
            }
            Err(e) => {
                crate::fail(r, format!("setup step '{step}': {e}"));
                return Err(exit::FAILURE);
            }
        }
    }
    Ok(())
}

/// Where a step script's helpers list what they changed (`phoenix_note_change` in
/// `scripts/phoenix_hypervisor_common_utils.sh`): one line per mutating command or written file.
pub const CHANGES_FILE_VAR: &str = "PHOENIX_CHANGES_FILE";

/// The list of a step's changes, read after it ran. Only where the script runs on this machine
/// (also the `api` transport's simulated node): over SSH the file would be on the node, so the
/// step reports ok.
struct ChangesFile(tempfile::NamedTempFile);

impl ChangesFile {
    fn new(ctx: &Context) -> Option<ChangesFile> {
        let over_ssh =
            ctx.env.transport == phoenix_host::TransportKind::Api && ctx.env.sim.is_none();
        if over_ssh || ctx.env.dry_run {
            return None;
        }
        tempfile::Builder::new()
            .prefix("phoenix-setup-changes.")
            .tempfile()
            .ok()
            .map(ChangesFile)
    }

    fn path(&self) -> String {
        self.0.path().display().to_string()
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.0.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// `changed` when the step's helpers noted a change, else `ok`.
fn step_event(step: &FeatureName, changes: Option<&ChangesFile>) -> Event {
    let name = format!("setup {step}");
    let lines = changes.map(ChangesFile::lines).unwrap_or_default();
    match lines.as_slice() {
        [] => Event::new(EventKind::Unchanged, None).step(name),
        [one] => Event::new(EventKind::Changed, None)
            .step(name)
            .message(one.clone()),
        [first, rest @ ..] => Event::new(EventKind::Changed, None)
            .step(name)
            .message(format!("{first} (and {} more changes)", rest.len())),
    }
}

/// The marker's content for `steps` (no timestamp, so a re-run leaves it alone).
pub fn marker_content(steps: &[FeatureName]) -> String {
    format!(
        "# Phoenix hypervisor set-up completed (hypervisor-manager setup)\nsteps={}\n",
        steps
            .iter()
            .map(FeatureName::as_str)
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// Writes the marker atomically when absent or different, on the node the steps ran on
/// (through the `api` transport's node-local work: over SSH, the node's file system).
fn write_marker(ctx: &Context, path: &Path, steps: &[FeatureName]) -> Result<(), String> {
    let content = marker_content(steps);
    if ctx.env.transport == phoenix_host::TransportKind::Api {
        let node = crate::node::work(ctx)?;
        if node.read(path).map_err(|e| e.0)?.as_deref() == Some(content.as_bytes()) {
            return Ok(());
        }
        return node.write(path, content.as_bytes(), false).map_err(|e| e.0);
    }
    if std::fs::read_to_string(path).is_ok_and(|c| c == content) {
        return Ok(());
    }
    phoenix_host::fs::write_atomic(path, content.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(names: &[&str]) -> Vec<FeatureName> {
        names.iter().map(|s| s.parse().expect("step")).collect()
    }

    #[test]
    fn unknown_steps_are_all_reported_and_invalid_names_never_reach_a_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = resolve_scripts(dir.path(), &steps(&["zfs", "nfs"])).expect_err("must fail");
        assert!(err.contains("set-up step 'zfs' has no script"), "{err}");
        assert!(err.contains("set-up step 'nfs' has no script"), "{err}");
        assert!("no such".parse::<FeatureName>().is_err());
        assert!("../x".parse::<FeatureName>().is_err());
    }

    #[test]
    fn the_default_sequence_is_all_valid_names() {
        assert_eq!(default_sequence().len(), DEFAULT_SEQUENCE.len());
    }

    #[test]
    fn marker_content_is_stable() {
        let s = steps(&["zfs", "nfs"]);
        assert_eq!(marker_content(&s), marker_content(&s));
        assert!(marker_content(&s).contains("steps=zfs,nfs"));
    }
}
