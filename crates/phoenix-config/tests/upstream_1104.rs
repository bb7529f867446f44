//! The 2025-11-04 deployment loads unmodified and means what it meant for the old tool; every
//! warning left is a key of the not-applied table.

mod common;

use common::*;
use phoenix_config::model::firewall::{Direction, PortSpec};
use phoenix_config::model::lxc::IdKind;
use phoenix_config::model::FwAction;
use phoenix_config::not_applied;
use phoenix_config::{Config, GuestId, Severity};

fn load() -> Config {
    Config::load(&fixture_1104_dir().join("phoenix_hypervisor_config.json")).unwrap_or_else(|e| {
        panic!(
            "the 2025-11-04 fixture must load: {:#?}",
            e.diagnostics()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        )
    })
}

#[test]
fn every_warning_names_a_key_of_the_not_applied_table() {
    let cfg = load();
    // Every key of this deployment is applied now (`portainer_role` by `sync`,
    // `bootstrap_ca_url` by the containers' trust): it loads without a warning.
    assert!(
        cfg.warnings.is_empty(),
        "{:?}",
        cfg.warnings
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
    );
    for w in &cfg.warnings {
        assert_eq!(w.severity, Severity::Warning);
        let key = not_applied::lookup(&w.location)
            .unwrap_or_else(|| panic!("not a key of the not-applied table: {w}"));
        assert!(w.message.contains(&format!("`{}`", key.name())), "{w}");
        assert!(w.message.contains("not applied yet"), "{w}");
    }
    // the table's keys that this deployment uses are all reported (it has no cluster block)
    for key in not_applied::ALL
        .iter()
        .filter(|k| !k.key.starts_with("cluster."))
    {
        assert!(
            cfg.warnings.iter().any(|w| key.matches(&w.location)),
            "{} not reported",
            key.key
        );
    }
    // the keys `phoenix sync` and `LetsGo` apply are loaded without a warning
    for applied in [
        "dns_server",
        "step_ca",
        "portainer_api",
        "network.fallback_dns",
        "vms[2].docker_stacks",
        "vms[2].trigger_sync_on_completion",
        "vms[2].portainer_environment_name",
        "vms[1].portainer_role",
        "vms[2].portainer_role",
        "lxc_configs.101.traefik_service",
        "lxc_configs.102.bootstrap_ca_url",
    ] {
        assert!(
            !cfg.warnings.iter().any(|w| w.location == applied),
            "{applied} is applied now"
        );
    }
}

#[test]
fn the_old_shapes_mean_what_they_meant() {
    let cfg = load();
    let hv = &cfg.hypervisor;
    // `dns_nameservers` as a list
    let dns = &hv
        .network
        .as_ref()
        .unwrap()
        .interfaces
        .as_ref()
        .unwrap()
        .dns_nameservers;
    assert_eq!(
        dns.words().collect::<Vec<_>>(),
        vec!["10.0.0.153", "8.8.8.8"]
    );
    // `container_path` is the mount point; owners kept, mapped through the unprivileged offset
    let nginx = cfg.lxc(GuestId(101)).unwrap();
    let logs = &nginx.mount_points[0];
    assert_eq!(logs.mount_point.as_str(), "/var/log/nginx");
    assert_eq!((logs.owner_uid, logs.owner_gid), (Some(33), Some(33)));
    assert_eq!(nginx.host_id(IdKind::Uid, 33), 100_033);
    // ... except where an id map says otherwise
    assert_eq!(nginx.id_maps.len(), 1);
    assert_eq!(nginx.id_maps[0].to_string(), "g 33 33 1");
    assert_eq!(nginx.host_id(IdKind::Gid, 33), 33);
    // container name servers from `network_config.nameservers`
    let ca = cfg.lxc(GuestId(103)).unwrap();
    assert_eq!(
        ca.nameservers,
        vec!["10.0.0.13".parse::<std::net::IpAddr>().unwrap()]
    );
    // port lists and `dest` in rules
    let rule = nginx
        .firewall
        .as_ref()
        .unwrap()
        .rules
        .iter()
        .find(|r| {
            r.source
                .as_ref()
                .is_some_and(|s| s.to_string() == "10.0.0.10")
        })
        .unwrap();
    assert_eq!(
        rule.dport.as_ref().unwrap().0,
        vec![PortSpec::Port(80), PortSpec::Port(443)]
    );
}

