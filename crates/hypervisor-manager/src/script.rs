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
/// stdout and stderr are the manager's. On the node: here, or over SSH (scripts staged there)
/// under the `api` transport.
pub fn run(
    ctx: &Context,
    script: &Path,
    args: &[String],
    extra: &[(&str, String)],
) -> Result<Ended, String> {
    if ctx.env.transport == phoenix_host::TransportKind::Api {
        return on_node(ctx, script, args, extra);
    }
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

/// [`run`] through the `api` transport's node-local work (SSH).
fn on_node(
    ctx: &Context,
    script: &Path,
    args: &[String],
    extra: &[(&str, String)],
) -> Result<Ended, String> {
    let node = crate::node::work(ctx)?;
    let mut argv = vec![script.display().to_string()];
    argv.extend(args.iter().cloned());
    let out = node
        .run(&phoenix_guest::NodeCommand {
            program: "bash".into(),
            args: argv,
            env: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            stream: true,
            what: script.display().to_string(),
        })
        .map_err(|e| e.0)?;
    Ok(match out.code {
        0 => Ended::Ok,
        c => Ended::Failed(c),
    })
}
