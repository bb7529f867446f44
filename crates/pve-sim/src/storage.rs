//! Storages (`etc/pve/storage.cfg`), volumes as files under `storage/<storeid>/`, and the
//! `pvesm` / `pveam` commands.

use crate::state::{atomic_write, io_fail, Node};
use crate::{fail, R};
use pve::output::{self, StorageStatus, TemplateEntry, VolumeEntry};
use pve::spec::Call;
use std::fs;
use std::path::PathBuf;

/// Capacity the simulator reports for every storage (1 TiB).
const CAPACITY: u64 = 1 << 40;

/// Built-in `pveam available` catalog: (section, template, size in bytes).
pub const CATALOG: &[(&str, &str, u64)] = &[
    (
        "system",
        "alpine-3.20-default_20240908_amd64.tar.xz",
        3_000_000,
    ),
    (
        "system",
        "debian-12-standard_12.7-1_amd64.tar.zst",
        126_000_000,
    ),
    (
        "system",
        "rockylinux-9-default_20240912_amd64.tar.xz",
        100_000_000,
    ),
    (
        "system",
        "ubuntu-22.04-standard_22.04-1_amd64.tar.zst",
        129_000_000,
    ),
    (
        "system",
        "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        141_000_000,
    ),
    (
        "turnkeylinux",
        "debian-12-turnkey-core_18.0-1_amd64.tar.gz",
        220_000_000,
    ),
];

/// One `storage.cfg` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub id: String,
    pub stype: String,
    pub props: Vec<(String, String)>,
}

impl Storage {
    /// `nodes` absent or naming `node` (storage.cfg's restriction).
    pub fn on_node(&self, node: &str) -> bool {
        self.prop("nodes")
            .is_none_or(|ns| ns.split(',').any(|n| n.trim() == node))
    }
    /// `shared 1`: every node sees the same volumes.
    pub fn shared(&self) -> bool {
        self.prop("shared") == Some("1")
    }
    pub fn prop(&self, k: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn content(&self) -> Vec<&str> {
        self.prop("content")
            .map(|c| c.split(',').map(str::trim).collect())
            .unwrap_or_default()
    }
    pub fn supports(&self, content: &str) -> bool {
        self.content().contains(&content)
    }
    pub fn is_dir(&self) -> bool {
        self.stype == "dir"
    }
}

/// Parse `storage.cfg`.
pub fn parse_cfg(text: &str) -> Vec<Storage> {
    let mut out: Vec<Storage> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with(|c: char| c.is_whitespace()) {
            if let Some(s) = out.last_mut() {
                let t = line.trim();
                let (k, v) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
                s.props.push((k.to_string(), v.trim().to_string()));
            }
        } else if let Some((t, id)) = line.split_once(':') {
            out.push(Storage {
                id: id.trim().to_string(),
                stype: t.trim().to_string(),
                props: Vec::new(),
            });
        }
    }
    out
}

/// Format `storage.cfg`.
pub fn format_cfg(stores: &[Storage]) -> String {
    let mut out = String::new();
    for (i, s) in stores.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}: {}\n", s.stype, s.id));
        for (k, v) in &s.props {
            out.push_str(&format!("\t{k} {v}\n"));
        }
    }
    out
}

impl Node {
    pub fn storages(&self) -> Vec<Storage> {
        fs::read_to_string(self.pve_dir().join("storage.cfg"))
            .map(|t| parse_cfg(&t))
            .unwrap_or_default()
    }

