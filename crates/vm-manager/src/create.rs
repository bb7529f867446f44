//! `create` and `reconfigure`: the VM state machine. Each step checks, then acts only on a
//! difference, so a converged VM costs one `qm status` and no change:
//!
//! 1. defined (config file exists; else cloned or created from the cloud image);
//! 2. configured (one `qm set` with what differs, cloud-init snippets, disk grown);
//! 3. running, guest agent answering (pinged only when a later step needs it);
//! 4. features, 5. shared volumes, 6. health checks (recorded; see [`crate::record`]);
//! 7. snapshot `template_snapshot_name`; 8. template conversion for `is_template`.

use std::cell::Cell;

use phoenix_host::manager::Context;
use phoenix_host::slots::{Resource, Slots};
use pve::{Conf, PropString};

use crate::agent::Agent;
use crate::cloudinit;
use crate::desired::{Desired, Paths};
use crate::fail::{AtStep, Fail, StepResult};
use crate::host::{self, is_template};
use crate::record::RecordFile;

/// One run of the state machine for one VM.
pub struct Run<'a> {
    pub ctx: &'a Context,
    pub d: Desired,
    pub paths: Paths,
    pub record: RecordFile,
    /// Re-apply recorded agent steps (`PHOENIX_CONVERGE=1`, `reconfigure`).
    pub force: bool,
    /// Whether anything was changed (for the closing line).
    pub changed: bool,
    agent: Agent<'a>,
    agent_ready: Cell<bool>,
}

impl<'a> Run<'a> {
    pub fn new(ctx: &'a Context, force: bool) -> StepResult<Run<'a>> {
        let d = Desired::load(&ctx.config, ctx.id())?;
        let paths = Paths::new(&ctx.env, &ctx.config);
        let record = RecordFile::load(&paths.records, d.id, ctx.runner.dry_run);
        let agent = Agent::new(&ctx.runner, d.id, d.agent_poll_secs);
        Ok(Run {
            ctx,
            d,
            paths,
            record,
            force,
            changed: false,
            agent,
            agent_ready: Cell::new(false),
        })
    }

    /// The guest agent, waited for on first use.
    pub fn agent(&self) -> StepResult<&Agent<'a>> {
        if !self.agent_ready.get() && !self.ctx.runner.dry_run {
            self.agent.wait_ready(self.d.agent_timeout_secs)?;
            self.agent_ready.set(true);
        }
        Ok(&self.agent)
    }

    /// Records a completed agent step.
    pub fn mark(&mut self, step: &str, key: &str, fp: &str) -> StepResult<()> {
        self.changed = true;
        self.record.mark(key, fp).at(step)
    }

    /// Holds the clone-source and storage slots for one call (see `phoenix_host::slots`).
    fn hold(&self, step: &str, resources: &[Resource]) -> StepResult<Slots> {
        self.ctx.hold(resources).map_err(|e| Fail::new(step, e))
    }

    fn qm(&mut self, step: &str, args: &[String]) -> StepResult<String> {
        self.changed = true;
        self.ctx.runner.change("qm", args).at(step)
    }
}

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

/// `vm-manager create <id>`.
pub fn create(ctx: &Context) -> StepResult<()> {
    let force = std::env::var("PHOENIX_CONVERGE").is_ok_and(|v| v == "1");
    let mut run = Run::new(ctx, force)?;
    let Some(conf) = define(&mut run)? else {
        return Ok(());
    };
    configure(&mut run, &conf)?;
    if is_template(&conf) {
        return finish_template_on_node(&run);
    }
    ensure_running(&mut run)?;
    crate::features::apply_features(&mut run)?;
    crate::nfs::apply(&mut run)?;
    crate::features::run_health_checks(&mut run)?;
    snapshot(&mut run, &conf)?;
    if run.d.is_template {
        make_template(&mut run)?;
    }
    report(&run);
    Ok(())
}

/// `vm-manager reconfigure <id>`: configuration and features again (features re-run).
pub fn reconfigure(ctx: &Context) -> StepResult<()> {
    let mut run = Run::new(ctx, true)?;
    let conf = host::read_conf(&ctx.env, run.d.id)?
        .ok_or_else(|| Fail::new("reconfigure", "the VM does not exist; run create first"))?;
    configure(&mut run, &conf)?;
    if is_template(&conf) {
        eprintln!(
            "VM {}: is a template; features are not re-applied to templates",
            run.d.id
        );
        return Ok(());
    }
    ensure_running(&mut run)?;
    crate::features::apply_features(&mut run)?;
    report(&run);
    Ok(())
}

