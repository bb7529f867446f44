//! One test per class of problem. Each asserts the message names the file and the JSON path
//! (or line:column), and that every problem is reported, not only the first.

mod common;

use common::*;
use serde_json::json;

fn one_error(set: &Set) -> String {
    let errs = set.errors();
    assert_eq!(errs.len(), 1, "expected exactly one error, got {errs:#?}");
    errs[0].clone()
}

fn assert_names(msg: &str, file: &str, path: &str, what: &str) {
    assert!(msg.contains(file), "message should name file {file}: {msg}");
    assert!(msg.contains(path), "message should name path {path}: {msg}");
    assert!(msg.contains(what), "message should say {what:?}: {msg}");
}

#[test]
fn id_out_of_range() {
    let set = Set::new(
        lxc_file(json!({ "99": base_ct("low") })),
        vm_file(vec![vm(1_000_000_000, "big")]),
    );
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "lxc.json",
        "lxc_configs.99",
        "out of range; expected 100-999999999",
    );
    assert_names(&errs[1], "vm.json", "vms[0].vmid", "out of range");
}

#[test]
fn container_key_not_a_number() {
    let set = Set::new(lxc_file(json!({ "web": base_ct("web") })), vm_file(vec![]));
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.web",
        "not a container ID",
    );
}

#[test]
fn id_defined_as_lxc_and_vm() {
    let set = Set::new(
        lxc_file(json!({ "900": base_ct("base") })),
        vm_file(vec![vm(900, "dup")]),
    );
    assert_names(
        &one_error(&set),
        "vm.json",
        "vms[0].vmid",
        "both as a container",
    );
}

#[test]
fn duplicate_vmid() {
    let set = Set::new(
        lxc_file(json!({})),
        vm_file(vec![vm(8000, "a"), vm(8000, "b")]),
    );
    assert_names(&one_error(&set), "vm.json", "vms[1].vmid", "defined twice");
}

#[test]
fn unknown_clone_source() {
    let set = Set::new(
        lxc_file(json!({ "950": clone_ct("x", 901) })),
        vm_file(vec![]),
    );
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950.clone_from_ctid",
        "901, which is not defined",
    );
}

#[test]
fn unknown_vm_clone_source_and_dependency() {
    let mut v = vm(8001, "c");
    v["clone_from_vmid"] = json!(8000);
    v["dependencies"] = json!([777]);
    let set = Set::new(lxc_file(json!({})), vm_file(vec![v]));
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "vm.json",
        "vms[0].clone_from_vmid",
        "8000, which is not defined",
    );
    assert_names(
        &errs[1],
        "vm.json",
        "vms[0].dependencies[0]",
        "777, which is not defined",
    );
}

#[test]
fn unknown_dependency() {
    let mut c = base_ct("x");
    c["dependencies"] = json!(["953"]);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950.dependencies[0]",
        "953, which is not defined",
    );
}

#[test]
fn clone_source_without_template_snapshot() {
    let mut base = base_ct("base");
    base.as_object_mut()
        .unwrap()
        .remove("template_snapshot_name");
    let set = Set::new(
        lxc_file(json!({ "900": base, "950": clone_ct("x", 900) })),
        vm_file(vec![]),
    );
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950.clone_from_ctid",
        "no `template_snapshot_name`",
    );
}

#[test]
fn lxc_cloned_from_vm() {
    let set = Set::new(
        lxc_file(json!({ "950": clone_ct("x", 8000) })),
        vm_file(vec![vm(8000, "t")]),
    );
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950.clone_from_ctid",
        "which is a VM",
    );
}

#[test]
fn dependency_cycle_is_printed() {
    let mut a = base_ct("a");
    a["dependencies"] = json!(["953"]);
    let mut b = base_ct("b");
    b["dependencies"] = json!(["950"]);
    let set = Set::new(lxc_file(json!({ "950": a, "953": b })), vm_file(vec![]));
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950",
        "dependency cycle: 950 -> 953 -> 950",
    );
}

