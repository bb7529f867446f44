//! Generator of the spec from the Proxmox reference (`*.1-synopsis.adoc`, `*.conf.5-opts.adoc`,
//! `pct-network-opts.adoc`, `pct-mountpoint-opts.adoc`, `qm-cloud-init-opts.adoc`).
//!
//! Only names, types, ranges, enums and property-string keys are extracted; descriptions are
//! skipped. Run `PVE_SPEC_REGENERATE=1 cargo test -p pve spec_is_current` to rewrite the
//! committed `crates/pve/spec/pve-cli.json`.

use super::types::*;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

const TOOLS: &[&str] = &["pct", "qm", "pvesm", "pveam"];

/// Per conf kind, the files describing property-string sub-keys and conf keys.
const CONF_FILES: &[(&str, &[&str])] = &[
    (
        "pct",
        &[
            "pct.conf.5-opts.adoc",
            "pct-network-opts.adoc",
            "pct-mountpoint-opts.adoc",
        ],
    ),
    ("qm", &["qm.conf.5-opts.adoc", "qm-cloud-init-opts.adoc"]),
];

/// Maximum indices of indexed keys the reference does not enumerate (Proxmox defaults).
const INDEX_FALLBACK: &[(&str, u32)] = &[
    ("net", 31),
    ("ipconfig", 31),
    ("dev", 255),
    ("hostpci", 15),
    ("usb", 13),
    ("serial", 3),
    ("parallel", 2),
    ("numa", 7),
    ("virtiofs", 9),
    ("unused", 255),
    ("mp", 255),
];

/// Build the spec from the reference folder and return it as pretty JSON (with a final newline).
pub fn generate(reference: &Path) -> io::Result<String> {
    let spec = build(reference)?;
    let mut s = serde_json::to_string_pretty(&spec).map_err(io::Error::other)?;
    s.push('\n');
    Ok(s)
}

/// Build the spec from the reference folder.
pub fn build(reference: &Path) -> io::Result<Spec> {
    let mut texts = BTreeMap::new();
    for t in TOOLS {
        let text = std::fs::read_to_string(reference.join(format!("{t}.1-synopsis.adoc")))?;
        texts.insert(*t, text);
    }
    let mut max_index: BTreeMap<String, u32> = INDEX_FALLBACK
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    // Enumerations listing disk keys (`scsi30`, `mp255`, ...) give the real maxima.
    for text in texts.values() {
        for line in text.lines() {
            for v in enum_values_in(line) {
                if let Some(pos) = v.find(|c: char| c.is_ascii_digit()) {
                    let (base, idx) = v.split_at(pos);
                    if base.chars().all(|c| c.is_ascii_lowercase()) && !base.is_empty() {
                        if let Ok(n) = idx.parse::<u32>() {
                            let e = max_index.entry(base.to_string()).or_insert(0);
                            *e = (*e).max(n);
                        }
                    }
                }
            }
        }
    }

    let mut subkeys: BTreeMap<String, BTreeMap<String, BTreeMap<String, ValueType>>> =
        BTreeMap::new();
    let mut spec = Spec::default();
    for (kind, files) in CONF_FILES {
        let mut conf = BTreeMap::new();
        let sk = subkeys.entry(kind.to_string()).or_default();
        for f in *files {
            let text = std::fs::read_to_string(reference.join(f))?;
            let mut current: Option<String> = None;
            for line in text.lines() {
                if let Some((name, ty)) = conf_top_line(line) {
                    let (base, indexed) = split_indexed(&name, &max_index);
                    current = Some(base.clone());
                    conf.insert(
                        base,
                        ConfKeySpec {
                            indexed,
                            value: parse_type(&ty),
                        },
                    );
                } else if let Some((key, ty)) = conf_sub_line(line) {
                    if let Some(cur) = &current {
                        sk.entry(cur.clone())
                            .or_default()
                            .insert(key, parse_type(&ty));
                    }
                }
            }
        }
        spec.conf.insert(kind.to_string(), conf);
    }

    for (tool, text) in &texts {
        let mut cmds = BTreeMap::new();
        let sk = subkeys.get(*tool).cloned().unwrap_or_default();
        let mut current: Option<(String, CommandSpec)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix('*') {
                let Some(end) = rest.find('*') else { continue };
                let full = &rest[..end];
                let Some(name) = full
                    .strip_prefix(tool)
                    .and_then(|n| n.strip_prefix(' '))
                    .map(str::to_string)
                else {
                    continue;
                };
                if let Some((n, c)) = current.take() {
                    cmds.insert(n, c);
                }
                let mut cmd = CommandSpec::default();
                let segs = backtick_segments(&rest[end + 1..]);
                if let Some(first) = segs.first().filter(|s| *s != "[OPTIONS]") {
                    parse_header_args(first, &mut cmd);
                }
                current = Some((name, cmd));
                continue;
            }
            let Some((_, cmd)) = current.as_mut() else {
                continue;
            };
            if let Some(target) = line
                .strip_prefix("An alias for '")
                .and_then(|r| r.split('\'').next())
            {
                if let Some(t) = target.strip_prefix(tool).map(str::trim) {
                    cmd.alias_of = Some(t.to_string());
                }
                continue;
            }
            if !line.starts_with('`') {
                continue;
            }
            let segs = backtick_segments(line);
            if segs.len() < 2 {
                continue;
            }
            if let Some(opt) = segs[0].strip_prefix("--") {
                let (base, indexed) = split_indexed(opt, &max_index);
                let mut value = parse_type(&segs[1]);
                refine(&mut value, sk.get(&base));
                if let Some(existing) = cmd.options.iter_mut().find(|o| o.name == base) {
                    existing.value = value;
                    existing.indexed = indexed;
                } else {
                    cmd.options.push(OptSpec {
                        name: base,
                        indexed,
                        required: false,
                        value,
                    });
                }
            } else if let Some(arg) = segs[0]
                .strip_prefix('<')
                .and_then(|a| a.strip_suffix(">"))
                .filter(|_| line.contains("`: `"))
            {
                let mut value = parse_type(&segs[1]);
                refine(&mut value, sk.get(arg));
                if let Some(a) = cmd.args.iter_mut().find(|a| a.name == arg) {
                    a.value = value;
                }
            }
        }
        if let Some((n, c)) = current.take() {
            cmds.insert(n, c);
        }
        spec.tools.insert(tool.to_string(), cmds);
    }
    Ok(spec)
}

