//! High availability in the simulated cluster: the HA resources of `etc/pve/ha/resources.cfg`
//! (pve-ha-manager's section config, `ct: 950` / `vm: 9000` and their options) and a small
//! CRM/LRM that acts on what was requested.
//!
//! A guest is HA-managed when it has a resource whose state is not `ignored`
//! (`PVE::HA::Config::vm_is_ha_managed`). For such a guest, a start, stop, shutdown or
//! migration asked of pct/qm or the API does not act: as on a real node, the worker
//! (`hastart`, `hastop`, `hamigrate`) only records the request (`ha-manager set ... --state
//! started`, `crm-command stop`, `migrate`) and ends OK. The manager acts later: a request is
//! due `ha_delay_ms` (faults.json, default [`DEFAULT_DELAY_MS`]) after it was made, and the
//! next simulator call after that (any pct/qm call or API request: the simulator has no
//! daemon) runs it through the stand-in itself, as the node that holds the guest, marked
//! `via: ha-lrm` in the invocation log. A client therefore has to read the state again
//! (`status/current`, `/cluster/resources`) before it relies on it, as it must with Proxmox.
//!
//! The pending requests and the service states are kept in `etc/pve/ha/manager_status`
//! (the real file's name and its `service_status` map; the `due_ms` and `target` fields of
//! an entry are the simulator's own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::state::{flock, now_ms, Kind, Node};
use crate::{fail, R};

/// Default delay between a request and the simulated manager acting on it.
pub const DEFAULT_DELAY_MS: u64 = 1000;

/// Set for the stand-in calls the simulated LRM makes (they act instead of requesting).
const LRM_ENV: &str = "PVE_SIM_HA_LRM";

/// Options of each resource, by service id (`ct:950`).
pub type Resources = BTreeMap<String, BTreeMap<String, String>>;

fn dir(root: &Path) -> PathBuf {
    root.join("etc/pve/ha")
}

fn resources_path(root: &Path) -> PathBuf {
    dir(root).join("resources.cfg")
}

fn status_path(root: &Path) -> PathBuf {
    dir(root).join("manager_status")
}

/// `ct:<id>` or `vm:<id>`.
pub fn sid(kind: Kind, id: u32) -> String {
    match kind {
        Kind::Lxc => format!("ct:{id}"),
        Kind::Qemu => format!("vm:{id}"),
    }
}

/// Whether this process is the simulated LRM acting (not a client asking).
pub fn as_lrm() -> bool {
    std::env::var_os(LRM_ENV).is_some_and(|v| v == "1")
}

/// Parses `resources.cfg`.
pub fn read(root: &Path) -> Resources {
    let text = std::fs::read_to_string(resources_path(root)).unwrap_or_default();
    let mut out = Resources::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let (Some(s), Some((k, v))) = (&current, line.trim().split_once(char::is_whitespace))
            {
                if let Some(opts) = out.get_mut(s) {
                    opts.insert(k.to_string(), v.trim().to_string());
                }
            }
            continue;
        }
        current = line
            .split_once(':')
            .map(|(t, n)| format!("{}:{}", t.trim(), n.trim()));
        if let Some(s) = &current {
            out.insert(s.clone(), BTreeMap::new());
        }
    }
    out
}

/// Writes `resources.cfg` (one section per resource, options tab-indented).
pub fn write(root: &Path, res: &Resources) -> R<()> {
    let mut text = String::new();
    for (sid, opts) in res {
        let (t, n) = sid.split_once(':').unwrap_or((sid.as_str(), ""));
        text.push_str(&format!("{t}: {n}\n"));
        for (k, v) in opts {
            text.push_str(&format!("\t{k} {v}\n"));
        }
        text.push('\n');
    }
    crate::state::atomic_write(&resources_path(root), text.as_bytes())
}

/// The resource of a guest when it is HA-managed (configured, state not `ignored`).
pub fn managed(root: &Path, kind: Kind, id: u32) -> Option<BTreeMap<String, String>> {
    read(root)
        .remove(&sid(kind, id))
        .filter(|o| o.get("state").map(String::as_str) != Some("ignored"))
}

/// Whether the guest has a resource at all (`service_is_configured`: destroy needs `purge`).
pub fn configured(root: &Path, kind: Kind, id: u32) -> bool {
    read(root).contains_key(&sid(kind, id))
}

fn read_status(root: &Path) -> Value {
    std::fs::read_to_string(status_path(root))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({"service_status": {}}))
}

fn write_status(root: &Path, v: &Value) -> R<()> {
    crate::state::atomic_write(&status_path(root), format!("{v}\n").as_bytes())
}

fn lock(root: &Path) -> R<crate::state::FileLock> {
    flock(
        &dir(root).join(".lock"),
        false,
        Duration::from_secs(10),
        "got timeout while waiting for the HA domain lock",
    )
}

/// What a client asks of the HA manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Start,
    Stop,
    Migrate(String),
}

