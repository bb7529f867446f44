//! Executes a [`Plan`]: one manager process per step, at most `jobs` at once, a step starting
//! when everything it needs has finished. (What Proxmox serialises itself — clones of one
//! source, allocations per storage — the managers wait for around that one call; see
//! `phoenix_host::slots`.) On the first failure no new
//! step starts and the running ones finish (but the set-up of one cluster node failing does
//! not stop the other nodes': a step with a `node` is independent). SIGINT/SIGTERM do the same and are forwarded to the
//! running managers (each in its own process group). The executor never decides what to print
//! about the run as a whole: it returns a [`Report`] for the summary.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use phoenix_config::{Config, GuestId, GuestKind};
use phoenix_host::{exit, HostEnv};
use phoenix_report::{Event, EventKind, GuestTag, Kind, Reporter};

use crate::plan::{Action, Plan, Step};

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Skipped(String),
    Failed(i32),
    /// Started, then stopped by a signal forwarded from us.
    Interrupted,
    NotStarted,
}

/// What happened to every step.
#[derive(Debug, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// The signal that stopped the run, if any.
    pub signal: Option<i32>,
    /// The first failing step and its exit code.
    pub first_failure: Option<(usize, i32)>,
    /// Cluster nodes that stopped answering, with the guests whose step failed there.
    pub unreachable: BTreeMap<String, Vec<GuestId>>,
    pub elapsed: Duration,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        match (self.signal, self.first_failure) {
            (Some(libc::SIGINT), _) => exit::INTERRUPTED,
            (Some(_), _) => exit::TERMINATED,
            (None, Some((_, code))) => code,
            (None, None) if !self.unreachable.is_empty() => exit::FAILURE,
            (None, None) => exit::SUCCESS,
        }
    }
}

/// Everything a worker needs to start a manager.
pub struct Executor<'a> {
    pub env: &'a HostEnv,
    pub cfg: &'a Config,
    pub jobs: usize,
    pub verbose: u8,
    /// `converge`: managers re-apply features and scripts even when their records match.
    pub converge: bool,
    /// Set by the signal handler: the signal number, or 0.
    pub signal: Arc<AtomicI32>,
    /// Renders every manager's events and counts them for the recap.
    pub reporter: Arc<Reporter>,
    /// `-q`, passed on to managers.
    pub quiet: bool,
    /// The bulk observation handed to managers (`phoenix_guest::observe`), if any.
    pub observed: Option<PathBuf>,
    /// Guests an earlier manager call of this run changed: the observation no longer holds
    /// for them.
    pub changed: Arc<Mutex<std::collections::BTreeSet<u64>>>,
    /// In a cluster: the node of a guest whose step failed, when that node does not answer
    /// (asked of the cluster after the failure). Such a failure stops only what needs that
    /// guest; guests on other nodes go on.
    pub unreachable: Option<&'a dyn Fn(GuestId) -> Option<String>>,
}

