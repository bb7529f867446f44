//! `pct` and `qm`: guest configs, life cycle, snapshots, clones, disks, guest commands.
//!
//! One file per group of subcommands; this module holds what they share (the call's guest, its
//! config and lock checks) and the dispatch [`run`].

use crate::state::{FileLock, Kind, Node};
use crate::{fail, Fail, R};
use pve::spec::{self, Call, ValueType};
use pve::Conf;

mod agent;
mod clone;
mod config;
mod disks;
mod exec;
mod migrate;
pub(crate) use exec::binds;
mod power;
mod query;
mod snapshot;

pub(super) fn kind_of(call: &Call) -> Kind {
    if call.tool == "pct" {
        Kind::Lxc
    } else {
        Kind::Qemu
    }
}

pub(super) fn vmid(call: &Call) -> R<u32> {
    call.vmid().ok_or_else(|| fail("missing vmid"))
}

pub(super) fn locked_msg(kind: Kind, id: u32, lock: &str) -> Fail {
    fail(format!("{} {id} is locked ({lock})", kind.label()))
}

pub(super) fn check_lock(kind: Kind, id: u32, conf: &Conf, call: &Call) -> R<()> {
    if call.flag("skiplock") {
        return Ok(());
    }
    match conf.get("lock") {
        Some(l) => Err(locked_msg(kind, id, l)),
        None => Ok(()),
    }
}

pub(super) fn not_exist(node: &Node, kind: Kind, id: u32) -> Fail {
    fail(crate::api::view::not_exist(node, kind, id))
}

/// Read the config of an existing guest of the call's kind.
pub(super) fn existing(node: &Node, kind: Kind, id: u32) -> R<Conf> {
    if !node.conf_path(kind, id).exists() {
        return Err(not_exist(node, kind, id));
    }
    node.read_conf(kind, id)
}

/// Take the guest lock, spend the latency, and return the current config.
pub(super) fn locked(node: &Node, call: &Call, kind: Kind, id: u32) -> R<(FileLock, Conf)> {
    let g = node.lock_guest(kind, id, false)?;
    node.pause(&call.tool, &call.command)?;
    let conf = existing(node, kind, id)?;
    Ok((g, conf))
}

fn normalise_bool(call: &Call, key: &str, value: &str) -> String {
    let cmd = spec::spec().command(&call.tool, &call.command).map(|c| c.1);
    let is_bool = cmd
        .and_then(|c| spec::Spec::option(c, key))
        .is_some_and(|o| o.value == ValueType::Boolean);
    match (is_bool, spec::parse_bool(value)) {
        (true, Some(b)) => if b { "1" } else { "0" }.to_string(),
        _ => value.to_string(),
    }
}

/// Resolve a host path given to the tool: as is if it exists, else under the simulated host.
pub(super) fn host_path(node: &Node, p: &str) -> std::path::PathBuf {
    let direct = std::path::PathBuf::from(p);
    if direct.exists() {
        direct
    } else {
        node.rebase(p)
    }
}

pub(super) fn already_exists(kind: Kind, id: u32, on: &str) -> Fail {
    fail(crate::api::view::already_exists(kind, id, on))
}
pub(super) fn unreachable_cmd(call: &Call) -> R<()> {
    Err(fail(format!(
        "pve-sim: '{} {}' is not simulated",
        call.tool, call.command
    )))
}

/// `pct ...` / `qm ...`.
pub fn run(node: &Node, call: &Call) -> R<i32> {
    match call.command.as_str() {
        "create" => config::create(node, call),
        "set" => config::set(node, call),
        "start" | "stop" | "shutdown" | "reboot" => power::lifecycle(node, call),
        "status" => query::status(node, call),
        "config" => query::config(node, call),
        "pending" => query::pending(node, call),
        "list" => query::list(node, call),
        "listsnapshot" => snapshot::listsnapshot(node, call),
        "snapshot" => snapshot::snapshot(node, call),
        "delsnapshot" => snapshot::delsnapshot(node, call),
        "rollback" => snapshot::rollback(node, call),
        "destroy" => config::destroy(node, call),
        "template" => config::template(node, call),
        "unlock" => config::unlock(node, call),
        "clone" => clone::clone(node, call),
        "migrate" => migrate::migrate(node, call),
        "resize" | "disk resize" => disks::resize(node, call),
        "exec" if call.tool == "pct" => exec::pct_exec(node, call),
        "push" => exec::push(node, call),
        "pull" => exec::pull(node, call),
        "guest exec" => agent::guest_exec(node, call),
        "guest exec-status" => agent::guest_exec_status(node, call),
        "guest cmd" => agent::guest_cmd(node, call),
        "disk import" => disks::disk_import(node, call),
        _ => {
            unreachable_cmd(call)?;
            Ok(1)
        }
    }
}
