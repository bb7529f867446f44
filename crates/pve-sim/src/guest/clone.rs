//! `clone`: the source lock, the copied config, new MACs and disks.

use super::config::{mac_for, new_mac};
use super::disks::{clone_disk, is_disk_key};
use super::{already_exists, check_lock, existing, kind_of, vmid};
use crate::state::{FileLock, Kind, Node, RunState};
use crate::{fail, R};
use pve::spec::{self, Call};
use pve::Conf;
pub(super) fn set_lock_field(node: &Node, kind: Kind, id: u32, value: Option<&str>) -> R<()> {
    let _g = node.lock_guest(kind, id, false)?;
    let mut conf = existing(node, kind, id)?;
    match value {
        Some(v) => conf.set("lock", v),
        None => {
            conf.delete("lock");
        }
    }
    node.write_conf(kind, id, &conf)
}

pub(super) fn clone(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let newid: u32 = call
        .arg("newid")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("missing newid"))?;
    let src = existing(node, kind, id)?;
    let is_template = src.get("template").and_then(spec::parse_bool) == Some(true);
    let snapname = call.opt("snapname");
    if kind == Kind::Lxc && !is_template && snapname.is_none() && node.is_running(id) {
        return Err(fail(format!(
            "CT {id} is running - clone of a running container needs --snapname"
        )));
    }
    if kind == Kind::Lxc && !is_template && snapname.is_none() {
        return Err(fail(
            "400 Parameter verification failed.\nsnapname: a snapshot name is required to clone a container that is not a template",
        ));
    }
    if let Some(s) = snapname {
        if src.snapshot(s).is_none() {
            return Err(fail(format!("snapshot '{s}' does not exist")));
        }
    }
    let _new_guard = node.lock_guest(kind, newid, false)?;
    if let Some((on, _)) = node.owner(newid) {
        return Err(already_exists(kind, newid, &on));
    }
    // Source lock: a container always gets `lock: disk` for the whole copy, template or not
    // (pve-container's clone sets it unconditionally); a VM gets `lock: clone`, except a
    // stopped template, which qemu-server only share-locks so several clones run in parallel.
    let shared_template = kind == Kind::Qemu && is_template && !node.is_running(id);
    let mut held: Option<FileLock> = None;
    if shared_template {
        held = Some(node.lock_guest(kind, id, true)?);
        check_lock(kind, id, &node.read_conf(kind, id)?, call)?;
    } else {
        let _g = node.lock_guest(kind, id, false)?;
        let cur = existing(node, kind, id)?;
        check_lock(kind, id, &cur, call)?;
        let mut c = cur;
        c.set("lock", if kind == Kind::Lxc { "disk" } else { "clone" });
        node.write_conf(kind, id, &c)?;
    }
    let result = (|| -> R<Conf> {
        node.pause(&call.tool, &call.command)?;
        let cur = node.read_conf(kind, id)?;
        let base = match snapname {
            Some(s) => cur
                .snapshot(s)
                .ok_or_else(|| fail(format!("snapshot '{s}' does not exist")))?,
            None => cur.main(),
        };
        let mut newc = Conf::default();
        if let Some(d) = call
            .opt("description")
            .map(str::to_string)
            .or(base.description())
        {
            newc.main_mut().set_description(Some(&d));
        }
        for (k, v) in base.entries() {
            if matches!(
                k,
                "lock" | "parent" | "snaptime" | "snapstate" | "template" | "vmstate"
            ) || k.starts_with("unused")
            {
                continue;
            }
            let mut v = v.to_string();
            if is_disk_key(kind, k) {
                v = clone_disk(node, kind, id, newid, &v, call.opt("storage"))?;
            } else if let Some(idx) = k.strip_prefix("net").and_then(|n| n.parse::<u32>().ok()) {
                v = new_mac(kind, &v, mac_for(newid, idx, 1));
            }
            newc.set(k, &v);
        }
        match kind {
            Kind::Lxc => {
                if let Some(h) = call.opt("hostname") {
                    newc.set("hostname", h);
                }
            }
            Kind::Qemu => {
                let name = call.opt("name").map(str::to_string).unwrap_or_else(|| {
                    format!("Copy-of-VM-{}", base.get("name").unwrap_or(&id.to_string()))
                });
                newc.set("name", &name);
            }
        }
        // The new guest's files are the source's at the snapshot (or now, for a template).
        crate::guestos::tree::clone(node, id, snapname, newid)?;
        Ok(newc)
    })();
    drop(held);
    if !shared_template {
        set_lock_field(node, kind, id, None)?;
    }
    let newc = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(node.guest_dir(newid));
            return Err(e);
        }
    };
    node.write_conf(kind, newid, &newc)?;
    node.set_run_state(newid, &RunState::default())?;
    Ok(0)
}