impl Executor<'_> {
    pub fn run(&self, plan: &Plan) -> Report {
        let start = Instant::now();
        let n = plan.steps.len();
        // One at a time, the order cannot change the wall time: keep the plan's, which people
        // read in `--dry-run`.
        let order: Vec<usize> = if self.jobs > 1 {
            priority_order(plan)
        } else {
            (0..n).collect()
        };
        let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
        let mut started = vec![false; n];
        let children: Arc<Mutex<BTreeMap<usize, u32>>> = Arc::default();
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        let mut running = 0usize;
        let mut stop = false;
        let mut report = Report::default();
        let mut forwarded = false;
        let prefix = self.jobs > 1;
        // Steps that failed because their node stopped answering, and those guests: a barrier
        // does not wait for them, and their later steps are skipped.
        let mut lost_step = vec![false; n];
        let mut lost_guests = std::collections::BTreeSet::new();
        loop {
            let sig = self.signal.load(Ordering::SeqCst);
            if sig != 0 {
                stop = true;
                report.signal = Some(sig);
                if !forwarded {
                    forwarded = true;
                    forward(&children, sig);
                }
            }
            // Barriers and skips complete at once; then start what is ready, longest chain first.
            let mut progressed = true;
            while progressed && !stop {
                progressed = false;
                for &i in &order {
                    if started[i]
                        || running >= self.jobs && matches!(plan.steps[i].action, Action::Run)
                    {
                        continue;
                    }
                    let step = &plan.steps[i];
                    let past_lost = step.action == Action::Barrier
                        && step.needs.iter().all(|&d| {
                            lost_step[d]
                                || matches!(
                                    outcomes[d],
                                    Some(Outcome::Done) | Some(Outcome::Skipped(_))
                                )
                        });
                    if !ready(step, &outcomes) && !past_lost {
                        continue;
                    }
                    started[i] = true;
                    progressed = true;
                    if step.id.is_some_and(|id| lost_guests.contains(&id)) {
                        let why = "its node does not answer".to_string();
                        outcomes[i] = Some(Outcome::Skipped(why));
                        continue;
                    }
                    match &step.action {
                        Action::Barrier => outcomes[i] = Some(Outcome::Done),
                        Action::Skip(why) => {
                            self.reporter.emit(
                                Event::new(EventKind::Skipped, guest_tag(step))
                                    .message(why.clone()),
                            );
                            outcomes[i] = Some(Outcome::Skipped(why.clone()));
                        }
                        Action::Run => {
                            running += 1;
                            self.spawn(i, step, prefix, tx.clone(), children.clone());
                        }
                    }
                }
            }
            if running == 0 {
                break;
            }
            if let Ok((i, outcome)) = rx.recv_timeout(Duration::from_millis(50)) {
                running -= 1;
                let lost = match (&outcome, self.unreachable, plan.steps[i].id) {
                    (Outcome::Failed(_), Some(f), Some(id)) => f(id).map(|n| (n, id)),
                    _ => None,
                };
                if let Some((node, id)) = lost {
                    self.reporter.line(&format!(
                        "Error: {} {} failed: node '{node}' does not answer; guests on other nodes go on",
                        guest_word(&plan.steps[i]),
                        plan.steps[i].verb
                    ));
                    report.unreachable.entry(node).or_default().push(id);
                    lost_step[i] = true;
                    lost_guests.insert(id);
                } else if let (Outcome::Failed(code), Some(node)) = (&outcome, &plan.steps[i].node)
                {
                    // Nodes are set up independently: the others go on.
                    self.reporter.line(&format!(
                        "Error: host {node} {} failed with exit code {code}; other nodes go on",
                        plan.steps[i].verb
                    ));
                    if report.first_failure.is_none() && report.signal.is_none() {
                        report.first_failure = Some((i, *code));
                    }
                } else if let Outcome::Failed(code) = outcome {
                    if report.first_failure.is_none() && report.signal.is_none() {
                        report.first_failure = Some((i, code));
                        self.reporter.line(&format!(
                            "Error: {} {} failed with exit code {code}; not starting further guests",
                            guest_word(&plan.steps[i]),
                            plan.steps[i].verb
                        ));
                    }
                    stop = true;
                }
                outcomes[i] = Some(outcome);
            }
        }
        report.outcomes = outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::NotStarted))
            .collect();
        report.elapsed = start.elapsed();
        report
    }

    fn spawn(
        &self,
        i: usize,
        step: &Step,
        prefix: bool,
        tx: mpsc::Sender<(usize, Outcome)>,
        children: Arc<Mutex<BTreeMap<usize, u32>>>,
    ) {
        let mut cmd = match manager_command(step.manager) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Error: {e}");
                let _ = tx.send((i, Outcome::Failed(exit::FAILURE)));
                return;
            }
        };
        cmd.arg(step.verb);
        if let Some(id) = step.id {
            cmd.arg(id.to_string());
        }
        cmd.args(&step.extra);
        if let Some(n) = &step.node {
            cmd.arg("--node").arg(n);
        }
        cmd.arg("--config").arg(absolute(&self.env.config));
        if self.env.dry_run {
            cmd.arg("--dry-run");
        }
        for _ in 0..self.verbose {
            cmd.arg("-v");
        }
        if self.quiet {
            cmd.arg("-q");
        }
        if let (Some(obs), Some(id)) = (&self.observed, step.id) {
            let stale = self
                .changed
                .lock()
                .map(|c| c.contains(&id.0))
                .unwrap_or(true);
            if !stale {
                cmd.env(phoenix_guest::observe::OBSERVED_ENV, obs);
            }
        }
        self.env.apply(&mut cmd, Some(self.cfg));
        cmd.env(phoenix_host::lock::HELD_ENV, std::process::id().to_string());
        if self.converge {
            cmd.env("PHOENIX_CONVERGE", "1");
        }
        cmd.process_group(0);
        cmd.stdin(Stdio::null());
        if prefix {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let tag = match (step.id, &step.node) {
            (Some(id), _) => id.to_string(),
            (None, Some(n)) => format!("host {n}"),
            (None, None) => "host".into(),
        };
        let node = step.node.clone();
        let delay = if self.env.dry_run {
            Duration::ZERO
        } else {
            step.delay_after
        };
        let signal = self.signal.clone();
        let label = step.label();
        let guest = guest_tag(step);
        let mut begin = Event::new(EventKind::Begin, guest).message(label.clone());
        begin.node = step.node.clone();
        self.reporter.emit(begin);
        let events = match EventPipe::attach(&mut cmd) {
            Ok(p) => p,
            Err(e) => {
                self.reporter
                    .line(&format!("Error: cannot create the event pipe: {e}"));
                let _ = tx.send((i, Outcome::Failed(exit::FAILURE)));
                return;
            }
        };
        let reporter = self.reporter.clone();
        let changed = self.changed.clone();
        std::thread::spawn(move || {
            let (outcome, heard) = events.run(&reporter, &changed, || {
                run_child(i, cmd, prefix, &tag, &children, &signal)
            });
            match (heard, &node) {
                (true, _) => {}
                (false, Some(n)) => reporter.count_silent_node(n, outcome == Outcome::Done),
                (false, None) => reporter.count_silent_call(guest, outcome == Outcome::Done),
            }
            if outcome == Outcome::Done && !delay.is_zero() {
                log::info!("{label}: waiting boot_delay {}s", delay.as_secs());
                sleep_unless_signalled(delay, &signal);
            }
            let _ = tx.send((i, outcome));
        });
    }
}

