//! Mount points (`zfs_volumes`, `volumes`, `mount_points`) and the root disk size.
//!
//! The old tool matched volumes by index and added a new 50 GB volume on every re-run. A volume's
//! identity is its path inside the container (`mp=`): existing ones are left untouched, missing
//! ones go to the first free `mpN`. (The root disk: `plan::disk`.)

use phoenix_config::Lxc;
use pve::{Conf, PropString};

use crate::diff::SetPlan;

/// One mount point the config asks for: `mp=` path (without trailing slashes, the config's
/// path rule) and the `pct --mpN` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedMount {
    pub path: String,
    pub value: String,
}

/// Every mount point of the config, volumes first, in config order.
pub fn wanted(lxc: &Lxc) -> Vec<WantedMount> {
    let mut out = Vec::new();
    for v in lxc.zfs_volumes.iter().chain(&lxc.volumes) {
        let mut value = format!("{}:{},mp={}", v.pool, v.size_gb, v.mount_point);
        if let Some(b) = v.backup {
            value.push_str(&format!(",backup={}", crate::desired::bool01(b)));
        }
        out.push(WantedMount {
            path: v.mount_point.trimmed().to_string(),
            value,
        });
    }
    for m in &lxc.mount_points {
        let mut value = format!("{},mp={}", m.host_path, m.mount_point);
        if m.read_only == Some(true) {
            value.push_str(",ro=1");
        }
        out.push(WantedMount {
            path: m.mount_point.trimmed().to_string(),
            value,
        });
    }
    out
}

/// Mount paths already in `conf`.
fn mounted(conf: &Conf) -> Vec<(u32, String)> {
    conf.indexed("mp")
        .into_iter()
        .filter_map(|(n, v)| {
            let p = PropString::parse_with_default(v, Some("volume")).ok()?;
            Some((n, p.get("mp")?.trim_end_matches('/').to_string()))
        })
        .collect()
}

/// `mpN` options for the wanted mount points that `conf` lacks.
pub fn plan(conf: &Conf, wanted: &[WantedMount]) -> SetPlan {
    let have = mounted(conf);
    let mut used: Vec<u32> = have.iter().map(|(n, _)| *n).collect();
    let mut plan = SetPlan::default();
    for w in wanted {
        if have.iter().any(|(_, p)| *p == w.path) {
            continue;
        }
        let idx = (0..).find(|n| !used.contains(n)).unwrap_or(0);
        used.push(idx);
        plan.set.push((format!("mp{idx}"), w.value.clone()));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_config::model::lxc::Volume;

    fn vol(name: &str, pool: &str, size_gb: u64, mount_point: &str) -> Volume {
        Volume {
            name: name.into(),
            pool: pool.parse().expect("pool"),
            size_gb,
            mount_point: mount_point.parse().expect("mount point"),
            backup: None,
        }
    }

    #[test]
    fn matched_by_mount_path_not_index() {
        let lxc = Lxc {
            zfs_volumes: vec![vol("m", "bulk", 50, "/vllm_models")],
            volumes: vec![vol("d", "vol", 10, "/data")],
            ..Default::default()
        };
        let conf = Conf::parse("mp1: bulk:subvol-950-disk-1,mp=/vllm_models,size=50G\n");
        let p = plan(&conf, &wanted(&lxc));
        assert_eq!(
            p.set,
            vec![("mp0".to_string(), "vol:10,mp=/data".to_string())]
        );
        let conf = Conf::parse("mp0: vol:subvol-950-disk-2,mp=/data/,size=10G\nmp1: bulk:subvol-950-disk-1,mp=/vllm_models,size=50G\n");
        assert!(plan(&conf, &wanted(&lxc)).is_empty());
    }
}
