//! The QEMU guest agent: `qm guest exec`, `exec-status`, `cmd`.

use super::exec::{guest_log, outcome};
use super::{existing, vmid};
use crate::state::{atomic_write, now_ms, Kind, Node};
use crate::{fail, R};
use pve::output::{self};
use pve::spec::{self, Call};
use pve::PropString;
use std::fs;
use std::io::Read;

pub(super) fn agent_ready(node: &Node, id: u32) -> R<()> {
    // The order of qemu-server's `assert_agent_available`: an `agent` key at all, the VM
    // running, the agent answering (a disabled agent has no channel, so it never answers).
    let conf = existing(node, Kind::Qemu, id)?;
    let Some(agent) = conf.get("agent") else {
        return Err(fail("No QEMU guest agent configured"));
    };
    let st = node.run_state(id);
    if st.status != "running" {
        return Err(fail(format!("VM {id} is not running")));
    }
    let enabled = PropString::parse_with_default(agent, Some("enabled"))
        .ok()
        .and_then(|p| p.get("enabled").and_then(spec::parse_bool))
        .unwrap_or(false);
    if !enabled {
        return Err(fail("QEMU guest agent is not running"));
    }
    let up_at = st.started_ms.unwrap_or(0) + node.faults.agent_boot_delay_ms;
    if now_ms() < up_at {
        return Err(fail("QEMU guest agent is not running"));
    }
    // The agent is a program in the guest: it answers only where it is installed and running
    // (Ubuntu's cloud image has none until cloud-init installs qemu-guest-agent).
    let fs = crate::guestos::tree::Tree::of(node, id).fs();
    if !crate::guestos::systemd::is_active(&fs, "qemu-guest-agent.service") {
        return Err(fail("QEMU guest agent is not running"));
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct AgentProc {
    finish_ms: u64,
    exitcode: i32,
    out: String,
    err: String,
}

pub(super) fn exec_status_json(p: &AgentProc, now: u64) -> serde_json::Value {
    if now < p.finish_ms {
        return serde_json::json!({"exited": 0});
    }
    let mut m = serde_json::Map::new();
    m.insert("exitcode".into(), p.exitcode.into());
    m.insert("exited".into(), 1.into());
    if !p.out.is_empty() {
        m.insert("out-data".into(), p.out.clone().into());
    }
    if !p.err.is_empty() {
        m.insert("err-data".into(), p.err.clone().into());
    }
    serde_json::Value::Object(m)
}

pub(super) fn guest_exec(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    node.pause(&call.tool, &call.command)?;
    agent_ready(node, id)?;
    if call.extra.is_empty() {
        return Err(fail("command or input-data (or both) required"));
    }
    let mut stdin = String::new();
    if call.flag("pass-stdin") {
        std::io::stdin()
            .take(1 << 20)
            .read_to_string(&mut stdin)
            .map_err(|e| fail(format!("unable to read stdin: {e}")))?;
    }
    let (res, duration) = outcome(
        node,
        "qm",
        id,
        &call.extra,
        crate::sandbox::Io::Capture(Some(stdin.as_bytes())),
    )?;
    let code = res.code;
    let out = String::from_utf8_lossy(&res.stdout).into_owned();
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    let now = now_ms();
    let proc_ = AgentProc {
        finish_ms: now + duration,
        exitcode: code,
        out,
        err,
    };
    // pid, persisted per VM.
    let dir = node.guest_dir(id).join("agent");
    let pid = {
        let _g = node.lock_global(&format!("agent-{id}"))?;
        let p = dir.join("next_pid");
        let pid: u64 = fs::read_to_string(&p)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(1000);
        atomic_write(&p, (pid + 1).to_string().as_bytes())?;
        pid
    };
    let text = serde_json::to_string(&proc_).map_err(|e| fail(e.to_string()))?;
    atomic_write(&dir.join(format!("{pid}.json")), text.as_bytes())?;
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "qm", "time_ms": now, "cmd": call.extra, "pid": pid,
            "exit_code": code, "stdin": if call.flag("pass-stdin") { Some(stdin) } else { None }}),
    )?;
    let synchronous = call
        .opt("synchronous")
        .and_then(spec::parse_bool)
        .unwrap_or(true);
    let timeout_ms = call
        .opt("timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(30)
        * 1000;
    let waits = synchronous && (timeout_ms == 0 || duration <= timeout_ms);
    if !synchronous {
        print!("{}", output::format_json(&serde_json::json!({"pid": pid})));
        return Ok(0);
    }
    if !waits {
        std::thread::sleep(std::time::Duration::from_millis(timeout_ms));
        print!("{}", output::format_json(&serde_json::json!({"pid": pid})));
        return Ok(0);
    }
    if duration > 0 {
        std::thread::sleep(std::time::Duration::from_millis(duration));
    }
    print!(
        "{}",
        output::format_json(&exec_status_json(&proc_, proc_.finish_ms))
    );
    Ok(0)
}

pub(super) fn guest_exec_status(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    agent_ready(node, id)?;
    let pid = call.arg("pid").unwrap_or("");
    let p = node.guest_dir(id).join("agent").join(format!("{pid}.json"));
    let proc_: AgentProc = fs::read_to_string(&p)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| fail("Agent error: Invalid parameter 'pid'"))?;
    print!(
        "{}",
        output::format_json(&exec_status_json(&proc_, now_ms()))
    );
    Ok(0)
}

pub(super) fn guest_cmd(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    node.pause(&call.tool, &call.command)?;
    agent_ready(node, id)?;
    let conf = existing(node, Kind::Qemu, id)?;
    let name = conf.get("name").unwrap_or("").to_string();
    let v = match call.arg("command").unwrap_or("") {
        "ping" | "fsfreeze-freeze" | "fsfreeze-thaw" | "shutdown" | "suspend-disk"
        | "suspend-hybrid" | "suspend-ram" | "fstrim" => None,
        "get-host-name" => Some(serde_json::json!({"host-name": name})),
        "get-osinfo" => {
            Some(serde_json::json!({"id": "ubuntu", "name": "Ubuntu", "version-id": "24.04"}))
        }
        "fsfreeze-status" => Some(serde_json::json!("thawed")),
        "info" => Some(serde_json::json!({"version": "pve-sim"})),
        "network-get-interfaces" => {
            let mut ifaces = vec![
                serde_json::json!({"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}]}),
            ];
            for (n, v) in conf.indexed("ipconfig") {
                if let Some(ip) = PropString::parse(v)
                    .ok()
                    .and_then(|p| p.get("ip").map(str::to_string))
                {
                    if let Some((addr, prefix)) = ip.split_once('/') {
                        ifaces.push(serde_json::json!({"name": format!("eth{n}"), "ip-addresses": [{"ip-address": addr, "ip-address-type": "ipv4", "prefix": prefix.parse::<u32>().unwrap_or(24)}]}));
                    }
                }
            }
            Some(serde_json::Value::Array(ifaces))
        }
        _ => Some(serde_json::json!({})),
    };
    if let Some(v) = v {
        print!("{}", output::format_json(&v));
    }
    Ok(0)
}
