//! The API schema extract (`crates/pve-sim/spec/pve-api.json`, generated from Proxmox's
//! `apidata.js` by `gen.rs`) and request validation worded as `PVE::JSONSchema` words it.
//!
//! Validation follows `PVE::RESTHandler::handle` → `PVE::JSONSchema::validate`: path parameters
//! join the query/body parameters; a single value where an array is wanted becomes a list and a
//! list where a `-list` format is wanted is joined with commas; then every schema property is
//! checked (missing, type, format, pattern, length, range, enum, in that order, first failure
//! wins) and every given parameter must be in the schema. Errors are a map parameter → message.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use pve::api::Value;
use serde::{Deserialize, Serialize};

use super::formats;

/// The whole extract.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiSpec {
    /// Where it was generated from.
    pub source: String,
    /// Property-string formats shared by several parameters, by id.
    pub formats: BTreeMap<String, BTreeMap<String, Param>>,
    /// Path template → method → schema.
    pub paths: BTreeMap<String, BTreeMap<String, MethodSpec>>,
}

/// One method of one path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodSpec {
    pub params: BTreeMap<String, Param>,
    /// Whether parameters outside `params` are allowed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub additional: bool,
    /// JSON type of the answer's `data` (`null`, `string`, `object`, `array`).
    pub returns: String,
    /// Whether the handler forks a worker and answers its UPID.
    #[serde(default, skip_serializing_if = "is_false")]
    pub task: bool,
    /// Whether API tokens may call it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allowtoken: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A parameter, or a key of a property string.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Param {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    #[serde(rename = "minLength", default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    #[serde(rename = "maxLength", default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// A named format (`pve-vmid`), or `{"ref": id}` of a property-string format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub default_key: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(rename = "keyAlias", default, skip_serializing_if = "Option::is_none")]
    pub key_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Param>>,
    /// Highest index of an indexed name (`net[n]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_index: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Format {
    Named(String),
    Ref {
        #[serde(rename = "ref")]
        id: String,
    },
}

const SPEC_JSON: &str = include_str!("../../spec/pve-api.json");

/// The embedded extract.
pub fn spec() -> &'static ApiSpec {
    static SPEC: OnceLock<ApiSpec> = OnceLock::new();
    SPEC.get_or_init(|| serde_json::from_str(SPEC_JSON).expect("embedded pve-api.json is valid"))
}

/// Errors by parameter name (`_root` for the request as a whole), as Proxmox answers them.
pub type Errors = BTreeMap<String, String>;

fn add_error(errors: &mut Errors, path: &str, msg: impl Into<String>) {
    let path = if path.is_empty() { "_root" } else { path };
    let msg = msg.into();
    errors
        .entry(path.to_string())
        .and_modify(|m| {
            m.push('\n');
            m.push_str(&msg);
        })
        .or_insert(msg);
}

/// The schema of `method path`, and the values of the path's placeholders.
pub fn find<'a>(
    api: &'a ApiSpec,
    method: &str,
    path: &str,
) -> Option<(&'a str, &'a MethodSpec, BTreeMap<String, String>)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best: Option<(&str, &MethodSpec, BTreeMap<String, String>, usize)> = None;
    for (tpl, methods) in &api.paths {
        let Some(ms) = methods.get(method) else {
            continue;
        };
        let tsegs: Vec<&str> = tpl.split('/').filter(|s| !s.is_empty()).collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut vars = BTreeMap::new();
        let mut literal = 0;
        let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                vars.insert(name.to_string(), s.to_string());
                true
            } else {
                literal += 1;
                t == s
            }
        });
        // A literal segment beats a placeholder (`/storage/status` over `/storage/{id}`).
        if ok && best.as_ref().is_none_or(|b| literal > b.3) {
            best = Some((tpl.as_str(), ms, vars, literal));
        }
    }
    best.map(|(t, m, v, _)| (t, m, v))
}

