//! `create` and `reconfigure`: the VM's phases. Each observes, plans a step and hands it to
//! the executor; a converged VM costs one `qm status` and no change:
//!
//! 1. defined (config file exists; else cloned or created from the cloud image);
//! 2. configured (snippets, one `qm set`, `net0` firewall flag), firewall file, boot disk grown;
//! 3. running, guest agent answering (waited for only when a later step needs it);
//! 4. features, 5. shared volumes, 6. health checks (recorded per step, see
//!    `phoenix_guest::record`); 7. snapshot `template_snapshot_name`; 8. template conversion.

use phoenix_config::{GuestId, Vm};
use phoenix_guest::lifecycle::{snapshot_step, start_step};
use phoenix_guest::{Action, Applied, GuestOp, GuestResult, Job, Op, Require, Step};
use phoenix_host::slots::Resource;
use phoenix_report::{GuestTag, Kind};
use pve::api::{Method, Request};
use pve::Conf;

use crate::configure::{self, Snippets};
use crate::context::VmJob;
use crate::host::{self, is_template};
use crate::{cloudinit, image};

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

/// `vm-manager create <id>`.
pub fn create(job: &Job, vm: &Vm) -> GuestResult<()> {
    let force = std::env::var("PHOENIX_CONVERGE").is_ok_and(|v| v == "1");
    let vj = VmJob::new(job, vm, force)?;
    let Some(conf) = define(&vj)? else {
        job.then("configure, start, features, shared volumes, health checks, snapshot (planned once the VM exists)");
        return Ok(());
    };
    phoenix_guest::placement::place(job)?;
    let conf = configure(&vj, conf)?;
    if is_template(&conf) {
        if !vm.is_template {
            return Err(job.err("start", "the VM is a template on the node but is_template is not set; templates cannot be started"));
        }
        return done(job);
    }
    let state = job.state("start")?;
    if job.apply(start_step(job, &state))? == Applied::Planned {
        job.then("features, shared volumes, health checks, snapshot (planned once it runs)");
        return Ok(());
    }
    if !in_guest(&vj)? {
        return Ok(());
    }
    if let Some(name) = &vm.template_snapshot_name {
        if vm.is_template {
            log::warn!(
                "VM {}: template_snapshot_name is ignored for templates",
                vm.id
            );
        } else {
            job.apply(snapshot_step(job, "snapshot", name, &conf)?)?;
        }
    }
    if vm.is_template {
        make_template(&vj)?;
    }
    done(job)
}

/// Shared volumes, the internal root, features, health checks; `false` when a dry run stopped
/// at the agent. Volumes come first: a feature may read what the host put in one
/// (`trusted_ca` reads the root from `/etc/step-ca/certs`).
fn in_guest(vj: &VmJob) -> GuestResult<bool> {
    if !crate::nfs::apply(vj)? {
        return Ok(false);
    }
    crate::trust::apply(vj)?;
    Ok(crate::features::apply(vj)? && crate::features::health(vj)?)
}

fn done(job: &Job) -> GuestResult<()> {
    job.done_converged();
    Ok(())
}

/// `vm-manager reconfigure <id>`: configuration and features again (features re-run).
pub fn reconfigure(job: &Job, vm: &Vm) -> GuestResult<()> {
    let vj = VmJob::new(job, vm, true)?;
    let conf = job
        .conf("reconfigure")?
        .ok_or_else(|| job.err("reconfigure", "the VM does not exist; run create first"))?;
    let conf = configure(&vj, conf)?;
    if is_template(&conf) {
        job.note("is a template; features are not re-applied to templates");
        return Ok(());
    }
    let state = job.state("start")?;
    if job.apply(start_step(job, &state))? == Applied::Planned {
        job.then("features (planned once it runs)");
        return Ok(());
    }
    crate::trust::apply(&vj)?;
    crate::features::apply(&vj)?;
    done(job)
}

// ---- 1. defined ----