fn report(run: &Run) {
    let verb = if run.ctx.runner.dry_run {
        "would be changed (dry run)"
    } else {
        "converged"
    };
    if run.changed {
        eprintln!("VM {}: {verb}", run.d.id);
    } else {
        eprintln!(
            "VM {}: already in the desired state; nothing changed",
            run.d.id
        );
    }
}

fn finish_template_on_node(run: &Run) -> StepResult<()> {
    if !run.d.is_template {
        return Err(Fail::new("start", "the VM is a template on the node but is_template is not set; templates cannot be started"));
    }
    report(run);
    Ok(())
}

// ---- 1. defined ----

/// The VM's config after step 1; `None` under `--dry-run` when the VM does not exist yet.
fn define(run: &mut Run) -> StepResult<Option<Conf>> {
    if let Some(conf) = host::read_conf(&run.ctx.env, run.d.id)? {
        return Ok(Some(conf));
    }
    match run.d.clone_from {
        Some(src) => clone(run, src)?,
        None => create_from_image(run)?,
    }
    if run.ctx.runner.dry_run {
        eprintln!("VM {}: does not exist yet; configuration, start and features follow once it is created", run.d.id);
        return Ok(None);
    }
    run.record.clear().at("define")?;
    host::read_conf(&run.ctx.env, run.d.id)?
        .map(Some)
        .ok_or_else(|| Fail::new("define", "the VM config is still missing after creating it"))
}

fn clone(run: &mut Run, src: phoenix_config::GuestId) -> StepResult<()> {
    let source = host::read_conf(&run.ctx.env, src)?;
    if source.is_none() && !run.ctx.runner.dry_run {
        return Err(Fail::new(
            "clone",
            format!("source VM {src} does not exist; create it first (phoenix create {src})"),
        ));
    }
    let src_template = source.as_ref().is_some_and(is_template);
    let mut args = vec![
        s("clone"),
        s(src),
        s(run.d.id),
        s("--name"),
        run.d.name.clone(),
    ];
    if run.d.linked_clone && src_template {
        eprintln!("VM {}: linked clone of template {src}", run.d.id);
    } else {
        if run.d.linked_clone {
            log::warn!("VM {}: linked_clone needs a template source; VM {src} is not one, making a full clone", run.d.id);
        }
        args.extend([s("--full"), s("1"), s("--storage"), run.d.storage.clone()]);
        eprintln!("VM {}: full clone of VM {src}", run.d.id);
    }
    // `qm clone` only share-locks a template, so clones of one template run together; any
    // other source is locked for the whole copy.
    let mut wants = Vec::new();
    if !src_template {
        wants.push(Resource::CloneSource(src));
    }
    wants.push(Resource::Storage(run.d.storage.clone()));
    let _slots = run.hold("clone", &wants)?;
    run.qm("clone", &args)?;
    Ok(())
}

fn create_from_image(run: &mut Run) -> StepResult<()> {
    let image = ensure_image(run)?;
    let d = &run.d;
    let args = vec![
        s("create"),
        s(d.id),
        s("--name"),
        d.name.clone(),
        s("--cores"),
        s(d.cores),
        s("--memory"),
        s(d.memory_mb),
        s("--net0"),
        format!("virtio,bridge={}", d.bridge),
        s("--scsihw"),
        d.scsihw.clone(),
        s("--scsi0"),
        format!("{}:0,import-from={}", d.storage, image.display()),
        s("--ide2"),
        format!("{}:cloudinit", d.storage),
        s("--boot"),
        s("order=scsi0"),
        s("--serial0"),
        s("socket"),
        s("--vga"),
        s("serial0"),
        s("--agent"),
        s("enabled=1"),
        s("--ostype"),
        s("l26"),
    ];
    eprintln!("VM {}: creating from cloud image {}", d.id, image.display());
    let _slots = run.hold("import", &[Resource::Storage(d.storage.clone())])?;
    run.qm("import", &args)?;
    Ok(())
}

/// The cloud image in the cache, downloaded once when absent (see [`crate::image`]).
fn ensure_image(run: &mut Run) -> StepResult<std::path::PathBuf> {
    let image = run.d.image.clone().ok_or_else(|| {
        Fail::new(
            "image",
            "neither clone_from_vmid nor template_image is set; cannot create the VM",
        )
    })?;
    if image.contains('/') {
        return Err(Fail::new(
            "image",
            format!("template_image '{image}' must be a file name in the image cache"),
        ));
    }
    let path = run.paths.image_cache.join(&image);
    if path.is_file() {
        return Ok(path);
    }
    crate::image::download(run, &image, &path)?;
    Ok(path)
}

// ---- 2. configured ----

