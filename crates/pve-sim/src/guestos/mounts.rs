//! `mount`, `umount`, `mountpoint`, `mount.nfs`: a guest cannot mount anything here, so mounts
//! are records (`/run/pve-sim/mounts`, gone at the next boot like real mounts). NFS needs
//! `mount.nfs` (package nfs-common) and an export of the simulated host
//! (`$PVE_SIM_ROOT/host/etc/exports`) whose path is the one asked for; other file systems are
//! recorded as mounted. The container's bind mount points and `/` count as mount points.

use super::{Ctx, GuestFs};
use crate::host::Out;

const TABLE: &str = "/run/pve-sim/mounts";

fn mounted(fs: &GuestFs) -> Vec<(String, String, String)> {
    fs.read(TABLE)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split('\t').collect();
            (w.len() == 3).then(|| (w[0].to_string(), w[1].to_string(), w[2].to_string()))
        })
        .collect()
}

fn fstab_entry(fs: &GuestFs, target: &str) -> Option<(String, String, String)> {
    fs.read("/etc/fstab")?.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (!l.trim_start().starts_with('#') && w.len() >= 3 && (w[1] == target || w[0] == target))
            .then(|| (w[0].to_string(), w[1].to_string(), w[2].to_string()))
    })
}

/// Whether the simulated host serves `path` over NFS: an export itself, or a folder inside
/// one (NFS serves sub-folders of an export; `Some(false)`: inside an export but missing on
/// the host).
fn exported(ctx: &Ctx, path: &str) -> Option<bool> {
    let path = path.trim_end_matches('/');
    let exports: Vec<String> =
        std::fs::read_to_string(crate::state::process_host_dir(&ctx.state).join("etc/exports"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| {
                l.split_whitespace()
                    .next()
                    .map(|e| e.trim_end_matches('/').to_string())
            })
            .collect();
    if exports.iter().any(|e| e == path) {
        return Some(true);
    }
    let inside = exports.iter().any(|e| {
        path.strip_prefix(e.as_str())
            .is_some_and(|r| r.starts_with('/'))
    });
    if !inside {
        return None;
    }
    let rel = path.trim_start_matches('/');
    Some(
        crate::state::process_host_dir(&ctx.state)
            .join(rel)
            .is_dir(),
    )
}

fn mount_one(ctx: &Ctx, source: &str, target: &str, fstype: &str) -> Out {
    let fs = &ctx.fs;
    if !fs.path(target).is_dir() {
        return Out::err(32, format!("mount: {target}: mount point does not exist."));
    }
    if mounted(fs).iter().any(|(_, t, _)| t == target) {
        return Out::err(
            32,
            format!("mount: {target}: {source} already mounted on {target}."),
        );
    }
    if fstype.starts_with("nfs") {
        if !fs.exists("/usr/sbin/mount.nfs") {
            return Out::err(32, format!("mount: {target}: bad option; for several filesystems (e.g. nfs, cifs) you might need a /sbin/mount.<type> helper program."));
        }
        let path = source.split_once(':').map_or("", |x| x.1);
        match exported(ctx, path) {
            None => {
                return Out::err(
                    32,
                    format!("mount.nfs: access denied by server while mounting {source}"),
                )
            }
            Some(false) => {
                return Out::err(
                    32,
                    format!("mount.nfs: mounting {source} failed, reason given by server: No such file or directory"),
                )
            }
            Some(true) => {}
        }
    }
    let table = fs.read(TABLE).unwrap_or_default();
    match fs.write(
        TABLE,
        format!("{table}{source}\t{target}\t{fstype}\n").as_bytes(),
    ) {
        Ok(()) => Out::changed(""),
        Err(e) => Out::err(32, e.msg),
    }
}

pub fn run(ctx: &mut Ctx, name: &str, a: &[String]) -> Out {
    let args: Vec<&String> = a.iter().filter(|x| !x.starts_with('-')).collect();
    match name {
        "mountpoint" => {
            let quiet = a.iter().any(|x| x == "-q" || x == "--quiet");
            let Some(dir) = args.first() else {
                return Out::err(1, "mountpoint: bad usage");
            };
            let is = dir.as_str() == "/" || mounted(&ctx.fs).iter().any(|(_, t, _)| t == *dir);
            let text = format!("{dir} is {}a mountpoint\n", if is { "" } else { "not " });
            Out {
                code: if is { 0 } else { 32 },
                stdout: if quiet { String::new() } else { text },
                ..Out::default()
            }
        }
        "umount" => {
            let Some(t) = args.first() else {
                return Out::err(1, "umount: bad usage");
            };
            let all = mounted(&ctx.fs);
            if !all.iter().any(|(s, d, _)| d == *t || s == *t) {
                return Out::err(32, format!("umount: {t}: not mounted."));
            }
            let keep: String = all
                .iter()
                .filter(|(s, d, _)| d != *t && s != *t)
                .map(|(s, d, f)| format!("{s}\t{d}\t{f}\n"))
                .collect();
            match ctx.fs.write(TABLE, keep.as_bytes()) {
                Ok(()) => Out::changed(""),
                Err(e) => Out::err(32, e.msg),
            }
        }
        "mount.nfs" => match args.as_slice() {
            [src, dst, ..] => mount_one(ctx, src, dst, "nfs"),
            _ => Out::err(
                1,
                "usage: mount.nfs remotetarget dir [-rvVwfnsh] [-o nfsoptions]",
            ),
        },
        _ => {
            let ty = a
                .iter()
                .position(|x| x == "-t")
                .and_then(|i| a.get(i + 1))
                .cloned();
            let args: Vec<&String> = a
                .iter()
                .enumerate()
                .filter(|(i, x)| {
                    !x.starts_with('-') && !(*i > 0 && (a[i - 1] == "-t" || a[i - 1] == "-o"))
                })
                .map(|(_, x)| x)
                .collect();
            match args.as_slice() {
                [] => Out::ok(
                    mounted(&ctx.fs)
                        .iter()
                        .map(|(s, d, f)| format!("{s} on {d} type {f}\n"))
                        .collect::<String>(),
                ),
                [one] => match fstab_entry(&ctx.fs, one) {
                    Some((s, d, f)) => mount_one(ctx, &s, &d, &f),
                    None => Out::err(1, format!("mount: {one}: can't find in /etc/fstab.")),
                },
                [src, dst, ..] => mount_one(ctx, src, dst, ty.as_deref().unwrap_or("auto")),
            }
        }
    }
}

/// The guest's mounted NFS folders as bind mounts for its sandbox: a recorded mount of
/// `server:/path` shows the simulated host's `/path` (the only NFS server here) at its mount
/// point, so files the host puts in an export are seen in the guest, as on a real mount.
pub fn nfs_binds(node: &crate::state::Node, fs: &GuestFs) -> Vec<crate::sandbox::Bind> {
    mounted(fs)
        .into_iter()
        .filter(|(_, _, kind)| kind.starts_with("nfs"))
        .filter_map(|(src, target, _)| {
            let (_, path) = src.split_once(':')?;
            let host = node.rebase(path);
            let safe = path.starts_with('/') && !path.split('/').any(|c| c == "..");
            (safe && target.starts_with('/') && host.is_dir()).then_some((host, target))
        })
        .collect()
}
