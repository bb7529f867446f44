//! Snapshots: `snapshot`, `delsnapshot`, `rollback`, `listsnapshot`.

use super::power::start_guest;
use super::{check_lock, existing, kind_of, locked, vmid};
use crate::state::{now_ms, Node};
use crate::{fail, R};
use pve::output::{self, SnapshotInfo};
use pve::spec::Call;
pub(super) fn listsnapshot(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let conf = existing(node, kind, id)?;
    let mut snaps: Vec<SnapshotInfo> = conf
        .snapshots()
        .into_iter()
        .filter_map(|n| {
            let s = conf.snapshot(n)?;
            Some(SnapshotInfo {
                name: n.to_string(),
                parent: s.get("parent").map(str::to_string),
                snaptime: s.get("snaptime").and_then(|t| t.parse().ok()),
                description: s.description(),
            })
        })
        .collect();
    snaps.push(SnapshotInfo {
        name: "current".to_string(),
        parent: conf.get("parent").map(str::to_string),
        snaptime: None,
        description: Some("You are here!".to_string()),
    });
    print!("{}", output::format_snapshot_tree(&snaps));
    Ok(0)
}

pub(super) fn valid_snapname(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn snapshot(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let name = call.arg("snapname").unwrap_or("");
    let reserved: &[&str] = if kind == crate::state::Kind::Lxc {
        &["current", "vzdump"]
    } else {
        &["current", "pending"]
    };
    if reserved.contains(&name) {
        return Err(fail(format!(
            "unable to use snapshot name '{name}' (reserved name)"
        )));
    }
    if !valid_snapname(name) {
        return Err(fail(format!(
            "400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '{name}'"
        )));
    }
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    if conf.snapshot(name).is_some() {
        return Err(fail(format!("snapshot name '{name}' already used")));
    }
    conf.add_snapshot(name, now_ms() / 1000, call.opt("description"));
    crate::guestos::tree::save_snapshot(node, id, name)?;
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

pub(super) fn delsnapshot(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let name = call.arg("snapname").unwrap_or("");
    let (_g, mut conf) = locked(node, call, kind, id)?;
    if !call.flag("force") {
        check_lock(kind, id, &conf, call)?;
    }
    if !conf.remove_snapshot(name) {
        return Err(fail(format!("snapshot '{name}' does not exist")));
    }
    node.write_conf(kind, id, &conf)?;
    crate::guestos::tree::delete_snapshot(node, id, name);
    Ok(0)
}

pub(super) fn rollback(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let name = call.arg("snapname").unwrap_or("");
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    if !conf.rollback(name) {
        return Err(fail(format!("snapshot '{name}' does not exist")));
    }
    super::power::power_off(node, id)?;
    crate::guestos::tree::rollback(node, id, name)?;
    node.write_conf(kind, id, &conf)?;
    if call.flag("start") {
        start_guest(node, kind, id, &conf)?;
    }
    Ok(0)
}
