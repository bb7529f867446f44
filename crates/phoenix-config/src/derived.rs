//! Small views of the checked model that the managers need, so that none of them splits a
//! config value or reads a config file again: the form of a container's OS template, the
//! defaults of NFS mount and export options, a container's entry as written (what its scripts
//! read), and Phoenix's run settings with their documented defaults.
//!
//! Kept apart from the model's own files: each item is a method on a model type, derived from
//! what validation already checked, never a second check.

use std::time::Duration;

use crate::model::hypervisor::Orchestration;
use crate::model::lxc::{IdKind, IdMap, Lxc, UNPRIVILEGED_OFFSET};
use crate::model::vm::{SharedVolume, VmUser};
use crate::model::NfsExport;
use crate::types::TemplateRef;
use crate::{Config, GuestId};

/// NFS mount options inside a VM when `shared_volumes[].options` is not set.
pub const DEFAULT_MOUNT_OPTIONS: &str = "defaults,_netdev";
/// `/etc/exports` options when an export lists none.
pub const DEFAULT_EXPORT_OPTIONS: &str = "rw,sync,no_subtree_check";

/// Defaults of `orchestration` (docs/architecture.md and the field docs of [`Orchestration`]).
pub mod orchestration {
    /// Guests processed at once.
    pub const JOBS: usize = 4;
    /// The host run lock.
    pub const LOCK_FILE: &str = "/run/lock/phoenix.lock";
    /// Seconds a second run waits for the host lock (0: fail at once).
    pub const LOCK_WAIT_SECS: u64 = 0;
    /// Retries of a Proxmox `can't lock file ... got timeout`.
    pub const PVE_LOCK_RETRIES: u32 = 3;
    /// First back-off after a Proxmox lock time-out, in milliseconds.
    pub const PVE_LOCK_BACKOFF_MS: u64 = 1000;
    /// Disk-allocating calls at once per storage.
    pub const STORAGE_CONCURRENCY: usize = 4;
    /// Attempts to start a guest.
    pub const START_RETRIES: u32 = 3;
    /// Seconds between start attempts.
    pub const START_RETRY_INTERVAL_SECS: u64 = 2;
    /// Seconds to wait for a guest whose config shows `lock:`.
    pub const GUEST_LOCK_WAIT_SECS: u64 = 600;
    /// Seconds to wait for a stop, a migration, or an HA-managed guest's start to show.
    pub const SETTLE_TIMEOUT_SECS: u64 = 120;
}

/// Where a container's OS template is, in the form the config gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSource<'a> {
    /// `storage:vztmpl/name` (or `storage:name`).
    Volume { storage: &'a str, name: &'a str },
    /// An absolute host path, inside some storage's `template/cache` folder.
    Path(&'a str),
    /// A file name, in the first storage with `vztmpl` content.
    File(&'a str),
}

/// IDs an unprivileged container maps by default (`lxc.idmap: u 0 100000 65536`).
pub const UNPRIVILEGED_RANGE: u32 = 65_536;

impl Lxc {
    /// The container's whole ID map, for its `lxc.idmap` lines (empty without `id_maps`:
    /// Proxmox then maps by itself). Once one `lxc.idmap` line is given LXC maps nothing else,
    /// so for an unprivileged container every ID of 0..65536 is covered: each kind's own
    /// ranges, and around them Proxmox's default (`id + 100000`); a kind without ranges of its
    /// own gets the default whole. A privileged container gets its ranges as written.
    pub fn full_id_map(&self) -> Vec<IdMap> {
        if self.id_maps.is_empty() {
            return Vec::new();
        }
        if self.unprivileged != Some(true) {
            return self.id_maps.clone();
        }
        let mut out = Vec::new();
        for kind in [IdKind::Uid, IdKind::Gid] {
            let mut own: Vec<IdMap> = self
                .id_maps
                .iter()
                .filter(|m| m.kind == kind)
                .copied()
                .collect();
            own.sort_by_key(|m| m.container_id);
            let mut next = 0u32;
            let default = |from: u32, to: u32| IdMap {
                kind,
                container_id: from,
                host_id: from.saturating_add(UNPRIVILEGED_OFFSET),
                size: to - from,
            };
            for m in own {
                if m.container_id > next && next < UNPRIVILEGED_RANGE {
                    out.push(default(next, m.container_id.min(UNPRIVILEGED_RANGE)));
                }
                out.push(m);
                next = next.max(m.container_id.saturating_add(m.size));
            }
            if next < UNPRIVILEGED_RANGE {
                out.push(default(next, UNPRIVILEGED_RANGE));
            }
        }
        out
    }
}

impl TemplateRef {
    /// The template's form; the parts were checked when the value was built.
    pub fn source(&self) -> TemplateSource<'_> {
        let v = self.as_str();
        if v.starts_with('/') {
            return TemplateSource::Path(v);
        }
        match v.split_once(':') {
            Some((storage, rest)) => TemplateSource::Volume {
                storage,
                name: rest.strip_prefix("vztmpl/").unwrap_or(rest),
            },
            None => TemplateSource::File(v),
        }
    }
}

