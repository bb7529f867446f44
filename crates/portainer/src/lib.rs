//! A client for Portainer's HTTP API, for what Phoenix's service layer needs: check the server,
//! initialise the administrator once, authenticate (JWT), register agent environments, create
//! and update standalone Compose stacks from a string, manage Docker configs, and list it all.
//!
//! Key design decisions:
//! - **TLS is verified against the internal CA** (a PEM file), never the public roots and never
//!   skipped: Portainer's certificate is issued by the deployment's own step-ca. The server name
//!   checked is the URL's host (`portainer.internal.thinkheads.ai`), while the address connected
//!   to can be given apart ([`Options::connect_to`]), as `curl --resolve` does.
//! - **Secrets are never formatted**: the admin password and the JWT are [`Secret`]s (`***` in
//!   `Debug`/`Display`), request bodies are never logged, errors carry the method, the path and
//!   Portainer's `message`, not the payload.
//! - **Transient failures are retried** (connection refused or reset, time-outs, 502/503/504),
//!   a stale JWT (401) is renewed once; everything else is an error at once.
//! - **Under the simulator** ([`Options::sim_root`]) every address is looked up in the
//!   simulated network's map (`$PVE_SIM_ROOT/net/addresses.json`) and only loopback is ever
//!   connected to; an address nothing listens on fails like a refused connection.
//!
//! API paths and JSON shapes are Portainer's own (`api/http/handler/...` of portainer/portainer:
//! `auth/authenticate.go`, `users/admin_check.go`, `users/admin_init.go`,
//! `endpoints/endpoint_create.go`, `stacks/create_compose_stack.go`, `stacks/stack_update.go`,
//! `stacks/stack_file.go`, `system/status.go`; configs through the Docker proxy
//! `/api/endpoints/{id}/docker/configs`).
//!
//! Map: [`client`] (the [`Client`] and its calls), [`types`] (JSON shapes), [`route`] (name
//! resolution and the simulated network), [`secret`], [`error`].

pub mod client;
pub mod error;
pub mod route;
pub mod secret;
pub mod types;

pub use client::{AdminInit, Client, Options};
pub use error::Error;
pub use secret::Secret;
pub use types::{DockerConfig, Endpoint, EnvVar, Stack, SystemStatus};
