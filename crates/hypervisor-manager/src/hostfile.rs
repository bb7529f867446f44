//! A planned host file: read through the run's node-local work, compared with what the config
//! wants, written (then a check or reload command run) only when it differs; under
//! `--dry-run` the write is reported as planned and nothing runs. Each is one `host` step
//! of the run's report, with its attribute diff.

use std::path::{Path, PathBuf};

use phoenix_guest::node::NodeWork;
use phoenix_guest::NodeCommand;
use phoenix_host::exit;
use phoenix_host::manager::Context;
use phoenix_report::{Change, Event, EventKind, Reporter};

/// One file of the host and what to run after writing it.
pub struct HostFile {
    pub step: &'static str,
    pub path: PathBuf,
    /// Why it is written, when it differs.
    pub reason: String,
    /// Logged when it does not differ.
    pub in_place: String,
    /// Run after the write; must exit 0 (`pve-firewall compile`, `ifreload -a`).
    pub then: Option<NodeCommand>,
}

/// A command for [`HostFile::then`].
pub fn command(program: &str, args: &[&str]) -> NodeCommand {
    NodeCommand {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        stream: false,
        what: format!("{program} {}", args.join(" ")),
    }
}

/// The node-local work of the run, or the reported failure's exit code.
pub fn node<'a>(ctx: &'a Context, r: &Reporter, step: &str) -> Result<Box<dyn NodeWork + 'a>, i32> {
    crate::node::work(ctx).map_err(|e| {
        crate::fail(r, format!("{step}: {e}"));
        exit::FAILURE
    })
}

/// The file's text on the node (empty when absent).
pub fn read(node: &dyn NodeWork, r: &Reporter, step: &str, path: &Path) -> Result<String, i32> {
    node.read(path)
        .map(|b| {
            b.map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        })
        .map_err(|e| {
            crate::fail(r, format!("{step}: {}", e.0));
            exit::FAILURE
        })
}

/// Writes `new` when it is `Some` (the file differs), reporting the step either way.
pub fn apply(
    ctx: &Context,
    r: &Reporter,
    node: &dyn NodeWork,
    f: &HostFile,
    new: Option<String>,
    change: Change,
) -> Result<(), i32> {
    let fail = |msg: String| {
        crate::fail(r, format!("{}: {msg}", f.step));
        exit::FAILURE
    };
    let Some(new) = new else {
        // As the scripts' steps: a step found in place is `ok`, said only with `-v`.
        log::info!("{}: {}", f.step, f.in_place);
        r.emit(Event::new(EventKind::Unchanged, None).step(f.step));
        return Ok(());
    };
    let event = |kind| {
        Event::new(kind, None)
            .step(f.step)
            .message(f.reason.clone())
            .action(format!("write {}", f.path.display()))
            .changes(vec![change.clone()])
    };
    if ctx.env.dry_run {
        r.emit(event(EventKind::Planned));
        return Ok(());
    }
    node.write(&f.path, new.as_bytes(), false)
        .map_err(|e| fail(e.0))?;
    if let Some(c) = &f.then {
        let out = node.run(c).map_err(|e| fail(e.0))?;
        if !out.success() {
            return Err(fail(format!(
                "{} failed (exit {}) after writing {}: {}",
                c.what,
                out.code,
                f.path.display(),
                format!("{}{}", out.stdout, out.stderr).trim()
            )));
        }
    }
    r.emit(event(EventKind::Changed));
    Ok(())
}
