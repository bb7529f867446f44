//! `/etc/pve/storage.cfg`: `<type>: <id>` headers, each followed by indented `key value` lines.
//! Read where a path or a content list is needed without asking Proxmox (`pvesm status`,
//! `pvesm path`): the file is the same answer, and reading it is no call.

use std::collections::BTreeMap;

/// One storage: ID, type and its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageDef {
    pub id: String,
    pub kind: String,
    /// `path` of dir-like storages (dir, nfs, cifs, ...).
    pub path: Option<String>,
    pub content: Vec<String>,
    /// Every other property, by name.
    pub props: BTreeMap<String, String>,
}

impl StorageDef {
    /// `disable` is set.
    pub fn disabled(&self) -> bool {
        self.props.get("disable").is_some_and(|v| v != "0")
    }

    /// Whether the storage holds `content` on `node` (`nodes` absent: every node).
    pub fn offers(&self, content: &str, node: &str) -> bool {
        let on_node = self
            .props
            .get("nodes")
            .is_none_or(|n| node == "localhost" || n.split(',').any(|x| x.trim() == node));
        !self.disabled() && on_node && self.content.iter().any(|c| c == content)
    }
}

/// Parses the file; unknown lines are skipped.
pub fn parse(text: &str) -> Vec<StorageDef> {
    let mut out: Vec<StorageDef> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            if let Some((kind, id)) = line.split_once(':') {
                out.push(StorageDef {
                    id: id.trim().to_string(),
                    kind: kind.trim().to_string(),
                    path: None,
                    content: Vec::new(),
                    props: BTreeMap::new(),
                });
            }
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        let mut kv = line.trim().splitn(2, char::is_whitespace);
        match (kv.next(), kv.next()) {
            (Some("path"), Some(p)) => cur.path = Some(p.trim().to_string()),
            (Some("content"), Some(c)) => {
                cur.content = c.split(',').map(|s| s.trim().to_string()).collect()
            }
            (Some(k), v) => {
                cur.props
                    .insert(k.to_string(), v.unwrap_or("1").trim().to_string());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storages_with_paths_content_and_flags() {
        let text = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,snippets\n\nzfspool: local-zfs\n\tpool rpool/data\n\tcontent images,rootdir\n\tsparse 1\n\ndir: old\n\tpath /old\n\tcontent snippets\n\tdisable\n";
        let s = parse(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].path.as_deref(), Some("/var/lib/vz"));
        assert!(s[0].offers("snippets", "pve"));
        assert!(!s[1].offers("snippets", "pve"));
        assert_eq!(
            s[1].props.get("pool").map(String::as_str),
            Some("rpool/data")
        );
        assert!(s[2].disabled() && !s[2].offers("snippets", "pve"));
    }
}
