//! The Bash CLI's command line (`phoenix-cli`, reached through `phoenix-global` on `PATH`), where
//! it differs from Phoenix's. Its verbs were `setup create converge delete start stop restart
//! status sync health-check LetsGo`, its options `--dry-run`, `--reset-portainer`, `--help`.
//!
//! - `health-check <vmid>` is a Phoenix verb too (`vm-manager health-check`); only VMs have it;
//! - `status <id>...` shows the named guests (Phoenix's `status` alone shows all);
//! - `sync all` is Phoenix's `sync all` (`hypervisor-manager sync`), with the parts `certs`,
//!   `dns`, `gateway`, `portainer`, `stacks` on their own, and `sync stack <name> to <vmid>` is
//!   `hypervisor-manager sync stacks --stack <name> --to <vmid>`;
//! - `--reset-portainer` is not available yet: it fails with a message saying so, rather than
//!   as an unknown option.
//!
//! Where each old verb went is listed in docs/install.md.

use phoenix_config::{Config, GuestId, GuestKind};

/// What `sync` and `--reset-portainer` are waiting for, as users know it.
pub const SERVICE_LAYER: &str =
    "the service layer (internal CA, DNS, gateway, Portainer and Docker stacks)";

/// Exit code of a legacy verb or option that has no implementation yet.
pub const NOT_AVAILABLE: i32 = phoenix_host::exit::FAILURE;

/// The parts `sync` takes (`all` first).
pub const SYNC_PARTS: &[&str] = &["all", "certs", "dns", "gateway", "portainer", "stacks"];

/// `phoenix sync ...` as `hypervisor-manager sync` arguments: `<part>`, or the old
/// `stack <name> to <vmid>` as `stacks --stack <name> --to <vmid>`.
pub fn sync_args(args: &[String]) -> Result<Vec<String>, String> {
    match args {
        [s, name, to, vmid] if s == "stack" && to == "to" => {
            let id: u32 = vmid.parse().map_err(|_| {
                format!("Error: 'sync stack {name} to {vmid}': '{vmid}' is not a VM ID")
            })?;
            Ok(vec![
                "stacks".into(),
                "--stack".into(),
                name.clone(),
                "--to".into(),
                id.to_string(),
            ])
        }
        _ => sync_part(args).map(|p| vec![p.to_string()]),
    }
}

/// The part of `phoenix sync <part>`, or the message for a form Phoenix does not have.
pub fn sync_part(args: &[String]) -> Result<&'static str, String> {
    match args {
        [one] => SYNC_PARTS
            .iter()
            .find(|p| **p == one.as_str())
            .copied()
            .ok_or_else(|| {
                format!(
                    "Error: unknown sync part '{one}'; expected one of {}",
                    SYNC_PARTS.join(", ")
                )
            }),
        [] => Err(format!(
            "Error: 'sync' needs what to synchronise: {}",
            SYNC_PARTS.join(", ")
        )),
        _ => Err(format!(
            "Error: 'sync {}' is not a sync Phoenix knows: `sync <part>` ({}) or `sync stack <name> to <vmid>`",
            args.join(" "),
            SYNC_PARTS.join(", ")
        )),
    }
}

/// The message for the old `--reset-portainer` option (it only affected `sync`).
pub fn reset_portainer_message() -> String {
    format!(
        "Error: '--reset-portainer' is not available yet: it resets Portainer during a sync, which is part of {SERVICE_LAYER}, not implemented in this version of Phoenix; run the command without it"
    )
}

/// Whether the raw arguments hold the old `--reset-portainer` option (checked before the
/// command line is parsed, so the answer is this message and not "unexpected argument").
pub fn has_reset_portainer(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--reset-portainer")
}

/// `health-check` takes VMs only: the old verb ran a VM's foundation checks.
pub fn check_health_targets(cfg: &Config, targets: &[GuestId]) -> Result<(), String> {
    for id in targets {
        if cfg.guest(*id).is_some_and(|g| g.kind == GuestKind::Lxc) {
            return Err(format!(
                "health-check runs a VM's foundation checks; {id} is a container: its checks run with `phoenix test {id}`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reset_portainer_is_found_before_the_separator_only() {
        assert!(has_reset_portainer(&args(&[
            "phoenix",
            "LetsGo",
            "--reset-portainer"
        ])));
        assert!(!has_reset_portainer(&args(&[
            "phoenix",
            "create",
            "--",
            "--reset-portainer"
        ])));
        assert!(
            !has_reset_portainer(&args(&["--reset-portainer"])),
            "argv[0] is the program"
        );
    }

    #[test]
    fn sync_forms() {
        assert_eq!(
            sync_args(&args(&["stack", "web", "to", "8001"])).unwrap(),
            ["stacks", "--stack", "web", "--to", "8001"]
        );
        assert_eq!(sync_part(&args(&["all"])), Ok("all"));
        assert_eq!(sync_part(&args(&["dns"])), Ok("dns"));
        assert!(sync_part(&args(&["everything"]))
            .unwrap_err()
            .contains("unknown sync part"));
        assert!(sync_part(&[])
            .unwrap_err()
            .contains("needs what to synchronise"));
    }
}
