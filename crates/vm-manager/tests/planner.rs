//! The VM planner without processes: (desired, observed) → actions, for each kind of change.

use std::path::PathBuf;

use phoenix_config::{Config, GuestId};
use phoenix_guest::{NodeOp, Op, Step, Target};
use phoenix_report::{GuestTag, Kind};
use pve::Conf;
use vm_manager::configure::{self, Snippets};
use vm_manager::desired::Desired;

fn fixture() -> Config {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/upstream-2025-10-01/phoenix_hypervisor_config.json");
    Config::load(&p).expect("fixture loads")
}

/// VM 8001 of the fixture.
fn vm8001(cfg: &Config) -> Desired<'_> {
    Desired::load(cfg, GuestId(8001)).expect("8001")
}

fn t() -> Target {
    Target {
        guest: GuestTag {
            id: 8001,
            kind: Kind::Vm,
        },
        node: "localhost".into(),
    }
}

/// A conf holding everything the config asks for, with a 100G boot disk.
fn converged(d: &Desired) -> Conf {
    let (opts, _) = configure::set_options(d, &Conf::default());
    let mut text = String::from("boot: order=scsi0\nscsi0: quickOS-vm-disks:vm-8001-disk-0,size=100G\nnet0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n");
    for (k, v) in opts {
        text.push_str(&format!("{k}: {v}\n"));
    }
    Conf::parse(&text)
}

fn shown(step: &Step) -> Vec<String> {
    step.drift().iter().map(|c| c.to_string()).collect()
}

#[test]
fn a_converged_vm_plans_nothing() {
    let cfg = fixture();
    let d = vm8001(&cfg);
    let conf = converged(&d);
    assert!(configure::step(&t(), &d, &conf, None).is_noop());
    assert!(configure::disk(&t(), d.vm, &conf).is_noop());
    assert_eq!(configure::drift(&t(), &d, &conf), Ok(vec![]));
}

#[test]
fn hardware_and_cloud_init_changes_are_one_config_request() {
    let cfg = fixture();
    let d = vm8001(&cfg);
    let mut conf = converged(&d);
    conf.set("memory", "999");
    conf.set("ipconfig0", "ip=10.9.9.9/24,gw=10.9.9.1");
    conf.delete("agent");
    let step = configure::step(&t(), &d, &conf, None);
    let d = shown(&step);
    assert!(d.contains(&"memory: 999 -> 8192".to_string()), "{d:?}");
    assert!(
        d.contains(&"agent: (none) -> enabled=1".to_string()),
        "{d:?}"
    );
    assert!(
        d.iter().any(|c| c.starts_with("ipconfig0: ip=10.9.9.9/24")),
        "{d:?}"
    );
    assert_eq!(step.actions.len(), 1);
    let Op::Api(req) = &step.actions[0].op else {
        panic!()
    };
    assert_eq!(req.path, "/nodes/localhost/qemu/8001/config");
    let (tool, argv) = req.to_argv().unwrap();
    assert_eq!(tool, "qm");
    assert_eq!(argv[..2], ["set".to_string(), "8001".to_string()]);
}

#[test]
fn ssh_keys_are_sent_url_encoded_and_compared_decoded() {
    let cfg = fixture();
    let mut d = vm8001(&cfg);
    d.ssh_keys = vec!["ssh-ed25519 AAAA new@host".into()];
    let conf = converged(&d);
    assert!(configure::step(&t(), &d, &conf, None).is_noop());
    d.ssh_keys.push("ssh-ed25519 BBBB other@host".into());
    let step = configure::step(&t(), &d, &conf, None);
    assert_eq!(shown(&step), vec!["sshkeys: 1 key(s) -> 2 key(s)"]);
    let Op::Api(req) = &step.actions[0].op else {
        panic!()
    };
    assert_eq!(
        pve::conf::decode_text(req.get("sshkeys").unwrap()),
        "ssh-ed25519 AAAA new@host\nssh-ed25519 BBBB other@host\n"
    );
}

