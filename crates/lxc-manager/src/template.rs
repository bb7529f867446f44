//! Where a container's OS template is on the node: the config gives a volume ID, an absolute
//! path into a storage, or a file name (`phoenix_config::TemplateSource`, split once by the
//! config).
//!
//! The fixture writes templates as host paths
//! (`/fastData/shared-iso/template/cache/ubuntu-...tar.zst`); `pct create` and `pveam` want a
//! storage and a name, so the storage is found in `storage.cfg` by its `path`.

use std::path::Path;

use phoenix_config::{types::TemplateRef, TemplateSource};
pub use pve::storage_cfg::{parse as parse_storage_cfg, StorageDef};

/// The template as `(storage, file name)`.
pub fn resolve(value: &TemplateRef, storages: &[StorageDef]) -> Result<(String, String), String> {
    match value.source() {
        TemplateSource::Path(p) => from_path(p, storages),
        TemplateSource::Volume { storage, name } => Ok((storage.to_string(), name.to_string())),
        TemplateSource::File(name) => {
            let store = storages
                .iter()
                .find(|s| s.content.iter().any(|c| c == "vztmpl"))
                .ok_or_else(|| format!("template '{name}' names no storage and storage.cfg has none with content 'vztmpl'"))?;
            Ok((store.id.clone(), name.to_string()))
        }
    }
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
        let r = |v: &str| resolve(&v.parse().expect("template"), &s);
        let t = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
        assert_eq!(
            r(&format!("/fastData/shared-iso/template/cache/{t}")),
            Ok(("iso".into(), t.into()))
        );
        assert_eq!(r(&format!("iso:vztmpl/{t}")), Ok(("iso".into(), t.into())));
        assert_eq!(r(t), Ok(("local".into(), t.into())));
        assert!(r("/elsewhere/x.tar.zst").is_err());
    }
}
