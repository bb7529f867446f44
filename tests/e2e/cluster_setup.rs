//! Issue 16, set-up per node, on a simulated three-node cluster: the 2025-10-01 fixture with
//! `node` keys and a per-node `setup` override (pve2's own address). An unknown `--node` is
//! refused before anything runs (exit 1); a disk with data on pve2 makes pve2's set-up fail
//! (the ZFS safety rule, per node) while pve1 and pve3 are set up (exit 1, the summary names
//! pve2, one recap row per node); `--node pve2 --wipe-disks` sets up pve2 alone, with its
//! override; a re-run of every node changes nothing; then `LetsGo` converges, with each
//! container's bind mounts on its own node's host.

use std::path::PathBuf;

use phoenix_tests::cluster::{ok, Cluster};
use phoenix_tests::{bin, repo, stderr, upstream_fixture};
use serde_json::{json, Value};

/// pve2's own address (the fixture's host has 10.0.0.13/24).
const PVE2_ADDRESS: &str = "10.0.0.12/24";

/// The host folder container 950 (on pve2) bind-mounts.
const BIND_HOST: &str = "/srv/pve2-models";

/// The fixture over three nodes, pve2 overriding its address, 950 bind-mounting a host folder.
fn cluster() -> Cluster {
    Cluster::new(|hv, lxc, _| {
        hv["cluster"]["nodes"][1]["setup"] =
            json!({"network": {"interfaces": {"address": PVE2_ADDRESS}}});
        // A host folder of pve2 bind-mounted into a container there.
        lxc["lxc_configs"]["950"]["mount_points"] =
            json!([{"host_path": BIND_HOST, "mount_point": "/models", "owner_uid": 1000}]);
    })
}

/// Where this test looks on each node.
trait Hosts {
    fn host(&self, node: &str) -> PathBuf;
    fn marker(&self, node: &str) -> PathBuf;
    fn address(&self, node: &str) -> String;
}

impl Hosts for Cluster {
    /// A node's simulated host folder.
    fn host(&self, node: &str) -> PathBuf {
        match node {
            "pve1" => self.sim.dir().join("host"),
            n => self.sim.dir().join("nodes").join(n).join("host"),
        }
    }
    fn marker(&self, node: &str) -> PathBuf {
        self.host(node)
            .join("usr/local/phoenix_hypervisor/lib/.phoenix_hypervisor_initialized")
    }
    fn address(&self, node: &str) -> String {
        std::fs::read_to_string(
            self.host(node)
                .join("etc/network/interfaces.d/50-vmbr0.cfg"),
        )
        .unwrap_or_default()
    }
}

/// The recap row of node `n` (`host pve2 ok=.. changed=.. failed=..`).
fn recap_row(err: &str, n: &str) -> Option<String> {
    let row = format!("host {n} ");
    err.lines()
        .find(|l| l.trim_start().starts_with(&row) && l.contains(" ok="))
        .map(str::to_string)
}