#[test]
fn snippets_are_written_where_they_differ_and_cicustom_set() {
    let cfg = fixture();
    let d = vm8001(&cfg);
    let conf = converged(&d);
    let sn = Snippets {
        storage: "local".into(),
        user_path: "/var/lib/vz/snippets/phoenix-8001-user.yml".into(),
        net_path: "/var/lib/vz/snippets/phoenix-8001-network.yml".into(),
        user: "#cloud-config\n".into(),
        net: "version: 1\n".into(),
    };
    let step = configure::step(&t(), &d, &conf, Some((&sn, None, Some(b"version: 1\n"))));
    let writes: Vec<(&PathBuf, bool)> = step
        .actions
        .iter()
        .filter_map(|a| match &a.op {
            Op::Node(NodeOp::Write { path, private, .. }) => Some((path, *private)),
            _ => None,
        })
        .collect();
    assert_eq!(
        writes,
        vec![(&sn.user_path, true)],
        "user-data only, private"
    );
    let d2 = shown(&step);
    assert!(d2.contains(&"user-data: (none) -> rendered from the config".to_string()));
    assert!(d2.iter().any(|c| c.starts_with("cicustom: (none) -> user=local:snippets/phoenix-8001-user.yml")), "{d2:?}");
}

#[test]
fn the_boot_disk_grows_and_a_shrink_is_refused() {
    let cfg = fixture();
    let d = vm8001(&cfg);
    let mut conf = converged(&d);
    conf.set("scsi0", "quickOS-vm-disks:vm-8001-disk-0,size=32G");
    let step = configure::disk(&t(), d.vm, &conf);
    assert_eq!(shown(&step), vec!["scsi0.size: 32G -> 100G"]);
    let Op::Api(req) = &step.actions[0].op else {
        panic!()
    };
    assert_eq!(
        req.to_argv().unwrap().1.join(" "),
        "disk resize 8001 scsi0 100G"
    );
    conf.set("scsi0", "quickOS-vm-disks:vm-8001-disk-0,size=200G");
    let step = configure::disk(&t(), d.vm, &conf);
    assert!(step
        .refusal
        .as_deref()
        .unwrap()
        .contains("disk_size_gb 100 is below the live scsi0 (200G)"));
    assert!(configure::drift(&t(), &d, &conf).is_err());
}

#[test]
fn templates_keep_their_disk() {
    let cfg = fixture();
    let d = vm8001(&cfg);
    let mut conf = converged(&d);
    conf.set("scsi0", "quickOS-vm-disks:base-8001-disk-0,size=3G");
    conf.set("template", "1");
    assert!(configure::disk(&t(), d.vm, &conf).is_noop());
}

/// The 2025-11-04 deployment: VM 1001 runs the `portainer_service` stack, whose firewall rules
/// join the VM's own in `1001.fw` (after them, commented with the stack); a file holding only
/// the VM's own rules is drift.
#[test]
fn a_vms_stacks_open_their_firewall_rules() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/upstream-2025-11-04/etc/phoenix_hypervisor_config.json");
    let cfg = Config::load(&p).expect("fixture loads");
    let vm = cfg.vm(GuestId(1001)).expect("1001");
    let fw = configure::effective_firewall(&cfg, vm)
        .unwrap()
        .expect("a firewall");
    let pve = PathBuf::from("/etc/pve");
    let step = configure::firewall(vm, Some(&fw), &pve, None);
    let Op::Node(NodeOp::Write { path, data, .. }) = &step.actions[0].op else {
        panic!("{step:?}")
    };
    assert_eq!(path, &PathBuf::from("/etc/pve/firewall/1001.fw"));
    let text = String::from_utf8(data.clone()).unwrap();
    let rules: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "[RULES]")
        .skip(1)
        .collect();
    assert_eq!(
        rules,
        [
            "OUT ACCEPT -dest 10.0.0.153 -p tcp -dport 443 # Allow VM to access the Nginx gateway",
            "OUT ACCEPT -dest 10.0.0.102 -p tcp -dport 9001 # Allow Portainer server to access agent",
            "IN ACCEPT -source 10.0.0.12 -p tcp -dport 9443 # stack portainer_service: Allow Traefik to access Portainer",
            "IN ACCEPT -source 10.0.0.13 -p tcp -dport 9443 # stack portainer_service: Allow Proxmox host to access Portainer API",
            "IN ACCEPT -source 10.0.0.13 -p tcp -dport 9000 # stack portainer_service: Allow Proxmox host to access Portainer for initial setup",
        ]
    );
    assert_eq!(
        shown(&step),
        ["firewall: (none) -> 2 rule(s) of the config, 3 of its stacks"]
    );
    // Converged: the same text plans nothing; the VM's own rules alone are drift.
    assert!(
        configure::firewall(vm, Some(&fw), &pve, Some(text.as_bytes()))
            .actions
            .is_empty()
    );
    let own = phoenix_guest::firewall::render(vm.firewall.as_ref().unwrap());
    assert_eq!(
        configure::firewall(vm, Some(&fw), &pve, Some(own.as_bytes()))
            .actions
            .len(),
        1
    );
}
