//! The QEMU guest agent, through `qm guest cmd` / `qm guest exec` / `qm guest exec-status`
//! only (there is no `qm push` for VMs).
//!
//! `qm guest exec` exits 0 whatever the guest command returned: the result is the `exitcode` of
//! the JSON it prints. When the command outlives `--timeout` it prints only `{"pid": N}` and we
//! poll `qm guest exec-status <vmid> <pid>` until `exited`. Files are transferred by feeding
//! them on stdin (`--pass-stdin 1`) to `sh -c 'cat > "$0"' <path>`, in chunks of at most
//! [`STDIN_LIMIT`] bytes (Proxmox: "Allows maximal 1 MiB"), the later ones appended.

use std::time::{Duration, Instant};

use phoenix_config::GuestId;
use phoenix_host::Runner;
use pve::output::{parse_guest_exec, parse_guest_exec_status, GuestExec, GuestExecStatus};

use crate::fail::{AtStep, Fail, StepResult};

/// Most bytes `qm guest exec --pass-stdin` forwards (qm(1): "Allows maximal 1 MiB").
pub const STDIN_LIMIT: usize = 1 << 20;
/// Seconds `qm guest exec` waits synchronously before printing the pid
/// (`PHOENIX_VM_EXEC_WAIT_SECS` overrides).
pub const DEFAULT_EXEC_WAIT_SECS: u64 = 30;
/// Longest a guest command may run (`PHOENIX_VM_EXEC_MAX_SECS` overrides).
pub const DEFAULT_EXEC_MAX_SECS: u64 = 3600;

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One VM's guest agent.
pub struct Agent<'a> {
    pub runner: &'a Runner,
    pub id: GuestId,
    pub poll: Duration,
}

impl<'a> Agent<'a> {
    pub fn new(runner: &'a Runner, id: GuestId, poll_secs: u64) -> Agent<'a> {
        Agent {
            runner,
            id,
            poll: Duration::from_secs(poll_secs.max(1)),
        }
    }

    /// Pings until the agent answers or `timeout_secs` pass.
    pub fn wait_ready(&self, timeout_secs: u64) -> StepResult<()> {
        let start = Instant::now();
        let args = [
            "guest".to_string(),
            "cmd".into(),
            self.id.to_string(),
            "ping".into(),
        ];
        loop {
            let last = match self.runner.probe("qm", &args) {
                Ok(o) if o.success() => return Ok(()),
                Ok(o) => o.stderr,
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= Duration::from_secs(timeout_secs) {
                return Err(Fail::new(
                    "guest agent",
                    format!(
                        "no answer to 'qm guest cmd {} ping' after {}s (guest_agent_timeout_secs {timeout_secs}); last error: {}",
                        self.id,
                        start.elapsed().as_secs(),
                        last.trim()
                    ),
                ));
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Runs `argv` in the guest (optionally feeding `stdin`) and waits for its result.
    pub fn exec(
        &self,
        step: &str,
        argv: &[&str],
        stdin: Option<&[u8]>,
    ) -> StepResult<GuestExecStatus> {
        let wait = env_secs("PHOENIX_VM_EXEC_WAIT_SECS", DEFAULT_EXEC_WAIT_SECS);
        let mut args = vec![
            "guest".to_string(),
            "exec".into(),
            self.id.to_string(),
            "--timeout".into(),
            wait.to_string(),
        ];
        if stdin.is_some() {
            args.extend(["--pass-stdin".to_string(), "1".into()]);
        }
        args.push("--".into());
        args.extend(argv.iter().map(|a| a.to_string()));
        let out = self.runner.change_with_stdin("qm", &args, stdin).at(step)?;
        if self.runner.dry_run {
            return Ok(GuestExecStatus {
                exited: true,
                exitcode: Some(0),
                ..Default::default()
            });
        }
        match parse_guest_exec(&out)
            .map_err(|e| Fail::new(step, format!("unexpected 'qm guest exec' output: {e}")))?
        {
            GuestExec::Finished(s) => Ok(s),
            GuestExec::Running { pid } => self.wait_pid(step, pid),
        }
    }

    /// Polls `qm guest exec-status` until the process exited.
    fn wait_pid(&self, step: &str, pid: u64) -> StepResult<GuestExecStatus> {
        let max = Duration::from_secs(env_secs("PHOENIX_VM_EXEC_MAX_SECS", DEFAULT_EXEC_MAX_SECS));
        let start = Instant::now();
        let args = [
            "guest".to_string(),
            "exec-status".into(),
            self.id.to_string(),
            pid.to_string(),
        ];
        loop {
            let out = self.runner.read("qm", &args).at(step)?;
            let s = parse_guest_exec_status(&out).map_err(|e| {
                Fail::new(
                    step,
                    format!("unexpected 'qm guest exec-status' output: {e}"),
                )
            })?;
            if s.exited {
                return Ok(s);
            }
            if start.elapsed() >= max {
                return Err(Fail::new(
                    step,
                    format!(
                        "guest process {pid} still running after {}s",
                        start.elapsed().as_secs()
                    ),
                ));
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Runs `argv` and fails the step unless the guest command exited 0.
    pub fn run_ok(
        &self,
        step: &str,
        argv: &[&str],
        stdin: Option<&[u8]>,
    ) -> StepResult<GuestExecStatus> {
        let s = self.exec(step, argv, stdin)?;
        match s.exitcode {
            Some(0) => Ok(s),
            code => Err(Fail::new(step, failure_text(argv, code, &s))),
        }
    }

    /// Writes `data` to `path` in the guest (parent folders created), in chunks.
    pub fn write_file(&self, step: &str, path: &str, data: &[u8]) -> StepResult<()> {
        let first = r#"mkdir -p "$(dirname "$0")" && cat > "$0""#;
        let next = r#"cat >> "$0""#;
        let mut chunks = data.chunks(STDIN_LIMIT).peekable();
        if chunks.peek().is_none() {
            self.run_ok(step, &["sh", "-c", first, path], Some(&[]))?;
            return Ok(());
        }
        for (i, chunk) in chunks.enumerate() {
            let script = if i == 0 { first } else { next };
            self.run_ok(step, &["sh", "-c", script, path], Some(chunk))?;
        }
        Ok(())
    }
}

/// `<cmd> exited <code>: <err-data or out-data, last lines>`.
pub fn failure_text(argv: &[&str], code: Option<i32>, s: &GuestExecStatus) -> String {
    let shown = argv.iter().take(4).copied().collect::<Vec<_>>().join(" ");
    let detail = s
        .err_data
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .or(s.out_data.as_deref())
        .unwrap_or("")
        .trim();
    let tail: Vec<&str> = detail.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let code = code.map_or("without an exit code".to_string(), |c| format!("exit {c}"));
    if tail.is_empty() {
        format!("`{shown}` failed in the guest ({code})")
    } else {
        format!(
            "`{shown}` failed in the guest ({code}): {}",
            tail.join("\n  ")
        )
    }
}
