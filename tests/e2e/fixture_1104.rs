//! Issue 13 acceptance on the simulator with the 2025-11-04 deployment (12 containers, 3 VMs).
//!
//! 1. The files unmodified: `setup` writes the host's address (`network.interfaces`) and the
//!    global firewall rules into `cluster.fw` `[RULES]`; a second `setup` changes nothing.
//!    `LetsGo` converges every guest, the CA (103), the gateway containers (101, 102) and the
//!    VMs' trust of the internal root included, then runs `sync all` (issue 17).
//! 2. The same files with the service layer's pieces taken out at test time (the features
//!    `step_ca`, `trusted_ca`, `step_cli`, `traefik`, the application scripts and the health
//!    check of the CA and gateway containers 101-103; every other key as written): everything converges, and the
//!    node shows what the old tool's keys mean: each guest's `.fw` and `firewall=1` on its NIC,
//!    the id maps and mount owners of container 101, name servers, the VMs' NFS folders mounted
//!    from the export; a second `LetsGo` makes no mutating call and changes nothing.

use std::path::Path;

use phoenix_tests::{stderr, upstream_1104_fixture, Sim};
use serde_json::Value;

const RULES: &[&str] = &[
    "IN ACCEPT -p tcp -dport 80 # phoenix: Allow HTTP for ACME challenges to Nginx",
    "IN ACCEPT -p tcp -dport 443 # phoenix: Allow external HTTPS traffic to the Nginx gateway",
    "IN ACCEPT -source 10.0.0.0/24 -dest 10.0.0.13 -p udp -dport 53 # phoenix: Allow internal guests to query DNS on Host",
    "IN ACCEPT -source 10.0.0.0/24 -dest 10.0.0.13 -p tcp -dport 53 # phoenix: Allow internal guests to query DNS on Host",
    "IN ACCEPT -source 10.0.0.0/24 -dest 10.0.0.13 -p tcp -dport 2049 # phoenix: Allow internal guests to access NFS on Host",
    "OUT ACCEPT -dest 10.0.0.153 -p tcp -dport 443 # phoenix: Allow Proxmox host to access the Nginx gateway for Portainer API calls",
];

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `pve-firewall compile` on the node: every `.fw` file as Proxmox reads it.
fn compile(sim: &Sim) -> std::process::Output {
    std::process::Command::new(sim.dir().join("bin/pve-firewall"))
        .arg("compile")
        .env("PVE_SIM_ROOT", sim.dir())
        .output()
        .expect("pve-firewall")
}

/// `LetsGo` of the config at `cfg`, without the boot delays.
fn lets_go(sim: &Sim, cfg: &Path) -> std::process::Output {
    sim.run(&[
        "LetsGo",
        "--config",
        cfg.to_str().unwrap(),
        "--no-boot-delay",
    ])
}