fn run_child(
    i: usize,
    mut cmd: Command,
    prefix: bool,
    tag: &str,
    children: &Mutex<BTreeMap<usize, u32>>,
    signal: &AtomicI32,
) -> Outcome {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[{tag}] Error: cannot start manager: {e}");
            return Outcome::Failed(exit::FAILURE);
        }
    };
    if let Ok(mut c) = children.lock() {
        c.insert(i, child.id());
    }
    let mut pumps = Vec::new();
    if prefix {
        if let Some(out) = child.stdout.take() {
            let t = tag.to_string();
            pumps.push(std::thread::spawn(move || pump(out, &t, false)));
        }
        if let Some(err) = child.stderr.take() {
            let t = tag.to_string();
            pumps.push(std::thread::spawn(move || pump(err, &t, true)));
        }
    }
    let pgid = child.id();
    let status = child.wait();
    wait_for_group(pgid);
    for p in pumps {
        let _ = p.join();
    }
    if let Ok(mut c) = children.lock() {
        c.remove(&i);
    }
    match status {
        Ok(s) if s.success() => Outcome::Done,
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            if signal.load(Ordering::SeqCst) != 0 {
                Outcome::Interrupted
            } else if let Some(sig) = s.signal() {
                // Killed by a signal we did not forward (a crash, the OOM killer, kill -9):
                // a failure, never a silent "interrupted" in a run that exits 0.
                eprintln!("[{tag}] Error: manager killed by signal {sig}");
                Outcome::Failed(exit::FAILURE)
            } else {
                Outcome::Failed(s.code().unwrap_or(exit::FAILURE))
            }
        }
        Err(_) => Outcome::Failed(exit::FAILURE),
    }
}

