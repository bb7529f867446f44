//! One API request, whatever carried it (HTTPS or `pvesh`): fault rules, schema validation,
//! then either a read answered from the state folder ([`super::view`]) or a change run through
//! the very stand-in the CLI uses (`Request::to_argv`, then `pve-sim <tool> <argv>` as a child
//! process: same checks, locks, latency and faults, and its own process as a CLI call has).
//! Changes Proxmox runs as workers become tasks with UPIDs; the checks Proxmox makes before
//! forking its worker are made here first, so they fail the request itself (HTTP 500) rather
//! than the task, as on a real node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pve::api::{Request, Value as P};
use serde_json::{json, Value};

use super::faults::{self, ApiRule, When};
use super::schema::{self, Errors};
use super::{tasks, view};
use crate::state::{Kind, Node};

/// Who asks, and how.
pub struct Ctx {
    pub root: PathBuf,
    /// Token id (`root@pam!phoenix`), or `root@pam` for `pvesh`.
    pub user: String,
    /// Whether the caller is an API token (the schema's `allowtoken` applies).
    pub token: bool,
    /// Run tasks in the foreground (`pvesh`, as Proxmox's CLI environment does).
    pub foreground: bool,
}

/// The answer: HTTP status, message (reason phrase), `data`, parameter errors.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub message: String,
    pub data: Value,
    pub errors: Option<Errors>,
    /// Close the connection without answering (a fault rule).
    pub reset: bool,
    /// Output of a foreground task (`pvesh` prints it).
    pub task_output: String,
}

impl Reply {
    fn ok(data: Value) -> Reply {
        Reply {
            status: 200,
            data,
            ..Reply::default()
        }
    }
    fn err(status: u16, message: impl Into<String>) -> Reply {
        Reply {
            status,
            message: message.into(),
            data: Value::Null,
            ..Reply::default()
        }
    }
}

/// Handles `method path` (below `/api2/json`) with its query and body parameters.
pub fn handle(ctx: &Ctx, method: &str, path: &str, params: &BTreeMap<String, P>) -> Reply {
    // The simulated HA manager acts on what is due before the request is answered.
    crate::ha::tick(&ctx.root);
    // The request is answered as the node its path names (any node answers for another, as
    // pveproxy proxies); `localhost` and paths without a node are the node reached.
    let addressed = path
        .strip_prefix("/nodes/")
        .and_then(|r| r.split('/').next())
        .filter(|n| !n.is_empty() && *n != "localhost");
    let node = match Node::open(ctx.root.clone()) {
        Ok(n) => match addressed {
            Some(a) if n.members.iter().any(|m| m == a) => n.peer(a),
            _ => n,
        },
        Err(e) => return Reply::err(500, e.msg),
    };
    if let Some(a) = addressed.filter(|a| node.is_down(a)) {
        // pveproxy's answer when the node it proxies to does not answer.
        let _ = a;
        return Reply::err(595, "No route to host");
    }
    let rule = faults::matching(&node, method, path);
    if let Some(r) = rule
        .as_ref()
        .filter(|r| r.when == When::Before && r.task_error.is_none() && r.task_warnings.is_empty())
    {
        return fault_reply(r);
    }
    let reply = handle_valid(ctx, &node, method, path, params, rule.as_ref());
    match rule {
        Some(r)
            if r.when == When::After && r.task_error.is_none() && r.task_warnings.is_empty() =>
        {
            // The request ran (and its task finished); its answer is what gets lost.
            if let Some(upid) = reply.data.as_str().filter(|u| u.starts_with("UPID:")) {
                wait_task(&ctx.root, upid);
            }
            fault_reply(&r)
        }
        _ => reply,
    }
}

fn fault_reply(r: &ApiRule) -> Reply {
    let mut rep = Reply::err(
        r.status.unwrap_or(500),
        if r.message.is_empty() {
            "pve-sim: injected API failure".to_string()
        } else {
            r.message.clone()
        },
    );
    rep.reset = r.reset;
    rep
}

