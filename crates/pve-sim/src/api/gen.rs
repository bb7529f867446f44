//! Generator of `crates/pve-sim/spec/pve-api.json` from the committed copy of Proxmox's
//! `apidata.js` (`tests/fixtures/proxmox-api/`): the paths Phoenix and the simulator use, with
//! names, types, ranges, enums, patterns and formats (no descriptions). Property-string
//! formats are stored once and referenced. Run
//! `PVE_API_REGENERATE=1 cargo test -p pve-sim api_spec_is_current` after updating the copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::schema::{ApiSpec, Format, MethodSpec, Param};

/// Paths beyond `pve::api::ROUTES` that Phoenix or the simulator serve.
const EXTRA: &[(&str, &str)] = &[
    ("GET", "/version"),
    ("GET", "/nodes"),
    ("GET", "/cluster/resources"),
    ("GET", "/nodes/{node}/tasks"),
    ("GET", "/nodes/{node}/tasks/{upid}/status"),
    ("GET", "/nodes/{node}/tasks/{upid}/log"),
    ("POST", "/nodes/{node}/qemu/{vmid}/config"),
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/ping"),
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/file-write"),
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/file-read"),
    ("GET", "/cluster/ha/resources"),
    ("POST", "/cluster/ha/resources"),
    ("GET", "/cluster/ha/resources/{sid}"),
    ("PUT", "/cluster/ha/resources/{sid}"),
    ("DELETE", "/cluster/ha/resources/{sid}"),
];

/// Highest index of indexed parameters whose description does not give it (Proxmox constants).
const INDEX_FALLBACK: &[(&str, u32)] = &[
    ("net", 31),
    ("ipconfig", 31),
    ("mp", 255),
    ("unused", 255),
    ("dev", 255),
    ("hostpci", 15),
    ("usb", 13),
    ("numa", 7),
    ("virtiofs", 9),
    ("serial", 3),
    ("parallel", 2),
];

pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/proxmox-api/apidata.js")
}

/// Parses apidata.js (`const apiSchema = [...];`).
pub fn load(path: &Path) -> std::io::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    let start = text
        .find('[')
        .ok_or_else(|| std::io::Error::other("no '[' in apidata.js"))?;
    let end = text
        .rfind(']')
        .ok_or_else(|| std::io::Error::other("no ']' in apidata.js"))?;
    serde_json::from_str(&text[start..=end]).map_err(std::io::Error::other)
}

fn index(tree: &Value, out: &mut BTreeMap<(String, String), Value>) {
    for node in tree.as_array().into_iter().flatten() {
        if let (Some(path), Some(info)) =
            (node.get("path").and_then(Value::as_str), node.get("info"))
        {
            for (m, i) in info.as_object().into_iter().flatten() {
                out.insert((m.clone(), path.to_string()), i.clone());
            }
        }
        if let Some(c) = node.get("children") {
            index(c, out);
        }
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "1",
        _ => false,
    }
}

