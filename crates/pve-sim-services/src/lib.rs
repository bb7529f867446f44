//! What the simulated node needs to stand in for the service layer of a deployment, with real
//! formats so Phoenix's code is exercised as on a real host:
//!
//! - [`ca`]: an internal certificate authority (root + intermediate, as `step ca init` makes
//!   them) that issues **real X.509 certificates** with rcgen, so TLS verification against the
//!   internal CA genuinely works end to end;
//! - [`step`]: the `step` and `step-ca` command-line stand-ins built on it;
//! - [`portainer`]: a Portainer API server on loopback (HTTPS with a certificate from the CA),
//!   with authentication, state kept on disk, every request recorded, and fault hooks;
//! - [`net`]: the simulated network, a map from guest addresses (`10.0.0.111:9443`) to the
//!   loopback ports simulated services listen on: nothing here ever connects elsewhere;
//! - [`checks`]: the syntax checks behind the `nginx -t` and `dnsmasq --test` stand-ins.
//!
//! Key design decision: every stand-in keeps its state in files under the simulator's state
//! folder, so a process can stop and start again (as a real service restarts) without losing
//! anything, and tests read the state to assert what Phoenix did.

pub mod ca;
pub mod checks;
pub mod net;
pub mod portainer;
pub mod step;
pub mod tls;
