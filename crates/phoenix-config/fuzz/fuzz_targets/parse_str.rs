//! Bytes -> one config file's text, loaded in turn as the hypervisor, the LXC and the VM file
//! (the other files minimal, all in memory through `Config::load_with`), so one fast target
//! covers parsing, validation and the graph. Also `load::check_duplicate_keys` and
//! `load::parse_str` as free-form JSON.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use phoenix_config::{load, Config, Diagnostic};
use phoenix_config_fuzz::{check_config, check_config_error, check_error_diagnostic};

const HV: &str = r#"{"core_paths": {"lxc_config_file": "lxc.json", "vm_config_file": "vm.json"}}"#;
const LXC: &str = r#"{"lxc_configs": {}}"#;
const VM: &str = r#"{"vms": []}"#;

fn load(hv: &str, lxc: &str, vm: &str) {
    let read = |p: &Path| -> Result<String, Diagnostic> {
        Ok(match p.file_name().and_then(|n| n.to_str()) {
            Some("hv.json") => hv,
            Some("lxc.json") => lxc,
            Some("vm.json") => vm,
            _ => return Err(Diagnostic::error(p, "", "cannot read config file: file not found")),
        }
        .to_string())
    };
    match Config::load_with(Path::new("hv.json"), read) {
        Ok(cfg) => check_config(&cfg),
        Err(e) => check_config_error(&e),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    if let Err(d) = load::check_duplicate_keys(path, text) {
        check_error_diagnostic(&d);
    }
    match load::parse_str::<serde_json::Value>(path, text) {
        Ok(p) => assert!(p.warnings.is_empty(), "free-form JSON has no unknown keys"),
        Err(d) => check_error_diagnostic(&d),
    }
    load(text, LXC, VM);
    load(HV, text, VM);
    load(HV, LXC, text);
});
