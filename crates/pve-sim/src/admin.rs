//! `pve-sim <verb>`: init, reset, dump, log, link.

use crate::state::{atomic_write, io_fail, Kind, Node};
use crate::storage::{create_store_dirs, init_storages};
use crate::{fail, sim_root, R, TOOLS};
use serde_json::{json, Map, Value};
use std::fs;
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: pve-sim <verb> [args]   (state folder: $PVE_SIM_ROOT or --root DIR)
  init [--config <phoenix_hypervisor_config.json>] [--nodes pve1,pve2,...]
                                                   create the node, or a cluster of these nodes
                                                   (storages from zfs.datasets and cluster.storages)
  move <vmid> <node>                               move a guest to another node by hand (its config
                                                   changes folder; no checks, no task)
  reset                                            remove guests, volumes, logs; keep storages and faults.json
  dump [--no-timestamps]                           whole node state as JSON
  log [--json]                                     the invocation log
  link <dir>                                       create pct/qm/pvesm/pveam symlinks to this binary in <dir>
  portainer <addr> (--steppath DIR --name NAME | --cert F --key F | --self-signed) [--guest VMID]
                                                   run a VM's Portainer server (stand-in) at <addr> until SIGTERM
  pct|qm|pvesm|pveam <args>                        run a tool (same as through its symlink)";

/// Run an admin verb; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    match dispatch(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pve-sim: {}", e.msg);
            if e.code == 1 {
                eprintln!("{USAGE}");
            }
            e.code
        }
    }
}

fn usage_err(msg: &str) -> crate::Fail {
    crate::Fail {
        code: 1,
        msg: msg.to_string(),
    }
}

fn dispatch(args: &[String]) -> R<()> {
    let mut root: Option<PathBuf> = None;
    let mut rest: Vec<&String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--root" {
            root = Some(PathBuf::from(
                it.next().ok_or_else(|| usage_err("--root needs a value"))?,
            ));
        } else {
            rest.push(a);
        }
    }
    let Some(verb) = rest.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    if verb.as_str() == "link" {
        let dir = rest
            .get(1)
            .ok_or_else(|| usage_err("link needs a folder"))?;
        return link(Path::new(dir.as_str()));
    }
    if matches!(verb.as_str(), "help" | "--help" | "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let root = root.or_else(sim_root).ok_or_else(|| crate::Fail {
        code: 2,
        msg: "PVE_SIM_ROOT is not set (or pass --root DIR)".to_string(),
    })?;
    let flags: Vec<&str> = rest[1..].iter().map(|s| s.as_str()).collect();
    match verb.as_str() {
        "init" => {
            let config = match flags.iter().position(|f| *f == "--config") {
                Some(i) => Some(
                    flags
                        .get(i + 1)
                        .ok_or_else(|| usage_err("--config needs a file"))?
                        .to_string(),
                ),
                None => None,
            };
            let nodes = match flags.iter().position(|f| *f == "--nodes") {
                Some(i) => flags
                    .get(i + 1)
                    .ok_or_else(|| usage_err("--nodes needs a list"))?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                None => Vec::new(),
            };
            init(&root, config.as_deref())?;
            if nodes.is_empty() {
                Ok(())
            } else {
                init_cluster(&root, &nodes)
            }
        }
        "move" => {
            let (Some(id), Some(to)) = (flags.first(), flags.get(1)) else {
                return Err(usage_err("move needs <vmid> <node>"));
            };
            let id: u32 = id.parse().map_err(|_| usage_err("move: bad vmid"))?;
            move_guest(&root, id, to)
        }
        "reset" => reset(&root),
        "dump" => {
            let v = dump(&root, flags.contains(&"--no-timestamps"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(|e| fail(e.to_string()))?
            );
            Ok(())
        }
        "log" => log(&root, flags.contains(&"--json")),
        "portainer" => crate::standins::portainer(&root, &flags),
        other => Err(usage_err(&format!("unknown verb '{other}'"))),
    }
}

/// Create the state layout (idempotent). Storages are (re)written when `config` is given or
/// when no `storage.cfg` exists yet.
pub fn init(root: &Path, config: Option<&str>) -> R<()> {
    for d in [
        "etc/pve/lxc",
        "etc/pve/qemu-server",
        "etc/pve/firewall",
        "run",
        "storage",
        "host",
        "lock",
        "guests",
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p).map_err(|e| io_fail(&p, e))?;
    }
    let root = fs::canonicalize(root).map_err(|e| io_fail(root, e))?;
    let node = Node::open(root.clone())?;
    let cfg_path = node.pve_dir().join("storage.cfg");
    if config.is_some() || !cfg_path.exists() {
        let value = match config {
            Some(c) => {
                let text = fs::read_to_string(c).map_err(|e| fail(format!("{c}: {e}")))?;
                Some(
                    serde_json::from_str::<Value>(&text)
                        .map_err(|e| fail(format!("{c}: invalid JSON: {e}")))?,
                )
            }
            None => None,
        };
        let stores = init_storages(&root, value.as_ref())?;
        create_store_dirs(&node, &stores)?;
    }
    let faults = root.join("faults.json");
    if !faults.exists() {
        atomic_write(&faults, b"{}\n")?;
    }
    let log = root.join("invocations.jsonl");
    if !log.exists() {
        atomic_write(&log, b"")?;
    }
    Ok(())
}

