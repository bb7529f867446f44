//! One guest being worked on by one verb: the context every step of both managers shares.
//!
//! The job observes the live guest (its config file, and its run state: from the dispatcher's
//! bulk read when one was handed over and nothing changed since, else one status request), and
//! reports through the one reporter. Steps build [`crate::plan::Step`]s; [`Job::apply`]
//! decides whether they run (see `apply.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use phoenix_config::{Config, GuestId, GuestKind};
use phoenix_host::manager::Context;
use phoenix_report::{Event, EventKind, GuestTag, Kind, Reporter, Verbosity};
use pve::api::{Method, Request};
use pve::Conf;

use crate::error::{GuestError, GuestResult};
use crate::observe::{Observed, Snapshot};
use crate::plan::Target;
use crate::transport::Transport;

/// The node name in API paths: Proxmox answers `localhost` for the node it runs on.
pub const DEFAULT_NODE: &str = "localhost";

pub struct Job<'a> {
    pub ctx: &'a Context,
    pub guest: GuestTag,
    pub transport: Box<dyn Transport + 'a>,
    pub reporter: Reporter,
    /// Node name in API paths (changes when the guest is migrated).
    node: RefCell<String>,
    /// The bulk observation (the dispatcher's, else this process's), while it still holds
    /// for this guest.
    observed: RefCell<Option<Observed>>,
    /// Configs read in this job, until an action runs (then the node may differ).
    confs: RefCell<HashMap<GuestTag, Option<Conf>>>,
    /// Whether an action ran in this job.
    changed: Cell<bool>,
    /// Whether a dry run planned an action.
    planned: Cell<bool>,
}

pub fn tag(kind: GuestKind, id: GuestId) -> GuestTag {
    GuestTag {
        id: id.0,
        kind: match kind {
            GuestKind::Lxc => Kind::Lxc,
            GuestKind::Vm => Kind::Vm,
        },
    }
}

impl<'a> Job<'a> {
    /// The job of the manager's target, on the transport the run chose (`Err`: the transport
    /// cannot be set up, with the reason).
    pub fn new(ctx: &'a Context, kind: GuestKind) -> Result<Job<'a>, String> {
        let transport = crate::connect::transport(&ctx.runner, &ctx.env, &ctx.config)?;
        Job::with_transport(ctx, kind, transport)
    }

    pub fn with_transport(
        ctx: &'a Context,
        kind: GuestKind,
        transport: Box<dyn Transport + 'a>,
    ) -> Result<Job<'a>, String> {
        let common = &ctx.inv.common;
        let reporter = Reporter::from_env(
            common.output == phoenix_host::OutputFormat::Json,
            Verbosity {
                quiet: common.quiet,
                verbose: common.verbose,
            },
        );
        let guest = tag(kind, ctx.id());
        // The dispatcher's bulk read, else (over the API, which addresses guests by node) this
        // process's own; the local transport needs none.
        let handed = Snapshot::from_env();
        if let Some(s) = &handed {
            transport.seed(s);
        }
        let observed = match handed.as_ref().and_then(|s| s.find(guest).cloned()) {
            Some(o) => Some(o),
            None => transport
                .locate(guest)
                .map_err(|e| format!("reading the node: {e}"))?,
        };
        // A guest is addressed on the node the bulk read shows it on; one yet to be cloned on
        // its source's node (where Proxmox makes a clone), else the default node.
        let source_node = || -> Result<Option<String>, String> {
            let Some(src) = ctx.config.guest(ctx.id()).and_then(|g| g.clone_from) else {
                return Ok(None);
            };
            let found = transport
                .locate(tag(kind, src))
                .map_err(|e| format!("reading the node: {e}"))?
                .and_then(|o| o.node);
            // A source created after the bulk read is on its configured node.
            let node = found.or_else(|| ctx.config.guest(src).and_then(|g| g.node.clone()));
            if let Some(n) = &node {
                transport.assign(tag(kind, src), n);
            }
            Ok(node)
        };
        // In a cluster a new guest goes to its configured node (a clone first to its
        // source's, then it is migrated: see `placement`).
        let configured = ctx.config.guest(ctx.id()).and_then(|g| g.node.clone());
        let node = match observed.as_ref().and_then(|o| o.node.clone()) {
            Some(n) => n,
            None => match (source_node()?, configured, std::env::var("PHOENIX_NODE")) {
                (Some(n), _, _) => n,
                (None, Some(n), _) => n,
                (None, None, Ok(n)) if !n.is_empty() => n,
                _ => transport.default_node().map_err(|e| e.0)?,
            },
        };
        crate::placement::enter_sim_node(&node);
        transport.assign(guest, &node);
        transport.work_on(&node);
        Ok(Job {
            ctx,
            guest,
            transport,
            reporter,
            node: RefCell::new(node),
            observed: RefCell::new(observed),
            confs: RefCell::new(HashMap::new()),
            changed: Cell::new(false),
            planned: Cell::new(false),
        })
    }

