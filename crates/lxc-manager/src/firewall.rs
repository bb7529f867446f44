//! The guest firewall file `<pve_dir>/firewall/<id>.fw`, in Proxmox's format.
//!
//! The file is generated whole from the config and rewritten only when its content differs, so
//! a converged run does not touch it (and the firewall daemon does not reload).

use phoenix_config::model::{Firewall, FirewallRule};

/// The `.fw` text for `fw`.
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

/// One `[RULES]` line: `IN ACCEPT -source 10.0.0.153 -p tcp -dport 8000 # comment`.
pub fn rule(r: &FirewallRule) -> String {
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

/// The node's firewall file of this job's container, read only when the config has a
/// firewall to compare it with (a node file: over the `api` transport it is read over SSH).
pub fn read(
    job: &phoenix_guest::Job,
    lxc: &phoenix_config::Lxc,
) -> phoenix_guest::GuestResult<Option<String>> {
    if lxc.firewall.is_none() {
        return Ok(None);
    }
    let p = path(job.pve_dir(), job.guest.id);
    Ok(job
        .transport
        .node_read(&p)
        .map_err(|e| job.err("firewall", e.0))?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_format() {
        use phoenix_config::model::firewall::{Direction, FwAddress, PortList};
        use phoenix_config::model::FwAction;
        let fw = Firewall {
            enabled: true,
            policy_in: Some(FwAction::Drop),
            policy_out: None,
            rules: vec![FirewallRule {
                direction: Direction::In,
                action: FwAction::Accept,
                source: Some(FwAddress::parse("10.0.0.153").expect("addr")),
                proto: Some("tcp".into()),
                dport: Some(PortList::parse("8000").expect("port")),
                comment: Some("vllm".into()),
                ..Default::default()
            }],
        };
        assert_eq!(render(&fw), "[OPTIONS]\nenable: 1\npolicy_in: DROP\n\n[RULES]\nIN ACCEPT -source 10.0.0.153 -p tcp -dport 8000 # vllm\n");
    }
}
