//! The API-shaped transports, `pvesh` and `api`: every request goes as it is (method, path,
//! parameters) through a [`Carrier`]; reads come from the API too (one `GET
//! /cluster/resources?type=vm` for the whole node or cluster, one `GET .../config` per guest the
//! plan needs); QEMU guest work goes through the guest agent's API (`agent/exec`,
//! `agent/exec-status`, `agent/ping`); the rest — a container's `pct exec`/`pct push`, node
//! files, scripts, downloads — is node-local work ([`NodeWork`]).
//!
//! A guest's config reaches the planners as the same `pct.conf`/`qm.conf` text the local
//! transport reads from `/etc/pve`, rebuilt from the API's JSON (raw `lxc.*` entries
//! included). Snapshots are not part of that answer: the config's `parent` names the newest
//! one, which answers "has snapshot X" for the snapshot Phoenix took last without a request;
//! any other question reads `GET .../snapshot` ([`Transport::snapshots`]).

use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};

use phoenix_report::{GuestTag, Kind};
use pve::api::{Method, Request};
use pve::Conf;
use serde_json::Value;

use crate::carrier::Carrier;
use crate::error::TransportError;
use crate::node::NodeWork;
use crate::observe::{Observed, Snapshot};
use crate::plan::{GuestOp, NodeCommand, NodeOp, Op, Payload};
use crate::transport::{ExecOutput, Transport};

/// Largest `input-data` of `agent/exec` (apidata.js: maxLength 65536), less headroom.
const INPUT_CHUNK: usize = 60 * 1024;

/// A transport that carries requests through the API.
pub struct ApiTransport<'a> {
    pub carrier: Box<dyn Carrier + 'a>,
    pub node_work: Box<dyn NodeWork + 'a>,
    /// Node of new guests when nothing else says (`orchestration.api.node`).
    pub default_node: Option<String>,
    /// How often a guest-agent process is polled.
    pub agent_poll: Duration,
    /// `pvesh` or `api`, for messages.
    pub name: &'static str,
    /// The bulk read, once per process when a manager runs without the dispatcher's.
    bulk: RefCell<Option<Snapshot>>,
    /// Nodes of guests the bulk read does not show ([`Transport::assign`]).
    assigned: RefCell<std::collections::HashMap<GuestTag, String>>,
    /// Send [`root_only`] changes as CLI calls on the node (an API token cannot make them;
    /// `pvesh` runs as root and can).
    pub root_via_node: bool,
}

fn kind_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Lxc => "lxc",
        Kind::Vm => "qemu",
    }
}

/// The `pct.conf`/`qm.conf` text of a config as `GET .../config` returns it.
pub fn conf_text(data: &Value) -> String {
    let mut conf = Conf::default();
    let Some(obj) = data.as_object() else {
        return String::new();
    };
    for (k, v) in obj {
        match k.as_str() {
            "digest" => {}
            "description" => conf.main_mut().set_description(v.as_str()),
            "lxc" => {
                for pair in v.as_array().into_iter().flatten() {
                    if let (Some(k), Some(v)) = (
                        pair.get(0).and_then(Value::as_str),
                        pair.get(1).and_then(Value::as_str),
                    ) {
                        conf.main_mut().add_lxc(k, v);
                    }
                }
            }
            _ => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                conf.set(k, &text);
            }
        }
    }
    conf.to_string()
}