    pub fn storage(&self, id: &str) -> R<Storage> {
        let s = self
            .storages()
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| fail(format!("storage '{id}' does not exist")))?;
        // pve-storage's `storage_check_node`.
        if self.is_cluster() && !s.on_node(&self.name) {
            return Err(fail(format!(
                "storage '{id}' is not available on node '{}'",
                self.name
            )));
        }
        Ok(s)
    }

    /// Physical folder of a storage (`storage/<id>`; a symlink for dir storages outside the root).
    pub fn store_dir(&self, id: &str) -> PathBuf {
        self.root.join("storage").join(id)
    }

    /// Physical file of a volume id `store:name`.
    pub fn volume_file(&self, volid: &str) -> R<PathBuf> {
        let (store, name) = volid
            .split_once(':')
            .ok_or_else(|| fail(format!("unable to parse volume ID '{volid}'")))?;
        let s = self.storage(store)?;
        if name.contains("..") || name.starts_with('/') {
            return Err(fail(format!("unable to parse volume ID '{volid}'")));
        }
        let dir = self.store_dir(&s.id);
        Ok(if let Some(t) = name.strip_prefix("vztmpl/") {
            dir.join("template/cache").join(t)
        } else if let Some(t) = name.strip_prefix("iso/") {
            dir.join("template/iso").join(t)
        } else if let Some(t) = name.strip_prefix("snippets/") {
            dir.join("snippets").join(t)
        } else if let Some(t) = name.strip_prefix("backup/") {
            dir.join("dump").join(t)
        } else if s.is_dir() {
            dir.join("images").join(name)
        } else {
            dir.join(name)
        })
    }

    /// The path Proxmox would print for a volume (`pvesm path`).
    pub fn volume_path(&self, volid: &str) -> R<String> {
        let (store, name) = volid
            .split_once(':')
            .ok_or_else(|| fail(format!("unable to parse volume ID '{volid}'")))?;
        let s = self.storage(store)?;
        let base = if s.is_dir() {
            s.prop("path").unwrap_or("").to_string()
        } else {
            format!("/{}", s.prop("pool").unwrap_or(store))
        };
        Ok(if let Some(t) = name.strip_prefix("vztmpl/") {
            format!("{base}/template/cache/{t}")
        } else if let Some(t) = name.strip_prefix("iso/") {
            format!("{base}/template/iso/{t}")
        } else if let Some(t) = name.strip_prefix("snippets/") {
            format!("{base}/snippets/{t}")
        } else if s.is_dir() {
            format!("{base}/images/{name}")
        } else if name.starts_with("subvol-") || name.starts_with("basevol-") {
            format!("{base}/{name}")
        } else {
            format!("/dev/zvol{base}/{name}")
        })
    }

    /// Allocate a new disk volume for guest `vmid` on `store` (per-storage lock held).
    /// `ct`: container root/mount point (`subvol-` on zfspool); else VM image.
    pub fn alloc_disk(&self, store: &str, vmid: u32, ct: bool, size: u64) -> R<String> {
        let s = self.storage(store)?;
        let needed = if ct { "rootdir" } else { "images" };
        if !s.supports(needed) {
            return Err(fail(format!(
                "storage '{store}' does not support {}",
                if ct {
                    "container directories"
                } else {
                    "vm images"
                }
            )));
        }
        let _g = self.lock_storage(store)?;
        for n in 0.. {
            let name = if s.is_dir() {
                format!("{vmid}/vm-{vmid}-disk-{n}.raw")
            } else if ct {
                format!("subvol-{vmid}-disk-{n}")
            } else {
                format!("vm-{vmid}-disk-{n}")
            };
            let volid = format!("{store}:{name}");
            let file = self.volume_file(&volid)?;
            if file.exists() {
                continue;
            }
            create_sized(&file, size)?;
            return Ok(volid);
        }
        Err(fail("unable to allocate volume"))
    }

    /// Allocate a named volume (`vm-100-cloudinit`, `pvesm alloc`).
    pub fn alloc_named(&self, store: &str, vmid: u32, name: &str, size: u64) -> R<String> {
        let s = self.storage(store)?;
        let _g = self.lock_storage(store)?;
        let name = if s.is_dir() && !name.contains('/') {
            format!("{vmid}/{name}")
        } else {
            name.to_string()
        };
        let volid = format!("{store}:{name}");
        let file = self.volume_file(&volid)?;
        if file.exists() {
            return Err(fail(format!("volume '{volid}' already exists")));
        }
        create_sized(&file, size)?;
        Ok(volid)
    }

    /// Size of a volume file.
    pub fn volume_size(&self, volid: &str) -> Option<u64> {
        fs::metadata(self.volume_file(volid).ok()?)
            .ok()
            .map(|m| m.len())
    }

    /// Remove a volume file (missing is fine).
    pub fn free_volume(&self, volid: &str) {
        if let Ok(f) = self.volume_file(volid) {
            let _ = fs::remove_file(&f);
        }
    }

    /// All volumes of a storage: `(volid, content, size, vmid)`.
    pub fn list_volumes(&self, s: &Storage) -> Vec<VolumeEntry> {
        let dir = self.store_dir(&s.id);
        let mut out = Vec::new();
        let files = |sub: &str| -> Vec<(String, u64)> {
            let mut v: Vec<(String, u64)> = fs::read_dir(dir.join(sub))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_file())
                .filter_map(|e| {
                    Some((
                        e.file_name().to_str()?.to_string(),
                        e.metadata().ok()?.len(),
                    ))
                })
                .collect();
            v.sort();
            v
        };
        let vmid_of = |name: &str| -> Option<u32> {
            let rest = name
                .strip_prefix("vm-")
                .or_else(|| name.strip_prefix("subvol-"))
                .or_else(|| name.strip_prefix("base-"))
                .or_else(|| name.strip_prefix("basevol-"))?;
            rest.split('-').next()?.parse().ok()
        };
        let image_entry = |name: String, size: u64, volid: String| VolumeEntry {
            format: if name.starts_with("subvol-") {
                "subvol".to_string()
            } else {
                "raw".to_string()
            },
            content: if name.starts_with("subvol-") {
                "rootdir".to_string()
            } else {
                "images".to_string()
            },
            vmid: vmid_of(&name),
            size,
            volid,
        };
        if s.is_dir() {
            let mut ids: Vec<String> = fs::read_dir(dir.join("images"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect();
            ids.sort();
            for id in ids {
                for (n, size) in files(&format!("images/{id}")) {
                    let volid = format!("{}:{id}/{n}", s.id);
                    out.push(image_entry(n, size, volid));
                }
            }
        } else {
            for (n, size) in files("") {
                let volid = format!("{}:{n}", s.id);
                out.push(image_entry(n, size, volid));
            }
        }
        for (sub, content, prefix) in [
            ("template/cache", "vztmpl", "vztmpl"),
            ("template/iso", "iso", "iso"),
            ("snippets", "snippets", "snippets"),
        ] {
            for (n, size) in files(sub) {
                out.push(VolumeEntry {
                    volid: format!("{}:{prefix}/{n}", s.id),
                    format: n.rsplit('.').next().unwrap_or("raw").to_string(),
                    content: content.to_string(),
                    size,
                    vmid: None,
                });
            }
        }
        out
    }
}

