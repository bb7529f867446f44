//! Read-only answers built from the state folder, shaped as Proxmox's API returns them:
//! `/cluster/resources`, guest lists, configs (values typed by the schema), current status,
//! snapshots, pending changes, storages and their content.

use std::collections::BTreeMap;

use pve::api::Value as P;
use serde_json::{json, Map, Value};

use super::schema;
use crate::state::{Kind, Node};

fn kind_api(kind: Kind) -> &'static str {
    match kind {
        Kind::Lxc => "lxc",
        Kind::Qemu => "qemu",
    }
}

/// Parses `lxc` / `qemu` from a path segment.
pub fn kind_of(s: &str) -> Option<Kind> {
    match s {
        "lxc" => Some(Kind::Lxc),
        "qemu" => Some(Kind::Qemu),
        _ => None,
    }
}

/// Config values typed as the API types them (integers, numbers and booleans are numbers).
fn typed(kind: Kind, key: &str, value: &str) -> Value {
    let api = schema::spec();
    let path = format!("/nodes/{{node}}/{}/{{vmid}}/config", kind_api(kind));
    let ty = api
        .paths
        .get(&path)
        .and_then(|m| m.get("PUT"))
        .and_then(|ms| {
            ms.params.get(key).or_else(|| {
                let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
                ms.params.get(&format!("{base}[n]"))
            })
        })
        .and_then(|p| p.ty.clone());
    match ty.as_deref() {
        Some("integer") | Some("boolean") => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        Some("number") => value
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        _ => json!(value),
    }
}

fn sha1_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `GET /nodes/{node}/{lxc|qemu}/{vmid}/config` (`snapshot` selects a snapshot's config).
pub fn config(
    node: &Node,
    kind: Kind,
    id: u32,
    params: &BTreeMap<String, P>,
) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(node.conf_path(kind, id)).map_err(|_| not_exist(node, kind, id))?;
    let conf = pve::Conf::parse(&text);
    let section = match params.get("snapshot").and_then(P::as_str) {
        Some(s) => conf
            .snapshot(s)
            .ok_or_else(|| format!("snapshot '{s}' does not exist"))?,
        None => conf.main(),
    };
    let mut out = Map::new();
    for (k, v) in section.entries() {
        out.insert(k.to_string(), typed(kind, k, v));
    }
    if let Some(d) = section.description() {
        out.insert("description".into(), json!(d));
    }
    let lxc = section.lxc_entries();
    if !lxc.is_empty() {
        out.insert(
            "lxc".into(),
            Value::Array(lxc.iter().map(|(k, v)| json!([k, v])).collect()),
        );
    }
    out.insert("digest".into(), json!(sha1_hex(&text)));
    Ok(Value::Object(out))
}

pub fn not_exist(node: &Node, kind: Kind, id: u32) -> String {
    format!(
        "Configuration file 'nodes/{}/{}/{id}.conf' does not exist",
        node.name,
        kind.dir()
    )
}

/// pve-cluster's refusal of an ID used anywhere in the cluster.
pub fn already_exists(kind: Kind, id: u32, on: &str) -> String {
    match kind {
        Kind::Lxc => format!("CT {id} already exists on node '{on}'"),
        Kind::Qemu => format!("unable to create VM {id} - VM {id} already exists on node '{on}'"),
    }
}

