//! Checked values. Each newtype's constructor is the one rule for its format (the checks are in
//! [`crate::names`]), so a value of the type is valid by construction: code that receives a
//! [`FeatureName`] never checks it again, and two parts of Phoenix cannot disagree on what a
//! feature name is.
//!
//! Each holds a boxed `str` (two words: a config has one per field of thousands of guests).
//! Every type derefs to `str` and displays as written (a [`MacAddress`] in upper case, the form
//! Proxmox writes). `FromStr` runs the same check, which is handy in tests:
//! `"web".parse::<Hostname>()`.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::names;

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            /// Checks `v`; the error says what is expected.
            pub fn new(v: impl Into<String>) -> Result<Self, String> {
                let v = v.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&v)?;
                Ok($name(v.into_boxed_str()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0.into_string()
            }
        }

        checked_string!(@common $name);
    };
    (@common $name:ident) => {
        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&*self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                *self.0 == **other
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.into_string()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// A DNS name: dot-separated labels of letters, digits and inner hyphens (Proxmox
    /// `dns-name`). Guest names, search domains.
    Hostname,
    names::hostname
);
checked_string!(
    /// A feature or host set-up step name, `[a-z0-9_-]+`: it becomes part of a script's file
    /// name (`phoenix_hypervisor_feature_install_<name>.sh`, `feature_install_<name>.sh`,
    /// `hypervisor_feature_<name>.sh`). The one rule for LXC features, VM features and set-up
    /// steps.
    FeatureName,
    names::feature
);
checked_string!(
    /// A Proxmox storage ID (`pve-storage-id`): `local-zfs`, `quickOS-lxc-disks`.
    StorageId,
    names::storage_id
);
checked_string!(
    /// A snapshot name (`pve-configid`): a letter, then letters, digits, `_` or `-`.
    SnapshotName,
    names::snapshot
);
checked_string!(
    /// A network interface or bridge name (`eth0`, `vmbr0`), at most 15 characters.
    InterfaceName,
    names::interface
);
checked_string!(
    /// An absolute path safe inside a Proxmox property string (no `..`, `,`, `=` or spaces).
    AbsPath,
    names::abs_path
);
checked_string!(
    /// A relative path below a known folder, without `..` (test scripts).
    RelPath,
    names::rel_path
);
checked_string!(
    /// A Unix user name, `[a-z_][a-z0-9_-]*`.
    UnixUser,
    names::unix_user
);
checked_string!(
    /// A test suite name, `[A-Za-z0-9._-]+`.
    SuiteName,
    names::suite
);
checked_string!(
    /// A ZFS pool or dataset name component.
    ZfsName,
    names::zfs_name
);
checked_string!(
    /// A container's OS template: a volume ID (`local:vztmpl/x.tar.zst`), an absolute path, or
    /// a template file name.
    TemplateRef,
    names::template_ref
);

/// A plain file name (no folder part) of a script, image or AppArmor profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileName(Box<str>);