/// Text between pairs of backticks.
fn backtick_segments(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, p)| p.to_string())
        .collect()
}

/// `<vmid> [<extra-args>] --target-bridge <string>`.
fn parse_header_args(s: &str, cmd: &mut CommandSpec) {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if let Some(opt) = t.strip_prefix("--") {
            cmd.options.push(OptSpec {
                name: opt.to_string(),
                indexed: None,
                required: true,
                value: ValueType::String { format: None },
            });
            i += 2;
            continue;
        }
        let optional = t.starts_with('[');
        let name = t.trim_matches(|c| c == '[' || c == ']' || c == '<' || c == '>');
        cmd.args.push(ArgSpec {
            name: name.to_string(),
            optional,
            value: ValueType::String { format: None },
        });
        i += 1;
    }
}

/// `` `net[n]`: `type` `` (a conf key line).
fn conf_top_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('`')?;
    let (name, after) = rest.split_once("`: `")?;
    let ty = after.split('`').next()?;
    Some((name.to_string(), ty.to_string()))
}

/// `` `key`=`type` ;; `` (a property-string sub-key line).
fn conf_sub_line(line: &str) -> Option<(String, String)> {
    if !line.trim_end().ends_with(";;") {
        return None;
    }
    let rest = line.strip_prefix('`')?;
    let (name, after) = rest.split_once("`=`")?;
    let ty = after.split('`').next()?;
    Some((name.to_string(), ty.to_string()))
}

fn split_indexed(name: &str, max_index: &BTreeMap<String, u32>) -> (String, Option<u32>) {
    match name.strip_suffix("[n]") {
        Some(base) => (
            base.to_string(),
            Some(max_index.get(base).copied().unwrap_or(31)),
        ),
        None => (name.to_string(), None),
    }
}

fn enum_values_in(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in backtick_segments(line) {
        if let Some(inner) = seg.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
            if inner.contains(" | ") {
                out.extend(inner.split(" | ").map(str::to_string));
            }
        }
    }
    out
}

