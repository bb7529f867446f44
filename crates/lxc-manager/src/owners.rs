//! Owners of bind-mounted host folders (`mount_points[].owner_uid`/`owner_gid`).
//!
//! The IDs are the container's; on the host the folder must belong to what they map to
//! (`Lxc::host_id`: the container's `id_maps`, else `id + 100000` when unprivileged, else the
//! ID itself), or the container's user cannot write there. Each folder is observed with
//! `stat` on the node (through the transport's node-local work, so over SSH with `api`); a
//! missing folder is created, and `chown` runs only when the owner differs. Not recursive: the
//! folder itself is what the container needs to write into, and a re-run must not walk a data
//! tree.

use std::path::PathBuf;

use phoenix_config::model::lxc::{BindMount, IdKind};
use phoenix_config::Lxc;
use phoenix_guest::{Action, GuestResult, Job, NodeCommand, NodeOp, Step};
use phoenix_report::Change;

/// The step's name.
pub const STEP: &str = "mount owners";

/// The host owner a bind mount wants: `(uid, gid)`, either may be unset.
pub fn wanted(lxc: &Lxc, m: &BindMount) -> (Option<u32>, Option<u32>) {
    (
        m.owner_uid.map(|u| lxc.host_id(IdKind::Uid, u)),
        m.owner_gid.map(|g| lxc.host_id(IdKind::Gid, g)),
    )
}

fn cmd(program: &str, args: Vec<String>) -> NodeCommand {
    NodeCommand {
        what: format!("{program} {}", args.join(" ")),
        program: program.into(),
        args,
        env: Vec::new(),
        stream: false,
    }
}

/// The actions for one folder, from what `stat` showed (`None`: the folder is missing).
pub fn plan_one(
    path: &std::path::Path,
    mount_point: &str,
    want: (Option<u32>, Option<u32>),
    have: Option<(u32, u32)>,
) -> Vec<Action> {
    let mut out = Vec::new();
    let shown = |v: Option<u32>| v.map_or(String::new(), |v| v.to_string());
    let differs = match have {
        None => true,
        Some((u, g)) => want.0.is_some_and(|w| w != u) || want.1.is_some_and(|w| w != g),
    };
    if !differs {
        return out;
    }
    let p = path.display().to_string();
    if have.is_none() {
        out.push(Action::node(
            STEP,
            format!("host folder of {mount_point} is missing"),
            NodeOp::Run(cmd("mkdir", vec!["-p".into(), p.clone()])),
        ));
    }
    let spec = match want {
        (Some(u), Some(g)) => format!("{u}:{g}"),
        (Some(u), None) => u.to_string(),
        (None, Some(g)) => format!(":{g}"),
        (None, None) => return out,
    };
    let have_text = have.map(|(u, g)| format!("{u}:{g}"));
    out.push(
        Action::node(
            STEP,
            format!("owner of the host folder of {mount_point} differs from the config"),
            NodeOp::Run(cmd("chown", vec![spec, p])),
        )
        .changes(vec![Change::new(
            format!("{mount_point} owner"),
            have_text.as_deref(),
            Some(&format!("{}:{}", shown(want.0), shown(want.1))),
        )]),
    );
    out
}

/// `uid:gid` as `stat -c %u:%g` prints it.
pub fn parse_stat(text: &str) -> Option<(u32, u32)> {
    let (u, g) = text.trim().split_once(':')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// Observes every owned bind mount's host folder and plans what differs.
pub fn step(job: &Job, lxc: &Lxc) -> GuestResult<Step> {
    let mut step = Step::new(STEP);
    for m in lxc
        .mount_points
        .iter()
        .filter(|m| m.owner_uid.is_some() || m.owner_gid.is_some())
    {
        let path: PathBuf = job.host_path(std::path::Path::new(&*m.host_path));
        let out = job
            .transport
            .node_run(&cmd(
                "stat",
                vec!["-c".into(), "%u:%g".into(), path.display().to_string()],
            ))
            .map_err(|e| job.err(STEP, e.0))?;
        let have = if out.success() {
            Some(parse_stat(&out.stdout).ok_or_else(|| {
                job.err(
                    STEP,
                    format!(
                        "unexpected stat output for {}: {}",
                        path.display(),
                        out.stdout
                    ),
                )
            })?)
        } else {
            None
        };
        for a in plan_one(&path, &m.mount_point, wanted(lxc, m), have) {
            step.push(a);
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_only_on_a_difference() {
        let p = std::path::Path::new("/srv/logs");
        assert!(plan_one(
            p,
            "/var/log/nginx",
            (Some(100033), Some(33)),
            Some((100033, 33))
        )
        .is_empty());
        let a = plan_one(p, "/var/log/nginx", (Some(100033), Some(33)), Some((0, 0)));
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].op,
            phoenix_guest::Op::Node(NodeOp::Run(cmd(
                "chown",
                vec!["100033:33".into(), "/srv/logs".into()]
            )))
        );
        // A missing folder is created first; an unset gid is left alone.
        let a = plan_one(p, "/x", (Some(100000), None), None);
        assert_eq!(a.len(), 2);
        assert!(plan_one(p, "/x", (Some(100000), None), Some((100000, 5))).is_empty());
        assert_eq!(parse_stat("100033:33\n"), Some((100033, 33)));
        assert_eq!(parse_stat("x"), None);
    }
}