fn setup(sim: &Sim, cfg: &Path) -> String {
    let o = sim.run(&["setup", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "setup failed:\n{}", stderr(&o));
    stderr(&o)
}

/// What `setup` must have done with the 2025-11-04 host keys.
fn check_host(sim: &Sim) {
    let fw = read(&sim.dir().join("etc/pve/firewall/cluster.fw"));
    assert!(fw.starts_with("[OPTIONS]\n"), "{fw}");
    assert!(fw.contains("\npolicy_in: DROP\n"), "{fw}");
    let rules = fw.split("[RULES]\n").nth(1).expect("[RULES] section");
    assert_eq!(rules.lines().collect::<Vec<_>>(), RULES, "{fw}");
    let net = read(&sim.dir().join("host/etc/network/interfaces.d/50-vmbr0.cfg"));
    assert!(
        net.contains("iface vmbr0 inet static\n    address 10.0.0.13/24\n    gateway 10.0.0.1\n    dns-nameservers 10.0.0.153 8.8.8.8\n"),
        "{net}"
    );
}

#[test]
fn the_unmodified_files_set_up_the_host_and_bring_up_the_service_layer() {
    let sim = Sim::new();
    let cfg = upstream_1104_fixture().join("phoenix_hypervisor_config.json");
    let out = setup(&sim, &cfg);
    assert!(
        out.contains("setup firewall rules: Phoenix's rules in cluster.fw differ from the config")
            && out.contains("setup network: the host's address on vmbr0 differs"),
        "{out}"
    );
    check_host(&sim);
    let o = compile(&sim);
    assert!(o.status.success(), "{}", stderr(&o));
    // A dry run and a second run change nothing.
    let before = read(&sim.dir().join("etc/pve/firewall/cluster.fw"));
    let o = sim.run(&["setup", "--dry-run", "--config", cfg.to_str().unwrap()]);
    assert!(
        o.status.success() && !stderr(&o).contains("planned"),
        "{}",
        stderr(&o)
    );
    let out = setup(&sim, &cfg);
    assert!(out.contains("host     ok=13 changed=0 failed=0"), "{out}");
    assert_eq!(read(&sim.dir().join("etc/pve/firewall/cluster.fw")), before);

    let o = lets_go(&sim, &cfg);
    let err = stderr(&o);
    // Every guest converges, the service layer included (CA, gateway, trust); `sync all` then
    // issues the certificates, writes the DNS and the gateway's configs, brings Portainer up on
    // VM 1001 (its stack) and the agent on 1002, and deploys 1002's stacks through Portainer.
    assert!(
        err.contains("Summary: 15 processed, 0 skipped, 0 failed"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
    for done in [
        "VM 1001: portainer server (stack portainer_service): changed",
        "VM 1002: portainer agent: changed",
        "VM 1002: portainer environment drphoenix: changed",
        "VM 1002: stack qdrant_service-production: changed",
        "VM 1002: stack thinkheads_ai_app-production: changed",
    ] {
        assert!(err.contains(done), "{done}:\n{err}");
    }
    check_service_layer(&sim);

    // A second run: every guest and the layer's files as they are, no mutating call.
    let calls = sim.invocations().len();
    let o = lets_go(&sim, &cfg);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("sync: already in the desired state"), "{err}");
    // `pct exec` and `qm guest exec` count as mutating (the simulator cannot know); the sync's
    // reads of the gateway's files (`true`, `test -f`, `cat`) and of Portainer on the VMs
    // (`sha256sum`, `docker ... inspect|port|ps`) are not.
    let mutating: Vec<String> = sim.invocations()[calls..]
        .iter()
        .filter(|c| c["mutating"] == true)
        .filter(|c| !phoenix_tests::is_guest_read(c))
        .map(|c| c.to_string())
        .collect();
    assert!(
        mutating.is_empty(),
        "a second LetsGo must not change anything:\n{}",
        mutating.join("\n")
    );
}

/// What the service layer's guests hold after `LetsGo`: the CA initialised and answering in the
/// simulated network, Nginx running in 101, Traefik installed in 102 with `step` bootstrapped
/// against the CA, the internal root trusted in the VMs, the manifest's certificates issued.
fn check_service_layer(sim: &Sim) {
    let dump = sim.dump();
    let has = |id: u64, what: &str, item: &str| {
        let g = guest(&dump, id);
        let list = match what {
            "packages" => &g["packages"],
            _ => &g["services"][what],
        };
        list.as_array()
            .unwrap_or_else(|| panic!("{id}: no {what}: {g}"))
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.starts_with(item)))
    };
    assert!(has(103, "packages", "step-ca="), "103 has step-ca");
    assert!(has(103, "active", "step-ca.service"), "step-ca runs in 103");
    assert!(has(101, "active", "nginx.service"), "nginx runs in 101");
    assert!(
        has(102, "enabled", "traefik.service"),
        "traefik enabled in 102"
    );
    for id in [101, 102, 1001, 1002] {
        assert!(has(id, "packages", "step-cli="), "{id} has step");
    }
    let net = read(&sim.dir().join("net/addresses.json"));
    assert!(
        net.contains("\"10.0.0.10:9000\"") && net.contains("\"ca.internal.thinkheads.ai:9000\""),
        "{net}"
    );
    let data = sim.dir().join("host/mnt/pve/quickOS/lxc-persistent-data");
    let root = read(&data.join("103/ssl/phoenix_root_ca.crt"));
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    // The VMs read the root from their NFS volume, where the host put it.
    for id in [1001, 1002] {
        let copy = sim.dir().join(format!(
            "host/quickOS/vm-persistent-data/{id}/.step-ca/root_ca.crt"
        ));
        assert_eq!(read(&copy), root, "VM {id}");
    }
    // 102 bootstrapped `step` against bootstrap_ca_url.
    let log = read(&sim.dir().join("guests/102/exec.log"));
    assert!(
        log.contains("\"step\",\"ca\",\"bootstrap\",\"--ca-url\",\"https://10.0.0.10:9000\""),
        "{log}"
    );
    for cert in [
        "101/ssl/nginx.internal.thinkheads.ai.crt",
        "102/certs/traefik.internal.thinkheads.ai.crt",
    ] {
        let pem = read(&data.join(cert));
        assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "{cert}");
    }
}

