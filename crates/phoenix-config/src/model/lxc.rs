//! A container, checked, with `proxmox_defaults.lxc` merged in.
//!
//! Optional values stay optional where "not set" has a meaning of its own: Phoenix manages only
//! the `pct.conf` keys the config specifies, and leaves the others as Proxmox has them.

use std::fmt;
use std::net::IpAddr;

use super::common::{HealthCheck, TestSuites, TraefikService};
use super::firewall::Firewall;
use crate::id::GuestId;
use crate::types::{
    AbsPath, FeatureName, FileName, Hostname, InterfaceName, IpConfig, MacAddress, SnapshotName,
    StorageId, TemplateRef,
};

/// Interface name inside a container when `network_config.name` is not set.
pub const DEFAULT_INTERFACE: &str = "eth0";

/// One container of `phoenix_lxc_configs.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lxc {
    pub id: GuestId,
    /// Host name; a DNS name.
    pub name: Hostname,
    /// Cluster node as written (`Guest::node` is the resolved one).
    pub node: Option<String>,
    /// MiB (`pct --memory`); the container's value, else `proxmox_defaults.lxc.memory_mb`.
    pub memory_mb: Option<u64>,
    /// MiB (`pct --swap`).
    pub swap_mb: Option<u64>,
    /// `pct --cores`; the container's value, else `proxmox_defaults.lxc.cores`.
    pub cores: Option<u64>,
    /// OS template; set (or `clone_from_ctid` is).
    pub template: Option<TemplateRef>,
    /// Storage of the root file system; set when created from a template.
    pub storage_pool: Option<StorageId>,
    /// Root file system size in GiB; grown, never shrunk.
    pub storage_size_gb: Option<u64>,
    /// `net0`.
    pub network_config: Option<LxcNetwork>,
    /// Fixed MAC address of `net0`.
    pub mac_address: Option<MacAddress>,
    /// Name servers (`pct --nameserver`), in order.
    pub nameservers: Vec<IpAddr>,
    /// Host GPU indices passed through (`gpu_assignment`, parsed; empty for `none`).
    pub gpus: Vec<u32>,
    pub portainer_role: Option<PortainerRole>,
    pub unprivileged: Option<bool>,
    /// `onboot`.
    pub start_at_boot: Option<bool>,
    /// `startup: order=`; also Phoenix's order for `start`.
    pub boot_order: Option<u64>,
    /// Seconds to wait after starting (`startup: up=`).
    pub boot_delay: Option<u64>,
    pub clone_from_ctid: Option<GuestId>,
    /// Created but never started by `start`/`LetsGo`: said so, or cloned from by others while
    /// not starting at boot (the upstream `Template-*` containers).
    pub is_template: bool,
    /// Full (`true`, default) or linked (`false`) clone of a Proxmox template.
    pub full_clone: Option<bool>,
    /// Guests that must exist before this one is created.
    pub dependencies: Vec<GuestId>,
    /// Feature scripts to run, in order.
    pub features: Vec<FeatureName>,
    /// Container features (`pct --features` entries, `nesting=1`); the container's list, else
    /// `proxmox_defaults.lxc.features`. Empty: leave `features:` alone.
    pub pct_options: Vec<String>,
    /// Raw `lxc.*` lines for the conf file.
    pub lxc_options: Vec<LxcOption>,
    /// Snapshot clones are made from; taken at the end of `create`.
    pub template_snapshot_name: Option<SnapshotName>,
    pub apparmor_profile: Option<FileName>,
    pub apparmor_manages_nesting: Option<bool>,
    /// Take `pre-configured` / `final-form` snapshots around feature installation.
    pub enable_lifecycle_snapshots: bool,
    /// Script run inside the container after the features (a file in `lxc_setup/`).
    pub application_script: Option<FileName>,
    pub health_check: Option<HealthCheck>,
    pub firewall: Option<Firewall>,
    /// Published ports (`host:container`), informational for application scripts.
    pub ports: Vec<String>,
    /// Volumes on ZFS storages.
    pub zfs_volumes: Vec<Volume>,
    /// Dedicated volumes.
    pub volumes: Vec<Volume>,
    /// Bind mounts of host folders.
    pub mount_points: Vec<BindMount>,
    /// ID ranges mapped into the container (`lxc.idmap`), in order.
    pub id_maps: Vec<IdMap>,
    pub tests: TestSuites,
    /// Service layer: how the gateway publishes the container's service.
    pub traefik_service: Option<TraefikService>,
    /// Service layer: re-generate gateway and DNS configuration after creation.
    pub trigger_sync_on_completion: bool,
    /// Service layer: the certificate authority the container trusts at first boot.
    pub bootstrap_ca_url: Option<String>,
}

impl Lxc {
    /// The host path behind container path `inside`, through the first bind mount point that
    /// holds it (`None`: `inside` is in the container's own disk). Phoenix reaches the files of
    /// a running service (the CA's root, Nginx's certificates) on the host this way.
    pub fn host_path_of(&self, inside: &str) -> Option<std::path::PathBuf> {
        self.mount_points.iter().find_map(|m| {
            let mp = m.mount_point.as_str();
            let rest = inside.strip_prefix(mp)?;
            if !rest.is_empty() && !rest.starts_with('/') {
                return None;
            }
            Some(std::path::PathBuf::from(format!(
                "{}{rest}",
                m.host_path.as_str().trim_end_matches('/')
            )))
        })
    }

