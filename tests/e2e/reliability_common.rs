//! Shared by the reliability tests (`reliability_*.rs`, `faults.rs`): the upstream fixture set up
//! once on a simulated node, cheap copies of that node for every scenario, `phoenix LetsGo` on a
//! copy, the node's dump with the fields that legitimately differ between runs normalised away,
//! and a scan of the state files for corruption and duplicates.
//!
//! Normalisation of `pve-sim dump --no-timestamps` (documented in docs/reliability.md):
//! * the node's own folder (it appears in `storage.cfg` paths) becomes `<root>`;
//! * `guest_exec_count` is dropped: a re-run after a failure repeats probes and feature scripts,
//!   so the number of guest commands differs while the outcome does not;
//! * `guest_files` become a sorted set with the unique part of Phoenix's per-run temp folder
//!   (`/tmp/phoenix_app.<id>.<pid>.<nanos>/`) replaced by `/tmp/phoenix_app.<id>.*/`: the
//!   simulator keeps pushed files (it does not run the `rm -rf` of that folder), so a re-run
//!   adds another copy of the same files under a new folder name.
//!
//! Everything else (configs, raw `lxc.*` lines, snapshots and their configs, run state,
//! volumes and their sizes, firewall files) must be equal.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use phoenix_tests::{bin, repo, stderr, upstream_fixture, Sim};
use serde_json::Value;

pub const IMAGE: &str = "noble-server-cloudimg-amd64.img";

pub fn fixture_config() -> PathBuf {
    upstream_fixture().join("phoenix_hypervisor_config.json")
}

/// A node on which `phoenix setup` of the upstream fixture has run and the cloud image is cached
/// (as on the upstream host), shared by the tests of one binary.
pub fn base() -> &'static Sim {
    static BASE: OnceLock<Sim> = OnceLock::new();
    BASE.get_or_init(|| {
        let sim = Sim::new();
        let o = phoenix(
            &sim,
            &["setup", "--config", fixture_config().to_str().unwrap()],
        )
        .output()
        .unwrap();
        assert!(o.status.success(), "setup failed:\n{}", stderr(&o));
        let cache = sim.dir().join("host/var/lib/vz/template/phoenix-images");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join(IMAGE), b"simulated cloud image").unwrap();
        sim
    })
}

/// `phoenix <args> --sim=<node>` with a clean environment and the checkout's scripts (the
/// binaries may be built outside the checkout, e.g. with `CARGO_TARGET_DIR`).
pub fn phoenix(sim: &Sim, args: &[&str]) -> Command {
    let mut c = sim.phoenix(args);
    c.env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"));
    c
}

/// A fresh copy of the set-up node in its own temp folder.
pub fn fresh() -> Sim {
    let b = base();
    let sim = Sim::new();
    copy_node(&b.dir(), &sim.dir());
    sim
}

/// Copies a node folder. The simulator writes its own root into `storage.cfg` and into the
/// storage symlinks; both are rewritten, and any other file naming the old root is rewritten
/// too, so the copy never refers back to the original.
pub fn copy_node(from: &Path, to: &Path) {
    let old = from.to_str().unwrap().as_bytes().to_vec();
    let new = to.to_str().unwrap().as_bytes().to_vec();
    copy_tree(from, to, &old, &new);
}

fn copy_tree(from: &Path, to: &Path, old: &[u8], new: &[u8]) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            let target = std::fs::read_link(&src).unwrap();
            let t = replace(target.to_str().unwrap().as_bytes(), old, new);
            std::os::unix::fs::symlink(String::from_utf8(t).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst, old, new);
        } else {
            let data = std::fs::read(&src).unwrap();
            std::fs::write(&dst, replace(&data, old, new)).unwrap();
            let perm = std::fs::metadata(&src).unwrap().permissions();
            std::fs::set_permissions(&dst, perm).unwrap();
        }
    }
}

fn replace(data: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// `phoenix LetsGo` of the fixture on `sim`.
pub fn lets_go(sim: &Sim, jobs: usize, extra: &[&str]) -> Output {
    lets_go_cmd(sim, jobs, extra).output().unwrap()
}

pub fn lets_go_cmd(sim: &Sim, jobs: usize, extra: &[&str]) -> Command {
    let cfg = fixture_config();
    let jobs = jobs.to_string();
    let mut args = vec![
        "LetsGo",
        "--config",
        cfg.to_str().unwrap(),
        "--no-boot-delay",
        "--jobs",
        &jobs,
    ];
    args.extend_from_slice(extra);
    phoenix(sim, &args)
}

pub fn set_faults(sim: &Sim, faults: &Value) {
    std::fs::write(sim.dir().join("faults.json"), faults.to_string()).unwrap();
}

/// The state after a clean `LetsGo` of the fixture: its normalised dump and the mutating calls
/// it made, in order.
pub struct Clean {
    pub dump: Value,
    pub mutating: Vec<Value>,
}

pub fn clean() -> &'static Clean {
    clean_over("local")
}

