//! Options every Phoenix binary accepts, before or after the verb.

use std::path::PathBuf;

/// `--output` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// The global options shared by the dispatcher and the managers.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Hypervisor config file [env: PHOENIX_CONFIG; default: etc/phoenix_hypervisor_config.json of this installation, else /usr/local/phoenix_hypervisor/etc/phoenix_hypervisor_config.json]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run against a simulated Proxmox node kept in DIR (default ./.phoenix-sim) [env: PHOENIX_SIM]
    #[arg(long, global = true, value_name = "DIR", num_args = 0..=1, require_equals = true, default_missing_value = crate::sim::DEFAULT_SIM_DIR)]
    pub sim: Option<PathBuf>,
    /// With --sim: a simulated cluster of N nodes (the config's `cluster.nodes` names, else
    /// pve1..pveN); implies --transport api unless one is chosen
    #[arg(long, global = true, value_name = "N")]
    pub sim_nodes: Option<usize>,
    /// Print what would change; change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Output format for data on stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More log detail (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How to reach Proxmox: local (pct/qm), pvesh, api (HTTPS) [env: PHOENIX_TRANSPORT; default: orchestration.transport, else local]
    #[arg(long, global = true, value_name = "KIND", value_parser = ["local", "pvesh", "api"])]
    pub transport: Option<String>,
    /// api: accept any TLS certificate of the node (never implied) [env: PHOENIX_API_INSECURE=1]
    #[arg(long, global = true)]
    pub insecure: bool,
}

/// Lets `--sim DIR` be written with a space: the token after `--sim` is its folder unless it is
/// a verb, a number (a guest ID) or another option. Everything else passes through unchanged.
pub fn normalize_sim_arg(args: Vec<String>, verbs: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        if a == "--sim" {
            let takes = it.peek().is_some_and(|n| {
                !n.starts_with('-')
                    && !verbs.contains(&n.as_str())
                    && !n.bytes().all(|b| b.is_ascii_digit())
            });
            if takes {
                let dir = it.next().unwrap_or_default();
                out.push(format!("--sim={dir}"));
                continue;
            }
        }
        out.push(a);
    }
    out
}

/// Starts `env_logger`: warnings by default, `-v` info, `-vv` debug, `-q` errors only.
pub fn init_logging(common: &CommonArgs) {
    let level = if common.quiet {
        "error"
    } else {
        match common.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let filters = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    let _ = logger(&filters).try_init();
}

/// The logger of every Phoenix binary, from `RUST_LOG`-style `filters`. Whatever the filters
/// ask, HTTP transport internals stay at warnings: at trace level ureq-proto dumps request and
/// response bytes, which would put the Portainer admin password and JWTs into the log.
pub fn logger(filters: &str) -> env_logger::Builder {
    let mut b = env_logger::Builder::new();
    b.parse_filters(filters);
    b.filter_module("ureq_proto", log::LevelFilter::Warn);
    b.filter_module("ureq_proto::util", log::LevelFilter::Off);
    b.format_timestamp(None);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn sim_takes_a_folder_but_not_a_verb_or_id() {
        let verbs = ["LetsGo", "start"];
        assert_eq!(
            normalize_sim_arg(v(&["--sim", "LetsGo"]), &verbs),
            v(&["--sim", "LetsGo"])
        );
        assert_eq!(
            normalize_sim_arg(v(&["--sim", "/tmp/x", "LetsGo"]), &verbs),
            v(&["--sim=/tmp/x", "LetsGo"])
        );
        assert_eq!(
            normalize_sim_arg(v(&["start", "--sim", "950"]), &verbs),
            v(&["start", "--sim", "950"])
        );
        assert_eq!(
            normalize_sim_arg(v(&["start", "950", "--sim"]), &verbs),
            v(&["start", "950", "--sim"])
        );
    }
}