    /// Every mount path inside the container: volumes first, then bind mounts.
    pub fn mount_paths(&self) -> impl Iterator<Item = &AbsPath> {
        self.zfs_volumes
            .iter()
            .chain(&self.volumes)
            .map(|v| &v.mount_point)
            .chain(self.mount_points.iter().map(|m| &m.mount_point))
    }

    /// The static address of `net0`, if any.
    pub fn static_ip(&self) -> Option<IpAddr> {
        self.network_config.as_ref()?.ip.static_addr()
    }

    /// The host ID that ID `id` inside the container is (what a `chown` on the host must
    /// use): through the container's own `id_maps` when one covers it, else Proxmox's
    /// default for an unprivileged container (`id + 100000`), else `id` itself.
    pub fn host_id(&self, kind: IdKind, id: u32) -> u32 {
        let mapped = self.id_maps.iter().find_map(|m| {
            let inside = m.kind == kind && id >= m.container_id && id - m.container_id < m.size;
            inside.then(|| m.host_id.saturating_add(id - m.container_id))
        });
        match mapped {
            Some(h) => h,
            None if self.unprivileged == Some(true) => id.saturating_add(UNPRIVILEGED_OFFSET),
            None => id,
        }
    }
}

/// Where Proxmox maps an unprivileged container's IDs on the host (`lxc.idmap: u 0 100000
/// 65536`).
pub const UNPRIVILEGED_OFFSET: u32 = 100_000;

/// User or group IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    pub fn parse(v: &str) -> Result<IdKind, String> {
        match v {
            "uid" | "u" => Ok(IdKind::Uid),
            "gid" | "g" => Ok(IdKind::Gid),
            _ => Err(format!(
                "'{}' is not an ID map type; expected uid or gid",
                v.escape_debug()
            )),
        }
    }

    /// The letter of an `lxc.idmap` line.
    pub fn letter(self) -> char {
        match self {
            IdKind::Uid => 'u',
            IdKind::Gid => 'g',
        }
    }
}

/// One ID range mapped into the container: `size` IDs from `container_id` inside are
/// `host_id`.. on the host (`lxc.idmap: <u|g> <container_id> <host_id> <size>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub kind: IdKind,
    pub container_id: u32,
    pub host_id: u32,
    /// At least 1.
    pub size: u32,
}

impl fmt::Display for IdMap {
    /// The value of the `lxc.idmap` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.kind.letter(),
            self.container_id,
            self.host_id,
            self.size
        )
    }
}

/// `net0` of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LxcNetwork {
    /// Interface name inside the container (default [`DEFAULT_INTERFACE`]).
    pub name: InterfaceName,
    /// Host bridge (`vmbr0`).
    pub bridge: InterfaceName,
    pub ip: IpConfig,
    pub gw: Option<IpAddr>,
    /// VLAN tag.
    pub tag: Option<u16>,
}

/// What the docker feature runs of Portainer in a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortainerRole {
    None,
    Server,
    Agent,
    Infrastructure,
}

impl PortainerRole {
    pub fn parse(v: &str) -> Result<PortainerRole, String> {
        Ok(match v {
            "none" => PortainerRole::None,
            "server" => PortainerRole::Server,
            "agent" => PortainerRole::Agent,
            "infrastructure" => PortainerRole::Infrastructure,
            _ => {
                return Err(format!(
                    "'{v}' is not a Portainer role; expected none, server, agent or infrastructure"
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PortainerRole::None => "none",
            PortainerRole::Server => "server",
            PortainerRole::Agent => "agent",
            PortainerRole::Infrastructure => "infrastructure",
        }
    }
}

impl fmt::Display for PortainerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One raw `lxc.*` line, split where the conf parser splits it (the first `=` or `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LxcOption {
    /// `lxc.mount.auto`
    pub key: String,
    /// `sys:rw`
    pub value: String,
}

impl LxcOption {
    /// Splits a checked option (see [`crate::names::lxc_option`]).
    pub(crate) fn split(v: &str) -> LxcOption {
        match v.find([':', '=']) {
            Some(pos) => LxcOption {
                key: v[..pos].trim().to_string(),
                value: v[pos + 1..].trim().to_string(),
            },
            None => LxcOption {
                key: v.trim().to_string(),
                value: String::new(),
            },
        }
    }
}

impl fmt::Display for LxcOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// A volume allocated on a storage and mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// Label, for people.
    pub name: String,
    /// Storage the volume lives on.
    pub pool: StorageId,
    pub size_gb: u64,
    /// Path inside the container; the volume's identity.
    pub mount_point: AbsPath,
    /// Back the volume up with the container.
    pub backup: Option<bool>,
}

/// A host folder bind-mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindMount {
    pub host_path: AbsPath,
    /// Path inside the container (`mount_point`, or the old name `container_path`); the
    /// mount's identity.
    pub mount_point: AbsPath,
    pub read_only: Option<bool>,
    /// Owner of the host folder, as a user ID inside the container ([`Lxc::host_id`] maps it).
    pub owner_uid: Option<u32>,
    /// Group of the host folder, as a group ID inside the container.
    pub owner_gid: Option<u32>,
}
