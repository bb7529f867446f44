//! `phoenix`: the dispatcher. It validates all config, orders the targets, and runs one manager
//! process per guest. See docs/architecture.md for where each verb is handled.

use phoenix::{cli, graph, legacy, plan, run, status};

use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use clap::Parser;
use phoenix_config::{Config, GuestId, TargetType};
use phoenix_host::{exit, HostEnv, Runner};

use phoenix::cli::{Cli, NEED_TARGETS};
use phoenix::host::HostState;
use phoenix::plan::{Plan, PlanOptions};

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let args = phoenix_host::cli::normalize_sim_arg(std::env::args().collect(), &cli::verb_names());
    if legacy::has_reset_portainer(&args) {
        eprintln!("{}", legacy::reset_portainer_message());
        return legacy::NOT_AVAILABLE;
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
    if verb == "sync" {
        eprintln!("{}", legacy::sync_message(&cli.targets));
        return legacy::NOT_AVAILABLE;
    }
    let Some(verb) = cli::verb_names().into_iter().find(|v| *v == verb) else {
        eprintln!("Error: Invalid verb '{verb}'");
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
    let targets = match parse_targets(&cfg, &cli.targets) {
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
        "graph" => graph::print(&cfg, &targets, cli.format),
        "status" => match status::show(&cfg, &targets, cli.common.output) {
            Ok(()) => exit::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                exit::FAILURE
            }
        },
        _ => dispatch(verb, &cli, &env, &cfg, &targets),
    }
}

/// Every target must be a number and a configured guest (PHOENIX-DIS-07).
fn parse_targets(cfg: &Config, raw: &[String]) -> Result<Vec<GuestId>, String> {
    let mut out = Vec::new();
    for t in raw {
        let id = GuestId::parse(t)
            .ok_or_else(|| format!("Invalid target ID '{t}'; expected a number such as 950"))?;
        if cfg.resolve_target_type(id) == TargetType::Unknown {
            return Err(format!("Target ID '{t}' not found"));
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
) -> i32 {
    let orch = &cfg.hypervisor.orchestration;
    let opts = PlanOptions {
        force: cli.force,
        boot_delays: !cli.no_boot_delay,
        suite: cli.suite.clone(),
        wipe_disks: cli.wipe_disks,
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
    let host = if needs_host {
        match HostState::read(&Runner::new(env.dry_run)) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("Error: cannot read the host's guests: {e}");
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
        "delete" => plan::delete(cfg, &host, targets, &opts),
        "reconfigure" | "health-check" => plan::each(cfg, targets, verb, &opts),
        "test" if targets.is_empty() => Ok(plan::host("test", &opts)),
        "test" => plan::each(cfg, targets, verb, &opts),
        "setup" => Ok(plan::host("setup", &opts)),
        _ => Ok(Plan::default()),
    };
    let plan = match planned {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return exit::FAILURE;
        }
    };
    if env.dry_run {
        eprintln!(
            "Plan for `{verb}` ({} manager calls):",
            plan.calls()
                .filter(|s| s.action == plan::Action::Run)
                .count()
        );
        for (n, s) in plan.calls().enumerate() {
            match &s.action {
                plan::Action::Skip(why) => eprintln!("  {:>3}. skip {} ({why})", n + 1, s.label()),
                _ => eprintln!(
                    "  {:>3}. {} {}--dry-run",
                    n + 1,
                    s.label(),
                    s.extra.iter().map(|e| format!("{e} ")).collect::<String>()
                ),
            }
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
    let jobs = cli.jobs.or(orch.jobs).unwrap_or(4).max(1);
    let exec = run::Executor {
        env,
        cfg,
        jobs,
        verbose: cli.common.verbose,
        converge: verb == "converge",
        signal,
    };
    let report = exec.run(&plan);
    summarize(&plan, &report, cli.common.quiet);
    report.exit_code()
}

fn take_host_lock(env: &HostEnv, cfg: &Config) -> Result<phoenix_host::lock::HostLock, String> {
    if std::env::var_os(phoenix_host::lock::HELD_ENV).is_some() {
        return Err("phoenix is already running as a child of another phoenix run".into());
    }
    let path = phoenix_host::lock::host_lock_path(env, cfg);
    let wait =
        std::time::Duration::from_secs(cfg.hypervisor.orchestration.lock_wait_secs.unwrap_or(0));
    phoenix_host::lock::HostLock::acquire(&path, wait).map_err(|e| e.to_string())
}

fn summarize(plan: &Plan, report: &run::Report, quiet: bool) {
    let groups = run::by_outcome(plan, report);
    let count = |k: &str| groups.get(k).map_or(0, Vec::len);
    let total = plan.calls().count();
    if total > 1 || report.first_failure.is_some() || report.signal.is_some() {
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
                eprintln!("{k}: {}", list(k));
            }
        }
        if !quiet || report.first_failure.is_some() {
            eprintln!(
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
            );
        }
    }
}
