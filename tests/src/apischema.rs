//! An independent check of API requests against the FULL Proxmox API schema
//! (`tests/fixtures/proxmox-api/apidata.js`), for the e2e tests' `api-requests.jsonl`.
//!
//! Written apart from the simulator's own validation (`pve-sim`'s `api/schema.rs`) on purpose,
//! so that one mistake cannot hide in both: it reads the full apidata.js, not the extract; it
//! shares no code with pve-sim; it checks what makes a request invalid for any Proxmox node —
//! the path and method exist and allow API tokens, every parameter is defined (indexed names
//! within their documented range), required ones are present, and values have the declared
//! type, enum, range, length and pattern; property strings only use defined keys with values of
//! the declared type. Named formats (`pve-vmid`, ...) are not re-checked here.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// The schema: `(METHOD, path template)` → method info.
pub struct Schema {
    methods: Vec<(String, Vec<String>, Value)>,
}

impl Schema {
    /// Loads `apidata.js` (`const apiSchema = [...];`).
    pub fn load(path: &Path) -> Result<Schema, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json = text
            .trim()
            .trim_start_matches("const apiSchema = ")
            .trim_end_matches(';');
        let tree: Value = serde_json::from_str(json).map_err(|e| format!("apidata.js: {e}"))?;
        let mut methods = Vec::new();
        let mut stack: Vec<&Value> = tree
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        while let Some(node) = stack.pop() {
            if let (Some(p), Some(info)) = (node["path"].as_str(), node["info"].as_object()) {
                let segs: Vec<String> = p
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                for (m, i) in info {
                    methods.push((m.clone(), segs.clone(), i.clone()));
                }
            }
            if let Some(c) = node["children"].as_array() {
                stack.extend(c.iter());
            }
        }
        Ok(Schema { methods })
    }

    /// The repo's copy.
    pub fn fixture() -> Schema {
        Schema::load(&crate::repo().join("tests/fixtures/proxmox-api/apidata.js"))
            .expect("apidata.js")
    }

    /// Problems of one request (`path` with or without `/api2/json`); empty when valid.
    pub fn check(&self, method: &str, path: &str, params: &BTreeMap<String, Value>) -> Vec<String> {
        let rel = path.strip_prefix("/api2/json").unwrap_or(path);
        let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Option<(usize, &Value, BTreeMap<String, String>)> = None;
        for (m, tsegs, info) in &self.methods {
            if m != method || tsegs.len() != segs.len() {
                continue;
            }
            let mut vars = BTreeMap::new();
            let mut literal = 0;
            let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') && t.ends_with('}') {
                    vars.insert(t[1..t.len() - 1].to_string(), s.to_string());
                    true
                } else {
                    literal += 1;
                    t == s
                }
            });
            if ok && best.as_ref().is_none_or(|b| literal > b.0) {
                best = Some((literal, info, vars));
            }
        }
        let Some((_, info, vars)) = best else {
            return vec![format!("{method} {rel}: no such API method")];
        };
        let mut problems = Vec::new();
        if info["allowtoken"].as_i64() == Some(0) {
            problems.push(format!("{method} {rel}: not available to API tokens"));
        }
        let props = info["parameters"]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let additional = info["parameters"]["additionalProperties"].as_i64() == Some(1);
        let mut all: BTreeMap<String, Value> = params.clone();
        for (k, v) in vars {
            all.entry(k).or_insert(Value::String(v));
        }
        for (name, schema) in &props {
            let required = schema["optional"].as_i64().unwrap_or(0) == 0 && !name.ends_with("[n]");
            if required && !all.contains_key(name) {
                problems.push(format!("{name}: required parameter missing"));
            }
        }
        for (k, v) in &all {
            match lookup(&props, k) {
                Some(schema) => check_value(k, v, schema, &mut problems),
                None if additional => {}
                None => problems.push(format!("{k}: not a parameter of {method} {rel}")),
            }
        }
        problems
    }
}

