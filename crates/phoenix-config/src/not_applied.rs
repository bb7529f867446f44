//! Keys Phoenix loads and checks but does not act on yet: the one list of them.
//!
//! The old tool acted on these settings; Phoenix reads them into the model (so the files load
//! unchanged and the values are checked), but nothing applies them to the host yet. Keys of
//! Phoenix's own that are accepted before they act (a cluster node's `endpoint`) are listed
//! the same way. Loading one
//! is a warning that names the key, where it is and who will apply it, so nothing the old tool
//! did is dropped in silence; `phoenix validate --strict` turns these warnings into errors.
//!
//! When a phase gives a key its behaviour, it removes the key's entry here; the compiler then
//! points at the one place that warned about it.

use std::fmt::Display;
use std::path::Path;

use crate::error::Diagnostic;

/// A key loaded but not applied yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotApplied {
    /// The file the key is in.
    pub file: FileKind,
    /// Its JSON path, `*` standing for a container key or an array index
    /// (`lxc_configs.*.id_maps`, `vms[*].firewall`).
    pub key: &'static str,
    /// What it means and who will apply it.
    pub what: &'static str,
}

/// One of the three config files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Hypervisor,
    Lxc,
    Vm,
}

macro_rules! table {
    ($($name:ident: $file:ident, $key:literal, $what:literal;)*) => {
        $(
            #[doc = concat!("`", $key, "`: ", $what)]
            pub const $name: NotApplied = NotApplied {
                file: FileKind::$file,
                key: $key,
                what: $what,
            };
        )*
        /// Every key of the table.
        pub const ALL: &[NotApplied] = &[$($name),*];
    };
}

table! {
    // Every key the old orchestrator's deployments hold is applied now; a key Phoenix loads
    // before it applies it is listed here.
    NODE_ENDPOINT: Hypervisor, "cluster.nodes[*].endpoint",
        "requests go to orchestration.api.endpoint, which proxies them to every node";
}

impl NotApplied {
    /// The key's last name (`id_maps`).
    pub fn name(&self) -> &'static str {
        let last = self.key.rsplit('.').next().unwrap_or(self.key);
        last.split('[').next().unwrap_or(last)
    }

    /// Whether the JSON path `location` (as diagnostics write it) is this key.
    pub fn matches(&self, location: &str) -> bool {
        glob(self.key, location)
    }

    /// The warning for this key found at `at` in `file`.
    pub fn warning(&self, file: &Path, at: &(impl Display + ?Sized)) -> Diagnostic {
        Diagnostic::warning(
            file,
            at.to_string(),
            format!(
                "`{}` is loaded but not applied yet ({}); `validate --strict` refuses it",
                self.name(),
                self.what
            ),
        )
    }
}

/// The table entry whose key `location` is, if any.
pub fn lookup(location: &str) -> Option<&'static NotApplied> {
    ALL.iter().find(|k| k.matches(location))
}

/// `*` matches one container key or array index (anything without `.`, `[` or `]`).
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
            end > 0 && glob(tail, &rest[end..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_their_paths() {
        const K: NotApplied = NotApplied {
            file: FileKind::Vm,
            key: "vms[*].portainer_role",
            what: "an example",
        };
        assert!(K.matches("vms[1].portainer_role"));
        assert!(!K.matches("vms[1].portainer_role[0]"));
        assert!(!K.matches("vms.x.portainer_role"));
        assert_eq!(K.name(), "portainer_role");
        assert_eq!(lookup("vms[0].portainer_role"), None, "applied");
        assert_eq!(lookup("lxc_configs.102.bootstrap_ca_url"), None, "applied");
        assert!(glob("lxc_configs.*.id_maps", "lxc_configs.101.id_maps"));
        assert!(!glob("lxc_configs.*.id_maps", "lxc_configs.101.x.id_maps"));
    }

    #[test]
    fn every_key_is_listed_once() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                ALL[i + 1..]
                    .iter()
                    .all(|b| b.key != a.key || b.file != a.file),
                "{} twice",
                a.key
            );
        }
    }
}
