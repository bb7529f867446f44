//! Guest-side steps through the agent: VM feature scripts and health checks.
//!
//! A feature is `<scripts>/vm_features/feature_install_<feature>.sh`. It is transferred with the
//! VM's `vm_config.json` into [`GUEST_DIR`] and run as root with
//! `qm guest exec <vmid> -- env PHOENIX_VMID=<vmid> /bin/bash <dir>/<script>` (docs/features.md §5).
//! A non-zero `exitcode` stops the run and shows the script's `err-data`. Each feature is its
//! own step, recorded with a fingerprint of the script and `vm_config.json` once it succeeded.

use phoenix_guest::{Action, Applied, GuestOp, GuestResult, Payload, Step};
use phoenix_host::fs::fingerprint;

use crate::context::VmJob;

/// Folder inside the VM that receives feature scripts and `vm_config.json`.
pub const GUEST_DIR: &str = "/var/lib/phoenix/vm_features";

/// Installs every feature whose inputs changed since it last succeeded (all when forced);
/// `false` when a dry run stopped (nothing after it can be planned).
pub fn apply(vj: &VmJob) -> GuestResult<bool> {
    let (job, vm) = (vj.job, vj.vm());
    if let Some(n) = vj.record.borrow().record.dropped_note(&vm.features) {
        job.note(n);
    }
    let guest_json = job.config().vm_guest_json(vm.id).unwrap_or_default();
    let config_json =
        serde_json::to_vec_pretty(&guest_json).map_err(|e| job.err("features", e.to_string()))?;
    for f in &vm.features {
        let step_name = format!("feature {f}");
        let script_name = format!("feature_install_{f}.sh");
        let script_path = job
            .ctx
            .env
            .scripts_dir
            .join("vm_features")
            .join(&script_name);
        let script = std::fs::read(&script_path).map_err(|e| {
            job.err(
                &step_name,
                format!("cannot read {}: {e}", script_path.display()),
            )
        })?;
        let key = format!("feature:{f}");
        let fp = fingerprint(&[&script, &config_json]);
        if vj.recorded(&key, &fp) {
            job.unchanged(&step_name, None);
            continue;
        }
        let target = format!("{GUEST_DIR}/{script_name}");
        let env = format!("PHOENIX_VMID={}", vm.id);
        let step = Step::new(step_name.clone())
            .with(Action::guest(
                step_name.clone(),
                "the VM's config for the feature script",
                GuestOp::Push {
                    data: Payload::Bytes(config_json.clone()),
                    dest: format!("{GUEST_DIR}/vm_config.json"),
                    perms: None,
                },
            ))
            .with(Action::guest(
                step_name.clone(),
                format!("the script of feature {f}"),
                GuestOp::Push {
                    data: Payload::Bytes(script),
                    dest: target.clone(),
                    perms: None,
                },
            ))
            .with(
                Action::guest(
                    step_name.clone(),
                    format!("feature {f} is not installed with this script and config"),
                    GuestOp::Exec {
                        argv: ["env", env.as_str(), "/bin/bash", target.as_str()]
                            .map(String::from)
                            .to_vec(),
                        stdin: None,
                    },
                )
                .long(),
            );
        match vj.apply_agent(step)? {
            Applied::Planned => return Ok(false),
            _ => vj.mark(&step_name, &key, &fp, Some(f.as_str()))?,
        }
    }
    Ok(true)
}

/// Runs the health checks until each passes or runs out of attempts (recorded as one step).
pub fn health(vj: &VmJob) -> GuestResult<bool> {
    let job = vj.job;
    let checks = &vj.vm().health_checks;
    if checks.is_empty() {
        return Ok(true);
    }
    let text = serde_json::to_vec(checks).map_err(|e| job.err("health checks", e.to_string()))?;
    let fp = fingerprint(&[&text]);
    if vj.recorded("health_checks", &fp) {
        job.unchanged("health checks", None);
        return Ok(true);
    }
    let mut step = Step::new("health checks");
    for hc in checks {
        let label = hc.label();
        step.push(Action::guest(
            format!("health check {label}"),
            format!("health check '{label}'"),
            GuestOp::health_check(hc),
        ));
    }
    if vj.apply_agent(step)? == Applied::Planned {
        return Ok(false);
    }
    vj.mark("health checks", "health_checks", &fp, None)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    /// Feature names become part of a script path; the config's `FeatureName` is the rule.
    #[test]
    fn feature_names_are_checked() {
        let ok = |s: &str| s.parse::<phoenix_config::FeatureName>().is_ok();
        assert!(ok("docker"));
        assert!(ok("base_setup"));
        assert!(!ok("../x"));
        assert!(!ok("a b"));
    }
}
