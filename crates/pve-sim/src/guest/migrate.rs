//! `pct migrate` / `qm migrate` inside a simulated cluster: the config moves to the target
//! node's folder (as pmxcfs renames it), after qemu-server's and pve-container's checks of
//! the guest's volumes (`PVE::QemuMigrate::scan_local_volumes`, `PVE::LXC::Migrate`).
//! Volumes stay where they are: the simulator keeps one file per volume whatever node
//! holds it, so copying a local disk costs only the call's latency.

use super::{check_lock, kind_of, locked, vmid};
use crate::state::{Kind, Node, RunState};
use crate::{fail, R};
use pve::spec::Call;

pub(super) fn migrate(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let target = call.arg("target").unwrap_or_default().to_string();
    if !node.is_cluster() || !node.members.contains(&target) {
        return Err(fail(format!("no such cluster node '{target}'")));
    }
    if target == node.name {
        return Err(fail(
            "400 Parameter verification failed.\ntarget: target is local node.",
        ));
    }
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    let running = node.is_running(id);
    if running {
        match kind {
            Kind::Lxc if !call.flag("online") && !call.flag("restart") => {
                return Err(fail(
                    "can't migrate running container without --online or --restart",
                ))
            }
            Kind::Lxc if !call.flag("restart") => {
                return Err(fail("lxc live migration is currently not implemented"))
            }
            Kind::Qemu if !call.flag("online") => {
                return Err(fail("can't migrate running VM without --online"))
            }
            _ => {}
        }
    }
    if !crate::ha::as_lrm() && crate::ha::managed(&node.root, kind, id).is_some() {
        crate::ha::check_not_error(&node.root, kind, id)?;
        println!(
            "Requesting HA migration for {} {id} to node {target}",
            kind.label()
        );
        crate::ha::request(node, kind, id, crate::ha::Request::Migrate(target))?;
        return Ok(0);
    }
    if node.is_down(&target) {
        return Err(fail(
            "Can't connect to destination address using public key",
        ));
    }
    let dest = node.peer(&target);
    let live = kind == Kind::Qemu && running;
    let problems = scan(
        node,
        &dest,
        kind,
        &conf,
        live,
        call.flag("with-local-disks"),
    )?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("WARN: {p}");
        }
        return Err(fail(
            "Problem found while scanning volumes - can't migrate VM - check log",
        ));
    }
    // The config changes hands: removed here, written on the target without the lock.
    conf.delete("lock");
    dest.write_conf(kind, id, &conf)?;
    let _ = std::fs::remove_file(node.conf_path(kind, id));
    if running {
        // `--restart` stops the container here and starts it there; a live VM keeps running.
        let mut st = node.run_state(id);
        if kind == Kind::Lxc {
            st = RunState {
                status: "running".into(),
                started_ms: Some(crate::state::now_ms()),
                pid: st.pid,
            };
        }
        node.set_run_state(id, &st)?;
    }
    println!(
        "migration finished successfully ({} {id} to node '{target}')",
        kind.label()
    );
    Ok(0)
}

/// What stops the volumes of a guest from moving: errors of LXC volumes are fatal at once
/// (pve-container dies), QEMU's are collected as `can't migrate local disk` lines.
fn scan(
    node: &Node,
    dest: &Node,
    kind: Kind,
    conf: &pve::Conf,
    live: bool,
    with_local: bool,
) -> R<Vec<String>> {
    let mut problems = Vec::new();
    for (key, value) in conf.entries() {
        let Some(vol) = volume_of(kind, key, value) else {
            continue;
        };
        let cdrom = value.contains("media=cdrom");
        if vol.starts_with('/') {
            match kind {
                Kind::Lxc if !value.split(',').any(|p| p == "shared=1") => {
                    return Err(fail(format!(
                        "cannot migrate local bind mount point '{key}'"
                    )))
                }
                Kind::Lxc => {}
                Kind::Qemu => problems.push(format!(
                    "can't migrate local disk '{vol}': local file/device"
                )),
            }
            continue;
        }
        if matches!(vol, "none" | "cdrom") {
            continue;
        }
        let Some((sid, _)) = vol.split_once(':') else {
            continue;
        };
        let scfg = node.storage(sid)?;
        let check = dest.storage(sid).map(|_| ());
        if let Err(e) = check {
            match kind {
                Kind::Lxc => return Err(e),
                Kind::Qemu => {
                    problems.push(format!("can't migrate local disk '{vol}': {}", e.msg));
                    continue;
                }
            }
        }
        if scfg.shared() {
            continue;
        }
        if kind == Kind::Qemu {
            if cdrom && !vol.contains("-cloudinit") {
                problems.push(format!(
                    "can't migrate local disk '{vol}': local cdrom image"
                ));
            } else if live && !cdrom && !key.starts_with("unused") && !with_local {
                problems.push(format!("can't migrate local disk '{vol}': can't live migrate attached local disks without with-local-disks option"));
            }
        }
    }
    Ok(problems)
}

/// The volume (or path) a config line refers to, for the keys that hold one.
fn volume_of<'a>(kind: Kind, key: &str, value: &'a str) -> Option<&'a str> {
    let disk = match kind {
        Kind::Lxc => key == "rootfs" || indexed(key, "mp") || indexed(key, "unused"),
        Kind::Qemu => {
            pve::conf::is_qemu_disk_key(key)
                || indexed(key, "unused")
                || key == "efidisk0"
                || key == "tpmstate0"
        }
    };
    if !disk {
        return None;
    }
    value
        .split(',')
        .next()
        .map(|v| v.trim_start_matches("file="))
}

fn indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
