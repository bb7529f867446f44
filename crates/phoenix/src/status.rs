//! `status` and `validate`: answered by the dispatcher itself, without a manager.

use phoenix_config::{Config, GuestId, Severity};
use phoenix_host::{exit, OutputFormat, Runner};
use serde_json::json;

use crate::host::HostState;

/// One row per configured guest (only `targets` when some are named, as the Bash CLI's
/// `status <id>`); one `pct list` and one `qm list` for the whole table.
pub fn show(cfg: &Config, targets: &[GuestId], output: OutputFormat) -> Result<(), String> {
    let host = HostState::read(&Runner::new(false))?;
    let rows: Vec<_> = cfg
        .guests()
        .filter(|g| targets.is_empty() || targets.contains(&g.id))
        .map(|g| {
            let p = host.guests.get(&g.id);
            (
                g,
                p.is_some(),
                p.map(|p| p.status.clone()).unwrap_or_else(|| "-".into()),
            )
        })
        .collect();
    match output {
        OutputFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(g, exists, state)| json!({"id": g.id.0, "type": g.kind.as_str(), "name": g.name, "template": g.is_template, "exists": exists, "state": state}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        OutputFormat::Text => {
            println!(
                "{:<10} {:<5} {:<34} {:<7} STATE",
                "ID", "TYPE", "NAME", "EXISTS"
            );
            for (g, exists, state) in rows {
                let name = if g.is_template {
                    format!("{} (template)", g.name)
                } else {
                    g.name.clone()
                };
                println!(
                    "{:<10} {:<5} {:<34} {:<7} {}",
                    g.id,
                    g.kind.as_str(),
                    name,
                    if exists { "yes" } else { "no" },
                    state
                );
            }
        }
    }
    Ok(())
}

/// Config was already loaded and validated by start-up; report the result.
pub fn validate(cfg: &Config, strict: bool, output: OutputFormat) -> i32 {
    let warnings = cfg
        .warnings
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let ok = !(strict && warnings > 0);
    let lxc = cfg
        .guests()
        .filter(|g| g.kind == phoenix_config::GuestKind::Lxc)
        .count();
    let vms = cfg.guests().count() - lxc;
    match output {
        OutputFormat::Json => {
            let v = json!({
                "valid": ok,
                "containers": lxc,
                "vms": vms,
                "warnings": cfg.warnings.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "files": [cfg.paths.hypervisor.display().to_string(), cfg.paths.lxc.display().to_string(), cfg.paths.vm.as_ref().map(|p| p.display().to_string())],
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        OutputFormat::Text => {
            if ok {
                println!(
                    "configuration is valid: {lxc} containers, {vms} VMs, {warnings} warning(s)"
                );
            } else {
                eprintln!("Error: {warnings} warning(s) treated as errors (--strict)");
            }
        }
    }
    if ok {
        exit::SUCCESS
    } else {
        exit::FAILURE
    }
}
