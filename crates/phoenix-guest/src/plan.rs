//! A plan as data: steps of actions, each with its reason and attribute diff.
//!
//! An [`Action`] is one of three kinds of work: a Proxmox API request ([`Op::Api`], the same
//! request a `pct`/`qm` call, `pvesh` or HTTPS carries), work inside a guest ([`GuestOp`]:
//! exec, file push, waiting for the agent, a health check), or work on the node itself
//! ([`NodeOp`]: files the API cannot write, such as raw `lxc.*` lines, firewall files and
//! cloud-init snippets, and host scripts). A [`Step`] groups the actions of one check
//! (`configure`, `start`): no actions means the check found the host as desired.

use std::path::PathBuf;
use std::time::Duration;

use phoenix_host::slots::Resource;
use phoenix_report::{Change, GuestTag, Kind};
use pve::api::{Method, Request};

/// Bytes to put somewhere: a file already on the node, or content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Payload {
    pub fn bytes(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Payload::File(p) => std::fs::read(p),
            Payload::Bytes(b) => Ok(b.clone()),
        }
    }
}

/// Work inside a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestOp {
    /// Runs a command; it must exit 0.
    Exec {
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
    },
    /// Writes a file (container: `pct push`; VM: through the agent).
    Push {
        data: Payload,
        dest: String,
        perms: Option<String>,
    },
    /// Waits until the QEMU guest agent answers.
    WaitAgent { timeout: Duration, poll: Duration },
    /// Runs a check until it exits 0, at most `attempts` times, `interval` apart.
    Check {
        label: String,
        argv: Vec<String>,
        attempts: u32,
        interval: Duration,
    },
}

impl GuestOp {
    /// A configured health check: its command under `sh -c`, with the attempts and interval
    /// the config resolved.
    pub fn health_check(hc: &phoenix_config::model::HealthCheck) -> GuestOp {
        GuestOp::Check {
            label: hc.label().to_string(),
            argv: vec!["sh".into(), "-c".into(), hc.command.clone()],
            attempts: hc.retries,
            interval: Duration::from_secs(hc.interval),
        }
    }
}

/// A program run on the node with the environment contract (docs/architecture.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Output goes to ours (a feature script) instead of being captured.
    pub stream: bool,
    /// How messages name it (`feature docker`, `check_nvidia.sh`).
    pub what: String,
}

/// Work on the node that no API request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOp {
    /// Replaces a file atomically (`private`: mode 0600).
    Write {
        path: PathBuf,
        data: Vec<u8>,
        private: bool,
    },
    /// Removes a file (absent is fine).
    Remove { path: PathBuf },
    /// Runs a program; it must exit 0.
    Run(NodeCommand),
    /// Downloads `url` to `dest` (through a temporary file beside it).
    Download { url: String, dest: PathBuf },
    /// Adds raw `lxc.*` lines to a container's config file (`pct set` cannot), read and
    /// rewritten when applied so that changes made just before are kept.
    RawLines {
        guest: GuestTag,
        lines: Vec<(String, String)>,
    },
    /// Removes Phoenix's own record of a guest. Records stay where Phoenix runs (not on the
    /// node), so this never goes through a transport.
    ForgetRecord { path: PathBuf },
}

/// How a [`NodeOp::ForgetRecord`] is shown, the same for every transport.
pub fn forget_text(path: &std::path::Path) -> String {
    format!("remove Phoenix's record {}", path.display())
}

/// Something that must hold when an action runs (not when it is planned: in a dry run of a
/// chain, the source is itself only planned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    pub guest: GuestTag,
    /// The guest must have this snapshot.
    pub snapshot: Option<String>,
    /// The error when it does not hold.
    pub message: String,
}

/// The guest a plan is for and the node it is on: builds its API requests. Planning functions
/// take this instead of a [`crate::Job`], so the dispatcher can plan (for `status`) without
/// a manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub guest: GuestTag,
    pub node: String,
}

impl Target {
    /// `/nodes/<node>/lxc/<id><suffix>` (or `qemu`).
    pub fn path(&self, suffix: &str) -> String {
        let kind = match self.guest.kind {
            Kind::Lxc => "lxc",
            Kind::Vm => "qemu",
        };
        format!("/nodes/{}/{kind}/{}{suffix}", self.node, self.guest.id)
    }

    pub fn req(&self, method: Method, suffix: &str) -> Request {
        Request::new(method, self.path(suffix))
    }

