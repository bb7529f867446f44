//! `vm-manager health-check <vmid>` (the Bash CLI's `phoenix health-check`): running, guest
//! agent, every `health_checks` entry, run now whatever the record says; changes nothing.

mod common;

use common::*;
use serde_json::json;

fn node() -> Node {
    let n = Node::with_vms(&json!({
        "vm_defaults": {"storage_pool": "quickOS-vm-disks", "guest_agent_poll_secs": 1,
                        "guest_agent_timeout_secs": 3},
        "vms": [
            // The checks run for real in the simulated guest: Docker comes from the feature,
            // the name from the guest's /etc/hosts (there is no DNS).
            {"vmid": 1600, "name": "hc", "template_image": NOBLE, "features": ["docker"],
             "health_checks": [
                {"name": "docker", "command": "docker info", "retries": 2, "interval": 1},
                {"name": "dns", "command": "getent hosts localhost", "retries": 1}
             ]},
            {"vmid": 1601, "name": "tmpl", "template_image": NOBLE, "is_template": true},
            {"vmid": 1602, "name": "plain", "template_image": NOBLE}
        ]
    }));
    n.seed_image(CACHE, NOBLE, 1 << 20);
    n
}

/// Calls that change something other than running a command in the guest.
fn host_changes(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| {
            c.mutating && !(c.tool == "qm" && c.argv.starts_with(&["guest".into(), "exec".into()]))
        })
        .map(Call::line)
        .collect()
}

#[test]
fn a_running_vm_passes_its_checks_again_without_changing_anything() {
    let n = node();
    n.ok(&["create", "1600"]);
    let before = n
        .guest_exec_log(1600)
        .iter()
        .filter(|e| e["cmd"].to_string().contains("docker info"))
        .count();
    let mut err = String::new();
    let calls = n.calls_of(|| err = n.ok(&["health-check", "1600"]));
    assert!(
        err.contains("VM 1600: running")
            && err.contains("VM 1600: guest agent answers")
            && err.contains("health check docker passed")
            && err.contains("health check dns passed")
            && err.contains("foundation checks passed (running, guest agent, 2 health checks)"),
        "{err}"
    );
    let after = n
        .guest_exec_log(1600)
        .iter()
        .filter(|e| e["cmd"].to_string().contains("docker info"))
        .count();
    assert_eq!(after, before + 1, "run although create recorded it");
    assert!(
        host_changes(&calls).is_empty(),
        "{:?}",
        host_changes(&calls)
    );
    assert!(has(&calls, "qm guest cmd 1600 ping"));
}

#[test]
fn a_failing_check_fails_with_its_name_after_its_retries() {
    let n = node();
    n.ok(&["create", "1600"]);
    n.faults(
        &json!({"guest_commands": [{"tool": "qm", "contains": "docker info", "exit_code": 1,
                                          "stderr": "Cannot connect to the Docker daemon"}]}),
    );
    let err = n.fails(&["health-check", "1600"]);
    assert!(
        err.contains("Error: VM 1600: health check docker:")
            && err.contains("after 2 attempts")
            && err.contains("Cannot connect to the Docker daemon"),
        "{err}"
    );
}

#[test]
fn stopped_missing_and_template_vms_are_named() {
    let n = node();
    let err = n.fails(&["health-check", "1602"]);
    assert!(
        err.contains("the VM does not exist; create it first (phoenix create 1602)"),
        "{err}"
    );
    n.ok(&["create", "1602"]);
    n.ok(&["stop", "1602"]);
    let calls = n.calls_of(|| {
        let err = n.fails(&["health-check", "1602"]);
        assert!(
            err.contains("the VM is not running (stopped); start it first (phoenix start 1602)"),
            "{err}"
        );
    });
    assert!(host_changes(&calls).is_empty(), "not started by a check");
    n.ok(&["start", "1602"]);
    let err = n.ok(&["health-check", "1602"]);
    assert!(err.contains("no health_checks configured"), "{err}");
    n.ok(&["create", "1601"]);
    let err = n.fails(&["health-check", "1601"]);
    assert!(err.contains("the VM is a template"), "{err}");
}

#[test]
fn an_agent_that_never_answers_is_reported() {
    let n = node();
    n.ok(&["create", "1602"]);
    n.faults(
        &json!({"rules": [{"tool": "qm", "command": "guest cmd", "exit_code": 255,
                                 "message": "QEMU guest agent is not running"}]}),
    );
    let err = n.fails(&["health-check", "1602"]);
    assert!(
        err.contains("Error: VM 1602: guest agent: no answer to 'qm guest cmd 1602 ping'")
            && err.contains("QEMU guest agent is not running"),
        "{err}"
    );
}
