//! Writing files so that a crash never leaves half of one: write a temporary file beside the
//! target, flush it to disk, then rename it over the target (atomic on one file system).

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `data` atomically, keeping the old file's permissions when it exists.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_via_temp(path, data, |tmp| {
        let f = std::fs::File::create(tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(tmp, meta.permissions())?;
        }
        Ok(f)
    })
}

/// Writes `data` atomically (temp file beside it, then rename); `private` files get mode 0600
/// from their creation on, so a secret is never readable by others, not even for a moment.
pub fn write_private_or_not(path: &Path, data: &[u8], private: bool) -> std::io::Result<()> {
    if !private {
        return write_atomic(path, data);
    }
    write_private(path, data)
}

/// [`write_private_or_not`] with `private`.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_via_temp(path, data, |tmp| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)
    })
}

/// The one way both writers go: `.<name>.phoenix-tmp.<pid>` beside `path`, made by `create`,
/// filled, flushed to disk, renamed over `path`; removed again on any failure. Temp files of
/// `path` left by a killed writer are swept first.
fn write_via_temp(
    path: &Path,
    data: &[u8],
    create: impl FnOnce(&Path) -> std::io::Result<std::fs::File>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sweep_dead_temps(dir, &name);
    let tmp = dir.join(format!(".{name}.phoenix-tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the temp files of earlier writes of `name` whose writer no longer runs: a writer
/// killed with SIGKILL between creating and renaming its temp file cannot remove it itself, so
/// the next write of the same file does. A temp file of a live process is left alone.
fn sweep_dead_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.phoenix-tmp.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A change detector for the per-guest records (`HostEnv::records_dir`): 64-bit FNV-1a over the
/// parts, each followed by a separator byte so part boundaries count; stable across builds, hex.
/// Not a security hash.
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_writers_temp_file_is_swept_a_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join(".x.fw.phoenix-tmp.4294967294");
        let live = d
            .path()
            .join(format!(".x.fw.phoenix-tmp.{}", std::process::id()));
        let other = d.path().join(".y.fw.phoenix-tmp.4294967294");
        for f in [&dead, &other] {
            std::fs::write(f, b"half").unwrap();
        }
        sweep_dead_temps(d.path(), "x.fw");
        assert!(!dead.exists());
        assert!(other.exists(), "another file's temp is not ours to sweep");
        std::fs::write(&live, b"mine").unwrap();
        sweep_dead_temps(d.path(), "x.fw");
        assert!(live.exists(), "this process is alive");
    }

    #[test]
    fn fingerprint_is_stable_and_separates_parts() {
        assert_eq!(fingerprint(&[b"x"]), fingerprint(&[b"x"]));
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.conf");
        write_atomic(&p, b"one\n").unwrap();
        write_atomic(&p, b"two\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
