//! Running an argv on a Proxmox node over SSH, for what the API cannot do (`pct exec`,
//! `pct push`, cloud-init snippets, host set-up).
//!
//! The OpenSSH client is used as it is (`ssh -o BatchMode=yes`): its agent, keys and config
//! keep working, and host keys are always checked (`StrictHostKeyChecking=yes` against a
//! known_hosts file the caller names; an unknown or changed host key fails, nothing is ever
//! accepted silently).
//!
//! Why the quoting is safe: `ssh` joins its arguments with spaces and the remote user's login
//! shell parses that one string. Each argv element is therefore sent as one POSIX-shell word in
//! single quotes, where no character is special except the closing quote; a single quote inside
//! is written as `'\''` (close, escaped quote, reopen). No byte of an element can end the word
//! early, start an expansion, or begin a new command, so the remote program receives exactly
//! the argv given here. The remote login shell must be POSIX-like (sh, bash, dash, zsh), which
//! it is on Proxmox VE (root's shell is bash). NUL bytes cannot be passed by any shell and are
//! refused.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where and how to reach a node.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Host name or address.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The known_hosts file holding the node's host key (required: host keys are always checked).
    pub known_hosts: PathBuf,
    /// Private key to use instead of the agent's and the defaults.
    pub identity: Option<PathBuf>,
    pub connect_timeout: Duration,
}

impl SshTarget {
    pub fn new(host: &str, known_hosts: PathBuf) -> SshTarget {
        SshTarget {
            host: host.to_string(),
            port: 22,
            user: "root".into(),
            known_hosts,
            identity: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the remote command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOutput {
    /// The remote command's exit code (ssh passes it through; 255 is ssh's own failure).
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("argument {0} contains a NUL byte, which no shell can pass")]
    Nul(usize),
    #[error("empty command")]
    Empty,
    #[error("cannot run ssh: {0}")]
    Spawn(String),
    #[error("host key of {host} is not in {known_hosts} (or differs from it); add the node's key there (ssh-keyscan, then verify its fingerprint) — it is never accepted automatically")]
    HostKey { host: String, known_hosts: String },
    #[error("ssh to {host} failed: {stderr}")]
    Connect { host: String, stderr: String },
}

/// One argv element as a single-quoted POSIX shell word.
pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The remote command line for `argv`.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> Result<String, SshError> {
    if argv.is_empty() {
        return Err(SshError::Empty);
    }
    argv.iter()
        .enumerate()
        .map(|(i, a)| {
            let a = a.as_ref();
            if a.contains('\0') {
                Err(SshError::Nul(i))
            } else {
                Ok(quote(a))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|w| w.join(" "))
}

/// The `ssh` argv (without the program name) that runs `argv` on `t`.
pub fn ssh_args<S: AsRef<str>>(t: &SshTarget, argv: &[S]) -> Result<Vec<String>, SshError> {
    let mut a: Vec<String> = vec![
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", t.known_hosts.display()),
        "-o".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        format!("ConnectTimeout={}", t.connect_timeout.as_secs().max(1)),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-p".into(),
        t.port.to_string(),
        "-l".into(),
        t.user.clone(),
    ];
    if let Some(id) = &t.identity {
        a.extend([
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-i".into(),
            id.display().to_string(),
        ]);
    }
    // `--` ends ssh's options; the host cannot be read as one (it is checked below too).
    a.extend(["--".into(), t.host.clone(), command_line(argv)?]);
    Ok(a)
}

/// Runs `argv` on the node, feeding `stdin` (a file to push, for example). The remote exit code
/// and stderr come back unchanged; a host key problem or a failed connection is an error.
pub fn run<S: AsRef<str>>(
    t: &SshTarget,
    argv: &[S],
    stdin: Option<&[u8]>,
) -> Result<SshOutput, SshError> {
    if t.host.starts_with('-') || t.host.is_empty() {
        return Err(SshError::Connect {
            host: t.host.clone(),
            stderr: "invalid host name".into(),
        });
    }
    let mut cmd = Command::new("ssh");
    cmd.args(ssh_args(t, argv)?)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| SshError::Spawn(e.to_string()))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = data.to_vec();
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            }))
        }
        _ => None,
    };
    let out = child
        .wait_with_output()
        .map_err(|e| SshError::Spawn(e.to_string()))?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    let code = out.status.code().unwrap_or(255);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if code == 255 {
        if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            return Err(SshError::HostKey {
                host: t.host.clone(),
                known_hosts: t.known_hosts.display().to_string(),
            });
        }
        if stderr.contains("Permission denied")
            || stderr.contains("Connection refused")
            || stderr.contains("Could not resolve")
            || stderr.contains("timed out")
        {
            return Err(SshError::Connect {
                host: t.host.clone(),
                stderr: stderr.trim().to_string(),
            });
        }
    }
    Ok(SshOutput {
        code,
        stdout: out.stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a POSIX shell makes of the command line: the argv it runs.
    fn through_sh(argv: &[&str]) -> Vec<String> {
        let line = command_line(argv).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|_| true)
            .map(str::to_string)
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, rest)| rest.to_vec())
            .unwrap()
    }

    #[test]
    fn hostile_arguments_arrive_unchanged() {
        let hostile = [
            "plain",
            "",
            "two words",
            "it's",
            "'",
            "''",
            "\"double\"",
            "$(touch /tmp/pwned)",
            "`id`",
            "$HOME ${PATH}",
            "a;b && c || d | e > f < g",
            "new\nline",
            "tab\there",
            "*?[]~#!",
            "\\'\\",
            "-n",
            "--option=value",
            "ümlaut ✓",
        ];
        assert_eq!(
            through_sh(&hostile),
            hostile.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn nul_and_empty_are_refused() {
        assert!(matches!(command_line(&["a\0b"]), Err(SshError::Nul(0))));
        assert!(matches!(command_line::<&str>(&[]), Err(SshError::Empty)));
    }

    #[test]
    fn host_keys_are_always_checked() {
        let t = SshTarget::new("node1", PathBuf::from("/k/known_hosts"));
        let a = ssh_args(&t, &["pct", "exec", "950", "--", "true"]).unwrap();
        let joined = a.join(" ");
        assert!(joined.contains("StrictHostKeyChecking=yes") && joined.contains("BatchMode=yes"));
        assert!(joined.contains("UserKnownHostsFile=/k/known_hosts"));
        assert!(!joined.contains("accept-new") && !joined.contains("StrictHostKeyChecking=no"));
        assert_eq!(a[a.len() - 2], "node1");
        assert_eq!(a.last().unwrap(), "'pct' 'exec' '950' '--' 'true'");
    }
}
