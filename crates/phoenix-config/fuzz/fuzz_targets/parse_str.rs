//! Bytes -> one config file's text -> `load::parse_str` as each of the three file types. When the
//! text parses as an LXC or VM file, the cross-file validation and ordering run on it too (the
//! other files empty), so one fast target covers parsing, validation and the graph.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use phoenix_config::{load, Config, ConfigPaths, HypervisorFile, LxcFile, VmFile};
use phoenix_config_fuzz::{check_config, check_config_error, check_error_diagnostic};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    if let Err(d) = load::check_duplicate_keys(path, text) {
        check_error_diagnostic(&d);
    }
    let hv = load::parse_str::<HypervisorFile>(path, text);
    let lxc = load::parse_str::<LxcFile>(path, text);
    let vm = load::parse_str::<VmFile>(path, text);
    let mut warnings = Vec::new();
    for r in [
        hv.as_ref().map(|p| &p.warnings),
        lxc.as_ref().map(|p| &p.warnings),
        vm.as_ref().map(|p| &p.warnings),
    ] {
        match r {
            Ok(ws) => {
                for w in ws {
                    assert_eq!(w.severity, phoenix_config::Severity::Warning);
                    let _ = w.to_string();
                }
                warnings.extend(ws.iter().cloned());
            }
            Err(d) => check_error_diagnostic(d),
        }
    }
    if lxc.is_err() && vm.is_err() {
        return;
    }
    let paths = ConfigPaths {
        hypervisor: PathBuf::from("hv.json"),
        lxc: PathBuf::from("lxc.json"),
        vm: Some(PathBuf::from("vm.json")),
        dir: PathBuf::from("."),
    };
    let result = Config::from_parts(
        paths,
        hv.map(|p| p.value).unwrap_or_default(),
        lxc.map(|p| p.value).unwrap_or_default(),
        vm.map(|p| p.value).unwrap_or_default(),
        warnings,
    );
    match result {
        Ok(cfg) => check_config(&cfg),
        Err(e) => check_config_error(&e),
    }
});
