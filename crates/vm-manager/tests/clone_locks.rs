//! Proxmox's clone locks as the VM manager meets them: `qm clone` only share-locks a stopped
//! template, so two VM managers clone one template at once; any other source gets `lock: clone`
//! for the whole copy, so its clones run one after the other, and neither run fails. The
//! managers run as under the dispatcher (host lock held), side by side; times come from the
//! simulator's log, not from a clock in the test.

mod common;

use common::*;
use serde_json::{json, Value};

fn node() -> Node {
    let vm = |id: u64, from: Option<u64>| {
        let mut v = json!({
            "vmid": id, "name": format!("vm{id}"),
            "network_config": { "ip": format!("10.0.0.{}/24", id % 200), "gw": "10.0.0.1" },
            "user_config": { "username": "phoenix" }
        });
        match from {
            Some(s) => v["clone_from_vmid"] = json!(s),
            None => v["template_image"] = json!(NOBLE),
        }
        v
    };
    let mut template = vm(8000, None);
    template["is_template"] = json!(true);
    let mut n = Node::with_vms(&json!({
        "vm_defaults": { "cores": 1, "memory_mb": 1024, "storage_pool": "quickOS-vm-disks",
                         "network_bridge": "vmbr0", "guest_agent_timeout_secs": 10,
                         "guest_agent_poll_secs": 1 },
        "vms": [ template, vm(8001, Some(8000)), vm(8002, Some(8000)),
                 vm(8100, None), vm(8101, Some(8100)), vm(8102, Some(8100)) ]
    }));
    n.seed_image(CACHE, NOBLE, 1 << 20);
    // As under the dispatcher: it holds the host lock, the managers run side by side.
    n.extra_env
        .push(("PHOENIX_HOST_LOCK_HELD".into(), "1".into()));
    n
}

/// `vm-manager create` of `ids` at once; every run must succeed.
fn create_together(n: &Node, ids: &[&str]) {
    std::thread::scope(|s| {
        let runs: Vec<_> = ids
            .iter()
            .map(|id| s.spawn(move || n.vm(&["create", id])))
            .collect();
        for (id, r) in ids.iter().zip(runs) {
            let out = r.join().expect("thread");
            assert_eq!(out.status.code(), Some(0), "vm-manager create {id} failed");
        }
    });
}

/// Start and end (ms) of every `qm clone <src>` in the log; none may have failed.
fn clone_spans(n: &Node, src: &str) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(n.sim.join("invocations.jsonl")).expect("log");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|c| c["tool"] == "qm" && c["argv"][0] == "clone" && c["argv"][1] == src)
        .map(|c| {
            assert_eq!(c["exit_code"], 0, "a clone failed: {c}");
            let start = c["start"].as_u64().expect("start");
            (start, start + c["duration_ms"].as_u64().expect("duration"))
        })
        .collect()
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn clones_of_a_template_run_together_clones_of_a_vm_one_at_a_time() {
    let n = node();
    n.ok(&["create", "8000"]);
    n.ok(&["create", "8100"]);
    n.faults(&json!({ "latency_ms": { "qm clone": 1000 } }));

    create_together(&n, &["8001", "8002"]);
    let t = clone_spans(&n, "8000");
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(
        overlap(t[0], t[1]),
        "clones of template 8000 were serialised: {t:?}"
    );

    create_together(&n, &["8101", "8102"]);
    let v = clone_spans(&n, "8100");
    assert_eq!(v.len(), 2, "one clone each, none refused: {v:?}");
    assert!(
        !overlap(v[0], v[1]),
        "two clones of VM 8100 overlapped: {v:?}"
    );
    for id in [8001, 8002, 8101, 8102] {
        assert!(n.conf(id).is_some(), "VM {id} exists");
    }
}
