//! `cluster`: the nodes of a Proxmox cluster and where each storage is, as `storage.cfg` says
//! it (`shared`, `nodes`). Proxmox itself runs the cluster; this block only tells Phoenix which
//! node each guest belongs on and what validation can check before the first request.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The cluster block of the hypervisor config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Cluster {
    /// Node of guests that name none. Default: the first of `nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_node: Option<String>,
    /// Every node, in the cluster's order.
    pub nodes: Vec<ClusterNode>,
    /// Storage ID to where it is. A guest's disk storage must be listed and present on its
    /// node; a storage not listed here is not checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storages: BTreeMap<String, StorageSite>,
}

/// One node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ClusterNode {
    /// Proxmox node name (`pve1`).
    pub name: String,
    /// This node's API (`https://pve1:8006`). Default: `orchestration.api.endpoint` (any node
    /// answers for every other, as Proxmox proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Address for node-local work over SSH. Default: the node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_host: Option<String>,
    /// Host GPU indices of this node; `gpu_assignment` of a guest here must name one of them.
    /// Absent: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Vec<u32>>,
    /// Guests processed at once on this node (creates, clones, migrations). Default: no
    /// limit beyond `--jobs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_jobs: Option<usize>,
    /// Set-up values that differ on this node (its own `network` address, `zfs` disks,
    /// `nvidia_driver`, ...): hypervisor-config keys merged over the top-level ones (JSON merge
    /// patch, RFC 7396: an object merges key by key, `null` removes, anything else replaces)
    /// for this node's `setup` only. Only set-up keys (`SETUP_KEYS`) are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Where a storage is, as its `storage.cfg` entry says.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct StorageSite {
    /// The same storage seen by every node (`shared 1`: NFS, Ceph, ...). A local storage of
    /// the same name on several nodes is one storage per node.
    #[serde(default)]
    pub shared: bool,
    /// Nodes the storage is on (`nodes`); absent: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
}

impl Cluster {
    /// The node of guests that name none.
    pub fn default_node(&self) -> Option<&str> {
        self.default_node
            .as_deref()
            .or_else(|| self.nodes.first().map(|n| n.name.as_str()))
    }

    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Whether `storage` is on `node`; `None` when the storage is not listed.
    pub fn storage_on(&self, storage: &str, node: &str) -> Option<bool> {
        let s = self.storages.get(storage)?;
        Some(
            s.nodes
                .as_ref()
                .is_none_or(|ns| ns.iter().any(|n| n == node)),
        )
    }

    /// Node names, comma separated (for messages).
    pub fn names(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
