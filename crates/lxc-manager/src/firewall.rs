//! The guest firewall file `<pve_dir>/firewall/<id>.fw`, in Proxmox's format.
//!
//! The file is generated whole from the config and rewritten only when its content differs, so
//! a converged run does not touch it (and the firewall daemon does not reload).

use phoenix_config::model::common::{Firewall, FirewallRule};

/// The `.fw` text for `fw`.
pub fn render(fw: &Firewall) -> String {
    let mut s = String::from("[OPTIONS]\n");
    s.push_str(&format!("enable: {}\n", u8::from(fw.enabled)));
    if let Some(p) = &fw.policy_in {
        s.push_str(&format!("policy_in: {}\n", p.to_ascii_uppercase()));
    }
    if let Some(p) = &fw.policy_out {
        s.push_str(&format!("policy_out: {}\n", p.to_ascii_uppercase()));
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

/// One `[RULES]` line: `IN ACCEPT -source 10.0.0.153 -p tcp -dport 8000 # comment`.
pub fn rule(r: &FirewallRule) -> String {
    let mut parts = vec![
        r.direction.to_ascii_uppercase(),
        r.action.to_ascii_uppercase(),
    ];
    let opts = [
        ("-i", &r.iface),
        ("-source", &r.source),
        ("-dest", &r.dest),
        ("-p", &r.proto),
        ("-dport", &r.port),
        ("-sport", &r.sport),
    ];
    for (flag, v) in opts {
        if let Some(v) = v {
            parts.push(flag.to_string());
            parts.push(v.clone());
        }
    }
    let mut line = parts.join(" ");
    if let Some(c) = r.comment.as_deref().filter(|c| !c.is_empty()) {
        line.push_str(" # ");
        line.push_str(&c.replace(['\n', '\r'], " "));
    }
    line
}

/// `<pve_dir>/firewall/<id>.fw`.
pub fn path(pve_dir: &std::path::Path, id: u64) -> std::path::PathBuf {
    pve_dir.join("firewall").join(format!("{id}.fw"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_format() {
        let fw = Firewall {
            enabled: true,
            policy_in: Some("drop".into()),
            policy_out: None,
            rules: vec![FirewallRule {
                direction: "in".into(),
                action: "ACCEPT".into(),
                source: Some("10.0.0.153".into()),
                proto: Some("tcp".into()),
                port: Some("8000".into()),
                comment: Some("vllm".into()),
                ..Default::default()
            }],
        };
        assert_eq!(render(&fw), "[OPTIONS]\nenable: 1\npolicy_in: DROP\n\n[RULES]\nIN ACCEPT -source 10.0.0.153 -p tcp -dport 8000 # vllm\n");
    }
}
