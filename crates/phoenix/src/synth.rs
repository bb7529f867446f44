//! Synthetic deployments for benchmarks and scale tests: `n` guests with deep clone chains,
//! wide fan-out and cross dependencies, deterministic for a given `n`.

use serde_json::{json, Map, Value};

/// The three files' JSON for `n` guests (about one in ten a VM).
pub struct Synthetic {
    pub hypervisor: Value,
    pub lxc: Value,
    pub vm: Value,
}

/// A small deterministic generator (no dependency needed for reproducible shapes).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

pub fn generate(n: usize) -> Synthetic {
    let mut rng = Lcg(n as u64 ^ 0x9e37_79b9);
    let mut cts = Map::new();
    let mut vms = Vec::new();
    let mut lxc_ids: Vec<u64> = Vec::new();
    let mut vm_ids: Vec<u64> = Vec::new();
    let mut all: Vec<u64> = Vec::new();
    for i in 0..n {
        let id = 1000 + i as u64;
        let deps: Vec<u64> = if !all.is_empty() && rng.next(3) == 0 {
            (0..1 + rng.next(2))
                .map(|_| all[rng.next(all.len())])
                .collect()
        } else {
            Vec::new()
        };
        let boot = 1 + rng.next(5) as u64;
        if i % 10 == 9 {
            let mut v = json!({ "vmid": id, "name": format!("vm-{id}"), "boot_order": boot, "start_at_boot": true });
            if let Some(&src) = vm_ids.last().filter(|_| rng.next(2) == 0) {
                v["clone_from_vmid"] = json!(src);
            }
            if !deps.is_empty() {
                v["dependencies"] = json!(deps);
            }
            vms.push(v);
            vm_ids.push(id);
        } else {
            let mut c = json!({
                "name": format!("ct-{id}"),
                "memory_mb": 1024,
                "cores": 1,
                "storage_pool": "local-zfs",
                "storage_size_gb": 8,
                "template_snapshot_name": "ready",
                "features": ["base_setup"],
                "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp" },
                "boot_order": boot,
                "start_at_boot": true
            });
            // Deep chains (clone the previous container) and fan-out (clone an early one).
            match (lxc_ids.is_empty(), rng.next(4)) {
                (true, _) | (_, 0) => {
                    c["template"] =
                        json!("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
                }
                (false, 1) => c["clone_from_ctid"] = json!(lxc_ids[lxc_ids.len() - 1].to_string()),
                (false, _) => {
                    c["clone_from_ctid"] =
                        json!(lxc_ids[rng.next(lxc_ids.len().min(8))].to_string())
                }
            }
            if !deps.is_empty() {
                c["dependencies"] = json!(deps);
            }
            cts.insert(id.to_string(), c);
            lxc_ids.push(id);
        }
        all.push(id);
    }
    Synthetic {
        hypervisor: json!({ "core_paths": { "lxc_config_file": "phoenix_lxc_configs.json", "vm_config_file": "phoenix_vm_configs.json" } }),
        lxc: json!({ "lxc_configs": cts }),
        vm: json!({ "vm_defaults": { "template_image": "noble-server-cloudimg-amd64.img", "storage_pool": "local-zfs" }, "vms": vms }),
    }
}

impl Synthetic {
    /// Writes the three files into `dir`; returns the hypervisor config's path.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::write(
            dir.join("phoenix_lxc_configs.json"),
            serde_json::to_vec(&self.lxc)?,
        )?;
        std::fs::write(
            dir.join("phoenix_vm_configs.json"),
            serde_json::to_vec(&self.vm)?,
        )?;
        let hv = dir.join("phoenix_hypervisor_config.json");
        std::fs::write(&hv, serde_json::to_vec(&self.hypervisor)?)?;
        Ok(hv)
    }
}
