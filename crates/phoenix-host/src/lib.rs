//! How Phoenix's binaries reach a host.
//!
//! The dispatcher and the managers share one way of resolving paths (flags, then environment,
//! then config, then defaults), of entering the simulated node (`--sim`), of running Proxmox
//! tools (argv only; reads always, changes printed under `--dry-run`; Proxmox lock time-outs
//! retried), of holding the per-host run lock, and of exiting. Keeping this in one crate is what
//! lets a manager run alone (`lxc-manager create 950`) behave exactly as under the dispatcher.
//!
//! - [`env::HostEnv`]: resolved paths and modes, and the environment passed to children;
//!   [`locate`]: which hypervisor config (flag, environment, this installation's `etc/`);
//! - [`sim::enter`]: point a `HostEnv` at a simulated node;
//! - [`tool::Runner`]: run `pct`/`qm`/... and scripts; [`download`]: a resumable, checksummed
//!   download through the host's `curl`;
//! - [`lock::HostLock`]: one run per host; [`guestlock`]: waiting out a Proxmox `lock:`;
//!   [`slots`]: the clone-source and storage slots held around one Proxmox call;
//! - [`cli::CommonArgs`]: the global options; [`exit`]: exit codes.

pub mod arena;
pub mod cli;
pub mod download;
pub mod env;
pub mod exit;
pub mod fs;
pub mod guestlock;
pub mod locate;
pub mod lock;
pub mod manager;
pub mod sim;
pub mod slots;
pub mod ssh;
pub mod tool;

pub use cli::{CommonArgs, OutputFormat};
pub use env::HostEnv;
pub use phoenix_config::model::hypervisor::TransportKind;
pub use tool::{Runner, ToolError, ToolOutput};

/// Prints every diagnostic of a config error on stderr and returns the exit code to use.
pub fn report_config_error(e: &phoenix_config::ConfigError) -> i32 {
    for d in e.diagnostics() {
        eprintln!("{d}");
    }
    e.exit_code()
}

/// Resolves the host environment for a binary: flags, `--sim`/`PHOENIX_SIM`, then loads and
/// validates the config. Problems are printed; the `Err` is the exit code.
pub fn start(common: &CommonArgs) -> Result<(HostEnv, phoenix_config::Config), i32> {
    let location = locate::hypervisor_config(common.config.as_deref());
    if let Some(msg) = location.missing_message() {
        eprintln!("{msg}");
        return Err(exit::CONFIG_UNREADABLE);
    }
    let mut env = HostEnv::resolve(common.config.as_deref(), common.dry_run);
    // Validate before anything else touches the host, the simulated one included.
    arena::open();
    let loaded = phoenix_config::Config::load(&env.config);
    arena::seal();
    let config = loaded.map_err(|e| report_config_error(&e))?;
    // A manager started by the dispatcher stays quiet about warnings the dispatcher printed.
    let child_of_dispatcher = std::env::var_os(lock::HELD_ENV).is_some();
    if !common.quiet && !child_of_dispatcher {
        for w in &config.warnings {
            eprintln!("{w}");
        }
    }
    // A simulated cluster is reached as a real one is: through the API.
    let implied = (common.sim_nodes.is_some_and(|n| n > 1)
        && std::env::var_os("PHOENIX_TRANSPORT").is_none()
        && config.hypervisor.orchestration.transport.is_none())
    .then_some("api");
    env.choose_transport(common.transport.as_deref().or(implied), &config)
        .map_err(|e| {
            eprintln!("Error: {e}");
            exit::FAILURE
        })?;
    env.insecure |= common.insecure;
    let sim_dir = common.sim.clone().or_else(|| env.sim.clone());
    if let Some(dir) = sim_dir {
        let nodes = sim::cluster_nodes(common.sim_nodes, config.hypervisor.cluster.as_ref());
        env = sim::enter(env, &dir, &nodes).map_err(|e| {
            eprintln!("Error: {e}");
            exit::FAILURE
        })?;
        // Under --dry-run nothing is sent, but the plan still reads the node through the API.
        if env.transport == TransportKind::Api {
            let dir = env.sim.clone().unwrap_or(dir);
            let api = sim::SimApi::for_node(&dir).map_err(|e| {
                eprintln!("Error: {e}");
                exit::FAILURE
            })?;
            env.sim_api = Some(std::sync::Arc::new(api));
        }
    }
    let env = env.with_config(&config);
    env.export(Some(&config));
    Ok((env, config))
}