/// Makes the folder a cluster of `nodes` (`etc/pve/.members` as pmxcfs writes it, one
/// `etc/pve/nodes/<node>` folder each). Guests already on a one-node folder move to the first
/// node.
pub fn init_cluster(root: &Path, nodes: &[String]) -> R<()> {
    let mut seen = std::collections::BTreeSet::new();
    for n in nodes {
        let ok = !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !n.starts_with('-')
            && seen.insert(n.as_str());
        if !ok {
            return Err(usage_err(&format!("bad or repeated node name '{n}'")));
        }
    }
    let list: Map<String, Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.clone(),
                json!({"id": i + 1, "online": 1, "ip": format!("127.0.0.{}", i + 1)}),
            )
        })
        .collect();
    let members = json!({
        "nodename": nodes[0],
        "version": 1,
        "cluster": {"name": "pve-sim", "version": 1, "nodes": nodes.len(), "quorate": 1},
        "nodelist": list,
    });
    let pve = root.join("etc/pve");
    for n in nodes {
        for d in ["lxc", "qemu-server"] {
            let p = pve.join("nodes").join(n).join(d);
            fs::create_dir_all(&p).map_err(|e| io_fail(&p, e))?;
        }
    }
    // Every node but the first has its own host (the first keeps `host/`).
    for n in nodes.iter().skip(1) {
        let p = crate::state::node_host_dir(root, nodes, n);
        fs::create_dir_all(&p).map_err(|e| io_fail(&p, e))?;
    }
    for d in ["lxc", "qemu-server"] {
        let old = pve.join(d);
        for e in fs::read_dir(&old).into_iter().flatten().flatten() {
            let to = pve
                .join("nodes")
                .join(&nodes[0])
                .join(d)
                .join(e.file_name());
            fs::rename(e.path(), &to).map_err(|err| io_fail(&to, err))?;
        }
        let _ = fs::remove_dir(&old);
    }
    let text = serde_json::to_string_pretty(&members).map_err(|e| fail(e.to_string()))?;
    atomic_write(&pve.join(".members"), text.as_bytes())
}

/// An operator's move of a guest to another node (`pve-sim move`): the config changes folder,
/// nothing else (volumes are one file whatever node has them; the run state stays).
fn move_guest(root: &Path, id: u32, to: &str) -> R<()> {
    let node = Node::open(root.to_path_buf())?;
    if !node.members.iter().any(|m| m == to) {
        return Err(fail(format!("no such cluster node '{to}'")));
    }
    let (from, kind) = node
        .owner(id)
        .ok_or_else(|| fail(format!("guest {id} does not exist")))?;
    if from == to {
        return Ok(());
    }
    let src = node.peer(&from).conf_path(kind, id);
    let dst = node.peer(to).conf_path(kind, id);
    fs::rename(&src, &dst).map_err(|e| io_fail(&dst, e))
}