#[test]
fn setup_per_node_then_lets_go_converges() {
    let c = cluster();

    // An unknown node: one line, exit 1, nothing set up.
    let o = c.run(&["setup", "--node", "pve9"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Error: --node pve9: node 'pve9' is not in cluster.nodes (pve1, pve2, pve3)"),
        "{err}"
    );
    assert!(!c.marker("pve1").exists());
    // The manager refuses it too, and `--node` without a cluster block.
    let o = std::process::Command::new(bin("hypervisor-manager"))
        .args(["setup", "--node", "pve9", "--dry-run", "--config"])
        .arg(&c.cfg)
        .env("PHOENIX_SIM", c.sim.dir())
        .env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let plain = upstream_fixture().join("phoenix_hypervisor_config.json");
    let o = std::process::Command::new(bin("hypervisor-manager"))
        .args(["setup", "--node", "pve2", "--dry-run", "--config"])
        .arg(&plain)
        .env("PHOENIX_SIM", c.sim.tmp.path().join("plain"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has no `cluster` block"),
        "{}",
        stderr(&o)
    );

    // A disk of pve2 holds data: ZFS refuses it there (as on one host); the others go on.
    let disk = "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_4TB_S7U8NJ0Y402334Y";
    let mark = std::process::Command::new(c.sim.dir().join("bin/sgdisk"))
        .args(["--new=1:0:0", disk])
        .env("PVE_SIM_ROOT", c.sim.dir())
        .env("PVE_SIM_NODE", "pve2")
        .status()
        .unwrap();
    assert!(mark.success());
    let o = c.run(&["setup"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to create pool 'fastData'"), "{err}");
    assert!(err.contains("failed: node pve2"), "{err}");
    assert!(
        err.contains("Summary: 3 nodes, 2 set up, 1 failed (pve2)"),
        "{err}"
    );
    for n in ["pve1", "pve2", "pve3"] {
        assert!(recap_row(&err, n).is_some(), "no recap row for {n}:\n{err}");
    }
    assert!(c.marker("pve1").is_file() && c.marker("pve3").is_file());
    assert!(!c.marker("pve2").exists(), "pve2's set-up failed");
    for n in ["pve1", "pve3"] {
        let row = recap_row(&err, n).unwrap_or_default();
        assert!(
            row.contains("failed=0") && !row.contains("changed=0"),
            "{n}: {row}"
        );
    }
    assert!(
        c.address("pve1").contains("10.0.0.13/24"),
        "{}",
        c.address("pve1")
    );
    assert!(c.address("pve3").contains("10.0.0.13/24"));

    // pve2 alone, its disks allowed: its own address.
    let o = c.run(&["setup", "--node", "pve2", "--wipe-disks"]);
    let err = stderr(&o);
    ok("setup --node pve2", &o);
    assert!(recap_row(&err, "pve2").is_some(), "{err}");
    assert!(
        recap_row(&err, "pve1").is_none() && recap_row(&err, "pve3").is_none(),
        "{err}"
    );
    assert!(c.marker("pve2").is_file());
    let pve2 = c.address("pve2");
    assert!(
        pve2.contains(PVE2_ADDRESS) && !pve2.contains("10.0.0.13/24"),
        "{pve2}"
    );

    // Every node again: nothing changes anywhere.
    let before = c.sim.invocations().len();
    let o = c.run(&["setup"]);
    let err = stderr(&o);
    ok("re-run", &o);
    for n in ["pve1", "pve2", "pve3"] {
        let row = recap_row(&err, n).unwrap_or_default();
        assert!(
            row.contains("changed=0 failed=0"),
            "{n} changed: {row}\n{err}"
        );
    }
    assert!(
        err.contains("Summary: 3 nodes, 3 set up, 0 failed"),
        "{err}"
    );
    let changing: Vec<Value> = c.sim.invocations()[before..]
        .iter()
        .filter(|i| i["mutating"] == true)
        .cloned()
        .collect();
    assert!(changing.is_empty(), "{changing:#?}");

    // The guests on their nodes converge.
    c.cache_vm_image();
    ok(
        "LetsGo",
        &c.run(&["LetsGo", "--no-boot-delay", "--jobs", "6"]),
    );
    c.assert_in_sync();
    // The container's bind mount is a folder of its own node's host (made by Phoenix with
    // its owner, mounted from there by the node).
    let dump = c.sim.dump();
    let ct = dump["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == 950)
        .unwrap();
    assert_eq!(ct["node"], "pve2");
    assert!(
        ct["config"]["mp1"]
            .as_str()
            .is_some_and(|m| m.starts_with(BIND_HOST)),
        "{ct:#}"
    );
    let rel = BIND_HOST.trim_start_matches('/');
    assert!(c.host("pve2").join(rel).is_dir());
    assert!(!c.host("pve1").join(rel).exists() && !c.host("pve3").join(rel).exists());
}
