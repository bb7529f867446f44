//! The typed model of the three configuration files. These are the raw, serde-level shapes;
//! [`crate::Config`] is the loaded, checked whole that the rest of Phoenix trusts.

pub mod common;
pub mod hypervisor;
pub mod lxc;
pub mod vm;

pub use common::{Firewall, FirewallRule, HealthCheck, TestSpec, TestSuites};
pub use hypervisor::HypervisorFile;
pub use lxc::{Lxc, LxcFile};
pub use vm::{ResolvedVm, Vm, VmFile, VmSettings};