/// The fixture's three files without the service layer's features, scripts and sync triggers,
/// in `dir`.
fn without_service_layer(dir: &Path) -> std::path::PathBuf {
    let src = upstream_1104_fixture();
    let load = |n: &str| -> Value { serde_json::from_str(&read(&src.join(n))).unwrap() };
    const SERVICE_FEATURES: &[&str] = &["step_ca", "trusted_ca", "step_cli", "traefik"];
    let strip = |g: &mut Value| {
        if let Some(f) = g.get_mut("features").and_then(Value::as_array_mut) {
            f.retain(|x| !SERVICE_FEATURES.contains(&x.as_str().unwrap_or("")));
        }
        // `LetsGo` runs `phoenix sync` after these guests: the service layer itself; the
        // stacks (and their firewall rules) are not copied beside these files.
        if let Some(g) = g.as_object_mut() {
            g.remove("trigger_sync_on_completion");
            g.remove("docker_stacks");
        }
    };
    let mut lxc = load("phoenix_lxc_configs.json");
    for (id, c) in lxc["lxc_configs"].as_object_mut().unwrap() {
        strip(c);
        if ["101", "102", "103"].contains(&id.as_str()) {
            let c = c.as_object_mut().unwrap();
            c.remove("application_script");
            c.remove("health_check");
        }
    }
    let mut vms = load("phoenix_vm_configs.json");
    for v in vms["vms"].as_array_mut().unwrap() {
        strip(v);
    }
    std::fs::write(dir.join("phoenix_lxc_configs.json"), lxc.to_string()).unwrap();
    std::fs::write(dir.join("phoenix_vm_configs.json"), vms.to_string()).unwrap();
    let hv = dir.join("phoenix_hypervisor_config.json");
    std::fs::copy(src.join("phoenix_hypervisor_config.json"), &hv).unwrap();
    hv
}

