//! Cloud-init snippets from the VM's config: user-data and network-config (the `qm set`
//! cloud-init options are `desired.rs`'s).
//!
//! User-data comes from Phoenix's template `user-data.template.yml` (in
//! `core_paths.cloud_init_dir` when set and present, else the copy built into the binary from
//! `etc/cloud-init/`). Placeholders are `{{name}}`; values are inserted as YAML (JSON-quoted
//! strings, flow lists), so no value can break the document. A line whose placeholder has no
//! value is dropped. The network-config (version 1, the format Proxmox itself generates for
//! `nocloud`) is rendered in code: it matches the NIC by MAC address, so it also fits clones,
//! which get new MACs.

use std::path::Path;

use phoenix_config::Vm;

use crate::desired::{self, Desired};

/// The template shipped with Phoenix.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../etc/cloud-init/user-data.template.yml");
/// Template file name inside `core_paths.cloud_init_dir`.
pub const TEMPLATE_FILE: &str = "user-data.template.yml";
/// Packages every Phoenix VM gets.
pub const BASE_PACKAGES: &[&str] = &["qemu-guest-agent"];

/// The user-data template text: the configured one, else the built-in one.
pub fn template_text(cloud_init_dir: Option<&Path>) -> Result<String, String> {
    let Some(dir) = cloud_init_dir else {
        return Ok(BUILTIN_TEMPLATE.to_string());
    };
    let p = dir.join(TEMPLATE_FILE);
    match std::fs::read_to_string(&p) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::info!(
                "{} not found; using the built-in user-data template",
                p.display()
            );
            Ok(BUILTIN_TEMPLATE.to_string())
        }
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn flow_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| quote(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The value of a placeholder; `Ok(None)` drops the line.
fn value_of(key: &str, d: &Desired) -> Result<Option<String>, String> {
    let vm = d.vm;
    let hash = vm.user.as_ref().and_then(|u| u.password());
    Ok(match key {
        "vmid" => Some(vm.id.to_string()),
        "hostname" => Some(quote(&vm.name)),
        "username" => Some(quote(desired::username(vm))),
        "lock_passwd" => Some(hash.is_none().to_string()),
        "password_hash" => hash.map(quote),
        "ssh_authorized_keys" => (!d.ssh_keys.is_empty()).then(|| flow_list(&d.ssh_keys)),
        "packages" => Some(flow_list(&packages(d))),
        other => {
            return Err(format!(
                "unknown placeholder '{{{{{other}}}}}' in the user-data template"
            ))
        }
    })
}

fn packages(d: &Desired) -> Vec<String> {
    let mut p: Vec<String> = BASE_PACKAGES.iter().map(|s| s.to_string()).collect();
    if !d.vm.shared_volumes.is_empty() {
        p.push("nfs-common".into());
    }
    p
}

/// Renders user-data from `template`.
pub fn render_user_data(template: &str, d: &Desired) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 256);
    'lines: for line in template.split_inclusive('\n') {
        let mut rendered = String::new();
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("unclosed placeholder in line: {}", line.trim_end()))?;
            let key = rest[start + 2..start + end].trim();
            let Some(v) = value_of(key, d)? else {
                continue 'lines;
            };
            rendered.push_str(&rest[..start]);
            rendered.push_str(&v);
            rest = &rest[start + end + 2..];
        }
        rendered.push_str(rest);
        out.push_str(&rendered);
    }
    Ok(out)
}

/// DNS the VM's config already has (`nameserver`, `searchdomain`; a clone inherits its
/// template's), used when the JSON says nothing about DNS.
#[derive(Debug, Clone, Default)]
pub struct InheritedDns {
    pub nameserver: Option<String>,
    pub searchdomain: Option<String>,
}

/// Renders the network-config (version 1) for the NIC with `mac`.
pub fn render_network_config(vm: &Vm, mac: Option<&str>, inherited: &InheritedDns) -> String {
    let mut s = String::from("version: 1\nconfig:\n  - type: physical\n    name: eth0\n");
    if let Some(m) = mac {
        s.push_str(&format!(
            "    mac_address: {}\n",
            quote(&m.to_ascii_lowercase())
        ));
    }
    s.push_str("    subnets:\n");
    match vm.network.as_ref().filter(|n| n.ip.static_addr().is_some()) {
        Some(n) => {
            s.push_str(&format!(
                "      - type: static\n        address: {}\n",
                quote(&n.ip.to_string())
            ));
            if let Some(gw) = n.gateway {
                s.push_str(&format!("        gateway: {}\n", quote(&gw.to_string())));
            }
        }
        None => s.push_str("      - type: dhcp4\n"),
    }
    let (mut ns, mut search) = desired::dns(vm);
    let split = |v: &Option<String>| {
        v.iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if ns.is_empty() {
        ns = split(&inherited.nameserver);
    }
    if search.is_empty() {
        search = split(&inherited.searchdomain);
    }
    if !ns.is_empty() || !search.is_empty() {
        s.push_str("  - type: nameserver\n");
        s.push_str(&format!("    address: {}\n", flow_list(&ns)));
        if !search.is_empty() {
            s.push_str(&format!("    search: {}\n", flow_list(&search)));
        }
    }
    s
}

/// Snippet file names of a VM.
pub fn snippet_names(id: phoenix_config::GuestId) -> (String, String) {
    (
        format!("phoenix-{id}-user.yml"),
        format!("phoenix-{id}-network.yml"),
    )
}

#[cfg(test)]
mod tests;