/// Create a sparse file of `size` bytes.
pub fn create_sized(file: &std::path::Path, size: u64) -> R<()> {
    if let Some(d) = file.parent() {
        fs::create_dir_all(d).map_err(|e| io_fail(d, e))?;
    }
    let f = fs::File::create(file).map_err(|e| io_fail(file, e))?;
    f.set_len(size).map_err(|e| io_fail(file, e))
}

/// `pvesm ...`
pub fn pvesm(node: &Node, call: &Call) -> R<i32> {
    match call.command.as_str() {
        "status" => {
            let mut rows = Vec::new();
            let mut stores = node.storages();
            stores.sort_by(|a, b| a.id.cmp(&b.id));
            for s in stores {
                if call.opt("storage").is_some_and(|x| x != s.id) {
                    continue;
                }
                if let Some(c) = call.opt("content") {
                    if !c.split(',').all(|c| s.supports(c)) {
                        continue;
                    }
                }
                let disabled = s.prop("disable").is_some();
                if call.flag("enabled") && disabled {
                    continue;
                }
                let used: u64 = node.list_volumes(&s).iter().map(|v| v.size).sum();
                let used = used.min(CAPACITY);
                rows.push(StorageStatus {
                    name: s.id.clone(),
                    storage_type: s.stype.clone(),
                    status: if disabled { "disabled" } else { "active" }.to_string(),
                    total_kib: CAPACITY / 1024,
                    used_kib: used / 1024,
                    avail_kib: (CAPACITY - used) / 1024,
                    percent: if disabled {
                        None
                    } else {
                        Some(used as f64 * 100.0 / CAPACITY as f64)
                    },
                });
            }
            if let Some(id) = call.opt("storage") {
                if rows.is_empty() {
                    return Err(fail(format!("storage '{id}' does not exist")));
                }
            }
            print!("{}", output::format_pvesm_status(&rows));
            Ok(0)
        }
        "list" => {
            let s = node.storage(call.arg("storage").unwrap_or(""))?;
            let rows: Vec<VolumeEntry> = node
                .list_volumes(&s)
                .into_iter()
                .filter(|v| call.opt("content").is_none_or(|c| c == v.content))
                .filter(|v| {
                    call.opt("vmid")
                        .is_none_or(|id| v.vmid.map(|x| x.to_string()).as_deref() == Some(id))
                })
                .collect();
            print!("{}", output::format_pvesm_list(&rows));
            Ok(0)
        }
        "path" => {
            let volid = call.arg("volume").unwrap_or("");
            println!("{}", node.volume_path(volid)?);
            Ok(0)
        }
        "alloc" => {
            let store = call.arg("storage").unwrap_or("");
            let vmid: u32 = call.arg("vmid").and_then(|v| v.parse().ok()).unwrap_or(0);
            let name = call.arg("filename").unwrap_or("");
            let size = call.arg("size").unwrap_or("0");
            // pvesm alloc sizes are KiB unless suffixed (M/G).
            let bytes = match size.chars().last() {
                Some('M') | Some('G') => pve::propstring::parse_size(size),
                _ => size.parse::<u64>().ok().map(|k| k * 1024),
            }
            .ok_or_else(|| fail(format!("invalid size '{size}'")))?;
            let s = node.storage(store)?;
            let volid = if name.is_empty() {
                node.alloc_disk(store, vmid, false, bytes)?
            } else {
                if !name.contains(&format!("-{vmid}-")) {
                    return Err(fail(format!(
                        "illegal name '{name}' - should be 'vm-{vmid}-*'"
                    )));
                }
                let _ = s;
                node.alloc_named(store, vmid, name, bytes)?
            };
            println!("successfully created '{volid}'");
            Ok(0)
        }
        "add" => crate::storecfg::add(node, call),
        "set" => crate::storecfg::set(node, call),
        "remove" => crate::storecfg::remove(node, call),
        other => Err(fail(format!("pve-sim: 'pvesm {other}' is not simulated"))),
    }
}

