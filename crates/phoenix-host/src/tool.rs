//! Running `pct`, `qm`, `pvesm`, `pveam` and scripts: always an argv, never a shell string.
//!
//! Whether a change runs at all is not decided here: under `--dry-run` the managers' executor
//! (`phoenix_guest::Job::apply`) never calls [`Runner::change`]. A Proxmox `can't lock file ... got timeout` is
//! retried with doubling back-off; a change refused with `CT <id> is locked (<x>)` waits until
//! that guest's config shows no `lock:` line, then runs again (a task such as another clone or
//! a backup holds it; retrying at once would only fail again). Values of secret options are
//! masked wherever a command is shown.

use std::cell::Cell;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Options whose value is never shown.
const SECRET_OPTIONS: &[&str] = &["--cipassword", "--password"];

/// Result of a finished command.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("`{cmd}` failed (exit {code}): {stderr}")]
    Failed {
        cmd: String,
        code: i32,
        stderr: String,
    },
    #[error("cannot run `{cmd}`: {why}")]
    Spawn { cmd: String, why: String },
}

impl ToolError {
    pub fn stderr(&self) -> &str {
        match self {
            ToolError::Failed { stderr, .. } => stderr,
            ToolError::Spawn { why, .. } => why,
        }
    }
}

/// Runs host tools for one binary.
#[derive(Debug)]
pub struct Runner {
    /// Retries of a Proxmox lock time-out.
    pub lock_retries: u32,
    pub lock_backoff: Duration,
    /// Where guest configs live and how long to wait out a `lock:` line; `None`: no waiting.
    pub guest_lock_wait: Option<(PathBuf, Duration)>,
    reads: Cell<u32>,
    changes: Cell<u32>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    pub fn new() -> Runner {
        Runner {
            lock_retries: 3,
            lock_backoff: Duration::from_millis(1000),
            guest_lock_wait: None,
            reads: Cell::new(0),
            changes: Cell::new(0),
        }
    }

    /// Reads and changes issued so far.
    pub fn counts(&self) -> (u32, u32) {
        (self.reads.get(), self.changes.get())
    }

    /// Runs a read-only command; its exit status is the caller's to judge.
    pub fn probe<S: AsRef<str>>(&self, tool: &str, args: &[S]) -> Result<ToolOutput, ToolError> {
        self.reads.set(self.reads.get() + 1);
        exec(tool, args, None)
    }

    /// Runs a read-only command that must succeed; returns its stdout.
    pub fn read<S: AsRef<str>>(&self, tool: &str, args: &[S]) -> Result<String, ToolError> {
        let out = self.probe(tool, args)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(failed(tool, args, &out))
        }
    }

    /// Runs a command that changes the host.
    pub fn change<S: AsRef<str>>(&self, tool: &str, args: &[S]) -> Result<String, ToolError> {
        self.change_with_stdin(tool, args, None)
    }

    /// Like [`Runner::change`], feeding `stdin` to the command.
    pub fn change_with_stdin<S: AsRef<str>>(
        &self,
        tool: &str,
        args: &[S],
        stdin: Option<&[u8]>,
    ) -> Result<String, ToolError> {
        self.changes.set(self.changes.get() + 1);
        log::info!("run: {}", display(tool, args));
        let mut delay = self.lock_backoff;
        let mut attempt = 0;
        let started = Instant::now();
        loop {
            let out = exec(tool, args, stdin)?;
            if out.success() {
                return Ok(out.stdout);
            }
            match self.wait_out_guest_lock(&out.stderr, started) {
                Some(Ok(())) => continue,
                Some(Err(still)) => {
                    return Err(ToolError::Failed {
                        cmd: display(tool, args),
                        code: out.code,
                        stderr: still.to_string(),
                    })
                }
                None => {}
            }
            if is_lock_timeout(&out.stderr) && attempt < self.lock_retries {
                attempt += 1;
                log::warn!(
                    "{}: Proxmox lock busy; retry {attempt}/{} in {:?}",
                    display(tool, args),
                    self.lock_retries,
                    delay
                );
                std::thread::sleep(delay);
                delay *= 2;
                continue;
            }
            return Err(failed(tool, args, &out));
        }
    }

    /// When `stderr` says a guest is locked: waits (counted from `started`, at most the
    /// configured wait) until its config has no `lock:` line. `None`: nothing to wait for.
    fn wait_out_guest_lock(
        &self,
        stderr: &str,
        started: Instant,
    ) -> Option<Result<(), crate::guestlock::StillLocked>> {
        use crate::guestlock::{conf_path, current_lock, locked_guest, wait_unlocked};
        use crate::guestlock::{StillLocked, POLL};
        let (pve_dir, max) = self.guest_lock_wait.as_ref()?;
        let (kind, id) = locked_guest(stderr)?;
        let left = max.saturating_sub(started.elapsed());
        if left.is_zero() {
            // The lock keeps coming back: give up like a lock that never went.
            let lock = current_lock(&conf_path(pve_dir, kind, id)).unwrap_or_default();
            return Some(Err(StillLocked::new(kind, id, &lock, started.elapsed())));
        }
        Some(wait_unlocked(pve_dir, kind, id, left, POLL).map(|waited| {
            // Gone before we looked: pause one poll so a refusal never becomes a busy loop.
            if waited < POLL {
                std::thread::sleep(POLL.min(left));
            }
        }))
    }
}

