//! Reading one config file into its model type with errors people can act on: the file, then
//! the JSON path (`lxc_configs.950.memory_mb`) or `line:column`, then what was expected.
//!
//! Four checks serde does not do for us: a size limit (a 50 MB file is a mistake, not a config),
//! a byte-order mark, invalid UTF-8 with its position, and duplicate keys inside one object
//! (serde_json silently keeps the last one). Unknown keys become warnings that suggest the
//! nearest known key, which is read from the type's own JSON Schema.

use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use crate::error::Diagnostic;

/// Larger files are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A parsed file and the warnings (unknown keys) found on the way.
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Vec<Diagnostic>,
}

/// Reads `path` and parses it as `T`.
pub fn load_file<T: DeserializeOwned + JsonSchema>(path: &Path) -> Result<Parsed<T>, Diagnostic> {
    let text = read_text(path)?;
    parse_str(path, &text)
}

/// Reads a config file as text, refusing what cannot be a config file.
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let unreadable = |e: std::io::Error| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "file not found".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        Diagnostic::error(path, "", format!("cannot read config file: {why}"))
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(Diagnostic::error(
            path,
            "",
            "is a directory; expected a JSON config file",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            path,
            "",
            format!(
                "file is {:.1} MiB; config files are limited to {} MiB",
                meta.len() as f64 / (1024.0 * 1024.0),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    decode(path, bytes)
}

fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(Diagnostic::error(
            path,
            "1:1",
            "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let (line, col) = line_col(e.as_bytes(), offset);
        Diagnostic::error(
            path,
            format!("{line}:{col}"),
            format!(
                "invalid UTF-8 byte 0x{:02x}; config files must be UTF-8",
                e.as_bytes()[offset]
            ),
        )
    })?;
    if text.trim().is_empty() {
        return Err(Diagnostic::error(
            path,
            "",
            "file is empty; expected a JSON object",
        ));
    }
    Ok(text)
}

fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

/// Parses `text` (read from `path`) as `T`.
pub fn parse_str<T: DeserializeOwned + JsonSchema>(
    path: &Path,
    text: &str,
) -> Result<Parsed<T>, Diagnostic> {
    check_duplicate_keys(path, text)?;
    // serde accepts a JSON array for a struct (fields by position); a config file is an object.
    if !text.trim_start().starts_with('{') {
        let skipped = text.len() - text.trim_start().len();
        let (line, col) = line_col(text.as_bytes(), skipped);
        return Err(Diagnostic::error(
            path,
            format!("{line}:{col}"),
            "expected a JSON object at the top level",
        ));
    }
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let result = {
        let tracked = serde_path_to_error::Deserializer::new(&mut de, &mut track);
        serde_ignored::deserialize(tracked, |p| unknown.push(p.to_string()))
    };
    let value: T = match result.and_then(|v| de.end().map(|()| v)) {
        Ok(v) => v,
        Err(e) => return Err(type_error(path, &track.path().to_string(), &e)),
    };
    let warnings = unknown_key_warnings::<T>(path, &unknown);
    Ok(Parsed { value, warnings })
}

fn type_error(path: &Path, json_path: &str, e: &serde_json::Error) -> Diagnostic {
    let msg = friendly(&e.to_string());
    // serde_json appends " at line L column C"; keep the position but lead with the JSON path.
    let (msg, pos) = match msg.rfind(" at line ") {
        Some(i) => {
            let pos = msg[i + " at line ".len()..].replace(" column ", ":");
            (msg[..i].to_string(), pos)
        }
        None => (msg, format!("{}:{}", e.line(), e.column())),
    };
    let syntax = matches!(
        e.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    );
    if syntax {
        let hint = if msg.contains("recursion limit") {
            " (nesting too deep)"
        } else {
            ""
        };
        Diagnostic::error(path, pos, format!("invalid JSON: {msg}{hint}"))
    } else if json_path.is_empty() || json_path == "." {
        Diagnostic::error(path, pos, msg)
    } else {
        Diagnostic::error(path, json_path.to_string(), format!("{msg} (line {pos})"))
    }
}

/// Rewords serde's Rust type names for people who write JSON.
fn friendly(msg: &str) -> String {
    let mut m = msg.to_string();
    for (from, to) in [
        ("expected u64", "expected a whole number >= 0"),
        ("expected u32", "expected a whole number >= 0"),
        ("expected usize", "expected a whole number >= 0"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected an object"),
        ("struct ", "object "),
    ] {
        m = m.replace(from, to);
    }
    m
}

/// Finds keys that appear twice in one JSON object, which serde_json would silently collapse.
pub fn check_duplicate_keys(path: &Path, text: &str) -> Result<(), Diagnostic> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut stack = Vec::new();
    let mut found = None;
    let res = DupSeed {
        stack: &mut stack,
        found: &mut found,
    }
    .deserialize(&mut de);
    if let Some((p, key)) = found {
        let loc = if p.is_empty() {
            key.clone()
        } else {
            format!("{p}.{key}")
        };
        return Err(Diagnostic::error(
            path,
            loc,
            format!("duplicate key '{key}' in one object; JSON keeps only the last, so remove one"),
        ));
    }
    res.map_err(|e| type_error(path, "", &e))
}

struct DupSeed<'a> {
    stack: &'a mut Vec<String>,
    found: &'a mut Option<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            if self.found.is_some() {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            self.stack.push(format!("[{i}]"));
            let more = seq.next_element_seed(DupSeed {
                stack: self.stack,
                found: self.found,
            })?;
            self.stack.pop();
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.found.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if !seen.insert(key.clone()) {
                *self.found = Some((join_path(self.stack), key));
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            self.stack.push(key);
            map.next_value_seed(DupSeed {
                stack: self.stack,
                found: self.found,
            })?;
            self.stack.pop();
        }
        Ok(())
    }
}

