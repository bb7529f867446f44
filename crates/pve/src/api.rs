//! One request model for every way of reaching Proxmox: the REST API (`/api2/json`), `pvesh`, and
//! the `pct`/`qm`/`pvesm`/`pveam` command lines.
//!
//! The Proxmox CLI tools are thin wrappers over the API handlers (`PVE::CLI::pct` maps `pct set`
//! to `PUT /nodes/{node}/lxc/{vmid}/config`, with `vmid` as the first positional argument). A
//! plan made of [`Request`]s can therefore be carried by any transport: [`Request::to_argv`] gives
//! the CLI call, [`Request::from_argv`] reads one back (the simulator's API server runs requests
//! through the same stand-ins as the CLI), and an HTTP client sends [`Request::path`] and
//! [`Request::params`] as they are. [`ROUTES`] is the one table both directions read.
//!
//! ```
//! use pve::api::{Method, Request};
//! let req = Request::new(Method::Put, "/nodes/pve/lxc/953/config").param("memory", "1024");
//! assert_eq!(req.to_argv().unwrap(), ("pct", vec!["set".into(), "953".into(), "--memory".into(), "1024".into()]));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::{self, Call};

/// HTTP method of an API request (`pvesh get|create|set|delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// The `pvesh` command for this method.
    pub fn pvesh_command(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "create",
            Method::Put => "set",
            Method::Delete => "delete",
        }
    }

    /// Whether a request with this method can change the node.
    pub fn is_write(self) -> bool {
        self != Method::Get
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parameter value: API parameters are strings, except array parameters such as the agent's
/// `command` (sent as repeated form fields, or one `-command` per element with `pvesh`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Str(String),
    List(Vec<String>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::List(_) => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Value {
        Value::List(v)
    }
}

/// One API request: method, path below `/api2/json`, parameters (query for GET and DELETE,
/// body otherwise). Parameters are ordered by name, so two equal requests compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub method: Method,
    /// `/nodes/pve/lxc/950/config`: concrete, no `{placeholders}`.
    pub path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
}

impl fmt::Display for Request {
    /// `PUT /nodes/pve/lxc/953/config memory=1024`, for plans and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        for (k, v) in &self.params {
            match v {
                Value::Str(s) => write!(f, " {k}={s}")?,
                Value::List(l) => write!(f, " {k}=[{}]", l.join(" "))?,
            }
        }
        Ok(())
    }
}

/// Why a request has no CLI form, or a CLI call no request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("{tool} {command}: parameter '{param}' is missing")]
    MissingParam {
        tool: &'static str,
        command: &'static str,
        param: String,
    },
    #[error("{0}")]
    Spec(#[from] spec::SpecError),
}

/// How one CLI command maps to one API path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub tool: &'static str,
    /// Canonical subcommand, as [`spec::validate`] names it (`guest exec`, `disk resize`).
    pub command: &'static str,
    pub method: Method,
    /// API path with `{placeholders}`; `{node}` is the node the tool runs on.
    pub path: &'static str,
    /// Parameters the CLI form fixes (`pveam list` is the `vztmpl` content of a storage).
    pub fixed: &'static [(&'static str, &'static str)],
}

const fn r(tool: &'static str, command: &'static str, method: Method, path: &'static str) -> Route {
    Route {
        tool,
        command,
        method,
        path,
        fixed: &[],
    }
}

use Method::{Delete, Get, Post, Put};

