//! Steps inside the container: feature scripts (run on the host), the application script (run
//! inside), health checks; plus the check, before anything changes, that every script the config
//! names exists.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::step::{fail, tool, Job, StepResult};

pub fn feature_script(job: &Job, f: &str) -> PathBuf {
    job.ctx
        .env
        .scripts_dir
        .join("lxc_setup")
        .join(format!("phoenix_hypervisor_feature_install_{f}.sh"))
}

fn app_script(job: &Job, name: &str) -> PathBuf {
    job.ctx.env.scripts_dir.join("lxc_setup").join(name)
}

fn utils_script(job: &Job) -> PathBuf {
    job.ctx
        .env
        .scripts_dir
        .join("phoenix_hypervisor_common_utils.sh")
}

fn nvidia_check(job: &Job) -> PathBuf {
    job.ctx
        .env
        .scripts_dir
        .join("health_checks")
        .join("check_nvidia.sh")
}

fn wants_nvidia_check(job: &Job) -> bool {
    job.lxc.features.iter().any(|f| f == "nvidia")
}

/// Every host script `create`/`reconfigure` will run, in order.
pub fn scripts(job: &Job) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = job
        .lxc
        .features
        .iter()
        .map(|f| feature_script(job, f))
        .collect();
    if let Some(a) = &job.lxc.application_script {
        v.push(app_script(job, a));
        v.push(utils_script(job));
    }
    if wants_nvidia_check(job) {
        v.push(nvidia_check(job));
    }
    v
}

/// Fails naming the first missing file of `paths`.
pub fn check_exist(paths: &[PathBuf]) -> StepResult<()> {
    match paths.iter().find(|p| !p.is_file()) {
        Some(p) => Err(fail(
            "preflight",
            format!("script {} does not exist", p.display()),
        )),
        None => Ok(()),
    }
}

/// The container's object as written in the LXC file (key order kept).
pub fn guest_json(job: &Job) -> StepResult<serde_json::Value> {
    let p = &job.ctx.config.paths.lxc;
    let text = std::fs::read_to_string(p)
        .map_err(|e| fail("application", format!("cannot read {}: {e}", p.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fail("application", format!("{}: {e}", p.display())))?;
    v.get("lxc_configs")
        .and_then(|c| c.get(job.id.to_string()))
        .cloned()
        .ok_or_else(|| {
            fail(
                "application",
                format!("no lxc_configs.\"{}\" in {}", job.id, p.display()),
            )
        })
}

/// Fingerprint of the container's JSON object and of every script run for it.
pub fn fingerprint(job: &Job) -> StepResult<String> {
    let json = guest_json(job)?.to_string();
    let mut blobs: Vec<Vec<u8>> = vec![json.into_bytes()];
    for s in scripts(job) {
        blobs.push(std::fs::read(&s).unwrap_or_default());
    }
    let parts: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    Ok(phoenix_host::fs::fingerprint(&parts))
}

/// Runs every feature script, in order, output streamed.
pub fn run_features(job: &Job) -> StepResult<()> {
    for f in &job.lxc.features {
        job.say(format!("feature {f}"));
        let mut cmd = Command::new(feature_script(job, f));
        cmd.arg(job.ids()).stdin(Stdio::null());
        job.ctx.env.apply(&mut cmd, Some(&job.ctx.config));
        let st = cmd
            .status()
            .map_err(|e| fail("features", format!("cannot run feature {f}: {e}")))?;
        if !st.success() {
            return Err(fail(
                "features",
                format!("feature {f} failed (exit {})", st.code().unwrap_or(-1)),
            ));
        }
    }
    Ok(())
}

/// Pushes the application script, the helper library and `guest_config.json` into a fresh
/// folder in the container, runs the script there, and removes the folder whatever the outcome.
pub fn run_application(job: &Job) -> StepResult<()> {
    let Some(name) = &job.lxc.application_script else {
        return Ok(());
    };
    job.say(format!("application script {name}"));
    let json = serde_json::to_string_pretty(&guest_json(job)?)
        .map_err(|e| fail("application", e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| fail("application", e.to_string()))?;
    tmp.write_all(json.as_bytes())
        .map_err(|e| fail("application", e.to_string()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = format!("/tmp/phoenix_app.{}.{}.{nanos}", job.id, std::process::id());
    let id = job.ids();
    let exec = |args: &[&str]| {
        let mut a: Vec<String> = vec!["exec".into(), id.clone(), "--".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        job.pct_change("application", &a)
    };
    exec(&["mkdir", "-m", "0700", &dir])?;
    let result = (|| {
        let files = [
            (app_script(job, name), name.as_str(), "0755"),
            (
                utils_script(job),
                "phoenix_hypervisor_common_utils.sh",
                "0644",
            ),
            (tmp.path().to_path_buf(), "guest_config.json", "0644"),
        ];
        for (src, dst, perms) in files {
            let a = vec![
                "push".to_string(),
                id.clone(),
                src.display().to_string(),
                format!("{dir}/{dst}"),
                "--perms".into(),
                perms.into(),
            ];
            job.pct_change("application", &a)?;
        }
        let mut run = vec!["env".to_string(), format!("PHOENIX_CTID={id}")];
        if job.dry_run() {
            run.push("PHOENIX_DRY_RUN=1".into());
        }
        run.extend(
            [
                "sh",
                "-c",
                "cd \"$1\" && exec bash \"$1/$2\"",
                "phoenix-app",
                &dir,
                name,
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = run.iter().map(String::as_str).collect();
        let out = exec(&refs)?;
        if !out.trim().is_empty() {
            eprintln!("{}", out.trim_end());
        }
        Ok(())
    })();
    let cleanup = exec(&["rm", "-rf", &dir]);
    result.and(cleanup.map(|_| ()))
}

/// The NVIDIA check (whenever `nvidia` is a feature) and the config's `health_check`.
pub fn run_health_checks(job: &Job) -> StepResult<()> {
    if job.dry_run() {
        job.say("health checks run after the changes are made (skipped under --dry-run)");
        return Ok(());
    }
    if wants_nvidia_check(job) {
        let mut cmd = Command::new(nvidia_check(job));
        cmd.arg(job.ids()).stdin(Stdio::null());
        job.ctx.env.apply(&mut cmd, Some(&job.ctx.config));
        let out = cmd
            .output()
            .map_err(|e| fail("health check", format!("cannot run check_nvidia.sh: {e}")))?;
        if !out.status.success() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return Err(fail(
                "health check",
                format!("check_nvidia.sh failed: {}", text.trim()),
            ));
        }
        job.say("NVIDIA health check passed");
    }
    let Some(hc) = &job.lxc.health_check else {
        return Ok(());
    };
    let attempts = hc.retries;
    let interval = Duration::from_secs(hc.interval);
    let label = hc.label().to_string();
    let argv = [
        "exec".to_string(),
        job.ids(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        hc.command.clone(),
    ];
    let mut last = String::new();
    for attempt in 1..=attempts {
        let out = job
            .ctx
            .runner
            .probe("pct", &argv)
            .map_err(tool("health check"))?;
        if out.success() {
            job.say(format!("health check '{label}' passed"));
            return Ok(());
        }
        last = format!(
            "exit {}: {}{}",
            out.code,
            out.stdout.trim(),
            out.stderr.trim()
        );
        if attempt < attempts {
            std::thread::sleep(interval);
        }
    }
    Err(fail(
        "health check",
        format!("'{label}' failed after {attempts} attempts ({last})"),
    ))
}
