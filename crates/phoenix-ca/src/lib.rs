//! The internal certificate authority, from Phoenix's side.
//!
//! Container 103 runs step-ca; the host holds `etc/certificate-manifest.json`, the list of
//! certificates the deployment needs (common name, SANs, where the certificate and key go, their
//! owner and mode, a command to run after renewal). This crate answers "what must be renewed,
//! and why" without changing anything:
//!
//! - [`manifest`]: the manifest, loaded with file + JSON path errors and checked (names, paths,
//!   owner, mode, a post-renewal command that is one command, never a shell line);
//! - [`inspect`]: what a certificate file on disk holds (names, validity, issuer chain, whether
//!   the key file belongs to it);
//! - [`plan`]: the renewal plan, one [`plan::Action`] per manifest entry with its reason.
//!
//! Key design decision: the plan is pure data computed from the files and a clock, so a
//! `--dry-run` prints it as is and a second run on a converged host finds nothing to do.
//! Issuing (`step ca certificate ...`), file ownership and the post-renewal commands are the
//! caller's job, through argv only.

pub mod inspect;
pub mod manifest;
pub mod plan;
pub mod words;

pub use manifest::{Entry, Manifest};
pub use plan::{Action, Reason};