impl SharedVolume {
    /// The mount options: the configured ones, else [`DEFAULT_MOUNT_OPTIONS`].
    pub fn mount_options(&self) -> &str {
        self.options.as_deref().unwrap_or(DEFAULT_MOUNT_OPTIONS)
    }
}

impl VmUser {
    /// The password hash, unless it is empty or `NOT_SET` (no password: the account is
    /// locked for password log-in).
    pub fn password(&self) -> Option<&str> {
        self.password_hash
            .as_deref()
            .filter(|h| !h.is_empty() && *h != "NOT_SET")
    }
}

impl NfsExport {
    /// The options of a client entry: the export's, else [`DEFAULT_EXPORT_OPTIONS`].
    pub fn export_options(&self) -> String {
        if self.options.is_empty() {
            DEFAULT_EXPORT_OPTIONS.to_string()
        } else {
            self.options.join(",")
        }
    }
}

/// Each setting with its default applied, so no caller repeats a default.
impl Orchestration {
    /// Guests processed at once (validation keeps it within 1-256).
    pub fn jobs(&self) -> usize {
        self.jobs.unwrap_or(orchestration::JOBS).max(1)
    }

    /// The host run-lock file as configured (`PHOENIX_LOCK_FILE` and `--sim` are the host's).
    pub fn lock_file(&self) -> &str {
        self.lock_file
            .as_deref()
            .unwrap_or(orchestration::LOCK_FILE)
    }

    /// How long a second run waits for the host lock.
    pub fn lock_wait(&self) -> Duration {
        Duration::from_secs(self.lock_wait_secs.unwrap_or(orchestration::LOCK_WAIT_SECS))
    }

    pub fn pve_lock_retries(&self) -> u32 {
        self.pve_lock_retries
            .unwrap_or(orchestration::PVE_LOCK_RETRIES)
    }

    /// The first back-off after a Proxmox lock time-out.
    pub fn pve_lock_backoff(&self) -> Duration {
        Duration::from_millis(
            self.pve_lock_backoff_ms
                .unwrap_or(orchestration::PVE_LOCK_BACKOFF_MS),
        )
    }

    /// Disk-allocating calls at once per storage (validation keeps it within 1-256).
    pub fn storage_concurrency(&self) -> usize {
        self.storage_concurrency
            .unwrap_or(orchestration::STORAGE_CONCURRENCY)
    }

    /// Attempts to start a guest, at least 1.
    pub fn start_attempts(&self) -> u32 {
        self.start_retries
            .unwrap_or(orchestration::START_RETRIES)
            .max(1)
    }