fn clear_dir(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() && !path.is_symlink() {
                let _ = fs::remove_dir_all(&path);
            } else {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Remove guests, run state, volumes, logs and counters; keep storages and faults.json.
pub fn reset(root: &Path) -> R<()> {
    if !root.join("etc/pve").is_dir() {
        return Err(fail(format!("{} is not initialised", root.display())));
    }
    // The guests' stand-in servers go with the guests.
    if let Ok(node) = Node::open(root.to_path_buf()) {
        for id in crate::guestos::services::guests(root) {
            let _ = crate::guestos::services::stop_all(&node, id);
        }
    }
    for d in [
        "etc/pve/lxc",
        "etc/pve/qemu-server",
        "etc/pve/firewall",
        "run",
        "guests",
        "lock",
    ] {
        clear_dir(&root.join(d));
    }
    let node = Node::open(root.to_path_buf())?;
    for n in node.nodes().iter().filter(|n| n.is_cluster()) {
        for k in [Kind::Lxc, Kind::Qemu] {
            clear_dir(&n.guests_conf_dir().join(k.dir()));
        }
    }
    for s in node.storages() {
        clear_dir(&node.store_dir(&s.id));
    }
    let _ = fs::remove_file(root.join("fault-counters.json"));
    let _ = fs::remove_file(root.join("host-state/download-counters.json"));
    atomic_write(&root.join("invocations.jsonl"), b"")?;
    Ok(())
}

fn section_json(sec: &pve::conf::Section, no_ts: bool) -> Value {
    let mut cfg = Map::new();
    let mut lxc = Vec::new();
    for (k, v) in sec.entries() {
        if k.starts_with("lxc.") {
            lxc.push(json!([k, v]));
        } else if !(no_ts && k == "snaptime") {
            cfg.insert(k.to_string(), json!(v));
        }
    }
    json!({"config": cfg, "lxc": lxc, "description": sec.description()})
}

/// The whole node as deterministic JSON.
pub fn dump(root: &Path, no_ts: bool) -> R<Value> {
    let node = Node::open(root.to_path_buf())?;
    let mut storages = Vec::new();
    for s in node.storages() {
        let props: Map<String, Value> =
            s.props.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let vols: Vec<Value> = node
            .list_volumes(&s)
            .into_iter()
            .map(
                |v| json!({"volid": v.volid, "content": v.content, "size": v.size, "vmid": v.vmid}),
            )
            .collect();
        storages.push(json!({"id": s.id, "type": s.stype, "props": props, "volumes": vols}));
    }
    let mut guests = Vec::new();
    let mut ids: Vec<(u32, Kind, Node)> = Vec::new();
    for n in node.nodes() {
        for k in [Kind::Lxc, Kind::Qemu] {
            for i in n.guest_ids(k) {
                ids.push((i, k, n.peer(&n.name)));
            }
        }
    }
    ids.sort_by_key(|(i, _, _)| *i);
    for (id, kind, on) in ids {
        let conf = on.read_conf(kind, id)?;
        let mut g = section_json(conf.main(), no_ts);
        let snaps: Vec<Value> = conf
            .snapshots()
            .into_iter()
            .filter_map(|n| {
                let mut v = section_json(conf.snapshot(n)?, no_ts);
                v["name"] = json!(n);
                Some(v)
            })
            .collect();
        let st = node.run_state(id);
        let mut run = json!({"status": st.status});
        if !no_ts {
            run["started_ms"] = json!(st.started_ms);
        }
        let log = fs::read_to_string(node.guest_dir(id).join("exec.log")).unwrap_or_default();
        let execs = log.lines().filter(|l| !l.contains("\"standin\"")).count();
        let g_os = crate::guestos::summary(&node, id, &log);
        g["vmid"] = json!(id);
        if node.is_cluster() {
            g["node"] = json!(on.name);
        }
        g["type"] = json!(if kind == Kind::Lxc { "lxc" } else { "qemu" });
        g["snapshots"] = json!(snaps);
        g["run"] = run;
        g["guest_files"] = g_os["pushed"].clone();
        g["guest_exec_count"] = json!(execs);
        g["packages"] = g_os["packages"].clone();
        g["services"] = g_os["services"].clone();
        guests.push(g);
    }
    let mut fw = Map::new();
    let mut fwfiles: Vec<_> = fs::read_dir(node.pve_dir().join("firewall"))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    fwfiles.sort_by_key(|e| e.file_name());
    for e in fwfiles {
        if let (Some(n), Ok(t)) = (e.file_name().to_str(), fs::read_to_string(e.path())) {
            fw.insert(n.to_string(), json!(t));
        }
    }
    Ok(json!({"storages": storages, "guests": guests, "firewall": fw}))
}

fn log(root: &Path, raw: bool) -> R<()> {
    let p = root.join("invocations.jsonl");
    let text = fs::read_to_string(&p).map_err(|e| io_fail(&p, e))?;
    for line in text.lines() {
        if raw {
            println!("{line}");
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let argv: Vec<&str> = v["argv"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{} exit={} {}ms {} {} {}",
            v["start"],
            v["exit_code"],
            v["duration_ms"],
            if v["mutating"].as_bool().unwrap_or(false) {
                "M"
            } else {
                "-"
            },
            v["tool"].as_str().unwrap_or("?"),
            argv.join(" ")
        );
    }
    Ok(())
}

/// Create `pct`, `qm`, `pvesm`, `pveam` symlinks to this executable in `dir` (replacing old links).
pub fn link(dir: &Path) -> R<()> {
    let exe = std::env::current_exe().map_err(|e| fail(format!("current exe: {e}")))?;
    fs::create_dir_all(dir).map_err(|e| io_fail(dir, e))?;
    // `pvesh` too: the `pvesh` transport runs it (`phoenix --sim DIR --transport pvesh`).
    for t in TOOLS
        .iter()
        .chain(crate::host::HOST_TOOLS)
        .chain(&["pvesh"])
    {
        let l = dir.join(t);
        if fs::symlink_metadata(&l).is_ok() {
            fs::remove_file(&l).map_err(|e| io_fail(&l, e))?;
        }
        std::os::unix::fs::symlink(&exe, &l).map_err(|e| io_fail(&l, e))?;
    }
    Ok(())
}
