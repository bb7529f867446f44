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
    ("status", "Show every guest: ID, type, name, exists, state, drift from the config (and unmanaged guests)"),
    ("reconfigure", "Re-apply configuration and features to existing guests"),
    ("test", "Run test suites of guests (or of the host when no target is given)"),
    ("validate", "Check all config files; change nothing"),
    ("graph", "Print the dependency graph (mermaid or dot)"),
    ("health-check", "Check VMs are running, their guest agent answers and their health_checks pass"),
    ("LetsGo", "Create every guest in dependency order, then start every non-template guest in boot order"),
    ("sync", "Put the service layer in place: certificates, DNS, gateway configs, Portainer and Docker stacks"),
];

/// Each verb's own help (`phoenix help <verb>`, `phoenix <verb> --help`): usage, then what it
/// does, the options that apply to it and where it is handled.
pub const VERB_DETAILS: &[(&str, &str, &str)] = &[
    ("setup", "phoenix setup [--node NAME]... [--wipe-disks] [--dry-run]",
     "Runs the host set-up steps (setup_sequence, else the default) through hypervisor-manager.\nWith a cluster of several nodes: every node at once (one hypervisor-manager per node, each\nwith its cluster.nodes[].setup values merged over the config), each independent of the\nothers; one recap row per node; exit 1 when any node failed, the summary names them.\n  --node NAME   only this node (repeatable)\n  --wipe-disks  let ZFS use disks that hold data\n  --dry-run     the set-up scripts print what they would change"),
    ("create", "phoenix create <ID>... [--dry-run] [--jobs N]",
     "Creates the targets and whatever they need, dependencies first; existing dependencies are\nskipped, named targets are converged (configuration, disk, start, features).\n  --dry-run  show each guest's plan: the actions, their reasons and attribute diffs\n             (`memory: 999 -> 1024`); run nothing"),
    ("converge", "phoenix converge <ID>... [--dry-run]",
     "As create, for the targets and their entire dependency chain, re-running recorded\nfeatures and application scripts."),
    ("delete", "phoenix delete <ID>... [--force] [--unmanaged]",
     "Stops and destroys guests, dependents first. Refuses while an existing guest clones from or\ndepends on a target.\n  --force      delete anyway\n  --unmanaged  the targets are guests no config defines (listed as unmanaged by status)"),
    ("start", "phoenix start <ID>... [--no-boot-delay]", "Starts guests in boot order, waiting each group's boot_delay."),
    ("stop", "phoenix stop <ID>...", "Stops guests in reverse boot order."),
    ("restart", "phoenix restart <ID>...", "Reboots running guests, starts stopped ones, in boot order."),
    ("status", "phoenix status [--output json] [--detailed-exitcode]",
     "One row per guest: type, name, exists, run state and drift (`in sync`, `drifted: memory,\nnet0`, `absent`, `unmanaged`). Computed here from the conf files; no manager runs.\n  --output json        an array of objects (schemas/phoenix_status.schema.json)\n  --detailed-exitcode  exit 0 in sync, 2 drift or a guest to create, 1 error"),
    ("reconfigure", "phoenix reconfigure <ID>...", "Re-applies configuration and features to existing guests."),
    ("test", "phoenix test [<ID>...] [--suite NAME]", "Runs the test suites of guests, or of the host without targets."),
    ("validate", "phoenix validate [--strict] [--output json]", "Checks all config files; changes nothing.\n  --strict  warnings (unknown keys) are errors"),
    ("graph", "phoenix graph [<ID>...] [--format mermaid|dot] [--output json]", "Prints the dependency graph (clone edges solid, dependencies dashed)."),
    ("health-check", "phoenix health-check <VMID>...",
     "For each VM: it exists and is not a template, runs, its guest agent answers, and every one of\nits health_checks passes now (recorded or not). Changes nothing (vm-manager health-check)."),
    ("LetsGo", "phoenix LetsGo [--dry-run] [-q] [--jobs N] [--no-boot-delay]",
     "Creates every guest in dependency order, then starts every non-template guest in boot\norder. Ends with a recap per guest (ok, changed, failed, skipped).\n  -q  print nothing but errors (a converged host prints nothing)"),
    ("sync", "phoenix sync all|certs|dns|gateway|portainer|stacks | stack <name> to <vmid> [--dry-run] [--output json]",
     "Plans each part against what is there and changes only what differs (hypervisor-manager sync):\n  certs      certificates of etc/certificate-manifest.json issued from the internal CA\n  dns        dnsmasq records on the host (dnsmasq --test first), resolv.conf\n  gateway    the Nginx site (nginx -t first) and Traefik's files in their containers\n  portainer  the administrator and one agent environment per agent VM\n  stacks     portainer, then every stack of the agent VMs' docker_stacks\n  all        certs, dns, gateway, stacks\n  stack <name> to <vmid>  that stack on that VM alone\n  --dry-run  show the plan; change nothing"),
];

