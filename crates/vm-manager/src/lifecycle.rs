//! What is particular to VMs in the shared life cycle (`phoenix_guest::lifecycle`): templates
//! never run, a template with linked clones is not deleted without `--force`, a delete also
//! removes Phoenix's own snippets; the status with drift; and the `test` verb.

use phoenix_config::Vm;
use phoenix_guest::lifecycle::{self, DeleteExtras};
use phoenix_guest::{GuestResult, Job};
use pve::Conf;

use crate::desired::Desired;
use crate::host::{self, is_template};

fn refuse_template(template: bool) -> Option<String> {
    template
        .then(|| "the VM is a template; templates cannot be started (clone it instead)".to_string())
}

pub fn start(job: &Job) -> GuestResult<()> {
    lifecycle::start(job, refuse_template)
}

pub fn restart(job: &Job) -> GuestResult<()> {
    lifecycle::restart(job, |t| {
        t.then(|| "the VM is a template; templates cannot be started".to_string())
    })
}

/// VMs whose disks use the template's volumes (linked clones).
pub fn linked_clones(job: &Job, conf: &Conf) -> GuestResult<Vec<u64>> {
    let names: Vec<String> = host::disk_volumes(conf)
        .into_iter()
        .filter_map(|v| v.split_once(':').map(|(_, n)| n.to_string()))
        .collect();
    Ok(host::other_confs(job, "delete")?
        .into_iter()
        .filter(|(_, c)| {
            host::disk_volumes(c).iter().any(|v| {
                let name = v.split_once(':').map_or("", |(_, n)| n);
                name.split('/').any(|part| names.iter().any(|n| n == part))
            })
        })
        .map(|(id, _)| id)
        .collect())
}

/// Phoenix's own snippet files named in `cicustom`.
fn own_snippets(job: &Job, conf: &Conf) -> GuestResult<Vec<std::path::PathBuf>> {
    let Some(cc) = conf.get("cicustom") else {
        return Ok(Vec::new());
    };
    let own = crate::cloudinit::snippet_names(job.id());
    let mut out = Vec::new();
    let mut defs = None;
    for part in cc.split(',') {
        let Some((_, vol)) = part.split_once('=') else {
            continue;
        };
        let file = vol.rsplit('/').next().unwrap_or("");
        if file != own.0 && file != own.1 {
            continue;
        }
        let Some((storage, _)) = vol.split_once(':') else {
            continue;
        };
        if defs.is_none() {
            defs = Some(host::storages(job, "delete")?);
        }
        let defs = defs.as_deref().unwrap_or_default();
        if let Ok(p) = host::snippet_path(&job.ctx.env, defs, storage, file) {
            out.push(p);
        }
    }
    Ok(out)
}

/// `delete` verb: stops (not templates) and destroys; removes the record and snippets.
pub fn delete(job: &Job) -> GuestResult<()> {
    lifecycle::delete(job, |conf| {
        let template = is_template(conf);
        let mut guard = None;
        if template && !job.ctx.inv.force {
            let clones = linked_clones(job, conf)?;
            if !clones.is_empty() {
                let list: Vec<String> = clones.iter().map(ToString::to_string).collect();
                guard = Some(format!(
                    "template has linked clones ({}); delete them first or use --force",
                    list.join(", ")
                ));
            }
        }
        Ok(DeleteExtras {
            guard,
            stop_first: !template,
            files: own_snippets(job, conf)?,
        })
    })
}

/// `status` verb: state, name and drift, in the one status shape.
pub fn status(job: &Job, vm: &Vm) -> GuestResult<()> {
    let d = Desired::of(vm).map_err(|e| job.err("config", e))?;
    let on_node = job.conf("status")?.as_ref().is_some_and(is_template);
    let t = job.target();
    lifecycle::status_verb(
        job,
        ("name", vm.name.as_str()),
        on_node || vm.is_template,
        &vm.features,
        |c| crate::configure::drift(&t, &d, c),
    )
}

/// Runs `<scripts>/tests/test_runner.sh <id> [--suite S]`; its exit status is the verb's.
pub fn test(job: &Job) -> GuestResult<i32> {
    let runner = job.ctx.env.scripts_dir.join("tests").join("test_runner.sh");
    if !runner.is_file() {
        return Err(job.err("test", format!("{} not found", runner.display())));
    }
    let out = lifecycle::run_test_runner(job, &runner)?;
    Ok(if out.code < 0 { 1 } else { out.code })
}
