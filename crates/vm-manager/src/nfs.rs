//! NFS inside the VM: `shared_volumes` (a host export mounted whole) and `volumes` of type
//! `nfs` (a folder of an export, from the volume's `server`, e.g. one folder per VM under a
//! shared export, as the old tool's `volumes[]`). Both are mounted the same way; a volume's
//! folder is created on the host first (`mkdir -p`, as the old tool did) when it is not the
//! export itself, since a server only serves folders that exist.
//!
//! Host side: the config resolved the `nfs.exports` entry each volume belongs to; its line in
//! `/etc/exports` (under `PHOENIX_HOST_ROOT`) must allow the VM's address (the address itself,
//! a CIDR holding it, or `*`: `NfsClient::covers`). A missing client is added with the export's
//! options, the file replaced atomically, and `exportfs -ra` run only then.
//! Guest side (one idempotent agent call per volume): `nfs-common` installed when `mount.nfs`
//! is missing, one `/etc/fstab` line per mount point (an old line for the same mount point is
//! replaced, never duplicated), and `mount` when not mounted yet.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use phoenix_config::model::vm::{NfsVolume, SharedVolume};
use phoenix_config::model::{NfsClient, NfsExport};
use phoenix_config::types::AbsPath;

use phoenix_guest::{Action, Applied, GuestOp, GuestResult, NodeCommand, NodeOp, Step};
use phoenix_host::fs::fingerprint;
use phoenix_report::Change;
use pve::api::Method;

use crate::context::VmJob;

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

/// Ensures every shared volume: export on the host, fstab line and mount in the guest;
/// `false` when a dry run stopped.
pub fn apply(vj: &VmJob) -> GuestResult<bool> {
    let job = vj.job;
    if vj.vm().shared_volumes.is_empty() && vj.vm().nfs_volumes.is_empty() {
        return Ok(true);
    }
    let Some(ip) = vm_address(vj)? else {
        return Ok(false);
    };
    let mounts: Vec<Mount> = if vj.vm().shared_volumes.is_empty() {
        Vec::new()
    } else {
        let server = job.config().hypervisor.nfs_server().ok_or_else(|| {
            job.err(
                STEP,
                "network.nfs_server is not set in the hypervisor config",
            )
        })?;
        vj.vm()
            .shared_volumes
            .iter()
            .map(|sv| Mount::shared(server, sv))
            .collect()
    };
    let volumes = vj.vm().nfs_volumes.iter().map(Mount::volume);
    for m in mounts.into_iter().chain(volumes) {
        if job.apply(export_step(vj, m.export, ip)?)? == Applied::Planned {
            return Ok(false);
        }
        if !mount_in_guest(vj, &m)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One NFS mount inside the VM, whichever key it came from.
struct Mount<'a> {
    /// `server:/path`.
    src: String,
    /// The folder on the host when it must be created (a volume's folder inside its export).
    host_folder: Option<&'a AbsPath>,
    export: &'a NfsExport,
    mount_point: &'a AbsPath,
    options: &'a str,
}

impl<'a> Mount<'a> {
    fn shared(server: &str, sv: &'a SharedVolume) -> Mount<'a> {
        Mount {
            src: format!("{server}:{}", sv.host_path),
            host_folder: None,
            export: &sv.export,
            mount_point: &sv.mount_point,
            options: sv.mount_options(),
        }
    }

    fn volume(v: &'a NfsVolume) -> Mount<'a> {
        let inside = v.path.trimmed() != v.export.path.trimmed();
        Mount {
            src: format!("{}:{}", v.server, v.path),
            host_folder: inside.then_some(&v.path),
            export: &v.export,
            mount_point: &v.mount_point,
            options: &v.options,
        }
    }
}

/// The VM's IPv4 address: the static one from `network_config`, else what the agent reports
/// (`None`: a dry run, whose agent wait was only planned).
fn vm_address(vj: &VmJob) -> GuestResult<Option<Ipv4Addr>> {
    let job = vj.job;
    match vj.vm().static_ip() {
        Some(IpAddr::V4(ip)) => return Ok(Some(ip)),
        Some(ip) => {
            return Err(job.err(
                STEP,
                format!("network_config.ip '{ip}' is not an IPv4 address"),
            ))
        }
        None => {}
    }
    if vj.wait_agent()? == Applied::Planned {
        return Ok(None);
    }
    let req = job
        .req(Method::Post, "/agent")
        .param("command", "network-get-interfaces");
    let v = job
        .transport
        .request(&req)
        .map_err(|e| job.err(STEP, e.0))?;
    let v: serde_json::Value = match v {
        serde_json::Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| job.err(STEP, format!("network-get-interfaces: {e}")))?,
        other => other,
    };
    let found = v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["name"] != "lo")
        .flat_map(|i| i["ip-addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| {
            a["ip-address"]
                .as_str()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
        })
        .find(|a| !a.is_loopback());
    found
        .map(Some)
        .ok_or_else(|| job.err(STEP, "the guest agent reports no IPv4 address"))
}

/// `/etc/exports` with the export of `e` allowing `ip`, or `None` when it already does. Lines
/// of the file are matched by the config's path rule (no trailing slashes) and its client rule.
pub fn updated_exports(text: &str, e: &NfsExport, ip: Ipv4Addr) -> Option<String> {
    let opts = e.export_options();
    let path = e.path.trimmed();
    let ip = IpAddr::V4(ip);
    let mut found = false;
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let same = |p: &str| AbsPath::new(p).is_ok_and(|p| p.trimmed() == path);
        if fields.next().is_some_and(same) && !line.trim_start().starts_with('#') {
            found = true;
            if fields.any(|c| NfsClient::parse(c).covers(ip)) {
                return None;
            }
            lines.push(format!("{line} {ip}({opts})"));
        } else {
            lines.push(line.to_string());
        }
    }
    if !found {
        let mut clients: Vec<String> = e.clients.iter().map(|c| format!("{c}({opts})")).collect();
        if !e.allows(ip) {
            clients.push(format!("{ip}({opts})"));
        }
        lines.push(format!("{path} {}", clients.join(" ")));
    }
    Some(lines.join("\n") + "\n")
}

