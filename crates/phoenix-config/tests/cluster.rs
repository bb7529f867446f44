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

/// A cluster whose second node overrides `network` (its own address) and `timezone`.
fn with_setup(setup: Value) -> Set {
    with_cluster(
        json!({"nodes": [{"name": "pve1"}, {"name": "pve2", "setup": setup}, {"name": "pve3"}]}),
        lxc_file(json!({})),
        vm_file(vec![]),
    )
}

#[test]
fn a_nodes_setup_is_merged_over_the_top_level_for_that_node_only() {
    let set = with_setup(json!({
        "network": {"interfaces": {"address": "10.0.0.12/24"}},
        "timezone": "Europe/Berlin",
        "sysctl": null
    }));
    let mut hv: Value = serde_json::from_str(&std::fs::read_to_string(set.hv()).unwrap()).unwrap();
    hv["network"] = json!({"interfaces": {"name": "vmbr0", "address": "10.0.0.13/24", "gateway": "10.0.0.1", "dns_nameservers": "10.0.0.1"}});
    hv["sysctl"] = json!({"vm.swappiness": "10"});
    write(&set.hv(), &hv.to_string());
    let cfg = set.load().expect("valid");
    assert!(cfg.node_setup_json("pve1").is_none());
    let pve2 = cfg.node_setup_json("pve2").expect("merged");
    assert_eq!(pve2["network"]["interfaces"]["address"], "10.0.0.12/24");
    assert_eq!(pve2["network"]["interfaces"]["gateway"], "10.0.0.1");
    assert_eq!(pve2["timezone"], "Europe/Berlin");
    assert!(pve2.get("sysctl").is_none(), "null removes a key");
    let node = cfg.for_node("pve2", std::path::Path::new("/tmp/x.json"));
    let addr = node
        .hypervisor
        .network
        .as_ref()
        .and_then(|n| n.interfaces.as_ref());
    assert_eq!(addr.map(|i| i.address.as_str()), Some("10.0.0.12/24"));
    assert_eq!(
        cfg.for_node("pve1", std::path::Path::new("/tmp/x.json"))
            .paths
            .hypervisor,
        set.hv()
    );
}

#[test]
fn a_nodes_setup_may_set_only_set_up_keys_and_must_validate_merged() {
    let errs = with_setup(json!({"cluster": {}, "core_paths": {}, "timezone": "UTC"})).errors();
    for key in ["cluster", "core_paths"] {
        assert!(
            errs.iter().any(|e| e.contains("hv.json")
                && e.contains(&format!("cluster.nodes[1].setup.{key}"))
                && e.contains("not a set-up value")),
            "{key}: {errs:#?}"
        );
    }
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let errs = with_setup(json!({"network": {"interfaces": {"name": "vmbr0", "address": "10.0.0.12", "gateway": "10.0.0.1", "dns_nameservers": "10.0.0.1"}}})).errors();
    assert!(
        errs.iter().any(
            |e| e.contains("cluster.nodes[1].setup.network.interfaces.address")
                && e.contains("not an address with prefix")
        ),
        "{errs:#?}"
    );
    let errs = with_setup(json!({"setup_sequence": ["zfs", "no such"]})).errors();
    assert!(
        errs.iter()
            .any(|e| e.contains("cluster.nodes[1].setup.setup_sequence[1]")),
        "{errs:#?}"
    );
    let errs = with_setup(json!({"zfs": {"pools": "x"}})).errors();
    assert!(
        errs.iter()
            .any(|e| e.contains("cluster.nodes[1].setup.zfs")),
        "{errs:#?}"
    );
}

#[test]
fn an_unknown_key_in_a_nodes_setup_is_a_warning_at_its_place() {
    let set = with_setup(json!({"timezone": "UTC", "nfs": {"exportz": []}}));
    let cfg = set.load().expect("valid");
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.location.starts_with("cluster.nodes[1].setup.nfs.")
                && w.message.contains("unknown key `exportz`")),
        "{:#?}",
        cfg.warnings
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
