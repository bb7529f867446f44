//! Reading one config file into its model type with errors people can act on: the file, then
//! the JSON path (`lxc_configs.950.memory_mb`) or `line:column`, then what was expected.
//!
//! Four checks serde does not do for us: a size limit (a 50 MB file is a mistake, not a config),
//! a byte-order mark, invalid UTF-8 with its position, and duplicate keys inside one object
//! (serde_json silently keeps the last one; the model's own map types refuse them, and a
//! separate pass names the key when needed). Unknown keys become warnings that suggest the
//! nearest known key, which is read from the type's own JSON Schema.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::de::{
    Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::Value;

use crate::error::Diagnostic;

mod skipped;

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
    let (value, warnings) = parse_seed::<T, _>(path, text, || std::marker::PhantomData::<T>)?;
    Ok(Parsed { value, warnings })
}

/// Parses `text` with a seed from `seed`, which must accept exactly what `T` accepts: `T`
/// explains a failure (with its JSON path) and names the keys an unknown key may be a typo
/// of. A second seed is asked for when the first parse skipped a key.
///
/// One pass in the common case: the model's maps and free-form values refuse a duplicate key
/// (serde would keep the last), and nothing was skipped, so there is nothing to report. When a
/// key was skipped, the file is parsed again noting the path of every unknown key, and the
/// duplicate-key pass runs (a duplicate may hide in what nobody reads); when parsing fails,
/// that pass runs first, then the failure is explained.
pub(crate) fn parse_seed<'de, T, S>(
    path: &Path,
    text: &'de str,
    mut seed: impl FnMut() -> S,
) -> Result<(S::Value, Vec<Diagnostic>), Diagnostic>
where
    T: DeserializeOwned + JsonSchema,
    S: DeserializeSeed<'de>,
{
    // serde accepts a JSON array for a struct (fields by position); a config file is an object.
    if !text.trim_start().starts_with('{') {
        check_duplicate_keys(path, text)?;
        let skipped = text.len() - text.trim_start().len();
        let (line, col) = line_col(text.as_bytes(), skipped);
        return Err(Diagnostic::error(
            path,
            format!("{line}:{col}"),
            "expected a JSON object at the top level",
        ));
    }
    let flag = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let fast = seed()
        .deserialize(skipped::Watch {
            de: &mut de,
            skipped: &flag,
        })
        .and_then(|v| de.end().map(|()| v));
    match fast {
        Ok(v) if !flag.get() => return Ok((v, Vec::new())),
        Ok(_) => {}
        Err(_) => {
            check_duplicate_keys(path, text)?;
            return Err(explain_failure::<T>(path, text));
        }
    }
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let noted = {
        let mut note = |p: serde_ignored::Path| unknown.push(p.to_string());
        seed().deserialize(serde_ignored::Deserializer::new(&mut de, &mut note))
    }
    .and_then(|v| de.end().map(|()| v));
    let value = match noted {
        Ok(v) => v,
        Err(_) => {
            check_duplicate_keys(path, text)?;
            return Err(explain_failure::<T>(path, text));
        }
    };
    check_duplicate_keys(path, text)?;
    Ok((value, unknown_key_warnings::<T>(path, &unknown)))
}

/// Parses again with path tracking to say where and why parsing failed.
fn explain_failure<T: DeserializeOwned>(path: &Path, text: &str) -> Diagnostic {
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let result: Result<T, _> = {
        let tracked = serde_path_to_error::Deserializer::new(&mut de, &mut track);
        T::deserialize(tracked)
    };
    let err = match result.and_then(|_| de.end()) {
        Err(e) => e,
        Ok(()) => return Diagnostic::error(path, "", "could not be parsed"),
    };
    type_error(path, &track.path().to_string(), &err)
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
    let mut stack: Vec<Seg<'_>> = Vec::new();
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

/// One step of the path to the current value; keys borrow from the input when they can.
enum Seg<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

struct DupSeed<'a, 'de> {
    stack: &'a mut Vec<Seg<'de>>,
    found: &'a mut Option<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_, 'de> {
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
            self.stack.push(Seg::Index(i));
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
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        let mut seen_set: Option<std::collections::HashSet<Cow<'de, str>>> = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if self.found.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // Small objects: a linear scan beats hashing.
            let dup = match &mut seen_set {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let d = seen.contains(&key);
                    seen.push(key.clone());
                    if seen.len() > 16 {
                        seen_set = Some(seen.drain(..).collect());
                    }
                    d
                }
            };
            if dup {
                *self.found = Some((join_path(self.stack), key.into_owned()));
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            self.stack.push(Seg::Key(key));
            map.next_value_seed(DupSeed {
                stack: self.stack,
                found: self.found,
            })?;
            self.stack.pop();
        }
        Ok(())
    }
}

fn join_path(stack: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for s in stack {
        match s {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
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
