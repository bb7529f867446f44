//! Shared volumes: a host dataset exported over NFS and mounted inside the VM.
//!
//! Host side: the volume's `host_path` must be one of the hypervisor config's `nfs.exports`; the
//! export line in `/etc/exports` (under `PHOENIX_HOST_ROOT`) must allow the VM's address (the
//! address itself, a CIDR holding it, or `*`). A missing client is added with the export's
//! options, the file replaced atomically, and `exportfs -ra` run only then.
//! Guest side (one idempotent agent call per volume): `nfs-common` installed when `mount.nfs`
//! is missing, one `/etc/fstab` line per mount point (an old line for the same mount point is
//! replaced, never duplicated), and `mount` when not mounted yet.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use phoenix_config::model::vm::SharedVolume;
use phoenix_config::model::{NfsClient, NfsExport};

use crate::create::Run;
use crate::fail::{AtStep, Fail, StepResult};
use phoenix_host::fs::fingerprint;

const STEP: &str = "shared volumes";

/// The guest script; `$1` server:path, `$2` mount point, `$3` options.
const MOUNT_SCRIPT: &str = r#"set -e
line="$1 $2 nfs $3 0 0"
if ! command -v mount.nfs >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q nfs-common
fi
mkdir -p "$2"
if ! grep -qxF "$line" /etc/fstab; then
  awk -v mp="$2" '$2 != mp' /etc/fstab > /etc/fstab.phoenix
  printf '%s\n' "$line" >> /etc/fstab.phoenix
  mv /etc/fstab.phoenix /etc/fstab
fi
mountpoint -q "$2" || mount "$2"
"#;

/// Ensures every shared volume: export on the host, fstab line and mount in the guest.
pub fn apply(run: &mut Run) -> StepResult<()> {
    if run.d.shared_volumes.is_empty() {
        return Ok(());
    }
    let ip = vm_address(run)?;
    let server = run
        .ctx
        .config
        .hypervisor
        .nfs_server()
        .map(str::to_string)
        .ok_or_else(|| {
            Fail::new(
                STEP,
                "network.nfs_server is not set in the hypervisor config",
            )
        })?;
    for sv in run.d.shared_volumes.clone() {
        ensure_export(run, &sv.export, ip)?;
        mount_in_guest(run, &server, &sv)?;
    }
    Ok(())
}

/// The VM's IPv4 address: the static one from `network_config`, else what the agent reports.
fn vm_address(run: &Run) -> StepResult<Ipv4Addr> {
    match run.d.static_ip() {
        Some(IpAddr::V4(ip)) => return Ok(ip),
        Some(ip) => {
            return Err(Fail::new(
                STEP,
                format!("network_config.ip '{ip}' is not an IPv4 address"),
            ))
        }
        None => {}
    }
    let args = [
        "guest",
        "cmd",
        &run.d.id.to_string(),
        "network-get-interfaces",
    ]
    .map(str::to_string);
    run.agent()?;
    let out = run.ctx.runner.read("qm", &args).at(STEP)?;
    let v: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| Fail::new(STEP, format!("network-get-interfaces: {e}")))?;
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["name"] != "lo")
        .flat_map(|i| i["ip-addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| {
            a["ip-address"]
                .as_str()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
        })
        .find(|a| !a.is_loopback())
        .ok_or_else(|| Fail::new(STEP, "the guest agent reports no IPv4 address"))
}

/// Whether `client` (an `/etc/exports` host spec) covers `ip`.
pub fn covers(client: &str, ip: Ipv4Addr) -> bool {
    NfsClient::parse(client).covers(IpAddr::V4(ip))
}

