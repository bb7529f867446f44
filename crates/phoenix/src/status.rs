//! `status` and `validate`: answered by the dispatcher itself, without a manager.

use phoenix_config::{Config, Guest, GuestId, GuestKind, Severity};
use phoenix_guest::job::tag;
use phoenix_guest::Target;
use phoenix_host::{exit, HostEnv, OutputFormat, Runner};
use phoenix_report::{Change, GuestStatus, GuestTag, Sync};
use serde_json::json;

use crate::host::HostState;

/// One row per configured guest, then the host's guests no config defines (only `targets` when
/// some are named, as the Bash CLI's `status <id>`); one `pct list` and one `qm list` for the
/// whole table, drift from the conf files with the managers' own planners (no manager runs). Returns the exit code: with `detailed`, 0 in sync, 2 drift (or a
/// guest to create), 1 error.
pub fn show(
    cfg: &Config,
    env: &HostEnv,
    targets: &[GuestId],
    output: OutputFormat,
    detailed: bool,
) -> Result<i32, String> {
    let runner = Runner::new();
    let transport = phoenix_guest::connect::transport(&runner, env, cfg)?;
    let host = HostState::read(transport.as_ref())?;
    transport.seed(&host.snapshot);
    let mut rows = rows(cfg, env, &host, transport.as_ref());
    rows.retain(|r| targets.is_empty() || targets.contains(&GuestId(r.id)));
    match output {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).unwrap_or_default()
            );
        }
        OutputFormat::Text => {
            print!("{}", phoenix_report::status::table(&rows));
            for r in &rows {
                for c in &r.drift {
                    println!("  {} ~ {c}", r.id);
                }
                for n in &r.notes {
                    println!("  {} note: {n}", r.id);
                }
            }
        }
    }
    if !detailed {
        return Ok(exit::SUCCESS);
    }
    Ok(if rows.iter().any(|r| r.sync == Sync::Error) {
        exit::FAILURE
    } else if rows
        .iter()
        .any(|r| matches!(r.sync, Sync::Drifted | Sync::Absent))
    {
        DRIFT
    } else {
        exit::SUCCESS
    })
}

/// `--detailed-exitcode`: the host differs from the config (as Terraform's `plan`).
pub const DRIFT: i32 = 2;

/// Every configured guest, then every unmanaged one.
pub fn rows(
    cfg: &Config,
    env: &HostEnv,
    host: &HostState,
    t: &dyn phoenix_guest::Transport,
) -> Vec<GuestStatus> {
    let mut out: Vec<GuestStatus> = cfg.guests().map(|g| row(cfg, env, host, t, g)).collect();
    for (id, p) in &host.guests {
        if cfg.guest(*id).is_none() {
            out.push(GuestStatus {
                id: id.0,
                kind: tag(p.kind, *id).kind,
                name: p.name.clone(),
                template: false,
                exists: true,
                state: Some(p.status.clone()),
                managed: false,
                sync: Sync::Unmanaged,
                drift: Vec::new(),
                notes: Vec::new(),
                problems: Vec::new(),
            });
        }
    }
    out
}

fn row(
    cfg: &Config,
    env: &HostEnv,
    host: &HostState,
    t: &dyn phoenix_guest::Transport,
    g: &Guest,
) -> GuestStatus {
    let present = host.guests.get(&g.id);
    let guest = tag(g.kind, g.id);
    let mut s = GuestStatus {
        id: g.id.0,
        kind: guest.kind,
        name: g.name.clone(),
        template: g.is_template,
        exists: present.is_some(),
        state: present.map(|p| p.status.clone()),
        managed: true,
        sync: Sync::Absent,
        drift: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
    };
    let records = env.records_dir(cfg);
    let rec = phoenix_guest::record::RecordFile::load(&records, g.id.0);
    let features = match g.kind {
        GuestKind::Lxc => cfg.lxc(g.id).map(|l| l.features.as_slice()),
        GuestKind::Vm => cfg.vm(g.id).map(|v| v.features.as_slice()),
    };
    s.notes = rec
        .record
        .dropped_note(features.unwrap_or_default())
        .into_iter()
        .collect();
    if present.is_none() {
        return s;
    }
    let node = present.and_then(|p| p.node.clone());
    if present.is_some_and(|p| p.status == "unknown") {
        // Proxmox lists the guests of a node that does not answer with an unknown state.
        s.sync = Sync::Error;
        s.problems.push(format!(
            "node '{}' does not answer",
            node.as_deref().unwrap_or("?")
        ));
        return s;
    }
    let placed = phoenix_guest::placement::drift(g.node.as_deref(), node.as_deref());
    match drift(cfg, env, t, (guest, node), g)
        .map(|d| placed.into_iter().chain(d).collect::<Vec<_>>())
    {
        Ok(d) if d.is_empty() => s.sync = Sync::InSync,
        Ok(d) => {
            s.sync = Sync::Drifted;
            s.drift = d;
        }
        Err(e) => {
            s.sync = Sync::Error;
            s.problems.push(e);
        }
    }
    s
}

/// What the guest's configure and disk steps would change, from its config (the conf file
/// locally, `GET .../config` over the API) and its firewall file.
fn drift(
    cfg: &Config,
    env: &HostEnv,
    t: &dyn phoenix_guest::Transport,
    (guest, node): (GuestTag, Option<String>),
    g: &Guest,
) -> Result<Vec<Change>, String> {
    let text = t
        .guest_config(guest)
        .map_err(|e| e.0)?
        .ok_or_else(|| format!("{guest} has no config"))?;
    let conf = pve::Conf::parse(&text);
    let t_ = Target {
        guest,
        node: node.unwrap_or_else(|| phoenix_guest::job::DEFAULT_NODE.into()),
    };
    match g.kind {
        GuestKind::Lxc => {
            let lxc = cfg.lxc(g.id).ok_or("not in the LXC file")?;
            let fw = match &lxc.firewall {
                Some(_) => t
                    .node_read(&lxc_manager::firewall::path(&env.pve_dir, g.id.0))
                    .map_err(|e| e.0)?
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                None => None,
            };
            lxc_manager::plan::drift(&t_, lxc, &conf, fw.as_deref(), &env.pve_dir)
        }
        GuestKind::Vm => {
            let d = vm_manager::desired::Desired::load(cfg, g.id)?;
            let mut out = vm_manager::configure::drift(&t_, &d, &conf)?;
            let fw = vm_manager::configure::effective_firewall(cfg, d.vm)?;
            if fw.is_some() {
                let have = t
                    .node_read(&phoenix_guest::firewall::path(&env.pve_dir, g.id.0))
                    .map_err(|e| e.0)?;
                out.extend(
                    vm_manager::configure::firewall(
                        d.vm,
                        fw.as_ref(),
                        &env.pve_dir,
                        have.as_deref(),
                    )
                    .drift(),
                );
            }
            Ok(out)
        }
    }
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
