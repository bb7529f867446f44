//! The simulated network: which guest address a simulated service answers on, and the
//! loopback address it really listens on. One JSON file, `$PVE_SIM_ROOT/net/addresses.json`:
//!
//! ```json
//! {"10.0.0.111:9443": {"to": "127.0.0.1:40123", "service": "portainer", "guest": 1001}}
//! ```
//!
//! Clients running under the simulator look an address up here before connecting (Phoenix's
//! Portainer client, the `step` stand-in); an address that is not in the map refuses the
//! connection. Only loopback addresses are ever written as targets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ca::{write, R};

pub const MAP: &str = "net/addresses.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// Loopback address the service listens on (absent for a service answered in-process
    /// from its files, such as the simulated step-ca).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<u32>,
    /// Where the service keeps its state (the simulated step-ca: its `$STEPPATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

fn path(root: &Path) -> PathBuf {
    root.join(MAP)
}

/// The whole map (empty when the file does not exist).
pub fn load(root: &Path) -> R<BTreeMap<String, Listener>> {
    match std::fs::read_to_string(path(root)) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path(root).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path(root).display())),
    }
}

/// Records that `service` answers on `guest_addr` (`ip:port`) by listening on `to`.
pub fn register(
    root: &Path,
    guest_addr: &str,
    to: SocketAddr,
    service: &str,
    guest: Option<u32>,
) -> R<()> {
    if !to.ip().is_loopback() {
        return Err(format!("{to} is not a loopback address"));
    }
    let _lock = lock(root)?;
    let mut map = load(root)?;
    map.insert(
        guest_addr.to_string(),
        Listener {
            to: Some(to.to_string()),
            service: service.to_string(),
            guest,
            dir: None,
        },
    );
    save(root, &map)
}

/// Records a service answered from its files in `dir` (no socket), such as step-ca. A `dir`
/// under the state folder is kept relative to it, because the state folder has another path
/// inside a guest's sandbox than on the host: each reader joins it to its own (see [`dir_of`]).
pub fn register_dir(
    root: &Path,
    guest_addr: &str,
    dir: &Path,
    service: &str,
    guest: Option<u32>,
) -> R<()> {
    let _lock = lock(root)?;
    let mut map = load(root)?;
    map.insert(
        guest_addr.to_string(),
        Listener {
            to: None,
            service: service.to_string(),
            guest,
            dir: Some(dir.strip_prefix(root).unwrap_or(dir).display().to_string()),
        },
    );
    save(root, &map)
}

/// Where a listener's files are, seen from a process whose state folder is `root`.
pub fn dir_of(root: &Path, l: &Listener) -> Option<PathBuf> {
    l.dir.as_ref().map(|d| root.join(d))
}

/// The key of a loopback address: each guest (and the host) has its own `127.0.0.1`.
pub fn scoped(addr: &str, guest: Option<u32>) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    if ["127.0.0.1", "localhost", "::1", "[::1]"].contains(&host) {
        match guest {
            Some(g) => format!("{addr}@{g}"),
            None => format!("{addr}@host"),
        }
    } else {
        addr.to_string()
    }
}

/// Removes the addresses `service` of guest `guest` answers on (the service stopped).
pub fn unregister_service(root: &Path, guest: u32, service: &str) -> R<()> {
    if !path(root).exists() {
        return Ok(());
    }
    let _lock = lock(root)?;
    let mut map = load(root)?;
    let before = map.len();
    map.retain(|_, l| !(l.guest == Some(guest) && l.service == service));
    if map.len() != before {
        save(root, &map)?;
    }
    Ok(())
}

/// Removes every address guest `guest` answers on (it stopped: nothing of it listens).
pub fn unregister_guest(root: &Path, guest: u32) -> R<()> {
    if !path(root).exists() {
        return Ok(());
    }
    let _lock = lock(root)?;
    let mut map = load(root)?;
    let before = map.len();
    map.retain(|_, l| l.guest != Some(guest));
    if map.len() != before {
        save(root, &map)?;
    }
    Ok(())
}

/// The entry for `guest_addr`, or the refusal a client would see.
pub fn lookup(root: &Path, guest_addr: &str) -> R<Listener> {
    load(root)?.remove(guest_addr).ok_or_else(|| {
        format!("connection refused: nothing listens on {guest_addr} in the simulated network")
    })
}