/// Proxmox's message when a config or storage lock could not be taken in time.
pub fn is_lock_timeout(stderr: &str) -> bool {
    stderr.contains("can't lock file") && stderr.contains("got timeout")
}

fn exec<S: AsRef<str>>(
    tool: &str,
    args: &[S],
    stdin: Option<&[u8]>,
) -> Result<ToolOutput, ToolError> {
    let mut cmd = Command::new(tool);
    cmd.args(args.iter().map(AsRef::as_ref));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    log::debug!("exec: {}", display(tool, args));
    let spawn_err = |e: std::io::Error| ToolError::Spawn {
        cmd: display(tool, args),
        why: e.to_string(),
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(data).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    Ok(ToolOutput {
        code: out.status.code().unwrap_or(128 + signal_of(&out.status)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    })
}

fn signal_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

fn failed<S: AsRef<str>>(tool: &str, args: &[S], out: &ToolOutput) -> ToolError {
    let stderr = if out.stderr.is_empty() {
        out.stdout.trim().to_string()
    } else {
        out.stderr.clone()
    };
    ToolError::Failed {
        cmd: display(tool, args),
        code: out.code,
        stderr,
    }
}

/// A command as a person would type it, quoted where needed, secrets masked.
pub fn display<S: AsRef<str>>(tool: &str, args: &[S]) -> String {
    let mut parts = vec![tool.to_string()];
    let mut mask_next = false;
    for a in args {
        let a = a.as_ref();
        if mask_next {
            parts.push("******".to_string());
            mask_next = false;
            continue;
        }
        if let Some((opt, _)) = a
            .split_once('=')
            .filter(|(o, _)| SECRET_OPTIONS.contains(o))
        {
            parts.push(format!("{opt}=******"));
            continue;
        }
        mask_next = SECRET_OPTIONS.contains(&a);
        parts.push(quote(a));
    }
    parts.join(" ")
}

fn quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_and_masks() {
        assert_eq!(
            display("pct", &["set", "950", "--memory", "4096"]),
            "pct set 950 --memory 4096"
        );
        assert_eq!(
            display("qm", &["set", "1", "--cipassword", "hunter2"]),
            "qm set 1 --cipassword ******"
        );
        assert_eq!(
            display("pct", &["exec", "1", "--", "sh", "-c", "a b"]),
            "pct exec 1 -- sh -c 'a b'"
        );
    }

    /// A stand-in `pct` refusing while `<dir>/refuse` exists, counting its runs in `<dir>/runs`.
    fn refusing_tool(dir: &std::path::Path) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("pct");
        let d = dir.display();
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho run >> {d}/runs\nif [ -e {d}/refuse ]; then echo 'CT 900 is locked (backup)' >&2; exit 255; fi\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }

    fn locked_node(dir: &std::path::Path) -> std::path::PathBuf {
        let conf = crate::guestlock::conf_path(
            dir,
            phoenix_config::GuestKind::Lxc,
            phoenix_config::GuestId(900),
        );
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(&conf, "lock: backup\nmemory: 512\n").unwrap();
        std::fs::write(dir.join("refuse"), "").unwrap();
        conf
    }

    #[test]
    fn a_change_refused_by_a_guest_lock_waits_for_the_lock_line_then_runs_once_more() {
        let d = tempfile::tempdir().unwrap();
        let tool = refusing_tool(d.path());
        let conf = locked_node(d.path());
        let mut r = Runner::new();
        r.guest_lock_wait = Some((d.path().to_path_buf(), Duration::from_secs(30)));
        let dir = d.path().to_path_buf();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            std::fs::remove_file(dir.join("refuse")).unwrap();
            std::fs::write(&conf, "memory: 512\n").unwrap();
        });
        r.change(&tool, &["clone", "900", "901"]).unwrap();
        release.join().unwrap();
        let runs = std::fs::read_to_string(d.path().join("runs")).unwrap();
        assert_eq!(
            runs.lines().count(),
            2,
            "one refusal, one run after the lock went"
        );
    }

    #[test]
    fn a_guest_lock_that_stays_fails_after_the_wait_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let tool = refusing_tool(d.path());
        locked_node(d.path());
        let mut r = Runner::new();
        r.guest_lock_wait = Some((d.path().to_path_buf(), Duration::from_millis(300)));
        let e = r.change(&tool, &["clone", "900", "901"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("container 900 is still locked (backup) after waiting 0s"),
            "{e}"
        );
        // Without a configured wait the refusal is returned at once.
        let e = Runner::new()
            .change(&tool, &["clone", "900", "901"])
            .unwrap_err();
        assert!(e.to_string().ends_with("CT 900 is locked (backup)"), "{e}");
    }

    #[test]
    fn lock_timeout_is_recognised() {
        assert!(is_lock_timeout(
            "can't lock file '/var/lock/lxc/pve-config-950.lock' - got timeout"
        ));
        assert!(!is_lock_timeout("CT 950 is locked (disk)"));
    }
}