fn memory_mb(kind: Kind, conf: &pve::Conf) -> u64 {
    let raw = conf
        .get("memory")
        .unwrap_or(if kind == Kind::Lxc { "512" } else { "2048" });
    // qemu: `memory: [current=]N`
    raw.trim_start_matches("current=")
        .split(',')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

fn disk_bytes(node: &Node, kind: Kind, conf: &pve::Conf) -> u64 {
    let key = match kind {
        Kind::Lxc => conf.get("rootfs"),
        Kind::Qemu => ["scsi0", "virtio0", "sata0", "ide0"]
            .iter()
            .find_map(|k| conf.get(k)),
    };
    key.and_then(|v| {
        pve::PropString::parse_with_default(
            v,
            Some(if kind == Kind::Lxc { "volume" } else { "file" }),
        )
        .ok()
    })
    .and_then(|ps| {
        ps.get("size")
            .and_then(pve::propstring::parse_size)
            .or_else(|| {
                ps.get(if kind == Kind::Lxc { "volume" } else { "file" })
                    .and_then(|v| node.volume_size(v))
            })
    })
    .unwrap_or(0)
}

/// One guest as `/cluster/resources` and the guest lists show it.
fn resource(node: &Node, kind: Kind, id: u32) -> Option<Value> {
    let conf = node.read_conf(kind, id).ok()?;
    let run = node.run_state(id);
    let running = run.status == "running";
    let uptime = match (running, run.started_ms) {
        (true, Some(t)) => crate::state::now_ms().saturating_sub(t) / 1000,
        _ => 0,
    };
    let name = conf
        .get(if kind == Kind::Lxc {
            "hostname"
        } else {
            "name"
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}{id}", if kind == Kind::Lxc { "CT" } else { "VM" }));
    let maxcpu: u64 = conf.get("cores").and_then(|c| c.parse().ok()).unwrap_or(1);
    let mut v = json!({
        "id": format!("{}/{id}", kind_api(kind)),
        "type": kind_api(kind),
        "vmid": id,
        "node": node.name,
        "name": name,
        // A node that is down still has its configs in pmxcfs; its guests' state is unknown.
        "status": if node.is_down(&node.name) { "unknown" } else { run.status.as_str() },
        "template": if conf.get("template") == Some("1") { 1 } else { 0 },
        "maxmem": memory_mb(kind, &conf) * 1024 * 1024,
        "maxdisk": disk_bytes(node, kind, &conf),
        "maxcpu": maxcpu,
        "mem": 0, "disk": 0, "cpu": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
        "uptime": uptime,
    });
    if let Some(l) = conf.get("lock") {
        v["lock"] = json!(l);
    }
    if let Some(t) = conf.get("tags") {
        v["tags"] = json!(t);
    }
    if let Some(h) = crate::ha::hastate(&node.root, kind, id) {
        v["hastate"] = json!(h);
    }
    Some(v)
}

fn all_guests(node: &Node) -> Vec<Value> {
    let mut out = Vec::new();
    for n in node.nodes() {
        for kind in [Kind::Lxc, Kind::Qemu] {
            for id in n.guest_ids(kind) {
                out.extend(resource(&n, kind, id));
            }
        }
    }
    out.sort_by_key(|v| v["vmid"].as_u64());
    out
}

/// One entry per storage and node it is on, as Proxmox lists them.
fn storages(node: &Node) -> Vec<Value> {
    let mut out = Vec::new();
    for n in node.nodes() {
        for s in node.storages().iter().filter(|s| s.on_node(&n.name)) {
            let used: u64 = node.list_volumes(s).iter().map(|v| v.size).sum();
            out.push(json!({
                "id": format!("storage/{}/{}", n.name, s.id), "type": "storage", "storage": s.id,
                "node": n.name,
                "status": if node.is_down(&n.name) { "unknown" } else { "available" },
                "plugintype": s.stype,
                "content": s.content().join(","), "shared": u8::from(s.shared()),
                "maxdisk": 1u64 << 40, "disk": used,
            }));
        }
    }
    out
}

/// `GET /nodes` and the node entries of `/cluster/resources`.
pub fn node_list(node: &Node, resources: bool) -> Vec<Value> {
    node.nodes()
        .iter()
        .map(|n| {
            let status = if node.is_down(&n.name) {
                "offline"
            } else {
                "online"
            };
            let mut v = json!({"id": format!("node/{}", n.name), "type": "node",
                "node": n.name, "status": status});
            if resources {
                v["maxcpu"] = json!(16);
                v["maxmem"] = json!(68719476736u64);
                v["uptime"] = json!(1);
                v["level"] = json!("");
            }
            v
        })
        .collect()
}

/// `GET /cluster/resources[?type=vm|storage|node]`.
pub fn cluster_resources(node: &Node, ty: Option<&str>) -> Value {
    let mut out = Vec::new();
    if ty.is_none() || ty == Some("vm") {
        out.extend(all_guests(node));
    }
    if ty.is_none() || ty == Some("node") {
        out.extend(node_list(node, true));
    }
    if ty.is_none() || ty == Some("storage") {
        out.extend(storages(node));
    }
    Value::Array(out)
}

/// `GET /nodes/{node}/{lxc|qemu}`.
pub fn guest_list(node: &Node, kind: Kind) -> Value {
    Value::Array(
        node.guest_ids(kind)
            .into_iter()
            .filter_map(|id| resource(node, kind, id))
            .map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("id");
                    o.remove("node");
                    o.remove("hastate");
                    o.insert("maxswap".into(), json!(0));
                }
                v
            })
            .collect(),
    )
}

