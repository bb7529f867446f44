//! The simulated host's state: `$PVE_SIM_ROOT/host-state/state.json`, read and written under an
//! exclusive `flock` (`host-state/.lock`) for the whole call, so concurrent stand-ins see each
//! other's changes in order.
//!
//! Defaults describe a freshly installed Proxmox VE host: the base packages of a Proxmox install,
//! its services, user `root`, time zone `Etc/UTC`, one NVIDIA GPU without a driver, no pools.
//! Disks: every `/dev/...` path is a blank disk unless `disks` says otherwise (tests mark one as
//! partitioned with `sgdisk --new=1:0:0 <disk>`, or by writing `disks` in this file).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::{atomic_write, flock, io_fail, FileLock};
use crate::{fail, R};

/// Packages of a fresh Proxmox VE install that the set-up steps ask about.
const BASE_PACKAGES: &[&str] = &[
    "proxmox-ve",
    "pve-manager",
    "pve-firewall",
    "zfsutils-linux",
    "apparmor",
    "openssh-server",
    "ca-certificates",
    "curl",
    "wget",
    "gnupg",
    "systemd",
];

/// Services running on a fresh Proxmox VE host.
const BASE_SERVICES: &[&str] = &[
    "pvedaemon",
    "pveproxy",
    "pvestatd",
    "pve-cluster",
    "pve-firewall",
    "ssh",
    "apparmor",
    "zfs-import-cache",
    "systemd-timesyncd",
];

/// Units a package brings, enabled and started on install as Debian does.
pub const PACKAGE_UNITS: &[(&str, &[&str])] = &[
    ("nfs-kernel-server", &["nfs-server"]),
    ("samba", &["smbd", "nmbd"]),
    ("dnsmasq", &["dnsmasq"]),
];

/// A simulated block device (absent from `disks`: blank, present).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Disk {
    /// The device does not exist.
    #[serde(default)]
    pub missing: bool,
    /// Partition table type (`gpt`, `dos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pttype: Option<String>,
    #[serde(default)]
    pub partitions: u32,
    /// Signature on the device (`ext4`, `zfs_member`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fstype: Option<String>,
    /// Label (the pool name of a `zfs_member`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Disk {
    pub fn is_blank(&self) -> bool {
        self.pttype.is_none() && self.partitions == 0 && self.fstype.is_none()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    /// `stripe`, `mirror`, `raidz1`, ...
    pub layout: String,
    pub disks: Vec<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub uid: u32,
    pub home: String,
    pub shell: String,
    /// Supplementary groups.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// crypt(3) hash, `!` when locked / never set.
    #[serde(default)]
    pub password_hash: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Service {
    pub enabled: bool,
    pub active: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Nvidia {
    /// Simulated GPUs (names).
    pub gpus: Vec<String>,
    /// Installed driver version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default)]
    pub persistence: bool,
}

/// Everything the host stand-ins remember.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostState {
    #[serde(default)]
    pub disks: BTreeMap<String, Disk>,
    #[serde(default)]
    pub pools: BTreeMap<String, Pool>,
    /// Dataset name to its explicitly set properties.
    #[serde(default)]
    pub datasets: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub packages: BTreeSet<String>,
    #[serde(default)]
    pub apt_updates: u32,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default)]
    pub samba_users: BTreeSet<String>,
    pub timezone: String,
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    #[serde(default)]
    pub modules: BTreeSet<String>,
    #[serde(default)]
    pub apparmor_loaded: BTreeSet<String>,
    #[serde(default)]
    pub nvidia: Nvidia,
    #[serde(default)]
    pub initramfs_updates: u32,
    /// Exports made active by the last `exportfs -r`/`-a`.
    #[serde(default)]
    pub exports: Vec<String>,
}

