//! The executor: the only place that decides whether a plan runs. Under `--dry-run` every
//! action of a step is reported as planned and nothing runs (no script, no write); otherwise
//! the actions run in order through the transport, each reported as changed, the first
//! failure ending the step (clean-up actions marked `finally` still run).

use std::time::{Duration, Instant};

use phoenix_host::slots::Resource;
use phoenix_report::{Event, EventKind};
use pve::api::Method;

use crate::error::{GuestError, GuestResult, TransportError};
use crate::job::Job;
use crate::plan::{Action, Confirm, GuestOp, NodeOp, Op, Settle, Step, Target};
use crate::transport::ExecOutput;

/// What [`Job::apply`] did with a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing to do.
    Unchanged,
    /// Its actions ran.
    Changed,
    /// `--dry-run`: its actions were reported, not run; later phases cannot be planned.
    Planned,
}

/// How often a settle polls the run state.
const POLL: Duration = Duration::from_millis(200);

/// `` `<cmd>` failed in the guest (exit N): <last lines of stderr, else stdout> ``.
pub fn failure_text(argv: &[String], out: &ExecOutput) -> String {
    let shown = argv.iter().take(4).cloned().collect::<Vec<_>>().join(" ");
    let detail = if out.stderr.trim().is_empty() {
        out.stdout.trim()
    } else {
        out.stderr.trim()
    };
    let tail: Vec<&str> = detail.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let code = if out.code < 0 {
        "without an exit code".to_string()
    } else {
        format!("exit {}", out.code)
    };
    if tail.is_empty() {
        format!("`{shown}` failed in the guest ({code})")
    } else {
        format!(
            "`{shown}` failed in the guest ({code}): {}",
            tail.join("\n  ")
        )
    }
}

