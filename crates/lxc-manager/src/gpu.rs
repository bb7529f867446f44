//! GPU passthrough from `gpu_assignment`, as Proxmox `devN` entries.
//!
//! `devN: /dev/nvidia0` makes Proxmox create the device node in the container and allow it in
//! the container's cgroup, so no raw `lxc.cgroup2.devices.allow`/`lxc.mount.entry` lines are
//! needed and nothing accumulates. Phoenix owns every `devN` whose path is an NVIDIA device:
//! entries for GPUs no longer assigned are deleted, missing ones added at the first free index.
//! `/dev/nvidia-caps` (MIG only) is not passed; see docs/lxc.md.

use pve::{Conf, PropString};

use crate::diff::SetPlan;

/// Control devices every NVIDIA container needs besides its GPUs.
pub const SHARED_DEVICES: &[&str] = &["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"];

/// Device paths for GPUs `gpus` (empty when none).
pub fn wanted_paths(gpus: &[u32]) -> Vec<String> {
    if gpus.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<String> = gpus.iter().map(|g| format!("/dev/nvidia{g}")).collect();
    v.extend(SHARED_DEVICES.iter().map(|s| s.to_string()));
    v
}

fn is_nvidia(path: &str) -> bool {
    path.strip_prefix("/dev/nvidia").is_some_and(|rest| {
        rest.is_empty()
            || rest.bytes().all(|b| b.is_ascii_digit())
            || SHARED_DEVICES.contains(&path)
    })
}

/// `(index, path)` of the conf's `devN` entries.
fn devices(conf: &Conf) -> Vec<(u32, String)> {
    conf.indexed("dev")
        .into_iter()
        .filter_map(|(n, v)| {
            Some((
                n,
                PropString::parse_with_default(v, Some("path"))
                    .ok()?
                    .get("path")?
                    .to_string(),
            ))
        })
        .collect()
}

/// Adds the missing GPU devices and deletes NVIDIA devices not wanted.
pub fn plan(conf: &Conf, gpus: &[u32]) -> SetPlan {
    let want = wanted_paths(gpus);
    let have = devices(conf);
    let mut plan = SetPlan::default();
    for (n, p) in &have {
        if is_nvidia(p) && !want.contains(p) {
            plan.delete.push(format!("dev{n}"));
        }
    }
    let mut used: Vec<u32> = have.iter().map(|(n, _)| *n).collect();
    for p in want {
        if have.iter().any(|(_, h)| *h == p) {
            continue;
        }
        let idx = (0..).find(|n| !used.contains(n)).unwrap_or(0);
        used.push(idx);
        plan.set.push((format!("dev{idx}"), p));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_assigned_gpus() {
        let conf = Conf::parse("dev0: /dev/nvidia0\ndev1: /dev/nvidia1\ndev2: /dev/nvidiactl\ndev3: /dev/nvidia-uvm\ndev4: path=/dev/nvidia-uvm-tools\ndev5: /dev/dri/card0\n");
        let p = plan(&conf, &[0]);
        assert_eq!(p.delete, vec!["dev1"]);
        assert!(p.set.is_empty());
        let p = plan(&conf, &[]);
        assert_eq!(p.delete, vec!["dev0", "dev1", "dev2", "dev3", "dev4"]);
        let p = plan(&Conf::parse("dev0: /dev/dri/card0\n"), &[1]);
        assert_eq!(p.set[0], ("dev1".to_string(), "/dev/nvidia1".to_string()));
        assert_eq!(p.set.len(), 4);
        assert!(plan(&conf, &[0, 1]).is_empty());
    }
}
