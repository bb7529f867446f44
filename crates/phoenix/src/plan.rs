//! The plan: which manager calls a verb makes, in which order, and which may run together.
//! It is plain data computed from the config and one read of the host; `--dry-run` prints it and
//! the executor runs exactly it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use phoenix_config::{Config, GuestId, GuestKind, OrderError};

use crate::host::HostState;

/// Why a step exists or is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run,
    Skip(String),
    /// A synchronisation point between phases or boot-order groups; runs nothing.
    Barrier,
}

/// One manager call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `None` for host steps (`hypervisor-manager`) and barriers.
    pub id: Option<GuestId>,
    pub manager: &'static str,
    pub verb: &'static str,
    /// Options passed after `<verb> <id>`.
    pub extra: Vec<String>,
    pub action: Action,
    /// Indices of steps that must finish first.
    pub needs: Vec<usize>,
    /// Wait this long after the step succeeds before dependents start (boot delays).
    pub delay_after: Duration,
    /// The cluster node a host step works on (`setup --node NAME`); such steps are
    /// independent: one failing does not stop the others.
    pub node: Option<String>,
}

impl Step {
    fn guest(id: GuestId, kind: GuestKind, verb: &'static str, action: Action) -> Step {
        Step {
            id: Some(id),
            manager: kind.manager(),
            verb,
            extra: Vec::new(),
            action,
            needs: Vec::new(),
            delay_after: Duration::ZERO,
            node: None,
        }
    }

    fn barrier(needs: Vec<usize>) -> Step {
        Step {
            id: None,
            manager: "",
            verb: "",
            extra: Vec::new(),
            action: Action::Barrier,
            needs,
            delay_after: Duration::ZERO,
            node: None,
        }
    }