/// Waits until no process of a manager's process group is left: after a forwarded signal the
/// manager may exit while a `pct`/`qm` it started is still undoing its work (a clone removing
/// its `lock: disk`), and the run must not end, nor a re-run start, before that. Bounded, so a
/// daemon a script left behind cannot hang the run.
fn wait_for_group(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // SAFETY: signal 0 only asks whether any process of the group exists.
    while unsafe { libc::kill(-pgid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Copies a child's output line by line with its guest ID in front, so parallel output never
/// interleaves within a line.
fn pump(r: impl std::io::Read, tag: &str, to_stderr: bool) {
    for line in BufReader::new(r).lines().map_while(Result::ok) {
        if to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "[{tag}] {line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "[{tag}] {line}");
        }
    }
}

fn sleep_unless_signalled(d: Duration, signal: &AtomicI32) {
    let end = Instant::now() + d;
    while Instant::now() < end && signal.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(
            Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
        );
    }
}

fn forward(children: &Mutex<BTreeMap<usize, u32>>, sig: i32) {
    if let Ok(c) = children.lock() {
        for &pid in c.values() {
            // SAFETY: sending a signal to the process group we created for the child.
            unsafe { libc::kill(-(pid as i32), sig) };
        }
    }
}

/// The order in which ready steps are started: the longest chain of manager calls still to
/// come after a step first (its "bottom level"), then plan order. Starting the heads of long
/// chains early is what brings a wide graph's wall time near its critical path; a plan-order
/// executor would fill its jobs with short branches while the long chain waits. Barriers end a
/// phase (every create before any start), so chains are measured within a phase.
pub fn priority_order(plan: &Plan) -> Vec<usize> {
    let n = plan.steps.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in plan.steps.iter().enumerate() {
        for &p in &s.needs {
            if plan.steps[i].action != Action::Barrier {
                children[p].push(i);
            }
        }
    }
    // Needs always point to earlier steps, so one backward pass sees children first.
    let mut level = vec![0usize; n];
    for i in (0..n).rev() {
        let own = usize::from(plan.steps[i].action == Action::Run);
        level[i] = own + children[i].iter().map(|&c| level[c]).max().unwrap_or(0);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(level[i]), i));
    order
}

fn ready(step: &Step, outcomes: &[Option<Outcome>]) -> bool {
    step.needs
        .iter()
        .all(|&n| matches!(outcomes[n], Some(Outcome::Done) | Some(Outcome::Skipped(_))))
}

/// The guest a step works on, for events.
pub fn guest_tag(step: &Step) -> Option<GuestTag> {
    let id = step.id?;
    Some(GuestTag {
        id: id.0,
        kind: if step.manager == GuestKind::Vm.manager() {
            Kind::Vm
        } else {
            Kind::Lxc
        },
    })
}

/// The pipe a manager forwards its events on (`phoenix_report::EVENTS_FD`): its write end is
/// the child's descriptor 3, its read end is read here while the manager runs.
struct EventPipe {
    read: std::fs::File,
    write: Option<std::os::fd::OwnedFd>,
}

/// The descriptor number managers find their event pipe on.
const EVENTS_CHILD_FD: i32 = 3;

impl EventPipe {
    fn attach(cmd: &mut Command) -> std::io::Result<EventPipe> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 fills two new descriptors, both close-on-exec.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let w = write.as_raw_fd();
        // SAFETY: dup2 in the child between fork and exec only duplicates a descriptor; the
        // copy on 3 is not close-on-exec, so the manager inherits it.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(w, EVENTS_CHILD_FD) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.env(phoenix_report::EVENTS_FD, EVENTS_CHILD_FD.to_string());
        Ok(EventPipe {
            read: std::fs::File::from(read),
            write: Some(write),
        })
    }

    /// Runs the manager (`run` spawns and waits) while its events are read; whether it sent any.
    fn run(
        mut self,
        reporter: &Arc<Reporter>,
        changed: &Arc<Mutex<std::collections::BTreeSet<u64>>>,
        run: impl FnOnce() -> Outcome,
    ) -> (Outcome, bool) {
        let read = self.read;
        let reporter2 = reporter.clone();
        let changed = changed.clone();
        let reader = std::thread::spawn(move || {
            let mut heard = false;
            for line in BufReader::new(read).lines().map_while(Result::ok) {
                if let Ok(e) = serde_json::from_str::<Event>(&line) {
                    if e.event == EventKind::Changed {
                        if let (Some(g), Ok(mut c)) = (e.guest, changed.lock()) {
                            c.insert(g.id);
                        }
                    }
                    heard = true;
                    reporter2.emit(e);
                }
            }
            heard
        });
        // The child got its copy when it was spawned; ours must go for the reader to see EOF.
        let outcome = {
            let o = run();
            self.write.take();
            o
        };
        let heard = reader.join().unwrap_or(false);
        (outcome, heard)
    }
}