/// The help of one verb.
pub fn verb_help(verb: &str) -> Option<String> {
    let (_, usage, details) = VERB_DETAILS.iter().find(|(v, _, _)| *v == verb)?;
    let line = VERBS.iter().find(|(v, _)| *v == verb).map(|(_, d)| *d)?;
    Some(format!(
        "{line}\n\nUsage: {usage} [OPTIONS]\n\n{details}\n\nGlobal options (--config, --sim, --transport, --dry-run, --output, -v, -q): phoenix --help\n"
    ))
}

/// The verb closest to a mistyped one, if any is close.
pub fn suggest(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    VERBS
        .iter()
        .map(|(v, _)| (*v, strsim::jaro_winkler(&lower, &v.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, _)| v)
}

/// `Error: Invalid verb 'x'`, with the nearest verb when one is close.
pub fn invalid_verb(word: &str) -> String {
    match suggest(word) {
        Some(v) => format!("Error: Invalid verb '{word}'; did you mean '{v}'?"),
        None => format!("Error: Invalid verb '{word}'; see `phoenix --help`"),
    }
}

/// `phoenix help [verb]` and `phoenix <verb> --help`: `Some(exit code)` when handled here.
pub fn help_request(args: &[String]) -> Option<i32> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.first().map(String::as_str) == Some("help") {
        return match rest.get(1) {
            None => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                let _ = cmd.print_long_help();
                Some(0)
            }
            Some(v) => match verb_help(v) {
                Some(h) => {
                    print!("{h}");
                    Some(0)
                }
                None => {
                    eprintln!("{}", invalid_verb(v));
                    Some(1)
                }
            },
        };
    }
    if !rest.iter().any(|a| a == "--help" || a == "-h") {
        return None;
    }
    let verb = rest.iter().find_map(|a| verb_help(a))?;
    print!("{verb}");
    Some(0)
}

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
    s.push_str("\nExamples:\n  phoenix --sim LetsGo                 bring a simulated node to the bundled config\n  phoenix create 950                   create 950 and whatever it needs\n  phoenix start 953 950 --dry-run      show the start order and commands\n  phoenix status --output json\n  phoenix setup --node pve2            set up one node of the cluster (default: every node)\n");
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
    /// delete: the targets are guests no config file defines (`unmanaged` in `status`)
    #[arg(long)]
    pub unmanaged: bool,
    /// status: exit 0 when the host matches the config, 2 when it differs, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// test: run only this suite
    #[arg(long, value_name = "NAME")]
    pub suite: Option<String>,
    /// validate: treat warnings (unknown keys) as errors
    #[arg(long)]
    pub strict: bool,
    /// setup: allow ZFS to use disks that hold partitions, file systems or pools
    #[arg(long)]
    pub wipe_disks: bool,
    /// setup: set up this node of cluster.nodes (repeatable) [default: every node, in parallel]
    #[arg(long, value_name = "NAME")]
    pub node: Vec<String>,
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