/// The schema of a parameter name, with indexed names (`net0` → `net[n]`).
fn property<'a>(props: &'a BTreeMap<String, Param>, key: &str) -> Option<&'a Param> {
    if let Some(p) = props.get(key) {
        return Some(p);
    }
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &key[base.len()..];
    if base.is_empty() || digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let p = props.get(&format!("{base}[n]"))?;
    let n: u32 = digits.parse().ok()?;
    p.max_index.is_none_or(|m| n <= m).then_some(p)
}

/// Normalises `params` (arrays and `-list` formats) and validates them against `ms`.
pub fn validate(
    api: &ApiSpec,
    ms: &MethodSpec,
    params: &mut BTreeMap<String, Value>,
) -> Result<(), Errors> {
    for (k, v) in params.iter_mut() {
        let Some(p) = property(&ms.params, k) else {
            continue;
        };
        let is_list_format = matches!(&p.format, Some(Format::Named(f)) if f.ends_with("-list"));
        match v {
            Value::Str(s) if p.ty.as_deref() == Some("array") => {
                *v = Value::List(vec![std::mem::take(s)])
            }
            Value::List(l) if p.ty.as_deref() == Some("string") && is_list_format => {
                *v = Value::Str(l.join(","))
            }
            _ => {}
        }
    }
    let mut errors = Errors::new();
    check_object(api, "", &ms.params, params, ms.additional, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_object(
    api: &ApiSpec,
    path: &str,
    props: &BTreeMap<String, Param>,
    values: &BTreeMap<String, Value>,
    additional: bool,
    errors: &mut Errors,
) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for (k, p) in props {
        if k.ends_with("[n]") || p.alias.is_some() {
            continue;
        }
        check_prop(api, &join(k), values.get(k), p, errors);
    }
    for (k, v) in values {
        match property(props, k) {
            Some(p) if props.contains_key(k) && p.alias.is_none() => {}
            Some(p) if p.alias.is_some() => {}
            Some(p) => check_prop(api, &join(k), Some(v), p, errors),
            None if additional => {}
            None => add_error(
                errors,
                &join(k),
                "property is not defined in schema and the schema does not allow additional properties",
            ),
        }
    }
}

fn is_integer(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// `PVE::JSONSchema::is_number`: `^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$`.
pub fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => (digits(a) && (b.is_empty() || digits(b))) || (a.is_empty() && digits(b)),
        None => digits(mant),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mant_ok && exp_ok
}

fn check_prop(api: &ApiSpec, path: &str, value: Option<&Value>, p: &Param, errors: &mut Errors) {
    let Some(value) = value else {
        if !p.optional {
            add_error(errors, path, "property is missing and it is not optional");
        }
        return;
    };
    let ty = p.ty.as_deref().unwrap_or("");
    let s = match value {
        Value::List(items) => {
            if ty != "array" {
                add_error(
                    errors,
                    path,
                    format!("type check ('{ty}') failed - got ARRAY"),
                );
                return;
            }
            if let Some(item) = &p.items {
                for (i, v) in items.iter().enumerate() {
                    check_prop(
                        api,
                        &format!("{path}[{i}]"),
                        Some(&Value::Str(v.clone())),
                        item,
                        errors,
                    );
                }
            }
            return;
        }
        Value::Str(s) => s,
    };
    let type_ok = match ty {
        "array" | "object" => false,
        "boolean" => s == "0" || s == "1",
        "integer" => is_integer(s),
        "number" => is_number(s),
        _ => true,
    };
    if !type_ok {
        let got = if ty == "array" || ty == "object" {
            String::new()
        } else {
            format!(" - got '{s}'")
        };
        add_error(errors, path, format!("type check ('{ty}') failed{got}"));
        return;
    }
    if let Some(f) = &p.format {
        if let Err(msg) = check_format(api, f, s, path) {
            add_error(errors, path, format!("invalid format - {msg}"));
            return;
        }
    }
    if let Some(pat) = &p.pattern {
        if !formats::matches_pattern(pat, s) {
            add_error(errors, path, "value does not match the regex pattern");
            return;
        }
    }
    let len = s.chars().count();
    if let Some(max) = p.max_length.filter(|m| len > *m) {
        add_error(
            errors,
            path,
            format!("value may only be {max} characters long"),
        );
        return;
    }
    if let Some(min) = p.min_length.filter(|m| len < *m) {
        add_error(
            errors,
            path,
            format!("value must be at least {min} characters long"),
        );
        return;
    }
    if is_number(s) {
        let n: f64 = s.parse().unwrap_or(0.0);
        if let Some(max) = p.maximum.filter(|m| n > *m) {
            add_error(
                errors,
                path,
                format!("value must have a maximum value of {}", num(max)),
            );
            return;
        }
        if let Some(min) = p.minimum.filter(|m| n < *m) {
            add_error(
                errors,
                path,
                format!("value must have a minimum value of {}", num(min)),
            );
            return;
        }
    }
    if let Some(values) = &p.enum_values {
        if !values.iter().any(|v| v == s) {
            add_error(
                errors,
                path,
                format!(
                    "value '{s}' does not have a value in the enumeration '{}'",
                    values.join(", ")
                ),
            );
        }
    }
}

/// A number as Perl prints it (`100`, not `100.0`).
fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn check_format(api: &ApiSpec, f: &Format, s: &str, path: &str) -> Result<(), String> {
    match f {
        Format::Named(name) => formats::check_named(name, s),
        Format::Ref { id } => {
            let props = api
                .formats
                .get(id)
                .ok_or_else(|| format!("unknown format: {id}"))?;
            check_property_string(api, props, s, path)
        }
    }
}

/// `PVE::JSONSchema::parse_property_string` followed by `check_object`.
fn check_property_string(
    api: &ApiSpec,
    props: &BTreeMap<String, Param>,
    data: &str,
    path: &str,
) -> Result<(), String> {
    let mut res: BTreeMap<String, Value> = BTreeMap::new();
    let mut default_key: Option<String> = None;
    for part in data.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                if res.contains_key(k) {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}"
                    ));
                }
                let mut key = k.to_string();
                if let Some(alias) = props.get(k).and_then(|p| p.alias.clone()) {
                    if let Some(ka) = props.get(k).and_then(|p| p.key_alias.clone()) {
                        if res.contains_key(&ka) {
                            return Err(format!("key alias '{ka}' is already defined"));
                        }
                        res.insert(ka, Value::Str(k.to_string()));
                    }
                    if res.contains_key(&alias) {
                        return Err(format!("key '{alias}' is already defined (via alias)"));
                    }
                    key = alias;
                }
                let Some(schema) = props.get(&key) else {
                    return Err(format!("invalid key in comma-separated list property: {k}"));
                };
                let v = if schema.ty.as_deref() == Some("boolean") {
                    formats::parse_boolean(v).unwrap_or(v).to_string()
                } else {
                    v.to_string()
                };
                res.insert(key, Value::Str(v));
            }
            None => {
                if let Some(dk) = &default_key {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {dk}"
                    ));
                }
                let Some((k, schema)) = props.iter().find(|(_, p)| p.default_key) else {
                    return Err(
                        "value without key, but schema does not define a default key".into(),
                    );
                };
                if res.contains_key(k) {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}"
                    ));
                }
                let v = if schema.ty.as_deref() == Some("boolean") {
                    formats::parse_boolean(part).unwrap_or(part).to_string()
                } else {
                    part.to_string()
                };
                default_key = Some(k.clone());
                res.insert(k.clone(), Value::Str(v));
            }
            Some(_) => return Err("missing key in comma-separated list property".into()),
        }
    }
    let mut errors = Errors::new();
    check_object(api, path, props, &res, false, &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("format error\n");
    for (k, v) in errors {
        msg.push_str(&format!("{k}: {v}\n"));
    }
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, params: &[(&str, &str)]) -> Result<(), Errors> {
        let api = spec();
        let (_, ms, vars) = find(api, method, path).expect("path in the extract");
        let mut p: BTreeMap<String, Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
            .collect();
        for (k, v) in vars {
            p.insert(k, Value::Str(v));
        }
        validate(api, ms, &mut p)
    }

    #[test]
    fn valid_requests_pass() {
        req(
            "PUT",
            "/nodes/pve/lxc/950/config",
            &[
                ("memory", "2048"),
                (
                    "net0",
                    "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,firewall=1",
                ),
            ],
        )
        .unwrap();
        req(
            "POST",
            "/nodes/pve/lxc/900/clone",
            &[("newid", "950"), ("hostname", "gw"), ("full", "1")],
        )
        .unwrap();
        req("GET", "/cluster/resources", &[("type", "vm")]).unwrap();
        req(
            "POST",
            "/nodes/pve/qemu",
            &[
                ("vmid", "9000"),
                ("scsi0", "local-zfs:0,import-from=/x.img"),
                ("net0", "virtio,bridge=vmbr0"),
            ],
        )
        .unwrap();
    }

    #[test]
    fn errors_are_worded_like_proxmox() {
        let e = req(
            "PUT",
            "/nodes/pve/lxc/950/config",
            &[("memory", "lots"), ("bogus", "1"), ("onboot", "yes")],
        )
        .unwrap_err();
        assert_eq!(e["memory"], "type check ('integer') failed - got 'lots'");
        assert_eq!(
            e["bogus"],
            "property is not defined in schema and the schema does not allow additional properties"
        );
        assert_eq!(e["onboot"], "type check ('boolean') failed - got 'yes'");
        let e = req("POST", "/nodes/pve/lxc/900/clone", &[]).unwrap_err();
        assert_eq!(e["newid"], "property is missing and it is not optional");
        let e = req("PUT", "/nodes/pve/lxc/95/config", &[("cores", "0")]).unwrap_err();
        assert_eq!(
            e["vmid"],
            "invalid format - value does not look like a valid VM ID"
        );
        assert_eq!(e["cores"], "value must have a minimum value of 1");
        let e = req("GET", "/cluster/resources", &[("type", "vms")]).unwrap_err();
        assert!(
            e["type"].starts_with(
                "value 'vms' does not have a value in the enumeration 'vm, storage, node"
            ),
            "{e:?}"
        );
        let e = req(
            "PUT",
            "/nodes/pve/lxc/950/config",
            &[("net0", "name=eth0,bogus=1")],
        )
        .unwrap_err();
        assert_eq!(
            e["net0"],
            "invalid format - invalid key in comma-separated list property: bogus"
        );
        let e = req(
            "PUT",
            "/nodes/pve/lxc/950/config",
            &[("net0", "bridge=vmbr0")],
        )
        .unwrap_err();
        assert_eq!(e["net0"], "invalid format - format error\nnet0.name: property is missing and it is not optional\n");
        let e = req(
            "PUT",
            "/nodes/pve/lxc/950/config",
            &[("net99", "name=eth0")],
        )
        .unwrap_err();
        assert!(e.contains_key("net99"), "{e:?}");
    }

    #[test]
    fn arrays_from_single_form_fields() {
        let api = spec();
        let (_, ms, _) = find(api, "POST", "/nodes/pve/qemu/9000/agent/exec").unwrap();
        let mut p = BTreeMap::from([
            ("node".to_string(), Value::Str("pve".into())),
            ("vmid".to_string(), Value::Str("9000".into())),
            ("command".to_string(), Value::Str("uptime".into())),
        ]);
        validate(api, ms, &mut p).unwrap();
        assert_eq!(p["command"], Value::List(vec!["uptime".into()]));
    }

    #[test]
    fn numbers_as_perl_reads_them() {
        for ok in ["1", "-1", "+2.5", "3.", ".5", "1e5", "2.5E-3"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", ".", "1..2", "e5", "0x10", "1e"] {
            assert!(!is_number(bad), "{bad}");
        }
    }
}