fn wait_task(root: &std::path::Path, upid: &str) {
    for _ in 0..6000 {
        if tasks::status(root, upid).is_none_or(|s| s["status"] == "stopped") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn handle_valid(
    ctx: &Ctx,
    node: &Node,
    method: &str,
    path: &str,
    given: &BTreeMap<String, P>,
    rule: Option<&ApiRule>,
) -> Reply {
    let api = schema::spec();
    let Some((tpl, ms, vars)) = schema::find(api, method, path) else {
        return Reply::err(501, format!("Method '{method} {path}' not implemented"));
    };
    let mut params = given.clone();
    for (k, v) in &vars {
        if params.get(k).is_some_and(|p| p.as_str() != Some(v)) {
            let mut e = Errors::new();
            e.insert(
                k.clone(),
                "duplicate parameter (already defined in URI) with conflicting values!".into(),
            );
            return bad_params(e);
        }
        params.insert(k.clone(), P::Str(v.clone()));
    }
    if let Err(e) = schema::validate(api, ms, &mut params) {
        return bad_params(e);
    }
    if ctx.token && !ms.allowtoken {
        return Reply::err(
            403,
            format!("URI '{path}' not available with API token, need proper ticket."),
        );
    }
    // `localhost` is the node the request reaches, as on a real node (`pvesh` and the API
    // both resolve it).
    if let Some(n) = vars
        .get("node")
        .filter(|n| *n != "localhost" && **n != node.name)
    {
        return Reply::err(
            500,
            format!("unable to get remote IP address for node '{n}'"),
        );
    }
    let s = |k: &str| params.get(k).and_then(P::as_str).map(str::to_string);
    let kind = vars
        .get("vmid")
        .and(tpl.split('/').nth(3))
        .and_then(view::kind_of);
    let vmid = s("vmid").and_then(|v| v.parse::<u32>().ok());
    let read = |r: Result<Value, String>| match r {
        Ok(v) => Reply::ok(v),
        Err(m) => Reply::err(500, m),
    };
    if method == "GET" {
        if let Some(fail) = cli_read_fault(node, method, path, &params) {
            return fail;
        }
        match tpl {
            "/version" => {
                return Reply::ok(
                    json!({"version": "9.1.3", "release": "9.1", "repoid": "pve-sim"}),
                )
            }
            "/nodes" => return Reply::ok(Value::Array(view::node_list(node, false))),
            "/cluster/resources" => {
                return Reply::ok(view::cluster_resources(node, s("type").as_deref()))
            }
            "/nodes/{node}/tasks" => return Reply::ok(json!([])),
            "/nodes/{node}/tasks/{upid}/status" => {
                let upid = s("upid").unwrap_or_default();
                return match tasks::status(&ctx.root, &upid) {
                    Some(v) => Reply::ok(v),
                    None => Reply::err(500, format!("no such task '{upid}'")),
                };
            }
            "/nodes/{node}/tasks/{upid}/log" => {
                let upid = s("upid").unwrap_or_default();
                let start = s("start").and_then(|v| v.parse().ok()).unwrap_or(0);
                let limit = s("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
                return match tasks::log(&ctx.root, &upid, start, limit) {
                    Some((v, _)) => Reply::ok(v),
                    None => Reply::err(500, format!("no such task '{upid}'")),
                };
            }
            "/nodes/{node}/lxc" => return Reply::ok(view::guest_list(node, Kind::Lxc)),
            "/nodes/{node}/qemu" => return Reply::ok(view::guest_list(node, Kind::Qemu)),
            "/nodes/{node}/storage" => return Reply::ok(view::storage_status(node, &params)),
            "/nodes/{node}/storage/{storage}/content" => {
                return read(view::storage_content(
                    node,
                    &s("storage").unwrap_or_default(),
                    &params,
                ))
            }
            _ => {}
        }
        if let (Some(kind), Some(id)) = (kind, vmid) {
            if node.guest_kind(id) != Some(kind) {
                return Reply::err(500, view::not_exist(node, kind, id));
            }
            match tpl.rsplit_once("{vmid}").map(|(_, rest)| rest) {
                Some("/config") => return read(view::config(node, kind, id, &params)),
                Some("/status/current") => return read(view::status_current(node, kind, id)),
                Some("/snapshot") => return read(view::snapshots(node, kind, id)),
                Some("/pending") => return read(view::pending(node, kind, id)),
                _ => {}
            }
        }
    }
    if tpl.starts_with("/cluster/ha/resources") {
        return ha_resources(node, method, tpl, &params);
    }
    change(
        ctx,
        node,
        method,
        path,
        &params,
        &vars,
        (kind, vmid),
        ms.task,
        rule,
    )
}

fn bad_params(errors: Errors) -> Reply {
    let mut r = Reply::err(400, "Parameter verification failed.");
    r.errors = Some(errors);
    r
}

/// Injected CLI faults and latency for a read with a CLI equivalent (`pct config` for
/// `GET .../lxc/{vmid}/config`), so reads fail and lag the same over every transport.
fn cli_read_fault(
    node: &Node,
    method: &str,
    path: &str,
    params: &BTreeMap<String, P>,
) -> Option<Reply> {
    let mut req = Request::new(pve::api::Method::Get, path);
    req.params = params.clone();
    req.params.remove("node");
    let (tool, argv) = req.to_argv().ok()?;
    let _ = method;
    let call = pve::validate(tool, &argv).ok()?;
    let mut count = |k: &str| node.count_match(k);
    match node
        .faults
        .call_fault(tool, &call.command, call.vmid(), &argv, &mut count)
    {
        Ok(Some((_, msg))) => return Some(Reply::err(500, msg)),
        Err(e) => return Some(Reply::err(500, e.msg)),
        Ok(None) => {}
    }
    node.pause(tool, &call.command)
        .err()
        .map(|e| Reply::err(500, e.msg))
}

/// Proxmox's worker type for a task (the UPID's type field).
fn task_type(tool: &str, command: &str) -> String {
    let prefix = if tool == "pct" { "vz" } else { "qm" };
    match (tool, command) {
        (_, "resize") | (_, "disk resize") => "resize".into(),
        ("pvesm", "free") => "imgdel".into(),
        ("pveam", "download") => "download".into(),
        ("qm", "migrate") => "qmigrate".into(),
        (_, c) => format!("{prefix}{c}"),
    }
}

/// The checks Proxmox makes before it forks a worker: their failures answer 500 at once.
fn pre_fork(
    node: &Node,
    tool: &str,
    command: &str,
    kind: Option<Kind>,
    vmid: Option<u32>,
    params: &BTreeMap<String, P>,
) -> Result<(), String> {
    let get = |k: &str| params.get(k).and_then(P::as_str);
    let (Some(kind), Some(id)) = (
        kind.or(match tool {
            "pct" => Some(Kind::Lxc),
            "qm" => Some(Kind::Qemu),
            _ => None,
        }),
        vmid,
    ) else {
        return Ok(());
    };
    if command == "create" {
        if let Some((on, _)) = node.owner(id) {
            return Err(view::already_exists(kind, id, &on));
        }
        return Ok(());
    }
    if node.guest_kind(id) != Some(kind) {
        return Err(view::not_exist(node, kind, id));
    }

    if kind != Kind::Lxc {
        return Ok(());
    }
    let conf = node.read_conf(kind, id).map_err(|e| e.msg)?;
    match command {
        // pve-container's clone sets `lock: disk` on the source and creates the target
        // config before it forks the copy.
        "clone" => {
            if let Some(l) = conf.get("lock") {
                return Err(format!("CT {id} is locked ({l})"));
            }
            if let Some(new) = get("newid").and_then(|n| n.parse::<u32>().ok()) {
                if let Some((on, _)) = node.owner(new) {
                    return Err(view::already_exists(Kind::Lxc, new, &on));
                }
            }
        }
        "start" | "resume" if node.is_running(id) => {
            return Err(format!("CT {id} already running"))
        }
        "stop" | "shutdown" | "suspend" if !node.is_running(id) => {
            return Err(format!("CT {id} not running"))
        }
        _ => {}
    }
    Ok(())
}

/// What `migrate_vm` of pve-container and qemu-server refuses before forking its worker:
/// the local node as target (a parameter error), a node not in the cluster, a missing guest,
/// a running guest without `online` (or, for a container, `restart`).
fn migrate_refusal(
    node: &Node,
    kind: Option<Kind>,
    vmid: Option<u32>,
    params: &BTreeMap<String, P>,
) -> Option<Reply> {
    let target = params.get("target").and_then(P::as_str).unwrap_or_default();
    if target == node.name {
        let mut e = Errors::new();
        e.insert("target".into(), "target is local node.".into());
        return Some(bad_params(e));
    }
    if !node.members.iter().any(|m| m == target) {
        return Some(Reply::err(500, format!("no such cluster node '{target}'")));
    }
    let (kind, id) = (kind?, vmid?);
    if node.guest_kind(id) != Some(kind) {
        return Some(Reply::err(500, view::not_exist(node, kind, id)));
    }
    let on = |k: &str| {
        params
            .get(k)
            .and_then(P::as_str)
            .is_some_and(|v| v == "1" || v == "true")
    };
    if node.is_running(id) {
        match kind {
            Kind::Lxc if !on("online") && !on("restart") => {
                return Some(Reply::err(
                    500,
                    "can't migrate running container without --online or --restart",
                ))
            }
            Kind::Qemu if !on("online") => {
                return Some(Reply::err(500, "can't migrate running VM without --online"))
            }
            _ => {}
        }
    }
    None
}

/// A stand-in run: exit code, stdout, stderr.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_tool(
    root: &std::path::Path,
    on: &str,
    tool: &str,
    argv: &[String],
    stdin: Option<&str>,
) -> Run {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return Run {
                code: 255,
                stdout: String::new(),
                stderr: format!("pve-sim: {e}"),
            }
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg(tool)
        .args(argv)
        .env("PVE_SIM_ROOT", root)
        .env("PVE_SIM_VIA", "api")
        .env("PVE_SIM_NODE", on)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn();
    let out = child.and_then(|mut c| {
        if let (Some(data), Some(mut pipe)) = (stdin, c.stdin.take()) {
            use std::io::Write;
            let _ = pipe.write_all(data.as_bytes());
        }
        c.wait_with_output()
    });
    match out {
        Ok(o) => Run {
            code: o.status.code().unwrap_or(255),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => Run {
            code: 255,
            stdout: String::new(),
            stderr: format!("pve-sim: {e}"),
        },
    }
}

/// The message of a failed stand-in run (its last line of stderr) and, for parameter
/// errors the CLI found, the `key: message` lines as an errors map.
fn failure(run: &Run) -> Reply {
    let text = run.stderr.trim();
    if let Some(rest) = text.strip_prefix("400 Parameter verification failed.") {
        let errors: Errors = rest
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if !errors.is_empty() {
            return bad_params(errors);
        }
    }
    let msg = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("command failed");
    Reply::err(500, msg.trim())
}

#[allow(clippy::too_many_arguments)]
fn change(
    ctx: &Ctx,
    node: &Node,
    method: &str,
    path: &str,
    params: &BTreeMap<String, P>,
    vars: &BTreeMap<String, String>,
    (kind, vmid): (Option<Kind>, Option<u32>),
    is_task: bool,
    rule: Option<&ApiRule>,
) -> Reply {
    let not_simulated = || {
        Reply::err(
            501,
            format!("Method '{method} {path}' is not simulated by pve-sim"),
        )
    };
    let mut req = Request::new(parse_method(method), path);
    req.params = params.clone();
    req.params.remove("node");
    // The agent's exec answers a pid at once; the CLI's `--synchronous 0` does the same.
    let mut stdin = None;
    let (tool, command, argv) = if path.ends_with("/agent/exec") {
        let Some(id) = vmid else {
            return not_simulated();
        };
        let mut argv: Vec<String> = vec![
            "guest".into(),
            "exec".into(),
            id.to_string(),
            "--synchronous".into(),
            "0".into(),
        ];
        if let Some(P::Str(data)) = params.get("input-data") {
            argv.extend(["--pass-stdin".into(), "1".into()]);
            stdin = Some(data.clone());
        }
        argv.push("--".into());
        if let Some(P::List(cmd)) = params.get("command") {
            argv.extend(cmd.iter().cloned());
        }
        ("qm", "guest exec".to_string(), argv)
    } else if path.ends_with("/agent/ping") {
        let Some(id) = vmid else {
            return not_simulated();
        };
        let argv = vec!["guest".into(), "cmd".into(), id.to_string(), "ping".into()];
        ("qm", "guest cmd".to_string(), argv)
    } else {
        // Path placeholders are positional arguments of the CLI form, not options.
        for k in vars.keys() {
            req.params.remove(k);
        }
        let Some((route, _)) = req.route() else {
            return not_simulated();
        };
        match req.to_argv() {
            Ok((tool, argv)) => (tool, route.command.to_string(), argv),
            Err(_) => return not_simulated(),
        }
    };
    if !is_task {
        let run = run_tool(&ctx.root, &node.name, tool, &argv, stdin.as_deref());
        if run.code != 0 {
            return failure(&run);
        }
        return Reply::ok(sync_data(path, &run.stdout));
    }
    if command == "migrate" {
        if let Some(r) = migrate_refusal(node, kind, vmid, params) {
            return r;
        }
    }
    if let Err(msg) = pre_fork(node, tool, &command, kind, vmid, params) {
        return Reply::err(500, msg);
    }
    let task_id = vmid.map(|v| v.to_string()).unwrap_or_default();
    let ha = match (kind, vmid) {
        (Some(k), Some(id)) => crate::ha::managed(&node.root, k, id).is_some(),
        _ => false,
    };
    let ty = match command.as_str() {
        "start" if ha => "hastart".to_string(),
        "stop" | "shutdown" if ha => "hastop".to_string(),
        "migrate" if ha => "hamigrate".to_string(),
        _ => task_type(tool, &command),
    };
    let upid = tasks::new_upid(&node.name, &ty, &task_id, &ctx.user);
    if let Err(e) = tasks::start(&ctx.root, &upid) {
        return Reply::err(500, format!("unable to create task log: {e}"));
    }
    let root = ctx.root.clone();
    let on = node.name.clone();
    let (tool, upid2) = (tool.to_string(), upid.clone());
    let rule = rule.cloned();
    let work = move || -> String {
        if let Some(msg) = rule.as_ref().and_then(|r| r.task_error.clone()) {
            tasks::append(&root, &upid2, &msg);
            tasks::finish(&root, &upid2, Err(msg));
            return String::new();
        }
        let run = run_tool(&root, &on, &tool, &argv, None);
        let mut output = run.stdout.clone();
        let err_line = run
            .stderr
            .trim()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        for l in run.stderr.lines() {
            if run.code != 0 && l.trim() == err_line.trim() {
                continue;
            }
            output.push_str(l);
            output.push('\n');
        }
        for w in rule
            .as_ref()
            .map(|r| r.task_warnings.clone())
            .unwrap_or_default()
        {
            output.push_str(&format!("WARN: {w}\n"));
        }
        tasks::append(&root, &upid2, &output);
        if run.code == 0 {
            tasks::finish(&root, &upid2, Ok(tasks::count_warnings(&output)));
        } else {
            let msg = if err_line.is_empty() {
                format!("command failed with exit code {}", run.code)
            } else {
                err_line
            };
            tasks::finish(&root, &upid2, Err(msg.clone()));
            output.push_str(&msg);
            output.push('\n');
        }
        output
    };
    let mut reply = Reply::ok(json!(upid));
    if ctx.foreground {
        reply.task_output = work();
    } else {
        super::server::spawn_task(work);
    }
    reply
}

pub fn parse_method(m: &str) -> pve::api::Method {
    use pve::api::Method;
    match m {
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Get,
    }
}

/// `data` of a synchronous change from the stand-in's output.
fn sync_data(path: &str, stdout: &str) -> Value {
    let parsed = serde_json::from_str::<Value>(stdout.trim()).ok();
    if path.ends_with("/agent") || path.ends_with("/agent/ping") {
        return json!({"result": parsed.unwrap_or_else(|| json!({}))});
    }
    if path.ends_with("/content") {
        // `pvesm alloc` prints `successfully created 'VOLID'`.
        if let Some(v) = stdout.split('\'').nth(1) {
            return json!(v);
        }
    }
    parsed.unwrap_or(Value::Null)
}

/// `/cluster/ha/resources[/{sid}]`: the HA resources (pve-ha-manager's `API2/HA/Resources.pm`),
/// answered here: they are cluster configuration, with no pct/qm form.
fn ha_resources(node: &Node, method: &str, tpl: &str, params: &BTreeMap<String, P>) -> Reply {
    let s = |k: &str| params.get(k).and_then(P::as_str).map(str::to_string);
    let root = &node.root;
    let sid = match s("sid").map(|g| crate::ha::parse_sid(node, &g)) {
        Some(Ok((k, id))) => Some(crate::ha::sid(k, id)),
        Some(Err(m)) => return Reply::err(500, m),
        None => None,
    };
    let opts = || -> BTreeMap<String, String> {
        params
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "state" | "group" | "comment" | "max_restart" | "max_relocate" | "failback"
                )
            })
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
    };
    match (method, tpl, sid) {
        ("GET", "/cluster/ha/resources", _) => {
            Reply::ok(crate::ha::list(root, s("type").as_deref()))
        }
        ("GET", _, Some(sid)) => match crate::ha::read(root).get(&sid) {
            Some(o) => Reply::ok(crate::ha::entry(root, &sid, o)),
            None => Reply::err(500, format!("no such resource '{sid}'")),
        },
        ("POST", "/cluster/ha/resources", Some(sid)) => match crate::ha::add(node, &sid, opts()) {
            Ok(()) => Reply::ok(Value::Null),
            Err(m) => Reply::err(500, m),
        },
        ("PUT", _, Some(sid)) => ha_update(node, &sid, opts()),
        ("DELETE", _, Some(sid)) => {
            if !crate::ha::read(root).contains_key(&sid) {
                return Reply::err(500, format!("resource '{sid}' is not HA managed"));
            }
            match crate::ha::remove(root, &sid) {
                Ok(_) => Reply::ok(Value::Null),
                Err(e) => Reply::err(500, e.msg),
            }
        }
        _ => Reply::err(
            501,
            format!("Method '{method} {tpl}' is not simulated by pve-sim"),
        ),
    }
}