/// A parameter's schema, with `net0` found as `net[n]` when 0 is within "n is 0 to N".
fn lookup<'a>(props: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(s) = props.get(key) {
        return Some(s);
    }
    let digits: String = key.chars().rev().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let base = &key[..key.len() - digits.len()];
    let index: u64 = key[base.len()..].parse().ok()?;
    let s = props.get(&format!("{base}[n]"))?;
    let desc = s["description"].as_str().unwrap_or("");
    let limit = desc
        .split("n is 0 to ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse::<u64>().ok());
    // Without a documented range: Proxmox's constants (MAX_NETS = 32, ...), else 255 (mp,
    // unused, dev).
    let fallback = match base {
        "net" | "ipconfig" => 31,
        "hostpci" => 15,
        "usb" => 13,
        "numa" => 7,
        "virtiofs" => 9,
        _ => 255,
    };
    (index <= limit.unwrap_or(fallback)).then_some(s)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        _ => None,
    }
}

fn check_value(name: &str, v: &Value, schema: &Value, problems: &mut Vec<String>) {
    let ty = schema["type"].as_str().unwrap_or("string");
    if let Value::Array(items) = v {
        if ty != "array"
            && !schema["format"]
                .as_str()
                .is_some_and(|f| f.ends_with("-list"))
        {
            problems.push(format!("{name}: a list where a {ty} is expected"));
        }
        for it in items {
            if !schema["items"].is_null() {
                check_value(name, it, &schema["items"], problems);
            }
        }
        return;
    }
    if ty == "array" {
        if !schema["items"].is_null() {
            check_value(name, v, &schema["items"], problems);
        }
        return;
    }
    let Some(s) = as_text(v) else {
        problems.push(format!("{name}: not a scalar"));
        return;
    };
    let bad = |why: String| format!("{name}: '{s}' {why}");
    match ty {
        "boolean" if s != "0" && s != "1" => problems.push(bad("is not 0 or 1".into())),
        "integer" if s.trim_start_matches(['-', '+']).parse::<u64>().is_err() => {
            problems.push(bad("is not an integer".into()))
        }
        "number" if s.parse::<f64>().is_err() => problems.push(bad("is not a number".into())),
        _ => {}
    }
    if let Ok(n) = s.parse::<f64>() {
        if schema["minimum"].as_f64().is_some_and(|m| n < m) {
            problems.push(bad(format!("is below {}", schema["minimum"])));
        }
        if schema["maximum"].as_f64().is_some_and(|m| n > m) {
            problems.push(bad(format!("is above {}", schema["maximum"])));
        }
    }
    if let Some(vals) = schema["enum"].as_array() {
        if !vals.iter().any(|e| as_text(e).as_deref() == Some(&s)) {
            problems.push(bad("is not one of the enumerated values".into()));
        }
    }
    if schema["maxLength"]
        .as_u64()
        .is_some_and(|m| s.chars().count() as u64 > m)
    {
        problems.push(bad("is too long".into()));
    }
    if let Some(p) = schema["pattern"].as_str() {
        if let Ok(re) = regex::Regex::new(&format!("^(?:{p})$")) {
            if !re.is_match(&s) {
                problems.push(bad(format!("does not match /{p}/")));
            }
        }
    }
    if let Some(keys) = schema["format"].as_object() {
        check_property_string(name, &s, keys, problems);
    }
}

fn check_property_string(
    name: &str,
    s: &str,
    keys: &serde_json::Map<String, Value>,
    problems: &mut Vec<String>,
) {
    let default = keys
        .iter()
        .find(|(_, k)| k["default_key"].as_i64() == Some(1))
        .map(|(n, _)| n.clone());
    let mut seen = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match &default {
                Some(d) => (d.clone(), part.to_string()),
                None => {
                    problems.push(format!(
                        "{name}: '{part}' has no key and there is no default key"
                    ));
                    continue;
                }
            },
        };
        let Some(ks) = keys.get(&k) else {
            problems.push(format!("{name}: unknown key '{k}'"));
            continue;
        };
        let ks = match ks["alias"].as_str() {
            Some(a) => keys.get(a).unwrap_or(ks),
            None => ks,
        };
        let v = if ks["type"] == "boolean" {
            match v.as_str() {
                "yes" | "on" | "true" => "1".to_string(),
                "no" | "off" | "false" => "0".to_string(),
                _ => v,
            }
        } else {
            v
        };
        check_value(&format!("{name}.{k}"), &Value::String(v), ks, problems);
        seen.push(k);
    }
    for (k, ks) in keys {
        let required = ks["optional"].as_i64().unwrap_or(0) == 0 && ks["alias"].is_null();
        if required && !seen.contains(k) {
            problems.push(format!("{name}: required key '{k}' missing"));
        }
    }
}

