//! What happens in a guest when it starts: `/run` is emptied, the container gets its hostname
//! (pve-container writes `/etc/hostname` and `/etc/hosts` at every start), the enabled units
//! start (a unit whose program is missing ends up failed), the guest agent starts where it is
//! installed, Docker's restart policies apply, and a VM runs cloud-init (see [`super::cloudinit`]).

use super::tree::{self, Tree};
use super::{docker, systemd, GuestFs};
use crate::state::{Kind, Node};
use crate::R;
use pve::Conf;

/// Boots guest `id`. Problems inside the guest (a failing unit, cloud-init errors) are left
/// in the guest's state, as on a real node; only a tree that cannot be made fails the start.
pub fn boot(node: &Node, kind: Kind, id: u32, conf: &Conf) -> R<()> {
    tree::ensure(node, id)?;
    let fs = Tree::of(node, id).fs();
    {
        let _lock = node.lock_global(&format!("exec-{id}"))?;
        for e in fs.list("/run") {
            fs.remove(&format!("/run/{e}"));
        }
        if kind == Kind::Lxc {
            let host = conf.get("hostname").unwrap_or("localhost");
            fs.write("/etc/hostname", format!("{host}\n").as_bytes())?;
            set_hosts(&fs, host)?;
        }
        docker::on_boot(&fs);
        for unit in enabled(&fs) {
            let _ = systemd::start(&fs, &unit);
        }
        if systemd::unit_path(&fs, "qemu-guest-agent.service").is_some() && kind == Kind::Qemu {
            let _ = systemd::start(&fs, "qemu-guest-agent.service");
        }
    }
    if kind == Kind::Qemu {
        super::cloudinit::first_boot(node, id, conf)?;
    }
    Ok(())
}

/// Units with a `*.wants/` link.
fn enabled(fs: &GuestFs) -> Vec<String> {
    let mut units = Vec::new();
    for d in fs.list("/etc/systemd/system") {
        if d.ends_with(".wants") {
            for u in fs.list(&format!("/etc/systemd/system/{d}")) {
                if !units.contains(&u) {
                    units.push(u);
                }
            }
        }
    }
    units
}

const BEGIN: &str = "# --- BEGIN PVE ---";
const END: &str = "# --- END PVE ---";

fn set_hosts(fs: &GuestFs, host: &str) -> R<()> {
    let text = fs.read("/etc/hosts").unwrap_or_default();
    let mut kept = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l == BEGIN {
            inside = true;
        } else if l == END {
            inside = false;
        } else if !inside {
            kept.push(l.to_string());
        }
    }
    kept.push(BEGIN.to_string());
    kept.push(format!("127.0.1.1 {host}"));
    kept.push(END.to_string());
    fs.write("/etc/hosts", (kept.join("\n") + "\n").as_bytes())
}
