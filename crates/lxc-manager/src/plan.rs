//! The container's plan, step by step, as pure functions of the config and what the node
//! showed: no process runs here, so the planner is tested without one (`tests/planner.rs`) and
//! the dispatcher computes drift with it (`phoenix status`).
//!
//! define (clone, or download the template and create) → configure (one `pct set`, raw `lxc.*`
//! lines, firewall file) → disk (grow; a shrink is refused).

use phoenix_config::{Config, GuestId, Lxc};
use phoenix_guest::{Action, NodeOp, Require, Step, Target};
use phoenix_host::slots::Resource;
use phoenix_report::{Change, GuestTag, Kind};
use pve::api::Method;
use pve::Conf;

use crate::desired::{self, Desired};
use crate::diff::{self, SetPlan};
use crate::{firewall, gpu, template, volumes};

/// Why a step could not be planned: the step to name and the message.
pub type PlanError = (&'static str, String);

/// Plain options, GPU devices and missing mount points: everything one `pct set` changes.
pub fn set_plan(lxc: &Lxc, conf: &Conf, want: &Desired) -> SetPlan {
    let mut plan = diff::plain(conf, want);
    plan.merge(gpu::plan(conf, &lxc.gpus));
    plan.merge(volumes::plan(conf, &volumes::wanted(lxc)));
    plan
}

fn settings(n: usize) -> String {
    if n == 1 {
        "1 setting differs from the config".into()
    } else {
        format!("{n} settings differ from the config")
    }
}

/// Step 2: one `pct set` with what differs, raw `lxc.*` lines, the firewall file. `fw_have`
/// is the firewall file as the node has it. Also returns notes for the user.
pub fn configure(
    t: &Target,
    lxc: &Lxc,
    conf: &Conf,
    fw_have: Option<&str>,
    pve_dir: &std::path::Path,
) -> (Step, Vec<String>) {
    let want = desired::build(lxc);
    let mut notes = Vec::new();
    if let (Some(u), Some(cur)) = (want.unprivileged, conf.get("unprivileged")) {
        if !diff::same("unprivileged", cur, &desired::bool01(u)) {
            notes.push(format!(
                "unprivileged is {cur} but the config says {u}; Proxmox only sets it at creation"
            ));
        }
    }
    let mut step = Step::new("configure");
    let plan = set_plan(lxc, conf, &want);
    if !plan.is_empty() {
        let changes = plan.changes(conf);
        let mut req = t.req(Method::Put, "/config");
        for (k, v) in plan.params() {
            req = req.param(k, v);
        }
        step.push(Action::api("configure", settings(changes.len()), req).changes(changes));
    }
    let raw = phoenix_guest::raw::missing(conf, &want.raw);
    if !raw.is_empty() {
        step.push(
            Action::node(
                "configure",
                "raw lxc.* lines missing from the config file",
                NodeOp::RawLines {
                    guest: t.guest,
                    lines: want.raw.clone(),
                },
            )
            .changes(raw),
        );
    }
    if let Some(fw) = &lxc.firewall {
        let text = firewall::render(fw);
        if fw_have != Some(text.as_str()) {
            let path = firewall::path(pve_dir, t.guest.id);
            step.push(
                Action::node(
                    "firewall",
                    "the firewall file differs from the config",
                    NodeOp::Write {
                        path,
                        data: text.into_bytes(),
                        private: false,
                    },
                )
                .changes(vec![Change::new(
                    "firewall",
                    fw_have.map(|_| "other rules"),
                    Some("rules of the config"),
                )]),
            );
        }
    }
    (step, notes)
}

/// Step 3: grow the root disk to `storage_size_gb`; a smaller size is refused.
pub fn disk(t: &Target, lxc: &Lxc, conf: &Conf) -> Step {
    let Some(want) = lxc.storage_size_gb else {
        return Step::new("disk");
    };
    let have = conf
        .get("rootfs")
        .and_then(|v| pve::PropString::parse_with_default(v, Some("volume")).ok())
        .and_then(|p| p.get("size").and_then(pve::propstring::parse_size));
    phoenix_guest::lifecycle::disk_step(t, "disk", "rootfs", have, want, "storage_size_gb")
}

/// What the node showed that creating from a template needs.
pub struct TemplateFacts<'a> {
    /// `storage.cfg`.
    pub storage_cfg: &'a str,
    /// Storage IDs `pvesm status` lists.
    pub storages: Vec<String>,
}

