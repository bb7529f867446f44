//! The `local` transport: Phoenix on the Proxmox node itself, driving `pct`, `qm`, `pvesm` and
//! `pveam` as it always has. Each API request becomes the argv of [`Request::to_argv`] and runs
//! through [`phoenix_host::Runner`] (Proxmox lock time-outs retried, `lock:` lines waited
//! out, secrets masked); the tool's output is turned into the API's `data` shape. Where the CLI
//! wants something else than the API (`qm set --sshkeys` takes a file, the API the keys), the
//! difference is bridged here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_host::{tool, Runner};
use phoenix_report::{GuestTag, Kind};
use pve::api::{Request, Value as ApiValue};
use pve::output::{parse_guest_exec, parse_guest_exec_status, GuestExec, GuestExecStatus};
use serde_json::{json, Value};

use crate::error::TransportError;
use crate::node::NodeWork;
use crate::observe::{Observed, Snapshot};
use crate::plan::{GuestOp, NodeCommand, NodeOp, Op, Payload};
use crate::transport::{ExecOutput, Transport};

/// Most bytes `qm guest exec --pass-stdin` forwards (qm(1): "Allows maximal 1 MiB").
pub const STDIN_LIMIT: usize = 1 << 20;
/// Seconds `qm guest exec` waits synchronously before printing the pid
/// (`PHOENIX_VM_EXEC_WAIT_SECS` overrides).
pub const DEFAULT_EXEC_WAIT_SECS: u64 = 30;
/// Longest a guest command may run (`PHOENIX_VM_EXEC_MAX_SECS` overrides).
pub const DEFAULT_EXEC_MAX_SECS: u64 = 3600;

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn tool_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Lxc => "pct",
        Kind::Vm => "qm",
    }
}

/// The `local` transport.
pub struct LocalTransport<'a> {
    pub runner: &'a Runner,
    /// The Proxmox config folder (`/etc/pve`, or the simulator's).
    pub pve_dir: PathBuf,
    /// The environment contract for programs run on the node.
    pub vars: Vec<(String, std::ffi::OsString)>,
    /// How often a VM guest process is polled.
    pub agent_poll: Duration,
    /// The simulated node's folder (`--sim`): work selected for a node of a simulated cluster
    /// gets that node's host folder as `PHOENIX_HOST_ROOT` (see [`NodeWork::select`]).
    sim: Option<PathBuf>,
    host_root: std::cell::RefCell<Option<PathBuf>>,
}

impl<'a> LocalTransport<'a> {
    pub fn new(
        runner: &'a Runner,
        env: &phoenix_host::HostEnv,
        cfg: &phoenix_config::Config,
    ) -> Self {
        LocalTransport {
            runner,
            pve_dir: env.pve_dir.clone(),
            vars: env.vars(Some(cfg)),
            agent_poll: Duration::from_secs(2),
            sim: env.sim.clone(),
            host_root: std::cell::RefCell::new(None),
        }
    }

    /// The CLI call of `req`, with API-only parameter forms turned into the CLI's (the keys of
    /// `sshkeys` go into a file; the file lives as long as the returned guard).
    fn argv(
        &self,
        req: &Request,
    ) -> Result<(&'static str, Vec<String>, Option<tempfile::NamedTempFile>), TransportError> {
        let mut req = req.clone();
        let mut keep = None;
        if let Some(keys) = req.get("sshkeys").map(str::to_string) {
            let mut f = tempfile::Builder::new()
                .prefix("phoenix-sshkeys-")
                .tempfile()?;
            f.write_all(pve::conf::decode_text(&keys).as_bytes())?;
            req = req.param("sshkeys", f.path().display().to_string());
            keep = Some(f);
        }
        let (tool, argv) = req
            .to_argv()
            .map_err(|e| TransportError(format!("{req}: {e}")))?;
        Ok((tool, argv, keep))
    }

    fn vm_exec(
        &self,
        id: u64,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let wait = env_secs("PHOENIX_VM_EXEC_WAIT_SECS", DEFAULT_EXEC_WAIT_SECS);
        let mut args = vec![
            "guest".to_string(),
            "exec".into(),
            id.to_string(),
            "--timeout".into(),
            wait.to_string(),
        ];
        if stdin.is_some() {
            args.extend(["--pass-stdin".to_string(), "1".into()]);
        }
        args.push("--".into());
        args.extend(argv.iter().cloned());
        let out = self.runner.change_with_stdin("qm", &args, stdin)?;
        let status = match parse_guest_exec(&out)
            .map_err(|e| TransportError(format!("unexpected 'qm guest exec' output: {e}")))?
        {
            GuestExec::Finished(s) => s,
            GuestExec::Running { pid } => self.wait_pid(id, pid)?,
        };
        Ok(exec_output(&status))
    }

