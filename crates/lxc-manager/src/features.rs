//! Work inside the container: feature scripts (run on the host, reaching the container through
//! `pct exec`/`pct push`), the application script (run inside), health checks, and the
//! lifecycle snapshots around them; plus the check, before anything changes, that every script
//! the config names exists.
//!
//! They are planned as one step (`features`) and recorded as one fingerprint (`in_guest`) of
//! the container's JSON object and every script involved: a later `create` skips the step while
//! the fingerprint matches; `reconfigure` and `converge` always run it.

use std::path::{Path, PathBuf};

use phoenix_config::model::HealthCheck;
use phoenix_config::Lxc;
use phoenix_guest::{Action, GuestOp, GuestResult, Job, NodeCommand, NodeOp, Payload, Step};
use pve::Conf;

/// Snapshot names of `enable_lifecycle_snapshots`.
pub const SNAP_BEFORE: &str = "pre-configured";
pub const SNAP_AFTER: &str = "final-form";

pub fn feature_script(scripts: &Path, f: &str) -> PathBuf {
    scripts
        .join("lxc_setup")
        .join(format!("phoenix_hypervisor_feature_install_{f}.sh"))
}

fn app_script(scripts: &Path, name: &str) -> PathBuf {
    scripts.join("lxc_setup").join(name)
}

fn utils_script(scripts: &Path) -> PathBuf {
    scripts.join("phoenix_hypervisor_common_utils.sh")
}

fn nvidia_check(scripts: &Path) -> PathBuf {
    scripts.join("health_checks").join("check_nvidia.sh")
}

fn wants_nvidia_check(lxc: &Lxc) -> bool {
    lxc.features.iter().any(|f| f == "nvidia")
}

/// Every host script `create`/`reconfigure` will run, in order.
pub fn scripts(scripts_dir: &Path, lxc: &Lxc) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = lxc
        .features
        .iter()
        .map(|f| feature_script(scripts_dir, f))
        .collect();
    if let Some(a) = &lxc.application_script {
        v.push(app_script(scripts_dir, a));
        v.push(utils_script(scripts_dir));
    }
    if wants_nvidia_check(lxc) {
        v.push(nvidia_check(scripts_dir));
    }
    if let Some((file, _)) = lxc
        .health_check
        .as_ref()
        .and_then(|hc| shipped_check(scripts_dir, &hc.command))
    {
        v.push(file);
    }
    v
}

/// Fails naming the first missing file of `paths`.
pub fn check_exist(job: &Job, paths: &[PathBuf]) -> GuestResult<()> {
    match paths.iter().find(|p| !p.is_file()) {
        Some(p) => Err(job.err(
            "preflight",
            format!("script {} does not exist", p.display()),
        )),
        None => Ok(()),
    }
}

/// The container's object as written in the LXC file (key order kept).
pub fn guest_json(job: &Job) -> GuestResult<serde_json::Value> {
    job.config()
        .lxc_guest_json(job.id())
        .map_err(|e| job.err("application", e))
}

/// Fingerprint of the container's JSON object and of every script run for it.
pub fn fingerprint(job: &Job, lxc: &Lxc) -> GuestResult<String> {
    let json = guest_json(job)?.to_string();
    let mut blobs: Vec<Vec<u8>> = vec![json.into_bytes()];
    for s in scripts(&job.ctx.env.scripts_dir, lxc) {
        blobs.push(std::fs::read(&s).unwrap_or_default());
    }
    let parts: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    Ok(phoenix_host::fs::fingerprint(&parts))
}

fn script(job: &Job, program: PathBuf, what: String, stream: bool) -> NodeCommand {
    NodeCommand {
        program,
        args: vec![job.guest.id.to_string()],
        env: Vec::new(),
        stream,
        what,
    }
}

/// Every feature script, in order (output streamed).
pub fn feature_actions(job: &Job, lxc: &Lxc) -> Vec<Action> {
    let dir = &job.ctx.env.scripts_dir;
    lxc.features
        .iter()
        .map(|f| {
            Action::node(
                "features",
                format!("feature {f}"),
                NodeOp::Run(script(
                    job,
                    feature_script(dir, f),
                    format!("feature {f}"),
                    true,
                )),
            )
            .long()
        })
        .collect()
}

