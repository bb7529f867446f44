//! The container manager's library: what the JSON wants in `pct.conf` terms, how it differs
//! from the live container, and the plan that removes the difference. `main.rs` routes verbs;
//! the dispatcher uses [`plan::drift`] for `phoenix status`.
//!
//! - [`desired`]: the config's checked `Lxc` → conf keys; [`diff`]: conf vs desired → one
//!   `pct set` and its diff;
//! - [`plan`]: the steps define, configure, disk as pure functions;
//! - [`create`]: the `create`/`reconfigure` phases; [`features`]: the in-guest step;
//! - [`lifecycle`]: start/stop/restart/delete/status specifics; [`tests`]: the `test` verb;
//! - [`volumes`], [`gpu`], [`firewall`], [`owners`], [`subids`], [`template`]: one concern each.

pub mod create;
pub mod desired;
pub mod diff;
pub mod features;
pub mod firewall;
pub mod gpu;
pub mod lifecycle;
pub mod owners;
pub mod plan;
pub mod subids;
pub mod template;
pub mod tests;
pub mod verbs;
pub mod volumes;

use phoenix_config::GuestId;
use phoenix_report::{GuestTag, Kind};

/// A container ID as a guest tag.
pub fn tag(id: GuestId) -> GuestTag {
    GuestTag {
        id: id.0,
        kind: Kind::Lxc,
    }
}