pub fn guest_word(step: &Step) -> String {
    match step.id {
        Some(id) => format!(
            "{} {id}",
            if step.manager == "vm-manager" {
                "VM"
            } else {
                "container"
            }
        ),
        None => "host".to_string(),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Finds a manager: `PHOENIX_MANAGER_DIR`, beside `phoenix` (or in `managers/` beside it, the
/// installed layout), else on `PATH`.
pub fn find_manager(name: &str) -> Result<PathBuf, String> {
    let mut looked = Vec::new();
    if let Some(dir) = std::env::var_os("PHOENIX_MANAGER_DIR").filter(|d| !d.is_empty()) {
        let p = PathBuf::from(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
        looked.push(p.display().to_string());
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::parent)
    {
        for p in [dir.join(name), dir.join("managers").join(name)] {
            if p.is_file() {
                return Ok(p);
            }
            looked.push(p.display().to_string());
        }
    }
    which::which(name).map_err(|_| {
        format!(
            "cannot find {name} (looked at {} and on PATH)",
            looked.join(", ")
        )
    })
}

fn manager_command(name: &str) -> Result<Command, String> {
    find_manager(name).map(Command::new)
}

/// Each guest once, under the most severe outcome of its steps (a `LetsGo` guest has a create
/// and a start step), so the summary's numbers add up to the number of guests.
pub fn by_outcome(plan: &Plan, report: &Report) -> BTreeMap<&'static str, Vec<GuestId>> {
    fn rank(o: &Outcome) -> (u8, &'static str) {
        match o {
            Outcome::Failed(_) => (5, "failed"),
            Outcome::Interrupted => (4, "interrupted"),
            Outcome::NotStarted => (3, "not started"),
            Outcome::Done => (2, "completed"),
            Outcome::Skipped(_) => (1, "skipped"),
        }
    }
    let mut worst: BTreeMap<GuestId, (u8, &'static str)> = BTreeMap::new();
    let mut order = Vec::new();
    for (s, o) in plan.steps.iter().zip(&report.outcomes) {
        let (Some(id), false) = (s.id, s.action == Action::Barrier) else {
            continue;
        };
        let r = rank(o);
        match worst.get_mut(&id) {
            Some(w) if w.0 >= r.0 => {}
            Some(w) => *w = r,
            None => {
                worst.insert(id, r);
                order.push(id);
            }
        }
    }
    let mut m: BTreeMap<&'static str, Vec<GuestId>> = BTreeMap::new();
    for id in order {
        m.entry(worst[&id].1).or_default().push(id);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: Action, needs: Vec<usize>) -> Step {
        Step {
            id: None,
            manager: "lxc-manager",
            verb: "create",
            extra: Vec::new(),
            action,
            needs,
            delay_after: Duration::ZERO,
            node: None,
        }
    }

    #[test]
    fn the_head_of_the_longest_chain_starts_first_within_a_phase() {
        use Action::{Barrier, Run};
        let plan = Plan {
            steps: vec![
                step(Run, vec![]),  // 0: alone
                step(Run, vec![]),  // 1: alone
                step(Run, vec![]),  // 2: head of a chain of three
                step(Run, vec![2]), // 3
                step(Run, vec![3]), // 4
                step(Barrier, (0..5).collect()),
                step(Run, vec![5]), // starts after the barrier
                step(Run, vec![5]),
            ],
        };
        // The barrier's followers do not lengthen the creates' chains: 0 and 1 stay behind 3.
        assert_eq!(priority_order(&plan), vec![2, 3, 0, 1, 4, 5, 6, 7]);
    }
}
