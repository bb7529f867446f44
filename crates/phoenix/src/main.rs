//! `phoenix`: the dispatcher. It validates all config, orders the targets, and runs one manager
//! process per guest. See docs/architecture.md for where each verb is handled.

use phoenix::{cli, graph, legacy, plan, run, status};

use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use clap::Parser;
use phoenix_config::{Config, GuestId, TargetType};
use phoenix_host::{exit, HostEnv, OutputFormat, Runner};
use phoenix_report::{Reporter, Verbosity};

use phoenix::cli::{Cli, NEED_TARGETS};
use phoenix::host::HostState;
use phoenix::plan::{Plan, PlanOptions};

/// The config is loaded into a huge-page arena (see `phoenix_host::arena`).
#[global_allocator]
static ALLOC: phoenix_host::arena::Global = phoenix_host::arena::Global;

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let args = phoenix_host::cli::normalize_sim_arg(std::env::args().collect(), &cli::verb_names());
    if legacy::has_reset_portainer(&args) {
        eprintln!("{}", legacy::reset_portainer_message());
        return legacy::NOT_AVAILABLE;
    }
    if let Some(code) = cli::help_request(&args) {
        return code;
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::FAILURE
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return code;
        }
    };
    phoenix_host::cli::init_logging(&cli.common);
    if let Some(shell) = cli.generate_completions {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "phoenix", &mut std::io::stdout());
        return exit::SUCCESS;
    }
    if cli.generate_man {
        let cmd = <Cli as clap::CommandFactory>::command();
        return match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
            Ok(()) => exit::SUCCESS,
            Err(e) => {
                eprintln!("Error: cannot write the man page: {e}");
                exit::FAILURE
            }
        };
    }
    let Some(verb) = cli.verb.clone() else {
        eprintln!("Error: no verb given; see `phoenix --help`");
        return exit::FAILURE;
    };
    let sync_part = if verb == "sync" {
        match legacy::sync_args(&cli.targets) {
            Ok(p) => Some(p),
            Err(msg) => {
                eprintln!("{msg}");
                return legacy::NOT_AVAILABLE;
            }
        }
    } else {
        None
    };
    let Some(verb) = cli::verb_names().into_iter().find(|v| *v == verb) else {
        eprintln!("{}", cli::invalid_verb(&verb));
        return exit::FAILURE;
    };
    if NEED_TARGETS.contains(&verb) && cli.targets.is_empty() {
        eprintln!("Error: Verb '{verb}' requires at least one target ID");
        return exit::FAILURE;
    }
    if matches!(verb, "setup" | "LetsGo" | "validate") && !cli.targets.is_empty() {
        eprintln!("Error: Verb '{verb}' takes no target IDs");
        return exit::FAILURE;
    }
    let (env, cfg) = match phoenix_host::start(&cli.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(e) = phoenix_guest::connect::check_verb(&env, &cfg, verb) {
        eprintln!("Error: {e}");
        return exit::FAILURE;
    }
    if cli.unmanaged && verb != "delete" {
        eprintln!("Error: --unmanaged applies to 'delete' only");
        return exit::FAILURE;
    }
    let nodes = match setup_nodes(verb, &cli.node, &cfg) {
        Ok(n) => n,
        Err(msg) => {
            eprintln!("Error: {msg}");
            return NODE_USAGE;
        }
    };
    // The process ends right after the verb: freeing thousands of guests one by one would only
    // cost time (a third of `validate` on a 10,000-guest deployment).
    let cfg = std::mem::ManuallyDrop::new(cfg);
    let raw_targets: &[String] = if sync_part.is_some() {
        &[]
    } else {
        &cli.targets
    };
    let targets = match parse_targets(&cfg, raw_targets, cli.unmanaged) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("Error: {msg}");
            return exit::FAILURE;
        }
    };
    if verb == "health-check" {
        if let Err(msg) = legacy::check_health_targets(&cfg, &targets) {
            eprintln!("Error: {msg}");
            return exit::FAILURE;
        }
    }
    match verb {
        "validate" => status::validate(&cfg, cli.strict, cli.common.output),
        "graph" => graph::print(
            &cfg,
            &targets,
            cli.format,
            cli.common.output == OutputFormat::Json,
        ),
        "status" => match status::show(
            &cfg,
            &env,
            &targets,
            cli.common.output,
            cli.detailed_exitcode,
        ) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("Error: {e}");
                exit::FAILURE
            }
        },
        _ => dispatch(
            verb,
            &cli,
            &env,
            &cfg,
            &targets,
            sync_part.as_deref(),
            nodes,
        ),
    }
}

