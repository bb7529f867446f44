//! The network services of a guest's Docker containers, as the simulated network sees them.
//! After every command run in a guest, at boot, stop and destroy, the node compares what the
//! guest's engine runs with what answers for it ([`reconcile`]):
//!
//! - a running container of Portainer's server image (`portainer/portainer-ce` or `-ee`)
//!   publishing 9443 makes the Portainer API stand-in (`pve-sim portainer`, a server process)
//!   answer on `<guest address>:<host port>`. It is started detached, its pid recorded in
//!   `services/guests/<id>.json`, and stopped (SIGTERM) when the container stops or is
//!   removed, or the guest stops or is destroyed. Its certificate is the one the container's
//!   `--sslcert`/`--sslkey` name (through the container's bind mounts), as Portainer serves;
//!   without them a self-signed one, as Portainer makes for itself. Port 9000 (plain HTTP) is
//!   not served.
//! - a running `portainer/agent` container publishing its port 9001 makes
//!   `<guest address>:<host port>` reachable (an entry of the network map; the agent's own API
//!   is not simulated).
//!
//! The guest's address is its static one (`ipconfig0` of a VM, `net0` of a container); a
//! guest without one publishes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::docker::{self, Container};
use super::tree::Tree;
use super::GuestFs;
use crate::state::{Kind, Node};
use crate::{fail, R};
use pve_sim_services::net;

/// Portainer's security time-out: without an administrator this long after its start, the
/// server stops serving until it is restarted.
pub const ADMIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// What answers for one guest.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Served {
    /// `ip:port` in the simulated network.
    addr: String,
    service: String,
    /// The stand-in process, when the service is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// What it was started from (container id and certificate), to restart it on a change.
    #[serde(default)]
    key: String,
    #[serde(default, skip)]
    tls: Option<(PathBuf, PathBuf)>,
}

fn record(node: &Node, id: u32) -> PathBuf {
    node.root.join(format!("services/guests/{id}.json"))
}

fn load(node: &Node, id: u32) -> Vec<Served> {
    std::fs::read_to_string(record(node, id))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save(node: &Node, id: u32, s: &[Served]) -> R<()> {
    let p = record(node, id);
    if s.is_empty() {
        let _ = std::fs::remove_file(&p);
        return Ok(());
    }
    let text = serde_json::to_string_pretty(s).map_err(|e| fail(e.to_string()))?;
    pve_sim_services::ca::write(&p, text.as_bytes(), 0o644).map_err(fail)
}

/// The guest's static IPv4 address.
fn address(node: &Node, id: u32) -> Option<String> {
    let (conf, key) = match node.read_conf(Kind::Qemu, id) {
        Ok(c) => (c, "ipconfig0"),
        Err(_) => (node.read_conf(Kind::Lxc, id).ok()?, "net0"),
    };
    conf.get(key)?
        .split(',')
        .find_map(|kv| kv.strip_prefix("ip="))
        .filter(|ip| ip.contains('.'))
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
}

fn is_server(image: &str) -> bool {
    ["portainer/portainer-ce", "portainer/portainer-ee"]
        .iter()
        .any(|p| image.starts_with(&format!("{p}:")) || image == *p)
}

fn is_agent(image: &str) -> bool {
    image.starts_with("portainer/agent:") || image == "portainer/agent"
}

/// The value after `flag` in a container's command (`--sslcert x` or `--sslcert=x`).
fn arg(cmd: &[String], flag: &str) -> Option<String> {
    cmd.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            cmd.get(i + 1).cloned()
        } else {
            a.strip_prefix(&format!("{flag}=")).map(str::to_string)
        }
    })
}

/// Where a path inside the container is in the guest, through its bind mounts.
fn in_guest(c: &Container, inside: &str) -> Option<String> {
    c.volumes.iter().find_map(|v| {
        let mut parts = v.split(':');
        let (src, dst) = (parts.next()?, parts.next()?);
        if !src.starts_with('/') {
            return None;
        }
        let rest = inside.strip_prefix(dst.trim_end_matches('/'))?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{src}{rest}"))
    })
}

/// What the guest's containers should make answer now.
fn wanted(node: &Node, id: u32, fs: &GuestFs) -> Vec<Served> {
    let Some(ip) = address(node, id) else {
        return vec![];
    };
    let mut out = Vec::new();
    for c in docker::running(fs) {
        for (host, inner) in docker::port_pairs(&c) {
            if is_server(&c.image) && inner == 9443 {
                let tls = arg(&c.cmd, "--sslcert")
                    .zip(arg(&c.cmd, "--sslkey"))
                    .and_then(|(crt, key)| {
                        Some((fs.path(&in_guest(&c, &crt)?), fs.path(&in_guest(&c, &key)?)))
                    });
                let fingerprint = tls
                    .as_ref()
                    .map(|(c, k)| {
                        let mut b = std::fs::read(c).unwrap_or_default();
                        b.extend(std::fs::read(k).unwrap_or_default());
                        docker::hex_id(0, &String::from_utf8_lossy(&b))[..16].to_string()
                    })
                    .unwrap_or_else(|| "self-signed".into());
                out.push(Served {
                    addr: format!("{ip}:{host}"),
                    service: "portainer".into(),
                    pid: None,
                    key: format!("{}:{}:{fingerprint}", c.id, c.starts),
                    tls,
                });
            } else if is_agent(&c.image) && inner == 9001 {
                out.push(Served {
                    addr: format!("{ip}:{host}"),
                    service: "portainer-agent".into(),
                    pid: None,
                    key: c.id.clone(),
                    tls: None,
                });
            }
        }
    }
    out
}

