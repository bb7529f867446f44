//! Where a container's OS template is: volume ID, absolute path into a storage, or file name.
//!
//! The fixture writes templates as host paths
//! (`/fastData/shared-iso/template/cache/ubuntu-...tar.zst`); `pct create` and `pveam` want a
//! storage and a name, so the storage is found in `storage.cfg` by its `path`.

use std::path::Path;

pub use pve::storage_cfg::{parse as parse_storage_cfg, StorageDef};

/// The template as `(storage, file name)`.
pub fn resolve(value: &str, storages: &[StorageDef]) -> Result<(String, String), String> {
    if value.starts_with('/') {
        return from_path(value, storages);
    }
    if let Some((store, rest)) = value.split_once(':') {
        let name = rest.strip_prefix("vztmpl/").unwrap_or(rest);
        return Ok((store.to_string(), name.to_string()));
    }
    let store = storages
        .iter()
        .find(|s| s.content.iter().any(|c| c == "vztmpl"))
        .ok_or_else(|| format!("template '{value}' names no storage and storage.cfg has none with content 'vztmpl'"))?;
    Ok((store.id.clone(), value.to_string()))
}

fn from_path(value: &str, storages: &[StorageDef]) -> Result<(String, String), String> {
    let p = Path::new(value);
    for s in storages {
        let Some(base) = &s.path else { continue };
        let Ok(rest) = p.strip_prefix(base) else {
            continue;
        };
        if rest.parent() == Some(Path::new("template/cache")) {
            if let Some(name) = rest.file_name().and_then(|n| n.to_str()) {
                return Ok((s.id.clone(), name.to_string()));
            }
        }
    }
    Err(format!(
        "template path {value} is not in the template/cache folder of any storage in storage.cfg"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: disks\n\tpool tank/disks\n\tcontent rootdir\n\ndir: iso\n\tpath /fastData/shared-iso\n\tcontent iso,vztmpl\n";

    #[test]
    fn three_forms() {
        let s = parse_storage_cfg(CFG);
        assert_eq!(s.len(), 3);
        let t = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
        assert_eq!(
            resolve(&format!("/fastData/shared-iso/template/cache/{t}"), &s),
            Ok(("iso".into(), t.into()))
        );
        assert_eq!(
            resolve(&format!("iso:vztmpl/{t}"), &s),
            Ok(("iso".into(), t.into()))
        );
        assert_eq!(resolve(t, &s), Ok(("local".into(), t.into())));
        assert!(resolve("/elsewhere/x.tar.zst", &s).is_err());
    }
}
