//! A blocking client for the Proxmox VE REST API (`/api2/json`), for running Phoenix from a
//! workstation or against a cluster.
//!
//! Key design decisions:
//! - **Requests are [`pve::api::Request`]s**, the same values the CLI transports turn into
//!   `pct`/`qm` argv; the client only adds the wire format ([`encode`]: query for GET/DELETE,
//!   form body for POST/PUT, arrays as repeated fields).
//! - **Trust is explicit** ([`Trust`]): a CA file, a pinned SHA-256 fingerprint of the node
//!   certificate, or `Insecure` by name. The token secret comes from a file only its owner can
//!   read ([`Secret::from_file`]) and is never formatted.
//! - **A call runs to its end** ([`Client::call`]): tasks (UPIDs) are polled until they stop,
//!   guest locks are waited out, lock time-outs and flaky reads are retried with back-off, and
//!   a create whose answer was lost checks whether the guest exists before running again.
//! - HTTP is ureq (blocking, small, rustls with ring); connections are kept alive and every
//!   request has a timeout.
//!
//! Map: [`Client`] and [`Options`] (`client.rs`), [`Token`]/[`Secret`]/[`TokenId`]
//! (`secret.rs`), [`Trust`]/[`Fingerprint`] and the TLS connector (`tls.rs`), [`Upid`]
//! (`upid.rs`), [`Error`] (`error.rs`).

mod client;
pub mod encode;
mod error;
mod secret;
mod tls;
mod upid;

pub use client::{is_lock_timeout, Client, Options, Reply, TaskResult};
pub use error::Error;
pub use secret::{Secret, Token, TokenId};
pub use tls::{Fingerprint, Trust};
pub use upid::{status_is_ok, Upid};