#[test]
fn cycle_across_lxc_and_vm() {
    let mut c = base_ct("a");
    c["dependencies"] = json!([8000]);
    let mut v = vm(8000, "v");
    v["dependencies"] = json!([950]);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![v]));
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950",
        "950 -> 8000 -> 950",
    );
}

#[test]
fn self_dependency() {
    let mut c = base_ct("a");
    c["dependencies"] = json!([950]);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950.dependencies[0]",
        "depends on itself",
    );
}

#[test]
fn hostname_not_a_dns_name() {
    let set = Set::new(
        lxc_file(json!({ "950": base_ct("web server;rm") })),
        vm_file(vec![vm(8000, "bad_name")]),
    );
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "lxc.json",
        "lxc_configs.950.name",
        "not a valid host name",
    );
    assert_names(&errs[1], "vm.json", "vms[0].name", "not a valid host name");
}

#[test]
fn feature_name_outside_charset() {
    let mut c = base_ct("a");
    c["features"] = json!(["docker", "../../etc/passwd", "Nvidia"]);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "lxc.json",
        "lxc_configs.950.features[1]",
        "expected [a-z0-9_-]+",
    );
    assert_names(
        &errs[1],
        "lxc.json",
        "lxc_configs.950.features[2]",
        "expected [a-z0-9_-]+",
    );
}

#[test]
fn unknown_key_warns_with_suggestion() {
    let mut c = base_ct("a");
    c["memmory_mb"] = json!(4096);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    let cfg = set.load().expect("unknown keys are warnings");
    let w: Vec<String> = cfg.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_names(
        &w[0],
        "lxc.json",
        "lxc_configs.950.memmory_mb",
        "did you mean `memory_mb`?",
    );
    assert!(w[0].starts_with("warning:"));
}

#[test]
fn wrong_type_names_path_and_line() {
    let mut c = base_ct("a");
    c["memory_mb"] = json!("lots");
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    let msg = one_error(&set);
    assert_names(
        &msg,
        "lxc.json",
        "lxc_configs.950.memory_mb",
        "expected a whole number >= 0",
    );
    assert!(msg.contains("(line 1"), "{msg}");
}

#[test]
fn syntax_error_gives_line_and_column() {
    let set = Set::new(lxc_file(json!({})), vm_file(vec![]));
    write(
        &set.file("lxc.json"),
        "{\n  \"lxc_configs\": {\n    \"950\": { \"name\": \"a\", }\n  }\n}\n",
    );
    let msg = one_error(&set);
    assert_names(&msg, "lxc.json", "3:27", "invalid JSON");
}

#[test]
fn duplicate_key_in_one_object() {
    let set = Set::new(lxc_file(json!({})), vm_file(vec![]));
    write(
        &set.file("lxc.json"),
        r#"{"lxc_configs": {"950": {"name": "a", "cores": 2, "cores": 4}}}"#,
    );
    assert_names(
        &one_error(&set),
        "lxc.json",
        "lxc_configs.950.cores",
        "duplicate key 'cores'",
    );
}

#[test]
fn all_problems_of_all_files_are_reported_together() {
    let mut c = base_ct("bad name");
    c["features"] = json!(["../x"]);
    c["dependencies"] = json!([4242]);
    let set = Set::new(
        lxc_file(json!({ "950": c, "50": base_ct("low") })),
        vm_file(vec![vm(950, "dup")]),
    );
    let errs = set.errors();
    assert!(errs.len() >= 5, "{errs:#?}");
}

#[test]
fn missing_guest_file_names_it() {
    let set = Set::new(lxc_file(json!({})), vm_file(vec![]));
    std::fs::remove_file(set.file("vm.json")).unwrap();
    assert_names(&one_error(&set), "vm.json", "", "file not found");
}

fn with_ip(mut v: serde_json::Value, ip: &str) -> serde_json::Value {
    v["network_config"] = json!({ "name": "eth0", "bridge": "vmbr0", "ip": ip });
    v
}

