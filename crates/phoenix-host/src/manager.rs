//! What the three managers share: `<manager> <verb> <id> [options]` parsing with the spec's
//! messages (PHX-LXC-01, PHX-VM-01, PHX-HM-01), and the context a verb runs in.

use clap::Parser;
use phoenix_config::{Config, GuestId};

use crate::cli::{normalize_sim_arg, CommonArgs};
use crate::{exit, HostEnv, Runner};

#[derive(Debug, Parser)]
#[command(version, disable_help_subcommand = true)]
struct ManagerCli {
    /// What to do
    #[arg(value_name = "VERB")]
    verb: Option<String>,
    /// Guest ID
    #[arg(value_name = "ID")]
    target: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
    /// test: run only this suite
    #[arg(long, value_name = "NAME")]
    suite: Option<String>,
    /// delete: destroy even if other guests clone from this one
    #[arg(long)]
    force: bool,
    /// delete: the guest is in no config file (listed as `unmanaged` by `phoenix status`)
    #[arg(long)]
    unmanaged: bool,
    /// setup: allow ZFS to use disks that hold data
    #[arg(long)]
    wipe_disks: bool,
    /// setup: set up this node of `cluster.nodes` (its ssh_host; its merged `setup` values)
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// sync stacks: only this stack (with --to)
    #[arg(long, value_name = "NAME", requires = "to")]
    stack: Option<String>,
    /// sync stacks: only on this VM (with --stack)
    #[arg(long, value_name = "VMID", requires = "stack")]
    to: Option<u32>,
}

/// The verbs of the guest managers (`lxc-manager`, `vm-manager`).
pub const GUEST_VERBS: &[&str] = &[
    "create",
    "delete",
    "start",
    "stop",
    "restart",
    "status",
    "reconfigure",
    "test",
];

/// A parsed manager command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub verb: &'static str,
    /// `None` only for managers that take no target (hypervisor-manager).
    pub id: Option<GuestId>,
    pub common: CommonArgs,
    pub suite: Option<String>,
    pub force: bool,
    /// `delete --unmanaged`: a guest no config file defines.
    pub unmanaged: bool,
    pub wipe_disks: bool,
    /// `setup --node NAME`: the cluster node to set up.
    pub node: Option<String>,
    /// The argument of a verb in [`VERBS_WITH_ARGUMENT`] of a manager that takes no target
    /// (`hypervisor-manager sync dns`).
    pub argument: Option<String>,
    /// `sync stacks --stack NAME --to VMID` (the old `sync stack <name> to <vmid>`).
    pub only_stack: Option<(String, u32)>,
}

/// Verbs of a manager without targets that take one argument instead (`sync <part>`).
pub const VERBS_WITH_ARGUMENT: &[&str] = &["sync"];

/// Parses the process arguments. `Err` carries the exit code after the message was printed.
pub fn parse(
    name: &str,
    about: &str,
    verbs: &'static [&'static str],
    takes_target: bool,
) -> Result<Invocation, i32> {
    let args = normalize_sim_arg(std::env::args().collect(), verbs);
    parse_from(name, about, verbs, takes_target, args)
}

pub fn parse_from(
    name: &str,
    about: &str,
    verbs: &'static [&'static str],
    takes_target: bool,
    args: Vec<String>,
) -> Result<Invocation, i32> {
    let usage = if takes_target {
        format!("{name} <VERB> <ID> [OPTIONS]")
    } else {
        format!("{name} <VERB> [OPTIONS]")
    };
    let cmd = <ManagerCli as clap::CommandFactory>::command()
        .name(name.to_string())
        .about(about.to_string())
        .override_usage(usage)
        .after_help(format!("Verbs: {}", verbs.join(", ")));
    let matches = match cmd.try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::FAILURE
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return Err(code);
        }
    };
    let cli = <ManagerCli as clap::FromArgMatches>::from_arg_matches(&matches).map_err(|e| {
        let _ = e.print();
        exit::FAILURE
    })?;
    crate::cli::init_logging(&cli.common);
    let fail = |msg: String| {
        eprintln!("Error: {msg}");
        exit::FAILURE
    };
    let verb_str = cli.verb.ok_or_else(|| {
        // The Bash hypervisor-manager.sh took no verb: `--config FILE [--wipe-disks]` set up the host.
        let old_form = if takes_target {
            String::new()
        } else {
            format!("; the Bash-era `{name}.sh --config FILE [--wipe-disks]` is now `{name} setup [--config FILE] [--wipe-disks]`")
        };
        fail(format!("Missing verb{old_form}"))
    })?;
    let verb = *verbs
        .iter()
        .find(|v| **v == verb_str)
        .ok_or_else(|| fail(format!("Invalid verb '{verb_str}'")))?;
    if cli.unmanaged && verb != "delete" {
        return Err(fail("--unmanaged applies to 'delete' only".into()));
    }
    if cli.node.is_some() && verb != "setup" {
        return Err(fail("--node applies to 'setup' only".into()));
    }
    let id = if takes_target {
        let t = cli
            .target
            .clone()
            .ok_or_else(|| fail("Missing target ID".into()))?;
        Some(GuestId::parse(&t).filter(|i| i.in_range()).ok_or_else(|| {
            fail(format!(
                "Invalid target ID '{t}'; expected a number from 100 to 999999999"
            ))
        })?)
    } else {
        if let Some(t) = cli
            .target
            .as_ref()
            .filter(|_| !VERBS_WITH_ARGUMENT.contains(&verb))
        {
            return Err(fail(format!("{name} takes no target ID (got '{t}')")));
        }
        None
    };
    let argument = if takes_target {
        None
    } else {
        cli.target.filter(|_| VERBS_WITH_ARGUMENT.contains(&verb))
    };
    Ok(Invocation {
        verb,
        id,
        common: cli.common,
        suite: cli.suite,
        force: cli.force,
        unmanaged: cli.unmanaged,
        wipe_disks: cli.wipe_disks,
        node: cli.node,
        argument,
        only_stack: cli.stack.zip(cli.to),
    })
}

