//! The error every step returns, and the per-run job a verb works on.
//!
//! A failed step must tell the user which container, which step and what went wrong in one line
//! (`Error: container 950: start: ...`); carrying the step name in the error keeps every step's
//! code free of printing.

use std::cell::Cell;
use std::fmt;

use phoenix_config::{GuestId, Lxc};
use phoenix_host::manager::Context;
use phoenix_host::ToolError;

/// A failed step: its name and what went wrong.
#[derive(Debug)]
pub struct StepError {
    pub step: &'static str,
    pub msg: String,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.msg)
    }
}

pub type StepResult<T> = Result<T, StepError>;

/// A `StepError` for `step`.
pub fn fail(step: &'static str, msg: impl Into<String>) -> StepError {
    StepError {
        step,
        msg: msg.into(),
    }
}

/// Maps a tool error to a step error.
pub fn tool(step: &'static str) -> impl Fn(ToolError) -> StepError {
    move |e| fail(step, e.to_string())
}

/// One container being worked on by one verb.
pub struct Job<'a> {
    pub ctx: &'a Context,
    pub id: GuestId,
    pub lxc: &'a Lxc,
    /// Whether anything on the host changed during this run (or would, under `--dry-run`).
    changed: Cell<bool>,
}

impl<'a> Job<'a> {
    pub fn new(ctx: &'a Context, id: GuestId, lxc: &'a Lxc) -> Job<'a> {
        Job {
            ctx,
            id,
            lxc,
            changed: Cell::new(false),
        }
    }

    pub fn mark_changed(&self) {
        self.changed.set(true);
    }

    pub fn changed(&self) -> bool {
        self.changed.get()
    }

    pub fn dry_run(&self) -> bool {
        self.ctx.runner.dry_run
    }

    /// The ID as an argv element.
    pub fn ids(&self) -> String {
        self.id.to_string()
    }

    /// Runs a mutating `pct` call and records that something changed.
    pub fn pct_change(&self, step: &'static str, args: &[String]) -> StepResult<String> {
        self.mark_changed();
        self.ctx.runner.change("pct", args).map_err(tool(step))
    }

    /// Holds the clone-source and storage slots for one call (see `phoenix_host::slots`).
    pub fn hold(
        &self,
        step: &'static str,
        resources: &[phoenix_host::slots::Resource],
    ) -> StepResult<phoenix_host::slots::Slots> {
        self.ctx.hold(resources).map_err(|e| fail(step, e))
    }

    /// A progress line for people (stderr, so stdout stays data).
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.ctx.inv.common.quiet {
            eprintln!("CT {}: {}", self.id, msg.as_ref());
        }
    }
}
