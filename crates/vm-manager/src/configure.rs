//! Step 2 of a VM: one `qm set` with every option that differs (hardware, cloud-init options,
//! `sshkeys`, `cicustom`), the cloud-init snippets on the node, and the boot disk grown (a
//! shrink is refused). Pure functions of the desired state, the conf, and what the node showed,
//! so the planner is tested without processes and `phoenix status` computes drift with it.

use phoenix_config::model::Firewall;
use phoenix_config::{Config, Vm};
use phoenix_guest::{Action, NodeOp, Step, Target};
use phoenix_report::Change;
use pve::api::Method;
use pve::{Conf, PropString};

use crate::cloudinit;
use crate::desired::{self, Desired};
use crate::host;

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

/// Options whose value differs: `(key, desired)`.
pub fn hardware_options(vm: &Vm, conf: &Conf) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = desired::hardware(vm)
        .into_iter()
        .filter(|(k, v)| conf.get(k) != Some(v.as_str()))
        .collect();
    let agent_on = conf
        .get("agent")
        .and_then(|a| PropString::parse_with_default(a, Some("enabled")).ok())
        .and_then(|p| p.get("enabled").map(|v| v == "1"))
        .unwrap_or(false);
    if !agent_on {
        out.push((s("agent"), s("enabled=1")));
    }
    out
}

/// `net0` with the firewall flag of the config's `firewall.enabled` (Proxmox filters a VM's
/// traffic only on NICs with `firewall=1`), the rest of the NIC (model, MAC, bridge) as the
/// node has it; `None` when it is as wanted, or without a firewall block or a `net0`.
pub fn net0_firewall(vm: &Vm, conf: &Conf) -> Option<(String, String)> {
    let fw = vm.firewall.as_ref()?;
    let net0 = conf.get("net0")?;
    let mut p = PropString::parse(net0).ok()?;
    let on = p.get("firewall").is_some_and(|v| v == "1");
    if on == fw.enabled {
        return None;
    }
    p.set("firewall", if fw.enabled { "1" } else { "0" });
    Some((s("net0"), p.to_string()))
}

/// Whether two property strings hold the same keys and values (order ignored).
pub fn same_props(a: &str, b: &str) -> bool {
    let norm = |x: &str| {
        let mut v: Vec<(String, String)> = PropString::parse(x)
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    norm(a) == norm(b)
}

/// Cloud-init options that differ (`ide2` drive, `ipconfig0`, DNS, `ciuser`).
pub fn cloud_init_options(vm: &Vm, conf: &Conf) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !host::has_cloudinit_drive(conf) {
        out.push((s("ide2"), desired::cloudinit_drive(vm)));
    }
    if let Some(ip) = desired::ipconfig0(vm) {
        if conf.get("ipconfig0").is_none_or(|c| !same_props(c, &ip)) {
            out.push((s("ipconfig0"), ip));
        }
    }
    let (ns, search) = desired::dns_options(vm);
    for (k, v) in [
        ("nameserver", ns),
        ("searchdomain", search),
        ("ciuser", desired::ciuser(vm)),
    ] {
        if let Some(v) = v.filter(|v| conf.get(k) != Some(v.as_str())) {
            out.push((s(k), v));
        }
    }
    out
}

/// URL-encoding as the API wants `sshkeys` (everything but `A-Za-z0-9-._~`).
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn key_lines(t: &str) -> Vec<String> {
    t.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `sshkeys` (URL-encoded, as the API takes it) when the conf's keys differ.
pub fn sshkeys(d: &Desired, conf: &Conf) -> Option<(Change, String)> {
    let text = desired::sshkeys_text(&d.ssh_keys)?;
    let have = conf
        .get("sshkeys")
        .map(pve::conf::decode_text)
        .unwrap_or_default();
    let (h, w) = (key_lines(&have), key_lines(&text));
    if h == w {
        return None;
    }
    let n = |v: &[String]| (!v.is_empty()).then(|| format!("{} key(s)", v.len()));
    Some((
        Change::new("sshkeys", n(&h).as_deref(), n(&w).as_deref()),
        url_encode(&text),
    ))
}

/// The snippets as they should be, where they go, and what `cicustom` names them.
pub struct Snippets {
    pub storage: String,
    pub user_path: std::path::PathBuf,
    pub net_path: std::path::PathBuf,
    pub user: String,
    pub net: String,
}

impl Snippets {
    /// The `cicustom` value naming them.
    pub fn cicustom(&self, id: u64) -> String {
        let (u, n) = cloudinit::snippet_names(phoenix_config::GuestId(id));
        format!(
            "user={s}:snippets/{u},network={s}:snippets/{n}",
            s = self.storage
        )
    }
}

/// The `qm set` of everything above (no snippets): the options and their diff.
pub fn set_options(d: &Desired, conf: &Conf) -> (Vec<(String, String)>, Vec<Change>) {
    let mut opts = hardware_options(d.vm, conf);
    opts.extend(cloud_init_options(d.vm, conf));
    let mut changes: Vec<Change> = opts
        .iter()
        .map(|(k, v)| Change::new(k.clone(), conf.get(k), Some(v)))
        .collect();
    if let Some((k, v)) = net0_firewall(d.vm, conf) {
        let have = conf
            .get("net0")
            .and_then(|n| PropString::parse(n).ok())
            .and_then(|p| p.get("firewall").map(str::to_string));
        changes.push(Change::new(
            "net0.firewall",
            have.as_deref(),
            Some(if d.vm.firewall.as_ref().is_some_and(|f| f.enabled) {
                "1"
            } else {
                "0"
            }),
        ));
        opts.push((k, v));
    }
    if let Some((c, v)) = sshkeys(d, conf) {
        opts.push((s("sshkeys"), v));
        changes.push(c);
    }
    (opts, changes)
}

/// The snippets and what the node has at their paths now (`None`: absent).
pub type SnippetsSeen<'a> = (&'a Snippets, Option<&'a [u8]>, Option<&'a [u8]>);

