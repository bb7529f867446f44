//! Slots a manager holds around the one Proxmox call that needs them, so Phoenix never trips
//! over Proxmox's own serialisation:
//!
//! - `pct clone` writes `lock: disk` into its source for the whole copy, and a second clone of
//!   that source fails at once with `CT <src> is locked (disk)`: one slot per clone source. A
//!   `qm clone` of a template only share-locks it, so VM managers ask for this slot only when
//!   the source is not a template.
//! - Disk allocation takes a per-storage lock with a 10 s timeout, and many full copies onto
//!   one pool at once mostly compete for its disks: `orchestration.storage_concurrency` slots
//!   per storage.
//!
//! Holding them for the call alone, not the guest's whole create step, lets the start, the
//! features and the snapshots of one clone run while the next clone of the same source copies.
//! A slot is an `flock` on a file beside the host lock, so the kernel frees it when a manager
//! dies. Managers waiting for one queue for it first come, first served: the dispatcher starts
//! the heads of the longest chains first, so serving waiters in arrival order keeps that
//! priority (a free-for-all would hand a source to whichever poll came first, which measured
//! up to a third slower on a deep graph).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phoenix_config::GuestId;

use crate::lock::{HostLock, LockError};

/// Allocating calls per storage at once when `orchestration.storage_concurrency` is unset.
pub const DEFAULT_STORAGE_CONCURRENCY: usize = phoenix_config::orchestration::STORAGE_CONCURRENCY;

/// How often a busy slot is tried again.
const POLL: Duration = Duration::from_millis(20);

/// What one call competes for with the calls of other managers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The source of a clone that locks it (`pct clone`, `qm clone` of a non-template).
    CloneSource(GuestId),
    /// A storage a call allocates disks on (in a cluster, a local storage is one per node:
    /// `<node>/<storage>`).
    Storage(String),
    /// A cluster node and how many long calls (creates, clones, migrations) it takes at once
    /// (`cluster.nodes[].max_jobs`).
    Node(String, usize),
}