/// `pveam ...`
pub fn pveam(node: &Node, call: &Call) -> R<i32> {
    match call.command.as_str() {
        "list" => {
            let s = node.storage(call.arg("storage").unwrap_or(""))?;
            let rows: Vec<TemplateEntry> = node
                .list_volumes(&s)
                .into_iter()
                .filter(|v| v.content == "vztmpl")
                .map(|v| TemplateEntry {
                    volid: v.volid,
                    size_mb: v.size as f64 / (1024.0 * 1024.0),
                })
                .collect();
            print!("{}", output::format_pveam_list(&rows));
            Ok(0)
        }
        "available" => {
            let rows: Vec<(String, String)> = CATALOG
                .iter()
                .filter(|(sec, _, _)| call.opt("section").is_none_or(|s| s == *sec))
                .map(|(s, t, _)| (s.to_string(), t.to_string()))
                .collect();
            print!("{}", output::format_pveam_available(&rows));
            Ok(0)
        }
        "update" => {
            println!("update successful");
            Ok(0)
        }
        "download" => {
            let store = call.arg("storage").unwrap_or("");
            let tmpl = call.arg("template").unwrap_or("");
            let s = node.storage(store)?;
            let Some((_, _, size)) = CATALOG.iter().find(|(_, t, _)| *t == tmpl) else {
                return Err(fail(
                    "400 Parameter verification failed.
template: no such template",
                ));
            };
            if !s.supports("vztmpl") {
                return Err(fail(format!(
                    "storage '{store}' does not support templates"
                )));
            }
            let file = node.volume_file(&format!("{store}:vztmpl/{tmpl}"))?;
            let _g = node.lock_storage(store)?;
            if file.exists() {
                println!("file {} exists - skip download", file.display());
                return Ok(0);
            }
            create_sized(&file, *size)?;
            println!("downloading {tmpl} to {}", file.display());
            println!("TASK OK");
            Ok(0)
        }
        "remove" => {
            let volid = call.arg("template_path").unwrap_or("");
            let file = node.volume_file(volid)?;
            fs::remove_file(&file).map_err(|e| io_fail(&file, e))?;
            Ok(0)
        }
        other => Err(fail(format!("pve-sim: 'pveam {other}' is not simulated"))),
    }
}