fn parse_bound_i(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}
fn parse_bound_f(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// Parse a type text: `<integer> (1 - 8192)`, `<a | b>`, `<boolean>`, a format string, a pattern.
pub(crate) fn parse_type(ty: &str) -> ValueType {
    let ty = ty.trim();
    if let Some(rest) = ty.strip_prefix("<integer>") {
        let (min, max) = range(rest);
        return ValueType::Integer {
            min: min.and_then(|m| parse_bound_i(&m)),
            max: max.and_then(|m| parse_bound_i(&m)),
        };
    }
    if let Some(rest) = ty.strip_prefix("<number>") {
        let (min, max) = range(rest);
        return ValueType::Number {
            min: min.and_then(|m| parse_bound_f(&m)),
            max: max.and_then(|m| parse_bound_f(&m)),
        };
    }
    match ty {
        "<boolean>" | "<1|0>" => return ValueType::Boolean,
        "<array>" => return ValueType::Array,
        "<string>" => return ValueType::String { format: None },
        _ => {}
    }
    if ty.starts_with('(') || ty.starts_with('\\') {
        return ValueType::String {
            format: Some(ty.to_string()),
        };
    }
    if is_propstring(ty) {
        return ValueType::PropString(parse_propformat(ty));
    }
    if let Some(inner) = ty.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
        if inner.contains(" | ") {
            return ValueType::Enum {
                values: inner.split(" | ").map(str::to_string).collect(),
            };
        }
        return ValueType::String {
            format: Some(inner.to_string()),
        };
    }
    ValueType::String {
        format: Some(ty.to_string()),
    }
}

fn range(rest: &str) -> (Option<String>, Option<String>) {
    let rest = rest.trim();
    let Some(inner) = rest.strip_prefix('(').and_then(|r| r.split(')').next()) else {
        return (None, None);
    };
    match inner.split_once(" - ") {
        Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
        None => (None, None),
    }
}

fn is_propstring(ty: &str) -> bool {
    // Outside `<...>`, a property string has `key=`.
    let mut depth = 0;
    for c in ty.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            '=' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Split a format string on spaces outside `<...>`.
fn format_tokens(ty: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in ty.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ => {}
        }
        if c == ' ' && depth <= 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Is the whole token wrapped in one `[...]` pair?
fn wrapped(tok: &str) -> bool {
    if !tok.starts_with('[') || !tok.ends_with(']') {
        return false;
    }
    let mut depth = 0i32;
    let mut angle = 0i32;
    for (i, c) in tok.char_indices() {
        match c {
            '<' => angle += 1,
            '>' => angle -= 1,
            '[' if angle == 0 => depth += 1,
            ']' if angle == 0 => {
                depth -= 1;
                if depth == 0 {
                    return i == tok.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

fn parse_propformat(ty: &str) -> PropFormat {
    let mut keys = Vec::new();
    let mut model_keys = false;
    for tok in format_tokens(ty) {
        let optional = wrapped(&tok);
        let inner = if optional {
            &tok[1..tok.len() - 1]
        } else {
            tok.as_str()
        };
        let inner = inner.trim_start_matches(',');
        let (name, value, default_key) = if let Some(rest) = inner.strip_prefix('[') {
            match rest.split_once("=]") {
                Some((n, v)) => (n.to_string(), v.to_string(), true),
                None => continue,
            }
        } else {
            match inner.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string(), false),
                None => continue,
            }
        };
        if name == "<model>" {
            model_keys = true;
            continue;
        }
        let value = match value.as_str() {
            "\\d+" => ValueType::Integer {
                min: Some(0),
                max: None,
            },
            v if v.starts_with('<') && v.ends_with('>') && v.contains('|') => {
                let inner = &v[1..v.len() - 1];
                if inner == "1|0" {
                    ValueType::Boolean
                } else if inner.contains('(') || inner.contains('[') {
                    ValueType::String {
                        format: Some(inner.to_string()),
                    }
                } else {
                    ValueType::Enum {
                        values: inner.split('|').map(|s| s.trim().to_string()).collect(),
                    }
                }
            }
            v => parse_type(v),
        };
        keys.push(PropKey {
            name,
            default_key,
            required: !optional,
            value,
        });
    }
    PropFormat { keys, model_keys }
}

/// Replace vague property-key types (`<enum>`, `<integer>`) with the precise ones of the conf docs.
fn refine(value: &mut ValueType, sub: Option<&BTreeMap<String, ValueType>>) {
    let (ValueType::PropString(pf), Some(sub)) = (value, sub) else {
        return;
    };
    for k in &mut pf.keys {
        if let Some(t) = sub.get(&k.name) {
            let precise = matches!(
                t,
                ValueType::Enum { .. }
                    | ValueType::Boolean
                    | ValueType::Integer { .. }
                    | ValueType::Number { .. }
            );
            if precise {
                k.value = t.clone();
            }
        }
    }
}
