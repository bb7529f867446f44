//! Guest agent results and injected failures: a non-zero guest `exitcode` although `qm` exits 0,
//! the `{"pid"}` path polled through `exec-status`, chunked transfer above the stdin limit,
//! agent time-out, clone failure and import failure, each followed by a converging re-run.

mod common;

use common::*;
use serde_json::json;

fn fixture() -> Node {
    let n = Node::fixture();
    n.seed_image(CACHE, NOBLE, 3 << 20);
    n
}

fn clear_faults(n: &Node) {
    n.faults(&json!({}));
}

/// The same target built on a node without faults, for comparing `pve-sim dump`.
fn clean_dump(targets: &[&str]) -> String {
    let n = fixture();
    for t in targets {
        n.ok(&["create", t]);
    }
    n.dump()
}

#[test]
fn failing_feature_exitcode_stops_the_run() {
    let n = fixture();
    n.ok(&["create", "8000"]);
    n.faults(&json!({"guest_commands": [
        {"tool": "qm", "contains": "/bin/bash /var/lib/phoenix/vm_features/feature_install_docker.sh", "exit_code": 3, "stderr": "E: docker-ce has no installation candidate"}
    ]}));
    let calls = n.calls_of(|| {
        let err = n.fails(&["create", "8001"]);
        assert!(err.contains("Error: VM 8001: feature docker:"), "{err}");
        assert!(
            err.contains("exit 3") && err.contains("docker-ce has no installation candidate"),
            "{err}"
        );
    });
    let run = calls
        .iter()
        .find(|c| c.line().contains("/bin/bash"))
        .expect("feature run");
    assert_eq!(
        run.exit, 0,
        "qm itself exits 0; the guest's exitcode is what failed"
    );
    assert!(!has(&calls, "qm snapshot"), "stopped before the snapshot");
    clear_faults(&n);
    n.ok(&["create", "8001"]);
    assert!(n.conf(8001).expect("conf").contains("[initial]"));
}

#[test]
fn long_feature_returns_a_pid_that_is_polled() {
    let mut n = fixture();
    n.extra_env
        .push(("PHOENIX_VM_EXEC_WAIT_SECS".into(), "1".into()));
    n.ok(&["create", "8000"]);
    n.faults(&json!({"guest_commands": [
        {"tool": "qm", "contains": "/bin/bash /var/lib/phoenix/vm_features/feature_install_docker.sh", "exit_code": 0, "duration_ms": 2500}
    ]}));
    let calls = n.calls_of(|| {
        n.ok(&["create", "8001"]);
    });
    assert!(
        has(&calls, "qm guest exec-status 8001 "),
        "{:#?}",
        lines(&calls)
    );
    assert!(pos(&calls, "qm guest exec-status") < pos(&calls, "qm snapshot 8001"));
}

#[test]
fn failing_long_feature_is_reported_from_exec_status() {
    let mut n = fixture();
    n.extra_env
        .push(("PHOENIX_VM_EXEC_WAIT_SECS".into(), "1".into()));
    n.ok(&["create", "8000"]);
    n.faults(&json!({"guest_commands": [
        {"tool": "qm", "contains": "/bin/bash /var/lib/phoenix/vm_features/feature_install_docker.sh", "exit_code": 7, "stderr": "late failure", "duration_ms": 1500}
    ]}));
    let err = n.fails(&["create", "8001"]);
    assert!(
        err.contains("exit 7") && err.contains("late failure"),
        "{err}"
    );
}

#[test]
fn script_larger_than_the_stdin_limit_is_sent_in_chunks() {
    let mut n = Node::with_vms(&json!({
        "vm_defaults": {"storage_pool": "quickOS-vm-disks", "guest_agent_poll_secs": 1},
        "vms": [{"vmid": 1200, "name": "big", "template_image": NOBLE, "features": ["big"]}]
    }));
    n.seed_image(CACHE, NOBLE, 1 << 20);
    let scripts = n.tmp.path().join("scripts");
    std::fs::create_dir_all(scripts.join("vm_features")).expect("dir");
    let mut script = String::from("#!/bin/bash\n");
    while script.len() < (1 << 20) + (1 << 19) {
        script.push_str("# padding line to make this feature script larger than one MiB\n");
    }
    std::fs::write(scripts.join("vm_features/feature_install_big.sh"), &script).expect("script");
    n.scripts = scripts;
    n.ok(&["create", "1200"]);
    let writes: Vec<serde_json::Value> = n
        .guest_exec_log(1200)
        .into_iter()
        .filter(|e| {
            e["cmd"].to_string().contains("feature_install_big.sh") && e["stdin"].is_string()
        })
        .collect();
    assert_eq!(writes.len(), 2, "1.5 MiB in chunks of at most 1 MiB");
    assert!(writes[0]["cmd"].to_string().contains("cat > "));
    assert!(writes[1]["cmd"].to_string().contains("cat >> "));
    let sent: String = writes.iter().filter_map(|w| w["stdin"].as_str()).collect();
    assert!(writes
        .iter()
        .all(|w| w["stdin"].as_str().map_or(0, str::len) <= 1 << 20));
    assert_eq!(sent, script);
}

