use super::*;
use crate::desired::{dns_options, ipconfig0};
use phoenix_config::model::vm::{VmNetwork, VmUser};
use phoenix_config::GuestId;

fn vm() -> Vm {
    Vm {
        id: GuestId(8001),
        name: "docker-vm-01".parse().expect("name"),
        node: None,
        clone_from_vmid: None,
        is_template: false,
        template_snapshot_name: None,
        template: None,
        template_image: None,
        image_url: None,
        cores: 2,
        memory_mb: 2048,
        disk_size_gb: None,
        storage_pool: "local-lvm".parse().expect("storage"),
        network_bridge: "vmbr0".parse().expect("bridge"),
        scsihw: "virtio-scsi-pci".into(),
        snippets_storage: None,
        guest_agent_timeout_secs: 1,
        guest_agent_poll_secs: 1,
        linked_clone: false,
        start_at_boot: None,
        boot_order: None,
        boot_delay: None,
        dependencies: vec![],
        features: vec![],
        network: Some(VmNetwork {
            ip: "10.0.0.101/24".parse().expect("ip"),
            gateway: Some("10.0.0.1".parse().expect("gw")),
            nameservers: vec!["1.1.1.1".parse().expect("ns")],
            searchdomain: Some("lab.example".parse().expect("domain")),
        }),
        user: Some(VmUser {
            username: "phoenix_user".parse().expect("user"),
            ..Default::default()
        }),
        shared_volumes: vec![],
        health_checks: vec![],
        firewall: None,
        tests: Default::default(),
        ubuntu_release: "noble".into(),
        nfs_volumes: vec![],
        portainer: None,
        traefik_service: None,
        trigger_sync_on_completion: false,
        docker_stacks: vec![],
        dns_records: vec![],
    }
}

fn desired(vm: &Vm) -> Desired<'_> {
    Desired {
        vm,
        ssh_keys: vec!["ssh-ed25519 AAAA me@x".into()],
    }
}

#[test]
fn user_data_drops_lines_without_value_and_quotes_values() {
    let out = render_user_data(BUILTIN_TEMPLATE, &desired(&vm())).expect("render");
    assert!(out.starts_with("#cloud-config\n"));
    assert!(out.contains("hostname: \"docker-vm-01\"\n"));
    assert!(out.contains("  - name: \"phoenix_user\"\n"));
    assert!(out.contains("lock_passwd: true\n"));
    assert!(
        !out.contains("\n    passwd: "),
        "no hash, no passwd line:\n{out}"
    );
    assert!(out.contains("ssh_authorized_keys: [\"ssh-ed25519 AAAA me@x\"]"));
    assert!(out.contains("packages: [\"qemu-guest-agent\"]"));
    assert!(!out.contains("{{"));
}

#[test]
fn password_hash_sets_passwd_and_unlocks() {
    let mut vm = vm();
    vm.user.as_mut().expect("user").password_hash = Some("$6$salt$hash".into());
    let out = render_user_data(BUILTIN_TEMPLATE, &desired(&vm)).expect("render");
    assert!(out.contains("    passwd: \"$6$salt$hash\"\n"));
    assert!(out.contains("lock_passwd: false\n"));
}

#[test]
fn unknown_placeholder_is_an_error() {
    let vm = vm();
    assert!(render_user_data("a: {{nope}}\n", &desired(&vm)).is_err());
    assert!(render_user_data("a: {{hostname\n", &desired(&vm)).is_err());
}

#[test]
fn ipconfig_uses_legacy_gateway_and_dhcp() {
    let mut d = vm();
    assert_eq!(
        ipconfig0(&d).as_deref(),
        Some("ip=10.0.0.101/24,gw=10.0.0.1")
    );
    d.network.as_mut().expect("net").ip = phoenix_config::IpConfig::Dhcp;
    assert_eq!(ipconfig0(&d).as_deref(), Some("ip=dhcp"));
    d.network = None;
    assert_eq!(ipconfig0(&d), None);
}

#[test]
fn network_config_matches_mac_and_carries_dns() {
    let out = render_network_config(&vm(), Some("BC:24:11:00:00:01"), &InheritedDns::default());
    assert!(out.contains("mac_address: \"bc:24:11:00:00:01\""));
    assert!(out.contains("address: \"10.0.0.101/24\"\n        gateway: \"10.0.0.1\""));
    assert!(out.contains("search: [\"lab.example\"]"));
    assert_eq!(
        dns_options(&vm()),
        (Some("1.1.1.1".into()), Some("lab.example".into()))
    );
}

#[test]
fn network_config_inherits_dns_when_the_json_is_silent() {
    let mut d = vm();
    d.network.as_mut().expect("net").nameservers.clear();
    let inherited = InheritedDns {
        nameserver: Some("9.9.9.9 8.8.8.8".into()),
        searchdomain: None,
    };
    let out = render_network_config(&d, None, &inherited);
    assert!(out.contains("address: [\"9.9.9.9\", \"8.8.8.8\"]"), "{out}");
    assert!(out.contains("search: [\"lab.example\"]"));
    assert!(!out.contains("mac_address"));
}
