//! The `cluster` block and where each guest goes in it: every problem names the file, the
//! JSON path and what is expected; a config without the block loads as before.

mod common;

use common::*;
use serde_json::{json, Value};

/// A set whose hypervisor file carries `cluster`.
fn with_cluster(cluster: Value, lxc: Value, vm: Value) -> Set {
    let set = Set::new(lxc, vm);
    let mut hv: Value = serde_json::from_str(&std::fs::read_to_string(set.hv()).unwrap()).unwrap();
    hv["cluster"] = cluster;
    write(&set.hv(), &hv.to_string());
    set
}

fn three_nodes() -> Value {
    json!({
        "nodes": [{"name": "pve1", "gpus": [0, 1]}, {"name": "pve2", "gpus": [0]}, {"name": "pve3"}],
        "storages": {"local-zfs": {"nodes": ["pve1", "pve2"]}, "nfs-shared": {"shared": true}}
    })
}

#[test]
fn guests_get_their_node_or_the_default() {
    let mut ct = clone_ct("web", 900);
    ct["node"] = json!("pve2");
    let set = with_cluster(
        three_nodes(),
        lxc_file(json!({"900": base_ct("base"), "950": ct})),
        vm_file(vec![]),
    );
    let cfg = set.load().expect("valid");
    let node = |id: u64| cfg.guest(phoenix_config::GuestId(id)).unwrap().node.clone();
    assert_eq!(node(900).as_deref(), Some("pve1"));
    assert_eq!(node(950).as_deref(), Some("pve2"));
}

#[test]
fn without_a_cluster_nothing_changes_but_node_is_refused() {
    let set = Set::new(lxc_file(json!({"900": base_ct("base")})), vm_file(vec![]));
    let cfg = set.load().expect("valid");
    assert!(cfg.guests().all(|g| g.node.is_none()));
    let mut ct = base_ct("base");
    ct["node"] = json!("pve1");
    let set = Set::new(lxc_file(json!({"900": ct})), vm_file(vec![]));
    let errs = set.errors();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("lxc.json") && errs[0].contains("lxc_configs.900.node"));
    assert!(errs[0].contains("needs a `cluster` block"), "{}", errs[0]);
}

#[test]
fn node_storage_gpu_and_cross_node_clone_are_checked() {
    let mut on_pve3 = base_ct("base3");
    on_pve3["node"] = json!("pve3");
    let mut unknown = base_ct("nowhere");
    unknown["node"] = json!("pve9");
    let mut gpu = clone_ct("gpu", 900);
    gpu["node"] = json!("pve2");
    gpu["gpu_assignment"] = json!("1");
    let mut across = clone_ct("across", 900);
    across["node"] = json!("pve3");
    let mut shared = clone_ct("shared", 900);
    shared["node"] = json!("pve2");
    shared["storage_pool"] = json!("nfs-shared");
    let mut vm_on = vm(8000, "vm");
    vm_on["node"] = json!("pve2");
    let set = with_cluster(
        three_nodes(),
        lxc_file(json!({
            "900": base_ct("base"), "901": on_pve3, "902": unknown,
            "950": gpu, "951": across, "952": shared
        })),
        vm_file(vec![vm_on]),
    );
    let errs = set.errors();
    let has = |path: &str, what: &str| {
        assert!(
            errs.iter()
                .any(|e| e.contains("lxc.json") && e.contains(path) && e.contains(what)),
            "no error at {path} saying {what:?}: {errs:#?}"
        )
    };
    has(
        "lxc_configs.901.storage_pool",
        "storage 'local-zfs' is not on node 'pve3'",
    );
    has(
        "lxc_configs.902.node",
        "node 'pve9' is not in cluster.nodes (pve1, pve2, pve3)",
    );
    has(
        "lxc_configs.950.gpu_assignment",
        "GPU 1 is not a GPU of node 'pve2'",
    );
    has(
        "lxc_configs.951",
        "storage 'local-zfs' must be on both nodes or shared",
    );
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn the_block_itself_is_checked() {
    let set = with_cluster(
        json!({
            "default_node": "pve5",
            "nodes": [{"name": "pve1"}, {"name": "pve1"}, {"name": "bad.name"}],
            "storages": {"local-zfs": {"nodes": ["pve4"]}}
        }),
        lxc_file(json!({})),
        vm_file(vec![]),
    );
    let errs = set.errors();
    let has = |path: &str, what: &str| {
        assert!(
            errs.iter()
                .any(|e| e.contains("hv.json") && e.contains(path) && e.contains(what)),
            "no error at {path} saying {what:?}: {errs:#?}"
        )
    };
    has("cluster.nodes[1].name", "listed twice");
    has("cluster.nodes[2].name", "one DNS label");
    has(
        "cluster.default_node",
        "node 'pve5' is not in cluster.nodes",
    );
    has(
        "cluster.storages.local-zfs.nodes[0]",
        "node 'pve4' is not in cluster.nodes",
    );
}

#[test]
fn a_node_endpoint_is_accepted_with_a_warning_that_it_is_not_used() {
    let mut c = three_nodes();
    c["nodes"][2]["endpoint"] = json!("https://pve3.example.net:8006");
    let set = with_cluster(
        c,
        lxc_file(json!({"900": base_ct("base")})),
        vm_file(vec![]),
    );
    let cfg = set.load().expect("valid");
    let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].contains("cluster.nodes[2].endpoint")
            && w[0].contains("`endpoint` is loaded but not applied yet")
            && w[0].contains("orchestration.api.endpoint"),
        "{}",
        w[0]
    );
}