fn export_step(vj: &VmJob, e: &NfsExport, ip: Ipv4Addr) -> GuestResult<Step> {
    let job = vj.job;
    let file = job.host_path(Path::new("/etc/exports"));
    let text = job
        .transport
        .node_read(&file)
        .map_err(|err| job.err(STEP, err.0))?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let step = Step::new(STEP);
    let Some(new) = updated_exports(&text, e, ip) else {
        return Ok(step);
    };
    let why = format!("NFS export {} does not allow {ip}", e.path);
    Ok(step
        .with(
            Action::node(
                STEP,
                why.clone(),
                NodeOp::Write {
                    path: file,
                    data: new.into_bytes(),
                    private: false,
                },
            )
            .changes(vec![Change::new(
                format!("exports {}", e.path),
                None,
                Some(&ip.to_string()),
            )]),
        )
        .with(Action::node(
            STEP,
            "reload the exports",
            NodeOp::Run(NodeCommand {
                program: "exportfs".into(),
                args: vec!["-ra".into()],
                env: Vec::new(),
                stream: false,
                what: "exportfs -ra".into(),
            }),
        )))
}

/// The mount inside the guest (and a volume's folder on the host first); `false` when a dry
/// run stopped.
fn mount_in_guest(vj: &VmJob, m: &Mount) -> GuestResult<bool> {
    let key = format!("shared_volume:{}", m.mount_point);
    let fp = fingerprint(&[
        m.src.as_bytes(),
        m.options.as_bytes(),
        MOUNT_SCRIPT.as_bytes(),
    ]);
    if vj.recorded(&key, &fp) {
        vj.job.unchanged(STEP, None);
        return Ok(true);
    }
    let mut step = Step::new(STEP);
    if let Some(folder) = m.host_folder {
        let host = vj.job.host_path(Path::new(&**folder));
        step.push(Action::node(
            STEP,
            format!("the folder {folder} must exist on the NFS server"),
            NodeOp::Run(NodeCommand {
                program: "mkdir".into(),
                args: vec!["-p".into(), host.display().to_string()],
                env: Vec::new(),
                stream: false,
                what: format!("mkdir -p {}", host.display()),
            }),
        ));
    }
    let argv = [
        "sh",
        "-c",
        MOUNT_SCRIPT,
        "phoenix-nfs",
        &m.src,
        m.mount_point,
        m.options,
    ]
    .map(String::from)
    .to_vec();
    step.push(Action::guest(
        STEP,
        format!("mount {} on {}", m.src, m.mount_point),
        GuestOp::Exec { argv, stdin: None },
    ));
    if vj.apply_agent(step)? == Applied::Planned {
        return Ok(false);
    }
    vj.mark(STEP, &key, &fp, None)?;
    Ok(true)
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
        let ip = "10.0.0.101".parse().expect("ip");
        let covers = |c: &str| NfsClient::parse(c).covers(ip);
        assert!(covers("10.0.0.0/24(rw)"));
        assert!(covers("*"));
        assert!(covers("10.0.0.101(rw,sync)"));
        assert!(!covers("10.0.1.0/24"));
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