/// One `qm set` with every option that differs, cloud-init snippets, disk growth.
fn configure(run: &mut Run, conf: &Conf) -> StepResult<()> {
    let mut opts = hardware_options(&run.d, conf);
    opts.extend(cloud_init_options(&run.d, conf));
    let snippets = write_snippets(run, conf)?;
    if conf
        .get("cicustom")
        .is_none_or(|c| !same_props(c, &snippets))
    {
        opts.push((s("cicustom"), snippets));
    }
    let keys_file = sshkeys_file(&run.d, conf)?;
    if let Some(f) = &keys_file {
        opts.push((s("sshkeys"), f.path().display().to_string()));
    }
    if !opts.is_empty() {
        let names: Vec<&str> = opts.iter().map(|(k, _)| k.as_str()).collect();
        eprintln!("VM {}: setting {}", run.d.id, names.join(", "));
        let mut args = vec![s("set"), s(run.d.id)];
        for (k, v) in opts {
            args.extend([format!("--{k}"), v]);
        }
        run.qm("configure", &args)?;
    }
    grow_disk(run, conf)
}

fn hardware_options(d: &Desired, conf: &Conf) -> Vec<(String, String)> {
    let mut want: Vec<(String, String)> = vec![
        (s("name"), d.name.clone()),
        (s("cores"), s(d.cores)),
        (s("memory"), s(d.memory_mb)),
    ];
    if let Some(b) = d.start_at_boot {
        want.push((s("onboot"), s(u8::from(b))));
    }
    if let Some(order) = d.boot_order {
        let up = d.boot_delay.map(|u| format!(",up={u}")).unwrap_or_default();
        want.push((s("startup"), format!("order={order}{up}")));
    }
    let mut out: Vec<(String, String)> = want
        .into_iter()
        .filter(|(k, v)| conf.get(k) != Some(v.as_str()))
        .collect();
    let agent_on = conf
        .get("agent")
        .and_then(|a| PropString::parse_with_default(a, Some("enabled")).ok())
        .and_then(|p| p.get("enabled").map(|v| v == "1"))
        .unwrap_or(false);
    if !agent_on {
        out.push((s("agent"), s("enabled=1")));
    }
    out
}

/// Whether two property strings hold the same keys and values (order ignored).
fn same_props(a: &str, b: &str) -> bool {
    let norm = |x: &str| {
        let mut v: Vec<(String, String)> = PropString::parse(x)
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    norm(a) == norm(b)
}

fn cloud_init_options(d: &Desired, conf: &Conf) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let has_drive = conf.entries().any(|(k, v)| {
        ["ide", "scsi", "sata"].iter().any(|b| k.starts_with(b))
            && v.split(',').next().unwrap_or("").ends_with("cloudinit")
    });
    if !has_drive {
        out.push((s("ide2"), format!("{}:cloudinit", d.storage)));
    }
    if let Some(ip) = cloudinit::ipconfig0(d) {
        if conf.get("ipconfig0").is_none_or(|c| !same_props(c, &ip)) {
            out.push((s("ipconfig0"), ip));
        }
    }
    let (ns, search) = cloudinit::dns_options(d);
    let user = d.user.as_ref().map(|u| u.username.clone());
    for (k, v) in [
        ("nameserver", ns),
        ("searchdomain", search),
        ("ciuser", user),
    ] {
        if let Some(v) = v.filter(|v| conf.get(k) != Some(v.as_str())) {
            out.push((s(k), v));
        }
    }
    out
}

