//! The serde shapes of the three files, exactly as written, kept private to this crate.
//!
//! They are the source of `schemas/*.json` and of the "did you mean" hints for unknown keys;
//! nothing outside the crate sees them. Validation turns them into the checked types of
//! [`crate::model`], which is what the rest of Phoenix works from.

pub(crate) mod common;
pub(crate) mod compat;
pub(crate) mod hypervisor;
pub(crate) mod lxc;
pub(crate) mod vm;

pub(crate) use hypervisor::HypervisorFile;
pub(crate) use lxc::LxcFile;
pub(crate) use vm::VmFile;