/// Records a request, as `ha-manager set --state started`, `crm-command stop` and
/// `ha-manager migrate` do; the manager acts once it is due.
pub fn request(node: &Node, kind: Kind, id: u32, req: Request) -> R<()> {
    let root = &node.root;
    let _g = lock(root)?;
    let sid = sid(kind, id);
    let mut res = read(root);
    let state = match &req {
        Request::Start => Some("started"),
        Request::Stop => Some("stopped"),
        Request::Migrate(_) => None,
    };
    if let (Some(s), Some(opts)) = (state, res.get_mut(&sid)) {
        opts.insert("state".into(), s.into());
        write(root, &res)?;
    }
    let mut st = read_status(root);
    let (service_state, target) = match &req {
        Request::Start => ("request_start", None),
        Request::Stop => ("request_stop", None),
        Request::Migrate(t) => ("migrate", Some(t.clone())),
    };
    let delay = node.faults.ha_delay_ms.unwrap_or(DEFAULT_DELAY_MS);
    let mut entry = json!({
        "node": node.name, "state": service_state, "due_ms": now_ms() + delay,
    });
    if let Some(t) = target {
        entry["target"] = json!(t);
    }
    st["service_status"][sid] = entry;
    write_status(root, &st)
}

/// A new resource (`POST /cluster/ha/resources`): a guest requested `started` that is not
/// running is started by the manager.
pub fn add(node: &Node, sid: &str, opts: BTreeMap<String, String>) -> Result<(), String> {
    let (kind, id) = parse_sid(node, sid)?;
    let sid = self::sid(kind, id);
    {
        let _g = lock(&node.root).map_err(|e| e.msg)?;
        let mut res = read(&node.root);
        if res.contains_key(&sid) {
            return Err(format!("resource ID '{sid}' already defined"));
        }
        res.insert(sid.clone(), opts.clone());
        write(&node.root, &res).map_err(|e| e.msg)?;
    }
    let state = opts.get("state").map(String::as_str).unwrap_or("started");
    let on = node
        .owner(id)
        .map(|(n, _)| node.peer(&n))
        .unwrap_or_else(|| node.peer(&node.name));
    let running = on.is_running(id);
    match state {
        "started" | "enabled" if !running => request(&on, kind, id, Request::Start),
        "stopped" | "disabled" if running => request(&on, kind, id, Request::Stop),
        _ => set_service_state(&on, &sid, if running { "started" } else { "stopped" }),
    }
    .map_err(|e| e.msg)
}

/// Removes a resource (`DELETE /cluster/ha/resources/{sid}`, a destroy with `purge`).
pub fn remove(root: &Path, sid: &str) -> R<bool> {
    let _g = lock(root)?;
    let mut res = read(root);
    let had = res.remove(sid).is_some();
    if had {
        write(root, &res)?;
        let mut st = read_status(root);
        if let Some(m) = st["service_status"].as_object_mut() {
            m.remove(sid);
        }
        write_status(root, &st)?;
    }
    Ok(had)
}

fn set_service_state(node: &Node, sid: &str, state: &str) -> R<()> {
    let _g = lock(&node.root)?;
    let mut st = read_status(&node.root);
    st["service_status"][sid] = json!({"node": node.name, "state": state});
    write_status(&node.root, &st)
}

/// `ct:950`, `vm:100` or a bare id (the guest's kind), as `PVE::HA::Config::parse_sid`.
pub fn parse_sid(node: &Node, given: &str) -> Result<(Kind, u32), String> {
    let (kind, id) = match given.split_once(':') {
        Some(("ct", n)) => (Some(Kind::Lxc), n),
        Some(("vm", n)) => (Some(Kind::Qemu), n),
        Some(_) => return Err(format!("unable to parse service id '{given}'")),
        None => (None, given),
    };
    let id: u32 = id
        .parse()
        .map_err(|_| format!("unable to parse service id '{given}'"))?;
    let found = node.owner(id).map(|(_, k)| k);
    match (kind, found) {
        (Some(k), Some(f)) if k == f => Ok((k, id)),
        (None, Some(f)) => Ok((f, id)),
        (Some(Kind::Lxc), _) => Err(format!("container '{id}' does not exist")),
        (Some(Kind::Qemu), _) => Err(format!("VM '{id}' does not exist")),
        (None, None) => Err(format!("unable to find VM/CT '{id}'")),
    }
}

/// The `ha` object of `status/current` (`PVE::HA::Config::get_service_status`).
pub fn service_status(root: &Path, kind: Kind, id: u32) -> Value {
    let sid = sid(kind, id);
    let Some(opts) = managed(root, kind, id) else {
        return json!({"managed": 0});
    };
    let st = read_status(root);
    let mut v = json!({"managed": 1});
    if let Some(s) = st["service_status"][&sid]["state"].as_str() {
        v["state"] = json!(s);
    }
    if let Some(g) = opts.get("group") {
        v["group"] = json!(g);
    }
    v
}

/// The `hastate` of a guest in `/cluster/resources`.
pub fn hastate(root: &Path, kind: Kind, id: u32) -> Option<String> {
    managed(root, kind, id)?;
    read_status(root)["service_status"][sid(kind, id)]["state"]
        .as_str()
        .map(str::to_string)
}