/// A file with the wanted keys when `sshkeys` differs (qm takes a file path).
fn sshkeys_file(d: &Desired, conf: &Conf) -> StepResult<Option<tempfile::NamedTempFile>> {
    let Some(text) = cloudinit::sshkeys_text(d) else {
        return Ok(None);
    };
    let have = conf
        .get("sshkeys")
        .map(host::percent_decode)
        .unwrap_or_default();
    let norm = |t: &str| {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if norm(&have) == norm(&text) {
        return Ok(None);
    }
    let mut f = tempfile::Builder::new()
        .prefix("phoenix-sshkeys-")
        .tempfile()
        .at("cloud-init")?;
    std::io::Write::write_all(&mut f, text.as_bytes()).at("cloud-init")?;
    Ok(Some(f))
}

/// Renders user-data and network-config into the snippets storage; returns the `cicustom` value.
fn write_snippets(run: &mut Run, conf: &Conf) -> StepResult<String> {
    let storage = match &run.d.snippets_storage {
        Some(st) => st.clone(),
        None => host::first_snippets_storage(&run.ctx.runner)?,
    };
    let (user_name, net_name) = cloudinit::snippet_names(run.d.id);
    let user_path = host::snippet_path(&run.ctx.env, &run.ctx.runner, &storage, &user_name)?;
    let net_path = user_path.with_file_name(&net_name);
    let template = cloudinit::template_text(run.paths.cloud_init_dir.as_deref())
        .map_err(|e| Fail::new("cloud-init", e))?;
    let user =
        cloudinit::render_user_data(&template, &run.d).map_err(|e| Fail::new("cloud-init", e))?;
    let inherited = cloudinit::InheritedDns {
        nameserver: conf.get("nameserver").map(str::to_string),
        searchdomain: conf.get("searchdomain").map(str::to_string),
    };
    let net = cloudinit::render_network_config(&run.d, nic_mac(conf).as_deref(), &inherited);
    let dry = run.ctx.runner.dry_run;
    let changed_user =
        host::write_if_changed(&user_path, user.as_bytes(), dry, true).at("cloud-init")?;
    let changed_net =
        host::write_if_changed(&net_path, net.as_bytes(), dry, false).at("cloud-init")?;
    if changed_user || changed_net {
        run.changed = true;
        eprintln!("VM {}: wrote cloud-init snippets in {storage}", run.d.id);
    }
    Ok(format!(
        "user={storage}:snippets/{user_name},network={storage}:snippets/{net_name}"
    ))
}

/// The MAC address of `net0` (`virtio=BC:24:11:...`).
pub fn nic_mac(conf: &Conf) -> Option<String> {
    let net = conf.get("net0")?;
    let first = net.split(',').next()?;
    let (_, mac) = first.split_once('=')?;
    (mac.len() == 17 && mac.matches(':').count() == 5).then(|| mac.to_string())
}

/// Grows the boot disk to `disk_size_gb` (never shrinks; templates are left alone).
fn grow_disk(run: &mut Run, conf: &Conf) -> StepResult<()> {
    let Some(gb) = run.d.disk_size_gb else {
        return Ok(());
    };
    if is_template(conf) {
        return Ok(());
    }
    let Some((disk, value)) = host::boot_disk(conf) else {
        return Err(Fail::new("resize", "the VM has no boot disk"));
    };
    let want = gb << 30;
    let have = host::disk_bytes(&value).unwrap_or(0);
    if have > want {
        log::warn!(
            "VM {}: {disk} is {} , larger than disk_size_gb {gb}; disks are never shrunk",
            run.d.id,
            pve::propstring::format_size(have)
        );
        return Ok(());
    }
    if have == want {
        return Ok(());
    }
    eprintln!("VM {}: growing {disk} to {gb}G", run.d.id);
    run.qm(
        "resize",
        &[s("disk"), s("resize"), s(run.d.id), disk, format!("{gb}G")],
    )?;
    Ok(())
}

// ---- 3. running ----

fn ensure_running(run: &mut Run) -> StepResult<()> {
    if host::status(&run.ctx.runner, run.d.id)? == "running" {
        return Ok(());
    }
    eprintln!("VM {}: starting", run.d.id);
    run.qm("start", &[s("start"), s(run.d.id)])?;
    Ok(())
}

// ---- 7. snapshot, 8. template ----

fn snapshot(run: &mut Run, conf: &Conf) -> StepResult<()> {
    let Some(name) = run.d.snapshot.clone() else {
        return Ok(());
    };
    if run.d.is_template {
        log::warn!(
            "VM {}: template_snapshot_name is ignored for templates",
            run.d.id
        );
        return Ok(());
    }
    if conf.snapshots().contains(&name.as_str()) {
        return Ok(());
    }
    eprintln!("VM {}: taking snapshot {name}", run.d.id);
    run.qm("snapshot", &[s("snapshot"), s(run.d.id), name])?;
    Ok(())
}

/// Seconds `qm shutdown` may take before the VM is stopped hard.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 120;

/// Cleans the guest for cloning, stops it and converts it to a template.
fn make_template(run: &mut Run) -> StepResult<()> {
    let clean = "cloud-init clean --logs && truncate -s 0 /etc/machine-id && rm -f /var/lib/dbus/machine-id";
    eprintln!(
        "VM {}: cleaning cloud-init state and machine-id for templating",
        run.d.id
    );
    run.agent()?
        .run_ok("template", &["sh", "-c", clean], None)?;
    shutdown(run, "template")?;
    eprintln!("VM {}: converting to a template", run.d.id);
    run.qm("template", &[s("template"), s(run.d.id)])?;
    Ok(())
}

/// `qm shutdown --timeout`, then `qm stop` when the guest did not power off.
pub fn shutdown(run: &mut Run, step: &str) -> StepResult<()> {
    let id = run.d.id;
    let args = [
        s("shutdown"),
        s(id),
        s("--timeout"),
        s(SHUTDOWN_TIMEOUT_SECS),
    ];
    if let Err(e) = run.qm(step, &args) {
        log::warn!("VM {id}: graceful shutdown failed ({}); stopping", e.what);
        run.qm(step, &[s("stop"), s(id)])?;
    }
    Ok(())
}
