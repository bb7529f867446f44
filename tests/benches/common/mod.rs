//! What the simulator benchmarks share: the generated deployment's files and the critical path
//! of its graph.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A small deterministic generator (Knuth's MMIX LCG): the same graph on every run.
pub struct Lcg(pub u64);

impl Lcg {
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// One generated container: from the OS template, or a full clone of `clone_from`; the one
/// `bench` feature; started at boot.
pub fn container(id: u64, clone_from: Option<u64>, deps: &[u64]) -> Value {
    let mut c = json!({
        "name": format!("ct{id}"), "storage_pool": "quickOS-lxc-disks",
        "storage_size_gb": 8, "memory_mb": 1024, "cores": 1,
        "template_snapshot_name": "ready", "features": ["bench"],
        "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp" },
        "start_at_boot": true, "boot_order": 1
    });
    match clone_from {
        Some(s) => c["clone_from_ctid"] = json!(s.to_string()),
        None => c["template"] = json!("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"),
    }
    if !deps.is_empty() {
        c["dependencies"] = json!(deps);
    }
    c
}

/// Writes the containers (`lxc.json`), no VMs (`vm.json`), the hypervisor config (`hv.json`)
/// and the one feature script every container runs (`bench`: one `pct exec`, whose simulated
/// latency stands for a feature's work) into `dir`; returns the hypervisor config's path.
pub fn write_files(dir: &Path, cts: serde_json::Map<String, Value>, hv: &Value) -> PathBuf {
    std::fs::write(
        dir.join("lxc.json"),
        json!({ "lxc_configs": cts }).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("vm.json"), json!({ "vms": [] }).to_string()).unwrap();
    std::fs::write(dir.join("hv.json"), hv.to_string()).unwrap();
    let setup = dir.join("scripts/lxc_setup");
    std::fs::create_dir_all(&setup).unwrap();
    let script = setup.join("phoenix_hypervisor_feature_install_bench.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\nset -e\npct exec \"$1\" -- sh -c 'bench-feature'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.join("hv.json")
}

/// The longest chain of durations through what each guest needs (its clone source and
/// dependencies), guests given in an order where needs come first.
pub fn critical_path<G>(
    guests: &[G],
    id: impl Fn(&G) -> u64,
    needs: impl Fn(&G) -> Vec<u64>,
    duration: impl Fn(&G) -> f64,
) -> f64 {
    let mut finish: BTreeMap<u64, f64> = BTreeMap::new();
    for g in guests {
        let ready = needs(g).iter().map(|n| finish[n]).fold(0.0, f64::max);
        finish.insert(id(g), ready + duration(g));
    }
    finish.values().copied().fold(0.0, f64::max)
}
