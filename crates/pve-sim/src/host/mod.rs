//! Stand-ins for the host tools the set-up scripts (`scripts/hypervisor_setup/`) and host tests
//! call, so `hypervisor-manager setup --sim` runs end to end without touching the machine.
//!
//! Invoked through a symlink named after the tool (`pve-sim link` creates them), each stand-in
//! keeps its state in `$PVE_SIM_ROOT/host-state/state.json` (see [`state`]), writes the host files
//! a real tool would write under `$PVE_SIM_ROOT/host/` (the node's `PHOENIX_HOST_ROOT`), answers
//! probes from that state (so a second `setup` finds everything in place) and logs every call to
//! `invocations.jsonl` like `pct`/`qm`, with `mutating` true for calls that change something.
//! They refuse to run without `PVE_SIM_ROOT`.
//!
//! Simulated, not real: `curl`/`wget` reach a small simulated internet ([`download`]: Ubuntu
//! cloud images with their `SHA256SUMS`, a placeholder for anything else); disks are records, not block devices; `apparmor_parser` checks only that
//! a profile names itself and has balanced braces.

mod accounts;
mod disks;
pub mod download;
mod fwfile;
mod ifupdown;
mod security;
pub mod services;
pub mod state;
mod system;

use std::io::Write;
use std::path::Path;

use state::Host;

/// Tool names the binary acts as (symlinks created by `pve-sim link`).
pub const HOST_TOOLS: &[&str] = &[
    "zpool",
    "zfs",
    "lsblk",
    "blkid",
    "wipefs",
    "sgdisk",
    "dpkg-query",
    "apt-get",
    "systemctl",
    "timedatectl",
    "sysctl",
    "modprobe",
    "update-initramfs",
    "exportfs",
    "id",
    "getent",
    "useradd",
    "usermod",
    "chpasswd",
    "smbpasswd",
    "pdbedit",
    "apparmor_parser",
    "pve-firewall",
    "ifreload",
    "nvidia-smi",
    "nvidia-installer",
    "curl",
    "wget",
    "dnsmasq",
    "step",
    "step-ca",
];

/// What a stand-in call did.
#[derive(Debug, Default)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub mutating: bool,
}

impl Out {
    /// Success printing `text` on stdout.
    pub fn ok(text: impl Into<String>) -> Out {
        Out {
            stdout: text.into(),
            ..Out::default()
        }
    }
    /// A successful change.
    pub fn changed(text: impl Into<String>) -> Out {
        Out {
            stdout: text.into(),
            mutating: true,
            ..Out::default()
        }
    }
    /// Failure with `code` and a message on stderr.
    pub fn err(code: i32, msg: impl Into<String>) -> Out {
        let mut m = msg.into();
        if !m.ends_with('\n') {
            m.push('\n');
        }
        Out {
            code,
            stderr: m,
            ..Out::default()
        }
    }
}

/// Whether `name` is one of the host tools.
pub fn is_host_tool(name: &str) -> bool {
    HOST_TOOLS.contains(&name)
}

/// Runs host tool `tool` with `argv`; returns the exit code.
pub fn run(tool: &str, argv: &[String]) -> i32 {
    let Some(root) = crate::sim_root() else {
        eprintln!("{tool}: this is pve-sim's stand-in for {tool}; PVE_SIM_ROOT is not set, refusing to run");
        return 2;
    };
    if !root.join("etc/pve").is_dir() {
        eprintln!(
            "{tool}: PVE_SIM_ROOT '{}' is not an initialised simulator (run 'pve-sim init')",
            root.display()
        );
        return 2;
    }
    let start = crate::state::now_ms();
    let t0 = std::time::Instant::now();
    let out = match Host::open(&root) {
        Ok(mut host) => {
            let out = dispatch(&mut host, tool, argv);
            match host.save() {
                Ok(()) => out,
                Err(e) => Out::err(1, e.msg),
            }
        }
        Err(e) => Out::err(1, e.msg),
    };
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    let _ = std::io::stdout().flush();
    log_invocation(
        &root,
        tool,
        argv,
        &out,
        start,
        t0.elapsed().as_millis() as u64,
    );
    out.code
}

