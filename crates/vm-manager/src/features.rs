//! Guest-side steps through the agent: VM feature scripts and health checks.
//!
//! A feature is `<scripts>/vm_features/feature_install_<feature>.sh`. It is transferred with the
//! VM's `vm_config.json` into [`GUEST_DIR`] and run as root with
//! `qm guest exec <vmid> -- env PHOENIX_VMID=<vmid> /bin/bash <dir>/<script>` (docs/features.md §5).
//! A non-zero `exitcode` stops the run and shows the script's `err-data`.

use crate::create::Run;
use crate::fail::{Fail, StepResult};
use phoenix_host::fs::fingerprint;

/// Folder inside the VM that receives feature scripts and `vm_config.json`.
pub const GUEST_DIR: &str = "/var/lib/phoenix/vm_features";

fn valid_name(f: &str) -> bool {
    !f.is_empty()
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && f != "."
        && f != ".."
}

/// Installs every feature whose inputs changed since it last succeeded (all when `force`).
pub fn apply_features(run: &mut Run) -> StepResult<()> {
    let config_json = serde_json::to_vec_pretty(&run.d.guest_json)
        .map_err(|e| Fail::new("features", e.to_string()))?;
    for f in run.d.features.clone() {
        let step = format!("feature {f}");
        if !valid_name(&f) {
            return Err(Fail::new(
                step,
                "feature names may only use letters, digits, '_', '.', '-'",
            ));
        }
        let script_name = format!("feature_install_{f}.sh");
        let script_path = run
            .ctx
            .env
            .scripts_dir
            .join("vm_features")
            .join(&script_name);
        let script = std::fs::read(&script_path)
            .map_err(|e| Fail::new(&step, format!("cannot read {}: {e}", script_path.display())))?;
        let key = format!("feature:{f}");
        let fp = fingerprint(&[&script, &config_json]);
        if !run.force && run.record.done(&key, &fp) {
            log::info!("VM {}: feature {f} already installed (recorded)", run.d.id);
            continue;
        }
        eprintln!("VM {}: installing feature {f}", run.d.id);
        let agent = run.agent()?;
        agent.write_file(&step, &format!("{GUEST_DIR}/vm_config.json"), &config_json)?;
        let target = format!("{GUEST_DIR}/{script_name}");
        agent.write_file(&step, &target, &script)?;
        let env = format!("PHOENIX_VMID={}", run.d.id);
        agent.run_ok(&step, &["env", &env, "/bin/bash", &target], None)?;
        run.mark(&step, &key, &fp)?;
    }
    Ok(())
}

/// Runs the health checks until each passes or runs out of attempts (skipped while recorded).
pub fn run_health_checks(run: &mut Run) -> StepResult<()> {
    if run.d.health_checks.is_empty() {
        return Ok(());
    }
    let text = serde_json::to_vec(&run.d.health_checks)
        .map_err(|e| Fail::new("health checks", e.to_string()))?;
    let fp = fingerprint(&[&text]);
    if !run.force && run.record.done("health_checks", &fp) {
        return Ok(());
    }
    for hc in run.d.health_checks.clone() {
        crate::health::run_check(run.agent()?, &hc)?;
    }
    run.mark("health checks", "health_checks", &fp)
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn feature_names_are_checked() {
        assert!(valid_name("docker"));
        assert!(valid_name("base_setup"));
        assert!(!valid_name("../x"));
        assert!(!valid_name("a b"));
    }
}