    /// How the call reads in output: `lxc-manager create 950`, `hypervisor-manager setup
    /// --node pve2`.
    pub fn label(&self) -> String {
        match (self.id, &self.node) {
            (Some(id), _) => format!("{} {} {}", self.manager, self.verb, id),
            (None, Some(n)) => format!("{} {} --node {n}", self.manager, self.verb),
            (None, None) => format!("{} {}", self.manager, self.verb),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// Settings that shape a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub force: bool,
    pub boot_delays: bool,
    pub suite: Option<String>,
    pub wipe_disks: bool,
    /// `setup`: the cluster nodes to set up, one independent step each (empty: the host).
    pub nodes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Order(#[from] OrderError),
    #[error("refusing to delete {target}: {reason}; delete it too, or use --force")]
    InUse { target: GuestId, reason: String },
    #[error("{0} is defined in the config; delete it without --unmanaged")]
    Managed(GuestId),
    #[error("{0} is not on the host (pct list, qm list)")]
    NotOnHost(GuestId),
}

impl Plan {
    fn push(&mut self, step: Step) -> usize {
        self.steps.push(step);
        self.steps.len() - 1
    }

    /// The steps that call a manager, in order.
    pub fn calls(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action != Action::Barrier)
    }
}

/// `create` (`converge` = `all_run`): the closure of `targets` in dependency order. A named target
/// always runs; a dependency runs only when missing, unless `all_run`.
pub fn create(
    cfg: &Config,
    host: &HostState,
    targets: &[GuestId],
    all_run: bool,
) -> Result<Plan, PlanError> {
    let order = cfg.build_dependency_graph(targets)?;
    let named: BTreeSet<GuestId> = targets.iter().copied().collect();
    create_in_order(cfg, host, order, &named, all_run)
}

/// The create steps for `order` (dependencies first): a guest in `named`, or any when
/// `all_run`, always runs; the others only when missing.
fn create_in_order(
    cfg: &Config,
    host: &HostState,
    order: Vec<GuestId>,
    named: &BTreeSet<GuestId>,
    all_run: bool,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let mut index = BTreeMap::new();
    for id in order {
        let g = cfg.guest(id).ok_or(OrderError::Unknown(id))?;
        let action = if all_run || named.contains(&id) || !host.exists(id) {
            Action::Run
        } else {
            Action::Skip(format!("dependency {id} already exists; skipping creation"))
        };
        let mut step = Step::guest(id, g.kind, "create", action);
        step.needs = g.needs().filter_map(|n| index.get(&n).copied()).collect();
        index.insert(id, plan.push(step));
    }
    Ok(plan)
}

/// `start`/`restart` (boot order, groups in order) or `stop` (reverse boot order).
pub fn boot_ordered(
    cfg: &Config,
    host: &HostState,
    targets: &[GuestId],
    verb: &'static str,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    append_boot_groups(&mut plan, cfg, host, targets, verb, opts, None)?;
    Ok(plan)
}

fn append_boot_groups(
    plan: &mut Plan,
    cfg: &Config,
    host: &HostState,
    targets: &[GuestId],
    verb: &'static str,
    opts: &PlanOptions,
    first_barrier: Option<usize>,
) -> Result<(), PlanError> {
    let ordered = cfg.get_boot_order(targets)?;
    let mut groups: Vec<(Option<u64>, Vec<GuestId>)> = Vec::new();
    for id in ordered {
        let order = cfg.guest(id).and_then(|g| g.boot_order);
        match groups.last_mut() {
            Some((o, ids)) if *o == order => ids.push(id),
            _ => groups.push((order, vec![id])),
        }
    }
    if verb == "stop" {
        groups.reverse();
        for (_, ids) in &mut groups {
            ids.reverse();
        }
    }
    let mut barrier = first_barrier;
    for (_, ids) in groups {
        let mut members = Vec::new();
        for id in ids {
            let g = cfg.guest(id).ok_or(OrderError::Unknown(id))?;
            let mut step = Step::guest(id, g.kind, verb, Action::Run);
            step.needs = barrier.into_iter().collect();
            // A boot delay lets a guest that is being started come up; one already running at
            // the start of the run (a `start` on a converged host) needs no wait.
            let already_running = verb == "start" && host.running(id);
            if verb != "stop" && opts.boot_delays && !already_running {
                step.delay_after = Duration::from_secs(g.boot_delay.unwrap_or(0));
            }
            members.push(plan.push(step));
        }
        barrier = Some(plan.push(Step::barrier(members)));
    }
    Ok(())
}

/// `LetsGo`: create everything in dependency order, then start every non-template guest.
pub fn lets_go(cfg: &Config, host: &HostState, opts: &PlanOptions) -> Result<Plan, PlanError> {
    // Every guest is named, so every create runs (managers skip what is converged); the order
    // of all guests was computed once by validation.
    let order = cfg.dependency_order().to_vec();
    let mut plan = create_in_order(cfg, host, order, &BTreeSet::new(), true)?;
    let creates: Vec<usize> = (0..plan.steps.len()).collect();
    let barrier = plan.push(Step::barrier(creates));
    let startable: Vec<GuestId> = cfg
        .guests()
        .filter(|g| !g.is_template)
        .map(|g| g.id)
        .collect();
    append_boot_groups(
        &mut plan,
        cfg,
        host,
        &startable,
        "start",
        opts,
        Some(barrier),
    )?;
    append_sync(&mut plan, cfg);
    Ok(plan)
}

/// Guests with `trigger_sync_on_completion`, in dependency order.
pub fn sync_triggers(cfg: &Config) -> Vec<GuestId> {
    cfg.dependency_order()
        .iter()
        .copied()
        .filter(|id| match cfg.guest(*id).map(|g| g.kind) {
            Some(GuestKind::Lxc) => cfg.lxc(*id).is_some_and(|c| c.trigger_sync_on_completion),
            Some(GuestKind::Vm) => cfg.vm(*id).is_some_and(|v| v.trigger_sync_on_completion),
            None => false,
        })
        .collect()
}

/// `LetsGo`: one `hypervisor-manager sync all` once every guest with
/// `trigger_sync_on_completion` is up (its start step, or its create step for a template).
/// One call, not one per guest: the sync is idempotent, so running it after the last of them
/// leaves the same state as after each, without repeating the unchanged work.
fn append_sync(plan: &mut Plan, cfg: &Config) {
    let triggers = sync_triggers(cfg);
    if triggers.is_empty() {
        return;
    }
    let mut needs = Vec::new();
    for id in &triggers {
        let last = plan
            .steps
            .iter()
            .rposition(|s| s.id == Some(*id) && s.action != Action::Barrier);
        needs.extend(last);
    }
    let mut step = sync("all").steps.remove(0);
    step.needs = needs;
    plan.push(step);
}

/// `delete`: dependents first; refuses when a guest outside the targets, existing on the host,
/// clones from or depends on a target (unless `--force`).
pub fn delete(
    cfg: &Config,
    host: &HostState,
    targets: &[GuestId],
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let set: BTreeSet<GuestId> = targets.iter().copied().collect();
    let mut order = cfg
        .graph()
        .restrict(&set)
        .toposort()
        .map_err(OrderError::Cycles)?;
    order.reverse();
    if !opts.force {
        for &t in &order {
            for g in cfg
                .guests()
                .filter(|g| !set.contains(&g.id) && host.exists(g.id))
            {
                let how = if g.clone_from == Some(t) {
                    Some("is cloned from it")
                } else if g.dependencies.contains(&t) {
                    Some("depends on it")
                } else {
                    None
                };
                if let Some(how) = how {
                    return Err(PlanError::InUse {
                        target: t,
                        reason: format!("{} {} {} and still exists", g.kind, g.id, how),
                    });
                }
            }
        }
    }
    let mut plan = Plan::default();
    let mut index = BTreeMap::new();
    for id in order {
        let g = cfg.guest(id).ok_or(OrderError::Unknown(id))?;
        let mut step = Step::guest(id, g.kind, "delete", Action::Run);
        if opts.force {
            step.extra.push("--force".into());
        }
        // Dependents (already placed) must be gone first.
        step.needs = cfg
            .guests()
            .filter(|d| d.needs().any(|n| n == id))
            .filter_map(|d| index.get(&d.id).copied())
            .collect();
        index.insert(id, plan.push(step));
    }
    Ok(plan)
}

/// `delete --unmanaged`: guests on the host that no config defines, each by the manager of its
/// kind; refused (unless `--force`) while an existing configured guest clones from or depends
/// on one, as for managed guests.
pub fn delete_unmanaged(
    cfg: &Config,
    host: &HostState,
    targets: &[GuestId],
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    for &t in targets {
        if cfg.guest(t).is_some() {
            return Err(PlanError::Managed(t));
        }
        let p = host.guests.get(&t).ok_or(PlanError::NotOnHost(t))?;
        if !opts.force {
            for g in cfg.guests().filter(|g| host.exists(g.id)) {
                let how = if g.clone_from == Some(t) {
                    "is cloned from it"
                } else if g.dependencies.contains(&t) {
                    "depends on it"
                } else {
                    continue;
                };
                return Err(PlanError::InUse {
                    target: t,
                    reason: format!("{} {} {} and still exists", g.kind, g.id, how),
                });
            }
        }
        let mut step = Step::guest(t, p.kind, "delete", Action::Run);
        step.extra.push("--unmanaged".into());
        if opts.force {
            step.extra.push("--force".into());
        }
        step.needs = plan.steps.len().checked_sub(1).into_iter().collect();
        plan.push(step);
    }
    Ok(plan)
}

/// `reconfigure` / `test`: the named targets only, in dependency order among themselves.
pub fn each(
    cfg: &Config,
    targets: &[GuestId],
    verb: &'static str,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let set: BTreeSet<GuestId> = targets.iter().copied().collect();
    let order = cfg
        .graph()
        .restrict(&set)
        .toposort()
        .map_err(OrderError::Cycles)?;
    let mut plan = Plan::default();
    let mut prev = None;
    for id in order {
        let g = cfg.guest(id).ok_or(OrderError::Unknown(id))?;
        let mut step = Step::guest(id, g.kind, verb, Action::Run);
        if let (Some(s), "test") = (&opts.suite, verb) {
            step.extra.extend(["--suite".to_string(), s.clone()]);
        }
        // One at a time: reconfigure and test output is read by people.
        step.needs = prev.into_iter().collect();
        prev = Some(plan.push(step));
    }
    Ok(plan)
}

/// `setup`: one `hypervisor-manager setup --node NAME` per node of `opts.nodes`, none needing
/// another (they run in parallel, each independent of the others' outcome); without nodes,
/// the one host step.
pub fn setup(opts: &PlanOptions) -> Plan {
    if opts.nodes.is_empty() {
        return host("setup", opts);
    }
    let one = host("setup", opts).steps.remove(0);
    let steps = opts
        .nodes
        .iter()
        .map(|n| {
            let mut s = one.clone();
            s.node = Some(n.clone());
            s
        })
        .collect();
    Plan { steps }
}

/// A host step: `hypervisor-manager setup` or `hypervisor-manager test`.
pub fn host(verb: &'static str, opts: &PlanOptions) -> Plan {
    let mut step = Step {
        id: None,
        manager: "hypervisor-manager",
        verb,
        extra: Vec::new(),
        action: Action::Run,
        needs: Vec::new(),
        delay_after: Duration::ZERO,
        node: None,
    };
    if verb == "setup" && opts.wipe_disks {
        step.extra.push("--wipe-disks".into());
    }
    if let (Some(s), "test") = (&opts.suite, verb) {
        step.extra.extend(["--suite".to_string(), s.clone()]);
    }
    Plan { steps: vec![step] }
}

/// `sync <part>`: one `hypervisor-manager sync <part>` call.
pub fn sync(part: &'static str) -> Plan {
    sync_with(&[part.to_string()])
}

/// `sync` with these manager arguments (`stacks --stack web --to 1002`).
pub fn sync_with(args: &[String]) -> Plan {
    let mut p = host("sync", &PlanOptions::default());
    p.steps[0].extra.extend(args.iter().cloned());
    p
}