fn max_index(name: &str, desc: &str) -> Option<u32> {
    let base = name.strip_suffix("[n]")?;
    let mut best: Option<u32> = None;
    for marker in ["0 to ", "up to "] {
        for (i, _) in desc.match_indices(marker) {
            let digits: String = desc[i + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse::<u32>() {
                best = Some(best.map_or(n, |b: u32| b.max(n)));
            }
        }
    }
    best.or_else(|| {
        INDEX_FALLBACK
            .iter()
            .find(|(b, _)| *b == base)
            .map(|(_, n)| *n)
    })
}

struct Gen {
    formats: BTreeMap<String, BTreeMap<String, Param>>,
}

impl Gen {
    fn param(&mut self, name: &str, v: &Value) -> Param {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| v.get(k).and_then(Value::as_f64);
        let format = match v.get("format") {
            Some(Value::String(f)) => Some(Format::Named(f.clone())),
            Some(Value::Object(o)) => Some(self.format_ref(name, o)),
            _ => None,
        };
        Param {
            ty: s("type"),
            optional: truthy(v.get("optional")),
            enum_values: v.get("enum").and_then(Value::as_array).map(|a| {
                a.iter()
                    .map(|e| {
                        e.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| e.to_string())
                    })
                    .collect()
            }),
            pattern: s("pattern"),
            minimum: n("minimum"),
            maximum: n("maximum"),
            min_length: v
                .get("minLength")
                .and_then(Value::as_u64)
                .map(|x| x as usize),
            max_length: v
                .get("maxLength")
                .and_then(Value::as_u64)
                .map(|x| x as usize),
            format,
            default_key: truthy(v.get("default_key")),
            alias: s("alias"),
            key_alias: s("keyAlias"),
            items: v
                .get("items")
                .filter(|i| i.is_object())
                .map(|i| Box::new(self.param("item", i))),
            max_index: max_index(
                name,
                v.get("description").and_then(Value::as_str).unwrap_or(""),
            ),
        }
    }

    /// Stores a property-string format once; same content, same id.
    fn format_ref(&mut self, name: &str, o: &Map<String, Value>) -> Format {
        let props: BTreeMap<String, Param> = o
            .iter()
            .map(|(k, v)| (k.clone(), self.param(k, v)))
            .collect();
        let base = name.trim_end_matches("[n]").to_string();
        let text = serde_json::to_string(&props).unwrap_or_default();
        for (id, existing) in &self.formats {
            if serde_json::to_string(existing).unwrap_or_default() == text {
                return Format::Ref { id: id.clone() };
            }
        }
        let mut id = base.clone();
        let mut i = 2;
        while self.formats.contains_key(&id) {
            id = format!("{base}-{i}");
            i += 1;
        }
        self.formats.insert(id.clone(), props);
        Format::Ref { id }
    }
}

/// Builds the extract from apidata.js.
pub fn build(apidata: &Path) -> std::io::Result<ApiSpec> {
    let tree = load(apidata)?;
    let mut all = BTreeMap::new();
    index(&tree, &mut all);
    let mut wanted: Vec<(String, String)> = pve::api::ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .chain(EXTRA.iter().map(|(m, p)| (m.to_string(), p.to_string())))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut g = Gen {
        formats: BTreeMap::new(),
    };
    let mut paths: BTreeMap<String, BTreeMap<String, MethodSpec>> = BTreeMap::new();
    for (m, p) in wanted {
        let info = all
            .get(&(m.clone(), p.clone()))
            .ok_or_else(|| std::io::Error::other(format!("{m} {p} is not in apidata.js")))?;
        let params = info.get("parameters");
        let props: BTreeMap<String, Param> = params
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), g.param(k, v))).collect())
            .unwrap_or_default();
        let returns = info.get("returns");
        let rtype = returns
            .and_then(|r| r.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("null")
            .to_string();
        let rdesc = returns
            .and_then(|r| r.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let task = m != "GET" && rtype == "string" && !rdesc.contains("Volume identifier");
        paths.entry(p).or_default().insert(
            m,
            MethodSpec {
                params: props,
                additional: truthy(params.and_then(|p| p.get("additionalProperties"))),
                returns: rtype,
                task,
                allowtoken: truthy(info.get("allowtoken")),
            },
        );
    }
    Ok(ApiSpec {
        source: "apidata.js of Proxmox VE 9.1.3 (pve-docs e5010dc), tests/fixtures/proxmox-api"
            .into(),
        formats: g.formats,
        paths,
    })
}

pub fn generate(apidata: &Path) -> std::io::Result<String> {
    let spec = build(apidata)?;
    let mut s = serde_json::to_string_pretty(&spec).map_err(std::io::Error::other)?;
    s.push('\n');
    Ok(s)
}

#[test]
fn api_spec_is_current() {
    let generated = generate(&fixture()).expect("generate the API extract");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spec/pve-api.json");
    if std::env::var_os("PVE_API_REGENERATE").is_some() {
        std::fs::write(&path, &generated).expect("write the API extract");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "crates/pve-sim/spec/pve-api.json is stale: run PVE_API_REGENERATE=1 cargo test -p pve-sim api_spec_is_current"
    );
}

/// The committed copy must be the reference (when the reference is next to the workspace).
#[test]
fn apidata_copy_matches_reference() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let reference = root.join("../shared/reference/proxmox/api/apidata.js");
    let Ok(want) = std::fs::read(&reference) else {
        eprintln!("reference not found next to the workspace; skipping");
        return;
    };
    let have = std::fs::read(fixture()).expect("committed apidata.js");
    assert!(
        have == want,
        "tests/fixtures/proxmox-api/apidata.js differs from the reference"
    );
}