/// The entry for `name:port`, the name resolved as the node's DNS server answers it: an
/// `address=/<name>/<ip>` line of the simulated host's dnsmasq files
/// (`host/etc/dnsmasq.d/*.conf`). An address, or a name nothing answers for, is a refusal.
pub fn lookup_name(root: &Path, name_port: &str) -> R<Listener> {
    lookup(root, name_port).or_else(|refused| {
        let (name, port) = name_port.rsplit_once(':').ok_or(refused.clone())?;
        let ip = resolve_name(root, name).ok_or(refused)?;
        lookup(root, &format!("{ip}:{port}"))
    })
}

/// What the simulated host's dnsmasq answers for `name`.
pub fn resolve_name(root: &Path, name: &str) -> Option<String> {
    let dir = root.join("host/etc/dnsmasq.d");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files.iter().find_map(|f| {
        std::fs::read_to_string(f).ok()?.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("address=/")?;
            let (names, ip) = rest.rsplit_once('/')?;
            names
                .split('/')
                .any(|n| n.eq_ignore_ascii_case(name))
                .then(|| ip.to_string())
        })
    })
}

/// Removes `guest_addr` from the map (nothing listens there any more).
pub fn unregister(root: &Path, guest_addr: &str) -> R<()> {
    let _lock = lock(root)?;
    let mut map = load(root)?;
    if map.remove(guest_addr).is_some() {
        save(root, &map)?;
    }
    Ok(())
}

/// The loopback address `guest_addr` reaches, or a refusal.
pub fn resolve(root: &Path, guest_addr: &str) -> R<SocketAddr> {
    let l = lookup(root, guest_addr)?;
    let to = l.to.unwrap_or_default();
    let a: SocketAddr = to.parse().map_err(|_| {
        format!(
            "{}: {guest_addr}: no socket address ('{to}')",
            path(root).display()
        )
    })?;
    if !a.ip().is_loopback() {
        return Err(format!("{guest_addr} maps to {a}, which is not loopback"));
    }
    Ok(a)
}

fn save(root: &Path, map: &BTreeMap<String, Listener>) -> R<()> {
    let text = serde_json::to_string_pretty(map).map_err(|e| e.to_string())?;
    write(&path(root), text.as_bytes(), 0o644)
}

/// An exclusive lock on the map for a read-modify-write.
fn lock(root: &Path) -> R<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let p = root.join("net/.lock");
    std::fs::create_dir_all(root.join("net")).map_err(|e| e.to_string())?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    // SAFETY: flock on a file descriptor we own; released when the file is dropped.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!("{}: cannot lock", p.display()));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_resolve_unregister() {
        let d = tempfile::tempdir().unwrap();
        assert!(resolve(d.path(), "10.0.0.111:9443")
            .unwrap_err()
            .contains("refused"));
        register(
            d.path(),
            "10.0.0.111:9443",
            "127.0.0.1:4000".parse().unwrap(),
            "portainer",
            Some(1001),
        )
        .unwrap();
        assert_eq!(resolve(d.path(), "10.0.0.111:9443").unwrap().port(), 4000);
        assert!(register(d.path(), "x:1", "10.0.0.1:1".parse().unwrap(), "x", None).is_err());
        unregister(d.path(), "10.0.0.111:9443").unwrap();
        assert!(resolve(d.path(), "10.0.0.111:9443").is_err());
    }

    #[test]
    fn names_resolve_through_the_hosts_dnsmasq_files() {
        let d = tempfile::tempdir().unwrap();
        register_dir(
            d.path(),
            "10.0.0.102:9001",
            d.path(),
            "portainer-agent",
            Some(1002),
        )
        .unwrap();
        assert!(lookup_name(d.path(), "agent.example:9001").is_err());
        let conf = d.path().join("host/etc/dnsmasq.d");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("phoenix.conf"),
            "local=/example/\naddress=/agent.example/10.0.0.102\n",
        )
        .unwrap();
        assert_eq!(
            lookup_name(d.path(), "agent.example:9001").unwrap().service,
            "portainer-agent"
        );
        assert!(lookup_name(d.path(), "agent.example:9002").is_err());
    }
}