    /// What the bulk read said about this guest, while nothing changed it since.
    pub fn observed(&self) -> Option<Observed> {
        self.observed.borrow().clone()
    }

    pub fn id(&self) -> GuestId {
        GuestId(self.guest.id)
    }

    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// The guest's entry in the config (`found`), else the error naming the file it is
    /// missing from.
    pub fn defined<'c, T>(&self, found: Option<&'c T>) -> GuestResult<&'c T> {
        found.ok_or_else(|| {
            let paths = &self.config().paths;
            let file = match self.guest.kind {
                Kind::Lxc => paths.lxc.as_path(),
                Kind::Vm => paths.vm_path(),
            };
            self.err("config", format!("not defined in {}", file.display()))
        })
    }

    /// `--dry-run`: plan, print, run nothing.
    pub fn planning(&self) -> bool {
        self.ctx.env.dry_run
    }

    /// A step error of this guest.
    pub fn err(&self, step: &str, msg: impl Into<String>) -> GuestError {
        GuestError::new(self.guest, step, msg)
    }

    /// This guest on its node, for planning functions.
    pub fn target(&self) -> Target {
        Target {
            guest: self.guest,
            node: self.node(),
        }
    }

    /// The node the guest is on now (in API paths).
    pub fn node(&self) -> String {
        self.node.borrow().clone()
    }

    /// A host path of the guest's node as seen from here: `PHOENIX_HOST_ROOT` on one host or
    /// over SSH; on a simulated cluster, that node's host folder
    /// (`phoenix_host::sim::node_host_root`), so a container on pve2 uses pve2's host.
    pub fn host_path(&self, p: &std::path::Path) -> std::path::PathBuf {
        let env = &self.ctx.env;
        match &env.sim {
            Some(sim) => phoenix_host::sim::node_host_root(sim, &self.node())
                .join(p.strip_prefix("/").unwrap_or(p)),
            None => env.host_path(p),
        }
    }

    /// After a migration: the guest is addressed on `node`, and what was read about it is
    /// read again.
    pub(crate) fn moved_to(&self, node: &str) {
        self.node.replace(node.to_string());
        self.transport.forget();
        self.transport.assign(self.guest, node);
        self.transport.work_on(node);
        self.mark_changed();
        crate::placement::enter_sim_node(node);
    }

    /// A request on this guest.
    pub fn req(&self, method: Method, suffix: &str) -> Request {
        self.target().req(method, suffix)
    }

    /// A request on the node (`/nodes/<node><suffix>`).
    pub fn node_req(&self, method: Method, suffix: &str) -> Request {
        self.target().node_req(method, suffix)
    }

    /// The guest's config as the node has it now (`None`: the guest does not exist).
    pub fn conf(&self, step: &str) -> GuestResult<Option<Conf>> {
        self.conf_of(self.guest, step)
    }

    /// Another guest's config (read once until an action runs).
    pub fn conf_of(&self, g: GuestTag, step: &str) -> GuestResult<Option<Conf>> {
        if let Some(c) = self.confs.borrow().get(&g) {
            return Ok(c.clone());
        }
        let conf = self
            .transport
            .guest_config(g)
            .map(|t| t.map(|t| Conf::parse(&t)))
            .map_err(|e| self.err(step, e.0))?;
        self.confs.borrow_mut().insert(g, conf.clone());
        Ok(conf)
    }

    /// Whether guest `g`, whose config is `conf`, has snapshot `name`. The config's `parent`
    /// (the newest snapshot) answers for the snapshot Phoenix took last without a request;
    /// config text that lists every snapshot answers alone; else the snapshot list is read.
    pub fn has_snapshot(
        &self,
        g: GuestTag,
        conf: &Conf,
        name: &str,
        step: &str,
    ) -> GuestResult<bool> {
        if conf.snapshot(name).is_some() || conf.get("parent") == Some(name) {
            return Ok(true);
        }
        if self.transport.conf_lists_snapshots() {
            return Ok(false);
        }
        self.transport
            .snapshots(g)
            .map(|l| l.iter().any(|s| s == name))
            .map_err(|e| self.err(step, e.0))
    }

    /// The run state (`running`, `stopped`): from the dispatcher's observation while nothing
    /// changed in this job, else one status request.
    pub fn state(&self, step: &str) -> GuestResult<String> {
        if !self.changed.get() {
            if let Some(s) = self
                .observed
                .borrow()
                .as_ref()
                .and_then(|o| o.state.clone())
            {
                return Ok(s);
            }
        }
        let data = self
            .transport
            .request(&self.req(Method::Get, "/status/current"))
            .map_err(|e| self.err(step, e.0))?;
        data.get("status")
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.err(step, format!("unexpected status answer: {data}")))
    }

    pub(crate) fn mark_changed(&self) {
        self.changed.set(true);
        self.observed.replace(None);
        self.confs.borrow_mut().clear();
    }

    /// Whether an action ran in this job.
    pub fn changed(&self) -> bool {
        self.changed.get()
    }

    pub(crate) fn mark_planned(&self) {
        self.planned.set(true);
    }

    /// The closing line of `create`: converged, planned (dry run) or nothing to do.
    pub fn done_converged(&self) {
        self.done(if self.changed.get() {
            "converged"
        } else if self.planned.get() {
            "the changes above are planned; nothing was changed (dry run)"
        } else {
            "already in the desired state; nothing changed"
        });
    }

    /// Where the per-guest records are (`<marker dir>/guests`).
    pub fn records_dir(&self) -> PathBuf {
        self.ctx.env.records_dir(&self.ctx.config)
    }

    /// A guest's conf file under the Proxmox config folder: in a cluster the node's own
    /// folder (`nodes/<node>/lxc/<id>.conf`, which every node of a real cluster sees too).
    pub fn conf_file(&self, g: GuestTag) -> PathBuf {
        if self.config().hypervisor.cluster.is_some() && g.id == self.guest.id {
            let dir = match g.kind {
                Kind::Lxc => "lxc",
                Kind::Vm => "qemu-server",
            };
            return self
                .pve_dir()
                .join("nodes")
                .join(self.node())
                .join(dir)
                .join(format!("{}.conf", g.id));
        }
        crate::local::conf_path(self.pve_dir(), g)
    }

    /// The Proxmox config folder.
    pub fn pve_dir(&self) -> &Path {
        &self.ctx.env.pve_dir
    }

    fn event(&self, kind: EventKind) -> Event {
        Event::new(kind, Some(self.guest))
    }

    /// Something worth knowing that changes nothing.
    pub fn note(&self, msg: impl Into<String>) {
        self.reporter
            .emit(self.event(EventKind::Note).message(msg.into()));
    }

    /// Phases planned once an earlier one has run (`--dry-run`).
    pub fn then(&self, msg: impl Into<String>) {
        self.reporter
            .emit(self.event(EventKind::Then).message(msg.into()));
    }

    /// The verb's closing line.
    pub fn done(&self, msg: impl Into<String>) {
        self.reporter
            .emit(self.event(EventKind::Done).message(msg.into()));
    }

    /// A step found as desired, with what to say about it.
    pub fn unchanged(&self, step: &str, msg: Option<String>) {
        let mut e = self.event(EventKind::Unchanged).step(step);
        e.message = msg;
        self.reporter.emit(e);
    }

    /// Reports a failed step (once, by the manager's `main`).
    pub fn failed(&self, e: &GuestError) {
        self.reporter.emit(
            Event::new(EventKind::Failed, Some(e.guest))
                .step(e.step.clone())
                .message(e.message.clone()),
        );
    }

    /// Ends the run: the recap (a manager run alone) or nothing (under the dispatcher).
    pub fn finish(&self) {
        self.reporter.finish();
    }
}