/// The parameters of `req` that Proxmox lets only `root@pam` itself set, never an API token
/// (whose user is `root@pam!name` at best): for containers (pve-container
/// `check_ct_modify_config_perm`) device passthrough `devN`, bind and device mount points
/// (`mpN`/`rootfs` with a host path), and `features` (root-only on privileged containers and for
/// every flag but `nesting`); for VMs PCI and USB passthrough, `args`, and serial or parallel
/// ports on host devices. The `api` transport sends such a change as its CLI call on the node.
pub fn root_only(req: &Request) -> Vec<String> {
    if !req.method.is_write() {
        return Vec::new();
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let kind = match parts.as_slice() {
        ["nodes", _, k] | ["nodes", _, k, _, "config"] => *k,
        _ => return Vec::new(),
    };
    let numbered = |k: &str, prefix: &str| {
        k.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    // Removing a key is checked like setting it (`devN`, `features`, `hostpciN`, ...); a
    // removed mount point needs `VM.Config.Disk` only.
    let removed_root_only = |v: &str| {
        v.split([',', ';', ' ']).any(|k| match kind {
            "lxc" => numbered(k, "dev") || k == "features",
            "qemu" => {
                numbered(k, "hostpci")
                    || numbered(k, "usb")
                    || k == "args"
                    || numbered(k, "serial")
                    || numbered(k, "parallel")
            }
            _ => false,
        })
    };
    req.params
        .iter()
        .filter(|(k, v)| {
            let v = v.as_str().unwrap_or("");
            let first = v.split(',').next().unwrap_or("");
            if k.as_str() == "delete" {
                return removed_root_only(v);
            }
            match kind {
                "lxc" => {
                    numbered(k, "dev")
                        || (k.as_str() == "features" && !nesting_only_unprivileged(req, v))
                        || ((numbered(k, "mp") || k.as_str() == "rootfs")
                            && (first.starts_with('/')
                                || first.split('=').nth(1).is_some_and(|p| p.starts_with('/'))))
                }
                "qemu" => {
                    numbered(k, "hostpci")
                        || (numbered(k, "usb") && v.contains("host="))
                        || k.as_str() == "args"
                        || ((numbered(k, "serial") || numbered(k, "parallel"))
                            && first.starts_with('/'))
                }
                _ => false,
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// `features` with no flag but `nesting`, on a container the request creates unprivileged: the
/// one feature change a token may make (on an existing container the request does not say
/// whether it is privileged, so it goes the root way).
fn nesting_only_unprivileged(req: &Request, features: &str) -> bool {
    req.get("unprivileged") == Some("1")
        && features
            .split(',')
            .filter(|f| !f.is_empty())
            .all(|f| f.starts_with("nesting="))
}

/// Whether an API error says the guest is not there.
fn is_absent(e: &TransportError) -> bool {
    e.0.contains("does not exist") || e.0.contains("no such VM") || e.0.contains("not exist")
}

/// Every guest of `GET /cluster/resources?type=vm`.
pub fn snapshot_of(data: &Value) -> Snapshot {
    let guests = data
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let kind = match r.get("type").and_then(Value::as_str)? {
                "lxc" => Kind::Lxc,
                "qemu" => Kind::Vm,
                _ => return None,
            };
            let id = r.get("vmid").and_then(Value::as_u64)?;
            let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Observed {
                guest: GuestTag { id, kind },
                state: s("status"),
                name: s("name").unwrap_or_default(),
                node: s("node"),
                lock: s("lock").filter(|l| !l.is_empty()),
                template: r
                    .get("template")
                    .map(|t| t.as_u64() == Some(1) || t.as_bool() == Some(true)),
            })
        })
        .collect();
    Snapshot { guests }
}

impl<'a> ApiTransport<'a> {
    pub fn new(
        name: &'static str,
        carrier: Box<dyn Carrier + 'a>,
        node_work: Box<dyn NodeWork + 'a>,
        default_node: Option<String>,
    ) -> ApiTransport<'a> {
        ApiTransport {
            carrier,
            node_work,
            default_node,
            agent_poll: Duration::from_secs(2),
            name,
            bulk: RefCell::new(None),
            assigned: RefCell::new(std::collections::HashMap::new()),
            root_via_node: name == "api",
        }
    }

    /// A change only `root@pam` may make, as `pct`/`qm` on the node (lock time-outs retried).
    fn as_root_on_node(&self, req: &Request) -> Result<Value, TransportError> {
        let (tool, argv) = req
            .to_argv()
            .map_err(|e| TransportError(format!("{req}: {e}")))?;
        let cmd = NodeCommand {
            program: tool.into(),
            args: argv,
            env: Vec::new(),
            stream: false,
            what: format!("{tool} (root-only settings)"),
        };
        let mut delay = Duration::from_secs(1);
        for attempt in 0..=3 {
            let out = self.node_work.run(&cmd)?;
            if out.success() {
                return Ok(Value::Null);
            }
            if !phoenix_host::tool::is_lock_timeout(&out.stderr) || attempt == 3 {
                return Err(TransportError(format!(
                    "`{}` on {} failed (exit {}): {}",
                    phoenix_host::tool::display(tool, &cmd.args),
                    self.node_work.place(),
                    out.code,
                    out.stderr.trim()
                )));
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
        Ok(Value::Null)
    }

    /// The node a guest is on, from the bulk read (made once when needed).
    fn node_of(&self, g: GuestTag) -> Result<String, TransportError> {
        if let Some(n) = self.locate(g)?.and_then(|o| o.node) {
            return Ok(n);
        }
        if let Some(n) = self.assigned.borrow().get(&g) {
            return Ok(n.clone());
        }
        self.default_node()
    }

    fn path(&self, g: GuestTag, suffix: &str) -> Result<String, TransportError> {
        Ok(format!(
            "/nodes/{}/{}/{}{suffix}",
            self.node_of(g)?,
            kind_path(g.kind),
            g.id
        ))
    }

    fn vm_exec(
        &self,
        g: GuestTag,
        argv: &[String],
        stdin: Option<&str>,
    ) -> Result<ExecOutput, TransportError> {
        let mut req = Request::new(Method::Post, self.path(g, "/agent/exec")?)
            .param("command", argv.to_vec());
        if let Some(s) = stdin {
            req = req.param("input-data", s);
        }
        let started = self.carrier.call(&req)?;
        let pid = started
            .get("pid")
            .and_then(Value::as_u64)
            .ok_or_else(|| TransportError(format!("unexpected agent/exec answer: {started}")))?;
        let max = Duration::from_secs(
            std::env::var("PHOENIX_VM_EXEC_MAX_SECS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(crate::local::DEFAULT_EXEC_MAX_SECS),
        );
        let t0 = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let req = Request::new(Method::Get, self.path(g, "/agent/exec-status")?)
                .param("pid", pid.to_string());
            let st = self.carrier.call(&req)?;
            let s = pve::output::parse_guest_exec_status(&st.to_string())
                .map_err(|e| TransportError(format!("unexpected agent/exec-status answer: {e}")))?;
            if s.exited {
                return Ok(ExecOutput {
                    code: s.exitcode.unwrap_or(-1),
                    stdout: s.out_data.unwrap_or_default(),
                    stderr: s.err_data.unwrap_or_default(),
                });
            }
            if t0.elapsed() >= max {
                return Err(TransportError(format!(
                    "guest process {pid} still running after {}s",
                    t0.elapsed().as_secs()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(self.agent_poll);
        }
    }

    /// Writes a file into a VM through `agent/exec` (`input-data`, in chunks: the API takes
    /// at most 64 KiB a call). The content must be text, as `input-data` is a string.
    fn vm_write(&self, g: GuestTag, dest: &str, data: &[u8]) -> Result<(), TransportError> {
        let text = std::str::from_utf8(data).map_err(|_| {
            TransportError(format!(
                "{dest}: only text files can be written through the guest agent API"
            ))
        })?;
        let first = r#"mkdir -p "$(dirname "$0")" && cat > "$0""#;
        let next = r#"cat >> "$0""#;
        let argv = |script: &str| -> Vec<String> {
            ["sh", "-c", script, dest]
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let mut rest = text;
        let mut i = 0;
        loop {
            let mut cut = rest.len().min(INPUT_CHUNK);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            let a = argv(if i == 0 { first } else { next });
            let out = self.vm_exec(g, &a, Some(chunk))?;
            if !out.success() {
                return Err(TransportError(crate::apply::failure_text(&a, &out)));
            }
            rest = tail;
            i += 1;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }
}

impl Transport for ApiTransport<'_> {
    fn request(&self, req: &Request) -> Result<Value, TransportError> {
        if self.root_via_node && !root_only(req).is_empty() {
            return self.as_root_on_node(req);
        }
        self.carrier.call(req)
    }

    fn guest_config(&self, guest: GuestTag) -> Result<Option<String>, TransportError> {
        let path = self.path(guest, "/config")?;
        match self.carrier.call(&Request::new(Method::Get, path)) {
            Ok(v) => Ok(Some(conf_text(&v))),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn snapshots(&self, guest: GuestTag) -> Result<Vec<String>, TransportError> {
        let path = self.path(guest, "/snapshot")?;
        let v = match self.carrier.call(&Request::new(Method::Get, path)) {
            Ok(v) => v,
            Err(e) if is_absent(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("name").and_then(Value::as_str))
            .filter(|n| *n != "current")
            .map(str::to_string)
            .collect())
    }

    fn conf_lists_snapshots(&self) -> bool {
        false
    }

    fn guest_exec(
        &self,
        guest: GuestTag,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        match guest.kind {
            Kind::Lxc => {
                if stdin.is_some() {
                    return Err(TransportError(
                        "standard input for a container command is not supported".into(),
                    ));
                }
                self.node_work.ct_exec(guest.id, argv)
            }
            Kind::Vm => {
                let text = match stdin {
                    Some(b) => Some(
                        std::str::from_utf8(b)
                            .map_err(|_| TransportError("guest agent input must be text".into()))?,
                    ),
                    None => None,
                };
                if text.is_some_and(|t| t.len() > INPUT_CHUNK) {
                    return Err(TransportError(format!(
                        "guest agent input over {INPUT_CHUNK} bytes"
                    )));
                }
                self.vm_exec(guest, argv, text)
            }
        }
    }

    fn guest_push(
        &self,
        guest: GuestTag,
        data: &Payload,
        dest: &str,
        perms: Option<&str>,
    ) -> Result<(), TransportError> {
        match guest.kind {
            Kind::Lxc => self.node_work.ct_push(guest.id, data, dest, perms),
            Kind::Vm => self.vm_write(guest, dest, &data.bytes()?),
        }
    }

    fn agent_ping(&self, guest: GuestTag) -> Result<(), TransportError> {
        let req = Request::new(Method::Post, self.path(guest, "/agent/ping")?);
        self.carrier.call(&req).map(|_| ())
    }

    fn node_read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
        self.node_work.read(path)
    }

    fn node_write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError> {
        self.node_work.write(path, data, private)
    }

    fn node_remove(&self, path: &Path) -> Result<bool, TransportError> {
        self.node_work.remove(path)
    }

    fn node_run(&self, cmd: &NodeCommand) -> Result<ExecOutput, TransportError> {
        self.node_work.run(cmd)
    }

    fn node_download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError> {
        self.node_work.download(url, dest, label)
    }

    fn observe(&self) -> Result<Snapshot, TransportError> {
        let req = Request::new(Method::Get, "/cluster/resources").param("type", "vm");
        let snap = snapshot_of(&self.carrier.call(&req)?);
        self.bulk.replace(Some(snap.clone()));
        Ok(snap)
    }

    fn seed(&self, snapshot: &Snapshot) {
        self.bulk.replace(Some(snapshot.clone()));
    }

    fn locate(&self, g: GuestTag) -> Result<Option<Observed>, TransportError> {
        if self.bulk.borrow().is_none() {
            self.observe()?;
        }
        Ok(self.bulk.borrow().as_ref().and_then(|s| s.find(g).cloned()))
    }

    fn forget(&self) {
        self.bulk.replace(None);
    }

    fn work_on(&self, node: &str) {
        self.node_work.select(node);
    }

    fn assign(&self, g: GuestTag, node: &str) {
        self.assigned.borrow_mut().insert(g, node.to_string());
    }

    fn default_node(&self) -> Result<String, TransportError> {
        if let Some(n) = &self.default_node {
            return Ok(n.clone());
        }
        let nodes: Vec<String> = {
            let bulk = self.bulk.borrow();
            let mut v: Vec<String> = bulk
                .iter()
                .flat_map(|s| s.guests.iter().filter_map(|o| o.node.clone()))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        if nodes.len() == 1 {
            return Ok(nodes[0].clone());
        }
        let list = self.carrier.call(&Request::new(Method::Get, "/nodes"))?;
        let online: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n.get("status").and_then(Value::as_str) != Some("offline"))
            .filter_map(|n| n.get("node").and_then(Value::as_str).map(str::to_string))
            .collect();
        match online.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(TransportError(format!(
                "the cluster has {} nodes ({}); set orchestration.api.node (or PHOENIX_API_NODE) to the node new guests go to",
                online.len(),
                online.join(", ")
            ))),
        }
    }

    fn show(&self, guest: GuestTag, op: &Op) -> String {
        let id = guest.id;
        match op {
            Op::Api(req) if self.root_via_node && !root_only(req).is_empty() => {
                match req.to_argv() {
                    Ok((tool, argv)) => format!(
                        "{} (on {}: {} only root@pam may set)",
                        phoenix_host::tool::display(tool, &argv),
                        self.node_work.place(),
                        root_only(req).join(", ")
                    ),
                    Err(_) => self.carrier.show(req),
                }
            }
            Op::Api(req) => self.carrier.show(req),
            Op::Guest(GuestOp::Exec { argv, .. } | GuestOp::Check { argv, .. }) => match guest.kind
            {
                Kind::Lxc => {
                    let mut a = vec!["exec".to_string(), id.to_string(), "--".into()];
                    a.extend(argv.iter().cloned());
                    format!(
                        "{} (on {})",
                        phoenix_host::tool::display("pct", &a),
                        self.node_work.place()
                    )
                }
                Kind::Vm => format!("POST .../qemu/{id}/agent/exec command=[{}]", argv.join(" ")),
            },
            Op::Guest(GuestOp::Push { data, dest, .. }) => {
                let src = match data {
                    Payload::File(p) => p.display().to_string(),
                    Payload::Bytes(b) => format!("<{} bytes>", b.len()),
                };
                match guest.kind {
                    Kind::Lxc => {
                        format!("pct push {id} {src} {dest} (on {})", self.node_work.place())
                    }
                    Kind::Vm => format!("POST .../qemu/{id}/agent/exec (write {dest} from {src})"),
                }
            }
            Op::Guest(GuestOp::WaitAgent { .. }) => {
                format!("POST .../qemu/{id}/agent/ping (until it answers)")
            }
            Op::Node(NodeOp::ForgetRecord { path }) => crate::plan::forget_text(path),
            Op::Node(n) => {
                let what = match n {
                    NodeOp::Write { path, .. } => format!("write {}", path.display()),
                    NodeOp::Remove { path } => format!("remove {}", path.display()),
                    NodeOp::Run(c) => {
                        phoenix_host::tool::display(&c.program.display().to_string(), &c.args)
                    }
                    NodeOp::Download { url, dest } => {
                        format!("download {url} to {}", dest.display())
                    }
                    NodeOp::ForgetRecord { path } => crate::plan::forget_text(path),
                    NodeOp::RawLines { guest, lines } => format!(
                        "add to the config file of {guest}: {}",
                        lines
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                };
                format!("{what} (on {})", self.node_work.place())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_json_becomes_conf_text() {
        let data = json!({
            "arch": "amd64", "cores": 2, "memory": 1024, "digest": "abc",
            "description": "made by phoenix\nsecond line",
            "net0": "name=eth0,bridge=vmbr0,ip=10.0.0.5/24",
            "lxc": [["lxc.cgroup2.devices.allow", "c 195:* rwm"]],
            "parent": "ready"
        });
        let conf = Conf::parse(&conf_text(&data));
        assert_eq!(conf.get("cores"), Some("2"));
        assert_eq!(conf.get("memory"), Some("1024"));
        assert_eq!(conf.get("digest"), None);
        assert_eq!(conf.get("parent"), Some("ready"));
        assert_eq!(
            conf.description().as_deref(),
            Some("made by phoenix\nsecond line")
        );
        assert_eq!(
            conf.lxc_entries(),
            vec![("lxc.cgroup2.devices.allow", "c 195:* rwm")]
        );
    }

    #[test]
    fn root_only_parameters_are_found() {
        let put = |path: &str, k: &str, v: &str| Request::new(Method::Put, path).param(k, v);
        let ct = "/nodes/pve/lxc/950/config";
        assert_eq!(root_only(&put(ct, "dev0", "/dev/nvidia0")), ["dev0"]);
        assert_eq!(root_only(&put(ct, "mp0", "/srv/data,mp=/data")), ["mp0"]);
        assert!(root_only(&put(ct, "mp0", "local-zfs:8,mp=/data")).is_empty());
        assert_eq!(
            root_only(&put(ct, "features", "nesting=1,keyctl=1")),
            ["features"]
        );
        assert!(root_only(&put(ct, "memory", "1024")).is_empty());
        assert_eq!(root_only(&put(ct, "delete", "dev0,dev1")), ["delete"]);
        assert!(root_only(&put(ct, "delete", "mp0")).is_empty());
        let create = Request::new(Method::Post, "/nodes/pve/lxc")
            .param("vmid", "950")
            .param("dev0", "/dev/dri/renderD128");
        assert_eq!(root_only(&create), ["dev0"]);
        let nesting = |unpriv: &str| {
            Request::new(Method::Post, "/nodes/pve/lxc")
                .param("vmid", "900")
                .param("unprivileged", unpriv)
                .param("features", "nesting=1")
        };
        assert!(root_only(&nesting("1")).is_empty());
        assert_eq!(root_only(&nesting("0")), ["features"]);
        let vm = "/nodes/pve/qemu/8001/config";
        assert_eq!(
            root_only(&put(vm, "hostpci0", "0000:01:00.0")),
            ["hostpci0"]
        );
        assert!(root_only(&put(vm, "serial0", "socket")).is_empty());
        assert!(root_only(&Request::new(Method::Get, ct).param("dev0", "/x")).is_empty());
        assert!(root_only(&put("/nodes/pve/lxc/950/resize", "disk", "rootfs")).is_empty());
    }

    #[test]
    fn cluster_resources_become_the_observation() {
        let data = json!([
            {"id": "lxc/950", "type": "lxc", "vmid": 950, "node": "pve", "status": "running",
             "name": "gw", "template": 0},
            {"id": "qemu/8000", "type": "qemu", "vmid": 8000, "node": "pve2", "status": "stopped",
             "name": "tpl", "template": 1, "lock": "clone"},
            {"id": "storage/pve/local", "type": "storage", "storage": "local"}
        ]);
        let s = snapshot_of(&data);
        assert_eq!(s.guests.len(), 2);
        let t = s
            .find(GuestTag {
                id: 8000,
                kind: Kind::Vm,
            })
            .unwrap();
        assert_eq!(t.node.as_deref(), Some("pve2"));
        assert_eq!(t.template, Some(true));
        assert_eq!(t.lock.as_deref(), Some("clone"));
        let c = s
            .find(GuestTag {
                id: 950,
                kind: Kind::Lxc,
            })
            .unwrap();
        assert_eq!(c.state.as_deref(), Some("running"));
        assert_eq!(c.template, Some(false));
    }
}
