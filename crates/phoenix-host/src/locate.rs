//! Where the hypervisor config is when nobody said, and what to tell a user when it is not there.
//!
//! Order: `--config`, else `PHOENIX_CONFIG`, else the `etc/` of the installation the running
//! binary belongs to (`<prefix>/bin/phoenix` or `<prefix>/bin/managers/<manager>`, as
//! `scripts/install.sh --prefix <prefix>` lays them out; `/usr/local/bin/phoenix` is a symlink
//! resolved to that), else the Bash orchestrator's fixed path. The installation comes first so
//! a Phoenix installed with `--prefix` reads its own `etc/`, not another installation's.

use std::path::{Path, PathBuf};

use phoenix_config::paths::{CONFIG_ENV, DEFAULT_BASE_DIR, DEFAULT_CONFIG};

/// File name of the hypervisor config inside `etc/`.
pub const CONFIG_FILE: &str = "phoenix_hypervisor_config.json";

/// Where the config path came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    /// The defaults, in the order they were tried.
    Search(Vec<PathBuf>),
}

/// The chosen hypervisor config path and how it was chosen.
#[derive(Debug, Clone)]
pub struct ConfigLocation {
    pub path: PathBuf,
    pub source: Source,
}

/// The installation prefix of `exe` when it sits where `install.sh` puts binaries.
pub fn prefix_of(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    let bin = if dir.file_name()? == "managers" {
        dir.parent()?
    } else {
        dir
    };
    (bin.file_name()? == "bin").then(|| bin.parent().map(Path::to_path_buf))?
}

/// The installation prefix of the running binary, if it is installed.
pub fn install_prefix() -> Option<PathBuf> {
    prefix_of(&std::env::current_exe().ok()?)
}

/// The default config paths, in order: this installation's `etc/`, then the fixed default.
pub fn default_candidates(prefix: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = prefix {
        out.push(p.join("etc").join(CONFIG_FILE));
    }
    let fixed = PathBuf::from(DEFAULT_CONFIG);
    if !out.contains(&fixed) {
        out.push(fixed);
    }
    out
}

/// The installation base for scripts that use `PHOENIX_BASE_DIR`: the running binary's
/// installation, else the Bash orchestrator's.
pub fn default_base_dir() -> PathBuf {
    install_prefix()
        .filter(|p| p.join("etc").is_dir())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BASE_DIR))
}

/// Resolves the hypervisor config path (see the module documentation).
pub fn hypervisor_config(flag: Option<&Path>) -> ConfigLocation {
    if let Some(p) = flag {
        return ConfigLocation {
            path: p.to_path_buf(),
            source: Source::Flag,
        };
    }
    if let Some(v) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return ConfigLocation {
            path: PathBuf::from(v),
            source: Source::Env,
        };
    }
    search(default_candidates(install_prefix().as_deref()))
}

/// The first existing candidate, else the first one (whose absence is reported later).
pub fn search(candidates: Vec<PathBuf>) -> ConfigLocation {
    let path = candidates
        .iter()
        .find(|p| p.exists())
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    ConfigLocation {
        path,
        source: Source::Search(candidates),
    }
}

impl ConfigLocation {
    /// When the config file does not exist: the message saying where Phoenix looked, in order,
    /// and how to point it elsewhere.
    pub fn missing_message(&self) -> Option<String> {
        if self.path.exists() {
            return None;
        }
        let how = format!(
            "pass --config PATH or set {CONFIG_ENV}=PATH (install.sh puts the config files into <prefix>/etc/)"
        );
        Some(match &self.source {
            Source::Flag => format!(
                "Error: config file {} (from --config) not found; {how}",
                self.path.display()
            ),
            Source::Env => format!(
                "Error: config file {} (from {CONFIG_ENV}) not found; {how}",
                self.path.display()
            ),
            Source::Search(tried) => {
                let list: Vec<String> = tried
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("  {}. {}", i + 1, p.display()))
                    .collect();
                format!(
                    "Error: no hypervisor config found; looked for (in order):\n{}\n{how}",
                    list.join("\n")
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_binaries_know_their_prefix() {
        assert_eq!(
            prefix_of(Path::new("/opt/px/bin/phoenix")),
            Some(PathBuf::from("/opt/px"))
        );
        assert_eq!(
            prefix_of(Path::new("/opt/px/bin/managers/vm-manager")),
            Some(PathBuf::from("/opt/px"))
        );
        assert_eq!(prefix_of(Path::new("/repo/target/debug/phoenix")), None);
        assert_eq!(prefix_of(Path::new("/repo/managers/vm-manager")), None);
    }

    #[test]
    fn candidates_put_the_installation_first_without_duplicates() {
        let c = default_candidates(Some(Path::new("/opt/px")));
        assert_eq!(
            c,
            vec![
                PathBuf::from("/opt/px/etc/phoenix_hypervisor_config.json"),
                PathBuf::from(DEFAULT_CONFIG)
            ]
        );
        let c = default_candidates(Some(Path::new(DEFAULT_BASE_DIR)));
        assert_eq!(c, vec![PathBuf::from(DEFAULT_CONFIG)]);
    }

    #[test]
    fn the_missing_message_lists_every_path_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a/etc/phoenix_hypervisor_config.json");
        let b = dir.path().join("b.json");
        let loc = search(vec![a.clone(), b.clone()]);
        let m = loc.missing_message().unwrap();
        assert!(
            m.contains(&format!("  1. {}\n  2. {}\n", a.display(), b.display())),
            "{m}"
        );
        assert!(
            m.contains("--config PATH") && m.contains("PHOENIX_CONFIG=PATH"),
            "{m}"
        );
        std::fs::write(&b, "{}").unwrap();
        let loc = search(vec![a, b.clone()]);
        assert_eq!(loc.path, b, "the first existing one");
        assert!(loc.missing_message().is_none());
    }
}
