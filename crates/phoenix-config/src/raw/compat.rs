//! Value shapes serde does not give us as we need them.
//!
//! - [`Map`]: a JSON object with free keys, in file order, that refuses a key written twice
//!   (serde's `BTreeMap` silently keeps the last one);
//! - [`FreeJson`]: any JSON value, refusing duplicate keys at any depth.
//!
//! Refusing a duplicate here fails the fast parse; the loader then runs its duplicate-key pass,
//! which names the key and its path (see `load.rs`). So the common, clean file is parsed once.

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// A JSON object with free keys, in file order; a duplicate key is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Map<V>(pub Vec<(String, V)>);

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map(Vec::new())
    }
}

impl<V> Map<V> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> IntoIterator for Map<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Map<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = Map<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Map<V>, A::Error> {
                let mut out: Vec<(String, V)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
                let mut seen = KeySet::default();
                while let Some(k) = map.next_key::<String>()? {
                    if !seen.insert(&k) {
                        return Err(de::Error::custom(format!("duplicate key '{k}'")));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Map(out))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

impl<V: Serialize> Serialize for Map<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<V: JsonSchema> JsonSchema for Map<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, V>>::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <std::collections::BTreeMap<String, V>>::json_schema(g)
    }
}

/// Keys seen in one object: a linear scan for small objects, a hash set beyond.
#[derive(Default)]
pub(crate) struct KeySet {
    small: Vec<String>,
    big: Option<std::collections::HashSet<String>>,
}

impl KeySet {
    /// False when `k` was seen before.
    pub fn insert(&mut self, k: &str) -> bool {
        if let Some(set) = &mut self.big {
            return set.insert(k.to_string());
        }
        if self.small.iter().any(|s| s == k) {
            return false;
        }
        self.small.push(k.to_string());
        if self.small.len() > 16 {
            self.big = Some(self.small.drain(..).collect());
        }
        true
    }
}

/// Any JSON value (free-form blocks Phoenix passes on to scripts), refusing duplicate keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct FreeJson(pub Value);

impl JsonSchema for FreeJson {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        Value::schema_name()
    }
    fn inline_schema() -> bool {
        Value::inline_schema()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Value::json_schema(g)
    }
}

impl<'de> Deserialize<'de> for FreeJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(FreeJson)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(FreeJson(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let FreeJson(v) = map.next_value()?;
            if out.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("duplicate key '{k}'")));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(serde_json::from_str::<Map<u8>>(r#"{"a": 1, "b": 2}"#).is_ok());
        assert!(serde_json::from_str::<Map<u8>>(r#"{"a": 1, "a": 2}"#).is_err());
        assert!(serde_json::from_str::<FreeJson>(r#"{"x": [{"a": 1, "a": 2}]}"#).is_err());
        let v: FreeJson = serde_json::from_str(r#"{"x": [1, 2.5, "s", null, true]}"#).unwrap();
        assert_eq!(v.0["x"][1], serde_json::json!(2.5));
    }

    #[test]
    fn map_keeps_file_order() {
        let m: Map<u8> = serde_json::from_str(r#"{"b": 1, "a": 2}"#).unwrap();
        assert_eq!(m.0[0].0, "b");
    }
}
