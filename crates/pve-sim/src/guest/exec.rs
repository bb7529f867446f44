//! `pct exec`, `pct push`, `pct pull`.

use super::{existing, locked, vmid};
use crate::state::{atomic_write, io_fail, now_ms, Kind, Node};
use crate::{fail, R};
use pve::spec::Call;
use std::fs;
use std::io::Write;

pub(super) fn guest_log(node: &Node, id: u32, entry: serde_json::Value) -> R<()> {
    let dir = node.guest_dir(id);
    fs::create_dir_all(&dir).map_err(|e| io_fail(&dir, e))?;
    let p = dir.join("exec.log");
    let mut line = entry.to_string();
    line.push('\n');
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(|e| io_fail(&p, e))?;
    f.write_all(line.as_bytes()).map_err(|e| io_fail(&p, e))
}

/// Path of a guest file in the simulated guest filesystem.
pub(super) fn guest_file(node: &Node, id: u32, path: &str) -> R<std::path::PathBuf> {
    if path.split('/').any(|c| c == "..") {
        return Err(fail(format!("invalid path '{path}'")));
    }
    Ok(node
        .guest_dir(id)
        .join("fs")
        .join(path.trim_start_matches('/')))
}

/// GPU indices whose `/dev/nvidiaN` node a container's config passes through (`devN:` entries
/// or raw `lxc.mount.entry` lines).
pub(super) fn passed_gpus(node: &Node, id: u32) -> Vec<usize> {
    let Ok(conf) = node.read_conf(Kind::Lxc, id) else {
        return Vec::new();
    };
    let text = conf.main_text();
    let mut out = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == '=') {
        if let Some(n) = word
            .strip_prefix("/dev/nvidia")
            .and_then(|r| r.parse::<usize>().ok())
        {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Built-in answers for a few read-only commands on pushed files (`cat`, `test -e/-f/-d`).
pub(super) fn builtin(node: &Node, id: u32, cmd: &[String]) -> Option<(i32, String)> {
    match cmd {
        [c, p] if c == "cat" => {
            let f = guest_file(node, id, p).ok()?;
            Some(match fs::read_to_string(f) {
                Ok(t) => (0, t),
                Err(_) => (1, String::new()),
            })
        }
        [t, flag, p] if t == "test" && matches!(flag.as_str(), "-e" | "-f" | "-d") => {
            let f = guest_file(node, id, p).ok()?;
            let ok = match flag.as_str() {
                "-f" => f.is_file(),
                "-d" => f.is_dir(),
                _ => f.exists(),
            };
            Some((if ok { 0 } else { 1 }, String::new()))
        }
        _ => None,
    }
}

/// Exit code, stdout, stderr and duration of a guest command: a matching fault rule, else a
/// built-in answer, else success without output.
pub(super) fn outcome(
    node: &Node,
    tool: &str,
    id: u32,
    cmd: &[String],
) -> R<(i32, String, String, u64)> {
    let mut count = |k: &str| node.count_match(k);
    Ok(
        match node.faults.guest_outcome(tool, id, cmd, &mut count)? {
            Some(r) => (r.exit_code, r.stdout, r.stderr, r.duration_ms),
            None if tool == "pct" && cmd.first().is_some_and(|c| c == "nvidia-smi") => {
                let visible = passed_gpus(node, id);
                let out = crate::host::container_nvidia_smi(&node.root, &visible, &cmd[1..]);
                (out.code, out.stdout, out.stderr, 0)
            }
            None => match builtin(node, id, cmd) {
                Some((c, o)) => (c, o, String::new(), 0),
                None => (0, String::new(), String::new(), 0),
            },
        },
    )
}

pub(super) fn pct_exec(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    existing(node, Kind::Lxc, id)?;
    node.pause(&call.tool, &call.command)?;
    if !node.is_running(id) {
        return Err(fail(format!("CT {id} not running")));
    }
    if call.extra.is_empty() {
        return Err(fail("missing command"));
    }
    let (code, out, err, duration) = outcome(node, "pct", id, &call.extra)?;
    if duration > 0 {
        std::thread::sleep(std::time::Duration::from_millis(duration));
    }
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "pct", "time_ms": now_ms(), "cmd": call.extra, "exit_code": code}),
    )?;
    print!("{out}");
    eprint!("{err}");
    Ok(code)
}

pub(super) fn push(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    let (_g, _conf) = locked(node, call, Kind::Lxc, id)?;
    if !node.is_running(id) {
        return Err(fail(format!("CT {id} not running")));
    }
    let src = call.arg("file").unwrap_or("");
    let dst = call.arg("destination").unwrap_or("");
    let data = fs::read(src).map_err(|e| fail(format!("can't open file '{src}' - {e}")))?;
    let target = guest_file(node, id, dst)?;
    atomic_write(&target, &data)?;
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "pct", "time_ms": now_ms(), "push": dst, "bytes": data.len(),
            "perms": call.opt("perms"), "user": call.opt("user"), "group": call.opt("group")}),
    )?;
    Ok(0)
}

pub(super) fn pull(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    existing(node, Kind::Lxc, id)?;
    if !node.is_running(id) {
        return Err(fail(format!("CT {id} not running")));
    }
    let path = call.arg("path").unwrap_or("");
    let dst = call.arg("destination").unwrap_or("");
    let data = fs::read(guest_file(node, id, path)?)
        .map_err(|_| fail(format!("failed to open {path} for reading")))?;
    fs::write(dst, data).map_err(|e| fail(format!("failed to write {dst}: {e}")))?;
    Ok(0)
}
