//! The host: `phoenix_hypervisor_config.json` as the rest of Phoenix sees it.
//!
//! Blocks without anything to check or resolve (set-up settings read by the host scripts,
//! `core_paths`, `orchestration`) are shared with the file format as they are; NFS exports,
//! shared volumes, the firewall, test suites and the set-up sequence are checked and resolved.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{StringList, TestSuites};
use super::firewall::{FirewallRule, FwAction};
use super::nfs::NfsExport;
use crate::id::GuestId;
use crate::types::{AbsPath, FeatureName, Hostname};

/// The hypervisor config, checked.
#[derive(Debug, Clone, Default)]
pub struct Hypervisor {
    pub version: Option<String>,
    pub author: Option<String>,
    pub users: Option<HostUser>,
    pub core_paths: CorePaths,
    pub timezone: Option<String>,
    pub network: Option<HostNetwork>,
    pub docker: Option<DockerImages>,
    /// `nfs.exports`, paths without trailing slashes.
    pub nfs_exports: Vec<NfsExport>,
    pub samba: Option<Samba>,
    pub zfs: Option<Zfs>,
    /// Role name to Proxmox storage ID (`fastdata_iso: fastData-shared-iso`).
    pub proxmox_storage_ids: BTreeMap<String, String>,
    /// Where Proxmox mounts storages (`/mnt/pve`).
    pub mount_point_base: Option<String>,
    /// Already merged into each container; kept for what reads it whole.
    pub proxmox_defaults: Option<ProxmoxDefaults>,
    /// Host test suites, run by `hypervisor-manager test`.
    pub tests: TestSuites,
    pub nvidia_driver: Option<NvidiaDriver>,
    pub behavior: Option<Behavior>,
    /// Host folders bind-mounted into containers, by name.
    pub shared_volumes: BTreeMap<String, SharedHostVolume>,
    /// The host firewall: the top-level `firewall`, else the block the old tool kept in
    /// `shared_volumes.firewall`.
    pub firewall: Option<HostFirewall>,
    /// Ordered host set-up steps; `None`: the default sequence.
    pub setup_sequence: Option<Vec<FeatureName>>,
    pub vfio: Option<Vfio>,
    /// Kernel parameters, set-up step `tunables`.
    pub sysctl: BTreeMap<String, String>,
    /// Phoenix's own run settings.
    pub orchestration: Orchestration,
    /// The cluster's nodes and storages; `None` on one host.
    pub cluster: Option<super::Cluster>,
    /// The internal DNS domain; the search domain of VMs that set none.
    pub domain_name: Option<Hostname>,
    /// `vm_defaults.ubuntu_release` of the hypervisor file (the old tool's place for it).
    pub ubuntu_release: Option<String>,
    /// Service layer: the Portainer server's administrator account.
    pub portainer_api: Option<PortainerApi>,
    /// Service layer: the internal DNS server.
    pub dns_server: Option<DnsServer>,
    /// Service layer: the internal certificate authority.
    pub step_ca: Option<StepCa>,
}

impl Hypervisor {
    /// The export that holds `path` (the longest one when exports nest).
    pub fn export_for(&self, path: &AbsPath) -> Option<&NfsExport> {
        self.nfs_exports
            .iter()
            .filter(|e| e.contains(path))
            .max_by_key(|e| e.path.trimmed().len())
    }

    /// The address guests mount NFS from (`network.nfs_server`).
    pub fn nfs_server(&self) -> Option<&str> {
        self.network.as_ref()?.nfs_server.as_deref()
    }
}

/// A host folder and the containers that mount it, with the path inside each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedHostVolume {
    pub host_path: AbsPath,
    pub mounts: BTreeMap<GuestId, AbsPath>,
}

/// The host (cluster) firewall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFirewall {
    pub enabled: bool,
    pub policy_in: Option<FwAction>,
    pub policy_out: Option<FwAction>,
    /// Cluster-wide rules (`cluster.fw` `[RULES]`).
    pub rules: Vec<FirewallRule>,
}

/// The administrative user created on the host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct HostUser {
    pub username: String,
    /// A secret: never printed. `NOT_SET` leaves the password alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
}

