//! `hypervisor-manager sync <part>`: the service layer put in place, part by part, each one
//! planned against what is there and applied only where it differs (so a second sync changes
//! nothing, and `--dry-run` is the plan).
//!
//! | part | what |
//! | --- | --- |
//! | `certs` | the certificate manifest: each certificate (re)issued from the internal CA when missing, expiring, misnamed or not the CA's ([`phoenix_ca::plan`]); mode and owner; its post-renewal command |
//! | `dns` | `/etc/dnsmasq.d/phoenix.conf` on the host (`dnsmasq --test`, `systemctl restart dnsmasq`), then `/etc/resolv.conf` pointed at it while it runs |
//! | `gateway` | the Nginx site in the gateway container (`nginx -t`, reload), Traefik's static and dynamic files in the Traefik container |
//! | `portainer` | Portainer's server (its stack, `docker compose` in the primary VM) and agents (a container in each agent VM) running ([`deploy`]), then the administrator (initialised once), one agent environment per `portainer_role: agent` VM |
//! | `stacks` | `portainer`, then every stack of the agents' `docker_stacks` created or updated |
//! | `all` | `certs`, `dns`, `gateway`, `stacks`, in that order |
//!
//! Everything the parts read is loaded and checked first (the stacks with their Compose
//! files, the manifest): a problem there stops the sync before anything changed. A part that
//! fails stops the sync; each file is replaced atomically and put back when its check or
//! reload fails ([`phoenix_gateway::apply`]), so a failure leaves nothing half applied.

mod certs;
pub mod deploy;
mod dns;
mod files;
mod gateway;
pub mod layer;
mod portainer;
mod schedule;

use phoenix_gateway::apply::Applied;
use phoenix_guest::node::NodeWork;
use phoenix_host::exit;
use phoenix_host::manager::Context;
use phoenix_report::{Event, EventKind, GuestTag, Kind, Reporter};

use files::NodeFiles;
use layer::Layer;

/// How long a certificate's `post_renewal_command` may run (`timeout(1)`'s argument).
pub const POST_RENEWAL_TIMEOUT: &str = "120";

/// The parts, in the order `all` runs them.
pub const PARTS: &[&str] = &["certs", "dns", "gateway", "portainer", "stacks"];

/// Why a part stopped: the message of its `Failed` event.
pub struct Stop(pub String);

impl<T: std::fmt::Display> From<T> for Stop {
    fn from(e: T) -> Stop {
        Stop(e.to_string())
    }
}

/// One sync run.
pub struct Sync<'a> {
    pub ctx: &'a Context,
    pub r: &'a Reporter,
    pub layer: Layer,
    pub node: &'a dyn NodeWork,
    /// Objects changed (or, under `--dry-run`, that would change).
    pub changed: usize,
}

pub fn run(ctx: &Context, r: &Reporter) -> i32 {
    let part = ctx.inv.argument.as_deref().unwrap_or("all");
    let parts: Vec<&str> = match part {
        "all" => vec!["certs", "dns", "gateway", "stacks"],
        p if PARTS.contains(&p) => vec![p],
        other => {
            crate::fail(
                r,
                format!(
                    "sync: unknown part '{other}'; expected all, {}",
                    PARTS.join(", ")
                ),
            );
            return exit::FAILURE;
        }
    };
    if ctx.inv.only_stack.is_some() && part != "stacks" {
        crate::fail(r, "sync: --stack and --to apply to 'sync stacks' only");
        return exit::FAILURE;
    }
    let layer = match Layer::load(&ctx.config) {
        Ok(l) => l,
        Err(e) => {
            crate::fail(r, format!("sync: the stacks cannot be deployed:\n{e}"));
            return exit::FAILURE;
        }
    };
    let node = match phoenix_guest::connect::node_work(&ctx.runner, &ctx.env, &ctx.config) {
        Ok(n) => n,
        Err(e) => {
            crate::fail(r, format!("sync: {e}"));
            return exit::FAILURE;
        }
    };
    let mut s = Sync {
        ctx,
        r,
        layer,
        node: node.as_ref(),
        changed: 0,
    };
    // What the parts read is checked before the first change.
    let manifest = if parts.contains(&"certs") {
        match s.manifest() {
            Ok(m) => m,
            Err(Stop(m)) => {
                crate::fail(r, format!("sync certs: {m}"));
                return exit::FAILURE;
            }
        }
    } else {
        None
    };
    for p in &parts {
        let res = match *p {
            "certs" => s.certs(manifest.as_ref()),
            "dns" => s.dns(),
            "gateway" => s.gateway(),
            "portainer" => s.portainer(false),
            _ => s.portainer(true),
        };
        if let Err(Stop(m)) = res {
            // A dry run on a host where the part's inputs do not exist yet (the CA has not
            // exported its root, a container is still to be created): planned when reached.
            if ctx.env.dry_run {
                r.emit(
                    Event::new(EventKind::Then, None)
                        .step(format!("sync {p}"))
                        .message(format!("planned when reached: {m}")),
                );
                continue;
            }
            crate::fail(r, format!("sync {p}: {m}"));
            return exit::FAILURE;
        }
    }
    let what = if ctx.env.dry_run {
        format!(
            "dry run: {} change(s) planned; nothing was changed",
            s.changed
        )
    } else if s.changed == 0 {
        "sync: already in the desired state".to_string()
    } else {
        format!("sync: {} change(s) applied", s.changed)
    };
    r.emit(Event::new(EventKind::Done, None).message(what));
    exit::SUCCESS
}

fn ct(id: u64) -> Option<GuestTag> {
    Some(GuestTag {
        id,
        kind: Kind::Lxc,
    })
}

impl Sync<'_> {
    fn dry(&self) -> bool {
        self.ctx.env.dry_run
    }

    /// Reports what happened to one file.
    fn report(&mut self, guest: Option<GuestTag>, step: &str, path: &str, a: &Applied) {
        let e = match a {
            Applied::Unchanged => Event::new(EventKind::Unchanged, guest).step(step),
            Applied::WouldChange(d) => {
                self.changed += 1;
                Event::new(EventKind::Planned, guest)
                    .step(step)
                    .action(format!("write {path}"))
                    .message(format!("+{} -{} lines", d.added.len(), d.removed.len()))
            }
            Applied::Changed(d) => {
                self.changed += 1;
                Event::new(EventKind::Changed, guest)
                    .step(step)
                    .action(format!("write {path}"))
                    .message(format!("+{} -{} lines", d.added.len(), d.removed.len()))
            }
        };
        self.r.emit(e);
    }

    fn host(&self) -> NodeFiles<'_> {
        NodeFiles {
            node: self.node,
            env: &self.ctx.env,
        }
    }

    fn argv(words: &[&str]) -> Option<Vec<String>> {
        Some(words.iter().map(|s| s.to_string()).collect())
    }

    /// Runs `argv` on the node; a failure names `what` and quotes the command's output.
    fn must(&self, argv: &[String], what: &str) -> Result<(), Stop> {
        let out = self
            .host()
            .exec(argv)
            .map_err(|e| Stop(format!("{what}: {e}")))?;
        if out.code != 0 {
            let shown = match argv {
                [t, _, rest @ ..] if t == "timeout" => rest,
                all => all,
            };
            return Err(Stop(format!(
                "{what}: `{}` failed (exit {}): {}",
                shown.join(" "),
                out.code,
                format!("{}{}", out.stdout, out.stderr).trim()
            )));
        }
        Ok(())
    }
}