/// [`clean`] over a transport (`local`, `pvesh`, `api`), once per test binary.
pub fn clean_over(transport: &str) -> &'static Clean {
    static CLEAN: [OnceLock<Clean>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = ["local", "pvesh", "api"]
        .iter()
        .position(|t| *t == transport)
        .expect("a known transport");
    CLEAN[i].get_or_init(|| {
        let sim = fresh();
        let before = sim.invocations().len();
        let o = lets_go(&sim, 4, &["--transport", transport]);
        assert!(
            o.status.success(),
            "clean LetsGo ({transport}) failed:\n{}",
            stderr(&o)
        );
        let mutating = sim.invocations()[before..]
            .iter()
            .filter(|c| c["mutating"] == true)
            .cloned()
            .collect();
        let problems = check_state(&sim.dir());
        assert!(problems.is_empty(), "clean run state: {problems:#?}");
        Clean {
            dump: normalized_dump(&sim),
            mutating,
        }
    })
}

/// `pve-sim dump --no-timestamps`, normalised as described at the top of this file.
pub fn normalized_dump(sim: &Sim) -> Value {
    let root = sim.dir().to_str().unwrap().to_string();
    let mut d = sim.dump();
    normalize(&mut d, &root);
    d
}

fn normalize(v: &mut Value, root: &str) {
    match v {
        Value::String(s) if s.contains(root) => *s = s.replace(root, "<root>"),
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, root)),
        Value::Object(o) => {
            o.remove("guest_exec_count");
            if let Some(Value::Array(files)) = o.get_mut("guest_files") {
                let set: BTreeSet<String> = files
                    .iter()
                    .filter_map(Value::as_str)
                    .map(temp_folder_free)
                    .collect();
                *files = set.into_iter().map(Value::String).collect();
            }
            o.values_mut().for_each(|x| normalize(x, root));
        }
        _ => {}
    }
}

/// `/tmp/phoenix_app.950.1234.5678/x` -> `/tmp/phoenix_app.950.*/x`.
fn temp_folder_free(p: &str) -> String {
    const MARK: &str = "/tmp/phoenix_app.";
    let Some(start) = p.find(MARK) else {
        return p.to_string();
    };
    let rest = &p[start + MARK.len()..];
    let id_end = rest.find('.').unwrap_or(rest.len());
    let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    format!("{}{MARK}{}.*{tail}", &p[..start], &rest[..id_end])
}

/// Where a run's normalised dump differs from the clean run's (empty: the same state). Pushed
/// guest files are compared as a superset: the simulator answers every guest probe with
/// success, so in a clean run a script finds its files "in place"; when a fault makes such a
/// probe fail, the script pushes the file, which is an extra, correct, file.
pub fn state_diff(clean: &Value, got: &Value) -> Vec<String> {
    let mut got = got.clone();
    let mut out = Vec::new();
    let clean_guests = clean["guests"].as_array().cloned().unwrap_or_default();
    if let Some(guests) = got["guests"].as_array_mut() {
        for g in guests.iter_mut() {
            let Some(c) = clean_guests.iter().find(|c| c["vmid"] == g["vmid"]) else {
                continue;
            };
            let want: BTreeSet<String> = strings(&c["guest_files"]);
            let have: BTreeSet<String> = strings(&g["guest_files"]);
            let missing: Vec<&String> = want.difference(&have).collect();
            if !missing.is_empty() {
                out.push(format!(
                    "guest {}: pushed files missing: {missing:?}",
                    g["vmid"]
                ));
            }
            g["guest_files"] = c["guest_files"].clone();
        }
    }
    out.extend(diff(clean, &got));
    out
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Where two dumps differ, as `path: left != right` lines (at most a few dozen).
pub fn diff(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", a, b, &mut out);
    out.truncate(40);
    out
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff_at(&format!("{path}.{k}"), l, r, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                let name = l
                    .get("vmid")
                    .or_else(|| l.get("name"))
                    .or_else(|| l.get("id"))
                    .or_else(|| l.get("volid"))
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| i.to_string());
                diff_at(&format!("{path}[{name}]"), l, r, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// Problems in the node's state files: guest configs and firewall files that do not parse
/// line by line (or do not end with a newline, the sign of a partial write), duplicate keys,
/// duplicate raw `lxc.*` lines, duplicate snapshot sections, duplicate firewall lines in a
/// section, Phoenix temp files (`.phoenix-tmp`) left behind, user-data snippets not mode 0600.
pub fn check_state(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for sub in ["etc/pve/lxc", "etc/pve/qemu-server"] {
        for f in files_in(&dir.join(sub)) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            check_conf(&f, &text, &mut problems);
        }
    }
    for f in files_in(&dir.join("etc/pve/firewall")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        check_fw(&f, &text, &mut problems);
    }
    walk(dir, &mut |p: &Path| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".phoenix-tmp") {
            problems.push(format!("{}: temp file left behind", p.display()));
        }
        if p.parent().is_some_and(|d| d.ends_with("snippets")) {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            if !text.ends_with('\n') {
                problems.push(format!(
                    "{}: snippet does not end with a newline",
                    p.display()
                ));
            }
            if name.ends_with("-user.yml") {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
                if mode != 0o600 {
                    problems.push(format!("{}: mode {mode:o}, want 600", p.display()));
                }
                if !text.starts_with("#cloud-config") {
                    problems.push(format!("{}: not a #cloud-config document", p.display()));
                }
            }
        }
    });
    problems
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(&e.path(), f);
        } else if ft.is_file() {
            f(&e.path());
        }
    }
}