#[test]
fn agent_timeout_stops_with_elapsed_time_then_converges() {
    let n = Node::with_vms(&json!({
        "vm_defaults": {"storage_pool": "quickOS-vm-disks", "guest_agent_timeout_secs": 2, "guest_agent_poll_secs": 1},
        "vms": [{"vmid": 1300, "name": "slow", "template_image": NOBLE, "features": ["base_setup"]}]
    }));
    n.seed_image(CACHE, NOBLE, 1 << 20);
    n.faults(&json!({"agent_boot_delay_ms": 600000}));
    let err = n.fails(&["create", "1300"]);
    assert!(
        err.contains("Error: VM 1300: guest agent: no answer to 'qm guest cmd 1300 ping' after 2s"),
        "{err}"
    );
    clear_faults(&n);
    n.ok(&["create", "1300"]);
    let again = n.calls_of(|| {
        n.ok(&["create", "1300"]);
    });
    assert!(again.iter().all(|c| !c.mutating));
}

#[test]
fn clone_failure_stops_then_converges() {
    let n = fixture();
    n.ok(&["create", "8000"]);
    n.faults(&json!({"rules": [{"tool": "qm", "command": "clone", "message": "clone failed: out of space on quickOS-vm-disks"}]}));
    let err = n.fails(&["create", "8001"]);
    assert!(
        err.contains("Error: VM 8001: clone:") && err.contains("out of space"),
        "{err}"
    );
    clear_faults(&n);
    n.ok(&["create", "8001"]);
    assert_eq!(n.dump(), clean_dump(&["8000", "8001"]));
}

#[test]
fn import_failure_stops_then_converges() {
    let n = fixture();
    n.faults(&json!({"rules": [{"tool": "qm", "command": "create", "argv_contains": "import-from", "message": "import failed: qemu-img convert exited 1"}]}));
    let err = n.fails(&["create", "8000"]);
    assert!(
        err.contains("Error: VM 8000: import:") && err.contains("qemu-img convert"),
        "{err}"
    );
    assert!(n.conf(8000).is_none());
    clear_faults(&n);
    n.ok(&["create", "8000"]);
    n.ok(&["create", "8001"]);
    assert_eq!(n.dump(), clean_dump(&["8000", "8001"]));
}

#[test]
fn failing_health_check_retries_then_stops_and_reconfigure_reruns_features() {
    let n = Node::with_vms(&json!({
        "vm_defaults": {"storage_pool": "quickOS-vm-disks", "guest_agent_poll_secs": 1},
        "vms": [{"vmid": 1400, "name": "hc", "template_image": NOBLE, "features": ["base_setup"],
                 "health_checks": [{"name": "web", "command": "systemctl is-active qemu-guest-agent", "retries": 2, "interval": 1}]}]
    }));
    n.seed_image(CACHE, NOBLE, 1 << 20);
    // The check runs for real in the simulated guest; the fault makes it fail until cleared.
    n.faults(&json!({"guest_commands": [{"tool": "qm", "contains": "is-active qemu-guest-agent", "exit_code": 3, "stderr": "connection refused"}]}));
    let err = n.fails(&["create", "1400"]);
    assert!(
        err.contains("Error: VM 1400: health check web:")
            && err.contains("after 2 attempts")
            && err.contains("connection refused"),
        "{err}"
    );
    let tries = n
        .guest_exec_log(1400)
        .iter()
        .filter(|e| e["cmd"].to_string().contains("is-active qemu-guest-agent"))
        .count();
    assert_eq!(tries, 2);
    clear_faults(&n);
    n.ok(&["create", "1400"]);
    let runs = |n: &Node| {
        n.guest_exec_log(1400)
            .iter()
            .filter(|e| e["cmd"].to_string().contains("/bin/bash"))
            .count()
    };
    let before = runs(&n);
    n.ok(&["create", "1400"]);
    assert_eq!(runs(&n), before, "recorded feature is not re-run by create");
    n.ok(&["reconfigure", "1400"]);
    assert_eq!(runs(&n), before + 1, "reconfigure re-runs features");
}