/// Step 2: snippets written where they differ (`have_user`/`have_net`: what the node has),
/// then one `qm set`.
pub fn step(t: &Target, d: &Desired, conf: &Conf, snippets: Option<SnippetsSeen>) -> Step {
    let mut step = Step::new("configure");
    let (mut opts, mut changes) = set_options(d, conf);
    if let Some((sn, have_user, have_net)) = snippets {
        for (path, want, have, private, key) in [
            (&sn.user_path, &sn.user, have_user, true, "user-data"),
            (&sn.net_path, &sn.net, have_net, false, "network-config"),
        ] {
            if have != Some(want.as_bytes()) {
                step.push(
                    Action::node(
                        "cloud-init",
                        format!("the {key} snippet differs from the config"),
                        NodeOp::Write {
                            path: path.clone(),
                            data: want.clone().into_bytes(),
                            private,
                        },
                    )
                    .changes(vec![Change::new(
                        key,
                        have.map(|_| "other content"),
                        Some("rendered from the config"),
                    )]),
                );
            }
        }
        let cc = sn.cicustom(d.vm.id.0);
        if conf.get("cicustom").is_none_or(|c| !same_props(c, &cc)) {
            changes.push(Change::new("cicustom", conf.get("cicustom"), Some(&cc)));
            opts.push((s("cicustom"), cc));
        }
    }
    if !opts.is_empty() {
        let mut req = t.req(Method::Put, "/config");
        for (k, v) in opts {
            req = req.param(k, v);
        }
        let n = changes.len();
        step.push(
            Action::api(
                "configure",
                format!("{n} setting(s) differ from the config"),
                req,
            )
            .changes(changes),
        );
    }
    step
}

/// The firewall the VM's `.fw` holds: its `firewall` block, with the `production` rules of
/// each stack of its `docker_stacks` after its own (`phoenix_stacks::Stacks::vm_rules`: a VM
/// running stacks opens exactly what they declare). `None` without a `firewall` block. The
/// stacks are read beside the hypervisor config (`stacks/`, `etc/phoenix_stacks_config.json`)
/// only when the VM names some; an unknown stack is an error.
pub fn effective_firewall(cfg: &Config, vm: &Vm) -> Result<Option<Firewall>, String> {
    let Some(fw) = &vm.firewall else {
        return Ok(None);
    };
    if vm.docker_stacks.is_empty() {
        return Ok(Some(fw.clone()));
    }
    let stacks = phoenix_stacks::Stacks::load_beside(&cfg.paths.hypervisor).map_err(|d| {
        let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        format!("the stacks of docker_stacks: {}", lines.join("; "))
    })?;
    let rules = stacks
        .vm_rules(&fw.rules, &vm.docker_stacks)
        .map_err(|e| format!("docker_stacks: {e}"))?;
    Ok(Some(Firewall {
        rules,
        ..fw.clone()
    }))
}

/// The VM's firewall file: written whole from `fw` ([`effective_firewall`]) when `have`
/// (what the node has at its path) differs.
pub fn firewall(
    vm: &Vm,
    fw: Option<&Firewall>,
    pve_dir: &std::path::Path,
    have: Option<&[u8]>,
) -> Step {
    let mut step = Step::new("firewall");
    let Some(fw) = fw else {
        return step;
    };
    let text = phoenix_guest::firewall::render(fw);
    if have == Some(text.as_bytes()) {
        return step;
    }
    let own = vm.firewall.as_ref().map_or(0, |f| f.rules.len());
    let stacks = fw.rules.len() - own.min(fw.rules.len());
    let what = if stacks == 0 {
        format!("{own} rule(s) of the config")
    } else {
        format!("{own} rule(s) of the config, {stacks} of its stacks")
    };
    step.push(
        Action::node(
            "firewall",
            "the firewall file differs from the config",
            NodeOp::Write {
                path: phoenix_guest::firewall::path(pve_dir, vm.id.0),
                data: text.into_bytes(),
                private: false,
            },
        )
        .changes(vec![Change::new(
            "firewall",
            have.map(|_| "other rules"),
            Some(&what),
        )]),
    );
    step
}

/// Step 3: grow the boot disk to `disk_size_gb`; a smaller size is refused; templates are left
/// alone.
pub fn disk(t: &Target, vm: &Vm, conf: &Conf) -> Step {
    let step = Step::new("resize");
    let Some(gb) = vm.disk_size_gb else {
        return step;
    };
    if host::is_template(conf) {
        return step;
    }
    let Some((disk, value)) = host::boot_disk(conf) else {
        return step.refuse("the VM has no boot disk");
    };
    phoenix_guest::lifecycle::disk_step(
        t,
        "resize",
        &disk,
        Some(host::disk_bytes(&value).unwrap_or(0)),
        gb,
        "disk_size_gb",
    )
}

/// Drift for `status` (no process runs, so the snippets' content is not compared).
pub fn drift(t: &Target, d: &Desired, conf: &Conf) -> Result<Vec<Change>, String> {
    let mut out = set_options(d, conf).1;
    let disk = disk(t, d.vm, conf);
    if let Some(r) = disk.refusal {
        return Err(format!("resize: {r}"));
    }
    out.extend(disk.drift());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_round_trips_through_decode_text() {
        let keys = "ssh-ed25519 AAAA a@b\n";
        let e = url_encode(keys);
        assert_eq!(e, "ssh-ed25519%20AAAA%20a%40b%0A");
        assert_eq!(pve::conf::decode_text(&e), keys);
    }
}