impl FileName {
    /// Checks `v`; `what` names the value in the error ("application script").
    pub fn new(v: impl Into<String>, what: &str) -> Result<Self, String> {
        let v = v.into();
        names::file_name(&v, what)?;
        Ok(FileName(v.into_boxed_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

checked_string!(@common FileName);

/// A unicast MAC address, kept in upper case (`52:54:00:AA:BB:CC`), the form Proxmox writes,
/// so two spellings of one address compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddress(Box<str>);

impl MacAddress {
    pub fn new(v: impl Into<String>) -> Result<Self, String> {
        let v = v.into();
        names::mac(&v)?;
        Ok(MacAddress(v.to_ascii_uppercase().into_boxed_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

checked_string!(@common MacAddress);

macro_rules! from_str {
    ($($name:ident),*) => {$(
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::new(s)
            }
        }
    )*};
}

from_str!(
    Hostname,
    FeatureName,
    StorageId,
    SnapshotName,
    InterfaceName,
    AbsPath,
    RelPath,
    UnixUser,
    SuiteName,
    ZfsName,
    TemplateRef,
    MacAddress
);

impl FromStr for FileName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FileName::new(s, "file name")
    }
}

impl AbsPath {
    /// The path without trailing slashes (`/` stays `/`): the form paths are compared in, so
    /// `/tank/data/` and `/tank/data` are one path everywhere.
    pub fn trimmed(&self) -> &str {
        let t = self.0.trim_end_matches('/');
        if t.is_empty() {
            "/"
        } else {
            t
        }
    }

    /// Whether `self` is `other` or a folder inside it, compared component by component
    /// (`/a/bc` is not inside `/a/b`).
    pub fn is_within(&self, other: &AbsPath) -> bool {
        let (me, base) = (self.trimmed(), other.trimmed());
        base == "/"
            || me == base
            || (me.starts_with(base) && me.as_bytes().get(base.len()) == Some(&b'/'))
    }
}

/// An address with its prefix length: `10.0.0.150/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpCidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How a guest's interface gets its address: `dhcp`, `manual`, `auto` (IPv6 SLAAC) or a static
/// address with prefix. Displays as Proxmox's `ip=` value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IpConfig {
    #[default]
    Dhcp,
    Manual,
    Auto,
    Static(IpCidr),
}

impl IpConfig {
    pub fn new(v: &str) -> Result<IpConfig, String> {
        names::ip_config(v)?;
        Ok(match v {
            "dhcp" => IpConfig::Dhcp,
            "manual" => IpConfig::Manual,
            "auto" => IpConfig::Auto,
            _ => {
                let (a, p) = v
                    .split_once('/')
                    .ok_or_else(|| format!("'{v}' has no prefix"))?;
                IpConfig::Static(IpCidr {
                    addr: a
                        .parse()
                        .map_err(|_| format!("'{a}' is not an IP address"))?,
                    prefix: p.parse().map_err(|_| format!("'{p}' is not a prefix"))?,
                })
            }
        })
    }

    /// The static address, without its prefix.
    pub fn static_addr(&self) -> Option<IpAddr> {
        match self {
            IpConfig::Static(c) => Some(c.addr),
            _ => None,
        }
    }

    pub fn is_dhcp(&self) -> bool {
        matches!(self, IpConfig::Dhcp)
    }
}

impl fmt::Display for IpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpConfig::Dhcp => f.write_str("dhcp"),
            IpConfig::Manual => f.write_str("manual"),
            IpConfig::Auto => f.write_str("auto"),
            IpConfig::Static(c) => c.fmt(f),
        }
    }
}

impl FromStr for IpConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        IpConfig::new(s)
    }
}

impl Serialize for IpConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_are_the_rules() {
        assert!(Hostname::new("vllm-qwen2.5-7b-awq").is_ok());
        assert!(Hostname::new("bad name").is_err());
        assert!(FeatureName::new("base_setup").is_ok());
        assert!(FeatureName::new("Docker").is_err());
        assert!(FeatureName::new("a.b").is_err());
        assert_eq!(
            MacAddress::new("52:54:00:aa:bb:cc").unwrap(),
            MacAddress::new("52:54:00:AA:BB:CC").unwrap()
        );
        assert_eq!(
            FileName::new("../x", "image").unwrap_err(),
            "image '../x' must be a plain file name of [A-Za-z0-9._+-] (no '/', no '..', no leading '.')"
        );
    }

    #[test]
    fn ip_config_round_trips() {
        for v in ["dhcp", "manual", "10.0.0.5/24", "fd00::5/64"] {
            assert_eq!(IpConfig::new(v).unwrap().to_string(), v);
        }
        assert_eq!(
            IpConfig::new("10.0.0.5/24").unwrap().static_addr(),
            Some("10.0.0.5".parse().unwrap())
        );
        assert!(IpConfig::new("10.0.0.300/24").is_err());
    }

    #[test]
    fn paths_compare_without_trailing_slashes() {
        let p = |s: &str| AbsPath::new(s).unwrap();
        assert_eq!(p("/tank/data/").trimmed(), "/tank/data");
        assert_eq!(p("/").trimmed(), "/");
        assert!(p("/quickOS/vm-persistent-data/1001").is_within(&p("/quickOS/vm-persistent-data/")));
        assert!(p("/a/b").is_within(&p("/a/b")));
        assert!(!p("/a/bc").is_within(&p("/a/b")));
        assert!(p("/a").is_within(&p("/")));
    }
}
