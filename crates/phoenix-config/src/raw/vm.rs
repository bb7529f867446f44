//! `phoenix_vm_configs.json`: `vm_defaults` and a `vms` array keyed by `vmid`. A field missing
//! on a VM falls back to `vm_defaults` (merged once, by validation).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Firewall, HealthCheck, TestSuites};
use crate::id::GuestId;
use crate::model::common::{DnsRecord, StringList, TraefikService};

/// The whole VM file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct VmFile {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default)]
    pub vm_defaults: VmSettings,
    #[serde(default)]
    pub vms: Vec<Vm>,
}

/// Settings that a VM may set and `vm_defaults` may default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct VmSettings {
    /// Name of the OS family template (informational in the upstream files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Cloud image file imported as the boot disk (found in the image cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_image: Option<String>,
    /// URL the cloud image is downloaded from once when it is not in the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Boot disk size in GiB; grown, never shrunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size_gb: Option<u64>,
    /// Storage of the VM's disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bridge: Option<String>,
    /// SCSI controller (`virtio-scsi-pci` unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scsihw: Option<String>,
    /// Storage holding cloud-init snippets (`snippets` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets_storage: Option<String>,
    /// Seconds to wait for the QEMU guest agent after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_agent_timeout_secs: Option<u64>,
    /// Seconds between guest agent pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_agent_poll_secs: Option<u64>,
    /// Make linked clones of templates instead of full copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_clone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_boot: Option<bool>,
    /// Ubuntu release of the derived cloud-image URL (`noble` when no file says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ubuntu_release: Option<String>,
}

/// One VM as written in the file. The `VmSettings` fields are repeated here on purpose rather
/// than `#[serde(flatten)]`ed: flattening buffers the object and hides unknown keys from
/// `serde_ignored`, which would lose the "did you mean" warnings; `own_settings` maps them back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Vm {
    pub vmid: GuestId,
    /// VM name; a DNS name, also the guest's host name.
    pub name: String,
    /// Cluster node the VM belongs on (a name of `cluster.nodes` in the hypervisor config).
    /// Default: `cluster.default_node`, else the first node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_from_vmid: Option<GuestId>,
    /// Turn this VM into a template after its features are installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_template: Option<bool>,
    /// Snapshot taken at the end of `create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_snapshot_name: Option<String>,
    /// Name of the OS family template (informational in the upstream files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Cloud image file imported as the boot disk (found in the image cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_image: Option<String>,
    /// URL the cloud image is downloaded from once when it is not in the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Boot disk size in GiB; grown, never shrunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size_gb: Option<u64>,
    /// Storage of the VM's disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bridge: Option<String>,
    /// SCSI controller (`virtio-scsi-pci` unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scsihw: Option<String>,
    /// Storage holding cloud-init snippets (`snippets` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets_storage: Option<String>,
    /// Seconds to wait for the QEMU guest agent after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_agent_timeout_secs: Option<u64>,
    /// Seconds between guest agent pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_agent_poll_secs: Option<u64>,
    /// Make linked clones of templates instead of full copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_clone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_boot: Option<bool>,
    /// Ubuntu release of the derived cloud-image URL (`noble` when no file says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ubuntu_release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_order: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_delay: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<GuestId>,
    /// Feature scripts run inside the VM through the guest agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_config: Option<VmNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_config: Option<VmUser>,
    /// NFS-exported datasets mounted inside the VM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_volumes: Vec<SharedVolume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestSuites>,
    /// Folders mounted inside the VM (the old tool's `type: nfs` volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VmVolume>,
    /// `primary` (the Portainer server) or `agent` (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_role: Option<String>,
    /// Name of the Portainer environment of an agent (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_environment_name: Option<String>,
    /// Host name the Portainer server reaches the agent at (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_agent_hostname: Option<String>,
    /// How the gateway publishes this VM's service (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traefik_service: Option<TraefikService>,
    /// Re-generate the gateway and DNS configuration after this VM is created (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_sync_on_completion: Option<bool>,
    /// Docker stacks deployed to this VM, by name (`phoenix_stacks_config.json`; service layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docker_stacks: Vec<String>,
    /// Records the internal DNS server serves for this VM (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_records: Option<Vec<DnsRecord>>,
}

/// A folder mounted inside a VM; only `nfs` (a folder of one of the host's exports).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct VmVolume {
    /// `nfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Label, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Folder on the NFS server: an export of the hypervisor config, or a folder inside one.
    pub path: String,
    /// Where it is mounted inside the VM.
    pub mount_point: String,
    /// NFS server; `network.nfs_server` of the hypervisor config when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Mount options (`defaults,auto,nofail` when not set, as the old tool wrote them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

/// `ipconfig0` and DNS of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct VmNetwork {
    /// `dhcp`, or an address with prefix (`10.0.0.101/24`).
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
    /// Name servers; a list, or one string (addresses separated by spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameservers: Option<StringList>,
    /// The old tool's spelling of `nameservers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<StringList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchdomain: Option<String>,
}

/// The cloud-init user of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct VmUser {
    pub username: String,
    /// A secret: never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_public_keys: Vec<String>,
    /// Files on the host holding public keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_key_files: Vec<String>,
    /// Legacy: a gateway written here by older files; `network_config.gw` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// A host dataset mounted over NFS inside the VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct SharedVolume {
    /// Exported host path (one of the hypervisor config's `nfs.exports[].path`).
    pub host_path: String,
    pub mount_point: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

impl VmSettings {
    /// `self` with every missing field taken from `defaults`.
    pub(crate) fn or(&self, defaults: &VmSettings) -> VmSettings {
        macro_rules! pick {
            ($($f:ident),*) => { VmSettings { $($f: self.$f.clone().or_else(|| defaults.$f.clone()),)* } };
        }
        pick!(
            template,
            template_image,
            image_url,
            cores,
            memory_mb,
            disk_size_gb,
            storage_pool,
            network_bridge,
            scsihw,
            snippets_storage,
            guest_agent_timeout_secs,
            guest_agent_poll_secs,
            linked_clone,
            start_at_boot,
            ubuntu_release
        )
    }
}

impl Vm {
    /// The settings written on this VM itself, before `vm_defaults`.
    pub(crate) fn own_settings(&self) -> VmSettings {
        VmSettings {
            template: self.template.clone(),
            template_image: self.template_image.clone(),
            image_url: self.image_url.clone(),
            cores: self.cores,
            memory_mb: self.memory_mb,
            disk_size_gb: self.disk_size_gb,
            storage_pool: self.storage_pool.clone(),
            network_bridge: self.network_bridge.clone(),
            scsihw: self.scsihw.clone(),
            snippets_storage: self.snippets_storage.clone(),
            guest_agent_timeout_secs: self.guest_agent_timeout_secs,
            guest_agent_poll_secs: self.guest_agent_poll_secs,
            linked_clone: self.linked_clone,
            start_at_boot: self.start_at_boot,
            ubuntu_release: self.ubuntu_release.clone(),
        }
    }
}