    /// Polls `qm guest exec-status` until the process exited.
    fn wait_pid(&self, id: u64, pid: u64) -> Result<GuestExecStatus, TransportError> {
        let max = Duration::from_secs(env_secs("PHOENIX_VM_EXEC_MAX_SECS", DEFAULT_EXEC_MAX_SECS));
        let start = Instant::now();
        let args = [
            "guest".to_string(),
            "exec-status".into(),
            id.to_string(),
            pid.to_string(),
        ];
        loop {
            let out = self.runner.read("qm", &args)?;
            let s = parse_guest_exec_status(&out).map_err(|e| {
                TransportError(format!("unexpected 'qm guest exec-status' output: {e}"))
            })?;
            if s.exited {
                return Ok(s);
            }
            if start.elapsed() >= max {
                return Err(TransportError(format!(
                    "guest process {pid} still running after {}s",
                    start.elapsed().as_secs()
                )));
            }
            std::thread::sleep(self.agent_poll);
        }
    }

    /// Writes `data` into a VM through the agent, in chunks of at most [`STDIN_LIMIT`].
    fn vm_write(&self, id: u64, dest: &str, data: &[u8]) -> Result<(), TransportError> {
        let first = r#"mkdir -p "$(dirname "$0")" && cat > "$0""#;
        let next = r#"cat >> "$0""#;
        let argv = |script: &str| {
            ["sh", "-c", script, dest]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        };
        let mut chunks = data.chunks(STDIN_LIMIT).peekable();
        if chunks.peek().is_none() {
            return check(&argv(first), self.vm_exec(id, &argv(first), Some(&[]))?);
        }
        for (i, chunk) in chunks.enumerate() {
            let a = argv(if i == 0 { first } else { next });
            check(&a, self.vm_exec(id, &a, Some(chunk))?)?;
        }
        Ok(())
    }
}

fn exec_output(s: &GuestExecStatus) -> ExecOutput {
    ExecOutput {
        code: s.exitcode.unwrap_or(-1),
        stdout: s.out_data.clone().unwrap_or_default(),
        stderr: s.err_data.clone().unwrap_or_default(),
    }
}

fn check(argv: &[String], out: ExecOutput) -> Result<(), TransportError> {
    if out.success() {
        Ok(())
    } else {
        Err(TransportError(crate::apply::failure_text(argv, &out)))
    }
}

/// The API's `data` for what a read printed.
fn data_of(tool: &str, argv: &[String], out: &str) -> Value {
    let cmd = argv.first().map(String::as_str).unwrap_or("");
    let parsed = match (tool, cmd) {
        ("pct" | "qm", "status") => pve::output::parse_status(out)
            .ok()
            .map(|s| json!({ "status": s })),
        ("pct", "list") => pve::output::parse_pct_list(out).ok().map(|rows| {
            rows.iter()
                .map(
                    |r| json!({"vmid": r.vmid, "status": r.status, "name": r.name, "lock": r.lock}),
                )
                .collect()
        }),
        ("qm", "list") => pve::output::parse_qm_list(out).ok().map(|rows| {
            rows.iter()
                .map(|r| json!({"vmid": r.vmid, "status": r.status, "name": r.name}))
                .collect()
        }),
        ("pvesm", "status") => pve::output::parse_pvesm_status(out).ok().map(|rows| {
            rows.iter()
                .map(|r| {
                    json!({"storage": r.name, "type": r.storage_type,
                           "active": u8::from(r.status == "active"),
                           "enabled": u8::from(r.status != "disabled")})
                })
                .collect()
        }),
        ("pveam", "list") => pve::output::parse_pveam_list(out)
            .ok()
            .map(|rows| rows.iter().map(|r| json!({"volid": r.volid})).collect()),
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        let t = out.trim();
        if t.is_empty() {
            Value::Null
        } else {
            Value::String(t.to_string())
        }
    })
}