fn guest(dump: &Value, id: u64) -> &Value {
    dump["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == id)
        .unwrap_or_else(|| panic!("guest {id} missing"))
}

fn owner(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

#[test]
fn without_the_service_layer_everything_converges_and_a_rerun_changes_nothing() {
    let sim = Sim::new();
    let etc = tempfile::tempdir().unwrap();
    let cfg = without_service_layer(etc.path());
    setup(&sim, &cfg);
    check_host(&sim);
    // A dry run plans and writes nothing.
    let fws = || {
        std::fs::read_dir(sim.dir().join("etc/pve/firewall"))
            .unwrap()
            .count()
    };
    let o = sim.run(&["--dry-run", "LetsGo", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fws(), 1, "only cluster.fw");
    assert!(!sim.dir().join("etc/pve/qemu-server/9000.conf").exists());
    let o = lets_go(&sim, &cfg);
    let err = stderr(&o);
    assert!(o.status.success(), "LetsGo failed:\n{err}");
    assert!(
        err.contains("Summary: 15 processed, 0 skipped, 0 failed"),
        "{err}"
    );
    let o = compile(&sim);
    assert!(
        o.status.success(),
        "every .fw as Proxmox reads it: {}",
        stderr(&o)
    );

    let dump = sim.dump();
    let node = sim.dir();
    // VM firewalls: the file and the flag on net0.
    for (id, first) in [
        (1001, "OUT ACCEPT -dest 10.0.0.153 -p tcp -dport 443 # Allow VM to access the Nginx gateway"),
        (1002, "IN ACCEPT -source 10.0.0.111 -p tcp -dport 9001 # Allow Portainer server to access agent"),
    ] {
        let fw = dump["firewall"][format!("{id}.fw")].as_str().unwrap_or_default();
        assert!(fw.starts_with("[OPTIONS]\nenable: 1\n\n[RULES]\n"), "{id}: {fw}");
        assert!(fw.contains(&format!("\n{first}\n")), "{id}: {fw}");
        let net0 = guest(&dump, id)["config"]["net0"].as_str().unwrap();
        assert!(net0.contains("firewall=1"), "{id}: {net0}");
        assert_eq!(guest(&dump, id)["config"]["nameserver"], "10.0.0.13");
    }
    assert!(
        dump["firewall"]["101.fw"].is_string(),
        "container firewalls too"
    );
    // Container 101: its id map whole, root allowed to map host gid 33, the mount owners.
    let c101 = guest(&dump, 101);
    let idmap: Vec<&str> = c101["lxc"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[0] == "lxc.idmap")
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert_eq!(
        idmap,
        vec![
            "u 0 100000 65536",
            "g 0 100000 33",
            "g 33 33 1",
            "g 34 100034 65502"
        ],
        "{c101}"
    );
    assert!(read(&node.join("host/etc/subgid")).contains("root:33:1\n"));
    assert_eq!(c101["config"]["nameserver"], "10.0.0.13");
    let data = node.join("host/mnt/pve/quickOS/lxc-persistent-data");
    assert_eq!(
        owner(&data.join("101/logs")),
        (100_033, 33),
        "www-data, group through the map"
    );
    assert_eq!(
        owner(&data.join("101/ssl")),
        (100_000, 100_000),
        "root of the container"
    );
    assert_eq!(owner(&data.join("102/certs")), (100_000, 100_000));
    // The VMs' NFS folders: created inside the export, allowed, in fstab and mounted.
    let exports = read(&node.join("host/etc/exports"));
    for (id, ip) in [(1001, "10.0.0.111"), (1002, "10.0.0.102")] {
        assert!(exports.contains(ip), "{exports}");
        assert!(node
            .join(format!("host/quickOS/vm-persistent-data/{id}/.step-ca"))
            .is_dir());
        let root = node.join(format!("guests/{id}/rootfs"));
        let fstab = read(&root.join("etc/fstab"));
        let mounts = read(&root.join("run/pve-sim/mounts"));
        for (path, mp) in [
            (
                format!("/quickOS/vm-persistent-data/{id}"),
                "/persistent-storage",
            ),
            (
                format!("/quickOS/vm-persistent-data/{id}/.step-ca"),
                "/etc/step-ca/certs",
            ),
        ] {
            let src = format!("10.0.0.13:{path}");
            assert!(fstab.contains(&format!("{src} {mp} nfs ")), "{id}: {fstab}");
            assert!(
                mounts.contains(&format!("{src}\t{mp}\tnfs")),
                "{id}: {mounts}"
            );
        }
    }

    // A second run: no mutating Proxmox call, nothing on the node changes.
    let calls = sim.invocations().len();
    let before = sim.dump();
    let owners = owner(&data.join("101/logs"));
    let o = lets_go(&sim, &cfg);
    assert!(o.status.success(), "{}", stderr(&o));
    let mutating: Vec<String> = sim.invocations()[calls..]
        .iter()
        .filter(|c| c["mutating"] == true)
        .map(|c| c.to_string())
        .collect();
    assert!(
        mutating.is_empty(),
        "a no-op LetsGo must not change anything:\n{}",
        mutating.join("\n")
    );
    assert_eq!(sim.dump(), before, "the node is unchanged");
    assert_eq!(owner(&data.join("101/logs")), owners);

    // Drift is visible: a VM's firewall file and NIC flag edited by hand show in `status`, and
    // `create` puts them back.
    let fw = sim.dir().join("etc/pve/firewall/1002.fw");
    std::fs::write(&fw, "[OPTIONS]\nenable: 0\n").unwrap();
    let conf = sim.dir().join("etc/pve/qemu-server/1002.conf");
    let text = read(&conf);
    std::fs::write(&conf, text.replace(",firewall=1", "")).unwrap();
    let o = sim.run(&[
        "status",
        "1002",
        "--detailed-exitcode",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{table}{}", stderr(&o));
    assert!(
        table.contains("net0.firewall") && table.contains("firewall"),
        "{table}"
    );
    let o = sim.run(&["create", "1002", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        sim.dump()["firewall"]["1002.fw"],
        before["firewall"]["1002.fw"]
    );
    assert!(read(&conf).contains("firewall=1"));
}
