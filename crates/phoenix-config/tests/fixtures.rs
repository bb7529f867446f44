//! The upstream deployment's files load unmodified, and the seed's PHX-CU rows hold.

mod common;

use common::*;
use phoenix_config::{Config, GuestId, GuestKind, TargetType};
use serde_json::json;

fn upstream() -> Config {
    Config::load(&fixture_dir().join("phoenix_hypervisor_config.json")).unwrap_or_else(|e| {
        panic!(
            "upstream fixture must load: {:?}",
            e.diagnostics()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        )
    })
}

#[test]
fn upstream_fixture_loads_with_all_guests() {
    let cfg = upstream();
    let lxc = cfg.guests().filter(|g| g.kind == GuestKind::Lxc).count();
    let vms = cfg.guests().filter(|g| g.kind == GuestKind::Vm).count();
    assert_eq!((lxc, vms), (17, 2));
    // clone_from_ctid is a string upstream
    assert_eq!(
        cfg.lxc(GuestId(950)).and_then(|c| c.clone_from_ctid),
        Some(GuestId(920))
    );
    // a VM field missing falls back to vm_defaults
    let t = cfg.vm(GuestId(8000)).expect("8000");
    assert_eq!(t.cores, 4);
    assert_eq!(t.storage_pool.as_str(), "quickOS-vm-disks");
    // the old tool keeps the host firewall in `shared_volumes.firewall`: read from there, no
    // warning
    let fw = cfg.hypervisor.firewall.as_ref().expect("host firewall");
    assert_eq!(fw.policy_in, Some(phoenix_config::model::FwAction::Drop));
    // everything the old tool did with these files, Phoenix does: no warning
    let w: Vec<&str> = cfg.warnings.iter().map(|d| d.location.as_str()).collect();
    assert_eq!(w, Vec::<&str>::new(), "{:?}", cfg.warnings);
}

#[test]
fn upstream_templates_are_recognised() {
    let cfg = upstream();
    let templates: Vec<u64> = cfg
        .guests()
        .filter(|g| g.is_template)
        .map(|g| g.id.0)
        .collect();
    assert_eq!(templates, vec![900, 901, 902, 903, 920, 921, 8000]);
}

#[test]
fn upstream_create_941_orders_the_whole_chain() {
    let cfg = upstream();
    let order: Vec<u64> = cfg
        .build_dependency_graph(&[GuestId(941)])
        .unwrap()
        .iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(order, vec![900, 901, 921, 953, 941]);
}

/// The seed's examples use 950/953/900 (LXC) and VM 1000.
fn seed_set() -> Set {
    let mut c953 = clone_ct("Nginx", 900);
    c953["boot_order"] = json!(1);
    let mut c950 = clone_ct("vllm", 900);
    c950["boot_order"] = json!(3);
    c950["dependencies"] = json!(["953"]);
    Set::new(
        lxc_file(json!({ "900": base_ct("Template-Base"), "950": c950, "953": c953 })),
        vm_file(vec![vm(1000, "vm-1000")]),
    )
}

#[test]
fn phx_cu_01_to_03_resolve_target_type() {
    let cfg = seed_set().load().unwrap();
    assert_eq!(cfg.resolve_target_type(GuestId(950)), TargetType::Lxc);
    assert_eq!(cfg.resolve_target_type(GuestId(950)).to_string(), "lxc");
    assert_eq!(cfg.resolve_target_type(GuestId(1000)).to_string(), "vm");
    assert_eq!(
        cfg.resolve_target_type(GuestId(9999)).to_string(),
        "unknown"
    );
}

#[test]
fn phx_cu_04_build_dependency_graph() {
    let cfg = seed_set().load().unwrap();
    let order: Vec<u64> = cfg
        .build_dependency_graph(&[GuestId(950), GuestId(900)])
        .unwrap()
        .iter()
        .map(|i| i.0)
        .collect();
    // 950 needs 953 (dependency) and 900 (clone source); 953 needs 900
    assert_eq!(order, vec![900, 953, 950]);
    let only: Vec<u64> = cfg
        .build_dependency_graph(&[GuestId(900)])
        .unwrap()
        .iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(only, vec![900]);
}

#[test]
fn phx_cu_05_get_boot_order() {
    let cfg = seed_set().load().unwrap();
    let order: Vec<u64> = cfg
        .get_boot_order(&[GuestId(950), GuestId(953)])
        .unwrap()
        .iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(order, vec![953, 950]);
    // without a boot_order a guest sorts last, ties by ID
    let order: Vec<u64> = cfg
        .get_boot_order(&[GuestId(1000), GuestId(950), GuestId(900), GuestId(953)])
        .unwrap()
        .iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(order, vec![953, 950, 900, 1000]);
}

#[test]
fn mixed_lxc_and_vm_graph() {
    let mut v = vm(1000, "vm-1000");
    v["dependencies"] = json!([953]);
    let set = Set::new(
        lxc_file(json!({ "900": base_ct("base"), "953": clone_ct("gw", 900) })),
        vm_file(vec![v]),
    );
    let cfg = set.load().unwrap();
    let order: Vec<u64> = cfg
        .build_dependency_graph(&[GuestId(1000)])
        .unwrap()
        .iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(order, vec![900, 953, 1000]);
}

#[test]
fn example_etc_loads_and_points_at_schemas() {
    let etc = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../etc");
    let cfg = Config::load(&etc.join("phoenix_hypervisor_config.json"))
        .unwrap_or_else(|e| panic!("{:?}", e.diagnostics()));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    for f in [
        "phoenix_hypervisor_config.json",
        "phoenix_lxc_configs.json",
        "phoenix_vm_configs.json",
    ] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(etc.join(f)).unwrap()).unwrap();
        let schema = v["$schema"].as_str().expect("$schema");
        assert!(etc.join(schema).exists(), "{f}: {schema} must exist");
    }
}