/// Every CLI command Phoenix (or the simulator's API server) translates, with its API path, as
/// `PVE::CLI::pct`, `PVE::CLI::qm`, `PVE::CLI::pvesm` and `PVE::CLI::pveam` map them. Commands
/// without an API handler (`pct exec`, `pct push`, `qm disk import`) are absent on purpose: a
/// transport runs them on the node itself.
pub const ROUTES: &[Route] = &[
    r("pct", "list", Get, "/nodes/{node}/lxc"),
    r("pct", "create", Post, "/nodes/{node}/lxc"),
    r("pct", "config", Get, "/nodes/{node}/lxc/{vmid}/config"),
    r("pct", "set", Put, "/nodes/{node}/lxc/{vmid}/config"),
    r("pct", "destroy", Delete, "/nodes/{node}/lxc/{vmid}"),
    r(
        "pct",
        "status",
        Get,
        "/nodes/{node}/lxc/{vmid}/status/current",
    ),
    r(
        "pct",
        "start",
        Post,
        "/nodes/{node}/lxc/{vmid}/status/start",
    ),
    r("pct", "stop", Post, "/nodes/{node}/lxc/{vmid}/status/stop"),
    r(
        "pct",
        "shutdown",
        Post,
        "/nodes/{node}/lxc/{vmid}/status/shutdown",
    ),
    r(
        "pct",
        "reboot",
        Post,
        "/nodes/{node}/lxc/{vmid}/status/reboot",
    ),
    r(
        "pct",
        "suspend",
        Post,
        "/nodes/{node}/lxc/{vmid}/status/suspend",
    ),
    r(
        "pct",
        "resume",
        Post,
        "/nodes/{node}/lxc/{vmid}/status/resume",
    ),
    r("pct", "clone", Post, "/nodes/{node}/lxc/{vmid}/clone"),
    r("pct", "template", Post, "/nodes/{node}/lxc/{vmid}/template"),
    r("pct", "resize", Put, "/nodes/{node}/lxc/{vmid}/resize"),
    r("pct", "migrate", Post, "/nodes/{node}/lxc/{vmid}/migrate"),
    r("pct", "pending", Get, "/nodes/{node}/lxc/{vmid}/pending"),
    r(
        "pct",
        "listsnapshot",
        Get,
        "/nodes/{node}/lxc/{vmid}/snapshot",
    ),
    r("pct", "snapshot", Post, "/nodes/{node}/lxc/{vmid}/snapshot"),
    r(
        "pct",
        "delsnapshot",
        Delete,
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
    ),
    r(
        "pct",
        "rollback",
        Post,
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
    ),
    r("qm", "list", Get, "/nodes/{node}/qemu"),
    r("qm", "create", Post, "/nodes/{node}/qemu"),
    r("qm", "config", Get, "/nodes/{node}/qemu/{vmid}/config"),
    r("qm", "set", Put, "/nodes/{node}/qemu/{vmid}/config"),
    r("qm", "destroy", Delete, "/nodes/{node}/qemu/{vmid}"),
    r(
        "qm",
        "status",
        Get,
        "/nodes/{node}/qemu/{vmid}/status/current",
    ),
    r(
        "qm",
        "start",
        Post,
        "/nodes/{node}/qemu/{vmid}/status/start",
    ),
    r("qm", "stop", Post, "/nodes/{node}/qemu/{vmid}/status/stop"),
    r(
        "qm",
        "shutdown",
        Post,
        "/nodes/{node}/qemu/{vmid}/status/shutdown",
    ),
    r(
        "qm",
        "reboot",
        Post,
        "/nodes/{node}/qemu/{vmid}/status/reboot",
    ),
    r(
        "qm",
        "reset",
        Post,
        "/nodes/{node}/qemu/{vmid}/status/reset",
    ),
    r(
        "qm",
        "suspend",
        Post,
        "/nodes/{node}/qemu/{vmid}/status/suspend",
    ),
    r(
        "qm",
        "resume",
        Post,
        "/nodes/{node}/qemu/{vmid}/status/resume",
    ),
    r("qm", "clone", Post, "/nodes/{node}/qemu/{vmid}/clone"),
    r("qm", "template", Post, "/nodes/{node}/qemu/{vmid}/template"),
    r("qm", "disk resize", Put, "/nodes/{node}/qemu/{vmid}/resize"),
    r("qm", "migrate", Post, "/nodes/{node}/qemu/{vmid}/migrate"),
    r("qm", "pending", Get, "/nodes/{node}/qemu/{vmid}/pending"),
    r(
        "qm",
        "listsnapshot",
        Get,
        "/nodes/{node}/qemu/{vmid}/snapshot",
    ),
    r("qm", "snapshot", Post, "/nodes/{node}/qemu/{vmid}/snapshot"),
    r(
        "qm",
        "delsnapshot",
        Delete,
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
    ),
    r(
        "qm",
        "rollback",
        Post,
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
    ),
    r(
        "qm",
        "cloudinit update",
        Put,
        "/nodes/{node}/qemu/{vmid}/cloudinit",
    ),
    r(
        "qm",
        "cloudinit dump",
        Get,
        "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
    ),
    r(
        "qm",
        "guest exec",
        Post,
        "/nodes/{node}/qemu/{vmid}/agent/exec",
    ),
    r(
        "qm",
        "guest exec-status",
        Get,
        "/nodes/{node}/qemu/{vmid}/agent/exec-status",
    ),
    r("qm", "guest cmd", Post, "/nodes/{node}/qemu/{vmid}/agent"),
    r("pvesm", "status", Get, "/nodes/{node}/storage"),
    r("pvesm", "add", Post, "/storage"),
    r("pvesm", "set", Put, "/storage/{storage}"),
    r("pvesm", "remove", Delete, "/storage/{storage}"),
    r(
        "pvesm",
        "alloc",
        Post,
        "/nodes/{node}/storage/{storage}/content",
    ),
    r(
        "pvesm",
        "free",
        Delete,
        "/nodes/{node}/storage/{storage}/content/{volume}",
    ),
    r(
        "pvesm",
        "list",
        Get,
        "/nodes/{node}/storage/{storage}/content",
    ),
    Route {
        tool: "pveam",
        command: "list",
        method: Get,
        path: "/nodes/{node}/storage/{storage}/content",
        fixed: &[("content", "vztmpl")],
    },
    r("pveam", "download", Post, "/nodes/{node}/aplinfo"),
];

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            params: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<Value>) -> Request {
        self.params.insert(key.into(), value.into());
        self
    }

    /// A string parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// The route this request takes, and the values of the path's placeholders.
    pub fn route(&self) -> Option<(&'static Route, BTreeMap<&'static str, String>)> {
        // `pveam list` and `pvesm list` share a path; a request is `pveam list` only when it
        // carries every fixed parameter, so look at routes with fixed parameters first.
        let mut candidates: Vec<&'static Route> =
            ROUTES.iter().filter(|r| r.method == self.method).collect();
        candidates.sort_by_key(|r| std::cmp::Reverse(r.fixed.len()));
        candidates.into_iter().find_map(|r| {
            let vars = match_path(r.path, &self.path)?;
            let fixed_ok = r.fixed.iter().all(|(k, v)| self.get(k) == Some(*v));
            fixed_ok.then_some((r, vars))
        })
    }

    /// The CLI call that carries this request: the tool and its argv, positional arguments
    /// taken from the path and the parameters in the order the tool's synopsis gives them.
    pub fn to_argv(&self) -> Result<(&'static str, Vec<String>), MapError> {
        let (route, vars) = self
            .route()
            .ok_or_else(|| MapError::NoRoute(format!("{} {}", self.method, self.path)))?;
        let spec = spec::spec();
        let cmd = spec
            .tools
            .get(route.tool)
            .and_then(|t| t.get(route.command))
            .ok_or_else(|| MapError::NoRoute(format!("{} {}", route.tool, route.command)))?;
        let mut params = self.params.clone();
        for (k, _) in route.fixed {
            params.remove(*k);
        }
        let mut argv: Vec<String> = route.command.split(' ').map(str::to_string).collect();
        let mut extra = Vec::new();
        for arg in &cmd.args {
            let value = vars
                .get(arg.name.as_str())
                .map(|v| Value::Str(v.clone()))
                .or_else(|| params.remove(&arg.name))
                .or_else(|| (arg.name == "extra-args").then(|| params.remove("command"))?);
            match (value, arg.optional) {
                (Some(Value::Str(v)), _) => argv.push(v),
                (Some(Value::List(l)), _) => extra = l,
                (None, true) => {}
                (None, false) => {
                    return Err(MapError::MissingParam {
                        tool: route.tool,
                        command: route.command,
                        param: arg.name.clone(),
                    })
                }
            }
        }
        for (k, v) in params {
            match v {
                Value::Str(s) => argv.extend([format!("--{k}"), s]),
                Value::List(l) => {
                    for s in l {
                        argv.extend([format!("--{k}"), s]);
                    }
                }
            }
        }
        if !extra.is_empty() {
            argv.push("--".to_string());
            argv.extend(extra);
        }
        Ok((route.tool, argv))
    }

    /// The request a CLI call makes on `node` (the call is checked against the CLI spec first).
    pub fn from_argv(tool: &str, argv: &[String], node: &str) -> Result<Request, MapError> {
        let call = spec::validate(tool, argv)?;
        Request::from_call(&call, node)
    }

    /// The request of a validated call on `node`.
    pub fn from_call(call: &Call, node: &str) -> Result<Request, MapError> {
        let route = ROUTES
            .iter()
            .find(|r| r.tool == call.tool && r.command == call.command)
            .ok_or_else(|| MapError::NoRoute(format!("{} {}", call.tool, call.command)))?;
        let mut path = route.path.replace("{node}", node);
        let mut params = BTreeMap::new();
        for (name, value) in &call.args {
            let placeholder = format!("{{{name}}}");
            if path.contains(&placeholder) {
                path = path.replace(&placeholder, value);
            } else {
                params.insert(name.clone(), Value::Str(value.clone()));
            }
        }
        if !call.extra.is_empty() {
            params.insert("command".to_string(), Value::List(call.extra.clone()));
        }
        for (k, v) in &call.options {
            params.insert(k.clone(), Value::Str(v.clone()));
        }
        for (k, v) in route.fixed {
            params.insert(k.to_string(), Value::Str(v.to_string()));
        }
        Ok(Request {
            method: route.method,
            path,
            params,
        })
    }
}