impl Resource {
    /// The slot file's name part: storage IDs are config values, so anything outside
    /// `[A-Za-z0-9._-]` becomes `_`.
    fn key(&self) -> String {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        match self {
            Resource::CloneSource(id) => format!("clone-source-{id}"),
            Resource::Storage(s) => format!("storage-{}", safe(s)),
            Resource::Node(n, _) => format!("node-{}", safe(n)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Resource::CloneSource(id) => format!("another clone of {id} to finish"),
            Resource::Storage(s) => format!("a free allocation slot on storage '{s}'"),
            Resource::Node(n, _) => format!("a free slot on node '{n}' (cluster.nodes[].max_jobs)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("waited {waited}s for {what} (orchestration.guest_lock_wait_secs)")]
    Timeout { what: String, waited: u64 },
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// Held slots; released on drop.
#[derive(Debug, Default)]
pub struct Slots {
    _held: Vec<HostLock>,
}

/// Where the slots live and how many each resource has.
#[derive(Debug, Clone)]
pub struct SlotTable {
    pub dir: PathBuf,
    pub storage_cap: usize,
    pub wait: Duration,
}

impl SlotTable {
    /// The slot files of `r`: one per unit of capacity.
    fn files(&self, r: &Resource) -> Vec<PathBuf> {
        let cap = match r {
            Resource::CloneSource(_) => 1,
            Resource::Storage(_) => self.storage_cap.max(1),
            Resource::Node(_, cap) => (*cap).max(1),
        };
        (0..cap)
            .map(|k| self.dir.join(format!("phoenix-slot-{}.{k}.lock", r.key())))
            .collect()
    }

    /// Takes one slot of each resource, in the order given (callers list the clone source
    /// before the storage, so two managers never wait on each other's half).
    pub fn hold(&self, resources: &[Resource]) -> Result<Slots, SlotError> {
        let mut held = Vec::new();
        for r in resources {
            held.push(self.take(r)?);
        }
        Ok(Slots { _held: held })
    }

    fn take(&self, r: &Resource) -> Result<HostLock, SlotError> {
        let files = self.files(r);
        let start = Instant::now();
        let mut announced = false;
        let ticket = Ticket::join(&self.dir.join(format!("phoenix-slot-{}.queue", r.key())))?;
        loop {
            if ticket.is_first() {
                for f in &files {
                    if let Ok(lock) = HostLock::try_acquire(f)? {
                        return Ok(lock);
                    }
                }
            }
            if start.elapsed() >= self.wait {
                return Err(SlotError::Timeout {
                    what: r.describe(),
                    waited: start.elapsed().as_secs(),
                });
            }
            if !announced {
                log::info!("waiting for {}", r.describe());
                announced = true;
            }
            std::thread::sleep(POLL);
        }
    }
}

/// A place in the queue for a resource: an empty file named `<nanoseconds>-<pid>` in the
/// queue folder, removed when dropped. Files of processes that are gone are skipped (and
/// cleared), so a killed manager never blocks the queue.
struct Ticket {
    dir: PathBuf,
    name: String,
}

impl Ticket {
    fn join(dir: &Path) -> Result<Ticket, LockError> {
        let open_err = |e: std::io::Error| LockError::Open {
            path: dir.display().to_string(),
            why: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(open_err)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{nanos:024}-{}", std::process::id());
        std::fs::write(dir.join(&name), b"").map_err(open_err)?;
        Ok(Ticket {
            dir: dir.to_path_buf(),
            name,
        })
    }

    /// Whether no live ticket is older than ours.
    fn is_first(&self) -> bool {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return true;
        };
        !entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name >= self.name {
                return false;
            }
            let alive = name
                .rsplit_once('-')
                .and_then(|(_, pid)| pid.parse::<i32>().ok())
                .is_some_and(crate::lock::alive);
            if !alive {
                let _ = std::fs::remove_file(e.path());
            }
            alive
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(&self.name));
    }
}

/// The slot table of a host: beside the host lock file.
pub fn table(host_lock: &Path, storage_cap: usize, wait: Duration) -> SlotTable {
    SlotTable {
        dir: host_lock.parent().unwrap_or(Path::new(".")).to_path_buf(),
        storage_cap,
        wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dir: &Path, cap: usize, wait_ms: u64) -> SlotTable {
        SlotTable {
            dir: dir.to_path_buf(),
            storage_cap: cap,
            wait: Duration::from_millis(wait_ms),
        }
    }

    #[test]
    fn a_clone_source_has_one_slot() {
        let d = tempfile::tempdir().unwrap();
        let slots = t(d.path(), 4, 100);
        let src = Resource::CloneSource(GuestId(900));
        let held = slots.hold(std::slice::from_ref(&src)).unwrap();
        let e = slots.hold(std::slice::from_ref(&src)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "waited 0s for another clone of 900 to finish (orchestration.guest_lock_wait_secs)"
        );
        // Another source is independent.
        slots.hold(&[Resource::CloneSource(GuestId(901))]).unwrap();
        drop(held);
        slots.hold(&[src]).unwrap();
    }

    #[test]
    fn a_storage_has_storage_cap_slots() {
        let d = tempfile::tempdir().unwrap();
        let slots = t(d.path(), 2, 50);
        let s = Resource::Storage("local-zfs".into());
        let a = slots.hold(std::slice::from_ref(&s)).unwrap();
        let _b = slots.hold(std::slice::from_ref(&s)).unwrap();
        assert!(slots.hold(std::slice::from_ref(&s)).is_err());
        drop(a);
        slots.hold(&[s]).unwrap();
    }

    #[test]
    fn a_cluster_node_has_its_max_jobs_slots_and_local_storages_are_per_node() {
        let d = tempfile::tempdir().unwrap();
        let slots = t(d.path(), 1, 50);
        let n = Resource::Node("pve1".into(), 2);
        let _a = slots.hold(std::slice::from_ref(&n)).unwrap();
        let _b = slots.hold(std::slice::from_ref(&n)).unwrap();
        let e = slots.hold(std::slice::from_ref(&n)).unwrap_err();
        assert!(e.to_string().contains("a free slot on node 'pve1'"), "{e}");
        slots.hold(&[Resource::Node("pve2".into(), 2)]).unwrap();
        // One local storage name on two nodes: two storages.
        let _s1 = slots
            .hold(&[Resource::Storage("pve1/local-zfs".into())])
            .unwrap();
        slots
            .hold(&[Resource::Storage("pve2/local-zfs".into())])
            .unwrap();
    }

    #[test]
    fn a_waiting_holder_gets_the_slot_when_it_is_freed() {
        let d = tempfile::tempdir().unwrap();
        let slots = t(d.path(), 1, 10_000);
        let src = Resource::CloneSource(GuestId(900));
        let held = slots.hold(std::slice::from_ref(&src)).unwrap();
        let t0 = Instant::now();
        let freer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        slots.hold(&[src]).unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(200));
        freer.join().unwrap();
    }

    #[test]
    fn waiters_are_served_in_the_order_they_came() {
        let d = tempfile::tempdir().unwrap();
        let slots = t(d.path(), 1, 10_000);
        let src = Resource::CloneSource(GuestId(900));
        let held = slots.hold(std::slice::from_ref(&src)).unwrap();
        let order = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for n in 0..4 {
                let (slots, src, order) = (&slots, &src, &order);
                s.spawn(move || {
                    let _slot = slots.hold(std::slice::from_ref(src)).unwrap();
                    order.lock().unwrap().push(n);
                    std::thread::sleep(Duration::from_millis(30));
                });
                // Each waiter has its ticket before the next one comes.
                let q = d.path().join("phoenix-slot-clone-source-900.queue");
                while std::fs::read_dir(&q).map_or(0, |e| e.count()) < n + 1 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            drop(held);
        });
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_ticket_of_a_dead_process_does_not_block() {
        let d = tempfile::tempdir().unwrap();
        let slots = t(d.path(), 1, 2_000);
        let q = d.path().join("phoenix-slot-clone-source-900.queue");
        std::fs::create_dir_all(&q).unwrap();
        // An old ticket of a PID that cannot exist.
        std::fs::write(q.join(format!("{:024}-{}", 1, i32::MAX)), b"").unwrap();
        slots.hold(&[Resource::CloneSource(GuestId(900))]).unwrap();
        assert_eq!(
            std::fs::read_dir(&q).unwrap().count(),
            0,
            "tickets are cleared"
        );
    }

    #[test]
    fn storage_names_cannot_leave_the_slot_folder() {
        let r = Resource::Storage("../../etc/x y".into());
        assert_eq!(r.key(), "storage-.._.._etc_x_y");
        let files = t(Path::new("/run/lock"), 1, 0).files(&r);
        assert_eq!(
            files,
            vec![PathBuf::from(
                "/run/lock/phoenix-slot-storage-.._.._etc_x_y.0.lock"
            )]
        );
    }
}
