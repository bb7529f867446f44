//! The command line: `phoenix <verb> [targets...] [options]`. Verbs and targets are plain
//! positionals checked here, so the messages are the ones the spec asks for
//! (`Error: Invalid verb 'foobar'`), not clap's.

use clap::Parser;
use phoenix_host::CommonArgs;

/// Every verb, with the line `--help` shows for it.
pub const VERBS: &[(&str, &str)] = &[
    ("setup", "Set up the hypervisor host (ZFS, storages, NVIDIA, firewall, NFS, Samba, AppArmor)"),
    ("create", "Create guests; missing dependencies are created, existing ones skipped"),
    ("converge", "Create if missing and re-apply the whole config to guests and their entire dependency chain"),
    ("delete", "Stop and destroy guests (dependents first; --force to delete what others need)"),
    ("start", "Start guests in boot order"),
    ("stop", "Stop guests in reverse boot order"),
    ("restart", "Restart guests in boot order"),
    ("status", "Show every configured guest: ID, type, name, exists, state"),
    ("reconfigure", "Re-apply configuration and features to existing guests"),
    ("test", "Run test suites of guests (or of the host when no target is given)"),
    ("validate", "Check all config files; change nothing"),
    ("graph", "Print the dependency graph (mermaid or dot)"),
    ("health-check", "Check VMs are running, their guest agent answers and their health_checks pass"),
    ("LetsGo", "Create every guest in dependency order, then start every non-template guest in boot order"),
];

/// Verbs that need at least one target.
pub const NEED_TARGETS: &[&str] = &[
    "create",
    "converge",
    "delete",
    "start",
    "stop",
    "restart",
    "reconfigure",
    "health-check",
];

pub fn verb_names() -> Vec<&'static str> {
    VERBS.iter().map(|(v, _)| *v).collect()
}

fn after_help() -> String {
    let mut s = String::from("Verbs:\n");
    for (v, d) in VERBS {
        s.push_str(&format!("  {v:<12} {d}\n"));
    }
    s.push_str("\nExamples:\n  phoenix --sim LetsGo                 bring a simulated node to the bundled config\n  phoenix create 950                   create 950 and whatever it needs\n  phoenix start 953 950 --dry-run      show the start order and commands\n  phoenix status --output json\n");
    s
}

/// Phoenix: declarative orchestration of Proxmox VE containers and VMs.
#[derive(Debug, Parser)]
#[command(name = "phoenix", version, about, after_help = after_help(), override_usage = "phoenix <VERB> [TARGETS]... [OPTIONS]")]
pub struct Cli {
    /// What to do (see Verbs below)
    #[arg(value_name = "VERB")]
    pub verb: Option<String>,
    /// Guest IDs
    #[arg(value_name = "TARGETS")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Guests processed at once [default: orchestration.jobs, else 4]
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// delete: also delete guests that other existing guests clone from or depend on
    #[arg(long)]
    pub force: bool,
    /// test: run only this suite
    #[arg(long, value_name = "NAME")]
    pub suite: Option<String>,
    /// validate: treat warnings (unknown keys) as errors
    #[arg(long)]
    pub strict: bool,
    /// setup: allow ZFS to use disks that hold partitions, file systems or pools
    #[arg(long)]
    pub wipe_disks: bool,
    /// graph: output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
    /// start/LetsGo: do not wait each guest's boot_delay before the next boot-order group
    #[arg(long)]
    pub no_boot_delay: bool,
    /// Print a shell completion script and exit
    #[arg(long, value_name = "SHELL", hide = true)]
    pub generate_completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit
    #[arg(long, hide = true)]
    pub generate_man: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}
