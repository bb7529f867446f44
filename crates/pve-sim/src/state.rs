//! The node's state folder (`$PVE_SIM_ROOT`), atomic writes, and Proxmox-style file locks.

use crate::faults::Faults;
use crate::{fail, Fail, R};
use pve::Conf;
use std::fs;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Container or VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lxc,
    Qemu,
}

impl Kind {
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Lxc => "lxc",
            Kind::Qemu => "qemu-server",
        }
    }
    /// `CT` / `VM`, as the tools name guests in messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Lxc => "CT",
            Kind::Qemu => "VM",
        }
    }
    /// The lock file path the real node would report.
    pub fn real_lock_path(self, id: u32) -> String {
        match self {
            Kind::Lxc => format!("/var/lock/lxc/pve-config-{id}.lock"),
            Kind::Qemu => format!("/var/lock/qemu-server/lock-{id}.conf"),
        }
    }
}

/// Write `data` to `path` atomically (temp file in the same folder + rename), synced: for the
/// node's own state (configs, run state, counters).
pub fn atomic_write(path: &Path, data: &[u8]) -> R<()> {
    write_replace(path, data, true)
}

/// As [`atomic_write`] without the `fsync`: for files inside a guest's tree, which a real guest
/// writes through its page cache too (and which are many: syncing each made a guest command
/// several times slower).
pub fn replace_file(path: &Path, data: &[u8]) -> R<()> {
    write_replace(path, data, false)
}

