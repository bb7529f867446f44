//! The host's side of the service layer: `dnsmasq --test` (the checker of
//! `pve-sim-services`, over the host's files under `$PVE_SIM_ROOT/host`) and the `step` /
//! `step-ca` stand-ins (real certificates from the simulated CA, reached through the simulated
//! network), so `phoenix sync` runs on the simulated node with real formats.

use super::state::Host;
use super::Out;

/// `dnsmasq --test [--conf-file=F | -C F]`; `dnsmasq --version`. Anything else would start the
/// daemon, which `systemctl` stands in for.
pub fn dnsmasq(h: &mut Host, a: &[String]) -> Out {
    if a.iter().any(|x| x == "--version" || x == "-v") {
        return Out::ok("Dnsmasq version 2.90 (pve-sim)\n");
    }
    if !a.iter().any(|x| x == "--test") {
        return Out::err(
            2,
            "pve-sim: dnsmasq runs as the service (systemctl start dnsmasq); only --test and --version are simulated",
        );
    }
    let mut conf = "/etc/dnsmasq.conf".to_string();
    let mut i = 0;
    while i < a.len() {
        if let Some(v) = a[i].strip_prefix("--conf-file=") {
            conf = v.to_string();
        } else if a[i] == "-C" || a[i] == "--conf-file" {
            if let Some(v) = a.get(i + 1) {
                conf = v.clone();
                i += 1;
            }
        }
        i += 1;
    }
    let root = h.host_root();
    if !root.join(conf.trim_start_matches('/')).is_file() && conf != "/etc/dnsmasq.conf" {
        return Out::err(
            3,
            format!("dnsmasq: cannot read {conf}: No such file or directory"),
        );
    }
    match pve_sim_services::checks::dnsmasq::test(&root, &conf) {
        Ok(line) => Out {
            stderr: format!("{}\n", line.trim_end()),
            ..Out::default()
        },
        Err(e) => Out::err(1, e.trim_end()),
    }
}

/// `step ...` and `step-ca ...` with `$PVE_SIM_ROOT` as the simulated network.
pub fn step(h: &mut Host, tool: &str, a: &[String]) -> Out {
    let vars = |k: &str| std::env::var(k).ok();
    let env = pve_sim_services::step::Env {
        vars: &vars,
        sim_root: &h.root,
        guest: None,
    };
    let out = if tool == "step-ca" {
        pve_sim_services::step::step_ca(a, &env)
    } else {
        pve_sim_services::step::step(a, &env)
    };
    Out {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        mutating: step_writes(tool, a) && out.code == 0,
    }
}

/// Whether a `step`/`step-ca` call changes state (a CA made, a certificate or root written, a
/// CA started), on the host or in a guest.
pub fn step_writes(tool: &str, a: &[String]) -> bool {
    tool == "step-ca"
        || matches!(
            a.get(..2).map(|x| [x[0].as_str(), x[1].as_str()]),
            Some(["ca", "certificate" | "init" | "bootstrap"])
        )
}
