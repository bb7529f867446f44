//! Waiting out a Proxmox guest lock. While Proxmox works on a guest for a long time (a clone
//! copying a container's disk, a backup, a migration) it writes `lock: <what>` into the guest's
//! config, and every other change to that guest fails at once with `CT 900 is locked (disk)`.
//! Retrying such a call blindly only fails again; the managers instead poll the config file
//! until the line is gone, up to `orchestration.guest_lock_wait_secs`, before they change a
//! guest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phoenix_config::{GuestId, GuestKind};

/// Default of `orchestration.guest_lock_wait_secs`.
pub const DEFAULT_WAIT_SECS: u64 = phoenix_config::orchestration::GUEST_LOCK_WAIT_SECS;

/// How often the config file is read while waiting.
pub const POLL: Duration = Duration::from_millis(250);

/// The config file of a guest under the Proxmox config folder (`/etc/pve`).
pub fn conf_path(pve_dir: &Path, kind: GuestKind, id: GuestId) -> PathBuf {
    let dir = match kind {
        GuestKind::Lxc => "lxc",
        GuestKind::Vm => "qemu-server",
    };
    pve_dir.join(dir).join(format!("{id}.conf"))
}

/// The value of the current config's `lock:` line (snapshot sections are ignored), or `None`
/// when there is none or the guest does not exist.
pub fn current_lock(conf: &Path) -> Option<String> {
    let text = std::fs::read_to_string(conf).ok()?;
    text.lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("lock:"))
        .map(|v| v.trim().to_string())
}

/// The guest a failed Proxmox call names as locked: `CT 900 is locked (disk)` or
/// `VM 8000 is locked (clone)`.
pub fn locked_guest(stderr: &str) -> Option<(GuestKind, GuestId)> {
    stderr.lines().find_map(|line| {
        let (before, _) = line.split_once(" is locked (")?;
        let mut words = before.split_whitespace().rev();
        let id = GuestId::parse(words.next()?)?;
        match words.next()? {
            "CT" => Some((GuestKind::Lxc, id)),
            "VM" => Some((GuestKind::Vm, id)),
            _ => None,
        }
    })
}

/// A guest still locked when the wait ran out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {id} is still locked ({lock}) after waiting {waited}s (orchestration.guest_lock_wait_secs); run `{tool} unlock {id}` if no Proxmox task holds it")]
pub struct StillLocked {
    pub kind: GuestKind,
    pub id: GuestId,
    pub lock: String,
    pub waited: u64,
    pub tool: &'static str,
}

impl StillLocked {
    pub fn new(kind: GuestKind, id: GuestId, lock: &str, waited: Duration) -> StillLocked {
        StillLocked {
            kind,
            id,
            lock: lock.to_string(),
            waited: waited.as_secs(),
            tool: match kind {
                GuestKind::Lxc => "pct",
                GuestKind::Vm => "qm",
            },
        }
    }
}

/// Waits until `id`'s config shows no `lock:` line, reading it every `poll`, at most `max`.
/// Returns how long it waited.
pub fn wait_unlocked(
    pve_dir: &Path,
    kind: GuestKind,
    id: GuestId,
    max: Duration,
    poll: Duration,
) -> Result<Duration, StillLocked> {
    let conf = conf_path(pve_dir, kind, id);
    let start = Instant::now();
    let mut announced = false;
    loop {
        let Some(lock) = current_lock(&conf) else {
            return Ok(start.elapsed());
        };
        let waited = start.elapsed();
        if waited >= max {
            return Err(StillLocked::new(kind, id, &lock, waited));
        }
        if !announced {
            eprintln!(
                "info: {kind} {id} is locked ({lock}); waiting up to {}s for Proxmox to release it",
                max.as_millis().div_ceil(1000)
            );
            announced = true;
        }
        std::thread::sleep(poll.min(max - waited));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(dir: &Path, id: u64, text: &str) -> PathBuf {
        let p = conf_path(dir, GuestKind::Lxc, GuestId(id));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn lock_line_of_the_current_config_only() {
        let d = tempfile::tempdir().unwrap();
        let p = conf(d.path(), 900, "arch: amd64\nlock: disk\nmemory: 512\n");
        assert_eq!(current_lock(&p).as_deref(), Some("disk"));
        let p = conf(
            d.path(),
            901,
            "arch: amd64\nmemory: 512\n\n[ready]\nlock: snapshot\n",
        );
        assert_eq!(current_lock(&p), None);
        assert_eq!(current_lock(&d.path().join("missing.conf")), None);
    }

    #[test]
    fn the_locked_guest_is_read_from_the_message() {
        assert_eq!(
            locked_guest("CT 900 is locked (disk)"),
            Some((GuestKind::Lxc, GuestId(900)))
        );
        assert_eq!(
            locked_guest("clone failed: VM 8000 is locked (clone)\n"),
            Some((GuestKind::Vm, GuestId(8000)))
        );
        assert_eq!(locked_guest("can't lock file '/x' - got timeout"), None);
        assert_eq!(locked_guest("the door is locked (key)"), None);
    }

    #[test]
    fn unlocked_or_missing_guest_returns_at_once() {
        let d = tempfile::tempdir().unwrap();
        conf(d.path(), 900, "arch: amd64\n");
        for id in [900, 950] {
            let waited = wait_unlocked(
                d.path(),
                GuestKind::Lxc,
                GuestId(id),
                Duration::from_secs(5),
                POLL,
            )
            .unwrap();
            assert!(waited < Duration::from_secs(1));
        }
    }

    #[test]
    fn waits_until_the_lock_line_goes() {
        let d = tempfile::tempdir().unwrap();
        let p = conf(d.path(), 900, "arch: amd64\nlock: disk\n");
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(&p2, "arch: amd64\n").unwrap();
        });
        let waited = wait_unlocked(
            d.path(),
            GuestKind::Lxc,
            GuestId(900),
            Duration::from_secs(30),
            Duration::from_millis(20),
        )
        .unwrap();
        t.join().unwrap();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert_eq!(current_lock(&p), None);
    }

    #[test]
    fn gives_up_after_the_wait_naming_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = conf_path(d.path(), GuestKind::Vm, GuestId(8000));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "lock: clone\nmemory: 2048\n").unwrap();
        let e = wait_unlocked(
            d.path(),
            GuestKind::Vm,
            GuestId(8000),
            Duration::from_millis(100),
            Duration::from_millis(20),
        )
        .unwrap_err();
        assert_eq!(e.lock, "clone");
        assert!(
            e.to_string().starts_with(
                "VM 8000 is still locked (clone) after waiting 0s (orchestration.guest_lock_wait_secs); run `qm unlock 8000`"
            ),
            "{e}"
        );
    }
}
