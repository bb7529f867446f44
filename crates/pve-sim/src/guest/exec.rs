//! `pct exec`, `pct push`, `pct pull`: commands run for real in the container's sandbox
//! ([`crate::sandbox`]) and files go into its tree ([`crate::guestos::tree`]).

use super::{existing, locked, vmid};
use crate::guestos::tree::{self, Tree};
use crate::sandbox::{Bind, Io, Output, Sandbox};
use crate::state::{io_fail, now_ms, Kind, Node};
use crate::{fail, R};
use pve::spec::Call;
use pve::{Conf, PropString};
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

/// Where guest path `path` is in the guest's tree (never outside it).
pub(super) fn guest_file(node: &Node, id: u32, path: &str) -> R<std::path::PathBuf> {
    if path.split('/').any(|c| c == "..") || !path.starts_with('/') {
        return Err(fail(format!("invalid path '{path}'")));
    }
    tree::ensure(node, id)?;
    Ok(Tree::of(node, id).fs().path(path))
}

/// A container's bind mount points (`mpN: /host/path,mp=/guest/path`): the host folder under
/// the simulated host (`<root>/host/...`), never the machine's own.
pub(crate) fn binds(node: &Node, conf: &Conf) -> Vec<Bind> {
    let mut out = Vec::new();
    for (_, v) in conf.indexed("mp") {
        let Ok(ps) = PropString::parse_with_default(v, Some("volume")) else {
            continue;
        };
        let (Some(vol), Some(mp)) = (ps.get("volume"), ps.get("mp")) else {
            continue;
        };
        if vol.starts_with('/') && mp.starts_with('/') && !mp.split('/').any(|c| c == "..") {
            let host = node.rebase(vol);
            if host.is_dir() {
                out.push((host, mp.to_string()));
            }
        }
    }
    out
}

/// The result of a guest command: a matching `guest_commands` fault rule decides it without
/// running anything; else the command runs for real in the guest's sandbox.
pub(super) fn outcome(
    node: &Node,
    tool: &str,
    id: u32,
    cmd: &[String],
    io: Io,
) -> R<(Output, u64)> {
    let mut count = |k: &str| node.count_match(k);
    if let Some(r) = node.faults.guest_outcome(tool, id, cmd, &mut count)? {
        let out = Output {
            code: r.exit_code,
            stdout: r.stdout.into_bytes(),
            stderr: r.stderr.into_bytes(),
        };
        return Ok((out, r.duration_ms));
    }
    let mut binds = match (tool, node.read_conf(Kind::Lxc, id)) {
        ("pct", Ok(conf)) => binds(node, &conf),
        _ => Vec::new(),
    };
    binds.extend(crate::guestos::mounts::nfs_binds(
        node,
        &Tree::of(node, id).fs(),
    ));
    let sb = Sandbox {
        node,
        id,
        tool,
        binds,
    };
    let out = sb.run(cmd, &[], io)?;
    // What the guest's containers serve may have changed (a container started or stopped).
    if let Err(e) = crate::guestos::services::reconcile(node, id) {
        eprintln!("pve-sim: guest {id}: {}", e.msg);
    }
    Ok((out, 0))
}

pub(super) fn pct_exec(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    existing(node, Kind::Lxc, id)?;
    node.pause(&call.tool, &call.command)?;
    if !node.is_running(id) {
        return Err(fail(format!("container '{id}' not running!")));
    }
    if call.extra.is_empty() {
        return Err(fail("missing command"));
    }
    let start = now_ms();
    let (out, duration) = outcome(node, "pct", id, &call.extra, Io::Inherit)?;
    if duration > 0 {
        std::thread::sleep(std::time::Duration::from_millis(duration));
    }
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "pct", "time_ms": start, "cmd": call.extra, "exit_code": out.code}),
    )?;
    std::io::stdout()
        .write_all(&out.stdout)
        .and_then(|()| std::io::stderr().write_all(&out.stderr))
        .map_err(|e| fail(e.to_string()))?;
    Ok(out.code)
}

/// Owner `user`/`group` (name or id) as the guest's `/etc/passwd` and `/etc/group` know them.
fn owner_id(node: &Node, id: u32, file: &str, name: &str) -> R<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let text = fs::read_to_string(guest_file(node, id, file)?).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok())?
        })
        .ok_or_else(|| {
            let what = if file.ends_with("passwd") {
                "uid"
            } else {
                "gid"
            };
            fail(format!("failed to get {what} for: {name}"))
        })
}

pub(super) fn push(node: &Node, call: &Call) -> R<i32> {
    use std::os::unix::fs::PermissionsExt;
    let id = vmid(call)?;
    let (_g, _conf) = locked(node, call, Kind::Lxc, id)?;
    if !node.is_running(id) {
        return Err(fail("can only push files to a running CT"));
    }
    let src = call.arg("file").unwrap_or("");
    let dst = call.arg("destination").unwrap_or("");
    let data = fs::read(src).map_err(|e| fail(format!("can't open file '{src}' - {e}")))?;
    let target = guest_file(node, id, dst)?;
    if target.parent().is_some_and(|p| !p.is_dir()) {
        return Err(fail(format!(
            "failed to create file: {dst}: No such file or directory"
        )));
    }
    let mode = match call.opt("perms") {
        Some(p) => {
            let v = if let Some(h) = p.strip_prefix("0x") {
                u32::from_str_radix(h, 16)
            } else {
                u32::from_str_radix(p, 8)
            };
            Some(v.map_err(|_| fail(format!("invalid mode: '{p}'")))?)
        }
        None => None,
    };
    let uid = call
        .opt("user")
        .map(|u| owner_id(node, id, "/etc/passwd", u))
        .transpose()?;
    let gid = call
        .opt("group")
        .map(|g| owner_id(node, id, "/etc/group", g))
        .transpose()?;
    // As pct's create_file: a new file gets 0666 & ~umask (0644), an existing one keeps its
    // mode unless --perms is given.
    let existed = target.exists();
    crate::state::atomic_write(&target, &data)?;
    let mode = mode.or((!existed).then_some(0o644));
    if let Some(m) = mode {
        fs::set_permissions(&target, fs::Permissions::from_mode(m))
            .map_err(|e| io_fail(&target, e))?;
    }
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(&target, uid, gid).map_err(|e| io_fail(&target, e))?;
    }
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
        return Err(fail("can only pull files from a running VM"));
    }
    let path = call.arg("path").unwrap_or("");
    let dst = call.arg("destination").unwrap_or("");
    let data = fs::read(guest_file(node, id, path)?)
        .map_err(|_| fail(format!("failed to open {path} for reading")))?;
    fs::write(dst, data).map_err(|e| fail(format!("failed to write {dst}: {e}")))?;
    Ok(0)
}
