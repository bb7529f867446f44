//! Property strings: `name=eth0,bridge=vmbr0,ip=10.0.0.1/24` or `local:subvol-100-disk-0,size=8G`
//! where the first value has an implicit key (`[volume=]<volume>`).
//!
//! Key order is kept, and a value given without its key stays so when formatted again, so a
//! property string read from a config file and written back is unchanged.

use std::fmt;

/// Errors of [`PropString::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropError {
    #[error("empty key in '{0}'")]
    EmptyKey(String),
    #[error("value without key: '{0}'")]
    MissingKey(String),
    #[error("duplicate key '{0}'")]
    DuplicateKey(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    /// Written without `key=`.
    implicit: bool,
}

/// A parsed property string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropString {
    entries: Vec<Entry>,
}

impl PropString {
    /// Parse a property string whose every part is `key=value`.
    pub fn parse(s: &str) -> Result<Self, PropError> {
        Self::parse_with_default(s, None)
    }

    /// Parse a property string; a part without `=` is the value of `default_key`.
    pub fn parse_with_default(s: &str, default_key: Option<&str>) -> Result<Self, PropError> {
        let mut entries: Vec<Entry> = Vec::new();
        if s.is_empty() {
            return Ok(Self { entries });
        }
        for part in s.split(',') {
            let (key, value, implicit) = match part.split_once('=') {
                Some((k, v)) => {
                    if k.is_empty() {
                        return Err(PropError::EmptyKey(part.to_string()));
                    }
                    (k.to_string(), v.to_string(), false)
                }
                None => match default_key {
                    Some(d) => (d.to_string(), part.to_string(), true),
                    None => return Err(PropError::MissingKey(part.to_string())),
                },
            };
            if entries.iter().any(|e| e.key == key) {
                return Err(PropError::DuplicateKey(key));
            }
            entries.push(Entry {
                key,
                value,
                implicit,
            });
        }
        Ok(Self { entries })
    }

    /// Value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Set `key` (kept in place if present, appended otherwise).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => e.value = value.to_string(),
            None => self.entries.push(Entry {
                key: key.to_string(),
                value: value.to_string(),
                implicit: false,
            }),
        }
    }

    /// Set the implicit (default-key) value, placed first: `set_default("volume", "local:1")`.
    pub fn set_default(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => e.value = value.to_string(),
            None => self.entries.insert(
                0,
                Entry {
                    key: key.to_string(),
                    value: value.to_string(),
                    implicit: true,
                },
            ),
        }
    }

    /// Remove `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(pos).value)
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for PropString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if e.implicit {
                write!(f, "{}", e.value)?;
            } else {
                write!(f, "{}={}", e.key, e.value)?;
            }
        }
        Ok(())
    }
}

/// Parse a disk size (`8G`, `512M`, `1.5T`, plain bytes) into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        'T' | 't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some((n * mult as f64).round() as u64)
}

/// Format bytes as Proxmox writes disk sizes (`32G`, `512M`, `4K`, or bytes).
pub fn format_size(bytes: u64) -> String {
    for (unit, mult) in [
        ("T", 1u64 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ] {
        if bytes >= mult && bytes.is_multiple_of(mult) {
            return format!("{}{unit}", bytes / mult);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_roundtrip_keeps_order() {
        let s =
            "name=eth0,bridge=vmbr0,ip=10.0.0.1/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,firewall=1";
        let p = PropString::parse(s).unwrap();
        assert_eq!(p.get("bridge"), Some("vmbr0"));
        assert_eq!(p.to_string(), s);
    }

    #[test]
    fn default_key_stays_implicit() {
        let s = "local:subvol-100-disk-0,size=8G";
        let mut p = PropString::parse_with_default(s, Some("volume")).unwrap();
        assert_eq!(p.get("volume"), Some("local:subvol-100-disk-0"));
        p.set("size", "10G");
        assert_eq!(p.to_string(), "local:subvol-100-disk-0,size=10G");
        let q = PropString::parse_with_default("mp=/x,volume=a:b", Some("volume")).unwrap();
        assert_eq!(q.to_string(), "mp=/x,volume=a:b");
    }

    #[test]
    fn errors() {
        assert!(PropString::parse("novalue").is_err());
        assert!(PropString::parse("a=1,a=2").is_err());
        assert!(PropString::parse("=1").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("x"), None);
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(format_size(1536), "1536");
    }
}
