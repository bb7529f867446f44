//! Where the config files are. The hypervisor config comes from `--config`, else
//! `PHOENIX_CONFIG`, else the installed default; the LXC and VM files come from its `core_paths`.

use std::path::{Path, PathBuf};

/// The installation prefix of the Bash orchestrator, kept so existing hosts work unchanged.
pub const DEFAULT_BASE_DIR: &str = "/usr/local/phoenix_hypervisor";
/// Where the hypervisor config lives on an installed host.
pub const DEFAULT_CONFIG: &str = "/usr/local/phoenix_hypervisor/etc/phoenix_hypervisor_config.json";
/// Default of `core_paths.hypervisor_marker_dir`: set-up marker and per-guest records.
pub const DEFAULT_MARKER_DIR: &str = "/usr/local/phoenix_hypervisor/lib";
/// Environment variable naming the hypervisor config.
pub const CONFIG_ENV: &str = "PHOENIX_CONFIG";

/// The hypervisor config path: the flag, else `PHOENIX_CONFIG`, else [`DEFAULT_CONFIG`].
pub fn hypervisor_config_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os(CONFIG_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_CONFIG),
    }
}

/// Resolves a `core_paths` entry written in the hypervisor config at `config_dir`.
///
/// A relative path is taken relative to `config_dir`, so a checkout's `etc/` works anywhere. An
/// absolute path that does not exist, while a file of the same name sits beside the hypervisor
/// config, resolves to that file: a copy of an installed host's `etc/` (whose files name
/// `/usr/local/phoenix_hypervisor/etc/...`) then works unmodified from wherever it was copied.
pub fn resolve_core_path(config_dir: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_relative() {
        return config_dir.join(p);
    }
    if !p.exists() {
        if let Some(name) = p.file_name() {
            let sibling = config_dir.join(name);
            if sibling.exists() {
                log::debug!(
                    "{} not found; using {} beside the hypervisor config",
                    p.display(),
                    sibling.display()
                );
                return sibling;
            }
        }
    }
    p.to_path_buf()
}

/// Resolves a folder entry of `core_paths` (no sibling fallback: folders are not copied).
pub fn resolve_dir(config_dir: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_relative() {
        config_dir.join(p)
    } else {
        p.to_path_buf()
    }
}
