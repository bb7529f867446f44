//! A guest's PKI: Smallstep's `step` and `step-ca` (from `pve-sim-services`, real certificates
//! from a simulated CA) and the system trust store's `update-ca-certificates`.
//!
//! Why the CA is "started" by systemd here: `step-ca` is a daemon, but the simulated one answers
//! from its files (`$STEPPATH`), so starting `step-ca.service` records the CA's addresses in the
//! simulated network and stopping the unit or the guest removes them. The unit's paths are guest
//! paths; the network map needs paths every reader can open (the host, other guests), so they
//! are translated through the container's bind mounts to the state folder first.

use std::path::PathBuf;

use super::{systemd, Ctx, GuestFs};
use crate::host::Out;
use crate::state::{Kind, Node};

fn services_out(o: pve_sim_services::step::Out, mutating: bool) -> Out {
    Out {
        code: o.code,
        stdout: o.stdout,
        stderr: o.stderr,
        mutating: mutating && o.code == 0,
    }
}

/// `step ...` / `step-ca ...` run by hand inside the guest: the process's own environment
/// (`STEPPATH`, `HOME`) and guest paths, as on a real guest.
pub fn step(ctx: &Ctx, tool: &str, a: &[String]) -> Out {
    let vars = |k: &str| std::env::var(k).ok();
    let state = ctx.state.clone();
    let env = pve_sim_services::step::Env {
        vars: &vars,
        sim_root: &state,
        guest: Some(ctx.vmid),
    };
    let out = if tool == "step-ca" {
        pve_sim_services::step::step_ca(a, &env)
    } else {
        pve_sim_services::step::step(a, &env)
    };
    services_out(out, crate::host::services::step_writes(tool, a))
}

/// Where guest `id`'s path `p` is for this process: through a container's bind mounts (the
/// host folder under the state folder), else in the guest's own tree.
pub fn host_side(node: &Node, id: u32, p: &str) -> PathBuf {
    if node.guest_kind(id) == Some(Kind::Lxc) {
        if let Ok(conf) = node.read_conf(Kind::Lxc, id) {
            let mut best: Option<(usize, PathBuf)> = None;
            for (host, mp) in crate::guest::binds(node, &conf) {
                let mp = mp.trim_end_matches('/');
                let rest = if p == mp {
                    Some("")
                } else {
                    p.strip_prefix(mp).and_then(|r| r.strip_prefix('/'))
                };
                if let Some(rest) = rest {
                    if best.as_ref().is_none_or(|(n, _)| mp.len() > *n) {
                        best = Some((mp.len(), host.join(rest)));
                    }
                }
            }
            if let Some((_, path)) = best {
                return path;
            }
        }
    }
    super::tree::Tree::of(node, id).fs().path(p)
}

/// The program and arguments of a unit's `ExecStart`, and its `Environment` pairs.
fn exec_of(text: &str) -> (Vec<String>, Vec<(String, String)>) {
    let exec = systemd::directives(text, "ExecStart")
        .into_iter()
        .rfind(|v| !v.is_empty())
        .unwrap_or_default();
    let argv = exec
        .trim_start_matches(['-', '@', '!', '+', ':'])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let env = systemd::directives(text, "Environment")
        .iter()
        .flat_map(|l| l.split_whitespace())
        .filter_map(|kv| kv.trim_matches('"').split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (argv, env)
}

/// `step-ca.service` (any unit running `step-ca`) starting: the CA answers on its addresses.
/// Err: what the unit's journal would say; the unit fails.
pub fn on_unit_started(fs: &GuestFs, unit: &str) -> Result<(), String> {
    let Some(text) = systemd::unit_text(fs, unit) else {
        return Ok(());
    };
    let (argv, env) = exec_of(&text);
    if !argv.first().is_some_and(|p| p.ends_with("/step-ca")) {
        return Ok(());
    }
    let Some((state, id)) = fs.owner() else {
        return Ok(());
    };
    let node = Node::open(state.clone()).map_err(|e| e.msg)?;
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| {
            if a.starts_with('/') {
                host_side(&node, id, a).display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let vars = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let senv = pve_sim_services::step::Env {
        vars: &vars,
        sim_root: &state,
        guest: Some(id),
    };
    let out = pve_sim_services::step::step_ca(&args, &senv);
    if out.code == 0 {
        Ok(())
    } else {
        Err(out.stderr.trim_end().to_string())
    }
}

/// A unit stopping: a CA it ran no longer answers.
pub fn on_unit_stopped(fs: &GuestFs, unit: &str) {
    let Some(text) = systemd::unit_text(fs, unit) else {
        return;
    };
    if !exec_of(&text)
        .0
        .first()
        .is_some_and(|p| p.ends_with("/step-ca"))
    {
        return;
    }
    let Some((state, id)) = fs.owner() else {
        return;
    };
    let _ = pve_sim_services::net::unregister_service(&state, id, "step-ca");
}

const TRUST_DIR: &str = "/usr/local/share/ca-certificates";
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Which local certificates the bundle holds (the real tool keeps links in /etc/ssl/certs).
const ADDED: &str = "/etc/ssl/certs/.pve-sim-local";

/// `update-ca-certificates`: the `.crt` files under `/usr/local/share/ca-certificates` join the
/// bundle; removed ones leave it.
pub fn update_ca_certificates(fs: &GuestFs) -> Out {
    let mut local: Vec<(String, String)> = Vec::new();
    for f in fs.list(TRUST_DIR) {
        if f.ends_with(".crt") {
            if let Some(t) = fs.read(&format!("{TRUST_DIR}/{f}")) {
                local.push((f, t));
            }
        }
    }
    let before: Vec<String> = fs
        .read(ADDED)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let names: Vec<String> = local.iter().map(|(n, _)| n.clone()).collect();
    let added = names.iter().filter(|n| !before.contains(n)).count();
    let removed = before.iter().filter(|n| !names.contains(n)).count();
    let base = fs
        .read(BUNDLE)
        .unwrap_or_default()
        .split("# pve-sim local certificates\n")
        .next()
        .unwrap_or("")
        .to_string();
    let mut bundle = base;
    if !local.is_empty() {
        bundle.push_str("# pve-sim local certificates\n");
        for (_, t) in &local {
            bundle.push_str(t.trim_end());
            bundle.push('\n');
        }
    }
    let written = fs
        .write(BUNDLE, bundle.as_bytes())
        .and_then(|()| fs.write(ADDED, (names.join("\n") + "\n").as_bytes()));
    if let Err(e) = written {
        return Out::err(1, e.msg);
    }
    Out {
        code: 0,
        stdout: format!("Updating certificates in /etc/ssl/certs...\n{added} added, {removed} removed; done.\nRunning hooks in /etc/ca-certificates/update.d...\ndone.\n"),
        stderr: String::new(),
        mutating: true,
    }
}