/// Exit code of a `--node` that names no node of the config: a usage error (1, as every
/// usage error; docs/architecture.md).
const NODE_USAGE: i32 = exit::FAILURE;

/// The nodes `setup` works on: the `--node` ones (each in `cluster.nodes`), else every node
/// of a cluster of several; none for one host (the host step as before).
fn setup_nodes(verb: &str, given: &[String], cfg: &Config) -> Result<Vec<String>, String> {
    if !given.is_empty() && verb != "setup" {
        return Err("--node applies to 'setup' only".into());
    }
    let hv = cfg.paths.hypervisor.display();
    let Some(c) = cfg.hypervisor.cluster.as_ref() else {
        return match given.first() {
            Some(n) => Err(format!("--node {n}: {hv} has no `cluster` block; without one there is one host, set up without --node")),
            None => Ok(Vec::new()),
        };
    };
    let mut out: Vec<String> = Vec::new();
    for n in given {
        if c.node(n).is_none() {
            return Err(format!(
                "--node {n}: node '{n}' is not in cluster.nodes ({}) of {hv}",
                c.names()
            ));
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    if out.is_empty() && verb == "setup" && c.nodes.len() > 1 {
        out = c.nodes.iter().map(|n| n.name.clone()).collect();
    }
    Ok(out)
}

/// Every target must be a number and a configured guest (PHOENIX-DIS-07).
/// With `unmanaged`, targets are guests no config defines (checked against the host later).
fn parse_targets(cfg: &Config, raw: &[String], unmanaged: bool) -> Result<Vec<GuestId>, String> {
    let mut out = Vec::new();
    for t in raw {
        let id = GuestId::parse(t)
            .ok_or_else(|| format!("Invalid target ID '{t}'; expected a number such as 950"))?;
        if !unmanaged && cfg.resolve_target_type(id) == TargetType::Unknown {
            return Err(format!(
                "Target ID '{t}' not found (a guest on the host that no config defines is deleted with `phoenix delete {t} --unmanaged`)"
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn dispatch(
    verb: &'static str,
    cli: &Cli,
    env: &HostEnv,
    cfg: &Config,
    targets: &[GuestId],
    sync_part: Option<&[String]>,
    nodes: Vec<String>,
) -> i32 {
    let orch = &cfg.hypervisor.orchestration;
    let opts = PlanOptions {
        force: cli.force,
        boot_delays: !cli.no_boot_delay,
        suite: cli.suite.clone(),
        wipe_disks: cli.wipe_disks,
        nodes,
    };
    // The lock comes before the host is read: a run that waited for another must plan from
    // the state that run left, not from what was there before it.
    let _lock = if env.dry_run {
        None
    } else {
        match take_host_lock(env, cfg) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("Error: {e}");
                return exit::LOCKED;
            }
        }
    };
    let needs_host = matches!(verb, "create" | "converge" | "LetsGo" | "delete" | "start");
    let runner = Runner::new();
    // Kept for the run: in a cluster it is asked which nodes answer after a failure.
    let mut reader: Option<Box<dyn phoenix_guest::Transport + '_>> = None;
    let host = if needs_host {
        let read = phoenix_guest::connect::transport(&runner, env, cfg).and_then(|t| {
            let h = HostState::read(t.as_ref());
            reader = Some(t);
            h
        });
        match read {
            Ok(h) => h,
            Err(e) => {
                eprintln!(
                    "Error: cannot read the host's guests (transport {}): {e}",
                    env.transport
                );
                return exit::FAILURE;
            }
        }
    } else {
        HostState::default()
    };
    let planned = match verb {
        "create" => plan::create(cfg, &host, targets, false),
        "converge" => plan::create(cfg, &host, targets, true),
        "LetsGo" => plan::lets_go(cfg, &host, &opts),
        "start" | "restart" | "stop" => plan::boot_ordered(cfg, &host, targets, verb, &opts),
        "delete" if cli.unmanaged => plan::delete_unmanaged(cfg, &host, targets, &opts),
        "delete" => plan::delete(cfg, &host, targets, &opts),
        "reconfigure" | "health-check" => plan::each(cfg, targets, verb, &opts),
        "test" if targets.is_empty() => Ok(plan::host("test", &opts)),
        "test" => plan::each(cfg, targets, verb, &opts),
        "setup" => Ok(plan::setup(&opts)),
        "sync" => Ok(plan::sync_with(sync_part.unwrap_or(&["all".to_string()]))),
        _ => Ok(Plan::default()),
    };
    let plan = match planned {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return exit::FAILURE;
        }
    };
    let reporter = Arc::new(Reporter::new(
        cli.common.output == OutputFormat::Json,
        Verbosity {
            quiet: cli.common.quiet,
            verbose: cli.common.verbose,
        },
    ));
    if env.dry_run && !cli.common.quiet && cli.common.output == OutputFormat::Text {
        reporter.line(&format!(
            "Plan for `{verb}` ({} manager calls):",
            plan.calls()
                .filter(|s| s.action == plan::Action::Run)
                .count()
        ));
        for (n, s) in plan.calls().enumerate() {
            reporter.line(&match &s.action {
                plan::Action::Skip(why) => format!("  {:>3}. skip {} ({why})", n + 1, s.label()),
                _ => format!(
                    "  {:>3}. {} {}--dry-run",
                    n + 1,
                    s.label(),
                    s.extra.iter().map(|e| format!("{e} ")).collect::<String>()
                ),
            });
        }
    }
    let signal = Arc::new(AtomicI32::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let s = signal.clone();
        // SAFETY: the handler only stores into an atomic.
        let _ = unsafe {
            signal_hook::low_level::register(sig, move || {
                s.store(sig, std::sync::atomic::Ordering::SeqCst)
            })
        };
    }
    let jobs = cli.jobs.unwrap_or_else(|| orch.jobs()).max(1);
    // Every guest's run state, read once above, handed to the managers (no status call each).
    let observed = if needs_host {
        write_observation(&host).ok()
    } else {
        None
    };
    let node_check = |id: GuestId| -> Option<String> {
        let t = reader.as_ref()?;
        cluster_node_down(t.as_ref(), cfg, &host, id)
    };
    let exec = run::Executor {
        env,
        cfg,
        jobs,
        verbose: cli.common.verbose,
        converge: verb == "converge",
        signal,
        reporter: reporter.clone(),
        quiet: cli.common.quiet,
        observed: observed.as_ref().map(|o| o.path().to_path_buf()),
        changed: Default::default(),
        unreachable: cfg
            .hypervisor
            .cluster
            .as_ref()
            .map(|_| &node_check as &dyn Fn(GuestId) -> Option<String>),
    };
    let report = exec.run(&plan);
    reporter.finish();
    if opts.nodes.is_empty() {
        summarize(&plan, &report, cli.common.quiet, &reporter);
    } else {
        summarize_nodes(&plan, &report, cli.common.quiet, &reporter);
    }
    report.exit_code()
}

/// The summary of `setup` over cluster nodes: which nodes failed (or did not finish), then
/// the counts.
fn summarize_nodes(plan: &Plan, report: &run::Report, quiet: bool, out: &Reporter) {
    let mut by: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (s, o) in plan.steps.iter().zip(&report.outcomes) {
        let Some(n) = s.node.as_deref() else { continue };
        let k = match o {
            run::Outcome::Done | run::Outcome::Skipped(_) => "set up",
            run::Outcome::Failed(_) => "failed",
            run::Outcome::Interrupted => "interrupted",
            run::Outcome::NotStarted => "not started",
        };
        by.entry(k).or_default().push(n);
    }
    let count = |k: &str| by.get(k).map_or(0, Vec::len);
    let bad = count("failed") + count("interrupted") + count("not started");
    for k in ["failed", "interrupted", "not started"] {
        if let Some(v) = by.get(k) {
            out.line(&format!("{k}: node {}", v.join(" ")));
        }
    }
    if !quiet || bad > 0 {
        let failed = by
            .get("failed")
            .map(|v| format!(" ({})", v.join(", ")))
            .unwrap_or_default();
        out.line(&format!(
            "Summary: {} nodes, {} set up, {} failed{failed}{} in {:.1}s",
            plan.steps.len(),
            count("set up"),
            count("failed"),
            if count("interrupted") + count("not started") > 0 {
                format!(
                    ", {} interrupted, {} not started",
                    count("interrupted"),
                    count("not started")
                )
            } else {
                String::new()
            },
            report.elapsed.as_secs_f64()
        ));
    }
}

/// The node of guest `id` (where the bulk read saw it, else its configured node) when the
/// cluster now reports that node offline: one `GET /cluster/resources?type=node`.
fn cluster_node_down(
    t: &dyn phoenix_guest::Transport,
    cfg: &Config,
    host: &HostState,
    id: GuestId,
) -> Option<String> {
    let node = host
        .guests
        .get(&id)
        .and_then(|p| p.node.clone())
        .or_else(|| cfg.guest(id).and_then(|g| g.node.clone()))?;
    let req =
        pve::api::Request::new(pve::api::Method::Get, "/cluster/resources").param("type", "node");
    let list = t.request(&req).ok()?;
    let offline = list.as_array()?.iter().any(|n| {
        n.get("node").and_then(|v| v.as_str()) == Some(node.as_str())
            && n.get("status").and_then(|v| v.as_str()) != Some("online")
    });
    offline.then_some(node)
}

/// The bulk read as `phoenix_guest::observe::Snapshot`, in a temp file that lives as long
/// as the returned handle.
fn write_observation(host: &HostState) -> std::io::Result<tempfile::NamedTempFile> {
    host.snapshot.write_temp()
}

fn take_host_lock(env: &HostEnv, cfg: &Config) -> Result<phoenix_host::lock::HostLock, String> {
    if std::env::var_os(phoenix_host::lock::HELD_ENV).is_some() {
        return Err("phoenix is already running as a child of another phoenix run".into());
    }
    let path = phoenix_host::lock::host_lock_path(env, cfg);
    let wait = cfg.hypervisor.orchestration.lock_wait();
    phoenix_host::lock::HostLock::acquire(&path, wait).map_err(|e| e.to_string())
}

fn summarize(plan: &Plan, report: &run::Report, quiet: bool, out: &Reporter) {
    let groups = run::by_outcome(plan, report);
    let count = |k: &str| groups.get(k).map_or(0, Vec::len);
    let total = plan.calls().count();
    let failed = report.first_failure.is_some() || !report.unreachable.is_empty();
    if total > 1 || failed || report.signal.is_some() {
        let list = |k: &str| {
            groups
                .get(k)
                .map(|v| {
                    v.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        for k in ["failed", "interrupted", "not started"] {
            if count(k) > 0 {
                out.line(&format!("{k}: {}", list(k)));
            }
        }
        for (node, ids) in &report.unreachable {
            let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            out.line(&format!(
                "node {node} unreachable: not handled: {}{}; run again once it answers",
                ids.join(" "),
                if count("not started") > 0 {
                    " (and the guests not started above)"
                } else {
                    ""
                }
            ));
        }
        if !quiet || failed {
            out.line(&format!(
                "Summary: {} processed, {} skipped, {} failed{}{} in {:.1}s",
                count("completed"),
                count("skipped"),
                count("failed"),
                if count("interrupted") > 0 {
                    format!(", {} interrupted", count("interrupted"))
                } else {
                    String::new()
                },
                if count("not started") > 0 {
                    format!(", {} not started", count("not started"))
                } else {
                    String::new()
                },
                report.elapsed.as_secs_f64()
            ));
        }
    }
}
