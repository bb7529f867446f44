//! Guest config files (`/etc/pve/lxc/<id>.conf`, `/etc/pve/qemu-server/<id>.conf`).
//!
//! The file is a list of sections: the current config, then `[pve:pending]` (or `[PENDING]`,
//! `[special:...]`) and one `[name]` section per snapshot. Lines are `key: value`, raw LXC
//! keys (`lxc.cgroup2.devices.allow: a`, also `lxc.key = value`), and `#` comments holding the
//! description (percent-encoded like Proxmox's `encode_text`).
//!
//! Every line keeps its original bytes: parsing then [`Conf::to_string`] gives the input back,
//! and changing one key rewrites only that line. New keys are inserted in sorted position, as
//! Proxmox writes them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Entry { key: String, value: String },
    Comment,
    Blank,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    raw: String,
    kind: Kind,
}

impl Line {
    fn entry(key: &str, value: &str) -> Self {
        Line {
            raw: format!("{key}: {value}\n"),
            kind: Kind::Entry {
                key: key.to_string(),
                value: value.to_string(),
            },
        }
    }
    fn ending(&self) -> &str {
        if self.raw.ends_with("\r\n") {
            "\r\n"
        } else if self.raw.ends_with('\n') {
            "\n"
        } else {
            ""
        }
    }
    fn key(&self) -> Option<&str> {
        match &self.kind {
            Kind::Entry { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn parse_line(raw: &str) -> Line {
    let text = raw.trim_end_matches(['\n', '\r']);
    let kind = if text.trim().is_empty() {
        Kind::Blank
    } else if text.starts_with('#') {
        Kind::Comment
    } else if text.starts_with("lxc.") {
        match text.find([':', '=']) {
            Some(pos) => Kind::Entry {
                key: text[..pos].trim().to_string(),
                value: text[pos + 1..].trim().to_string(),
            },
            None => Kind::Other,
        }
    } else {
        match text.split_once(':') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Kind::Entry {
                    key: k.to_string(),
                    value: v.trim().to_string(),
                }
            }
            _ => Kind::Other,
        }
    };
    Line {
        raw: raw.to_string(),
        kind,
    }
}

fn is_unused(k: &str) -> bool {
    k.strip_prefix("unused")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The buses of QEMU disk keys (`scsi0`, `virtio1`, `sata2`, `ide3`), in the order Phoenix
/// looks for a boot disk. The one list: the CLI spec's `(ide|sata|scsi|virtio)\d+` format and the
/// VM manager read it.
pub const QEMU_DISK_BUSES: &[&str] = &["scsi", "virtio", "sata", "ide"];

/// Whether `key` is a QEMU disk key (`scsi0`, not `scsihw`).
pub fn is_qemu_disk_key(key: &str) -> bool {
    QEMU_DISK_BUSES.iter().any(|b| {
        key.strip_prefix(b)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
    })
}

/// Percent-encode control and non-ASCII bytes (Proxmox `encode_text`).
pub fn encode_text(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverse of [`encode_text`] (invalid escapes are kept literally).
pub fn decode_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One section: the main config, pending changes, or a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    name: Option<String>,
    header: Option<String>,
    lines: Vec<Line>,
}

impl Section {
    /// `None` for the main section, else the name between brackets.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this section is a snapshot (not main, not pending/special).
    pub fn is_snapshot(&self) -> bool {
        match &self.name {
            Some(n) => !n.contains(':') && n != "PENDING",
            None => false,
        }
    }

    /// First value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| match &l.kind {
            Kind::Entry { key: k, value } if k == key => Some(value.as_str()),
            _ => None,
        })
    }

