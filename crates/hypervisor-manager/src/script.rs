//! Running one host script with the environment contract, its output streamed to ours.

use std::path::Path;
use std::process::{Command, Stdio};

use phoenix_host::exit;
use phoenix_host::manager::Context;

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Ok,
    /// Non-zero exit code.
    Failed(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Ended {
    /// The exit code this manager should end with after the script.
    pub fn exit_code(self) -> i32 {
        match self {
            Ended::Ok => exit::SUCCESS,
            Ended::Failed(_) => exit::FAILURE,
            Ended::Signal(15) => exit::TERMINATED,
            Ended::Signal(2) => exit::INTERRUPTED,
            Ended::Signal(s) => 128 + s,
        }
    }

    /// The code to show in a message (`128 + signal` for a signal).
    pub fn shown_code(self) -> i32 {
        match self {
            Ended::Ok => 0,
            Ended::Failed(c) => c,
            Ended::Signal(s) => 128 + s,
        }
    }
}

/// Runs `bash <script> <args...>` with the contract's variables plus `extra`; stdin is empty,
/// stdout and stderr are the manager's.
pub fn run(
    ctx: &Context,
    script: &Path,
    args: &[String],
    extra: &[(&str, String)],
) -> Result<Ended, String> {
    let mut cmd = Command::new("bash");
    cmd.arg(script).args(args).stdin(Stdio::null());
    ctx.env.apply(&mut cmd, Some(&ctx.config));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    log::debug!("exec: bash {} {}", script.display(), args.join(" "));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    Ok(match status.code() {
        Some(0) => Ended::Ok,
        Some(c) => Ended::Failed(c),
        None => {
            use std::os::unix::process::ExitStatusExt;
            Ended::Signal(status.signal().unwrap_or(0))
        }
    })
}