/// The application script: pushed with the helper library and `guest_config.json` into a
/// fresh folder in the container, run there; the folder is removed whatever the outcome.
fn application_actions(job: &Job, lxc: &Lxc) -> GuestResult<Vec<Action>> {
    let Some(name) = &lxc.application_script else {
        return Ok(Vec::new());
    };
    let scripts = &job.ctx.env.scripts_dir;
    let json = serde_json::to_string_pretty(&guest_json(job)?)
        .map_err(|e| job.err("application", e.to_string()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = format!(
        "/tmp/phoenix_app.{}.{}.{nanos}",
        job.guest.id,
        std::process::id()
    );
    let exec = |why: &str, argv: &[&str]| {
        Action::guest(
            "application",
            why.to_string(),
            GuestOp::Exec {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                stdin: None,
            },
        )
    };
    let mut v = vec![exec(
        "a private folder for the application script",
        &["mkdir", "-m", "0700", &dir],
    )];
    let files = [
        (
            Payload::File(app_script(scripts, name)),
            name.as_str(),
            "0755",
        ),
        (
            Payload::File(utils_script(scripts)),
            "phoenix_hypervisor_common_utils.sh",
            "0644",
        ),
        (
            Payload::Bytes(json.into_bytes()),
            "guest_config.json",
            "0644",
        ),
    ];
    for (data, dst, perms) in files {
        v.push(Action::guest(
            "application",
            format!("{dst} for the application script"),
            GuestOp::Push {
                data,
                dest: format!("{dir}/{dst}"),
                perms: Some(perms.into()),
            },
        ));
    }
    let env = format!("PHOENIX_CTID={}", job.guest.id);
    v.push(
        exec(
            &format!("application script {name}"),
            &[
                "env",
                &env,
                "sh",
                "-c",
                "cd \"$1\" && exec bash \"$1/$2\"",
                "phoenix-app",
                &dir,
                name,
            ],
        )
        .long(),
    );
    v.push(
        exec(
            "remove the application script's folder",
            &["rm", "-rf", &dir],
        )
        .finally(),
    );
    Ok(v)
}

/// The NVIDIA check (whenever `nvidia` is a feature) and the config's `health_check`.
fn health_actions(job: &Job, lxc: &Lxc) -> Vec<Action> {
    let mut v = Vec::new();
    if wants_nvidia_check(lxc) {
        v.push(Action::node(
            "health check",
            "NVIDIA health check",
            NodeOp::Run(script(
                job,
                nvidia_check(&job.ctx.env.scripts_dir),
                "check_nvidia.sh".into(),
                false,
            )),
        ));
    }
    if let Some(hc) = &lxc.health_check {
        match shipped_check(&job.ctx.env.scripts_dir, &hc.command) {
            Some((file, rest)) => v.extend(pushed_check(job, hc, &file, &rest)),
            None => v.push(Action::guest(
                "health check",
                format!("health check '{}'", hc.label()),
                GuestOp::health_check(hc),
            )),
        }
    }
    v
}

/// A health check command whose program is one of Phoenix's own check scripts, named by its
/// installed path (`/usr/local/phoenix_hypervisor/bin/health_checks/check_step_ca.sh`, as the
/// old orchestrator's files do): the script on this machine and the rest of the command line.
/// Such a script exists on the host only, so it is pushed into the container to run.
fn shipped_check(scripts: &Path, command: &str) -> Option<(PathBuf, String)> {
    let command = command.trim_start();
    let (program, rest) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(p, r)| (p, r));
    let name = program.strip_prefix('/')?.rsplit_once("/health_checks/")?.1;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let file = scripts.join("health_checks").join(name);
    file.is_file().then(|| (file, rest.to_string()))
}

/// The shipped check pushed into a private folder of the container, run there with the
/// config's attempts and interval, the folder removed whatever the outcome.
fn pushed_check(job: &Job, hc: &HealthCheck, file: &Path, rest: &str) -> Vec<Action> {
    let dir = format!("/tmp/phoenix_check.{}.{}", job.guest.id, std::process::id());
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exec = |why: String, argv: Vec<String>| {
        Action::guest("health check", why, GuestOp::Exec { argv, stdin: None })
    };
    let mut command = format!("{dir}/{name}");
    if !rest.trim().is_empty() {
        command.push(' ');
        command.push_str(rest.trim());
    }
    vec![
        exec(
            format!("a private folder for {name}"),
            vec!["mkdir".into(), "-m".into(), "0700".into(), dir.clone()],
        ),
        Action::guest(
            "health check",
            format!("{name} for the health check"),
            GuestOp::Push {
                data: Payload::File(file.to_path_buf()),
                dest: format!("{dir}/{name}"),
                perms: Some("0755".into()),
            },
        ),
        Action::guest(
            "health check",
            format!("health check '{}'", hc.label()),
            GuestOp::Check {
                label: hc.label().to_string(),
                argv: vec!["sh".into(), "-c".into(), command],
                attempts: hc.retries,
                interval: std::time::Duration::from_secs(hc.interval),
            },
        ),
        exec(
            format!("remove {name}'s folder"),
            vec!["rm".into(), "-rf".into(), dir],
        )
        .finally(),
    ]
}

fn lifecycle_snapshot(job: &Job, lxc: &Lxc, conf: &Conf, name: &str) -> GuestResult<Vec<Action>> {
    if !lxc.enable_lifecycle_snapshots {
        return Ok(Vec::new());
    }
    if lxc.template_snapshot_name.as_deref() == Some(name) {
        // Taken after the features, as the template snapshot.
        return Ok(Vec::new());
    }
    Ok(phoenix_guest::lifecycle::snapshot_step(job, "snapshot", name, conf)?.actions)
}

/// Steps 5-8: lifecycle snapshots, features, application script, health checks.
pub fn in_guest_step(job: &Job, lxc: &Lxc, conf: &Conf) -> GuestResult<Step> {
    let mut step = Step::new("features");
    step.actions
        .extend(lifecycle_snapshot(job, lxc, conf, SNAP_BEFORE)?);
    step.actions.extend(feature_actions(job, lxc));
    step.actions.extend(application_actions(job, lxc)?);
    step.actions.extend(health_actions(job, lxc));
    step.actions
        .extend(lifecycle_snapshot(job, lxc, conf, SNAP_AFTER)?);
    Ok(step)
}
