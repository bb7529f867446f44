//! Proxmox firewall files (`/etc/pve/firewall/*.fw`), written from the config.
//!
//! A guest's `<id>.fw` is Phoenix's whole: generated from the guest's `firewall` block and
//! rewritten only when its content differs (so a converged run leaves it, and the firewall
//! daemon, alone). `cluster.fw` is shared with the operator and with Proxmox's own tools, so
//! Phoenix owns only its rules there: each rule it writes carries a comment starting with
//! [`MARK`] (`IN ACCEPT -p tcp -dport 80 # phoenix: Allow HTTP`). A comment is part of the
//! rule in Proxmox's model, so the mark survives edits made in the web UI or through the API,
//! where comment lines and block markers would not. [`merge_rules`] replaces the marked rules
//! with the config's, in place, and keeps every other line of the file as it is.

use std::path::{Path, PathBuf};

use phoenix_config::model::{Firewall, FirewallRule};

/// The comment prefix of the rules Phoenix owns in `cluster.fw`.
pub const MARK: &str = "phoenix";

/// The `.fw` text of a guest's firewall.
pub fn render(fw: &Firewall) -> String {
    let mut s = String::from("[OPTIONS]\n");
    s.push_str(&format!("enable: {}\n", u8::from(fw.enabled)));
    if let Some(p) = &fw.policy_in {
        s.push_str(&format!("policy_in: {p}\n"));
    }
    if let Some(p) = &fw.policy_out {
        s.push_str(&format!("policy_out: {p}\n"));
    }
    if !fw.rules.is_empty() {
        s.push_str("\n[RULES]\n");
        for r in &fw.rules {
            s.push_str(&rule(r));
            s.push('\n');
        }
    }
    s
}

/// The rule's options in Proxmox's order, without the comment.
fn body(r: &FirewallRule) -> String {
    let mut parts = vec![r.direction.to_string(), r.action.to_string()];
    let opts = [
        ("-i", r.iface.as_ref().map(|v| v.to_string())),
        ("-source", r.source.as_ref().map(|v| v.to_string())),
        ("-dest", r.dest.as_ref().map(|v| v.to_string())),
        ("-p", r.proto.clone()),
        ("-dport", r.dport.as_ref().map(|v| v.to_string())),
        ("-sport", r.sport.as_ref().map(|v| v.to_string())),
        ("-icmp-type", r.icmp_type.clone()),
        ("-log", r.log.as_ref().map(|v| v.to_string())),
    ];
    for (flag, v) in opts {
        if let Some(v) = v {
            parts.push(flag.to_string());
            parts.push(v);
        }
    }
    parts.join(" ")
}

/// A comment on one line (the config checked it; a line break would end the rule).
fn one_line(c: &str) -> String {
    c.replace(['\n', '\r'], " ").trim().to_string()
}

/// One `[RULES]` line: `IN ACCEPT -source 10.0.0.153 -p tcp -dport 8000 # comment`.
pub fn rule(r: &FirewallRule) -> String {
    let mut line = body(r);
    if let Some(c) = r.comment.as_deref().map(one_line).filter(|c| !c.is_empty()) {
        line.push_str(" # ");
        line.push_str(&c);
    }
    line
}

/// One rule Phoenix owns in `cluster.fw`: its comment starts with [`MARK`].
pub fn managed_rule(r: &FirewallRule) -> String {
    match r.comment.as_deref().map(one_line).filter(|c| !c.is_empty()) {
        Some(c) => format!("{} # {MARK}: {c}", body(r)),
        None => format!("{} # {MARK}", body(r)),
    }
}

/// Whether a `[RULES]` line is one of Phoenix's (enabled, or disabled with `|` since).
pub fn is_managed(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with('#') || line.is_empty() {
        return false;
    }
    // Proxmox takes the comment as everything after the rule's first `#`.
    let Some((_, comment)) = line.split_once('#') else {
        return false;
    };
    let c = comment.trim();
    c == MARK || c.strip_prefix(MARK).is_some_and(|r| r.starts_with(':'))
}