/// Step 1 from an OS template: the template's storage and name, checked storages; then
/// `has_template(store, name)` says whether it is downloaded already.
pub fn create_from_template(
    t: &Target,
    lxc: &Lxc,
    facts: &TemplateFacts,
    has_template: impl FnOnce(&str, &str) -> Result<bool, PlanError>,
) -> Result<Step, PlanError> {
    let value = lxc.template.as_ref().ok_or((
        "define",
        "has neither clone_from_ctid nor template".to_string(),
    ))?;
    let (store, name) = template::resolve(value, &template::parse_storage_cfg(facts.storage_cfg))
        .map_err(|e| ("template", e))?;
    for s in [Some(store.as_str()), lxc.storage_pool.as_deref()]
        .into_iter()
        .flatten()
    {
        if !facts.storages.iter().any(|x| x == s) {
            return Err((
                "storage",
                format!("storage '{s}' does not exist (pvesm status)"),
            ));
        }
    }
    let mut step = Step::new("define");
    if !has_template(&store, &name)? {
        step.push(
            Action::api(
                "template",
                format!("template {name} is not in storage {store}"),
                t.node_req(Method::Post, "/aplinfo")
                    .param("storage", store.as_str())
                    .param("template", name.as_str()),
            )
            .long(),
        );
    }
    let want = desired::build(lxc);
    let mut req = t
        .node_req(Method::Post, "/lxc")
        .param("vmid", t.guest.id.to_string())
        .param("ostemplate", format!("{store}:vztmpl/{name}"));
    match &want.rootfs {
        Some((pool, size)) => req = req.param("rootfs", format!("{pool}:{size}")),
        None => {
            if let Some(p) = &lxc.storage_pool {
                req = req.param("storage", p.as_str());
            }
        }
    }
    if let Some(u) = want.unprivileged {
        req = req.param("unprivileged", desired::bool01(u));
    }
    for (k, v) in set_plan(lxc, &Conf::default(), &want).set {
        req = req.param(k, v);
    }
    let pool = want
        .rootfs
        .as_ref()
        .map(|(pool, _)| pool.clone())
        .or_else(|| lxc.storage_pool.as_ref().map(|p| p.to_string()));
    step.push(
        Action::api(
            "create",
            format!("container {} does not exist", t.guest.id),
            req,
        )
        .slots(pool.into_iter().map(Resource::Storage).collect())
        .long(),
    );
    Ok(step)
}

/// Step 1 by cloning `src`, whose config the node shows as `src_conf` (`None`: not there yet,
/// which only a dry run of the chain may find; the clone itself requires it).
pub fn clone(
    t: &Target,
    lxc: &Lxc,
    cfg: &Config,
    src: GuestId,
    src_conf: Option<&Conf>,
) -> Result<Step, PlanError> {
    let id = t.guest.id;
    let snap = cfg
        .lxc(src)
        .and_then(|s| s.template_snapshot_name.as_ref())
        .map(|s| s.to_string());
    let is_pve_template = src_conf.is_some_and(|c| c.get("template").is_some_and(|v| v == "1"));
    if src_conf.is_some() && snap.is_none() && !is_pve_template {
        return Err((
            "clone",
            format!("source {src} has no template_snapshot_name and is not a Proxmox template"),
        ));
    }
    let source = GuestTag {
        id: src.0,
        kind: Kind::Lxc,
    };
    // A clone is a request on its source.
    let mut req =
        pve::api::Request::new(Method::Post, format!("/nodes/{}/lxc/{src}/clone", t.node))
            .param("newid", id.to_string())
            .param("hostname", lxc.name.as_str());
    if let Some(s) = &snap {
        req = req.param("snapname", s.as_str());
    }
    // A clone of a normal container is always full; of a Proxmox template, full unless asked.
    let full = !is_pve_template || lxc.full_clone != Some(false);
    if full {
        req = req.param("full", "1");
        if let Some(p) = &lxc.storage_pool {
            req = req.param("storage", p.as_str());
        }
    }
    // `pct clone` puts `lock: disk` on its source for the whole copy, template or not: one
    // clone per source at a time. The new disk lands on `--storage`, else beside the source's.
    let pool_of = |l: &Lxc| l.storage_pool.as_ref().map(|p| p.to_string());
    let source_pool = || cfg.lxc(src).and_then(pool_of);
    let storage = if full {
        pool_of(lxc).or_else(source_pool)
    } else {
        source_pool()
    };
    let mut slots = vec![Resource::CloneSource(src)];
    slots.extend(storage.map(Resource::Storage));
    let needs =
        |what: String| format!("container {id} needs {what}; run `phoenix create {src}` first");
    let mut action = Action::api("clone", format!("container {id} does not exist"), req)
        .slots(slots)
        .long()
        .requires(Require {
            guest: source,
            snapshot: None,
            message: needs(format!("container {src}")),
        });
    if let Some(s) = &snap {
        action = action.requires(Require {
            guest: source,
            snapshot: Some(s.clone()),
            message: needs(format!("{src}'s snapshot '{s}'")),
        });
    }
    Ok(Step::new("define").with(action))
}

/// Drift for `status`: what configure and disk would change (no process runs). A shrink is
/// an error.
pub fn drift(
    t: &Target,
    lxc: &Lxc,
    conf: &Conf,
    fw_have: Option<&str>,
    pve_dir: &std::path::Path,
) -> Result<Vec<Change>, String> {
    let (step, _) = configure(t, lxc, conf, fw_have, pve_dir);
    let disk = disk(t, lxc, conf);
    if let Some(r) = disk.refusal {
        return Err(format!("disk: {r}"));
    }
    let mut out = step.drift();
    out.extend(disk.drift());
    Ok(out)
}
