//! Proxmox VE formats shared by Phoenix's managers and its simulator.
//!
//! Phoenix drives a Proxmox node only through `pct`, `qm`, `pvesm` and `pveam`, and on machines
//! without Proxmox through `pve-sim`, which must accept, reject, store and print exactly what
//! the real node does. Keeping the formats in one crate means the managers (which read the
//! tools' output and the config files) and the simulator (which writes them) cannot drift apart:
//!
//! - [`api`]: one request model (method, path, parameters) and its CLI form, both ways;
//! - [`conf`]: guest config files (`pct.conf(5)`, `qm.conf(5)`), round-tripping byte for byte;
//! - [`propstring`]: property strings (`name=eth0,bridge=vmbr0,...`);
//! - [`output`]: what `pct list`, `status`, `listsnapshot`, `qm guest exec`, `pvesm status`,
//!   `pveam list` print, as formatter and parser pairs;
//! - [`storage_cfg`]: `storage.cfg` (IDs, types, paths, content);
//! - [`spec`]: the CLI option spec extracted from the Proxmox reference, [`spec::validate`] and
//!   [`spec::is_mutating`].

pub mod api;
pub mod conf;
pub mod output;
pub mod propstring;
pub mod spec;
pub mod storage_cfg;

pub use conf::Conf;
pub use propstring::PropString;
pub use spec::{is_mutating, validate, Call, SpecError};