/// `<pve_dir>/firewall/<id>.fw`.
pub fn path(pve_dir: &Path, id: u64) -> PathBuf {
    pve_dir.join("firewall").join(format!("{id}.fw"))
}

/// `<pve_dir>/firewall/cluster.fw`.
pub fn cluster_path(pve_dir: &Path) -> PathBuf {
    pve_dir.join("firewall").join("cluster.fw")
}

/// Whether a line opens a section (`[RULES]`, `[group web]`, ...); its name in upper case.
fn section(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = t.strip_prefix('[')?.split(']').next()?;
    Some(inner.trim().to_ascii_uppercase())
}

/// `current` (the node's `cluster.fw`, empty when absent) with Phoenix's rules in `[RULES]`
/// being exactly `rules`: the marked rules are replaced where the first of them was (at the
/// top of the section when there was none, so they come before an operator's catch-all),
/// every other line is kept. A missing `[RULES]` section is added at the end; with no rules
/// and none written before, the text is returned unchanged.
pub fn merge_rules(current: &str, rules: &[FirewallRule]) -> String {
    let want: Vec<String> = rules.iter().map(managed_rule).collect();
    let lines: Vec<&str> = current.lines().collect();
    let mut in_rules = false;
    let mut header: Option<usize> = None;
    let mut first_managed: Option<usize> = None;
    let mut kept: Vec<(usize, &str)> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if let Some(name) = section(l) {
            in_rules = name == "RULES";
            if in_rules && header.is_none() {
                header = Some(i);
            }
        } else if in_rules && is_managed(l) {
            first_managed.get_or_insert(i);
            continue;
        }
        kept.push((i, l));
    }
    if first_managed.is_none() && want.is_empty() {
        return current.to_string();
    }
    let mut out: Vec<String> = Vec::with_capacity(kept.len() + want.len() + 2);
    let at = first_managed.or(header.map(|h| h + 1));
    let mut placed = false;
    for (i, l) in kept {
        if !placed && at.is_some_and(|a| i >= a) {
            out.extend(want.iter().cloned());
            placed = true;
        }
        out.push(l.to_string());
    }
    if !placed {
        if header.is_none() && !want.is_empty() {
            while out.last().is_some_and(|l| l.trim().is_empty()) {
                out.pop();
            }
            if !out.is_empty() {
                out.push(String::new());
            }
            out.push("[RULES]".into());
        }
        out.extend(want);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_config::model::firewall::{Direction, FwAddress, PortList};
    use phoenix_config::model::FwAction;

    fn web(port: &str, comment: Option<&str>) -> FirewallRule {
        FirewallRule {
            direction: Direction::In,
            action: FwAction::Accept,
            proto: Some("tcp".into()),
            dport: Some(PortList::parse(port).expect("port")),
            comment: comment.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn guest_file_in_proxmox_format() {
        let fw = Firewall {
            enabled: true,
            policy_in: Some(FwAction::Drop),
            policy_out: None,
            rules: vec![FirewallRule {
                source: Some(FwAddress::parse("10.0.0.153").expect("addr")),
                ..web("8000", Some("vllm"))
            }],
        };
        assert_eq!(render(&fw), "[OPTIONS]\nenable: 1\npolicy_in: DROP\n\n[RULES]\nIN ACCEPT -source 10.0.0.153 -p tcp -dport 8000 # vllm\n");
    }

    #[test]
    fn rules_with_dest_lists_and_ranges() {
        let r = FirewallRule {
            direction: Direction::Out,
            source: Some(FwAddress::parse("10.0.0.0/24").expect("addr")),
            dest: Some(FwAddress::parse("10.0.0.1,10.0.1.0/28").expect("addr")),
            ..web("80,443,8000:8010", Some("a\nb"))
        };
        assert_eq!(
            rule(&r),
            "OUT ACCEPT -source 10.0.0.0/24 -dest 10.0.0.1,10.0.1.0/28 -p tcp -dport 80,443,8000:8010 # a b"
        );
        assert_eq!(
            managed_rule(&web("53", None)),
            "IN ACCEPT -p tcp -dport 53 # phoenix"
        );
    }

    #[test]
    fn ranges_as_proxmox_writes_them() {
        let r = FirewallRule {
            source: Some(FwAddress::parse("10.0.0.1-10.0.0.9").expect("range")),
            ..web("8000:8010", None)
        };
        assert_eq!(
            rule(&r),
            "IN ACCEPT -source 10.0.0.1-10.0.0.9 -p tcp -dport 8000:8010"
        );
    }

    #[test]
    fn marked_rules_are_recognised() {
        assert!(is_managed("IN ACCEPT -p tcp -dport 80 # phoenix: HTTP"));
        assert!(is_managed("|IN ACCEPT -p tcp -dport 80 #phoenix"));
        assert!(!is_managed("IN ACCEPT -p tcp -dport 80 # phoenixes"));
        assert!(!is_managed(
            "IN ACCEPT -p tcp -dport 80 # mine, not phoenix:"
        ));
        assert!(!is_managed("# phoenix: a comment line"));
        assert!(!is_managed("IN ACCEPT -p tcp -dport 22"));
    }

    #[test]
    fn merge_into_a_file_without_rules() {
        let cur = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n";
        let new = merge_rules(cur, &[web("80", Some("HTTP")), web("443", None)]);
        assert_eq!(
            new,
            "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\nIN ACCEPT -p tcp -dport 80 # phoenix: HTTP\nIN ACCEPT -p tcp -dport 443 # phoenix\n"
        );
        // Idempotent: merging again changes nothing.
        assert_eq!(
            merge_rules(&new, &[web("80", Some("HTTP")), web("443", None)]),
            new
        );
        assert_eq!(merge_rules("", &[]), "");
        assert_eq!(merge_rules(cur, &[]), cur);
        assert_eq!(
            merge_rules("", &[web("80", None)]),
            "[RULES]\nIN ACCEPT -p tcp -dport 80 # phoenix\n"
        );
    }

    #[test]
    fn operator_rules_and_sections_are_kept() {
        let cur = "[OPTIONS]\nenable: 1\n\n[RULES]\nIN SSH(ACCEPT) -i vmbr0 # mine\nIN ACCEPT -p tcp -dport 8080 # phoenix: old\n|IN ACCEPT -p tcp -dport 81 # phoenix\nIN DROP # catch-all\n\n[IPSET management]\n10.0.0.5\n\n[group web]\nIN ACCEPT -p tcp -dport 80 # phoenix: not in RULES\n";
        let new = merge_rules(cur, &[web("80", Some("HTTP"))]);
        assert_eq!(
            new,
            "[OPTIONS]\nenable: 1\n\n[RULES]\nIN SSH(ACCEPT) -i vmbr0 # mine\nIN ACCEPT -p tcp -dport 80 # phoenix: HTTP\nIN DROP # catch-all\n\n[IPSET management]\n10.0.0.5\n\n[group web]\nIN ACCEPT -p tcp -dport 80 # phoenix: not in RULES\n"
        );
        // Rules removed from the config are removed from the file, the operator's stay.
        let none = merge_rules(&new, &[]);
        assert!(none.contains("IN SSH(ACCEPT) -i vmbr0 # mine\nIN DROP # catch-all\n"));
        assert!(!none.contains("# phoenix: HTTP"));
        // With no marked rule yet, Phoenix's come first in [RULES].
        let fresh = merge_rules("[RULES]\nIN DROP\n", &[web("80", None)]);
        assert_eq!(
            fresh,
            "[RULES]\nIN ACCEPT -p tcp -dport 80 # phoenix\nIN DROP\n"
        );
    }
}
