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
use phoenix_guest::NodeCommand;
use phoenix_host::exit;
use phoenix_host::manager::Context;
use phoenix_report::{Change, Event, EventKind, Reporter};

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
    let fail = |msg: String| {
        crate::fail(r, format!("{STEP}: {msg}"));
        exit::FAILURE
    };
    let node =
        phoenix_guest::connect::node_work(&ctx.runner, &ctx.env, &ctx.config).map_err(&fail)?;
    let path = cluster_path(&ctx.env.pve_dir);
    let current = node
        .read(&path)
        .map_err(|e| fail(e.0))?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let Some(new) = plan(&current, rules) else {
        r.emit(
            Event::new(EventKind::Unchanged, None)
                .step(STEP)
                .message(format!("{} rule(s) of the config in place", rules.len())),
        );
        return Ok(());
    };
    let have = marked(&current);
    let change = Change::new(
        "cluster.fw [RULES]",
        Some(&format!("{have} {MARK} rule(s)")),
        Some(&format!("{} rule(s) of the config", rules.len())),
    );
    let event = |kind| {
        Event::new(kind, None)
            .step(STEP)
            .message("Phoenix's rules in cluster.fw differ from the config")
            .action(format!("write {}", path.display()))
            .changes(vec![change.clone()])
    };
    if ctx.env.dry_run {
        r.emit(event(EventKind::Planned));
        return Ok(());
    }
    node.write(&path, new.as_bytes(), false)
        .map_err(|e| fail(e.0))?;
    let out = node
        .run(&NodeCommand {
            program: "pve-firewall".into(),
            args: vec!["compile".into()],
            env: Vec::new(),
            stream: false,
            what: "pve-firewall compile".into(),
        })
        .map_err(|e| fail(e.0))?;
    if !out.success() {
        return Err(fail(format!(
            "pve-firewall rejects {} (exit {}): {}",
            path.display(),
            out.code,
            format!("{}{}", out.stdout, out.stderr).trim()
        )));
    }
    r.emit(event(EventKind::Changed));
    Ok(())
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