fn join_path(stack: &[String]) -> String {
    let mut out = String::new();
    for s in stack {
        if !out.is_empty() && !s.starts_with('[') {
            out.push('.');
        }
        out.push_str(s);
    }
    out
}

fn unknown_key_warnings<T: JsonSchema>(path: &Path, unknown: &[String]) -> Vec<Diagnostic> {
    if unknown.is_empty() {
        return Vec::new();
    }
    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    unknown
        .iter()
        .map(|p| {
            let segments: Vec<&str> = p.split('.').collect();
            let (key, parent) = segments
                .split_last()
                .map(|(k, r)| (*k, r))
                .unwrap_or((p.as_str(), &[]));
            let known = known_keys(&schema, parent);
            let hint = nearest(key, &known)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            Diagnostic::warning(
                path,
                p.clone(),
                format!("unknown key `{key}` is ignored{hint}"),
            )
        })
        .collect()
}

/// The property names allowed at `parent` (a serde_ignored path split on dots).
fn known_keys(root: &Value, parent: &[&str]) -> Vec<String> {
    let mut node = root;
    for seg in parent {
        node = deref(root, node);
        node = if let Some(p) = node.get("properties").and_then(|p| p.get(*seg)) {
            p
        } else if seg.parse::<usize>().is_ok() && node.get("items").is_some() {
            &node["items"]
        } else if let Some(a) = node.get("additionalProperties").filter(|a| a.is_object()) {
            a
        } else if let Some(a) = node
            .get("patternProperties")
            .and_then(|p| p.as_object())
            .and_then(|m| m.values().next())
        {
            a
        } else {
            return Vec::new();
        };
    }
    node = deref(root, node);
    let mut keys = Vec::new();
    collect_props(root, node, &mut keys);
    keys
}

fn collect_props(root: &Value, node: &Value, out: &mut Vec<String>) {
    let node = deref(root, node);
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        out.extend(props.keys().cloned());
    }
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = node.get(k).and_then(|l| l.as_array()) {
            for n in list {
                collect_props(root, n, out);
            }
        }
    }
}

fn deref<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..16 {
        match node.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or("");
                match root.get("$defs").and_then(|d| d.get(name)) {
                    Some(n) => node = n,
                    None => return node,
                }
            }
            None => return node,
        }
    }
    node
}

/// The known key closest to `key`, when it is close enough to be a likely typo.
pub fn nearest(key: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}
