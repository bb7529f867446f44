//! The simulated guest operating system: an Ubuntu 24.04 file tree per guest (`tree`, `image`)
//! and the stand-ins for what cannot run here (packages, services, Docker, downloads, Python
//! packages, NVIDIA, build tools).
//!
//! Real commands (the shell, coreutils, grep, sed, jq, ...) run unchanged inside the guest's
//! sandbox ([`crate::sandbox`]); the stand-ins are this executable, linked into the guest's
//! `/usr/bin` under the command's name, and keep their state in the guest's own files where the
//! real tool keeps it (`/var/lib/dpkg/status`, `/etc/systemd/system/*.wants/`, ...), so
//! snapshots and clones carry it. Every stand-in call is appended to `guests/<id>/exec.log`.
//! A command that is neither real nor simulated does not exist in the guest (the shell answers
//! 127).

pub mod apt;
pub mod boot;
pub mod catalog;
pub mod cloudinit;
pub mod compose;
pub mod docker;
pub mod image;
pub mod mounts;
pub mod net;
pub mod pki;
pub mod python;
pub mod release;
pub mod services;
pub mod systemd;
pub mod tools;
pub mod tree;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::host::Out;
use crate::sandbox::{MARKER, STATE};
use crate::state::{now_ms, replace_file, Node};
use crate::R;

/// Commands the stand-ins answer inside a guest (only where a package put the link).
pub const TOOLS: &[&str] = &[
    "apt-get",
    "apt",
    "apt-cache",
    "dpkg",
    "dpkg-query",
    "systemctl",
    "journalctl",
    "docker",
    "dockerd",
    "containerd",
    "curl",
    "wget",
    "gpg",
    "lsb_release",
    "locale-gen",
    "update-locale",
    "python3",
    "python",
    "pip",
    "pip3",
    "nvidia-smi",
    "nvidia-installer",
    "nvcc",
    "nginx",
    "git",
    "cmake",
    "ollama",
    "vllm",
    "llama-server",
    "cloud-init",
    "qemu-ga",
    "mount",
    "umount",
    "mountpoint",
    "mount.nfs",
    "step",
    "step-cli",
    "step-ca",
    "update-ca-certificates",
    "traefik",
];

/// Path mapping between guest paths and the tree: inside the sandbox the guest's root is `/`;
/// outside, `/usr` lives in the overlay's upper layer.
#[derive(Debug, Clone)]
pub struct GuestFs {
    root: PathBuf,
    usr: Option<PathBuf>,
}

impl GuestFs {
    pub fn inside() -> GuestFs {
        GuestFs {
            root: PathBuf::from("/"),
            usr: None,
        }
    }
    pub fn outside(t: &tree::Tree) -> GuestFs {
        GuestFs {
            root: t.rootfs.clone(),
            usr: Some(t.usr.clone()),
        }
    }
    /// Where guest path `p` (absolute) is.
    pub fn path(&self, p: &str) -> PathBuf {
        if !p.starts_with('/') && self.usr.is_none() {
            // Inside the guest a relative path is relative to the working folder.
            return PathBuf::from(p);
        }
        let rel = p.trim_start_matches('/');
        if let Some(u) = &self.usr {
            if rel == "usr" {
                return u.clone();
            }
            if let Some(rest) = rel.strip_prefix("usr/") {
                return u.join(rest);
            }
        }
        self.root.join(rel)
    }
    pub fn read(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.path(p)).ok()
    }
    /// The node's state folder as this process sees it, and the guest this tree belongs to.
    pub fn owner(&self) -> Option<(PathBuf, u32)> {
        if self.usr.is_none() {
            let m: Marker = serde_json::from_str(&std::fs::read_to_string(MARKER).ok()?).ok()?;
            return Some((PathBuf::from(STATE), m.vmid));
        }
        // Outside: `<state>/guests/<id>/rootfs`.
        let guest = self.root.parent()?;
        let id = guest.file_name()?.to_str()?.parse().ok()?;
        Some((guest.parent()?.parent()?.to_path_buf(), id))
    }
    pub fn exists(&self, p: &str) -> bool {
        self.path(p).exists() || std::fs::symlink_metadata(self.path(p)).is_ok()
    }
    pub fn write(&self, p: &str, data: &[u8]) -> R<()> {
        replace_file(&self.path(p), data)
    }
    pub fn write_mode(&self, p: &str, data: &[u8], mode: u32) -> R<()> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(p);
        replace_file(&path, data)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| crate::state::io_fail(&path, e))
    }
    /// Target of the symlink at `p`, if it is one.
    pub fn read_link(&self, p: &str) -> Option<String> {
        std::fs::read_link(self.path(p))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }
    pub fn mkdir(&self, p: &str) -> R<()> {
        let path = self.path(p);
        std::fs::create_dir_all(&path).map_err(|e| crate::state::io_fail(&path, e))
    }
    /// A symlink at `p` pointing to `target` (replacing what was there).
    pub fn symlink(&self, target: &str, p: &str) -> R<()> {
        let path = self.path(p);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| crate::state::io_fail(d, e))?;
        }
        if std::fs::symlink_metadata(&path).is_ok() {
            let _ = std::fs::remove_file(&path);
        }
        std::os::unix::fs::symlink(target, &path).map_err(|e| crate::state::io_fail(&path, e))
    }
    pub fn remove(&self, p: &str) {
        let path = self.path(p);
        if path.is_dir() && std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_symlink()) {
            let _ = std::fs::remove_dir_all(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    /// Names in folder `p`, sorted.
    pub fn list(&self, p: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(p))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        v.sort();
        v
    }
}

