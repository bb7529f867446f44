//! The 2025-10-01 fixture spread over a simulated three-node cluster, as issue 16's end-to-end
//! tests use it (`cluster`, `cluster_setup`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::{repo, stderr, upstream_fixture, Sim};

/// Where the fixture's guests go; the others stay on the default node, pve1 (VM 8001 goes to
/// pve3).
pub const PLACEMENT: &[(&str, &str)] = &[
    ("910", "pve3"),
    ("941", "pve3"),
    ("950", "pve2"),
    ("951", "pve2"),
    ("952", "pve2"),
    ("953", "pve3"),
    ("954", "pve3"),
    ("955", "pve3"),
    ("956", "pve2"),
    ("957", "pve2"),
    ("960", "pve2"),
];

/// Writes a copy of the fixture into `dir`: a `cluster` block of pve1, pve2, pve3 and the
/// `node` keys of [`PLACEMENT`]; `edit` changes the hypervisor, LXC and VM documents before
/// they are written. Returns the hypervisor file.
pub fn fixture_over_three_nodes(
    dir: &Path,
    edit: impl FnOnce(&mut Value, &mut Value, &mut Value),
) -> PathBuf {
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(upstream_fixture().join(f)).unwrap()).unwrap()
    };
    let mut hv = read("phoenix_hypervisor_config.json");
    hv["cluster"] = json!({"nodes": [{"name": "pve1"}, {"name": "pve2"}, {"name": "pve3"}]});
    let mut lxc = read("phoenix_lxc_configs.json");
    for (id, node) in PLACEMENT {
        lxc["lxc_configs"][*id]["node"] = json!(node);
    }
    let mut vm = read("phoenix_vm_configs.json");
    for v in vm["vms"].as_array_mut().unwrap() {
        if v["vmid"] == 8001 {
            v["node"] = json!("pve3");
        }
    }
    edit(&mut hv, &mut lxc, &mut vm);
    for (name, v) in [
        ("phoenix_hypervisor_config.json", &hv),
        ("phoenix_lxc_configs.json", &lxc),
        ("phoenix_vm_configs.json", &vm),
    ] {
        std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
    }
    dir.join("phoenix_hypervisor_config.json")
}

/// Asserts a run succeeded, showing its stderr when it did not.
#[track_caller]
pub fn ok(what: &str, o: &Output) {
    assert!(o.status.success(), "{what} failed:\n{}", stderr(o));
}

/// A simulated cluster (`--sim-nodes 3`) and its config, the bundled scripts.
pub struct Cluster {
    pub sim: Sim,
    pub cfg: PathBuf,
}

impl Cluster {
    /// `edit`: as [`fixture_over_three_nodes`].
    pub fn new(edit: impl FnOnce(&mut Value, &mut Value, &mut Value)) -> Cluster {
        let sim = Sim::new();
        let cfg = fixture_over_three_nodes(sim.tmp.path(), edit);
        Cluster { sim, cfg }
    }

    /// `phoenix <args>` on the cluster.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sim.phoenix(args);
        c.args(["--config", self.cfg.to_str().unwrap(), "--sim-nodes", "3"])
            .env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Puts the VM template's cloud image in pve1's image cache (no download in tests).
    pub fn cache_vm_image(&self) {
        let cache = self
            .sim
            .dir()
            .join("host/var/lib/vz/template/phoenix-images");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("noble-server-cloudimg-amd64.img"), b"image").unwrap();
    }

    /// `status --detailed-exitcode` says every guest is as configured.
    #[track_caller]
    pub fn assert_in_sync(&self) {
        let st = self.run(&["status", "--detailed-exitcode"]);
        assert_eq!(
            st.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
}
