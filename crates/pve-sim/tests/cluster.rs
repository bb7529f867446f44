//! A simulated cluster: one state folder, one config folder per node, IDs unique across
//! nodes, migration with pve-container's and qemu-server's rules, storages restricted to
//! nodes, and the by-hand move.
mod common;
use common::*;

/// A three-node cluster from [`HV_CONFIG`] plus `cluster.storages`: `quickOS-lxc-disks` only
/// on pve1 and pve2, `quickOS-vm-disks` everywhere.
fn cluster() -> Sim {
    let s = Sim::bare();
    let cfg = s.dir.path().join("hv.json");
    let mut hv: serde_json::Value = serde_json::from_str(HV_CONFIG).unwrap();
    hv["cluster"] = serde_json::json!({
        "nodes": [{"name": "pve1"}, {"name": "pve2"}, {"name": "pve3"}],
        "storages": {"quickOS-lxc-disks": {"nodes": ["pve1", "pve2"]}}
    });
    std::fs::write(&cfg, hv.to_string()).unwrap();
    s.admin(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--nodes",
        "pve1,pve2,pve3",
    ])
    .ok();
    s.run("pveam", &["download", "fastData-shared-iso", TEMPLATE])
        .ok();
    s
}

fn ct(s: &Sim, id: &str) {
    s.run(
        "pct",
        &[
            "create",
            id,
            &format!("fastData-shared-iso:vztmpl/{TEMPLATE}"),
            "--rootfs",
            "quickOS-lxc-disks:4",
            "--hostname",
            &format!("ct{id}"),
        ],
    )
    .ok();
}