/// `PUT /cluster/ha/resources/{sid}`: new options; a new requested state is acted on.
fn ha_update(node: &Node, sid: &str, opts: BTreeMap<String, String>) -> Reply {
    let root = &node.root;
    let mut res = crate::ha::read(root);
    let Some(cur) = res.get_mut(sid) else {
        return Reply::err(500, format!("no such resource '{sid}'"));
    };
    let new_state = opts.get("state").cloned();
    cur.extend(opts);
    if let Err(e) = crate::ha::write(root, &res) {
        return Reply::err(500, e.msg);
    }
    let Ok((kind, id)) = crate::ha::parse_sid(node, sid) else {
        return Reply::ok(Value::Null);
    };
    let on = node
        .owner(id)
        .map(|(n, _)| node.peer(&n))
        .unwrap_or_else(|| node.peer(&node.name));
    let running = on.is_running(id);
    let req = match new_state.as_deref() {
        Some("started" | "enabled") if !running => Some(crate::ha::Request::Start),
        Some("stopped" | "disabled") if running => Some(crate::ha::Request::Stop),
        _ => None,
    };
    if let Some(r) = req {
        if let Err(e) = crate::ha::request(&on, kind, id, r) {
            return Reply::err(500, e.msg);
        }
    }
    Reply::ok(Value::Null)
}
