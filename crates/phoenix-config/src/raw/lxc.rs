//! `phoenix_lxc_configs.json`: containers keyed by their ID string under `lxc_configs`.
//!
//! Every key the upstream deployment uses is modelled, so a real file loads without warnings;
//! values Phoenix only passes on to scripts (the vLLM tuning blocks) stay free-form JSON.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compat::{FreeJson, Map};

use super::common::{Firewall, HealthCheck, TestSuites};
use crate::id::GuestId;
use crate::model::common::{StringList, TraefikService};

/// The whole LXC file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct LxcFile {
    /// JSON Schema this document claims to follow (editor support only).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// NVIDIA driver version the `nvidia` feature installs inside containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_driver_version: Option<String>,
    /// NVIDIA CUDA apt repository used by the `nvidia` feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_repo_url: Option<String>,
    /// NVIDIA driver runfile the `nvidia` feature installs (`--no-kernel-module`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_runfile_url: Option<String>,
    /// Containers keyed by container ID (`"950"`).
    #[serde(default)]
    pub lxc_configs: Map<Lxc>,
}

/// One container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Lxc {
    /// Host name of the container; a DNS name.
    pub name: String,
    /// Cluster node the container belongs on (a name of `cluster.nodes` in the hypervisor
    /// config). Default: `cluster.default_node`, else the first node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Memory in MiB (`pct --memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Swap in MiB (`pct --swap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_mb: Option<u64>,
    /// CPU cores (`pct --cores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
    /// OS template: a volume ID (`storage:vztmpl/name`), an absolute path into a storage, or a
    /// template file name. Needed unless the container is cloned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Storage of the root file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_pool: Option<String>,
    /// Root file system size in GiB; grown, never shrunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_size_gb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_config: Option<LxcNetwork>,
    /// Fixed MAC address of `net0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Extra name servers (`pct --nameserver`), space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<String>,
    /// `none`, or host GPU indices such as `"0, 1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_assignment: Option<String>,
    /// `none`, `server`, `agent` or `infrastructure`: what the docker feature runs of Portainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portainer_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprivileged: Option<bool>,
    /// Start when the host boots (`onboot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_boot: Option<bool>,
    /// Start order (`startup: order=`); also Phoenix's order for `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_order: Option<u64>,
    /// Seconds to wait after starting this guest (`startup: up=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_delay: Option<u64>,
    /// Container this one is cloned from (string or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_from_ctid: Option<GuestId>,
    /// Treat as a template: created but never started by `start`/`LetsGo`. When absent, a
    /// container that others clone from and that does not start at boot is a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_template: Option<bool>,
    /// Make a full (true, default) or linked (false) clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_clone: Option<bool>,
    /// Guests that must exist before this one is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<GuestId>,
    /// Feature scripts to run, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Container features (`pct --features`), e.g. `nesting=1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pct_options: Vec<String>,
    /// Raw `lxc.*` lines (`lxc.mount.auto=sys:rw`) written into the conf file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lxc_options: Vec<String>,
    /// Snapshot clones are made from; created at the end of `create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_snapshot_name: Option<String>,
    /// AppArmor profile (`unconfined` or a profile loaded on the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// When true, nesting is left to the AppArmor profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_manages_nesting: Option<bool>,
    /// Take `pre-configured` / `final-form` snapshots around feature installation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_lifecycle_snapshots: Option<bool>,
    /// Script run inside the container after the features (file name in `lxc_setup/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    /// Published ports (`host:container`), informational for application scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Volumes on ZFS storages, matched by mount path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zfs_volumes: Vec<Volume>,
    /// Dedicated volumes, matched by mount path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Bind mounts of host folders (`mpN: /host/path,mp=/in/guest`), matched by mount path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<BindMount>,
    /// User and group ID ranges mapped into the container (`lxc.idmap`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_maps: Vec<IdMap>,
    /// How the gateway publishes this container's service (service layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traefik_service: Option<TraefikService>,
    /// Re-generate the gateway and DNS configuration after this guest is created (service
    /// layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_sync_on_completion: Option<bool>,
    /// URL of the internal certificate authority the container trusts at first boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_ca_url: Option<String>,
    /// Test suites by name, run by `phoenix test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestSuites>,
    /// Legacy per-container integration test declaration, kept for old files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_tests: Option<FreeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_integration_tests: Option<bool>,
    /// Legacy vLLM test declaration, kept for old files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm: Option<FreeJson>,
    /// vLLM engine settings read by the vllm feature and application script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_engine_config: Option<FreeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_served_model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_quantization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_max_model_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_gpu_memory_utilization: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_tensor_parallel_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_port: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_trust_remote_code: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_parameters: Option<FreeJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vllm_args: Vec<String>,
}

