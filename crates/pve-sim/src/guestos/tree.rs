//! A guest's file tree in the state folder, and the cheap copies that snapshots and clones make.
//!
//! `guests/<id>/rootfs` is the guest's root without `/usr`; `guests/<id>/usr` is the upper layer
//! of its `/usr` overlay (see [`crate::sandbox`]); `guests/<id>/.work` is overlayfs's work
//! folder. A snapshot keeps a copy of both under `guests/<id>/snapshots/<name>/`. Copies are made
//! with `cp -a --reflink=auto` (reflinks where the file system has them, else a real copy: hard
//! links would let an in-place write in one guest change the other's file).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::state::{io_fail, Kind, Node};
use crate::{fail, R};

/// The folders of one guest's file tree.
#[derive(Debug, Clone)]
pub struct Tree {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub usr: PathBuf,
    pub work: PathBuf,
}

impl Tree {
    pub fn of(node: &Node, id: u32) -> Tree {
        Tree::at(node.guest_dir(id))
    }
    fn at(dir: PathBuf) -> Tree {
        Tree {
            rootfs: dir.join("rootfs"),
            usr: dir.join("usr"),
            work: dir.join(".work"),
            dir,
        }
    }
    /// The saved tree of snapshot `name`.
    pub fn snapshot(node: &Node, id: u32, name: &str) -> Tree {
        Tree::at(node.guest_dir(id).join("snapshots").join(name))
    }
    pub fn exists(&self) -> bool {
        self.rootfs.is_dir()
    }
    /// Path mapping for code that edits the tree from outside the sandbox.
    pub fn fs(&self) -> super::GuestFs {
        super::GuestFs::outside(self)
    }
}

/// Creates the guest's tree from its image when it has none yet (a guest created before the
/// simulator kept trees, or one whose tree was removed).
pub fn ensure(node: &Node, id: u32) -> R<()> {
    let t = Tree::of(node, id);
    if t.exists() {
        return Ok(());
    }
    let kind = node.guest_kind(id).unwrap_or(Kind::Lxc);
    create(node, id, super::image::Flavour::of(kind))
}

/// A fresh tree: what the template or cloud image ships.
pub fn create(node: &Node, id: u32, flavour: super::image::Flavour) -> R<()> {
    let t = Tree::of(node, id);
    remove(&t);
    fs::create_dir_all(&t.rootfs).map_err(|e| io_fail(&t.rootfs, e))?;
    fs::create_dir_all(&t.usr).map_err(|e| io_fail(&t.usr, e))?;
    super::image::populate(&t.fs(), flavour)
}

fn remove(t: &Tree) {
    for p in [&t.rootfs, &t.usr, &t.work] {
        if p.exists() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// Copies `from` over `to` (both trees' `rootfs` and `usr`; `to` is replaced).
pub fn copy(from: &Tree, to: &Tree) -> R<()> {
    remove(to);
    fs::create_dir_all(&to.dir).map_err(|e| io_fail(&to.dir, e))?;
    for (a, b) in [(&from.rootfs, &to.rootfs), (&from.usr, &to.usr)] {
        if a.is_dir() {
            cp(a, b)?;
        }
    }
    Ok(())
}

fn cp(from: &Path, to: &Path) -> R<()> {
    let out = Command::new("cp")
        .args(["-a", "--reflink=auto", "--no-target-directory"])
        .arg(from)
        .arg(to)
        .output()
        .map_err(|e| fail(format!("cp: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "copying the guest tree {} failed: {}",
            from.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// `pct/qm snapshot`: keep a copy of the guest's tree as it is now.
pub fn save_snapshot(node: &Node, id: u32, name: &str) -> R<()> {
    ensure(node, id)?;
    let _lock = node.lock_global(&format!("exec-{id}"))?;
    copy(&Tree::of(node, id), &Tree::snapshot(node, id, name))
}

/// `rollback`: the guest's tree becomes the snapshot's again. A snapshot taken before trees
/// were kept has none: the tree is then left as it is.
pub fn rollback(node: &Node, id: u32, name: &str) -> R<()> {
    let snap = Tree::snapshot(node, id, name);
    if !snap.exists() {
        return Ok(());
    }
    let _lock = node.lock_global(&format!("exec-{id}"))?;
    copy(&snap, &Tree::of(node, id))
}

pub fn delete_snapshot(node: &Node, id: u32, name: &str) {
    let _ = fs::remove_dir_all(Tree::snapshot(node, id, name).dir);
}

/// `clone`: the new guest starts from the source's snapshot (or its current tree, for a
/// template).
pub fn clone(node: &Node, src: u32, snapshot: Option<&str>, dst: u32) -> R<()> {
    let from = match snapshot {
        Some(s) if Tree::snapshot(node, src, s).exists() => Tree::snapshot(node, src, s),
        _ => {
            ensure(node, src)?;
            Tree::of(node, src)
        }
    };
    let _lock = node.lock_global(&format!("exec-{src}"))?;
    copy(&from, &Tree::of(node, dst))?;
    // Snapshots are not cloned; the exec log and agent state belong to the source.
    Ok(())
}