    /// Set `key`: rewrite its line in place, or insert a line in sorted position.
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some(l) = self.lines.iter_mut().find(|l| l.key() == Some(key)) {
            let ending = l.ending().to_string();
            let ending = if ending.is_empty() { "\n" } else { &ending };
            l.raw = format!("{key}: {value}{ending}");
            l.kind = Kind::Entry {
                key: key.to_string(),
                value: value.to_string(),
            };
            return;
        }
        let line = Line::entry(key, value);
        let is_lxc = key.starts_with("lxc.");
        let pos = if is_lxc {
            self.end_of_content()
        } else {
            self.lines
                .iter()
                .position(|l| l.key().is_some_and(|k| k.starts_with("lxc.") || k > key))
                .unwrap_or_else(|| self.end_of_content())
        };
        self.insert_line(pos, line);
    }

    fn insert_line(&mut self, pos: usize, line: Line) {
        // Make sure the previous line ends with a newline.
        if pos > 0 {
            if let Some(prev) = self.lines.get_mut(pos - 1) {
                if prev.ending().is_empty() {
                    prev.raw.push('\n');
                }
            }
        }
        self.lines.insert(pos, line);
    }

    /// Index after the last non-blank line.
    fn end_of_content(&self) -> usize {
        self.lines
            .iter()
            .rposition(|l| l.kind != Kind::Blank)
            .map_or(0, |p| p + 1)
    }

    /// Remove every line of `key`; returns whether one existed.
    pub fn delete(&mut self, key: &str) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| l.key() != Some(key));
        before != self.lines.len()
    }

    /// `(key, value)` of all entries (raw `lxc.*` included), in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|l| match &l.kind {
            Kind::Entry { key, value } => Some((key.as_str(), value.as_str())),
            _ => None,
        })
    }

    /// Entries `<prefix><n>` (`net0`, `mp3`) as `(n, value)`, sorted by index.
    pub fn indexed(&self, prefix: &str) -> Vec<(u32, &str)> {
        let mut v: Vec<(u32, &str)> = self
            .entries()
            .filter_map(|(k, val)| {
                let rest = k.strip_prefix(prefix)?;
                if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                Some((rest.parse().ok()?, val))
            })
            .collect();
        v.sort_by_key(|(n, _)| *n);
        v
    }

    /// Raw LXC entries (`lxc.apparmor.profile`, ...) in order; keys may repeat.
    pub fn lxc_entries(&self) -> Vec<(&str, &str)> {
        self.entries()
            .filter(|(k, _)| k.starts_with("lxc."))
            .collect()
    }

    /// Append a raw LXC entry (after the last one), written `key: value`.
    pub fn add_lxc(&mut self, key: &str, value: &str) {
        let pos = self
            .lines
            .iter()
            .rposition(|l| l.key().is_some_and(|k| k.starts_with("lxc.")))
            .map_or_else(|| self.end_of_content(), |p| p + 1);
        self.insert_line(pos, Line::entry(key, value));
    }

    /// The description (decoded `#` comment lines joined with `\n`), if any.
    pub fn description(&self) -> Option<String> {
        let lines: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l.kind == Kind::Comment)
            .map(|l| decode_text(&l.raw.trim_end_matches(['\n', '\r'])[1..]))
            .collect();
        if lines.is_empty() {
            None
        } else {
            Some(lines.join("\n"))
        }
    }

    /// Replace the description (comment lines at the top of the section); `None` removes it.
    pub fn set_description(&mut self, text: Option<&str>) {
        self.lines.retain(|l| l.kind != Kind::Comment);
        if let Some(t) = text {
            let new: Vec<Line> = t
                .split('\n')
                .map(|l| Line {
                    raw: format!("#{}\n", encode_text(l)),
                    kind: Kind::Comment,
                })
                .collect();
            self.lines.splice(0..0, new);
        }
    }

    fn content_without(&self, skip: &[&str]) -> Vec<(String, String)> {
        self.entries()
            .filter(|(k, _)| !skip.contains(k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A parsed guest config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    sections: Vec<Section>,
}

impl Default for Conf {
    fn default() -> Self {
        Conf {
            sections: vec![Section::default()],
        }
    }
}

impl std::str::FromStr for Conf {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Conf::parse(s))
    }
}

impl Conf {
    /// Parse a config file. Never fails: unknown lines are kept verbatim.
    pub fn parse(text: &str) -> Conf {
        let mut sections = vec![Section::default()];
        for raw in text.split_inclusive('\n') {
            let t = raw.trim_end_matches(['\n', '\r']).trim();
            if t.len() >= 2 && t.starts_with('[') && t.ends_with(']') {
                sections.push(Section {
                    name: Some(t[1..t.len() - 1].to_string()),
                    header: Some(raw.to_string()),
                    lines: Vec::new(),
                });
                continue;
            }
            let line = parse_line(raw);
            if let Some(s) = sections.last_mut() {
                s.lines.push(line);
            }
        }
        Conf { sections }
    }

