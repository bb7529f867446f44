//! What a VM wants, in `qm.conf` terms: the checked model's [`Vm`] (with `vm_defaults` and the
//! documented defaults already merged by the config) mapped to conf keys and values, so that
//! creation (`qm create`), comparison (`configure.rs`) and cloud-init share one mapping.
//!
//! The one thing read here is the content of `ssh_key_files`: it is not config, so it is read
//! when used, as the config says.

use phoenix_config::model::vm::VmUser;
use phoenix_config::{Config, GuestId, Vm};

/// User cloud-init creates when the VM has no `user_config`.
pub const DEFAULT_USER: &str = "phoenix";

/// A VM and the public keys its user gets.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    pub vm: &'a Vm,
    /// `ssh_public_key(s)`, then the keys in `ssh_key_files`, without repeats.
    pub ssh_keys: Vec<String>,
}

impl<'a> Desired<'a> {
    /// The VM `id` of the config. `Err`: the message for the `config` step.
    pub fn load(cfg: &'a Config, id: GuestId) -> Result<Desired<'a>, String> {
        let vm = cfg
            .vm(id)
            .ok_or_else(|| format!("not defined in {}", cfg.paths.vm_path().display()))?;
        Desired::of(vm)
    }

    /// `vm` with its user's keys read.
    pub fn of(vm: &'a Vm) -> Result<Desired<'a>, String> {
        let ssh_keys = match &vm.user {
            Some(u) => ssh_keys(u)?,
            None => Vec::new(),
        };
        Ok(Desired { vm, ssh_keys })
    }
}

/// The user's keys: the config's (trimmed, without repeats), then each non-comment line of the
/// key files not seen yet.
fn ssh_keys(u: &VmUser) -> Result<Vec<String>, String> {
    let mut keys = u.ssh_public_keys.clone();
    for p in &u.ssh_key_files {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read ssh_key_files entry {}: {e}", p.display()))?;
        for k in text.lines().map(str::trim) {
            if !k.is_empty() && !k.starts_with('#') && !keys.iter().any(|x| x == k) {
                keys.push(k.to_string());
            }
        }
    }
    Ok(keys)
}

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

/// `name`, `cores`, `memory`, `onboot`, `startup`: the hardware options Phoenix manages.
pub fn hardware(vm: &Vm) -> Vec<(String, String)> {
    let mut want = vec![
        (s("name"), s(&vm.name)),
        (s("cores"), s(vm.cores)),
        (s("memory"), s(vm.memory_mb)),
    ];
    if let Some(b) = vm.start_at_boot {
        want.push((s("onboot"), s(u8::from(b))));
    }
    if let Some(order) = vm.boot_order {
        let up = vm
            .boot_delay
            .map(|u| format!(",up={u}"))
            .unwrap_or_default();
        want.push((s("startup"), format!("order={order}{up}")));
    }
    want
}

/// The cloud-init drive (`ide2`).
pub fn cloudinit_drive(vm: &Vm) -> String {
    format!("{}:cloudinit", vm.storage_pool)
}

/// `ipconfig0` (`None`: the config says nothing about the network).
pub fn ipconfig0(vm: &Vm) -> Option<String> {
    let n = vm.network.as_ref()?;
    if n.ip.is_dhcp() {
        return Some("ip=dhcp".into());
    }
    Some(match n.gateway {
        Some(gw) => format!("ip={},gw={gw}", n.ip),
        None => format!("ip={}", n.ip),
    })
}

/// Name servers and search domains of the config, in order.
pub fn dns(vm: &Vm) -> (Vec<String>, Vec<String>) {
    let Some(n) = &vm.network else {
        return (Vec::new(), Vec::new());
    };
    (
        n.nameservers.iter().map(s).collect(),
        n.searchdomain.iter().map(s).collect(),
    )
}

/// `nameserver` (space-separated) and `searchdomain`, when configured.
pub fn dns_options(vm: &Vm) -> (Option<String>, Option<String>) {
    let (ns, search) = dns(vm);
    (
        (!ns.is_empty()).then(|| ns.join(" ")),
        (!search.is_empty()).then(|| search.join(" ")),
    )
}

/// `ciuser`, when the VM has a user.
pub fn ciuser(vm: &Vm) -> Option<String> {
    vm.user.as_ref().map(|u| s(&u.username))
}

/// The cloud-init user's name ([`DEFAULT_USER`] without `user_config`).
pub fn username(vm: &Vm) -> &str {
    vm.user
        .as_ref()
        .map_or(DEFAULT_USER, |u| u.username.as_str())
}

/// The `sshkeys` file content (one key per line), when there are keys.
pub fn sshkeys_text(keys: &[String]) -> Option<String> {
    (!keys.is_empty()).then(|| keys.iter().map(|k| format!("{k}\n")).collect())
}