/// Whether `pid` is still a Portainer stand-in (not a number reused by another process).
fn alive(pid: u32) -> bool {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmd).contains("portainer")
}

fn stop(node: &Node, s: &Served) {
    if let Some(pid) = s.pid {
        if alive(pid) {
            // SAFETY: signalling the stand-in this node started (its pid was recorded).
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
            let t = Instant::now();
            while alive(pid) && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let _ = net::unregister(&node.root, &s.addr);
}

/// Starts the Portainer stand-in for `s`, detached; returns once it answers in the network.
fn start_portainer(node: &Node, id: u32, s: &Served) -> R<u32> {
    let exe = std::env::current_exe().map_err(|e| fail(format!("pve-sim: {e}")))?;
    let logs = node.root.join("services/portainer");
    std::fs::create_dir_all(&logs).map_err(|e| fail(e.to_string()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("guest-{id}.log")))
        .map_err(|e| fail(e.to_string()))?;
    let mut c = Command::new(exe);
    c.arg("portainer").arg(&s.addr);
    match &s.tls {
        Some((crt, key)) => c.arg("--cert").arg(crt).arg("--key").arg(key),
        None => c.arg("--self-signed"),
    };
    // Portainer stops serving when no administrator was made within 5 minutes of its start.
    let timeout = std::env::var("PVE_SIM_PORTAINER_ADMIN_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(ADMIN_TIMEOUT_MS);
    c.args(["--admin-timeout-ms", &timeout.to_string()]);
    c.args(["--guest", &id.to_string()])
        .env("PVE_SIM_ROOT", &node.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    // SAFETY: only close(2) between fork and exec. The server outlives the guest command: it
    // must hold none of its callers' descriptors (an event pipe held open would keep the
    // dispatcher waiting for its end).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            for fd in 3..1024 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let _ = net::unregister(&node.root, &s.addr);
    let mut child = c
        .spawn()
        .map_err(|e| fail(format!("pve-sim portainer: {e}")))?;
    let pid = child.id();
    let t = Instant::now();
    loop {
        if net::lookup(&node.root, &s.addr).is_ok_and(|l| l.service == "portainer") {
            return Ok(pid);
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(fail(format!(
                "the Portainer stand-in for {} exited ({st}); see {}",
                s.addr,
                logs.join(format!("guest-{id}.log")).display()
            )));
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err(fail(format!(
                "the Portainer stand-in for {} did not start",
                s.addr
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Brings what answers for guest `id` in line with what its containers run.
pub fn reconcile(node: &Node, id: u32) -> R<()> {
    let t = Tree::of(node, id);
    // Most guests never ran Docker and serve nothing: no lock, no more reads.
    if !record(node, id).exists() && !t.fs().exists(docker::STATE) {
        return Ok(());
    }
    let _g = node.lock_global(&format!("services-{id}"))?;
    let want = if node.is_running(id) && t.exists() {
        wanted(node, id, &t.fs())
    } else {
        vec![]
    };
    let have = load(node, id);
    let mut next = Vec::new();
    for h in &have {
        let keep = want
            .iter()
            .any(|w| w.addr == h.addr && w.key == h.key && w.service == h.service)
            && h.pid.is_none_or(alive);
        if keep {
            next.push(h.clone());
        } else {
            stop(node, h);
        }
    }
    for w in want {
        if next.iter().any(|n| n.addr == w.addr) {
            continue;
        }
        let mut s = w.clone();
        if s.service == "portainer" {
            s.pid = Some(start_portainer(node, id, &s)?);
        } else {
            net::register_dir(
                &node.root,
                &s.addr,
                &node.guest_dir(id),
                &s.service,
                Some(id),
            )
            .map_err(fail)?;
        }
        next.push(s);
    }
    save(node, id, &next)
}

/// Stops everything that answers for guest `id` (it stopped or is destroyed).
pub fn stop_all(node: &Node, id: u32) -> R<()> {
    let _g = node.lock_global(&format!("services-{id}"))?;
    for s in load(node, id) {
        stop(node, &s);
    }
    save(node, id, &[])
}

/// The guests something answers for.
pub fn guests(root: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(root.join("services/guests")) else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_through_bind_mounts() {
        let c = Container {
            volumes: vec![
                "/var/lib/phoenix/certs:/certs:ro".into(),
                "portainer_data:/data".into(),
            ],
            ..Container::default()
        };
        assert_eq!(
            in_guest(&c, "/certs/portainer.crt").as_deref(),
            Some("/var/lib/phoenix/certs/portainer.crt")
        );
        assert_eq!(in_guest(&c, "/data/x"), None);
        assert!(is_server("portainer/portainer-ce:latest"));
        assert!(!is_server("portainer/agent:latest"));
        let cmd: Vec<String> = ["-H", "unix:///x", "--sslcert", "/certs/a"]
            .map(String::from)
            .to_vec();
        assert_eq!(arg(&cmd, "--sslcert").as_deref(), Some("/certs/a"));
    }
}
