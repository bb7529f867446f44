//! The host's own address (`network.interfaces`: name, address, gateway, name servers), as the
//! old tool's initial set-up wrote it: one stanza in `/etc/network/interfaces.d/50-<name>.cfg`
//! (which Proxmox's `/etc/network/interfaces` sources; ifupdown2 merges it with the bridge's
//! own stanza there), reloaded with `ifreload -a` only when the file changed. The file is a
//! host file (`PHOENIX_HOST_ROOT`), read and written through the run's node-local work; this
//! planned step follows set-up step `initial_setup`.
//!
//! Unlike the old tool, Phoenix does not put `127.0.0.1` first among the name servers nor
//! overwrite `/etc/resolv.conf`: both belong to the internal DNS server (service layer).

use std::path::PathBuf;

use phoenix_config::model::hypervisor::HostInterface;
use phoenix_host::manager::Context;
use phoenix_report::{Change, Reporter};

use crate::hostfile::{self, HostFile};

/// The step's name in events and messages.
pub const STEP: &str = "setup network";

/// The stanza for `i`.
pub fn render(i: &HostInterface) -> String {
    let ns: Vec<&str> = i.dns_nameservers.words().collect();
    let mut s = format!(
        "# Written by Phoenix from network.interfaces of phoenix_hypervisor_config.json\nauto {name}\niface {name} inet static\n    address {}\n    gateway {}\n",
        i.address,
        i.gateway,
        name = i.name
    );
    if !ns.is_empty() {
        s.push_str(&format!("    dns-nameservers {}\n", ns.join(" ")));
    }
    s
}

/// `/etc/network/interfaces.d/50-<name>.cfg`.
pub fn path(i: &HostInterface) -> PathBuf {
    PathBuf::from(format!("/etc/network/interfaces.d/50-{}.cfg", i.name))
}

/// Runs the step when the config has `network.interfaces`; `Err` holds the exit code after
/// the failure was reported.
pub fn run(ctx: &Context, r: &Reporter) -> Result<(), i32> {
    let Some(i) = ctx
        .config
        .hypervisor
        .network
        .as_ref()
        .and_then(|n| n.interfaces.as_ref())
    else {
        return Ok(());
    };
    let node = hostfile::node(ctx, r, STEP)?;
    let file = ctx.env.host_path(&path(i));
    let current = hostfile::read(&*node, r, STEP, &file)?;
    let want = render(i);
    let new = (current != want).then(|| want.clone());
    let change = Change::new(
        format!("{} address", i.name),
        None,
        Some(&format!("{} gw {}", i.address, i.gateway)),
    );
    let f = HostFile {
        step: STEP,
        path: file,
        reason: format!(
            "the host's address on {} differs from network.interfaces",
            i.name
        ),
        in_place: format!("{} {} in place", i.name, i.address),
        then: Some(hostfile::command("ifreload", &["-a"])),
    };
    hostfile::apply(ctx, r, &*node, &f, new, change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_as_ifupdown_reads_it() {
        let i: HostInterface = serde_json::from_value(serde_json::json!({
            "name": "vmbr0", "address": "10.0.0.13/24", "gateway": "10.0.0.1",
            "dns_nameservers": ["10.0.0.153", "8.8.8.8"]
        }))
        .expect("interface");
        assert_eq!(
            render(&i),
            "# Written by Phoenix from network.interfaces of phoenix_hypervisor_config.json\nauto vmbr0\niface vmbr0 inet static\n    address 10.0.0.13/24\n    gateway 10.0.0.1\n    dns-nameservers 10.0.0.153 8.8.8.8\n"
        );
        assert_eq!(
            path(&i),
            PathBuf::from("/etc/network/interfaces.d/50-vmbr0.cfg")
        );
    }
}
