//! PHX-VM-01..06 (seed 002, section 3.4) against the simulator, with VM 1000.

mod common;

use common::*;
use serde_json::json;

fn vm1000() -> Node {
    let n = Node::with_vms(&json!({
        "vm_defaults": { "cores": 2, "memory_mb": 2048, "storage_pool": "quickOS-vm-disks",
                         "network_bridge": "vmbr0", "guest_agent_timeout_secs": 10, "guest_agent_poll_secs": 1 },
        "vms": [{
            "vmid": 1000, "name": "seed-vm", "template_image": NOBLE, "disk_size_gb": 20,
            "network_config": { "ip": "10.0.0.50/24", "gw": "10.0.0.1", "nameservers": ["10.0.0.1"] },
            "user_config": { "username": "phoenix", "ssh_public_key": "ssh-ed25519 AAAAC3Nza test@phoenix" },
            "features": ["base_setup"],
            "template_snapshot_name": "ready"
        }]
    }));
    n.seed_image(CACHE, NOBLE, 1 << 20);
    n
}

#[test]
fn phx_vm_01_missing_target() {
    let n = vm1000();
    let err = n.fails(&["create"]);
    assert!(err.contains("Error: Missing target ID"), "{err}");
}

#[test]
fn phx_vm_02_03_create_then_idempotent() {
    let n = vm1000();
    let calls = n.calls_of(|| {
        n.ok(&["create", "1000"]);
    });
    assert_valid_qm(&calls);
    for step in [
        "qm create 1000",
        "qm set 1000",
        "qm disk resize 1000 scsi0 20G",
        "qm start 1000",
        "qm guest cmd 1000 ping",
        "qm guest exec 1000",
        "qm snapshot 1000 ready",
    ] {
        assert!(
            has(&calls, step),
            "missing `{step}` in {:#?}",
            lines(&calls)
        );
    }
    assert!(
        pos(&calls, "qm create") < pos(&calls, "qm start")
            && pos(&calls, "qm start") < pos(&calls, "qm snapshot")
    );
    let conf = n.conf(1000).expect("conf");
    assert!(
        conf.contains("sshkeys: ssh-ed25519%20AAAAC3Nza%20test%40phoenix"),
        "{conf}"
    );
    assert!(conf.contains("ipconfig0: ip=10.0.0.50/24,gw=10.0.0.1"));
    assert!(conf.contains("[ready]"));
    let status = n.vm(&["status", "1000"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("running"));

    let again = n.calls_of(|| {
        let err = n.ok(&["create", "1000"]);
        assert!(err.contains("already in the desired state"), "{err}");
    });
    assert!(
        again.iter().all(|c| !c.mutating),
        "mutating calls on a converged VM: {:#?}",
        lines(&again)
    );
}

#[test]
fn phx_vm_04_05_start_and_stop() {
    let n = vm1000();
    n.ok(&["create", "1000"]);
    let stop = n.calls_of(|| {
        n.ok(&["stop", "1000"]);
    });
    assert!(has(&stop, "qm stop 1000"), "{:#?}", lines(&stop));
    let start = n.calls_of(|| {
        n.ok(&["start", "1000"]);
    });
    assert!(has(&start, "qm start 1000"), "{:#?}", lines(&start));
    assert!(String::from_utf8_lossy(&n.vm(&["status", "1000"]).stdout).contains("running"));
}

#[test]
fn phx_vm_06_delete_stops_then_destroys() {
    let n = vm1000();
    n.ok(&["create", "1000"]);
    assert!(n.record(1000).exists(), "feature record written");
    let calls = n.calls_of(|| {
        n.ok(&["delete", "1000"]);
    });
    assert!(
        pos(&calls, "qm stop 1000") < pos(&calls, "qm destroy 1000 --purge"),
        "{:#?}",
        lines(&calls)
    );
    assert!(n.conf(1000).is_none());
    assert!(!n.record(1000).exists(), "record removed");
    let err = n.ok(&["delete", "1000"]);
    assert!(err.contains("does not exist"), "{err}");
}