/// The VM's config after step 1; `None` when a dry run only planned its creation.
fn define(vj: &VmJob) -> GuestResult<Option<Conf>> {
    let job = vj.job;
    if let Some(conf) = job.conf("define")? {
        job.unchanged("define", None);
        return Ok(Some(conf));
    }
    let step = match vj.vm().clone_from_vmid {
        Some(src) => clone(vj, src)?,
        None => create_from_image(vj)?,
    };
    if job.apply(step)? == Applied::Planned {
        return Ok(None);
    }
    vj.record
        .borrow_mut()
        .clear()
        .map_err(|e| job.err("define", e.to_string()))?;
    job.conf("define")?
        .map(Some)
        .ok_or_else(|| job.err("define", "the VM config is still missing after creating it"))
}

fn clone(vj: &VmJob, src: GuestId) -> GuestResult<Step> {
    let (job, vm) = (vj.job, vj.vm());
    let source = GuestTag {
        id: src.0,
        kind: Kind::Vm,
    };
    let src_template = job
        .conf_of(source, "clone")?
        .as_ref()
        .is_some_and(is_template);
    let mut req = Request::new(
        Method::Post,
        format!("/nodes/{}/qemu/{src}/clone", job.node()),
    )
    .param("newid", s(vm.id))
    .param("name", vm.name.as_str());
    let why = if vm.linked_clone && src_template {
        format!(
            "VM {} does not exist (linked clone of template {src})",
            vm.id
        )
    } else {
        if vm.linked_clone {
            log::warn!("VM {}: linked_clone needs a template source; VM {src} is not one, making a full clone", vm.id);
        }
        req = req
            .param("full", "1")
            .param("storage", vm.storage_pool.as_str());
        format!("VM {} does not exist (full clone of VM {src})", vm.id)
    };
    // `qm clone` only share-locks a template, so clones of one template run together; any
    // other source is locked for the whole copy.
    let mut slots = Vec::new();
    if !src_template {
        slots.push(Resource::CloneSource(src));
    }
    slots.push(Resource::Storage(vm.storage_pool.to_string()));
    Ok(
        Step::new("define").with(Action::api("clone", why, req).slots(slots).long().requires(
            Require {
                guest: source,
                snapshot: None,
                message: format!(
                    "source VM {src} does not exist; create it first (phoenix create {src})"
                ),
            },
        )),
    )
}

fn create_from_image(vj: &VmJob) -> GuestResult<Step> {
    let (job, d) = (vj.job, vj.vm());
    let (path, download) = image::plan(d, &vj.paths).map_err(|e| job.err("image", e))?;
    let mut step = Step::new("define");
    step.actions.extend(download);
    let req = job
        .node_req(Method::Post, "/qemu")
        .param("vmid", s(d.id))
        .param("name", d.name.as_str())
        .param("cores", s(d.cores))
        .param("memory", s(d.memory_mb))
        .param("net0", format!("virtio,bridge={}", d.network_bridge))
        .param("scsihw", d.scsihw.as_str())
        .param(
            "scsi0",
            format!("{}:0,import-from={}", d.storage_pool, path.display()),
        )
        .param("ide2", crate::desired::cloudinit_drive(d))
        .param("boot", "order=scsi0")
        .param("serial0", "socket")
        .param("vga", "serial0")
        .param("agent", "enabled=1")
        .param("ostype", "l26");
    step.push(
        Action::api(
            "import",
            format!(
                "VM {} does not exist (created from cloud image {})",
                d.id,
                path.display()
            ),
            req,
        )
        .slots(vec![Resource::Storage(d.storage_pool.to_string())])
        .long(),
    );
    Ok(step)
}

// ---- 2. configured ----

