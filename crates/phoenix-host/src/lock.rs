//! One Phoenix run per host. The lock is an `flock` on a file, so the kernel releases it when
//! the holder dies; the file also records the holder's PID and command line so a waiting run can
//! say who holds it, and a run that takes over from a dead holder can say so.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default host lock file (overridden by `orchestration.lock_file` or `PHOENIX_LOCK_FILE`).
pub const DEFAULT_LOCK_FILE: &str = phoenix_config::orchestration::LOCK_FILE;
/// Set for children of a lock holder, so managers started by the dispatcher do not wait for it.
pub const HELD_ENV: &str = "PHOENIX_HOST_LOCK_HELD";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another Phoenix run holds {path}: PID {pid} ({cmdline}); waited {waited}s")]
    Busy {
        path: String,
        pid: String,
        cmdline: String,
        waited: u64,
    },
    #[error("cannot open lock file {path}: {why}")]
    Open { path: String, why: String },
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct HostLock {
    file: File,
    pub path: PathBuf,
}

impl HostLock {
    /// Takes the lock at `path`, waiting up to `wait`.
    pub fn acquire(path: &Path, wait: Duration) -> Result<HostLock, LockError> {
        let start = Instant::now();
        loop {
            let mut file = match HostLock::try_acquire(path)? {
                Ok(lock) => return Ok(lock),
                Err(file) => file,
            };
            if start.elapsed() >= wait {
                let (pid, cmdline) = read_holder(&mut file);
                return Err(LockError::Busy {
                    path: path.display().to_string(),
                    pid,
                    cmdline,
                    waited: start.elapsed().as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Takes the lock at `path` if it is free; `Ok(Err(file))` when another process holds it
    /// (the file, to read who).
    pub fn try_acquire(path: &Path) -> Result<Result<HostLock, File>, LockError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LockError::Open {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
        // SAFETY: flock on a file descriptor we own; no memory is touched.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Ok(Err(file));
        }
        let (old_pid, old_cmd) = read_holder(&mut file);
        if let Ok(pid) = old_pid.parse::<i32>() {
            if pid != std::process::id() as i32 && !alive(pid) {
                log::info!(
                    "took over a stale lock {} left by PID {pid} ({old_cmd})",
                    path.display()
                );
            }
        }
        let me = format!("{}\n{}\n", std::process::id(), own_cmdline());
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = file.write_all(me.as_bytes());
        let _ = file.flush();
        Ok(Ok(HostLock {
            file,
            path: path.to_path_buf(),
        }))
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        // SAFETY: unlocking a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn read_holder(file: &mut File) -> (String, String) {
    let mut s = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut s);
    let mut lines = s.lines();
    let pid = lines.next().unwrap_or("?").trim().to_string();
    let cmd = lines.next().unwrap_or("unknown command").trim().to_string();
    (if pid.is_empty() { "?".into() } else { pid }, cmd)
}

/// Whether process `pid` exists.
pub(crate) fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

fn own_cmdline() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The host lock file: `PHOENIX_LOCK_FILE`, else `orchestration.lock_file`, else
/// [`DEFAULT_LOCK_FILE`]; inside the simulated node's `run/` under `--sim`.
pub fn host_lock_path(env: &crate::HostEnv, cfg: &phoenix_config::Config) -> PathBuf {
    if let Some(p) = std::env::var_os("PHOENIX_LOCK_FILE").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let configured = cfg.hypervisor.orchestration.lock_file();
    match &env.sim {
        Some(dir) => dir
            .join("run")
            .join(Path::new(configured).file_name().unwrap_or_default()),
        None => configured.into(),
    }
}

/// The lock a manager holds on its one guest, beside the host lock.
pub fn guest_lock_path(host_lock: &Path, id: phoenix_config::GuestId) -> PathBuf {
    let dir = host_lock.parent().unwrap_or(Path::new("."));
    dir.join(format!("phoenix-guest-{id}.lock"))
}
