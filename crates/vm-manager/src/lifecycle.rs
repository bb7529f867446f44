//! `start`, `stop`, `restart`, `status`, `delete`, `test` for one VM.

use phoenix_config::GuestId;
use phoenix_host::manager::Context;
use pve::Conf;

use crate::desired::Paths;
use crate::fail::{AtStep, Fail, StepResult};
use crate::host::{self, is_template};
use crate::record::RecordFile;

fn existing(ctx: &Context, step: &str) -> StepResult<Conf> {
    host::read_conf(&ctx.env, ctx.id())?.ok_or_else(|| Fail::new(step, "the VM does not exist"))
}

fn qm(ctx: &Context, step: &str, args: &[&str]) -> StepResult<()> {
    let id = ctx.id().to_string();
    let mut argv = vec![args[0], id.as_str()];
    argv.extend_from_slice(&args[1..]);
    ctx.runner.change("qm", &argv).at(step).map(|_| ())
}

/// `qm start <id>` unless running; templates are refused.
pub fn start(ctx: &Context) -> StepResult<()> {
    // `LetsGo --dry-run` on a new host: the create step before this one only printed its work.
    if ctx.runner.dry_run && host::read_conf(&ctx.env, ctx.id())?.is_none() {
        eprintln!(
            "VM {}: [dry-run] does not exist yet; it is started once created",
            ctx.id()
        );
        return Ok(());
    }
    let conf = existing(ctx, "start")?;
    if is_template(&conf) {
        return Err(Fail::new(
            "start",
            "the VM is a template; templates cannot be started (clone it instead)",
        ));
    }
    if host::status(&ctx.runner, ctx.id())? == "running" {
        eprintln!("VM {}: already running", ctx.id());
        return Ok(());
    }
    qm(ctx, "start", &["start"])?;
    eprintln!("VM {}: started", ctx.id());
    Ok(())
}

/// `qm stop <id>` unless stopped.
pub fn stop(ctx: &Context) -> StepResult<()> {
    existing(ctx, "stop")?;
    if host::status(&ctx.runner, ctx.id())? != "running" {
        eprintln!("VM {}: already stopped", ctx.id());
        return Ok(());
    }
    qm(ctx, "stop", &["stop"])?;
    eprintln!("VM {}: stopped", ctx.id());
    Ok(())
}

/// `qm reboot <id>` when running, else `qm start <id>`.
pub fn restart(ctx: &Context) -> StepResult<()> {
    let conf = existing(ctx, "restart")?;
    if is_template(&conf) {
        return Err(Fail::new(
            "restart",
            "the VM is a template; templates cannot be started",
        ));
    }
    if host::status(&ctx.runner, ctx.id())? == "running" {
        qm(ctx, "restart", &["reboot"])?;
    } else {
        qm(ctx, "restart", &["start"])?;
    }
    eprintln!("VM {}: restarted", ctx.id());
    Ok(())
}

/// Prints `<id> <name> <status>` (`template` for templates, `missing` when absent).
pub fn status(ctx: &Context) -> StepResult<()> {
    let id = ctx.id();
    let state = match host::read_conf(&ctx.env, id)? {
        None => ("-".to_string(), "missing".to_string()),
        Some(c) if is_template(&c) => (
            c.get("name").unwrap_or("-").to_string(),
            "template".to_string(),
        ),
        Some(c) => (
            c.get("name").unwrap_or("-").to_string(),
            host::status(&ctx.runner, id)?,
        ),
    };
    match ctx.inv.common.output {
        phoenix_host::OutputFormat::Json => {
            println!(
                "{}",
                serde_json::json!({"vmid": id.0, "name": state.0, "status": state.1})
            );
        }
        phoenix_host::OutputFormat::Text => println!("VM {id} ({}): {}", state.0, state.1),
    }
    Ok(())
}

/// VMs whose disks use the template's volumes (linked clones).
pub fn linked_clones(ctx: &Context, conf: &Conf) -> Vec<GuestId> {
    let names: Vec<String> = host::disk_volumes(conf)
        .into_iter()
        .filter_map(|v| v.split_once(':').map(|(_, n)| n.to_string()))
        .collect();
    host::other_confs(&ctx.env, ctx.id())
        .into_iter()
        .filter(|(_, c)| {
            host::disk_volumes(c).iter().any(|v| {
                let name = v.split_once(':').map_or("", |(_, n)| n);
                name.split('/').any(|part| names.iter().any(|n| n == part))
            })
        })
        .map(|(id, _)| id)
        .collect()
}

/// Stops (if running) and destroys the VM with `--purge`; removes its record and snippets.
pub fn delete(ctx: &Context) -> StepResult<()> {
    let id = ctx.id();
    let Some(conf) = host::read_conf(&ctx.env, id)? else {
        eprintln!("VM {id}: does not exist; nothing to delete");
        return Ok(());
    };
    if is_template(&conf) {
        let clones = linked_clones(ctx, &conf);
        if !clones.is_empty() && !ctx.inv.force {
            let list: Vec<String> = clones.iter().map(ToString::to_string).collect();
            return Err(Fail::new(
                "delete",
                format!(
                    "template has linked clones ({}); delete them first or use --force",
                    list.join(", ")
                ),
            ));
        }
    } else if host::status(&ctx.runner, id)? == "running" {
        eprintln!("VM {id}: stopping");
        qm(ctx, "delete", &["stop"])?;
    }
    eprintln!("VM {id}: destroying");
    qm(ctx, "delete", &["destroy", "--purge"])?;
    if !ctx.runner.dry_run {
        let paths = Paths::new(&ctx.env, &ctx.config);
        RecordFile::remove(&paths.records, id).at("delete")?;
        remove_snippets(ctx, &conf);
    }
    Ok(())
}

/// Removes Phoenix's own snippet files named in `cicustom` (best effort).
fn remove_snippets(ctx: &Context, conf: &Conf) {
    let Some(cc) = conf.get("cicustom") else {
        return;
    };
    let own = crate::cloudinit::snippet_names(ctx.id());
    for part in cc.split(',') {
        let Some((_, vol)) = part.split_once('=') else {
            continue;
        };
        let file = vol.rsplit('/').next().unwrap_or("");
        if file != own.0 && file != own.1 {
            continue;
        }
        if let Ok(out) = ctx.runner.read("pvesm", &["path", vol]) {
            let _ = std::fs::remove_file(host::tool_path(&ctx.env, &out));
        }
    }
}

/// Runs `<scripts>/tests/test_runner.sh <id> [--suite S]`; its exit status is the verb's.
pub fn test(ctx: &Context) -> StepResult<i32> {
    let runner = ctx.env.scripts_dir.join("tests").join("test_runner.sh");
    if !runner.is_file() {
        return Err(Fail::new("test", format!("{} not found", runner.display())));
    }
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&runner).arg(ctx.id().to_string());
    if let Some(s) = &ctx.inv.suite {
        cmd.args(["--suite", s]);
    }
    let status = cmd
        .status()
        .map_err(|e| Fail::new("test", format!("cannot run {}: {e}", runner.display())))?;
    Ok(status.code().unwrap_or(1))
}
