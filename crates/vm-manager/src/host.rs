//! Reading the node: the VM's `qm.conf` (read directly from the Proxmox config folder), its run
//! status, snippet storage paths; and writing host files atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use phoenix_config::GuestId;
use phoenix_host::{HostEnv, Runner};
use pve::{Conf, PropString};

use crate::fail::{AtStep, Fail, StepResult};

/// The VM's config file path.
pub fn conf_path(env: &HostEnv, id: GuestId) -> PathBuf {
    env.pve_dir.join("qemu-server").join(format!("{id}.conf"))
}

/// The VM's config, or `None` when the VM does not exist.
pub fn read_conf(env: &HostEnv, id: GuestId) -> StepResult<Option<Conf>> {
    match std::fs::read_to_string(conf_path(env, id)) {
        Ok(t) => Ok(Some(Conf::parse(&t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fail::new(
            "read config",
            format!("{}: {e}", conf_path(env, id).display()),
        )),
    }
}

/// Every VM config of the node except `except`, by ID.
pub fn other_confs(env: &HostEnv, except: GuestId) -> Vec<(GuestId, Conf)> {
    let Ok(rd) = std::fs::read_dir(env.pve_dir.join("qemu-server")) else {
        return Vec::new();
    };
    let mut out: Vec<(GuestId, Conf)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = GuestId::parse(name.strip_suffix(".conf")?)?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            (id != except).then(|| (id, Conf::parse(&text)))
        })
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

/// Whether the config marks a template.
pub fn is_template(conf: &Conf) -> bool {
    conf.get("template").is_some_and(|v| v.trim() == "1")
}

/// `qm status <id>` → `running`, `stopped`, ...
pub fn status(runner: &Runner, id: GuestId) -> StepResult<String> {
    let out = runner
        .read("qm", &["status".to_string(), id.to_string()])
        .at("status")?;
    pve::output::parse_status(&out).map_err(|e| Fail::new("status", e.to_string()))
}

/// Disk keys Proxmox boots from, in the order we look for the boot disk.
const DISK_BUSES: &[&str] = &["scsi", "virtio", "sata", "ide"];

/// The boot disk: the first disk of `boot: order=...`, else the first non-cloud-init disk.
pub fn boot_disk(conf: &Conf) -> Option<(String, String)> {
    let order = conf
        .get("boot")
        .and_then(|b| PropString::parse_with_default(b, Some("order")).ok())
        .and_then(|p| p.get("order").map(str::to_string));
    if let Some(first) = order.as_deref().and_then(|o| o.split(';').next()) {
        if let Some(v) = conf.get(first) {
            return Some((first.to_string(), v.to_string()));
        }
    }
    DISK_BUSES.iter().find_map(|bus| {
        conf.indexed(bus)
            .into_iter()
            .find(|(_, v)| !v.contains("cloudinit") && !v.contains("media=cdrom"))
            .map(|(n, v)| (format!("{bus}{n}"), v.to_string()))
    })
}

/// Size of a disk value (`...,size=32G`) in bytes.
pub fn disk_bytes(value: &str) -> Option<u64> {
    PropString::parse_with_default(value, Some("file"))
        .ok()?
        .get("size")
        .and_then(pve::propstring::parse_size)
}

/// Volume IDs (`store:name`) of the VM's disks, main section only.
pub fn disk_volumes(conf: &Conf) -> Vec<String> {
    let mut out = Vec::new();
    for bus in DISK_BUSES
        .iter()
        .chain(["efidisk", "tpmstate", "unused"].iter())
    {
        for (_, v) in conf.indexed(bus) {
            let vol = v.split(',').next().unwrap_or("");
            if vol.contains(':')
                && !vol.starts_with('/')
                && !vol.ends_with("cloudinit")
                && vol != "none"
            {
                out.push(vol.to_string());
            }
        }
    }
    out
}

/// The first storage with `snippets` content (`pvesm status --content snippets`).
pub fn first_snippets_storage(runner: &Runner) -> StepResult<String> {
    let out = runner
        .read("pvesm", &["status", "--content", "snippets"])
        .at("cloud-init")?;
    let rows = pve::output::parse_pvesm_status(&out)
        .map_err(|e| Fail::new("cloud-init", e.to_string()))?;
    rows.into_iter()
        .find(|r| r.status == "active")
        .map(|r| r.name)
        .ok_or_else(|| {
            Fail::new(
                "cloud-init",
                "no active storage has 'snippets' content; set snippets_storage",
            )
        })
}

/// Where a path printed by a Proxmox tool is from here: under `PHOENIX_HOST_ROOT` unless it
/// already lies inside the simulated node's own folder (identity on a real host).
pub fn tool_path(env: &HostEnv, printed: &str) -> PathBuf {
    let p = Path::new(printed.trim());
    if env.sim.as_deref().is_some_and(|root| p.starts_with(root)) {
        return p.to_path_buf();
    }
    env.host_path(p)
}

/// Host path of a snippet volume (`pvesm path <storage>:snippets/<file>`).
pub fn snippet_path(
    env: &HostEnv,
    runner: &Runner,
    storage: &str,
    file: &str,
) -> StepResult<PathBuf> {
    let vol = format!("{storage}:snippets/{file}");
    let out = runner
        .read("pvesm", &["path", vol.as_str()])
        .at("cloud-init")?;
    if out.trim().is_empty() {
        return Err(Fail::new(
            "cloud-init",
            format!("pvesm path {vol} printed nothing"),
        ));
    }
    Ok(tool_path(env, &out))
}

/// Writes `data` to `path` unless it already holds exactly these bytes (temp file + rename,
/// mode 0600 for files that may hold secrets). Returns whether the file changed. Under
/// `--dry-run` prints `[dry-run] write <path>` instead.
pub fn write_if_changed(
    path: &Path,
    data: &[u8],
    dry_run: bool,
    private: bool,
) -> std::io::Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(false);
    }
    if dry_run {
        eprintln!("[dry-run] write {}", path.display());
        return Ok(true);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.phoenix-tmp.{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

/// `%XX` decoding (how `qm.conf` stores `sshkeys`).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sshkeys_as_stored() {
        assert_eq!(
            percent_decode("ssh-ed25519%20AAAA%20a%40b%0A"),
            "ssh-ed25519 AAAA a@b\n"
        );
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn finds_boot_disk_and_size() {
        let c = Conf::parse("boot: order=scsi0\nide2: s:vm-1-cloudinit,media=cdrom\nscsi0: s:vm-1-disk-0,size=32G\n");
        let (k, v) = boot_disk(&c).expect("disk");
        assert_eq!(k, "scsi0");
        assert_eq!(disk_bytes(&v), Some(32 << 30));
        assert_eq!(disk_volumes(&c), vec!["s:vm-1-disk-0".to_string()]);
    }
}