/// A stand-in call's context inside a guest.
pub struct Ctx {
    pub fs: GuestFs,
    pub vmid: u32,
    /// `pct` or `qm`.
    pub tool: String,
    /// The node's state folder as seen from here.
    pub state: PathBuf,
}

impl Ctx {
    /// The node, for fault rules and the host's state (NVIDIA).
    pub fn node(&self) -> R<Node> {
        Node::open(self.state.clone())
    }
}

/// A guest's state for `pve-sim dump`: installed packages (`name=version`), units
/// (`enabled`: has a `*.wants` link; `active`: running now), and the files pushed into it with
/// `pct push` that still exist.
pub fn summary(node: &Node, id: u32, exec_log: &str) -> serde_json::Value {
    let t = tree::Tree::of(node, id);
    if !t.exists() {
        return serde_json::json!({"packages": [], "services": {"enabled": [], "active": []}, "pushed": []});
    }
    let fs = t.fs();
    let db = apt::Db::load(&fs);
    let packages: Vec<String> = db
        .names()
        .iter()
        .filter_map(|n| db.get(n).map(|e| format!("{n}={}", e.version)))
        .collect();
    let mut enabled: Vec<String> = Vec::new();
    for d in fs.list("/etc/systemd/system") {
        if d.ends_with(".wants") {
            for u in fs.list(&format!("/etc/systemd/system/{d}")) {
                if !enabled.contains(&u) {
                    enabled.push(u);
                }
            }
        }
    }
    enabled.sort();
    let mut active = systemd::active_units(&fs);
    active.sort();
    let mut pushed: Vec<String> = Vec::new();
    for line in exec_log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(p) = v["push"].as_str() {
            let p = p.to_string();
            if !pushed.contains(&p) && fs.exists(&p) {
                pushed.push(p);
            }
        }
    }
    pushed.sort();
    serde_json::json!({
        "packages": packages,
        "services": {"enabled": enabled, "active": active},
        "pushed": pushed,
    })
}

/// Whether this process runs inside a simulated guest.
pub fn inside() -> bool {
    Path::new(MARKER).is_file()
}

#[derive(serde::Deserialize)]
struct Marker {
    vmid: u32,
    tool: String,
}

/// Runs stand-in `name` inside the guest (argv0 as invoked, for venv interpreters) and returns
/// the exit code.
pub fn run(argv0: &str, name: &str, args: &[String]) -> i32 {
    let marker: Option<Marker> = std::fs::read_to_string(MARKER)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let Some(m) = marker else {
        eprintln!("{name}: pve-sim stand-in without its guest marker");
        return 2;
    };
    let mut ctx = Ctx {
        fs: GuestFs::inside(),
        vmid: m.vmid,
        tool: m.tool,
        state: PathBuf::from(STATE),
    };
    let start = now_ms();
    let out = match injected(&ctx, name, args) {
        Some(o) => o,
        None => dispatch(&mut ctx, argv0, name, args),
    };
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    let _ = std::io::stdout().flush();
    let mut argv = vec![name.to_string()];
    argv.extend(args.iter().cloned());
    log(&ctx.state, ctx.vmid, &ctx.tool, &argv, &out, start);
    out.code
}

/// A `guest_commands` fault rule matching this stand-in call (`<name> <args>`).
fn injected(ctx: &Ctx, name: &str, args: &[String]) -> Option<Out> {
    let node = ctx.node().ok()?;
    let mut cmd = vec![name.to_string()];
    cmd.extend(args.iter().cloned());
    let mut count = |k: &str| node.count_match(k);
    let rule = node
        .faults
        .guest_outcome(&ctx.tool, ctx.vmid, &cmd, &mut count)
        .ok()??;
    if rule.duration_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(rule.duration_ms));
    }
    Some(Out {
        code: rule.exit_code,
        stdout: rule.stdout,
        stderr: rule.stderr,
        mutating: false,
    })
}

fn dispatch(ctx: &mut Ctx, argv0: &str, name: &str, a: &[String]) -> Out {
    match name {
        "apt-get" | "apt" => apt::apt_get(ctx, a),
        "apt-cache" => apt::apt_cache(ctx, a),
        "dpkg" => apt::dpkg(ctx, a),
        "dpkg-query" => apt::dpkg_query(ctx, a),
        "systemctl" => systemd::systemctl(ctx, a),
        "journalctl" => Out::ok(""),
        "docker" => docker::docker(ctx, a),
        "curl" => net::curl(ctx, a),
        "wget" => net::wget(ctx, a),
        "python3" | "python" => python::python(ctx, argv0, a),
        "pip" | "pip3" => python::pip(ctx, argv0, a),
        "cloud-init" => cloudinit::command(ctx, a),
        "mount" | "umount" | "mountpoint" | "mount.nfs" => mounts::run(ctx, name, a),
        "step" | "step-cli" => pki::step(ctx, "step", a),
        "step-ca" => pki::step(ctx, "step-ca", a),
        "update-ca-certificates" => pki::update_ca_certificates(&ctx.fs),
        other => tools::run(ctx, other, a),
    }
}

/// One JSON line in `guests/<id>/exec.log` (one `write` on an `O_APPEND` file).
fn log(state: &Path, vmid: u32, tool: &str, argv: &[String], out: &Out, start: u64) {
    let mut line = serde_json::json!({
        "tool": tool,
        "time_ms": start,
        "standin": argv,
        "exit_code": out.code,
        "changed": out.mutating,
    })
    .to_string();
    line.push('\n');
    let p = state.join("guests").join(vmid.to_string()).join("exec.log");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