/// `/etc/exports` with the export of `e` allowing `ip`, or `None` when it already does.
pub fn updated_exports(text: &str, e: &NfsExport, ip: Ipv4Addr) -> Option<String> {
    let opts = if e.options.is_empty() {
        "rw,sync,no_subtree_check".to_string()
    } else {
        e.options.join(",")
    };
    let path = e.path.trimmed();
    let mut found = false;
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if fields.next().map(|p| p.trim_end_matches('/')) == Some(path)
            && !line.trim_start().starts_with('#')
        {
            found = true;
            if fields.any(|c| covers(c, ip)) {
                return None;
            }
            lines.push(format!("{line} {ip}({opts})"));
        } else {
            lines.push(line.to_string());
        }
    }
    if !found {
        let mut clients: Vec<String> = e.clients.iter().map(|c| format!("{c}({opts})")).collect();
        if !e.allows(IpAddr::V4(ip)) {
            clients.push(format!("{ip}({opts})"));
        }
        lines.push(format!("{path} {}", clients.join(" ")));
    }
    Some(lines.join("\n") + "\n")
}

fn ensure_export(run: &Run, e: &NfsExport, ip: Ipv4Addr) -> StepResult<()> {
    let file = run.ctx.env.host_path(Path::new("/etc/exports"));
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(Fail::new(STEP, format!("{}: {err}", file.display()))),
    };
    let Some(new) = updated_exports(&text, e, ip) else {
        return Ok(());
    };
    eprintln!("VM {}: allowing {ip} on NFS export {}", run.d.id, e.path);
    crate::host::write_if_changed(&file, new.as_bytes(), run.ctx.runner.dry_run, false).at(STEP)?;
    run.ctx.runner.change("exportfs", &["-ra"]).at(STEP)?;
    Ok(())
}

fn mount_in_guest(run: &mut Run, server: &str, sv: &SharedVolume) -> StepResult<()> {
    let src = format!("{server}:{}", sv.host_path);
    let opts = sv
        .options
        .clone()
        .unwrap_or_else(|| "defaults,_netdev".into());
    let key = format!("shared_volume:{}", sv.mount_point);
    let fp = fingerprint(&[src.as_bytes(), opts.as_bytes(), MOUNT_SCRIPT.as_bytes()]);
    if !run.force && run.record.done(&key, &fp) {
        return Ok(());
    }
    eprintln!("VM {}: mounting {src} on {}", run.d.id, sv.mount_point);
    run.agent()?.run_ok(
        STEP,
        &[
            "sh",
            "-c",
            MOUNT_SCRIPT,
            "phoenix-nfs",
            &src,
            &sv.mount_point,
            &opts,
        ],
        None,
    )?;
    run.mark(STEP, &key, &fp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export() -> NfsExport {
        NfsExport {
            path: "/tank/shared".parse().expect("path"),
            clients: vec![NfsClient::parse("10.0.0.0/24")],
            options: vec!["rw".into(), "sync".into()],
        }
    }

    #[test]
    fn cidr_and_star_cover() {
        let ip: Ipv4Addr = "10.0.0.101".parse().expect("ip");
        assert!(covers("10.0.0.0/24(rw)", ip));
        assert!(covers("*", ip));
        assert!(covers("10.0.0.101(rw,sync)", ip));
        assert!(!covers("10.0.1.0/24", ip));
    }

    #[test]
    fn exports_are_added_once() {
        let ip: Ipv4Addr = "192.168.1.5".parse().expect("ip");
        let new = updated_exports("# x\n", &export(), ip).expect("changed");
        assert_eq!(
            new,
            "# x\n/tank/shared 10.0.0.0/24(rw,sync) 192.168.1.5(rw,sync)\n"
        );
        assert_eq!(updated_exports(&new, &export(), ip), None);
        let covered: Ipv4Addr = "10.0.0.7".parse().expect("ip");
        assert_eq!(
            updated_exports("/tank/shared 10.0.0.0/24(rw)\n", &export(), covered),
            None
        );
        let added =
            updated_exports("/tank/shared 10.0.0.0/24(rw)\n", &export(), ip).expect("changed");
        assert_eq!(added, "/tank/shared 10.0.0.0/24(rw) 192.168.1.5(rw,sync)\n");
    }
}