/// Keys Proxmox allows more than once per section (raw LXC keys; each value once).
fn repeatable(key: &str) -> bool {
    key.starts_with("lxc.")
}

fn check_conf(f: &Path, text: &str, problems: &mut Vec<String>) {
    let name = f.display();
    if !text.is_empty() && !text.ends_with('\n') {
        problems.push(format!("{name}: no newline at the end (partial write?)"));
    }
    if pve::Conf::parse(text).to_string() != text {
        problems.push(format!("{name}: does not round-trip through pve::conf"));
    }
    let mut sections: BTreeSet<String> = BTreeSet::new();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut section = String::from("<main>");
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            section = t.to_string();
            if !sections.insert(section.clone()) {
                problems.push(format!("{name}: duplicate section {section}"));
            }
            keys.clear();
            continue;
        }
        let key = if t.starts_with("lxc.") {
            match t.find([':', '=']) {
                Some(p) => t[..p].trim().to_string(),
                None => String::new(),
            }
        } else {
            match t.split_once(':') {
                Some((k, _))
                    if !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    k.to_string()
                }
                _ => String::new(),
            }
        };
        if key.is_empty() {
            problems.push(format!("{name}:{}: not a config line: {line}", n + 1));
            continue;
        }
        let ident = if repeatable(&key) { t.to_string() } else { key };
        if keys.insert(ident.clone(), n + 1).is_some() {
            problems.push(format!("{name}: duplicate {ident} in {section}"));
        }
    }
}

fn check_fw(f: &Path, text: &str, problems: &mut Vec<String>) {
    let name = f.display();
    if !text.is_empty() && !text.ends_with('\n') {
        problems.push(format!("{name}: no newline at the end (partial write?)"));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut sections: BTreeSet<String> = BTreeSet::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            if !t.ends_with(']') {
                problems.push(format!("{name}: broken section header {t}"));
            }
            if !sections.insert(t.to_string()) {
                problems.push(format!("{name}: duplicate section {t}"));
            }
            seen.clear();
            continue;
        }
        if sections.is_empty() {
            problems.push(format!("{name}: line outside a section: {t}"));
        }
        if !seen.insert(t.to_string()) {
            problems.push(format!("{name}: duplicate line {t}"));
        }
    }
}

/// No guest ID twice and no snapshot name twice per guest in a dump.
pub fn check_dump(d: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for g in d["guests"].as_array().into_iter().flatten() {
        if !ids.insert(g["vmid"].to_string()) {
            problems.push(format!("guest {} listed twice", g["vmid"]));
        }
        let mut snaps = BTreeSet::new();
        for s in g["snapshots"].as_array().into_iter().flatten() {
            if !snaps.insert(s["name"].to_string()) {
                problems.push(format!("guest {}: snapshot {} twice", g["vmid"], s["name"]));
            }
        }
    }
    problems
}

/// `pve-sim` at the node, for admin verbs.
pub fn pve_sim(sim: &Sim, args: &[&str]) -> Output {
    Command::new(bin("pve-sim"))
        .args(args)
        .env("PVE_SIM_ROOT", sim.dir())
        .output()
        .unwrap()
}

/// Waits until `cond` holds, polling every 10 ms; panics after `limit` (a hang, not a timing
/// assertion: the condition is expected within a fraction of it).
pub fn wait_for(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether `text` has a line naming the failed guest and step, as managers print it:
/// `Error: container <id>: <step>: ...` / `Error: VM <id>: <step>: ...` (any guest when `vmid`
/// is `None`).
pub fn names_guest_and_step(text: &str, vmid: Option<u64>) -> bool {
    text.lines().any(|l| {
        ["Error: container ", "Error: VM "].iter().any(|p| {
            let Some(i) = l.find(p) else { return false };
            let rest = &l[i + p.len()..];
            let Some((id, rest)) = rest.split_once(": ") else {
                return false;
            };
            let id_ok = match vmid {
                Some(v) => id == v.to_string(),
                None => id.bytes().all(|b| b.is_ascii_digit()),
            };
            id_ok
                && rest
                    .split_once(": ")
                    .is_some_and(|(step, _)| !step.is_empty() && step.len() < 40)
        })
    })
}
