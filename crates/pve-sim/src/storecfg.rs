//! `pvesm add`, `pvesm set`, `pvesm remove`: storage definitions in `storage.cfg`, with the rules
//! of pve-storage (`PVE::API2::Storage::Config`, the plugins' `options` and `plugindata`, and
//! `PVE::SectionConfig::check_config`): every option must belong to the storage type, required
//! options must be given on add, fixed ones cannot change, content types must be ones the type
//! supports, and an ID is defined once. Errors raised under the storage config lock carry the
//! API's prefix (`create storage failed: ...`).

use crate::state::{io_fail, Node};
use crate::storage::{create_store_dirs, Storage};
use crate::{fail, R};
use pve::spec::Call;

/// One option of a storage type: name, fixed (cannot change after add), optional.
type Opt = (&'static str, bool, bool);

const COMMON: &[Opt] = &[
    ("nodes", false, true),
    ("disable", false, true),
    ("content", false, true),
    ("bwlimit", false, true),
];

/// The options of each simulated storage type (pve-storage's `sub options`) and its content
/// types (`plugindata`).
fn plugin(t: &str) -> Option<(Vec<Opt>, &'static [&'static str])> {
    let (own, content): (&[Opt], &[&str]) = match t {
        "dir" => (
            &[
                ("path", true, false),
                ("content-dirs", false, true),
                ("shared", false, true),
                ("prune-backups", false, true),
                ("max-protected-backups", false, true),
                ("format", false, true),
                ("mkdir", false, true),
                ("create-base-path", false, true),
                ("create-subdirs", false, true),
                ("is_mountpoint", false, true),
                ("preallocation", false, true),
                ("snapshot-as-volume-chain", true, true),
            ],
            &[
                "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "none", "import",
            ],
        ),
        "zfspool" => (
            &[
                ("pool", true, false),
                ("blocksize", false, true),
                ("sparse", false, true),
                ("mountpoint", false, true),
            ],
            &["images", "rootdir"],
        ),
        "nfs" => (
            &[
                ("path", true, false),
                ("server", true, false),
                ("export", true, false),
                ("content-dirs", false, true),
                ("prune-backups", false, true),
                ("max-protected-backups", false, true),
                ("options", false, true),
                ("format", false, true),
                ("mkdir", false, true),
                ("create-base-path", false, true),
                ("create-subdirs", false, true),
                ("preallocation", false, true),
                ("snapshot-as-volume-chain", true, true),
            ],
            &[
                "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import",
            ],
        ),
        "lvmthin" => (
            &[("thinpool", true, false), ("vgname", true, false)],
            &["images", "rootdir"],
        ),
        "lvm" => (
            &[
                ("vgname", true, false),
                ("shared", false, true),
                ("saferemove", false, true),
                ("base", true, true),
                ("tagged_only", false, true),
            ],
            &["images", "rootdir"],
        ),
        _ => return None,
    };
    let mut opts = own.to_vec();
    opts.extend_from_slice(COMMON);
    Some((opts, content))
}

fn check_content(value: &str, allowed: &[&str]) -> R<String> {
    let all = [
        "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "none", "import",
    ];
    let mut keep = Vec::new();
    for c in value.split([',', ';', ' ']).filter(|c| !c.is_empty()) {
        if !all.contains(&c) {
            return Err(fail(format!("invalid content type '{c}'")));
        }
        if !allowed.contains(&c) {
            eprintln!("storage does not support content type '{c}'");
            continue;
        }
        if !keep.contains(&c) {
            keep.push(c);
        }
    }
    if keep.contains(&"none") && keep.len() > 1 {
        return Err(fail("unable to combine 'none' with other content types"));
    }
    if keep.is_empty() && !allowed.contains(&"none") {
        return Err(fail("storage does not support content type 'none'"));
    }
    Ok(keep.join(","))
}

/// The config options of the call (everything but the positional type/storage and `--delete`).
fn options(call: &Call) -> Vec<(String, String)> {
    call.options
        .iter()
        .filter(|(k, _)| k != "delete" && k != "digest")
        .cloned()
        .collect()
}

