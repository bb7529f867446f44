//! Guest IDs. The upstream files write them as strings (`"clone_from_ctid": "900"`, map keys) or
//! numbers (`"vmid": 8000`); both are accepted. The range check lives in validation so that every
//! out-of-range ID is reported together with the file's other problems.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Smallest guest ID Proxmox accepts.
pub const MIN_ID: u64 = 100;
/// Largest guest ID Proxmox accepts.
pub const MAX_ID: u64 = 999_999_999;

/// A Proxmox guest ID (container or VM). Not yet range-checked; see [`GuestId::in_range`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestId(pub u64);

impl GuestId {
    pub fn in_range(self) -> bool {
        (MIN_ID..=MAX_ID).contains(&self.0)
    }

    /// Parses a decimal ID as written on a command line or as a map key.
    pub fn parse(s: &str) -> Option<GuestId> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 12 {
            return None;
        }
        s.parse().ok().map(GuestId)
    }
}

impl fmt::Display for GuestId {
    /// Honours width and alignment, so IDs line up in tables.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0.to_string())
    }
}

impl Serialize for GuestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for GuestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = GuestId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a guest ID (a number or a string of digits)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GuestId, E> {
                Ok(GuestId(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GuestId, E> {
                u64::try_from(v).map(GuestId).map_err(|_| {
                    E::custom(format!("guest ID {v} is negative; expected 100-999999999"))
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GuestId, E> {
                GuestId::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "'{v}' is not a guest ID; expected digits such as \"900\""
                    ))
                })
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

impl JsonSchema for GuestId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GuestId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Proxmox guest ID (100-999999999), as a number or a string of digits.",
            "anyOf": [
                { "type": "integer", "minimum": MIN_ID, "maximum": MAX_ID },
                { "type": "string", "pattern": "^[0-9]{3,9}$" }
            ]
        })
    }
}