#[test]
fn vms_get_nameserver_search_domain_image_url_and_nfs_folders() {
    let cfg = load();
    let portainer = cfg.vm(GuestId(1001)).unwrap();
    let net = portainer.network.as_ref().unwrap();
    assert_eq!(
        net.nameservers,
        vec!["10.0.0.13".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        net.searchdomain.as_ref().map(|d| d.as_str()),
        Some("internal.thinkheads.ai"),
        "domain_name is the search domain of a VM that sets none"
    );
    assert_eq!(portainer.ubuntu_release, "noble");
    let template = cfg.vm(GuestId(9000)).unwrap();
    assert_eq!(
        template.image_source().as_deref(),
        Some("https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img")
    );
    assert_eq!(portainer.nfs_volumes.len(), 2);
    let v = &portainer.nfs_volumes[1];
    assert_eq!(v.path.as_str(), "/quickOS/vm-persistent-data/1001/.step-ca");
    assert_eq!(v.export.path.as_str(), "/quickOS/vm-persistent-data");
    assert_eq!(v.server, "10.0.0.13");
    assert_eq!(v.mount_point.as_str(), "/etc/step-ca/certs");
    let fw = portainer.firewall.as_ref().unwrap();
    assert_eq!(fw.rules[0].direction, Direction::Out);
    assert_eq!(fw.rules[0].dest.as_ref().unwrap().to_string(), "10.0.0.153");
}

#[test]
fn global_firewall_rules_are_modelled() {
    let cfg = load();
    let fw = cfg.hypervisor.firewall.as_ref().unwrap();
    assert_eq!(fw.policy_in, Some(FwAction::Drop));
    assert_eq!(fw.rules.len(), 6);
    let nfs = &fw.rules[4];
    assert_eq!(nfs.source.as_ref().unwrap().to_string(), "10.0.0.0/24");
    assert_eq!(nfs.dest.as_ref().unwrap().to_string(), "10.0.0.13");
    assert_eq!(nfs.dport.as_ref().unwrap().to_string(), "2049");
    assert_eq!(
        nfs.comment.as_deref(),
        Some("Allow internal guests to access NFS on Host")
    );
}

#[test]
fn the_2025_10_01_fixture_warns_only_about_table_keys() {
    let cfg = Config::load(&fixture_dir().join("phoenix_hypervisor_config.json")).unwrap();
    for w in &cfg.warnings {
        assert!(not_applied::lookup(&w.location).is_some(), "{w}");
    }
}

#[test]
fn rules_proxmox_would_leave_out_are_refused() {
    let set = |r: serde_json::Value| {
        let mut c = base_ct("web");
        c["firewall"] = serde_json::json!({ "enabled": true, "rules": [r] });
        Set::new(lxc_file(serde_json::json!({ "950": c })), vm_file(vec![]))
    };
    let rule = |r: serde_json::Value| set(r).errors();
    let e = rule(serde_json::json!({ "type": "in", "action": "ACCEPT", "port": "53" }));
    assert!(
        e.iter()
            .any(|m| m.contains("rules[0].proto") && m.contains("needs `proto`")),
        "{e:?}"
    );
    let e = rule(
        serde_json::json!({ "type": "in", "action": "ACCEPT", "proto": "icmp", "port": "53" }),
    );
    assert!(
        e.iter().any(|m| m.contains("does not support ports")),
        "{e:?}"
    );
    let e = rule(serde_json::json!({ "type": "in", "action": "ACCEPT", "iface": "eth0" }));
    assert!(e.iter().any(|m| m.contains("not a guest NIC")), "{e:?}");
    let e = rule(
        serde_json::json!({ "type": "in", "action": "ACCEPT", "source": "10.0.0.1-10.0.0.5,10.0.0.9" }),
    );
    assert!(e.iter().any(|m| m.contains("must stand alone")), "{e:?}");
    let ports: Vec<String> = (1..=16).map(|p| p.to_string()).collect();
    let e = rule(
        serde_json::json!({ "type": "in", "action": "ACCEPT", "proto": "tcp", "port": ports.join(",") }),
    );
    assert!(e.iter().any(|m| m.contains("too many entries")), "{e:?}");
    let ok = set(
        serde_json::json!({ "type": "in", "action": "ACCEPT", "iface": "net0", "proto": "tcp", "port": "80,443,8000:8010" }),
    );
    assert!(ok.load().is_ok());
}
