//! `/etc/subuid` and `/etc/subgid` for a container's own ID map.
//!
//! An unprivileged container whose `id_maps` map an ID onto a host ID outside root's
//! delegated range (`root:100000:65536`) only starts when root may map that host ID: the
//! `root:<host_id>:<size>` line Proxmox's documentation asks for. The line is added when no
//! line of root covers the range; nothing else in the files changes. The files are host files
//! (`PHOENIX_HOST_ROOT`), read and written through the transport's node-local work.

use phoenix_config::model::lxc::{IdKind, IdMap};
use phoenix_config::Lxc;
use phoenix_guest::{Action, GuestResult, Job, NodeOp, Step};
use phoenix_report::Change;

/// The step's name.
pub const STEP: &str = "id maps";

/// Root's default delegation, written first when the file does not exist.
const DEFAULT_LINE: &str = "root:100000:65536";

/// Whether `text` has a line of root covering `m`'s host range.
fn covered(text: &str, m: &IdMap) -> bool {
    text.lines().any(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        match (f.as_slice(), m.host_id.checked_add(m.size)) {
            ([user, start, count], Some(end)) if *user == "root" => {
                match (start.parse::<u64>(), count.parse::<u64>()) {
                    (Ok(s), Ok(c)) => s <= m.host_id as u64 && end as u64 <= s + c,
                    _ => false,
                }
            }
            _ => false,
        }
    })
}

/// The file's new text when maps of `kind` need lines it lacks (`have`: `None` when absent).
pub fn updated(have: Option<&str>, maps: &[IdMap], kind: IdKind) -> Option<String> {
    let text = have.unwrap_or("");
    let missing: Vec<String> = maps
        .iter()
        .filter(|m| m.kind == kind && !covered(text, m))
        .map(|m| format!("root:{}:{}", m.host_id, m.size))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut out = match have {
        Some(t) => t.to_string(),
        None => format!("{DEFAULT_LINE}\n"),
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for l in missing {
        out.push_str(&l);
        out.push('\n');
    }
    Some(out)
}

/// Plans the lines the container's own maps need (unprivileged containers with `id_maps`).
pub fn step(job: &Job, lxc: &Lxc) -> GuestResult<Step> {
    let mut step = Step::new(STEP);
    if lxc.id_maps.is_empty() || lxc.unprivileged != Some(true) {
        return Ok(step);
    }
    for (kind, file) in [(IdKind::Uid, "/etc/subuid"), (IdKind::Gid, "/etc/subgid")] {
        let path = job.host_path(std::path::Path::new(file));
        let have = job
            .transport
            .node_read(&path)
            .map_err(|e| job.err(STEP, e.0))?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        if let Some(new) = updated(have.as_deref(), &lxc.id_maps, kind) {
            step.push(
                Action::node(
                    STEP,
                    format!("root may not map the container's own IDs ({file})"),
                    NodeOp::Write {
                        path,
                        data: new.into_bytes(),
                        private: false,
                    },
                )
                .changes(vec![Change::new(
                    file,
                    None,
                    Some("root's line for id_maps"),
                )]),
            );
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gid33() -> IdMap {
        IdMap {
            kind: IdKind::Gid,
            container_id: 33,
            host_id: 33,
            size: 1,
        }
    }

    #[test]
    fn root_gets_the_host_range_once() {
        let have = "root:100000:65536\n";
        let new = updated(Some(have), &[gid33()], IdKind::Gid).expect("a line");
        assert_eq!(new, "root:100000:65536\nroot:33:1\n");
        assert_eq!(updated(Some(&new), &[gid33()], IdKind::Gid), None);
        assert_eq!(updated(Some(have), &[gid33()], IdKind::Uid), None);
        assert_eq!(
            updated(None, &[gid33()], IdKind::Gid).as_deref(),
            Some("root:100000:65536\nroot:33:1\n")
        );
        assert_eq!(
            updated(Some("root:0:1000\n"), &[gid33()], IdKind::Gid),
            None
        );
    }
}
