//! A VM, checked, with `vm_defaults` merged in and Phoenix's documented defaults applied
//! where both are silent (docs/vms.md, "VM fields").

use std::net::IpAddr;
use std::path::PathBuf;

use super::common::{DnsRecord, HealthCheck, TestSuites, TraefikService};
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
/// Ubuntu release of the derived cloud-image URL when no file names one (the old
/// orchestrator's, before `ubuntu_release` existed).
pub const DEFAULT_UBUNTU_RELEASE: &str = "noble";
/// Ubuntu's cloud-image server.
pub const CLOUD_IMAGES_BASE: &str = "https://cloud-images.ubuntu.com";
/// Mount options of an NFS volume when none are set (the old tool's fstab line).
pub const DEFAULT_NFS_VOLUME_OPTIONS: &str = "defaults,auto,nofail";

/// One VM of `phoenix_vm_configs.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub id: GuestId,
    /// VM name; a DNS name, also the guest's host name.
    pub name: Hostname,
    /// Cluster node as written (`Guest::node` is the resolved one).
    pub node: Option<String>,
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
    /// Where the image is downloaded from when it is not in the cache, as written; see
    /// [`Vm::image_source`].
    pub image_url: Option<String>,
    /// Ubuntu release of the derived image URL: the VM's, `vm_defaults` of the VM file, of the
    /// hypervisor file, else [`DEFAULT_UBUNTU_RELEASE`].
    pub ubuntu_release: String,
    pub cores: u64,
    pub memory_mb: u64,
    /// Boot disk size in GiB; grown, never shrunk. A template takes only its own value (not
    /// `vm_defaults`), so that the VMs cloned from it can be sized from there.
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
    /// Folders of the host's NFS exports mounted inside the VM (`volumes` of type `nfs`).
    pub nfs_volumes: Vec<NfsVolume>,
    /// Service layer: Portainer server or agent.
    pub portainer: Option<VmPortainer>,
    /// Service layer: how the gateway publishes the VM's service.
    pub traefik_service: Option<TraefikService>,
    /// Service layer: re-generate gateway and DNS configuration after creation.
    pub trigger_sync_on_completion: bool,
    /// Service layer: Docker stacks deployed to the VM, by name.
    pub docker_stacks: Vec<String>,
    /// Service layer: records the internal DNS server serves for the VM.
    pub dns_records: Vec<DnsRecord>,
}

impl Vm {
    /// The static address of `net0`, if any.
    pub fn static_ip(&self) -> Option<IpAddr> {
        self.network.as_ref()?.ip.static_addr()
    }

    /// The cloud image's URL on Ubuntu's server, as the old orchestrator derived it:
    /// `https://cloud-images.ubuntu.com/<ubuntu_release>/current/<template_image>`.
    pub fn cloud_image_url(&self) -> Option<String> {
        let image = self.template_image.as_ref()?;
        Some(format!(
            "{CLOUD_IMAGES_BASE}/{}/current/{image}",
            self.ubuntu_release
        ))
    }

    /// Where the image comes from when it is not in the cache: `image_url`, else the derived
    /// URL.
    pub fn image_source(&self) -> Option<String> {
        self.image_url.clone().or_else(|| self.cloud_image_url())
    }
}

/// A folder of one of the host's NFS exports, mounted inside the VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfsVolume {
    /// Label, for people.
    pub name: Option<String>,
    /// The NFS server: the volume's `server`, else the hypervisor config's
    /// `network.nfs_server`.
    pub server: String,
    /// The folder on the server: the export itself or a folder inside it.
    pub path: AbsPath,
    /// The export that holds `path` (it allows the VM's address).
    pub export: NfsExport,
    pub mount_point: AbsPath,
    /// fstab options ([`DEFAULT_NFS_VOLUME_OPTIONS`] when not set).
    pub options: String,
}

/// Portainer in a VM (service layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPortainer {
    pub role: VmPortainerRole,
    /// The agent's environment name in Portainer.
    pub environment_name: Option<String>,
    /// The host name the server reaches the agent at.
    pub agent_hostname: Option<Hostname>,
}

/// What a VM runs of Portainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmPortainerRole {
    /// The Portainer server.
    Primary,
    Agent,
}

impl VmPortainerRole {
    pub fn parse(v: &str) -> Result<VmPortainerRole, String> {
        match v {
            "primary" => Ok(VmPortainerRole::Primary),
            "agent" => Ok(VmPortainerRole::Agent),
            _ => Err(format!(
                "'{}' is not a VM's Portainer role; expected primary or agent",
                v.escape_debug()
            )),
        }
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
