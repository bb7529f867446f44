//! The VM manager's library: what a VM should look like in `qm.conf` terms ([`desired`]: the
//! config's checked `Vm`, defaults already merged, mapped to conf keys), how its config differs
//! ([`configure`], also the dispatcher's drift for `phoenix status`), and the phases that plan
//! and apply it through the guest core ([`create`]). `main.rs` only routes verbs.
//!
//! - [`context`]: [`context::VmJob`], the job plus the VM's desired state, host paths, record;
//! - [`create`]: define (clone or import, [`image`]), configure, start, template;
//! - [`features`], [`nfs`]: work through the guest agent, recorded per step;
//! - [`cloudinit`]: user-data and network-config snippets; [`host`]: reading `qm.conf`;
//! - [`lifecycle`]: start/stop/restart/delete/status/test specifics; [`health`]: `health-check`.
//!
//! Modules depend downwards only: `create` → `features`, `nfs`, `configure`, `image` →
//! `context`, `cloudinit`, `host` → `desired`.

pub mod cloudinit;
pub mod configure;
pub mod context;
pub mod create;
pub mod desired;
pub mod features;
pub mod health;
pub mod host;
pub mod image;
pub mod lifecycle;
pub mod nfs;
pub mod trust;
pub mod verbs;