fn on(s: &Sim, node: &str, tool: &str, args: &str) -> Out {
    let mut c = s.cmd(tool, &args.split_whitespace().collect::<Vec<_>>());
    c.env("PVE_SIM_NODE", node);
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn configs_live_in_the_nodes_folder_and_ids_are_cluster_wide() {
    let s = cluster();
    ct(&s, "900");
    assert!(s.path("etc/pve/nodes/pve1/lxc/900.conf").is_file());
    assert!(!s.path("etc/pve/lxc").exists());
    // Another node knows the ID is taken, and does not see the guest as its own.
    on(
        &s,
        "pve2",
        "pct",
        "create 900 fastData-shared-iso:vztmpl/x.tar.zst",
    )
    .fails_with("CT 900 already exists on node 'pve1'");
    on(&s, "pve2", "pct", "config 900")
        .fails_with("Configuration file 'nodes/pve2/lxc/900.conf' does not exist");
    // A storage restricted to other nodes cannot be allocated on.
    let o = on(
        &s,
        "pve3",
        "pct",
        &format!("create 901 fastData-shared-iso:vztmpl/{TEMPLATE} --rootfs quickOS-lxc-disks:4"),
    );
    o.fails_with("storage 'quickOS-lxc-disks' is not available on node 'pve3'");
}

#[test]
fn migration_follows_proxmox_rules() {
    let s = cluster();
    ct(&s, "900");
    s.pct("start 900").ok();
    s.pct("migrate 900 pve2")
        .fails_with("can't migrate running container without --online or --restart");
    s.pct("migrate 900 pve2 --online 1")
        .fails_with("lxc live migration is currently not implemented");
    s.pct("migrate 900 pve1")
        .fails_with("target is local node.");
    s.pct("migrate 900 pve9")
        .fails_with("no such cluster node 'pve9'");
    s.pct("migrate 900 pve3 --restart 1")
        .fails_with("storage 'quickOS-lxc-disks' is not available on node 'pve3'");
    s.pct("migrate 900 pve2 --restart 1").ok();
    assert!(s.path("etc/pve/nodes/pve2/lxc/900.conf").is_file());
    assert!(!s.path("etc/pve/nodes/pve1/lxc/900.conf").exists());
    on(&s, "pve2", "pct", "status 900").ok();
    assert!(on(&s, "pve2", "pct", "status 900")
        .stdout
        .contains("running"));
    // A bind mount stays on its host.
    on(&s, "pve2", "pct", "stop 900").ok();
    std::fs::create_dir_all(s.path("host/srv/data")).unwrap();
    on(&s, "pve2", "pct", "set 900 --mp0 /srv/data,mp=/data").ok();
    on(&s, "pve2", "pct", "migrate 900 pve1")
        .fails_with("cannot migrate local bind mount point 'mp0'");
}

#[test]
fn a_running_vm_with_local_disks_needs_with_local_disks() {
    let s = cluster();
    s.qm("create 8000 --name vm --memory 512 --scsi0 quickOS-vm-disks:1 --ide2 quickOS-vm-disks:cloudinit")
        .ok();
    s.qm("start 8000").ok();
    s.qm("migrate 8000 pve2")
        .fails_with("can't migrate running VM without --online");
    let o = s.qm("migrate 8000 pve2 --online 1");
    assert!(o.stderr.contains("can't migrate local disk 'quickOS-vm-disks:vm-8000-disk-0': can't live migrate attached local disks without with-local-disks option"), "{}", o.stderr);
    o.fails_with("Problem found while scanning volumes - can't migrate VM - check log");
    s.qm("migrate 8000 pve2 --online 1 --with-local-disks 1")
        .ok();
    assert!(s.path("etc/pve/nodes/pve2/qemu-server/8000.conf").is_file());
}

#[test]
fn a_guest_moved_by_hand_and_a_node_down() {
    let s = cluster();
    ct(&s, "900");
    s.admin(&["move", "900", "pve2"]).ok();
    assert!(s.path("etc/pve/nodes/pve2/lxc/900.conf").is_file());
    s.admin(&["move", "900", "pve7"])
        .fails_with("no such cluster node 'pve7'");
    s.faults(r#"{"nodes_down": ["pve2"]}"#);
    let dump = s.admin(&["dump"]).ok();
    assert!(dump.stdout.contains("\"node\": \"pve2\""));
}

#[test]
fn each_node_has_its_own_host_and_a_shared_storage_is_one_folder() {
    let s = cluster();
    assert!(s.path("nodes/pve2/host").is_dir() && s.path("nodes/pve3/host").is_dir());
    assert!(!s.exists("nodes/pve1"), "the first node keeps host/");
    // Host tools keep each node's state beside its host.
    let disk = "/dev/disk/by-id/nvme-PVE2_ONLY";
    assert_eq!(
        on(&s, "pve2", "sgdisk", &format!("--new=1:0:0 {disk}")).code,
        0
    );
    assert!(s.read("nodes/pve2/host-state/state.json").contains(disk));
    assert!(!s.read("host-state/state.json").contains(disk));
    // Bind mounts come from the node's host, except inside a shared storage: one folder.
    on(
        &s,
        "pve2",
        "pvesm",
        "add dir shared1 --path /mnt/pve/shared1 --content images --shared 1",
    )
    .ok();
    on(
        &s,
        "pve2",
        "pct",
        &format!("create 300 fastData-shared-iso:vztmpl/{TEMPLATE} --rootfs quickOS-lxc-disks:4 --mp0 /srv/own,mp=/own --mp1 /mnt/pve/shared1/data,mp=/data"),
    )
    .ok();
    assert!(s.path("nodes/pve2/host/srv/own").is_dir());
    assert!(!s.exists("host/srv/own"));
    assert!(s.path("host/mnt/pve/shared1/data").is_dir());
    assert!(!s.exists("nodes/pve2/host/mnt/pve/shared1/data"));
}

#[test]
fn an_ha_managed_guest_is_started_stopped_and_moved_by_the_ha_manager() {
    let s = cluster();
    ct(&s, "900");
    std::fs::write(s.path("faults.json"), r#"{"ha_delay_ms": 300}"#).unwrap();
    s.run(
        "pvesh",
        &[
            "create",
            "/cluster/ha/resources",
            "--sid",
            "ct:900",
            "--state",
            "stopped",
        ],
    )
    .ok();
    let cfg = std::fs::read_to_string(s.path("etc/pve/ha/resources.cfg")).unwrap();
    assert!(cfg.starts_with("ct: 900\n\tstate stopped\n"), "{cfg}");
    s.run(
        "pvesh",
        &["create", "/cluster/ha/resources", "--sid", "900"],
    )
    .fails_with("resource ID 'ct:900' already defined");
    let status = |s: &Sim| -> serde_json::Value {
        let o = s
            .run(
                "pvesh",
                &[
                    "get",
                    "/nodes/pve1/lxc/900/status/current",
                    "--output-format",
                    "json",
                ],
            )
            .ok();
        serde_json::from_str(&o.stdout).unwrap()
    };
    assert_eq!(status(&s)["ha"]["managed"], 1);

    // The start only asks the HA manager; it acts once the request is due.
    let o = s.pct("start 900").ok();
    assert!(
        o.stdout.contains("Requesting HA start for CT 900"),
        "{}",
        o.stdout
    );
    assert_eq!(status(&s)["status"], "stopped");
    std::thread::sleep(std::time::Duration::from_millis(400));
    let st = status(&s);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["ha"]["state"], "started", "{st}");
    let cfg = std::fs::read_to_string(s.path("etc/pve/ha/resources.cfg")).unwrap();
    assert!(cfg.contains("state started"), "{cfg}");
    let log = std::fs::read_to_string(s.path("invocations.jsonl")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"via\":\"ha-lrm\"") && l.contains("\"start\"")),
        "{log}"
    );

    // A migration likewise, then a stop.
    s.pct("migrate 900 pve2 --restart 1")
        .ok()
        .stdout
        .contains("Requesting HA migration for CT 900 to node pve2")
        .then_some(())
        .expect("HA migration requested");
    assert!(s.path("etc/pve/nodes/pve1/lxc/900.conf").is_file());
    std::thread::sleep(std::time::Duration::from_millis(400));
    on(&s, "pve3", "pct", "list").ok();
    assert!(s.path("etc/pve/nodes/pve2/lxc/900.conf").is_file());
    on(&s, "pve2", "pct", "stop 900")
        .ok()
        .stdout
        .contains("Requesting HA stop for CT 900")
        .then_some(())
        .expect("HA stop requested");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(on(&s, "pve2", "pct", "status 900")
        .ok()
        .stdout
        .contains("stopped"));

    // Destroying needs purge, which removes the resource too.
    on(&s, "pve2", "pct", "destroy 900")
        .fails_with("unable to remove CT 900 - used in HA resources and purge parameter not set.");
    on(&s, "pve2", "pct", "destroy 900 --purge 1").ok();
    let cfg = std::fs::read_to_string(s.path("etc/pve/ha/resources.cfg")).unwrap();
    assert!(!cfg.contains("900"), "{cfg}");
}