/// `net0` of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct LxcNetwork {
    /// Interface name inside the container (`eth0`).
    #[serde(default = "default_if_name")]
    pub name: String,
    /// Host bridge (`vmbr0`).
    pub bridge: String,
    /// `dhcp`, or an address with prefix (`10.0.0.150/24`).
    pub ip: String,
    /// Default gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
    /// VLAN tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    /// Name servers (the old tool's spelling; the container's top-level `nameserver` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameservers: Option<StringList>,
}

fn default_if_name() -> String {
    "eth0".to_string()
}

/// A volume allocated on a storage and mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Volume {
    /// Label, for people.
    pub name: String,
    /// Proxmox storage ID the volume lives on.
    pub pool: String,
    pub size_gb: u64,
    /// Absolute path inside the container; the volume's identity.
    pub mount_point: String,
    /// Back the volume up with the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<bool>,
}

/// A host folder bind-mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct BindMount {
    pub host_path: String,
    /// Absolute path inside the container; the mount's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    /// The old tool's name of `mount_point`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Owner of the host folder, as a user ID inside the container (mapped to the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_uid: Option<u32>,
    /// Group of the host folder, as a group ID inside the container (mapped to the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_gid: Option<u32>,
}

/// One `lxc.idmap` range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct IdMap {
    /// `uid` or `gid` (also `u`, `g`).
    #[serde(rename = "type")]
    pub kind: String,
    /// First ID inside the container.
    pub container_id: u32,
    /// First ID on the host.
    pub host_id: u32,
    /// Number of IDs.
    pub size: u32,
}

/// Receives each container as soon as it is parsed (see [`LxcFileSeed`]).
pub(crate) trait LxcSink {
    /// `Err` stops the parse (a key written twice).
    fn entry(&mut self, key: String, lxc: Lxc) -> Result<(), String>;
}

/// Parses an LXC file, handing each container to a sink instead of collecting them: a
/// deployment of thousands of containers never holds them all in their raw form. Accepts
/// exactly what [`LxcFile`] accepts (that derived type still explains failures and generates
/// the schema); unknown keys are ignored through `IgnoredAny`, so `serde_ignored` reports them.
pub(crate) struct LxcFileSeed<'a, S>(pub std::cell::RefMut<'a, S>);

/// Top-level keys of the LXC file other than `lxc_configs` (all optional strings).
const LXC_FILE_STRINGS: [&str; 4] = [
    "$schema",
    "nvidia_driver_version",
    "nvidia_repo_url",
    "nvidia_runfile_url",
];

impl<'de, S: LxcSink> serde::de::DeserializeSeed<'de> for LxcFileSeed<'_, S> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S: LxcSink> serde::de::Visitor<'de> for LxcFileSeed<'_, S> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an LXC config object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = super::compat::KeySet::default();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
            }
            if key == "lxc_configs" {
                map.next_value_seed(EntriesSeed(&mut *self.0))?;
            } else if LXC_FILE_STRINGS.contains(&key.as_str()) {
                map.next_value::<Option<String>>()?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EntriesSeed<'a, S>(&'a mut S);

impl<'de, S: LxcSink> serde::de::DeserializeSeed<'de> for EntriesSeed<'_, S> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S: LxcSink> serde::de::Visitor<'de> for EntriesSeed<'_, S> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let lxc: Lxc = map.next_value()?;
            self.0.entry(key, lxc).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}
