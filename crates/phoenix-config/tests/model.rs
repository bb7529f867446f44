//! The checked model: defaults merged, values parsed once, so managers never re-derive them.

mod common;

use common::*;
use phoenix_config::model::lxc::PortainerRole;
use phoenix_config::model::FwAction;
use phoenix_config::{GuestId, IpConfig};
use serde_json::json;

#[test]
fn container_values_are_parsed_and_defaulted() {
    let mut c = base_ct("web");
    c.as_object_mut().unwrap().remove("cores");
    c["gpu_assignment"] = json!("0, 1");
    c["nameserver"] = json!("10.0.0.13 8.8.8.8");
    c["mac_address"] = json!("52:54:00:aa:bb:cc");
    c["portainer_role"] = json!("agent");
    c["lxc_options"] = json!(["lxc.mount.auto: sys:rw"]);
    c["network_config"] = json!({ "bridge": "vmbr0", "ip": "10.0.0.5/24", "gw": "10.0.0.1" });
    c["firewall"] = json!({ "enabled": true, "policy_in": "DROP",
        "rules": [ { "type": "in", "action": "ACCEPT", "proto": "tcp", "port": "80,443", "source": "10.0.0.0/24" } ] });
    let set = Set::new(lxc_file(json!({ "950": c })), vm_file(vec![]));
    let hv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.hv()).unwrap()).unwrap();
    let mut hv = hv;
    hv["proxmox_defaults"] = json!({ "lxc": { "cores": 3, "features": "nesting=1, keyctl=1" } });
    write(&set.hv(), &hv.to_string());
    let cfg = set.load().unwrap();
    let l = cfg.lxc(GuestId(950)).unwrap();
    assert_eq!(l.gpus, vec![0, 1]);
    assert_eq!(l.cores, Some(3), "proxmox_defaults.lxc.cores");
    assert_eq!(l.pct_options, vec!["nesting=1", "keyctl=1"]);
    assert_eq!(l.nameservers.len(), 2);
    assert_eq!(
        l.mac_address.as_ref().unwrap().as_str(),
        "52:54:00:AA:BB:CC"
    );
    assert_eq!(l.portainer_role, Some(PortainerRole::Agent));
    assert_eq!(l.lxc_options[0].key, "lxc.mount.auto");
    assert_eq!(l.lxc_options[0].value, "sys:rw");
    let net = l.network_config.as_ref().unwrap();
    assert_eq!(net.name.as_str(), "eth0", "default interface name");
    assert_eq!(net.ip.to_string(), "10.0.0.5/24");
    let fw = l.firewall.as_ref().unwrap();
    assert_eq!(fw.policy_in, Some(FwAction::Drop));
    assert_eq!(fw.rules[0].dport.as_ref().unwrap().to_string(), "80,443");
}

#[test]
fn vm_defaults_and_phoenix_defaults_are_merged() {
    let mut v = vm(8001, "docker-vm");
    v["network_config"] = json!({ "ip": "10.0.0.101/24", "nameservers": ["1.1.1.1"] });
    v["user_config"] = json!({ "username": "phoenix_user", "gw": "10.0.0.1",
        "ssh_public_key": " ssh-ed25519 AAAA a ", "ssh_public_keys": ["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"] });
    v["features"] = json!(["docker"]);
    let set = Set::new(lxc_file(json!({})), vm_file(vec![v]));
    let cfg = set.load().unwrap();
    let vm = cfg.vm(GuestId(8001)).unwrap();
    assert_eq!(vm.storage_pool.as_str(), "local-zfs", "from vm_defaults");
    assert_eq!(vm.cores, 2, "Phoenix's default");
    assert_eq!(vm.network_bridge.as_str(), "vmbr0");
    assert_eq!(vm.template_image.as_deref(), Some("noble.img"));
    let net = vm.network.as_ref().unwrap();
    assert!(matches!(net.ip, IpConfig::Static(_)));
    assert_eq!(
        net.gateway.unwrap().to_string(),
        "10.0.0.1",
        "legacy user_config.gw"
    );
    let user = vm.user.as_ref().unwrap();
    assert_eq!(
        user.ssh_public_keys,
        vec!["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"]
    );
    assert_eq!(vm.features[0].as_str(), "docker");
    // the guest's vm_config.json is the entry as written, over vm_defaults, without secrets
    let json = cfg.vm_guest_json(GuestId(8001)).unwrap();
    assert_eq!(json["storage_pool"], "local-zfs");
    assert_eq!(json["user_config"]["gw"], "10.0.0.1");
}

#[test]
fn templates_are_decided_once() {
    let mut t = base_ct("base");
    t["start_at_boot"] = json!(false);
    let set = Set::new(
        lxc_file(json!({ "900": t, "950": clone_ct("web", 900) })),
        vm_file(vec![]),
    );
    let cfg = set.load().unwrap();
    assert!(cfg.lxc(GuestId(900)).unwrap().is_template);
    assert!(cfg.guest(GuestId(900)).unwrap().is_template);
    assert!(!cfg.lxc(GuestId(950)).unwrap().is_template);
}

#[test]
fn a_file_with_unknown_keys_is_read_again_from_scratch() {
    let mut c = base_ct("web");
    c["memmory_mb"] = json!(4096);
    let set = Set::new(
        lxc_file(json!({ "900": base_ct("base"), "950": c })),
        vm_file(vec![]),
    );
    let cfg = set.load().expect("unknown keys are warnings");
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    assert_eq!(cfg.lxcs().len(), 2, "each container once");
    assert_eq!(cfg.guests().count(), 2);
}