/// Where the snippets go and what they should hold (the snippet storage and its path come
/// from the node's `storage.cfg`: no `pvesm` call).
fn snippets(vj: &VmJob, conf: &Conf) -> GuestResult<Snippets> {
    let (job, vm) = (vj.job, vj.vm());
    let fail = |e: String| job.err("cloud-init", e);
    let defs = host::storages(job, "cloud-init")?;
    let storage = match &vm.snippets_storage {
        Some(st) => st.to_string(),
        None => host::snippet_storage(&defs, &job.node()).ok_or_else(|| {
            fail("no enabled storage has 'snippets' content; set snippets_storage".into())
        })?,
    };
    let (user_name, net_name) = cloudinit::snippet_names(vm.id);
    let user_path = host::snippet_path(&job.ctx.env, &defs, &storage, &user_name).map_err(fail)?;
    let net_path = user_path.with_file_name(&net_name);
    let template = cloudinit::template_text(vj.paths.cloud_init_dir.as_deref()).map_err(fail)?;
    let user = cloudinit::render_user_data(&template, &vj.d).map_err(fail)?;
    let inherited = cloudinit::InheritedDns {
        nameserver: conf.get("nameserver").map(str::to_string),
        searchdomain: conf.get("searchdomain").map(str::to_string),
    };
    let net = cloudinit::render_network_config(vm, host::nic_mac(conf).as_deref(), &inherited);
    Ok(Snippets {
        storage,
        user_path,
        net_path,
        user,
        net,
    })
}

/// Step 2 and the disk; the conf afterwards.
fn configure(vj: &VmJob, conf: Conf) -> GuestResult<Conf> {
    let job = vj.job;
    let sn = snippets(vj, &conf)?;
    let read = |p: &std::path::Path| {
        job.transport
            .node_read(p)
            .map_err(|e| job.err("cloud-init", e.0))
    };
    let (have_user, have_net) = (read(&sn.user_path)?, read(&sn.net_path)?);
    let step = configure::step(
        &job.target(),
        &vj.d,
        &conf,
        Some((&sn, have_user.as_deref(), have_net.as_deref())),
    );
    let conf = if job.apply(step)? == Applied::Changed {
        job.conf("resize")?.unwrap_or(conf)
    } else {
        conf
    };
    let fw =
        configure::effective_firewall(job.config(), vj.vm()).map_err(|e| job.err("firewall", e))?;
    if fw.is_some() {
        let path = phoenix_guest::firewall::path(job.pve_dir(), vj.vm().id.0);
        let have = job
            .transport
            .node_read(&path)
            .map_err(|e| job.err("firewall", e.0))?;
        job.apply(configure::firewall(
            vj.vm(),
            fw.as_ref(),
            job.pve_dir(),
            have.as_deref(),
        ))?;
    }
    job.apply(configure::disk(&job.target(), vj.vm(), &conf))?;
    Ok(conf)
}

// ---- 8. template ----

/// Seconds `qm shutdown` may take before the VM is stopped hard.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 120;

/// Cleans the guest for cloning, stops it and converts it to a template.
fn make_template(vj: &VmJob) -> GuestResult<()> {
    let job = vj.job;
    let clean = "cloud-init clean --logs && truncate -s 0 /etc/machine-id && rm -f /var/lib/dbus/machine-id";
    let step = Step::new("template")
        .with(Action::guest(
            "template",
            "clean cloud-init state and machine-id for cloning",
            GuestOp::Exec {
                argv: vec!["sh".into(), "-c".into(), clean.into()],
                stdin: None,
            },
        ))
        .with(
            Action::api(
                "template",
                "a template is stopped",
                job.req(Method::Post, "/status/shutdown")
                    .param("timeout", s(SHUTDOWN_TIMEOUT_SECS)),
            )
            .fallback(Op::Api(job.req(Method::Post, "/status/stop")))
            .confirm(phoenix_guest::plan::Confirm::Stopped)
            .long(),
        )
        .with(Action::api(
            "template",
            "is_template is set",
            job.req(Method::Post, "/template"),
        ));
    vj.apply_agent(step).map(|_| ())
}