/// Matches a concrete path against a template; the placeholders' values on success.
pub fn match_path(template: &'static str, path: &str) -> Option<BTreeMap<&'static str, String>> {
    let mut vars = BTreeMap::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(vars),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    vars.insert(name, ps.to_string());
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn set_round_trips() {
        let req =
            Request::from_argv("pct", &argv("set 953 --memory 1024 --cores 2"), "pve").unwrap();
        assert_eq!(req.method, Method::Put);
        assert_eq!(req.path, "/nodes/pve/lxc/953/config");
        assert_eq!(req.get("memory"), Some("1024"));
        let (tool, back) = req.to_argv().unwrap();
        assert_eq!(tool, "pct");
        assert_eq!(back, argv("set 953 --cores 2 --memory 1024"));
    }

    #[test]
    fn positional_arguments_become_parameters() {
        let req = Request::from_argv("pct", &argv("clone 900 950 --hostname gw --full 1"), "pve")
            .unwrap();
        assert_eq!(req.path, "/nodes/pve/lxc/900/clone");
        assert_eq!(req.get("newid"), Some("950"));
        assert_eq!(
            req.to_argv().unwrap().1,
            argv("clone 900 950 --full 1 --hostname gw")
        );

        let req = Request::from_argv(
            "pct",
            &argv("create 950 local:vztmpl/u.tar.zst --memory 512"),
            "n1",
        )
        .unwrap();
        assert_eq!(req.path, "/nodes/n1/lxc");
        assert_eq!(req.get("vmid"), Some("950"));
        assert_eq!(req.get("ostemplate"), Some("local:vztmpl/u.tar.zst"));
        assert_eq!(
            req.to_argv().unwrap().1,
            argv("create 950 local:vztmpl/u.tar.zst --memory 512")
        );
    }

    #[test]
    fn path_placeholders_beyond_vmid() {
        let req = Request::from_argv("qm", &argv("delsnapshot 8001 base"), "pve").unwrap();
        assert_eq!(req.method, Method::Delete);
        assert_eq!(req.path, "/nodes/pve/qemu/8001/snapshot/base");
        assert_eq!(req.to_argv().unwrap().1, argv("delsnapshot 8001 base"));
    }

    #[test]
    fn agent_exec_command_is_a_list() {
        let req = Request::from_argv("qm", &argv("guest exec 8001 --timeout 5 -- ls -l /"), "pve")
            .unwrap();
        assert_eq!(req.path, "/nodes/pve/qemu/8001/agent/exec");
        assert_eq!(
            req.params.get("command"),
            Some(&Value::List(argv("ls -l /")))
        );
        assert_eq!(
            req.to_argv().unwrap().1,
            argv("guest exec 8001 --timeout 5 -- ls -l /")
        );
    }

    #[test]
    fn pveam_list_is_told_from_pvesm_list_by_its_fixed_content() {
        let req = Request::from_argv("pveam", &argv("list local"), "pve").unwrap();
        assert_eq!(req.path, "/nodes/pve/storage/local/content");
        assert_eq!(req.get("content"), Some("vztmpl"));
        assert_eq!(req.to_argv().unwrap(), ("pveam", argv("list local")));
        let plain = Request::new(Get, "/nodes/pve/storage/local/content");
        assert_eq!(plain.to_argv().unwrap(), ("pvesm", argv("list local")));
    }

    #[test]
    fn commands_without_an_api_handler_have_no_route() {
        assert!(matches!(
            Request::from_argv("pct", &argv("exec 950 -- true"), "pve"),
            Err(MapError::NoRoute(_))
        ));
        let unknown = Request::new(Post, "/nodes/pve/lxc/950/dance");
        assert!(matches!(unknown.to_argv(), Err(MapError::NoRoute(_))));
    }

    #[test]
    fn every_route_names_a_command_of_the_cli_spec() {
        let spec = spec::spec();
        for r in ROUTES {
            assert!(
                spec.tools
                    .get(r.tool)
                    .is_some_and(|t| t.contains_key(r.command)),
                "{} {} is not in the CLI spec",
                r.tool,
                r.command
            );
        }
    }

    #[test]
    fn display_is_one_line() {
        let req = Request::new(Put, "/nodes/pve/lxc/953/config").param("memory", "1024");
        assert_eq!(req.to_string(), "PUT /nodes/pve/lxc/953/config memory=1024");
    }
}
