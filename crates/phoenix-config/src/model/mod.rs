//! The checked model: what the rest of Phoenix works from.
//!
//! Validation builds these from the files' raw serde shapes (private to the crate) with every
//! default applied and every value checked, so a manager never re-validates or re-derives:
//! a [`Lxc`] has its GPU indices parsed and `proxmox_defaults.lxc` merged, a [`Vm`] has
//! `vm_defaults` and the documented defaults applied, NFS mounts carry the export they resolve
//! to. Newtypes from [`crate::types`] (`Hostname`, `FeatureName`, `StorageId`, ...) carry the
//! format rules.
//!
//! Blocks Phoenix only passes on (host set-up settings read by scripts, `orchestration`) have
//! nothing to check and are shared with the file format as they are.

pub mod cluster;
pub mod common;
pub mod firewall;
pub mod hypervisor;
pub mod lxc;
pub mod nfs;
pub mod vm;

pub use cluster::{Cluster, ClusterNode, StorageSite};
pub use common::{DnsRecord, HealthCheck, StringList, TestSpec, TestSuites, TraefikService};
pub use firewall::{Direction, Firewall, FirewallRule, FwAction};
pub use hypervisor::Hypervisor;
pub use lxc::Lxc;
pub use nfs::{NfsClient, NfsExport};
pub use vm::Vm;