#[test]
fn duplicate_static_ip_across_lxc_and_vm_names_both() {
    let mut v = vm(8000, "docker");
    v["network_config"] = json!({ "ip": "10.0.0.5/24" });
    let set = Set::new(
        lxc_file(
            json!({ "900": with_ip(base_ct("base"), "10.0.0.5/24"), "901": with_ip(base_ct("other"), "dhcp") }),
        ),
        vm_file(vec![v]),
    );
    let msg = one_error(&set);
    assert_names(
        &msg,
        "vm.json",
        "vms[0].network_config.ip",
        "VM 8000 and container 900 have the same static address 10.0.0.5",
    );
    assert!(
        msg.contains("lxc.json: lxc_configs.900.network_config.ip"),
        "{msg}"
    );
}

#[test]
fn duplicate_mac_and_hostname() {
    let mut a = base_ct("web");
    a["mac_address"] = json!("52:54:00:aa:bb:01");
    let mut b = base_ct("WEB");
    b["mac_address"] = json!("52:54:00:AA:BB:01");
    let set = Set::new(lxc_file(json!({ "900": a, "901": b })), vm_file(vec![]));
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "lxc.json",
        "lxc_configs.901.mac_address",
        "container 901 and container 900 have the same MAC address 52:54:00:AA:BB:01",
    );
    assert_names(
        &errs[1],
        "lxc.json",
        "lxc_configs.901.name",
        "have the same host name 'WEB'",
    );
}

#[test]
fn dhcp_guests_may_share_nothing_to_share() {
    let set = Set::new(
        lxc_file(
            json!({ "900": with_ip(base_ct("a"), "dhcp"), "901": with_ip(base_ct("b"), "dhcp") }),
        ),
        vm_file(vec![]),
    );
    set.load().expect("two DHCP guests are fine");
}

#[test]
fn shared_volume_export_matches_without_trailing_slash() {
    let mut v = vm(8000, "docker");
    v["shared_volumes"] = json!([{ "host_path": "/tank/shared/", "mount_point": "/mnt/shared" }]);
    let set = Set::new(lxc_file(json!({})), vm_file(vec![v]));
    let cfg = set.load().expect("same export");
    let sv = &cfg
        .vm(phoenix_config::GuestId(8000))
        .unwrap()
        .shared_volumes[0];
    assert_eq!(sv.export.path.as_str(), "/tank/shared");
    let mut v = vm(8000, "docker");
    v["shared_volumes"] =
        json!([{ "host_path": "/tank/shared/sub", "mount_point": "/mnt/shared" }]);
    let set = Set::new(lxc_file(json!({})), vm_file(vec![v]));
    assert_names(
        &one_error(&set),
        "vm.json",
        "vms[0].shared_volumes[0].host_path",
        "is not one of the hypervisor config's nfs.exports paths",
    );
}

fn nfs_vm(ip: &str, path: &str) -> serde_json::Value {
    let mut v = vm(1001, "portainer");
    v["network_config"] = json!({ "ip": ip });
    v["volumes"] = json!([{ "type": "nfs", "path": path, "mount_point": "/persistent-storage", "server": "10.0.0.13" }]);
    v
}

#[test]
fn nfs_volume_must_be_inside_an_export() {
    let set = Set::new(
        lxc_file(json!({})),
        vm_file(vec![nfs_vm("10.0.0.111/24", "/tank/other/1001")]),
    );
    assert_names(
        &one_error(&set),
        "vm.json",
        "vms[0].volumes[0].path",
        "/tank/other/1001 is not inside any of the hypervisor config's nfs.exports paths",
    );
    let set = Set::new(
        lxc_file(json!({})),
        vm_file(vec![nfs_vm("10.0.0.111/24", "/tank/shared/1001")]),
    );
    let cfg = set
        .load()
        .expect("a sub-folder of an export the VM may mount");
    let v = &cfg.vm(phoenix_config::GuestId(1001)).unwrap().nfs_volumes[0];
    assert_eq!(v.export.path.as_str(), "/tank/shared");
    assert_eq!(v.options, "defaults,auto,nofail");
}