impl Default for HostState {
    fn default() -> Self {
        let root = User {
            uid: 0,
            home: "/root".into(),
            shell: "/bin/bash".into(),
            groups: BTreeSet::new(),
            password_hash: "!".into(),
        };
        HostState {
            disks: BTreeMap::new(),
            pools: BTreeMap::new(),
            datasets: BTreeMap::new(),
            packages: BASE_PACKAGES.iter().map(|p| p.to_string()).collect(),
            apt_updates: 0,
            services: BASE_SERVICES
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        Service {
                            enabled: true,
                            active: true,
                        },
                    )
                })
                .collect(),
            users: BTreeMap::from([("root".to_string(), root)]),
            samba_users: BTreeSet::new(),
            timezone: "Etc/UTC".into(),
            sysctl: BTreeMap::new(),
            modules: ["zfs"].iter().map(|m| m.to_string()).collect(),
            apparmor_loaded: BTreeSet::new(),
            nvidia: Nvidia {
                // A dual-GPU AI host, as the bundled and upstream configs describe.
                gpus: vec![
                    "NVIDIA GeForce RTX 3090 (simulated)".into(),
                    "NVIDIA GeForce RTX 3090 (simulated)".into(),
                ],
                driver: None,
                persistence: false,
            },
            initramfs_updates: 0,
            exports: Vec::new(),
        }
    }
}

impl HostState {
    /// The disk at `path` (blank when unknown).
    pub fn disk(&self, path: &str) -> Disk {
        self.disks.get(path).cloned().unwrap_or_default()
    }

    /// A `/dev/...` path that names an existing simulated disk.
    pub fn disk_exists(&self, path: &str) -> bool {
        path.starts_with("/dev/") && !path.ends_with('/') && !self.disk(path).missing
    }

    pub fn set_disk(&mut self, path: &str, d: Disk) {
        if d == Disk::default() {
            self.disks.remove(path);
        } else {
            self.disks.insert(path.to_string(), d);
        }
    }

    /// Marks `pkg` installed, enabling and starting the units it brings.
    pub fn install(&mut self, pkg: &str) {
        self.packages.insert(pkg.to_string());
        for (p, units) in PACKAGE_UNITS {
            if *p == pkg {
                for u in *units {
                    self.services.insert(
                        u.to_string(),
                        Service {
                            enabled: true,
                            active: true,
                        },
                    );
                }
            }
        }
    }

    /// A unit exists when a base or installed package brings it.
    pub fn unit_known(&self, unit: &str) -> bool {
        self.services.contains_key(unit)
            || PACKAGE_UNITS
                .iter()
                .any(|(p, units)| self.packages.contains(*p) && units.contains(&unit))
    }
}

/// `host-state` beside a host folder (`<root>/host-state`, `<root>/nodes/<n>/host-state`).
fn state_dir(host: &Path) -> PathBuf {
    host.with_file_name("host-state")
}

/// The state of one call: loaded under the lock, saved when changed.
pub struct Host {
    pub root: PathBuf,
    /// This call's node's host folder (`crate::state::node_host_dir`); its state beside it.
    host: PathBuf,
    pub state: HostState,
    original: HostState,
    _lock: FileLock,
}

impl Host {
    /// The host of this process's node (`PVE_SIM_NODE`): each node of a simulated cluster
    /// has its own folder and state.
    pub fn open(root: &Path) -> R<Host> {
        let host = crate::state::process_host_dir(root);
        let dir = state_dir(&host);
        fs::create_dir_all(&dir).map_err(|e| io_fail(&dir, e))?;
        let lock = flock(
            &dir.join(".lock"),
            false,
            std::time::Duration::from_secs(30),
            "pve-sim: host state is locked by another call for 30 s",
        )?;
        let file = dir.join("state.json");
        let state = match fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| fail(format!("{}: invalid host state: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HostState::default(),
            Err(e) => return Err(io_fail(&file, e)),
        };
        Ok(Host {
            root: root.to_path_buf(),
            host,
            original: state.clone(),
            state,
            _lock: lock,
        })
    }

    /// Writes the state back when the call changed it.
    pub fn save(&self) -> R<()> {
        let file = state_dir(&self.host).join("state.json");
        if self.state == self.original && file.exists() {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(&self.state).map_err(|e| fail(e.to_string()))?;
        atomic_write(&file, format!("{text}\n").as_bytes())
    }

    /// `PHOENIX_HOST_ROOT` of the simulated node.
    pub fn host_root(&self) -> PathBuf {
        self.host.clone()
    }

    /// A host path inside the simulated host root (`/etc/exports` -> `<root>/host/etc/exports`).
    /// Paths already inside the state folder are returned as they are.
    pub fn host_path(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.starts_with(&self.root) {
            return path.to_path_buf();
        }
        self.host_root().join(p.trim_start_matches('/'))
    }
}