/// Parses the command line and starts the context: the opening of every manager's `main`.
/// `Err` is the exit code, its message already printed.
pub fn start(
    name: &str,
    about: &str,
    verbs: &'static [&'static str],
    takes_target: bool,
) -> Result<Context, i32> {
    Context::start(parse(name, about, verbs, takes_target)?)
}

/// Everything a verb needs: the host, the config, a tool runner.
pub struct Context {
    pub env: HostEnv,
    pub config: Config,
    pub runner: Runner,
    pub inv: Invocation,
    /// The clone-source and storage slots shared with the other managers.
    pub slots: crate::slots::SlotTable,
    /// Held for the whole run: the host lock when run directly, and the guest's own lock.
    _locks: Vec<crate::lock::HostLock>,
}

impl Context {
    /// Resolves the host and loads the config (messages printed; `Err` is the exit code).
    pub fn start(inv: Invocation) -> Result<Context, i32> {
        let (env, config) = crate::start(&inv.common)?;
        let mut runner = Runner::new();
        let o = &config.hypervisor.orchestration;
        runner.lock_retries = o.pve_lock_retries();
        runner.lock_backoff = o.pve_lock_backoff();
        let guest_lock_wait = o.guest_lock_wait();
        runner.guest_lock_wait = Some((env.pve_dir.clone(), guest_lock_wait));
        let slots = crate::slots::table(
            &crate::lock::host_lock_path(&env, &config),
            o.storage_concurrency(),
            guest_lock_wait,
        );
        let locks = if env.dry_run {
            Vec::new()
        } else {
            take_locks(&env, &config, inv.id)?
        };
        if !env.dry_run {
            wait_for_proxmox_locks(&env, &config, &inv)?;
        }
        Ok(Context {
            env,
            config,
            runner,
            inv,
            slots,
            _locks: locks,
        })
    }

    /// The target ID (managers that take one always have it).
    pub fn id(&self) -> GuestId {
        self.inv.id.unwrap_or_default()
    }

    /// Holds the slots of `resources` for one call (the executor never calls this under
    /// `--dry-run`); `Err` is a message for the step's error.
    pub fn hold(
        &self,
        resources: &[crate::slots::Resource],
    ) -> Result<crate::slots::Slots, String> {
        self.slots.hold(resources).map_err(|e| e.to_string())
    }
}

/// Verbs that change a guest, and so fail at once while Proxmox holds a `lock:` on it.
const MUTATING_VERBS: &[&str] = &[
    "create",
    "delete",
    "start",
    "stop",
    "restart",
    "reconfigure",
];

/// Before a mutating verb: waits while the guest's config shows `lock: <x>` — Proxmox is still
/// busy with it — instead of failing or retrying blindly (docs/performance.md, "Locks"). A
/// clone source's lock is not waited for here: a converged guest never touches its source, and
/// the clone call itself waits (its slot, then [`crate::Runner`]'s lock wait).
fn wait_for_proxmox_locks(env: &HostEnv, config: &Config, inv: &Invocation) -> Result<(), i32> {
    let Some(id) = inv.id else { return Ok(()) };
    if env.transport == crate::TransportKind::Api {
        // The config files are on the node, not here; the API client waits out a refusal
        // that names a lock instead (pve_client::Client::call).
        return Ok(());
    }
    if !MUTATING_VERBS.contains(&inv.verb) {
        return Ok(());
    }
    let Some(guest) = config.guest(id) else {
        return Ok(());
    };
    let wait = config.hypervisor.orchestration.guest_lock_wait();
    crate::guestlock::wait_unlocked(&env.pve_dir, guest.kind, id, wait, crate::guestlock::POLL)
        .map(|_| ())
        .map_err(|e| {
            eprintln!("Error: {} {id}: lock: {e}", guest.kind);
            exit::FAILURE
        })
}

/// A manager run directly takes the host lock like the dispatcher (so it never races a
/// `phoenix` run); under the dispatcher it relies on the dispatcher's. Either way it takes its
/// guest's own lock, so two managers never work on one guest at once.
fn take_locks(
    env: &HostEnv,
    config: &Config,
    id: Option<GuestId>,
) -> Result<Vec<crate::lock::HostLock>, i32> {
    use crate::lock::{guest_lock_path, host_lock_path, HostLock, HELD_ENV};
    let host = host_lock_path(env, config);
    let wait = config.hypervisor.orchestration.lock_wait();
    let fail = |e: crate::lock::LockError| {
        eprintln!("Error: {e}");
        exit::LOCKED
    };
    let mut held = Vec::new();
    if std::env::var_os(HELD_ENV).is_none() {
        held.push(HostLock::acquire(&host, wait).map_err(fail)?);
    }
    if let Some(id) = id {
        held.push(HostLock::acquire(&guest_lock_path(&host, id), wait).map_err(fail)?);
    }
    Ok(held)
}