/// Storages for `pve-sim init`: `local` plus one per `zfs.datasets[]` entry (or `local-zfs`).
pub fn init_storages(
    root: &std::path::Path,
    config: Option<&serde_json::Value>,
) -> R<Vec<Storage>> {
    let mut out = vec![Storage {
        id: "local".to_string(),
        stype: "dir".to_string(),
        props: vec![
            (
                "path".to_string(),
                root.join("storage/local").display().to_string(),
            ),
            (
                "content".to_string(),
                "iso,vztmpl,backup,snippets".to_string(),
            ),
        ],
    }];
    let datasets = config
        .and_then(|c| c.pointer("/zfs/datasets"))
        .and_then(|d| d.as_array());
    match (config, datasets) {
        (None, _) => out.push(Storage {
            id: "local-zfs".to_string(),
            stype: "zfspool".to_string(),
            props: vec![
                ("pool".to_string(), "rpool/data".to_string()),
                ("content".to_string(), "images,rootdir".to_string()),
                ("sparse".to_string(), "1".to_string()),
            ],
        }),
        (Some(_), None) => {}
        (Some(_), Some(ds)) => {
            for d in ds {
                let get = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let (pool, name) = (get("pool"), get("name"));
                if pool.is_empty() || name.is_empty() {
                    return Err(fail("zfs.datasets[] entry without pool or name"));
                }
                let id = format!("{pool}-{name}");
                if out.iter().any(|s| s.id == id) {
                    continue;
                }
                let stype = match get("proxmox_storage_type") {
                    "" => "zfspool",
                    t => t,
                };
                let content = get("proxmox_content_type");
                let mut props = Vec::new();
                if stype == "dir" {
                    props.push(("path".to_string(), format!("/{pool}/{name}")));
                } else {
                    props.push(("pool".to_string(), format!("{pool}/{name}")));
                }
                if !content.is_empty() {
                    props.push(("content".to_string(), content.to_string()));
                }
                if stype == "zfspool" {
                    props.push(("sparse".to_string(), "1".to_string()));
                }
                out.push(Storage {
                    id,
                    stype: stype.to_string(),
                    props,
                });
            }
        }
    }
    cluster_storages(&mut out, config);
    Ok(out)
}

/// `cluster.storages` of the hypervisor config: `nodes` restrictions and `shared` flags on
/// the storages made above; a storage only listed there becomes a shared `dir` storage under
/// `/mnt/pve/<id>` (an NFS mount on a real cluster).
fn cluster_storages(out: &mut Vec<Storage>, config: Option<&serde_json::Value>) {
    let Some(sites) = config
        .and_then(|c| c.pointer("/cluster/storages"))
        .and_then(|s| s.as_object())
    else {
        return;
    };
    for (id, site) in sites {
        let shared = site.get("shared").and_then(|v| v.as_bool()) == Some(true);
        let nodes: Vec<&str> = site
            .get("nodes")
            .and_then(|n| n.as_array())
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .collect();
        if !out.iter().any(|s| &s.id == id) {
            out.push(Storage {
                id: id.clone(),
                stype: "dir".to_string(),
                props: vec![
                    ("path".to_string(), format!("/mnt/pve/{id}")),
                    (
                        "content".to_string(),
                        "images,rootdir,vztmpl,iso,snippets".to_string(),
                    ),
                ],
            });
        }
        let Some(s) = out.iter_mut().find(|s| &s.id == id) else {
            continue;
        };
        if shared && s.stype == "dir" {
            s.props.push(("shared".to_string(), "1".to_string()));
        }
        if !nodes.is_empty() {
            s.props.push(("nodes".to_string(), nodes.join(",")));
        }
    }
}

/// Create each storage's folder; dir storages outside the root live under `<root>/host/<path>`
/// with `storage/<id>` a symlink to it.
pub fn create_store_dirs(node: &Node, stores: &[Storage]) -> R<()> {
    for s in stores {
        let link = node.store_dir(&s.id);
        let path = s.prop("path").filter(|_| s.is_dir());
        match path {
            Some(p) if !std::path::Path::new(p).starts_with(&node.root) => {
                let phys = node.rebase(p);
                fs::create_dir_all(&phys).map_err(|e| io_fail(&phys, e))?;
                if fs::symlink_metadata(&link).is_err() {
                    if let Some(d) = link.parent() {
                        fs::create_dir_all(d).map_err(|e| io_fail(d, e))?;
                    }
                    std::os::unix::fs::symlink(&phys, &link).map_err(|e| io_fail(&link, e))?;
                }
            }
            _ => fs::create_dir_all(&link).map_err(|e| io_fail(&link, e))?,
        }
    }
    atomic_write(
        &node.pve_dir().join("storage.cfg"),
        format_cfg(stores).as_bytes(),
    )
}