/// Checks every line of an `api-requests.jsonl`; the problems, each naming its line.
pub fn check_log(schema: &Schema, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            out.push(format!("line {}: not JSON", i + 1));
            continue;
        };
        let params: BTreeMap<String, Value> = v["params"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let method = v["method"].as_str().unwrap_or("");
        let path = v["path"].as_str().unwrap_or("");
        for p in schema.check(method, path, &params) {
            out.push(format!("line {}: {method} {path}: {p}", i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn good_requests_have_no_problems() {
        let s = Schema::fixture();
        assert!(s
            .check("GET", "/api2/json/cluster/resources", &p(&[("type", "vm")]))
            .is_empty());
        let create = p(&[
            ("vmid", "950"),
            ("ostemplate", "local:vztmpl/u.tar.zst"),
            ("net0", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,firewall=1"),
            ("rootfs", "local-zfs:8"),
            ("unprivileged", "1"),
        ]);
        assert_eq!(
            s.check("POST", "/api2/json/nodes/pve/lxc", &create),
            Vec::<String>::new()
        );
        let mut exec = BTreeMap::new();
        exec.insert("command".to_string(), serde_json::json!(["ls", "-l"]));
        assert!(s
            .check("POST", "/nodes/pve/qemu/9000/agent/exec", &exec)
            .is_empty());
        assert!(s
            .check(
                "GET",
                "/nodes/pve/tasks/UPID:pve:00000001:00000002:00000003:vzstart:950:root@pam:/status",
                &p(&[])
            )
            .is_empty());
    }

    #[test]
    fn bad_requests_are_named() {
        let s = Schema::fixture();
        let has = |v: Vec<String>, needle: &str| {
            assert!(
                v.iter().any(|x| x.contains(needle)),
                "{needle} not in {v:?}"
            )
        };
        has(
            s.check("GET", "/nodes/pve/lxc/950/dance", &p(&[])),
            "no such API method",
        );
        has(
            s.check(
                "PUT",
                "/nodes/pve/lxc/950/config",
                &p(&[("memory", "lots")]),
            ),
            "memory: 'lots' is not an integer",
        );
        has(
            s.check("PUT", "/nodes/pve/lxc/950/config", &p(&[("bogus", "1")])),
            "bogus: not a parameter",
        );
        has(
            s.check("PUT", "/nodes/pve/lxc/950/config", &p(&[("onboot", "yes")])),
            "is not 0 or 1",
        );
        has(
            s.check("POST", "/nodes/pve/lxc/950/clone", &p(&[])),
            "newid: required parameter missing",
        );
        has(
            s.check("PUT", "/nodes/pve/lxc/95/config", &p(&[])),
            "vmid: '95' is below 100",
        );
        has(
            s.check("GET", "/cluster/resources", &p(&[("type", "vms")])),
            "not one of the enumerated values",
        );
        has(
            s.check(
                "PUT",
                "/nodes/pve/lxc/950/config",
                &p(&[("net0", "name=eth0,colour=red")]),
            ),
            "unknown key 'colour'",
        );
        has(
            s.check(
                "PUT",
                "/nodes/pve/lxc/950/config",
                &p(&[("net0", "bridge=vmbr0")]),
            ),
            "required key 'name' missing",
        );
        has(
            s.check(
                "PUT",
                "/nodes/pve/qemu/9000/config",
                &p(&[("net99", "virtio")]),
            ),
            "net99: not a parameter",
        );
        let log = "{\"method\":\"GET\",\"path\":\"/api2/json/version\",\"params\":{},\"status\":200}\n{\"method\":\"POST\",\"path\":\"/api2/json/nodes/pve/lxc/950/status/start\",\"params\":{\"skiplock\":\"maybe\"},\"status\":400}\n";
        let problems = check_log(&s, log);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("line 2:"), "{problems:?}");
    }
}