#[test]
fn nfs_volume_export_must_allow_the_vm() {
    let set = Set::new(
        lxc_file(json!({})),
        vm_file(vec![nfs_vm("10.0.1.5/24", "/tank/shared/x")]),
    );
    assert_names(
        &one_error(&set),
        "vm.json",
        "vms[0].volumes[0].path",
        "export /tank/shared does not allow VM 1001 at 10.0.1.5 (clients: 10.0.0.0/24)",
    );
}

#[test]
fn only_nfs_volumes_exist() {
    let mut v = nfs_vm("10.0.0.111/24", "/tank/shared/x");
    v["volumes"][0]["type"] = json!("iscsi");
    let set = Set::new(lxc_file(json!({})), vm_file(vec![v]));
    assert_names(
        &one_error(&set),
        "vm.json",
        "vms[0].volumes[0].type",
        "volume type 'iscsi' is not supported; expected nfs",
    );
}

#[test]
fn container_path_is_the_old_name_of_mount_point() {
    let mut c = base_ct("web");
    c["mount_points"] = json!([
        { "host_path": "/srv/a", "container_path": "/a" },
        { "host_path": "/srv/b", "mount_point": "/b", "container_path": "/c" },
        { "host_path": "/srv/d" }
    ]);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "lxc.json",
        "lxc_configs.950.mount_points[1]",
        "`mount_point` /b and its old name `container_path` /c disagree",
    );
    assert_names(
        &errs[1],
        "lxc.json",
        "lxc_configs.950.mount_points[2]",
        "missing `mount_point`",
    );
}

#[test]
fn id_maps_are_checked() {
    let mut c = base_ct("web");
    c["id_maps"] = json!([
        { "type": "gid", "host_id": 33, "container_id": 33, "size": 1 },
        { "type": "group", "host_id": 1, "container_id": 1, "size": 1 },
        { "type": "g", "host_id": 2000, "container_id": 30, "size": 10 }
    ]);
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    let errs = set.errors();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_names(
        &errs[0],
        "lxc.json",
        "lxc_configs.950.id_maps[1].type",
        "'group' is not an ID map type; expected uid or gid",
    );
    assert_names(
        &errs[1],
        "lxc.json",
        "lxc_configs.950.id_maps[2]",
        "maps container IDs that id_maps[0] maps already",
    );
}

#[test]
fn nameservers_in_both_spellings_and_string_or_list() {
    let mut c = base_ct("web");
    c["network_config"] =
        json!({ "bridge": "vmbr0", "ip": "dhcp", "nameservers": "10.0.0.13 8.8.8.8" });
    let mut v = vm(1001, "portainer");
    v["network_config"] =
        json!({ "ip": "dhcp", "nameserver": "10.0.0.13", "nameservers": ["1.1.1.1"] });
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![v]));
    let cfg = set.load().unwrap();
    let ns = |v: &[std::net::IpAddr]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ns(&cfg.lxc(phoenix_config::GuestId(950)).unwrap().nameservers),
        vec!["10.0.0.13", "8.8.8.8"]
    );
    let vm = cfg.vm(phoenix_config::GuestId(1001)).unwrap();
    assert_eq!(
        ns(&vm.network.as_ref().unwrap().nameservers),
        vec!["1.1.1.1", "10.0.0.13"]
    );
    assert!(
        cfg.warnings.is_empty(),
        "applied: no warning {:?}",
        cfg.warnings
    );
}

#[test]
fn service_layer_keys_load_without_a_warning() {
    // `portainer_role` (sync) and `bootstrap_ca_url` (the container's trust) are applied.
    let mut v = vm(1001, "portainer");
    v["docker_stacks"] = json!(["qdrant_service"]);
    v["dns_records"] = json!([]);
    v["trigger_sync_on_completion"] = json!(true);
    v["portainer_role"] = json!("agent");
    let mut ct = base_ct("gateway");
    ct["bootstrap_ca_url"] = json!("https://10.0.0.10:9000");
    let set = Set::new(lxc_file(json!({ "101": ct })), vm_file(vec![v]));
    let cfg = set.load().expect("loads");
    let w: Vec<String> = cfg.warnings.iter().map(|d| d.to_string()).collect();
    assert!(w.is_empty(), "{w:#?}");
}
