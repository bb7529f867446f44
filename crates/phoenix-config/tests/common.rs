//! Builders for small config sets in temp folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream-2025-10-01")
}

/// The deployment one month later, as installed (`etc/` holds the config files).
pub fn fixture_1104_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream-2025-11-04/etc")
}

/// A temp folder with the three files; `lxc` and `vm` are the guest files' JSON.
pub struct Set {
    pub dir: tempfile::TempDir,
}

impl Set {
    pub fn new(lxc: Value, vm: Value) -> Set {
        let dir = tempfile::tempdir().expect("tempdir");
        let hv = json!({
            "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" },
            "nfs": { "exports": [ { "path": "/tank/shared", "clients": ["10.0.0.0/24"], "options": ["rw"] } ] }
        });
        write(&dir.path().join("hv.json"), &hv.to_string());
        write(&dir.path().join("lxc.json"), &lxc.to_string());
        write(&dir.path().join("vm.json"), &vm.to_string());
        Set { dir }
    }

    pub fn hv(&self) -> PathBuf {
        self.dir.path().join("hv.json")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn load(&self) -> Result<phoenix_config::Config, phoenix_config::ConfigError> {
        phoenix_config::Config::load(&self.hv())
    }

    /// Loads, expects failure, returns every diagnostic as a line.
    pub fn errors(&self) -> Vec<String> {
        match self.load() {
            Ok(_) => panic!("expected the config to be rejected"),
            Err(e) => e
                .diagnostics()
                .iter()
                .filter(|d| d.severity == phoenix_config::Severity::Error)
                .map(|d| d.to_string())
                .collect(),
        }
    }
}

pub fn write(p: &Path, s: &str) {
    std::fs::write(p, s).expect("write");
}

/// A base container created from a template, with a template snapshot.
pub fn base_ct(name: &str) -> Value {
    json!({
        "name": name,
        "template": "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        "storage_pool": "local-zfs",
        "memory_mb": 2048,
        "cores": 2,
        "template_snapshot_name": "base"
    })
}

pub fn clone_ct(name: &str, from: u64) -> Value {
    json!({ "name": name, "clone_from_ctid": from.to_string(), "storage_pool": "local-zfs" })
}

pub fn vm(id: u64, name: &str) -> Value {
    json!({ "vmid": id, "name": name })
}

pub fn vm_file(vms: Vec<Value>) -> Value {
    json!({ "vm_defaults": { "template_image": "noble.img", "storage_pool": "local-zfs" }, "vms": vms })
}

pub fn lxc_file(cts: Value) -> Value {
    json!({ "lxc_configs": cts })
}
