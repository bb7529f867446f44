//! Power: `start`, `stop`, `shutdown`, `reboot`.

use super::{check_lock, kind_of, locked, unreachable_cmd, vmid};
use crate::state::{now_ms, Kind, Node, RunState};
use crate::{fail, R};
use pve::spec::{self, Call};
use pve::Conf;

pub(super) fn start_guest(node: &Node, kind: Kind, id: u32, conf: &Conf) -> R<()> {
    if conf.get("template").and_then(spec::parse_bool) == Some(true) {
        return Err(match kind {
            Kind::Lxc => fail("you can't start a CT if it's a template"),
            Kind::Qemu => fail("you can't start a vm if it's a template"),
        });
    }
    if node.is_running(id) {
        return Err(fail(format!("{} {id} already running", kind.label())));
    }
    node.set_run_state(
        id,
        &RunState {
            status: "running".to_string(),
            started_ms: Some(now_ms()),
            pid: Some(10_000 + id % 50_000),
        },
    )?;
    crate::guestos::boot::boot(node, kind, id, conf)?;
    // Containers that came back with the engine serve again; a stand-in that cannot start is
    // the guest's problem, not the start's.
    if let Err(e) = crate::guestos::services::reconcile(node, id) {
        eprintln!("pve-sim: guest {id}: {}", e.msg);
    }
    Ok(())
}

/// The guest is off: nothing in it listens on the simulated network any more.
pub(super) fn power_off(node: &Node, id: u32) -> R<()> {
    node.set_run_state(id, &RunState::default())?;
    let _ = crate::guestos::services::stop_all(node, id);
    let _ = pve_sim_services::net::unregister_guest(&node.root, id);
    Ok(())
}

pub(super) fn lifecycle(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, conf) = locked(node, call, kind, id)?;
    let running = node.is_running(id);
    let label = kind.label();
    match call.command.as_str() {
        "start" => {
            check_lock(kind, id, &conf, call)?;
            start_guest(node, kind, id, &conf)?;
        }
        "stop" | "shutdown" => {
            if !running {
                if kind == Kind::Qemu && call.command == "stop" {
                    return Ok(0);
                }
                return Err(fail(format!("{label} {id} not running")));
            }
            if call.command == "shutdown" {
                check_lock(kind, id, &conf, call)?;
            }
            power_off(node, id)?;
        }
        "reboot" => {
            if !running {
                return Err(fail(format!("{label} {id} not running")));
            }
            check_lock(kind, id, &conf, call)?;
            power_off(node, id)?;
            start_guest(node, kind, id, &conf)?;
        }
        _ => unreachable_cmd(call)?,
    }
    Ok(0)
}