    /// Time between start attempts, at least a second.
    pub fn start_retry_interval(&self) -> Duration {
        Duration::from_secs(
            self.start_retry_interval_secs
                .unwrap_or(orchestration::START_RETRY_INTERVAL_SECS)
                .max(1),
        )
    }

    /// How long a stop, a migration, or the start of an HA-managed guest may take to show in
    /// the guest's status after its task ended, at least a second.
    pub fn settle_timeout(&self) -> Duration {
        Duration::from_secs(
            self.settle_timeout_secs
                .unwrap_or(orchestration::SETTLE_TIMEOUT_SECS)
                .max(1),
        )
    }

    /// How long to wait for a guest whose config shows `lock:`.
    pub fn guest_lock_wait(&self) -> Duration {
        Duration::from_secs(
            self.guest_lock_wait_secs
                .unwrap_or(orchestration::GUEST_LOCK_WAIT_SECS),
        )
    }
}

impl Config {
    /// A container's entry exactly as the LXC file has it (key order kept): what its
    /// application script reads as `guest_config.json` and what a record's fingerprint covers.
    /// The file is read again: the checked model keeps no raw entries (which is what makes
    /// loading ten thousand guests cheap), and only the in-guest step needs one.
    pub fn lxc_guest_json(&self, id: GuestId) -> Result<serde_json::Value, String> {
        let p = &self.paths.lxc;
        let text = crate::load::read_text(p).map_err(|d| d.to_string())?;
        let mut v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        v.get_mut("lxc_configs")
            .and_then(|c| c.get_mut(id.to_string()))
            .map(serde_json::Value::take)
            .ok_or_else(|| format!("no lxc_configs.\"{id}\" in {}", p.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_forms() {
        let t = |s: &str| s.parse::<TemplateRef>().expect("template");
        let name = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
        assert_eq!(
            t(&format!("iso:vztmpl/{name}")).source(),
            TemplateSource::Volume {
                storage: "iso",
                name
            }
        );
        let path = format!("/fastData/shared-iso/template/cache/{name}");
        assert_eq!(t(&path).source(), TemplateSource::Path(&path));
        assert_eq!(t(name).source(), TemplateSource::File(name));
    }

    #[test]
    fn option_defaults() {
        let e = NfsExport::default();
        assert_eq!(e.export_options(), DEFAULT_EXPORT_OPTIONS);
        let mut u = VmUser::default();
        assert_eq!(u.password(), None);
        u.password_hash = Some("NOT_SET".into());
        assert_eq!(u.password(), None);
        u.password_hash = Some("$6$x".into());
        assert_eq!(u.password(), Some("$6$x"));
        let sv = SharedVolume::default();
        assert_eq!(sv.mount_options(), DEFAULT_MOUNT_OPTIONS);
        let o = Orchestration {
            start_retries: Some(0),
            ..Default::default()
        };
        assert_eq!(o.start_attempts(), 1);
        assert_eq!(o.start_retry_interval(), Duration::from_secs(2));
        assert_eq!(o.jobs(), 4);
        assert_eq!(o.lock_file(), "/run/lock/phoenix.lock");
        assert_eq!(o.lock_wait(), Duration::ZERO);
        assert_eq!(o.guest_lock_wait(), Duration::from_secs(600));
    }

    #[test]
    fn id_maps_are_filled_around_with_the_unprivileged_default() {
        let mut l = Lxc {
            unprivileged: Some(true),
            id_maps: vec![IdMap {
                kind: IdKind::Gid,
                container_id: 33,
                host_id: 33,
                size: 1,
            }],
            ..Default::default()
        };
        let lines: Vec<String> = l.full_id_map().iter().map(|m| m.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "u 0 100000 65536",
                "g 0 100000 33",
                "g 33 33 1",
                "g 34 100034 65502"
            ]
        );
        l.unprivileged = None;
        assert_eq!(l.full_id_map(), l.id_maps);
        l.id_maps.clear();
        assert!(l.full_id_map().is_empty());
    }
}