    /// The current config.
    pub fn main(&self) -> &Section {
        &self.sections[0]
    }
    pub fn main_mut(&mut self) -> &mut Section {
        &mut self.sections[0]
    }
    /// Value of `key` in the current config.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.main().get(key)
    }
    /// Set `key` in the current config.
    pub fn set(&mut self, key: &str, value: &str) {
        self.main_mut().set(key, value)
    }
    /// Delete `key` from the current config.
    pub fn delete(&mut self, key: &str) -> bool {
        self.main_mut().delete(key)
    }
    /// Entries of the current config.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.main().entries()
    }
    /// Indexed entries of the current config (`indexed("net")`).
    pub fn indexed(&self, prefix: &str) -> Vec<(u32, &str)> {
        self.main().indexed(prefix)
    }
    /// Raw LXC entries of the current config.
    pub fn lxc_entries(&self) -> Vec<(&str, &str)> {
        self.main().lxc_entries()
    }
    /// Description of the current config.
    pub fn description(&self) -> Option<String> {
        self.main().description()
    }

    /// Any section by name (`None` = main).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
    }

    /// `[pve:pending]` / `[PENDING]`, if present.
    pub fn pending(&self) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| matches!(s.name.as_deref(), Some("pve:pending") | Some("PENDING")))
    }

    /// Snapshot names in file order.
    pub fn snapshots(&self) -> Vec<&str> {
        self.sections
            .iter()
            .filter(|s| s.is_snapshot())
            .filter_map(|s| s.name.as_deref())
            .collect()
    }

    /// A snapshot section.
    pub fn snapshot(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.is_snapshot() && s.name.as_deref() == Some(name))
    }

    fn push_section(&mut self, name: &str, mut body: Section) {
        if let Some(last) = self.sections.last_mut() {
            if let Some(l) = last.lines.last_mut() {
                if l.ending().is_empty() {
                    l.raw.push('\n');
                }
            }
            if last.lines.last().is_none_or(|l| l.kind != Kind::Blank) {
                last.lines.push(Line {
                    raw: "\n".to_string(),
                    kind: Kind::Blank,
                });
            }
        }
        body.name = Some(name.to_string());
        body.header = Some(format!("[{name}]\n"));
        self.sections.push(body);
    }

    /// Add snapshot `name` holding the current config (as Proxmox: without the description,
    /// `lock` and `unusedN`; its `parent` is the current `parent`; plus `snaptime`; the
    /// snapshot's own description is `description`), and point the top-level `parent:` to it.
    /// Returns `false` if the name exists.
    pub fn add_snapshot(&mut self, name: &str, snaptime: u64, description: Option<&str>) -> bool {
        if self.snapshot(name).is_some() {
            return false;
        }
        let mut entries: Vec<(String, String)> = self
            .main()
            .content_without(&["lock", "snaptime", "snapstate", "vmstate"])
            .into_iter()
            .filter(|(k, _)| !is_unused(k))
            .collect();
        entries.push(("snaptime".to_string(), snaptime.to_string()));
        let (mut lxc, mut keys): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|(k, _)| k.starts_with("lxc."));
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys.append(&mut lxc);
        let mut body = Section::default();
        if let Some(d) = description {
            body.set_description(Some(d));
        }
        for (k, v) in keys {
            body.lines.push(Line::entry(&k, &v));
        }
        self.push_section(name, body);
        self.set("parent", name);
        true
    }

    /// Remove snapshot `name`, re-linking children and the top-level `parent:` to its parent.
    pub fn remove_snapshot(&mut self, name: &str) -> bool {
        let Some(pos) = self
            .sections
            .iter()
            .position(|s| s.is_snapshot() && s.name.as_deref() == Some(name))
        else {
            return false;
        };
        let removed = self.sections.remove(pos);
        let grand = removed.get("parent").map(str::to_string);
        for s in self.sections.iter_mut() {
            if s.name
                .as_deref()
                .is_some_and(|n| n.contains(':') || n == "PENDING")
            {
                continue;
            }
            if s.get("parent") == Some(name) {
                match &grand {
                    Some(g) => s.set("parent", g),
                    None => {
                        s.delete("parent");
                    }
                }
            }
        }
        // The removed section was last: drop the blank separator left at the end of the file.
        if pos == self.sections.len() {
            if let Some(last) = self.sections.last_mut() {
                while last.lines.last().is_some_and(|l| l.kind == Kind::Blank) {
                    last.lines.pop();
                }
            }
        }
        true
    }

    /// Replace the current config with snapshot `name`, as Proxmox's `snapshot_rollback`: the
    /// snapshot's keys (without `snaptime`, `vmstate`) replace the current ones; the current
    /// description and `unusedN` disks stay; `parent: name`.
    pub fn rollback(&mut self, name: &str) -> bool {
        let Some(snap) = self.snapshot(name) else {
            return false;
        };
        let entries: Vec<(String, String)> = snap
            .content_without(&["snaptime", "snapstate", "parent", "vmstate"])
            .into_iter()
            .filter(|(k, _)| !is_unused(k))
            .collect();
        let main = self.main_mut();
        let blank_tail = main.lines.last().is_some_and(|l| l.kind == Kind::Blank);
        main.lines
            .retain(|l| l.kind == Kind::Comment || l.key().is_some_and(is_unused));
        for (k, v) in &entries {
            if k.starts_with("lxc.") {
                main.add_lxc(k, v);
            } else {
                main.set(k, v);
            }
        }
        main.set("parent", name);
        if blank_tail {
            main.lines.push(Line {
                raw: "\n".to_string(),
                kind: Kind::Blank,
            });
        }
        true
    }

    /// The current config alone, as `pct config` / `qm config` print it: description comments
    /// decoded, then entries (pending and snapshot sections left out).
    pub fn main_text(&self) -> String {
        let mut out = String::new();
        if let Some(d) = self.description() {
            for l in d.split('\n') {
                out.push('#');
                out.push_str(l);
                out.push('\n');
            }
        }
        for (k, v) in self.main().entries() {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out
    }
}

impl fmt::Display for Conf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sections {
            if let Some(h) = &s.header {
                f.write_str(h)?;
            }
            for l in &s.lines {
                f.write_str(&l.raw)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
