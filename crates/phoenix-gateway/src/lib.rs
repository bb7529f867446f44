//! The configs of the service layer that Phoenix generates, and how they are put in place.
//!
//! - [`input`]: what the generators need to know, as plain data (guests with their names,
//!   addresses and `traefik_service`, stack services with their Traefik rules, the domain and
//!   resolvers) so they are pure functions, filled from the checked config by the caller;
//! - [`dns`]: the records (every guest, every `traefik_service`, every Portainer agent, every
//!   stack service and Traefik host rule, explicit `dns_records`) and the dnsmasq file;
//! - [`nginx`]: the edge site of the Nginx gateway (container 101): TLS with the internal CA's
//!   certificate, ACME challenges and everything else to Traefik;
//! - [`traefik`]: Traefik's static file (from the deployment's template) and dynamic file
//!   (routers and services for guests and stack services, backends over TLS verified against
//!   the internal CA);
//! - [`apply`]: writing a config where a service reads it: compare, write atomically, validate
//!   with the tool (`nginx -t`, `dnsmasq --test`), reload; a failed validation or reload puts
//!   the previous file back, so the running service keeps its working config;
//! - [`resolv`]: the host's `resolv.conf` pointed at the local DNS server only once it runs,
//!   with the original kept and put back when the server fails.
//!
//! Key design decision: generation and application are separate. Generators return text; the
//! same text is what `--dry-run` shows as a diff and what a second run finds unchanged.

pub mod apply;
pub mod dns;
pub mod input;
pub mod nginx;
pub mod resolv;
pub mod traefik;

pub use apply::{Applied, ApplyError, Exec, FileTarget, HostFiles};
pub use input::{DnsRecord, GuestInfo, Input, StackService, TraefikService};