/// `PVE::SectionConfig::check_config`: known options, fixed ones unchanged, required present.
fn check(stype: &str, given: &[(String, String)], create: bool) -> R<Vec<(String, String)>> {
    let (opts, content) =
        plugin(stype).ok_or_else(|| fail(format!("unknown section type '{stype}'")))?;
    let mut out = Vec::new();
    for (k, v) in given {
        let def = opts.iter().find(|(n, _, _)| n == k);
        if !create && def.is_some_and(|d| d.1) {
            return Err(fail(format!("can't change value of fixed parameter '{k}'")));
        }
        if def.is_none() {
            return Err(fail(format!("unexpected property '{k}'")));
        }
        let v = if k == "content" {
            check_content(v, content)?
        } else {
            v.clone()
        };
        out.push((k.clone(), v));
    }
    if create {
        for (k, _, optional) in &opts {
            if !optional && !given.iter().any(|(g, _)| g == k) {
                return Err(fail(format!("missing value for required option '{k}'")));
            }
        }
    }
    Ok(out)
}

/// Runs `f` under the storage config lock; its errors get the API's prefix.
fn locked<T>(node: &Node, what: &str, f: impl FnOnce() -> R<T>) -> R<T> {
    let _g = node.lock_storage("config")?;
    f().map_err(|e| fail(format!("{what}: {}", e.msg)))
}

fn write(node: &Node, stores: &[Storage]) -> R<()> {
    create_store_dirs(node, stores)
}

pub fn add(node: &Node, call: &Call) -> R<i32> {
    let stype = call.arg("type").unwrap_or("");
    let id = call.arg("storage").unwrap_or("").to_string();
    let props = check(stype, &options(call), true)?;
    locked(node, "create storage failed", || {
        let mut stores = node.storages();
        if stores.iter().any(|s| s.id == id) {
            return Err(fail(format!("storage ID '{id}' already defined")));
        }
        // Activation (done on add to find problems early): a mount point must be mounted.
        if stype == "dir" {
            let path = props
                .iter()
                .find(|(k, _)| k == "path")
                .map(|(_, v)| v.clone());
            let mp = props
                .iter()
                .find(|(k, _)| k == "is_mountpoint")
                .map(|(_, v)| v.as_str());
            if let (Some(p), Some(m)) = (&path, mp) {
                let wants_mount = pve::spec::parse_bool(m).unwrap_or(true);
                let phys = node.rebase(p);
                if wants_mount && !phys.is_dir() {
                    return Err(fail(format!(
                        "unable to activate storage '{id}' - directory is expected to be a mount point but is not mounted: '{p}'"
                    )));
                }
            }
        }
        stores.push(Storage {
            id: id.clone(),
            stype: stype.to_string(),
            props,
        });
        write(node, &stores)
    })?;
    Ok(0)
}

pub fn set(node: &Node, call: &Call) -> R<i32> {
    let id = call.arg("storage").unwrap_or("").to_string();
    let delete: Vec<String> = call
        .opt("delete")
        .unwrap_or("")
        .split([',', ';', ' '])
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    locked(node, "update storage failed", || {
        let mut stores = node.storages();
        let Some(s) = stores.iter_mut().find(|s| s.id == id) else {
            return Err(fail(format!("storage '{id}' does not exist")));
        };
        let given = options(call);
        let (opts, _) =
            plugin(&s.stype).ok_or_else(|| fail(format!("unknown section type '{}'", s.stype)))?;
        for k in &delete {
            let d = opts
                .iter()
                .find(|(n, _, _)| n == k)
                .ok_or_else(|| fail(format!("no such option '{k}'")))?;
            if !d.2 {
                return Err(fail(format!("unable to delete required option '{k}'")));
            }
            if d.1 {
                return Err(fail(format!("unable to delete fixed option '{k}'")));
            }
            if given.iter().any(|(g, _)| g == k) {
                return Err(fail(format!(
                    "cannot set and delete property '{k}' at the same time!"
                )));
            }
        }
        let props = check(&s.stype, &given, false)?;
        for (k, v) in props {
            match s.props.iter_mut().find(|(a, _)| *a == k) {
                Some(p) => p.1 = v,
                None => s.props.push((k, v)),
            }
        }
        s.props.retain(|(k, _)| !delete.contains(k));
        write(node, &stores)
    })?;
    Ok(0)
}

pub fn remove(node: &Node, call: &Call) -> R<i32> {
    let id = call.arg("storage").unwrap_or("").to_string();
    locked(node, "delete storage failed", || {
        let mut stores = node.storages();
        let before = stores.len();
        stores.retain(|s| s.id != id);
        if stores.len() == before {
            return Err(fail(format!("storage '{id}' does not exist")));
        }
        // The storage's volumes stay where they are, as on a real node; only the link goes.
        let link = node.store_dir(&id);
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_symlink()) {
            std::fs::remove_file(&link).map_err(|e| io_fail(&link, e))?;
        }
        write(node, &stores)
    })?;
    Ok(0)
}