impl Job<'_> {
    /// Runs (or, under `--dry-run`, reports) one step.
    pub fn apply(&self, step: Step) -> GuestResult<Applied> {
        if let Some(why) = &step.refusal {
            return Err(self.err(&step.name, why.clone()));
        }
        if step.actions.is_empty() {
            self.unchanged(&step.name, step.unchanged.clone());
            return Ok(Applied::Unchanged);
        }
        if self.planning() {
            self.mark_planned();
            for a in &step.actions {
                self.reporter.emit(self.action_event(EventKind::Planned, a));
            }
            return Ok(Applied::Planned);
        }
        let mut first: Option<GuestError> = None;
        for a in &step.actions {
            if first.is_some() && !a.finally {
                continue;
            }
            let started = Instant::now();
            if a.long {
                self.reporter.emit(self.action_event(EventKind::Started, a));
            }
            self.mark_changed();
            match self.run_action(a) {
                Ok(()) => self.reporter.emit(
                    self.action_event(EventKind::Changed, a)
                        .elapsed(started.elapsed()),
                ),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(Applied::Changed),
        }
    }

    fn action_event(&self, kind: EventKind, a: &Action) -> Event {
        Event::new(kind, Some(self.guest))
            .step(a.step.clone())
            .message(a.reason.clone())
            .action(self.transport.show(self.guest, &a.op))
            .changes(a.changes.clone())
    }

    /// The slots of an action, with a cluster's: a local storage is one per node, and a
    /// long call on a node with `max_jobs` holds one of that node's slots.
    fn slots_of(&self, a: &Action) -> Vec<Resource> {
        let Some(c) = self.config().hypervisor.cluster.as_ref() else {
            return a.slots.clone();
        };
        let node = match &a.op {
            Op::Api(r) => r
                .path
                .strip_prefix("/nodes/")
                .and_then(|p| p.split('/').next())
                .map(str::to_string),
            _ => None,
        }
        .unwrap_or_else(|| self.node());
        let mut out: Vec<Resource> = a
            .slots
            .iter()
            .map(|r| match r {
                Resource::Storage(s) if !c.storages.get(s).is_some_and(|x| x.shared) => {
                    Resource::Storage(format!("{node}/{s}"))
                }
                other => other.clone(),
            })
            .collect();
        if a.long {
            if let Some(cap) = c.node(&node).and_then(|n| n.max_jobs) {
                out.push(Resource::Node(node, cap));
            }
        }
        out
    }

    fn run_action(&self, a: &Action) -> GuestResult<()> {
        let slots = self.slots_of(a);
        let _slots = if slots.is_empty() {
            None
        } else {
            Some(self.ctx.hold(&slots).map_err(|e| self.err(&a.step, e))?)
        };
        for r in &a.requires {
            let conf = self.conf_of(r.guest, &a.step)?;
            let ok = match (&conf, &r.snapshot) {
                (None, _) => false,
                (Some(c), Some(s)) => self.has_snapshot(r.guest, c, s, &a.step)?,
                (Some(_), None) => true,
            };
            if !ok {
                return Err(self.err(&a.step, r.message.clone()));
            }
        }
        if let Some(s) = a.settle {
            return self.settle(a, s);
        }
        match self.run_op(&a.step, &a.op) {
            Ok(()) => Ok(()),
            Err(e) => match &a.fallback {
                Some(f) => {
                    log::warn!(
                        "{} {}: {} ({}); falling back",
                        self.guest,
                        a.step,
                        e.message,
                        a.reason
                    );
                    self.run_op(&a.step, f)
                }
                None => Err(e),
            },
        }?;
        match &a.confirm {
            Some(c) => self.confirm(&a.step, c),
            None => Ok(()),
        }
    }

    /// Reads the guest's status until it shows `c`, at most `orchestration.settle_timeout_secs`.
    fn confirm(&self, step: &str, c: &Confirm) -> GuestResult<()> {
        let timeout = self.config().hypervisor.orchestration.settle_timeout();
        let end = Instant::now() + timeout;
        let (target, what) = match c {
            Confirm::Stopped => (self.target(), "stopped".to_string()),
            Confirm::OnNode(n) => (
                Target {
                    guest: self.guest,
                    node: n.clone(),
                },
                format!("on node '{n}'"),
            ),
        };
        loop {
            let last = match self
                .transport
                .request(&target.req(Method::Get, "/status/current"))
            {
                Ok(data) => {
                    let status = data.get("status").and_then(|v| v.as_str()).unwrap_or("");
                    match c {
                        Confirm::Stopped if status == "stopped" => return Ok(()),
                        Confirm::OnNode(_) => return Ok(()),
                        Confirm::Stopped => format!("status {status}{}", ha_note(&data)),
                    }
                }
                // A stop is read where the guest is: an error there is the answer. A guest
                // being moved does not exist on its target until it arrives.
                Err(e) if *c == Confirm::Stopped => return Err(self.err(step, e.0)),
                Err(e) => e.0,
            };
            if Instant::now() >= end {
                return Err(self.err(
                    step,
                    format!(
                        "the task ended, but the guest is not {what} after {}s (orchestration.settle_timeout_secs): {last}",
                        timeout.as_secs()
                    ),
                ));
            }
            std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
        }
    }

    /// Runs one operation through the transport; `step` names its failure.
    pub fn run_op(&self, step: &str, op: &Op) -> GuestResult<()> {
        let t = &self.transport;
        let fail = |e: TransportError| self.err(step, e.0);
        match op {
            Op::Api(req) => t.request(req).map(|_| ()).map_err(fail),
            Op::Guest(GuestOp::Exec { argv, stdin }) => {
                let out = t
                    .guest_exec(self.guest, argv, stdin.as_deref())
                    .map_err(fail)?;
                if out.success() {
                    if !out.stdout.trim().is_empty() {
                        self.reporter.line(out.stdout.trim_end());
                    }
                    Ok(())
                } else {
                    Err(self.err(step, failure_text(argv, &out)))
                }
            }
            Op::Guest(GuestOp::Push { data, dest, perms }) => t
                .guest_push(self.guest, data, dest, perms.as_deref())
                .map_err(fail),
            Op::Guest(GuestOp::WaitAgent { timeout, poll }) => {
                self.wait_agent(step, *timeout, *poll)
            }
            Op::Guest(GuestOp::Check {
                label,
                argv,
                attempts,
                interval,
            }) => self.check(step, label, argv, *attempts, *interval),
            Op::Node(NodeOp::Write {
                path,
                data,
                private,
            }) => t.node_write(path, data, *private).map_err(fail),
            Op::Node(NodeOp::Remove { path }) => t.node_remove(path).map(|_| ()).map_err(fail),
            Op::Node(NodeOp::Run(c)) => {
                let out = t.node_run(c).map_err(fail)?;
                if out.success() {
                    return Ok(());
                }
                let text = format!("{}{}", out.stdout, out.stderr);
                let text = text.trim();
                Err(self.err(
                    step,
                    if text.is_empty() {
                        format!("{} failed (exit {})", c.what, out.code)
                    } else {
                        format!("{} failed (exit {}): {text}", c.what, out.code)
                    },
                ))
            }
            Op::Node(NodeOp::Download { url, dest }) => {
                let label = format!("{} {}", self.guest.kind.short(), self.guest.id);
                t.node_download(url, dest, &label).map_err(fail)
            }
            Op::Node(NodeOp::RawLines { guest, lines }) => {
                // The file itself, whatever the transport: the API has no call for raw lines,
                // and the file holds what its answers leave out (snapshot sections).
                let path = self.conf_file(*guest);
                let text = t
                    .node_read(&path)
                    .map_err(fail)?
                    .ok_or_else(|| self.err(step, "the config file disappeared"))?;
                let mut conf = pve::Conf::parse(&String::from_utf8_lossy(&text));
                if crate::raw::apply(&mut conf, lines).is_empty() {
                    return Ok(());
                }
                t.node_write(&path, conf.to_string().as_bytes(), false)
                    .map_err(fail)
            }
            Op::Node(NodeOp::ForgetRecord { path }) => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.err(step, format!("cannot remove {}: {e}", path.display()))),
            },
        }
    }

    /// The health-check loop of both managers: `argv` until it exits 0, `attempts` times.
    fn check(
        &self,
        step: &str,
        label: &str,
        argv: &[String],
        attempts: u32,
        interval: Duration,
    ) -> GuestResult<()> {
        let attempts = attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let out = self
                .transport
                .guest_exec(self.guest, argv, None)
                .map_err(|e| self.err(step, e.0))?;
            if out.success() {
                self.note(format!(
                    "health check {label} passed (attempt {attempt}/{attempts})"
                ));
                return Ok(());
            }
            last = failure_text(argv, &out);
            if attempt < attempts {
                std::thread::sleep(interval);
            }
        }
        Err(self.err(step, format!("'{label}': {last} after {attempts} attempts")))
    }

    fn wait_agent(&self, step: &str, timeout: Duration, poll: Duration) -> GuestResult<()> {
        let start = Instant::now();
        loop {
            let last = match self.transport.agent_ping(self.guest) {
                Ok(()) => return Ok(()),
                Err(e) => e.0,
            };
            if start.elapsed() >= timeout {
                return Err(self.err(
                    step,
                    format!(
                        "no answer to 'qm guest cmd {} ping' after {}s (guest_agent_timeout_secs {}); last error: {}",
                        self.guest.id,
                        start.elapsed().as_secs(),
                        timeout.as_secs(),
                        last.trim()
                    ),
                ));
            }
            std::thread::sleep(poll);
        }
    }

    /// A start: polled until running; a failed or untaken start is retried after waiting on
    /// the status for `interval` (never a fixed sleep).
    fn settle(&self, a: &Action, s: Settle) -> GuestResult<()> {
        let attempts = s.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.run_op(&a.step, &a.op) {
                Ok(()) => {
                    if self.wait_running(&a.step, s.interval)? {
                        return Ok(());
                    }
                    last = format!(
                        "still not running {}s after the start",
                        s.interval.as_secs()
                    );
                }
                Err(e) => last = e.message,
            }
            if attempt < attempts {
                self.note(format!(
                    "start attempt {attempt}/{attempts} failed ({last}); waiting for the status"
                ));
                if self.wait_running(&a.step, s.interval)? {
                    return Ok(());
                }
            }
        }
        Err(self.err(
            &a.step,
            format!("not running after {attempts} attempts: {last}"),
        ))
    }

    fn wait_running(&self, step: &str, timeout: Duration) -> GuestResult<bool> {
        let begun = Instant::now();
        let mut end = begun + timeout;
        loop {
            let data = self
                .transport
                .request(&self.req(Method::Get, "/status/current"))
                .map_err(|e| self.err(step, e.0))?;
            if data.get("status").and_then(|v| v.as_str()) == Some("running") {
                return Ok(true);
            }
            if ha_managed(&data) {
                // The start was handed to the HA manager (`hastart`): it starts the guest
                // when its turn comes, and retries on its own (`max_restart`).
                end = end.max(begun + self.config().hypervisor.orchestration.settle_timeout());
            }
            if Instant::now() >= end {
                return Ok(false);
            }
            std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
        }
    }
}

/// Whether `status/current` marks the guest HA-managed (its `ha` object).
fn ha_managed(status: &serde_json::Value) -> bool {
    status
        .get("ha")
        .and_then(|h| h.get("managed"))
        .and_then(|m| m.as_u64())
        == Some(1)
}

/// `; HA state <s>` for an HA-managed guest's status.
fn ha_note(status: &serde_json::Value) -> String {
    match status
        .get("ha")
        .and_then(|h| h.get("state"))
        .and_then(|s| s.as_str())
    {
        Some(s) if ha_managed(status) => format!("; HA state {s}"),
        _ => String::new(),
    }
}