/// `GET /nodes/{node}/{lxc|qemu}/{vmid}/status/current`.
pub fn status_current(node: &Node, kind: Kind, id: u32) -> Result<Value, String> {
    let mut v = resource(node, kind, id).ok_or_else(|| not_exist(node, kind, id))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("node");
        let run = node.run_state(id);
        o.insert("cpus".into(), o["maxcpu"].clone());
        if let Some(pid) = run.pid.filter(|_| run.status == "running") {
            o.insert("pid".into(), json!(pid));
        }
        if kind == Kind::Qemu {
            o.insert("qmpstatus".into(), json!(run.status));
            let agent = node
                .read_conf(kind, id)
                .ok()
                .and_then(|c| {
                    c.get("agent")
                        .map(|a| a.starts_with('1') || a.contains("enabled=1"))
                })
                .unwrap_or(false);
            if agent {
                o.insert("agent".into(), json!(1));
            }
        }
        if o.get("template") == Some(&json!(0)) {
            o.remove("template");
        }
        o.remove("hastate");
        o.insert("ha".into(), crate::ha::service_status(&node.root, kind, id));
    }
    Ok(v)
}

/// `GET /nodes/{node}/{lxc|qemu}/{vmid}/snapshot`.
pub fn snapshots(node: &Node, kind: Kind, id: u32) -> Result<Value, String> {
    let conf = node
        .read_conf(kind, id)
        .map_err(|_| not_exist(node, kind, id))?;
    let mut out = Vec::new();
    for name in conf.snapshots() {
        if let Some(s) = conf.snapshot(name) {
            let mut v = json!({"name": name});
            if let Some(t) = s.get("snaptime").and_then(|t| t.parse::<u64>().ok()) {
                v["snaptime"] = json!(t);
            }
            if let Some(p) = s.get("parent") {
                v["parent"] = json!(p);
            }
            v["description"] = json!(s.description().unwrap_or_default());
            out.push(v);
        }
    }
    let mut current = json!({"name": "current", "description": "You are here!"});
    if let Some(p) = conf.get("parent") {
        current["parent"] = json!(p);
    }
    if kind == Kind::Qemu {
        current["running"] = json!(if node.is_running(id) { 1 } else { 0 });
    }
    out.push(current);
    Ok(Value::Array(out))
}

/// `GET /nodes/{node}/{lxc|qemu}/{vmid}/pending`.
pub fn pending(node: &Node, kind: Kind, id: u32) -> Result<Value, String> {
    let conf = node
        .read_conf(kind, id)
        .map_err(|_| not_exist(node, kind, id))?;
    let mut rows: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in conf.entries() {
        rows.insert(k.to_string(), json!({"key": k, "value": typed(kind, k, v)}));
    }
    if let Some(p) = conf.pending() {
        for (k, v) in p.entries() {
            if k == "delete" {
                for d in v.split(',') {
                    if let Some(r) = rows.get_mut(d) {
                        r["delete"] = json!(1);
                    }
                }
                continue;
            }
            let r = rows
                .entry(k.to_string())
                .or_insert_with(|| json!({"key": k}));
            r["pending"] = typed(kind, k, v);
        }
    }
    Ok(Value::Array(rows.into_values().collect()))
}

/// `GET /nodes/{node}/storage`.
pub fn storage_status(node: &Node, params: &BTreeMap<String, P>) -> Value {
    let want = params.get("storage").and_then(P::as_str);
    let content = params.get("content").and_then(P::as_str);
    Value::Array(
        node.storages()
            .iter()
            .filter(|s| want.is_none_or(|w| w == s.id))
            .filter(|s| content.is_none_or(|c| c.split(',').all(|c| s.supports(c))))
            .map(|s| {
                let used: u64 = node.list_volumes(s).iter().map(|v| v.size).sum();
                let total = 1u64 << 40;
                json!({"storage": s.id, "type": s.stype, "content": s.content().join(","),
                    "active": 1, "enabled": 1, "shared": 0, "total": total, "used": used,
                    "avail": total.saturating_sub(used), "used_fraction": used as f64 / total as f64})
            })
            .collect(),
    )
}

/// `GET /nodes/{node}/storage/{storage}/content`.
pub fn storage_content(
    node: &Node,
    store: &str,
    params: &BTreeMap<String, P>,
) -> Result<Value, String> {
    let s = node.storage(store).map_err(|e| e.msg)?;
    let content = params.get("content").and_then(P::as_str);
    let vmid = params
        .get("vmid")
        .and_then(P::as_str)
        .and_then(|v| v.parse::<u32>().ok());
    Ok(Value::Array(
        node.list_volumes(&s)
            .into_iter()
            .filter(|v| content.is_none_or(|c| c == v.content))
            .filter(|v| vmid.is_none_or(|id| v.vmid == Some(id)))
            .map(|v| {
                let mut o = json!({"volid": v.volid, "format": v.format, "content": v.content,
                    "size": v.size, "ctime": 0});
                if let Some(id) = v.vmid {
                    o["vmid"] = json!(id);
                }
                o
            })
            .collect(),
    ))
}