/// Where things are. A relative path resolves against the hypervisor config's folder.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CorePaths {
    pub lxc_config_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_config_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lxc_config_schema_file: Option<String>,
    /// A secret file: its content is never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_token_file: Option<String>,
    /// A secret file: its content is never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_images_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor_marker_dir: Option<String>,
    /// File recording completed host set-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor_marker: Option<String>,
    /// Folder with `lxc_setup/`, `vm_features/`, `hypervisor_setup/`, `health_checks/`, `tests/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripts_dir: Option<String>,
    /// Cloud images imported by the VM manager; downloaded once, never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_cache_dir: Option<String>,
    /// Cloud-init templates (`user-data.template.yml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init_dir: Option<String>,
    /// Proxmox cluster config folder (`/etc/pve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pve_config_dir: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct HostNetwork {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_registry_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_server_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_server_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_agent_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<HostInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfs_server: Option<String>,
    /// Name server guests fall back to when the internal DNS server is down (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_dns: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct HostInterface {
    pub name: String,
    pub address: String,
    pub gateway: String,
    /// One address, or a list (the old tool took either).
    pub dns_nameservers: StringList,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DockerImages {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_server_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_agent_image: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Samba {
    pub user: String,
    #[serde(default)]
    pub shares: Vec<SambaShare>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct SambaShare {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    #[serde(default)]
    pub valid_users: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Zfs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arc_max_gb: Option<u64>,
    #[serde(default)]
    pub pools: Vec<ZfsPool>,
    #[serde(default)]
    pub datasets: Vec<ZfsDataset>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ZfsPool {
    pub name: String,
    /// `single`, `mirror`, `raidz1`, `raidz2`, `raidz3`.
    pub raid_level: String,
    pub disks: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ZfsDataset {
    pub name: String,
    pub pool: String,
    /// `key=value,key=value` ZFS properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<String>,
    /// `zfspool` or `dir`: how the dataset is registered as a Proxmox storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_storage_type: Option<String>,
    /// Proxmox content types, comma separated (`images,rootdir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_content_type: Option<String>,
    /// `direct` or `shared`: a label of the old tool's files that none of its scripts read;
    /// checked (one word) and, like there, not acted on (no warning: nothing is dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

impl ZfsDataset {
    /// The Proxmox storage ID the set-up registers this dataset as (`quickOS-lxc-disks`).
    pub fn storage_id(&self) -> String {
        format!("{}-{}", self.pool, self.name)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProxmoxDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zfs_lxc_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lxc: Option<LxcDefaults>,
}

/// Defaults for containers that leave a value out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct LxcDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// `ip/prefix,gateway,dns`, legacy form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_config: Option<String>,
    /// `pct --features` string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nesting: Option<u8>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct NvidiaDriver {
    #[serde(default)]
    pub install: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runfile_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_vllm_libs: Option<bool>,
}

/// PCI passthrough: devices (`vendor:device`, from `lspci -nn`) bound to `vfio-pci` at boot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Vfio {
    #[serde(default)]
    pub pci_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Behavior {
    #[serde(default)]
    pub rollback_on_failure: bool,
    #[serde(default)]
    pub debug_mode: bool,
}

/// How Phoenix runs: parallelism, locks, retries. Every field has a documented default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Orchestration {
    /// Guests processed at once (`--jobs` overrides). Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    /// Host run-lock file. Default `/run/lock/phoenix.lock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_file: Option<String>,
    /// Seconds a second run waits for the host lock. Default 0 (fail at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait_secs: Option<u64>,
    /// Retries of a Proxmox `can't lock file ... got timeout` error. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pve_lock_retries: Option<u32>,
    /// First back-off after a Proxmox lock time-out, doubled each retry. Default 1000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pve_lock_backoff_ms: Option<u64>,
    /// Disk-allocating calls (`pct create`, `pct clone`, `qm create` with an import, `qm clone`)
    /// at once per storage; each holds its slot for that call only. Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_concurrency: Option<usize>,
    /// Attempts to start a guest. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_retries: Option<u32>,
    /// Seconds between start attempts. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_retry_interval_secs: Option<u64>,
    /// Seconds to wait for a guest whose config shows `lock:`. Default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_lock_wait_secs: Option<u64>,
    /// Seconds a stop or a migration may take to show in the guest's status after its task
    /// ended, and an HA-managed guest's start (the HA manager acts after its task). Default
    /// 120.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_timeout_secs: Option<u64>,
    /// How Phoenix reaches Proxmox. Default `local`; `--transport` and `PHOENIX_TRANSPORT`
    /// override it (docs/api.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKind>,
    /// Where and how the `api` transport connects (docs/api.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSettings>,
}

/// How Phoenix reaches Proxmox. A plan is the same whatever carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// `pct`/`qm` on this node.
    #[default]
    Local,
    /// The API on this node through `pvesh`.
    Pvesh,
    /// HTTPS to `/api2/json` with an API token; node-local work over SSH.
    Api,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Local => "local",
            TransportKind::Pvesh => "pvesh",
            TransportKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<TransportKind> {
        match s {
            "local" => Some(TransportKind::Local),
            "pvesh" => Some(TransportKind::Pvesh),
            "api" => Some(TransportKind::Api),
            _ => None,
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `orchestration.api`: the endpoint, the token and how the node's certificate is trusted;
/// each has an environment override (`PHOENIX_API_URL`, ...; docs/api.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApiSettings {
    /// `https://HOST:8006`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `USER@REALM!TOKENID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// A file holding the token secret, mode 0600 (the secret itself never goes in a config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_file: Option<String>,
    /// PEM file of the CA that signed the node certificate (`/etc/pve/pve-root-ca.pem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// SHA-256 fingerprint of the node certificate (`AA:BB:...`), pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Accept any certificate. Never implied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Node that new guests go to. Default: the node the guests are on, or the only node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Seconds one request may take. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// SSH to the guest's node for what the API cannot do (feature scripts, snippets, raw
    /// config lines, firewall files, downloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSettings>,
}

/// `orchestration.api.ssh`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct SshSettings {
    /// Host name or address of the node. Default: the API endpoint's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Default `root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// known_hosts file holding the node's host key (required: keys are always checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
    /// Private key file; default: the SSH agent and the user's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// The Portainer server's administrator account (service layer).
#[derive(Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct PortainerApi {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user: Option<String>,
    /// A secret: never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_hostname: Option<String>,
}

impl std::fmt::Debug for PortainerApi {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortainerApi")
            .field("admin_user", &self.admin_user)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<secret>"),
            )
            .field("portainer_hostname", &self.portainer_hostname)
            .finish()
    }
}

/// The internal DNS server on the host (service layer).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DnsServer {
    #[serde(default)]
    pub enabled: bool,
    /// Where names outside the internal zones are resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authoritative_zones: Vec<DnsZone>,
}

/// A zone the internal DNS server answers for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DnsZone {
    pub zone_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<DnsZoneRecord>,
}

/// A record of an internal zone, with its internal and external address.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DnsZoneRecord {
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_internal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_external: Option<String>,
}

/// The internal certificate authority (service layer).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct StepCa {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_ca_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_ca_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioner_name: Option<String>,
}
