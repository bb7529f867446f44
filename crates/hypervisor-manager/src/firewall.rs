//! The cluster firewall's rules: the config's global rules in `cluster.fw` `[RULES]`.
//!
//! The set-up script of step `firewall` writes the `[OPTIONS]` (and keeps the rest); this
//! planned step follows it and makes Phoenix's rules in `[RULES]` the config's
//! (`firewall.global_firewall_rules`, or the old tool's `shared_volumes.firewall`), keeping
//! every rule Phoenix did not write (`phoenix_guest::firewall::merge_rules`). The file is read
//! and written through the run's node-local work (here, or over SSH with the `api`
//! transport), rewritten only when it differs, and checked with `pve-firewall compile` then;
//! under `--dry-run` the write is reported as planned and nothing runs.

use phoenix_guest::firewall::{cluster_path, merge_rules, MARK};
use phoenix_host::manager::Context;
use phoenix_report::{Change, Reporter};

use crate::hostfile::{self, HostFile};

/// The step's name in events and messages.
pub const STEP: &str = "setup firewall rules";

/// What the step would write: `None` when the file is as the config wants it.
pub fn plan(current: &str, rules: &[phoenix_config::model::FirewallRule]) -> Option<String> {
    let new = merge_rules(current, rules);
    (new != current).then_some(new)
}

/// The number of Phoenix's rules in a `cluster.fw` text.
fn marked(text: &str) -> usize {
    text.lines()
        .filter(|l| phoenix_guest::firewall::is_managed(l))
        .count()
}

/// Runs the step; `Err` holds the exit code after the failure was reported.
pub fn run(ctx: &Context, r: &Reporter) -> Result<(), i32> {
    let rules = ctx
        .config
        .hypervisor
        .firewall
        .as_ref()
        .map(|f| f.rules.as_slice())
        .unwrap_or_default();
    let node = hostfile::node(ctx, r, STEP)?;
    let path = cluster_path(&ctx.env.pve_dir);
    let current = hostfile::read(&*node, r, STEP, &path)?;
    if rules.is_empty() && marked(&current) == 0 {
        // No global rules, none written before: nothing to check, nothing to report.
        return Ok(());
    }
    let change = Change::new(
        "cluster.fw [RULES]",
        Some(&format!("{} {MARK} rule(s)", marked(&current))),
        Some(&format!("{} rule(s) of the config", rules.len())),
    );
    let f = HostFile {
        step: STEP,
        path,
        reason: "Phoenix's rules in cluster.fw differ from the config".into(),
        in_place: format!("{} rule(s) of the config in place", rules.len()),
        then: Some(hostfile::command("pve-firewall", &["compile"])),
    };
    hostfile::apply(ctx, r, &*node, &f, plan(&current, rules), change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_config::model::firewall::{Direction, FirewallRule, PortList};

    #[test]
    fn a_converged_file_plans_nothing() {
        let rules = vec![FirewallRule {
            direction: Direction::In,
            proto: Some("udp".into()),
            dport: PortList::parse("53").ok(),
            ..Default::default()
        }];
        let new = plan("[OPTIONS]\nenable: 1\n", &rules).expect("a change");
        assert_eq!(marked(&new), 1);
        assert_eq!(plan(&new, &rules), None);
        assert_eq!(plan("[OPTIONS]\nenable: 1\n", &[]), None);
    }
}
