//! A VM, checked, with `vm_defaults` merged in and Phoenix's documented defaults applied
//! where both are silent (docs/vms.md, "VM fields").

use std::net::IpAddr;
use std::path::PathBuf;

use super::common::{HealthCheck, TestSuites};
use super::firewall::Firewall;
use super::nfs::NfsExport;
use crate::id::GuestId;
use crate::types::{
    AbsPath, FeatureName, FileName, Hostname, InterfaceName, IpConfig, SnapshotName, StorageId,
    UnixUser,
};

/// CPU cores when neither the VM nor `vm_defaults` says.
pub const DEFAULT_CORES: u64 = 2;
/// Memory in MiB when neither the VM nor `vm_defaults` says.
pub const DEFAULT_MEMORY_MB: u64 = 2048;
/// Bridge of `net0` when neither the VM nor `vm_defaults` says.
pub const DEFAULT_BRIDGE: &str = "vmbr0";
/// SCSI controller when neither the VM nor `vm_defaults` says.
pub const DEFAULT_SCSIHW: &str = "virtio-scsi-pci";
/// Seconds to wait for the QEMU guest agent.
pub const DEFAULT_AGENT_TIMEOUT_SECS: u64 = 300;
/// Seconds between guest agent pings.
pub const DEFAULT_AGENT_POLL_SECS: u64 = 2;

/// One VM of `phoenix_vm_configs.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub id: GuestId,
    /// VM name; a DNS name, also the guest's host name.
    pub name: Hostname,
    pub clone_from_vmid: Option<GuestId>,
    /// Turned into a template after its features are installed; never started by `LetsGo`.
    pub is_template: bool,
    /// Snapshot taken at the end of `create`.
    pub template_snapshot_name: Option<SnapshotName>,
    /// Name of the OS family template (informational in the upstream files).
    pub template: Option<String>,
    /// Cloud image imported as the boot disk (a file in the image cache); set (or
    /// `clone_from_vmid` is).
    pub template_image: Option<FileName>,
    /// Where the image is downloaded from when it is not in the cache.
    pub image_url: Option<String>,
    pub cores: u64,
    pub memory_mb: u64,
    /// Boot disk size in GiB; grown, never shrunk.
    pub disk_size_gb: Option<u64>,
    /// Storage of the VM's disks.
    pub storage_pool: StorageId,
    pub network_bridge: InterfaceName,
    pub scsihw: String,
    /// Storage for cloud-init snippets; `None`: the first storage with `snippets` content.
    pub snippets_storage: Option<StorageId>,
    pub guest_agent_timeout_secs: u64,
    /// At least 1.
    pub guest_agent_poll_secs: u64,
    /// Linked instead of full clones of templates.
    pub linked_clone: bool,
    pub start_at_boot: Option<bool>,
    pub boot_order: Option<u64>,
    pub boot_delay: Option<u64>,
    pub dependencies: Vec<GuestId>,
    /// Feature scripts run inside the VM through the guest agent, in order.
    pub features: Vec<FeatureName>,
    /// `ipconfig0` and DNS; `None`: the config says nothing about the network.
    pub network: Option<VmNetwork>,
    /// The cloud-init user.
    pub user: Option<VmUser>,
    /// NFS exports of the host mounted inside the VM.
    pub shared_volumes: Vec<SharedVolume>,
    pub health_checks: Vec<HealthCheck>,
    pub firewall: Option<Firewall>,
    pub tests: TestSuites,
}

impl Vm {
    /// The static address of `net0`, if any.
    pub fn static_ip(&self) -> Option<IpAddr> {
        self.network.as_ref()?.ip.static_addr()
    }
}

/// `ipconfig0` and DNS of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmNetwork {
    pub ip: IpConfig,
    /// `network_config.gw`, else the legacy `user_config.gw`.
    pub gateway: Option<IpAddr>,
    pub nameservers: Vec<IpAddr>,
    pub searchdomain: Option<Hostname>,
}

/// The cloud-init user of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmUser {
    pub username: UnixUser,
    /// A secret: never printed. `NOT_SET` or empty means no password.
    pub password_hash: Option<String>,
    /// `ssh_public_key` then `ssh_public_keys`, trimmed, without empties or repeats.
    pub ssh_public_keys: Vec<String>,
    /// Files holding public keys, resolved against the hypervisor config's folder (read when
    /// used: their content is not config).
    pub ssh_key_files: Vec<PathBuf>,
}

/// A host NFS export (or a folder inside one) mounted inside the VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedVolume {
    /// The exported path as written (`host_path`).
    pub host_path: AbsPath,
    /// The hypervisor config's export it belongs to.
    pub export: NfsExport,
    pub mount_point: AbsPath,
    /// Mount options (`defaults,_netdev` when not set).
    pub options: Option<String>,
}