    /// A request on the node (`/nodes/<node><suffix>`).
    pub fn node_req(&self, method: Method, suffix: &str) -> Request {
        Request::new(method, format!("/nodes/{}{suffix}", self.node))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Api(Request),
    Guest(GuestOp),
    Node(NodeOp),
}

/// What happens after a start request: the run state is polled until `running`; a start that
/// failed or did not take is retried, `attempts` times in all, `interval` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    pub attempts: u32,
    pub interval: Duration,
}

/// What the guest's status must show before the next step, read again after the task ended:
/// for an HA-managed guest Proxmox's task (`hastop`, `hamigrate`) only hands the work over to
/// the HA manager, which does it later; for any guest the cluster, not the task, is the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// `status/current` says `stopped`.
    Stopped,
    /// The guest answers on this node (`status/current` there).
    OnNode(String),
}

/// One action and why it is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The step its failure names (`clone`, `configure`, `feature docker`).
    pub step: String,
    /// Why (`memory differs from the config`, `not running`).
    pub reason: String,
    /// The attribute differences it removes.
    pub changes: Vec<Change>,
    pub op: Op,
    /// Slots held around the call (`phoenix_host::slots`).
    pub slots: Vec<Resource>,
    /// Poll until running, retrying (starts).
    pub settle: Option<Settle>,
    /// Poll until the status shows it (stops, migrations).
    pub confirm: Option<Confirm>,
    /// Run instead when `op` fails (a graceful shutdown falls back to a stop).
    pub fallback: Option<Op>,
    /// Runs even when an earlier action of its step failed (clean-up).
    pub finally: bool,
    /// Worth a progress line on a terminal (clones, creates, scripts).
    pub long: bool,
    /// Checked right before it runs.
    pub requires: Vec<Require>,
}

impl Action {
    pub fn new(step: impl Into<String>, reason: impl Into<String>, op: Op) -> Action {
        Action {
            step: step.into(),
            reason: reason.into(),
            changes: Vec::new(),
            op,
            slots: Vec::new(),
            settle: None,
            confirm: None,
            fallback: None,
            finally: false,
            long: false,
            requires: Vec::new(),
        }
    }

    pub fn api(step: impl Into<String>, reason: impl Into<String>, req: Request) -> Action {
        Action::new(step, reason, Op::Api(req))
    }

    pub fn guest(step: impl Into<String>, reason: impl Into<String>, op: GuestOp) -> Action {
        Action::new(step, reason, Op::Guest(op))
    }

    pub fn node(step: impl Into<String>, reason: impl Into<String>, op: NodeOp) -> Action {
        Action::new(step, reason, Op::Node(op))
    }

    pub fn changes(mut self, c: Vec<Change>) -> Action {
        self.changes = c;
        self
    }

    pub fn slots(mut self, s: Vec<Resource>) -> Action {
        self.slots = s;
        self
    }

    pub fn long(mut self) -> Action {
        self.long = true;
        self
    }

    pub fn finally(mut self) -> Action {
        self.finally = true;
        self
    }

    pub fn settle(mut self, s: Settle) -> Action {
        self.settle = Some(s);
        self
    }

    pub fn confirm(mut self, c: Confirm) -> Action {
        self.confirm = Some(c);
        self
    }

    pub fn requires(mut self, r: Require) -> Action {
        self.requires.push(r);
        self
    }

    pub fn fallback(mut self, op: Op) -> Action {
        self.fallback = Some(op);
        self
    }
}

/// One check and the actions that make it hold. `refusal`: the config cannot be applied (a
/// disk shrink); the step fails in plan and apply alike.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    pub name: String,
    pub actions: Vec<Action>,
    pub refusal: Option<String>,
    /// Said when the step has nothing to do (`already running`).
    pub unchanged: Option<String>,
}

impl Step {
    pub fn new(name: impl Into<String>) -> Step {
        Step {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn with(mut self, a: Action) -> Step {
        self.actions.push(a);
        self
    }

    pub fn push(&mut self, a: Action) {
        self.actions.push(a);
    }

    pub fn refuse(mut self, why: impl Into<String>) -> Step {
        self.refusal = Some(why.into());
        self
    }

    pub fn unchanged(mut self, msg: impl Into<String>) -> Step {
        self.unchanged = Some(msg.into());
        self
    }

    pub fn is_noop(&self) -> bool {
        self.actions.is_empty() && self.refusal.is_none()
    }

    /// Every attribute difference of the step (what `status` calls drift).
    pub fn drift(&self) -> Vec<Change> {
        self.actions
            .iter()
            .flat_map(|a| a.changes.iter().cloned())
            .collect()
    }
}