fn dispatch(h: &mut Host, tool: &str, a: &[String]) -> Out {
    match tool {
        "zpool" => disks::zpool(h, a),
        "zfs" => disks::zfs(h, a),
        "lsblk" => disks::lsblk(h, a),
        "blkid" => disks::blkid(h, a),
        "wipefs" => disks::wipefs(h, a),
        "sgdisk" => disks::sgdisk(h, a),
        "dpkg-query" => system::dpkg_query(h, a),
        "apt-get" => system::apt_get(h, a),
        "systemctl" => system::systemctl(h, a),
        "timedatectl" => system::timedatectl(h, a),
        "sysctl" => system::sysctl(h, a),
        "modprobe" => system::modprobe(h, a),
        "update-initramfs" => system::update_initramfs(h, a),
        "curl" => download::curl(h, a),
        "wget" => download::wget(h, a),
        "exportfs" => accounts::exportfs(h, a),
        "id" => accounts::id(h, a),
        "getent" => accounts::getent(h, a),
        "useradd" => accounts::useradd(h, a),
        "usermod" => accounts::usermod(h, a),
        "chpasswd" => accounts::chpasswd(h, a),
        "smbpasswd" => accounts::smbpasswd(h, a),
        "pdbedit" => accounts::pdbedit(h, a),
        "apparmor_parser" => security::apparmor_parser(h, a),
        "pve-firewall" => security::pve_firewall(h, a),
        "ifreload" => ifupdown::ifreload(h, a),
        "nvidia-smi" => security::nvidia_smi(h, a),
        "nvidia-installer" => security::nvidia_installer(h, a),
        "dnsmasq" => services::dnsmasq(h, a),
        "step" | "step-ca" => services::step(h, tool, a),
        other => Out::err(2, format!("pve-sim: host tool '{other}' is not simulated")),
    }
}

/// One JSON line per call, as `pct`/`qm` calls are logged. Password values never reach the log:
/// the scripts pass hashes on stdin, and `usermod -p` values are masked.
fn log_invocation(root: &Path, tool: &str, argv: &[String], out: &Out, start: u64, duration: u64) {
    let mut shown: Vec<String> = argv.to_vec();
    for i in 0..shown.len() {
        if matches!(shown[i].as_str(), "-p" | "--password") && tool == "usermod" {
            if let Some(v) = shown.get_mut(i + 1) {
                *v = "******".into();
            }
        }
    }
    let mut line = serde_json::json!({
        "tool": tool,
        "argv": shown,
        "exit_code": out.code,
        "start": start,
        "duration_ms": duration,
        "mutating": out.mutating,
    })
    .to_string();
    line.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("invocations.jsonl"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Parsed command line: short/long options with or without values, and positionals.
#[derive(Debug, Default)]
pub struct Args {
    /// (name without dashes, value) in order; flags have `None`.
    pub opts: Vec<(String, Option<String>)>,
    pub pos: Vec<String>,
}

impl Args {
    /// Parses `argv`; options named in `with_value` take the next word (or `=value`). Bundled
    /// short flags (`-aG`) are split; the last may take a value.
    pub fn parse(argv: &[String], with_value: &[&str]) -> Args {
        let mut a = Args::default();
        let mut it = argv.iter();
        while let Some(w) = it.next() {
            if w == "--" {
                a.pos.extend(it.by_ref().cloned());
                break;
            }
            if let Some(long) = w.strip_prefix("--") {
                let (name, val) = match long.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None if with_value.contains(&long) => (long.to_string(), it.next().cloned()),
                    None => (long.to_string(), None),
                };
                a.opts.push((name, val));
            } else if w.len() > 1 && w.starts_with('-') {
                a.parse_short(&w[1..], &mut it, with_value);
            } else {
                a.pos.push(w.clone());
            }
        }
        a
    }

    fn parse_short<'a>(
        &mut self,
        flags: &str,
        it: &mut impl Iterator<Item = &'a String>,
        with_value: &[&str],
    ) {
        for (i, c) in flags.char_indices() {
            let name = c.to_string();
            if with_value.contains(&name.as_str()) {
                let rest = &flags[i + c.len_utf8()..];
                let val = if rest.is_empty() {
                    it.next().cloned()
                } else {
                    Some(rest.strip_prefix('=').unwrap_or(rest).to_string())
                };
                self.opts.push((name, val));
                return;
            }
            self.opts.push((name, None));
        }
    }

    /// Whether any of `names` was given.
    pub fn has(&self, names: &[&str]) -> bool {
        self.opts.iter().any(|(n, _)| names.contains(&n.as_str()))
    }

    /// The last value of any of `names`.
    pub fn val(&self, names: &[&str]) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value of any of `names`, in order.
    pub fn vals(&self, names: &[&str]) -> Vec<&str> {
        self.opts
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }
}

/// `nvidia-smi` run inside a container: the host's driver answers, but only the GPUs whose
/// device nodes the container's config passes through are visible. Nothing is changed.
pub fn container_nvidia_smi(root: &Path, visible: &[usize], args: &[String]) -> Out {
    let mut h = match Host::open(root) {
        Ok(h) => h,
        Err(e) => return Out::err(e.code, e.msg),
    };
    let all = h.state.nvidia.gpus.clone();
    h.state.nvidia.gpus = all
        .iter()
        .enumerate()
        .filter(|(i, _)| visible.contains(i))
        .map(|(_, g)| g.clone())
        .collect();
    let persistence = h.state.nvidia.persistence;
    let mut out = security::nvidia_smi(&mut h, args);
    // Inside a container the view is read-only: put the host's state back as it was.
    h.state.nvidia.gpus = all;
    h.state.nvidia.persistence = persistence;
    out.mutating = false;
    out
}