impl Transport for LocalTransport<'_> {
    fn request(&self, req: &Request) -> Result<Value, TransportError> {
        let (tool, argv, _keys) = self.argv(req)?;
        let out = if req.method.is_write() {
            self.runner.change(tool, &argv)?
        } else {
            self.runner.read(tool, &argv)?
        };
        Ok(data_of(tool, &argv, &out))
    }

    fn guest_config(&self, guest: GuestTag) -> Result<Option<String>, TransportError> {
        let p = conf_path(&self.pve_dir, guest);
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TransportError(format!("cannot read {}: {e}", p.display()))),
        }
    }

    fn guest_exec(
        &self,
        guest: GuestTag,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        match guest.kind {
            Kind::Vm => self.vm_exec(guest.id, argv, stdin),
            Kind::Lxc => self.ct_exec(guest.id, argv),
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
            Kind::Vm => self.vm_write(guest.id, dest, &data.bytes()?),
            Kind::Lxc => self.ct_push(guest.id, data, dest, perms),
        }
    }

    fn agent_ping(&self, guest: GuestTag) -> Result<(), TransportError> {
        let args = [
            "guest".to_string(),
            "cmd".into(),
            guest.id.to_string(),
            "ping".into(),
        ];
        let out = self.runner.probe("qm", &args)?;
        if out.success() {
            Ok(())
        } else {
            Err(TransportError(out.stderr))
        }
    }

    fn node_read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
        self.read(path)
    }

    fn node_write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError> {
        self.write(path, data, private)
    }

    fn node_remove(&self, path: &Path) -> Result<bool, TransportError> {
        self.remove(path)
    }

    fn node_run(&self, c: &NodeCommand) -> Result<ExecOutput, TransportError> {
        self.run(c)
    }

    fn node_download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError> {
        self.download(url, dest, label)
    }

    fn observe(&self) -> Result<Snapshot, TransportError> {
        let mut guests = Vec::new();
        let pct = self.runner.read("pct", &["list"])?;
        for r in pve::output::parse_pct_list(&pct)
            .map_err(|e| TransportError(format!("cannot read `pct list`: {e}")))?
        {
            guests.push(Observed {
                guest: GuestTag {
                    id: u64::from(r.vmid),
                    kind: Kind::Lxc,
                },
                state: Some(r.status),
                name: r.name,
                node: None,
                lock: Some(r.lock).filter(|l| !l.is_empty()),
                template: None,
            });
        }
        let qm = self.runner.read("qm", &["list"])?;
        for r in pve::output::parse_qm_list(&qm)
            .map_err(|e| TransportError(format!("cannot read `qm list`: {e}")))?
        {
            guests.push(Observed {
                guest: GuestTag {
                    id: u64::from(r.vmid),
                    kind: Kind::Vm,
                },
                state: Some(r.status),
                name: r.name,
                node: None,
                lock: None,
                template: None,
            });
        }
        Ok(Snapshot { guests })
    }

    fn show(&self, guest: GuestTag, op: &Op) -> String {
        let t = tool_of(guest.kind);
        let id = guest.id.to_string();
        match op {
            Op::Api(req) => match req.to_argv() {
                Ok((tool, argv)) => tool::display(tool, &argv),
                Err(_) => req.to_string(),
            },
            Op::Guest(GuestOp::Exec { argv, .. } | GuestOp::Check { argv, .. }) => {
                let mut a: Vec<String> = match guest.kind {
                    Kind::Lxc => vec!["exec".into(), id],
                    Kind::Vm => vec!["guest".into(), "exec".into(), id],
                };
                a.push("--".into());
                a.extend(argv.iter().cloned());
                tool::display(t, &a)
            }
            Op::Guest(GuestOp::Push { data, dest, .. }) => {
                let src = match data {
                    Payload::File(p) => p.display().to_string(),
                    Payload::Bytes(b) => format!("<{} bytes>", b.len()),
                };
                match guest.kind {
                    Kind::Lxc => tool::display(t, &["push", id.as_str(), src.as_str(), dest]),
                    Kind::Vm => format!("qm guest exec {id} (write {dest} from {src})"),
                }
            }
            Op::Guest(GuestOp::WaitAgent { .. }) => {
                format!("qm guest cmd {id} ping (until it answers)")
            }
            Op::Node(NodeOp::Write { path, .. }) => format!("write {}", path.display()),
            Op::Node(NodeOp::Remove { path }) => format!("remove {}", path.display()),
            Op::Node(NodeOp::ForgetRecord { path }) => crate::plan::forget_text(path),
            Op::Node(NodeOp::Run(c)) => tool::display(&c.program.display().to_string(), &c.args),
            Op::Node(NodeOp::Download { url, dest }) => format!(
                "curl -fL -C - -o {} {url} (verified against SHA256SUMS)",
                phoenix_host::download::part_path(dest).display()
            ),
            Op::Node(NodeOp::RawLines { guest, lines }) => format!(
                "add to {}: {}",
                conf_path(&self.pve_dir, *guest).display(),
                lines
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

impl NodeWork for LocalTransport<'_> {
    fn ct_exec(&self, id: u64, argv: &[String]) -> Result<ExecOutput, TransportError> {
        let mut a = vec!["exec".to_string(), id.to_string(), "--".into()];
        a.extend(argv.iter().cloned());
        let out = self.runner.probe("pct", &a)?;
        Ok(ExecOutput {
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn ct_push(
        &self,
        id: u64,
        data: &Payload,
        dest: &str,
        perms: Option<&str>,
    ) -> Result<(), TransportError> {
        let mut tmp = None;
        let src = match data {
            Payload::File(p) => p.clone(),
            Payload::Bytes(b) => {
                let mut f = tempfile::NamedTempFile::new()?;
                f.write_all(b)?;
                let p = f.path().to_path_buf();
                tmp = Some(f);
                p
            }
        };
        let mut a = vec![
            "push".to_string(),
            id.to_string(),
            src.display().to_string(),
            dest.to_string(),
        ];
        if let Some(p) = perms {
            a.extend(["--perms".to_string(), p.to_string()]);
        }
        self.runner.change("pct", &a)?;
        drop(tmp);
        Ok(())
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TransportError(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError> {
        write_private(path, data, private)
            .map_err(|e| TransportError(format!("cannot write {}: {e}", path.display())))
    }

    fn remove(&self, path: &Path) -> Result<bool, TransportError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(TransportError(format!(
                "cannot remove {}: {e}",
                path.display()
            ))),
        }
    }

    fn run(&self, c: &NodeCommand) -> Result<ExecOutput, TransportError> {
        let mut cmd = Command::new(&c.program);
        cmd.args(&c.args).stdin(Stdio::null());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        if let Some(h) = &*self.host_root.borrow() {
            cmd.env("PHOENIX_HOST_ROOT", h);
        }
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        log::info!(
            "run: {}",
            tool::display(&c.program.display().to_string(), &c.args)
        );
        let cannot = |e: std::io::Error| TransportError(format!("cannot run {}: {e}", c.what));
        if c.stream {
            let st = cmd.status().map_err(cannot)?;
            return Ok(ExecOutput {
                code: st.code().unwrap_or(-1),
                ..Default::default()
            });
        }
        let out = cmd.output().map_err(cannot)?;
        Ok(ExecOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError> {
        use phoenix_host::download;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sums = download::sums_beside(url);
        let req = download::Request {
            url,
            dest,
            sums_url: sums.as_deref(),
            name: &name,
            label,
        };
        download::fetch(self.runner, &req)
            .map(|_| ())
            .map_err(|e| TransportError(e.to_string()))
    }

    fn place(&self) -> String {
        "this node".into()
    }

    /// On a simulated cluster, work for `node` runs as that node: its host folder.
    fn select(&self, node: &str) {
        if let Some(sim) = &self.sim {
            self.host_root
                .replace(Some(phoenix_host::sim::node_host_root(sim, node)));
        }
    }
}

/// The config file of a guest under the Proxmox config folder.
pub fn conf_path(pve_dir: &Path, guest: GuestTag) -> PathBuf {
    let dir = match guest.kind {
        Kind::Lxc => "lxc",
        Kind::Vm => "qemu-server",
    };
    pve_dir.join(dir).join(format!("{}.conf", guest.id))
}

/// Writes `data` atomically (temp file beside it, then rename); `private` files get 0600.
pub fn write_private(path: &Path, data: &[u8], private: bool) -> std::io::Result<()> {
    phoenix_host::fs::write_private_or_not(path, data, private)
}

/// A list-valued API parameter as the CLI shows it.
pub fn show_value(v: &ApiValue) -> String {
    match v {
        ApiValue::Str(s) => s.clone(),
        ApiValue::List(l) => l.join(" "),
    }
}