/// A digest of `resources.cfg` (what `digest` guards against concurrent changes).
fn digest(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let text = std::fs::read(resources_path(root)).unwrap_or_default();
    Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `GET /cluster/ha/resources` (and one resource with `sid`).
pub fn list(root: &Path, ty: Option<&str>) -> Value {
    Value::Array(
        read(root)
            .into_iter()
            .filter(|(sid, _)| ty.is_none_or(|t| sid.starts_with(&format!("{t}:"))))
            .map(|(sid, opts)| entry(root, &sid, &opts))
            .collect(),
    )
}

/// One resource as the API shows it.
pub fn entry(root: &Path, sid: &str, opts: &BTreeMap<String, String>) -> Value {
    let mut v = json!({"sid": sid, "type": sid.split(':').next().unwrap_or_default()});
    for (k, val) in opts {
        v[k] = match val.parse::<i64>() {
            Ok(n) if k.starts_with("max_") => json!(n),
            _ => json!(val),
        };
    }
    if v.get("state").is_none() {
        v["state"] = json!("started");
    }
    v["digest"] = json!(digest(root));
    v
}

/// The simulated CRM/LRM: runs the requests that are due. Called at the start of every
/// simulator call (not by the LRM's own calls); only one process acts at a time.
pub fn tick(root: &Path) {
    if as_lrm() || !status_path(root).exists() {
        return;
    }
    let Ok(_g) = flock(
        &dir(root).join(".lrm"),
        false,
        Duration::ZERO,
        "another process acts for the HA manager",
    ) else {
        return;
    };
    let due: Vec<(String, Value)> = {
        let Ok(_l) = lock(root) else { return };
        let mut st = read_status(root);
        let now = now_ms();
        let Some(map) = st["service_status"].as_object_mut() else {
            return;
        };
        let due: Vec<(String, Value)> = map
            .iter()
            .filter(|(_, e)| e["due_ms"].as_u64().is_some_and(|d| d <= now))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (sid, _) in &due {
            // Taken: no other process acts on it; the state stays `request_*`/`migrate`
            // until the action is done, as the manager shows it while the LRM works.
            if let Some(e) = map.get_mut(sid).and_then(Value::as_object_mut) {
                e.remove("due_ms");
            }
        }
        if due.is_empty() || write_status(root, &st).is_err() {
            return;
        }
        due
    };
    for (sid, e) in due {
        let outcome = act(root, &sid, &e);
        let Ok(_l) = lock(root) else { return };
        let mut st = read_status(root);
        st["service_status"][&sid] = match outcome {
            Ok(state) => {
                let node = e["target"].as_str().or(e["node"].as_str()).unwrap_or("");
                json!({"node": node, "state": state})
            }
            Err(msg) => {
                eprintln!("pve-sim: HA manager: {sid}: {msg}");
                json!({"node": e["node"], "state": "error"})
            }
        };
        let _ = write_status(root, &st);
    }
}

/// Runs one due request through the stand-in, as the node that holds the guest; the
/// service's state afterwards.
fn act(root: &Path, sid: &str, e: &Value) -> Result<&'static str, String> {
    let (tool, id) = match sid.split_once(':') {
        Some(("ct", n)) => ("pct", n),
        Some(("vm", n)) => ("qm", n),
        _ => return Err("unknown service type".into()),
    };
    let node = Node::open(root.to_path_buf()).map_err(|e| e.msg)?;
    let id_num: u32 = id.parse().map_err(|_| "bad id".to_string())?;
    let Some((on, _)) = node.owner(id_num) else {
        return Err("the guest is gone".into());
    };
    let holder = node.peer(&on);
    let running = holder.is_running(id_num);
    let after = if running { "started" } else { "stopped" };
    let mut argv: Vec<String> = Vec::new();
    let state = match e["state"].as_str() {
        Some("request_start") if !running => {
            argv.extend(["start".into(), id.into()]);
            "started"
        }
        Some("request_stop") if running => {
            argv.extend(["stop".into(), id.into()]);
            "stopped"
        }
        Some("migrate") => {
            let target = e["target"].as_str().unwrap_or_default();
            if target == on {
                return Ok(after);
            }
            argv.extend(["migrate".into(), id.into(), target.into()]);
            if running {
                argv.extend(if tool == "pct" {
                    ["--restart".to_string(), "1".to_string()]
                } else {
                    ["--online".to_string(), "1".to_string()]
                });
                if tool == "qm" {
                    argv.extend(["--with-local-disks".into(), "1".into()]);
                }
            }
            after
        }
        _ => return Ok(after),
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .arg(tool)
        .args(&argv)
        .env("PVE_SIM_ROOT", root)
        .env("PVE_SIM_NODE", &on)
        .env("PVE_SIM_VIA", "ha-lrm")
        .env(LRM_ENV, "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(state)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The error `ha-manager` gives for a service in the `error` state.
pub fn check_not_error(root: &Path, kind: Kind, id: u32) -> R<()> {
    let sid = sid(kind, id);
    if read_status(root)["service_status"][&sid]["state"] == "error" {
        return Err(fail(format!(
            "service '{sid}' in error state, must be disabled and fixed first"
        )));
    }
    Ok(())
}
