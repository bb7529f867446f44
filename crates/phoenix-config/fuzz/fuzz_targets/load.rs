//! Three files from one input (hypervisor, LXC, VM texts separated by NUL bytes, which JSON text
//! cannot contain) written to a temporary folder, then `Config::load` on the hypervisor file.
//! Invariants: no panic; an error carries at least one `Severity::Error`; a loaded config orders
//! every guest exactly once, after everything it needs (see `check_config`).
//!
//! The LXC and VM files are written where the hypervisor file's `core_paths` say, as long as that
//! is a plain name inside the folder (or an absolute path that does not exist, which resolves to
//! the file of that name beside the hypervisor config). Inputs that point anywhere else are
//! skipped so the fuzzer never reads the machine's own files.
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phoenix_config::Config;
use phoenix_config_fuzz::{check_config, check_config_error};

const HV: &str = "phoenix_hypervisor_config.json";

fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir")).path()
}

/// Where `value` resolves inside `dir`, or None when it would leave the folder.
fn target(dir: &Path, value: &str) -> Option<PathBuf> {
    let p = Path::new(value);
    let name = if p.is_absolute() {
        if p.exists() || p.symlink_metadata().is_ok() {
            return None;
        }
        p.file_name()?
    } else {
        let mut c = p.components();
        match (c.next(), c.next()) {
            (Some(Component::Normal(n)), None) => n,
            _ => return None,
        }
    };
    Some(dir.join(name))
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let hv_text = parts.next().unwrap_or_default();
    let lxc_text = parts.next().unwrap_or_default();
    let vm_text = parts.next().unwrap_or_default();

    let dir = dir();
    // Clean slate: nothing from an earlier input may be found by this one.
    for e in std::fs::read_dir(dir).expect("read temp dir").flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    let hv_path = dir.join(HV);
    std::fs::write(&hv_path, hv_text).expect("write hv");

    // Where will `Config::load` look for the other two files?
    if let Ok(text) = std::str::from_utf8(hv_text) {
        let hv: Option<serde_json::Value> = serde_json::from_str(text).ok();
        let core = hv.as_ref().map(|v| &v["core_paths"]);
        if let Some(lxc_file) = core.and_then(|c| c["lxc_config_file"].as_str()) {
            let lxc = target(dir, lxc_file);
            let vm = match core.and_then(|c| c["vm_config_file"].as_str()) {
                Some(v) => match target(dir, v) {
                    Some(t) => Some(Some(t)),
                    None => return,
                },
                None => None,
            };
            let Some(lxc) = lxc else { return };
            if lxc != hv_path {
                std::fs::write(&lxc, lxc_text).expect("write lxc");
            }
            if let Some(Some(vm)) = vm {
                if vm != hv_path && vm != lxc {
                    std::fs::write(&vm, vm_text).expect("write vm");
                }
            }
        }
    }

    match Config::load(&hv_path) {
        Ok(cfg) => check_config(&cfg),
        Err(e) => check_config_error(&e),
    }
});