fn write_replace(path: &Path, data: &[u8], sync: bool) -> R<()> {
    let dir = path.parent().ok_or_else(|| fail("bad path"))?;
    fs::create_dir_all(dir).map_err(|e| io_fail(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    let mut f = fs::File::create(&tmp).map_err(|e| io_fail(&tmp, e))?;
    f.write_all(data).map_err(|e| io_fail(&tmp, e))?;
    if sync {
        f.sync_all().ok();
    }
    fs::rename(&tmp, path).map_err(|e| io_fail(path, e))
}

pub fn io_fail(p: &Path, e: std::io::Error) -> Fail {
    fail(format!("{}: {e}", p.display()))
}

/// A held `flock`; released on drop.
pub struct FileLock {
    _file: fs::File,
}

/// Take an exclusive (or shared) `flock` on `path`, waiting up to `timeout`.
pub fn flock(path: &Path, shared: bool, timeout: Duration, timeout_msg: &str) -> R<FileLock> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| io_fail(d, e))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_fail(path, e))?;
    let op = if shared { libc::LOCK_SH } else { libc::LOCK_EX } | libc::LOCK_NB;
    let start = Instant::now();
    loop {
        // SAFETY: flock on a valid open file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(FileLock { _file: file });
        }
        if start.elapsed() >= timeout {
            return Err(fail(timeout_msg));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Set by the SIGINT/SIGTERM handler of a tool call (see [`Node::pause`]).
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The simulated node.
pub struct Node {
    pub root: PathBuf,
    pub faults: Faults,
    /// Set once the call's latency has been spent.
    paused: std::cell::Cell<bool>,
    /// The node this call runs on (`pve` on a one-node folder).
    pub name: String,
    /// Members of the simulated cluster in order (`etc/pve/.members`); empty on a one-node
    /// folder, whose guests live in `etc/pve/lxc`, `etc/pve/qemu-server` as before.
    pub members: Vec<String>,
}

/// The node name of a one-node state folder.
pub const SINGLE_NODE: &str = "pve";

/// The simulated host of node `name`: `<root>/host` for the first member of a cluster (and for
/// a one-node folder), `<root>/nodes/<name>/host` for every other member, so each node's
/// set-up acts on its own host. `host-state` (the host tools' state) sits beside it.
pub fn node_host_dir(root: &Path, members: &[String], name: &str) -> PathBuf {
    match members.first() {
        Some(first) if first != name && members.iter().any(|m| m == name) => {
            root.join("nodes").join(name).join("host")
        }
        _ => root.join("host"),
    }
}

/// The simulated host of this process's node (`PVE_SIM_NODE`, as [`Node::open`] decides).
pub fn process_host_dir(root: &Path) -> PathBuf {
    let name = std::env::var("PVE_SIM_NODE").unwrap_or_default();
    node_host_dir(root, &members(root), &name)
}

/// Cluster members listed in `etc/pve/.members` (pmxcfs's file: `nodelist` keyed by name,
/// ordered by `id`).
pub fn members(root: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(root.join("etc/pve/.members")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut list: Vec<(u64, String)> = v
        .get("nodelist")
        .and_then(|n| n.as_object())
        .into_iter()
        .flatten()
        .map(|(name, e)| {
            (
                e.get("id").and_then(|i| i.as_u64()).unwrap_or(0),
                name.clone(),
            )
        })
        .collect();
    list.sort();
    list.into_iter().map(|(_, n)| n).collect()
}

impl Node {
    /// The node of this process: `PVE_SIM_NODE` when it names a member (the API server sets
    /// it for the node a request addresses), else the first member, else `pve`.
    pub fn open(root: PathBuf) -> R<Node> {
        let name = std::env::var("PVE_SIM_NODE").ok();
        Node::open_as(root, name.as_deref())
    }

    /// The node `name` of the folder's cluster (the first member, or `pve`, for `None` or a
    /// name that is not a member).
    pub fn open_as(root: PathBuf, name: Option<&str>) -> R<Node> {
        let faults = Faults::load(&root)?;
        let members = members(&root);
        let name = match name {
            Some(n) if members.iter().any(|m| m == n) => n.to_string(),
            _ => members
                .first()
                .cloned()
                .unwrap_or_else(|| SINGLE_NODE.to_string()),
        };
        Ok(Node {
            root,
            faults,
            paused: std::cell::Cell::new(false),
            name,
            members,
        })
    }

    /// Another node of the same cluster (shares the folder and its faults).
    pub fn peer(&self, name: &str) -> Node {
        Node {
            root: self.root.clone(),
            faults: self.faults.clone(),
            paused: std::cell::Cell::new(false),
            name: name.to_string(),
            members: self.members.clone(),
        }
    }

    /// Every node of the folder: the members, or this one node.
    pub fn nodes(&self) -> Vec<Node> {
        if self.members.is_empty() {
            return vec![self.peer(&self.name)];
        }
        self.members.iter().map(|m| self.peer(m)).collect()
    }

    pub fn is_cluster(&self) -> bool {
        !self.members.is_empty()
    }

    /// Whether `faults.json` marks node `name` as down (`nodes_down`).
    pub fn is_down(&self, name: &str) -> bool {
        self.faults.nodes_down.iter().any(|n| n == name)
    }

    /// The node and kind of guest `id` anywhere in the cluster (IDs are cluster-wide).
    pub fn owner(&self, id: u32) -> Option<(String, Kind)> {
        self.nodes()
            .into_iter()
            .find_map(|n| n.guest_kind(id).map(|k| (n.name.clone(), k)))
    }

    /// Spend the configured latency of `tool command` (once per call). Mutating guest commands
    /// call this while holding the guest lock, so a slow call blocks concurrent ones as on a
    /// real node.
    ///
    /// SIGINT/SIGTERM end the wait and fail the call with `received interrupt`, as they make a
    /// Proxmox CLI worker die inside its operation: the caller's error path then undoes what the
    /// real tool undoes (`pct clone` removes the `lock: disk` it put on the source).
    pub fn pause(&self, tool: &str, command: &str) -> R<()> {
        if self.paused.replace(true) {
            return Ok(());
        }
        let end = Instant::now() + Duration::from_millis(self.faults.latency(tool, command));
        loop {
            if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(fail("received interrupt"));
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
    }

    pub fn pve_dir(&self) -> PathBuf {
        self.root.join("etc/pve")
    }
    /// Where this node's guest configs are: `etc/pve/nodes/<node>` in a cluster (as pmxcfs
    /// keeps them), `etc/pve` on a one-node folder.
    pub fn guests_conf_dir(&self) -> PathBuf {
        if self.is_cluster() {
            self.pve_dir().join("nodes").join(&self.name)
        } else {
            self.pve_dir()
        }
    }
    pub fn conf_path(&self, kind: Kind, id: u32) -> PathBuf {
        self.guests_conf_dir()
            .join(kind.dir())
            .join(format!("{id}.conf"))
    }
    pub fn run_path(&self, id: u32) -> PathBuf {
        self.root.join("run").join(format!("{id}.json"))
    }
    pub fn guest_dir(&self, id: u32) -> PathBuf {
        self.root.join("guests").join(id.to_string())
    }
    pub fn lock_dir(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// This node's simulated host folder (see [`node_host_dir`]).
    pub fn host_dir(&self) -> PathBuf {
        node_host_dir(&self.root, &self.members, &self.name)
    }

    /// Map a path as Proxmox sees it to the physical path in the state folder: paths already
    /// inside the root stay; other absolute paths go under this node's host folder, except a
    /// path inside a shared storage (`shared 1` in `storage.cfg`), which is one folder for
    /// every node: the first node's.
    pub fn rebase(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.starts_with(&self.root) {
            return path.to_path_buf();
        }
        let rel = p.trim_start_matches('/');
        if self.is_cluster() && self.in_shared_storage(path) {
            return self.root.join("host").join(rel);
        }
        self.host_dir().join(rel)
    }

    /// Whether `path` is inside the `path` of a storage marked `shared 1`.
    fn in_shared_storage(&self, path: &Path) -> bool {
        let Ok(text) = fs::read_to_string(self.pve_dir().join("storage.cfg")) else {
            return false;
        };
        crate::storage::parse_cfg(&text).iter().any(|s| {
            s.prop("shared") == Some("1") && s.prop("path").is_some_and(|sp| path.starts_with(sp))
        })
    }

    /// Which kind of guest `id` is, if it exists.
    pub fn guest_kind(&self, id: u32) -> Option<Kind> {
        [Kind::Lxc, Kind::Qemu]
            .into_iter()
            .find(|k| self.conf_path(*k, id).exists())
    }

    /// All guest ids of a kind, sorted.
    pub fn guest_ids(&self, kind: Kind) -> Vec<u32> {
        let mut ids: Vec<u32> = fs::read_dir(self.guests_conf_dir().join(kind.dir()))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".conf")?.parse().ok())
            .collect();
        ids.sort();
        ids
    }

    pub fn read_conf(&self, kind: Kind, id: u32) -> R<Conf> {
        let p = self.conf_path(kind, id);
        match fs::read_to_string(&p) {
            Ok(t) => Ok(Conf::parse(&t)),
            Err(_) => Err(fail(format!(
                "Configuration file 'nodes/{}/{}/{id}.conf' does not exist",
                self.name,
                kind.dir()
            ))),
        }
    }

    pub fn write_conf(&self, kind: Kind, id: u32, conf: &Conf) -> R<()> {
        atomic_write(&self.conf_path(kind, id), conf.to_string().as_bytes())
    }

    fn lock_timeout(&self) -> Duration {
        Duration::from_millis(self.faults.lock_timeout_ms())
    }

    /// The guest config lock (`flock`, like Proxmox's `lock_config`).
    pub fn lock_guest(&self, kind: Kind, id: u32, shared: bool) -> R<FileLock> {
        let name = match kind {
            Kind::Lxc => format!("lxc-{id}.conf"),
            Kind::Qemu => format!("qemu-{id}.conf"),
        };
        let msg = format!(
            "can't lock file '{}' - got timeout",
            kind.real_lock_path(id)
        );
        flock(
            &self.lock_dir().join(name),
            shared,
            self.lock_timeout(),
            &msg,
        )
    }

    /// The per-storage allocation lock.
    pub fn lock_storage(&self, storeid: &str) -> R<FileLock> {
        let msg =
            format!("can't lock file '/var/lock/pve-manager/pve-storage-{storeid}' - got timeout");
        flock(
            &self.lock_dir().join(format!("storage-{storeid}")),
            false,
            self.lock_timeout(),
            &msg,
        )
    }

    /// Global lock for small shared files (fault counters, pid counter).
    pub fn lock_global(&self, name: &str) -> R<FileLock> {
        flock(
            &self.lock_dir().join(format!("{name}.lock")),
            false,
            Duration::from_secs(30),
            &format!("can't lock {name}"),
        )
    }

    /// Run state of a guest.
    pub fn run_state(&self, id: u32) -> RunState {
        fs::read_to_string(self.run_path(id))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn set_run_state(&self, id: u32, st: &RunState) -> R<()> {
        let text = serde_json::to_string_pretty(st).map_err(|e| fail(e.to_string()))?;
        atomic_write(&self.run_path(id), text.as_bytes())
    }

    pub fn is_running(&self, id: u32) -> bool {
        self.run_state(id).status == "running"
    }

    /// Counts a match of fault rule `key` in `fault-counters.json` (for `nth`) and returns the
    /// new count.
    pub fn count_match(&self, key: &str) -> R<u64> {
        let _g = self.lock_global("faults")?;
        let p = self.root.join("fault-counters.json");
        let mut counters: std::collections::BTreeMap<String, u64> = fs::read_to_string(&p)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let c = counters.entry(key.to_string()).or_insert(0);
        *c += 1;
        let n = *c;
        let text = serde_json::to_string_pretty(&counters).map_err(|e| fail(e.to_string()))?;
        atomic_write(&p, text.as_bytes())?;
        Ok(n)
    }
}

/// `run/<id>.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    pub status: String,
    /// Unix ms of the last start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            status: "stopped".to_string(),
            started_ms: None,
            pid: None,
        }
    }
}
