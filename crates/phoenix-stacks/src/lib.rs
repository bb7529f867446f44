//! The Docker stacks a Phoenix deployment runs through Portainer.
//!
//! Two places define stacks, both read unchanged from the Bash orchestrator's deployments:
//! `etc/phoenix_stacks_config.json` (one file, `docker_stacks.<name>` with a
//! `compose_file_path`) and the stack folders `stacks/<name>/` (a `docker-compose.yml` and a
//! `phoenix.json` manifest). The old orchestrator's sync read only the folders; the central file
//! came first and still lingers in deployments. Key design decision: **a stack folder wins as a
//! whole** over a central entry of the same name (which is then reported as superseded), so what
//! Phoenix deploys is what the old sync deployed; a central entry alone is used as it is.
//!
//! Everything a sync needs is checked at load time, before anything is deployed: names, the
//! Compose file's syntax (with the stack and `line:column`), services named by settings that the
//! Compose file lacks, variables, file sources, Traefik labels, firewall rules.
//!
//! Map of the crate:
//! - [`model`]: the serde shapes of both files (also the source of `schemas/`);
//! - [`compose`]: a Compose file: syntax check, services, Traefik labels added;
//! - [`stacks`]: [`Stacks::load`], the resolved [`Stack`]s and the check against the VMs'
//!   `docker_stacks` ([`Stacks::check_assignments`]);
//! - [`schema`]: the JSON schemas of both files.

pub mod compose;
pub mod model;
pub mod schema;
pub mod stacks;

pub use compose::Compose;
pub use stacks::{Assignment, Stack, StackSource, Stacks, DEFAULT_ENVIRONMENT};
