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
    if let Some(code) = ha_request(node, call, kind, id, running)? {
        return Ok(code);
    }
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

/// An HA-managed guest is started and stopped by the HA manager: the call only asks it
/// (pve-container's and qemu-server's `hastart`/`hastop` workers), after the same running
/// checks. `None`: not HA-managed, or this is the simulated LRM acting.
fn ha_request(node: &Node, call: &Call, kind: Kind, id: u32, running: bool) -> R<Option<i32>> {
    if crate::ha::as_lrm() || crate::ha::managed(&node.root, kind, id).is_none() {
        return Ok(None);
    }
    let label = kind.label();
    let req = match call.command.as_str() {
        "start" if running => return Err(fail(format!("{label} {id} already running"))),
        "start" => crate::ha::Request::Start,
        // qemu-server hands a stop to the HA manager whatever the VM's state.
        "stop" | "shutdown" if !running && (kind == Kind::Lxc || call.command == "shutdown") => {
            return Err(fail(format!("{label} {id} not running")))
        }
        "stop" | "shutdown" => crate::ha::Request::Stop,
        _ => return Ok(None),
    };
    crate::ha::check_not_error(&node.root, kind, id)?;
    let verb = if req == crate::ha::Request::Start {
        "start"
    } else {
        "stop"
    };
    println!("Requesting HA {verb} for {label} {id}");
    crate::ha::request(node, kind, id, req)?;
    Ok(Some(0))
}
