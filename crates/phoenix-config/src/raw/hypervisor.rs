//! `phoenix_hypervisor_config.json`: the host, where the other two files are, and Phoenix's own
//! run settings (`orchestration`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compat::Map;

use super::common::FirewallRule;
use super::common::TestSuites;
use crate::model::hypervisor::{
    Behavior, CorePaths, DnsServer, DockerImages, HostNetwork, HostUser, NvidiaDriver,
    Orchestration, PortainerApi, ProxmoxDefaults, Samba, StepCa, Vfio, Zfs,
};

/// The whole hypervisor file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct HypervisorFile {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<HostUser>,
    pub core_paths: CorePaths,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<HostNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerImages>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfs: Option<Nfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samba: Option<Samba>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zfs: Option<Zfs>,
    /// Role name to Proxmox storage ID (`fastdata_iso: fastData-shared-iso`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub proxmox_storage_ids: Map<String>,
    /// Where Proxmox mounts storages (`/mnt/pve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_defaults: Option<ProxmoxDefaults>,
    /// Host test suites, run by `hypervisor-manager test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestSuites>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_driver: Option<NvidiaDriver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
    /// Host folders bind-mounted into containers, by name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub shared_volumes: Map<SharedEntry>,
    /// The host firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<HostFirewall>,
    /// Ordered host set-up steps; a default sequence when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_sequence: Option<Vec<String>>,
    /// PCI devices bound to `vfio-pci` for passthrough to VMs (set-up step `vfio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vfio: Option<Vfio>,
    /// Kernel parameters (`fs.inotify.max_user_instances: "8192"`), set-up step `tunables`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub sysctl: Map<String>,
    /// Phoenix's own run settings.
    #[serde(default)]
    pub orchestration: Orchestration,
    /// The nodes of a Proxmox cluster and where its storages are (one host: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::model::Cluster>,
    /// The internal DNS domain (`internal.thinkheads.ai`); VMs' search domain when they set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// VM settings of the whole host (the old tool kept `ubuntu_release` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_defaults: Option<HostVmDefaults>,
    /// Administrator account of the Portainer server (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_api: Option<PortainerApi>,
    /// The internal DNS server on the host (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<DnsServer>,
    /// The internal certificate authority (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_ca: Option<StepCa>,
}

/// `vm_defaults` of the hypervisor file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct HostVmDefaults {
    /// Ubuntu release of the derived cloud-image URL (`noble` when no file says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ubuntu_release: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Nfs {
    #[serde(default)]
    pub exports: Vec<NfsExport>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct NfsExport {
    pub path: String,
    #[serde(default)]
    pub clients: Vec<String>,
    #[serde(default)]
    pub options: Vec<String>,
}

/// An entry of `shared_volumes`. The upstream file keeps its host firewall block in there too,
/// so both shapes are accepted; validation points at the misplaced one.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SharedEntry {
    Volume(SharedHostVolume),
    Firewall(HostFirewall),
}

/// A host folder and the containers (by ID) that mount it, with the path inside each.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct SharedHostVolume {
    pub host_path: String,
    #[serde(default)]
    pub mounts: Map<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct HostFirewall {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_input_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_output_policy: Option<String>,
    /// Cluster-wide rules (`cluster.fw` `[RULES]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_firewall_rules: Vec<FirewallRule>,
}
