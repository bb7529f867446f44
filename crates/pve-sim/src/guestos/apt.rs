//! Packages: `apt-get`, `apt-cache`, `dpkg`, `dpkg-query` over the guest's own package database
//! (`/var/lib/dpkg/status`, the real file and format), apt sources (`/etc/apt/sources.list`,
//! `sources.list.d/*.list` one-line and `*.sources` deb822) and package lists
//! (`/var/lib/apt/lists/`). A repository is usable after `apt-get update` fetched it, which needs
//! its URL to be one the catalog knows, the suite to be the guest's release, and its key
//! (`signed-by`) to exist. Installing unpacks what the catalog says the package holds and, as
//! Debian's maintainer scripts do, enables and starts its units.

use super::catalog::{self, Package, Repo, Src};
use super::{systemd, Ctx, GuestFs};
use crate::host::{Args, Out};
use crate::sandbox::{HOST_USR, STANDIN};
use crate::R;

const STATUS: &str = "/var/lib/dpkg/status";
const LISTS: &str = "/var/lib/apt/lists";
const CODENAME: &str = "noble";

/// One installed package (a stanza of the status file).
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub version: String,
    pub status: String,
    pub text: String,
}

/// The dpkg status database.
#[derive(Debug, Default)]
pub struct Db {
    pub entries: Vec<Entry>,
}

impl Db {
    pub fn load(fs: &GuestFs) -> Db {
        let text = fs.read(STATUS).unwrap_or_default();
        let mut entries = Vec::new();
        for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
            let field = |k: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                    .unwrap_or("")
                    .to_string()
            };
            entries.push(Entry {
                name: field("Package"),
                version: field("Version"),
                status: field("Status"),
                text: stanza.trim_end().to_string(),
            });
        }
        Db { entries }
    }
    pub fn save(&mut self, fs: &GuestFs) -> R<()> {
        self.entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&e.text);
            out.push_str("\n\n");
        }
        fs.write(STATUS, out.as_bytes())
    }
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
    pub fn installed(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|e| e.status == "install ok installed")
    }
    pub fn add(&mut self, p: &Package) {
        let arch = if p.repo == Repo::Cuda && p.name == "cuda-keyring" {
            "all"
        } else {
            "amd64"
        };
        let mut text = format!(
            "Package: {}\nStatus: install ok installed\nPriority: optional\nSection: {}\nMaintainer: {}\nArchitecture: {arch}\nVersion: {}\n",
            p.name,
            p.section,
            maintainer(p.repo),
            p.version
        );
        if !p.depends.is_empty() {
            text.push_str(&format!("Depends: {}\n", p.depends.join(", ")));
        }
        text.push_str(&format!("Description: {}", p.description));
        self.put(Entry {
            name: p.name.clone(),
            version: p.version.clone(),
            status: "install ok installed".into(),
            text,
        });
    }
    pub fn add_base(&mut self, name: &str, version: &str) {
        self.put(Entry {
            name: name.into(),
            version: version.into(),
            status: "install ok installed".into(),
            text: format!("Package: {name}\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: {}\nArchitecture: amd64\nVersion: {version}\nDescription: {name} (Ubuntu base system)", maintainer(Repo::Ubuntu)),
        });
    }
    fn put(&mut self, e: Entry) {
        self.entries.retain(|x| x.name != e.name);
        self.entries.push(e);
    }
    /// Names of installed packages, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.status == "install ok installed")
            .map(|e| e.name.clone())
            .collect();
        v.sort();
        v
    }
}

fn maintainer(r: Repo) -> &'static str {
    match r {
        Repo::Ubuntu => "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
        Repo::Docker => "Docker <support@docker.com>",
        Repo::Cuda => "cudatools <cudatools@nvidia.com>",
        Repo::Smallstep => "Smallstep Labs <techadmin@smallstep.com>",
    }
}

/// Puts a package's files into the guest (commands, units, files, links). `start` also enables
/// and starts its units, as the package's maintainer scripts do on a running system.
pub fn unpack(fs: &GuestFs, p: &Package, start: bool) -> R<()> {
    for (path, src) in &p.commands {
        let target = match src {
            Src::Real(host) => {
                // Outside the sandbox the host's /usr is /usr; inside it is HOST_USR.
                let rel = host.trim_start_matches("/usr/");
                let here = [std::path::PathBuf::from(HOST_USR).join(rel), host.into()];
                let Some(real) = here.iter().find_map(|p| std::fs::canonicalize(p).ok()) else {
                    continue;
                };
                let real = real.to_string_lossy().into_owned();
                let rel = real
                    .strip_prefix(HOST_USR)
                    .or_else(|| real.strip_prefix("/usr"))
                    .unwrap_or(&real)
                    .trim_start_matches('/')
                    .to_string();
                format!("{HOST_USR}/{rel}")
            }
            Src::Standin => STANDIN.to_string(),
        };
        fs.symlink(&target, path)?;
    }
    for (unit, text) in &p.units {
        fs.write(&format!("/usr/lib/systemd/system/{unit}"), text.as_bytes())?;
    }
    for (path, content) in &p.files {
        fs.write(path, content.as_bytes())?;
    }
    for (path, target) in &p.links {
        fs.symlink(target, path)?;
    }
    for g in &p.groups {
        add_system_group(fs, g)?;
    }
    if start {
        for unit in p.enabled_units() {
            systemd::enable_unit(fs, unit)?;
            systemd::set_active(fs, unit, true)?;
        }
        // Units without an [Install] section (qemu-guest-agent) are started by their trigger.
        for (unit, text) in &p.units {
            if !text.contains("[Install]") && p.name == "qemu-guest-agent" {
                systemd::set_active(fs, unit, true)?;
            }
        }
    }
    Ok(())
}

/// `addgroup --system <g>`: the first free gid below 1000, counting down from 999.
fn add_system_group(fs: &GuestFs, g: &str) -> R<()> {
    let group = fs.read("/etc/group").unwrap_or_default();
    if group.lines().any(|l| l.split(':').next() == Some(g)) {
        return Ok(());
    }
    let used: Vec<u32> = group
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect();
    let gid = (100..1000).rev().find(|n| !used.contains(n)).unwrap_or(999);
    fs.write("/etc/group", format!("{group}{g}:x:{gid}:\n").as_bytes())?;
    let gshadow = fs.read("/etc/gshadow").unwrap_or_default();
    fs.write_mode(
        "/etc/gshadow",
        format!("{gshadow}{g}:!::\n").as_bytes(),
        0o640,
    )
}

fn remove_files(fs: &GuestFs, p: &Package) {
    for (unit, _) in &p.units {
        let _ = systemd::set_active(fs, unit, false);
        systemd::disable_unit(fs, unit);
        fs.remove(&format!("/usr/lib/systemd/system/{unit}"));
    }
    for (path, _) in &p.commands {
        fs.remove(path);
    }
    for (path, _) in &p.links {
        fs.remove(path);
    }
    for (path, _) in &p.files {
        if !path.starts_with("/etc/") {
            fs.remove(path);
        }
    }
}

/// An apt source: URL, suites, signed-by file.
#[derive(Debug, Clone)]
struct Source {
    url: String,
    suites: Vec<String>,
    signed_by: Option<String>,
    file: String,
}

fn sources(fs: &GuestFs) -> Vec<Source> {
    let mut out = Vec::new();
    let mut files = vec!["/etc/apt/sources.list".to_string()];
    for f in fs.list("/etc/apt/sources.list.d") {
        files.push(format!("/etc/apt/sources.list.d/{f}"));
    }
    for f in files {
        let Some(text) = fs.read(&f) else { continue };
        if f.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |k: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{k}:")))
                        .map(|v| v.trim().to_string())
                };
                if field("Enabled").as_deref() == Some("no") {
                    continue;
                }
                let Some(uris) = field("URIs") else { continue };
                for url in uris.split_whitespace() {
                    out.push(Source {
                        url: url.trim_end_matches('/').to_string(),
                        suites: field("Suites")
                            .unwrap_or_default()
                            .split_whitespace()
                            .map(str::to_string)
                            .collect(),
                        signed_by: field("Signed-By"),
                        file: f.clone(),
                    });
                }
            }
        } else if f.ends_with(".list") {
            for line in text.lines().map(str::trim) {
                let Some(rest) = line.strip_prefix("deb ") else {
                    continue;
                };
                let rest = rest.trim();
                let (opts, rest) = match rest.strip_prefix('[') {
                    Some(r) => match r.split_once(']') {
                        Some((o, r)) => (o.to_string(), r.trim().to_string()),
                        None => continue,
                    },
                    None => (String::new(), rest.to_string()),
                };
                let mut words = rest.split_whitespace();
                let Some(url) = words.next() else { continue };
                let suite = words.next().unwrap_or("").to_string();
                let signed_by = opts
                    .split_whitespace()
                    .find_map(|o| o.strip_prefix("signed-by="))
                    .map(str::to_string);
                out.push(Source {
                    url: url.trim_end_matches('/').to_string(),
                    suites: vec![suite],
                    signed_by,
                    file: f.clone(),
                });
            }
        }
    }
    out
}

fn repo_of(url: &str) -> Option<Repo> {
    if url == "http://security.ubuntu.com/ubuntu" {
        return Some(Repo::Ubuntu);
    }
    Repo::all()
        .into_iter()
        .find(|r| r.url().trim_end_matches('/') == url)
}

/// Repositories whose lists `apt-get update` fetched.
fn fetched(fs: &GuestFs) -> Vec<Repo> {
    Repo::all()
        .into_iter()
        .filter(|r| fs.exists(&format!("{LISTS}/{}", r.list_file())))
        .collect()
}

fn update(fs: &GuestFs) -> Out {
    let mut stdout = String::new();
    let mut errors = Vec::new();
    let mut ok = Vec::new();
    for (i, s) in sources(fs).iter().enumerate() {
        let n = i + 1;
        let suite = s.suites.first().cloned().unwrap_or_default();
        let Some(repo) = repo_of(&s.url) else {
            let host = s.url.split('/').nth(2).unwrap_or(&s.url);
            stdout.push_str(&format!("Ign:{n} {} {suite} InRelease\n", s.url));
            errors.push(format!(
                "E: Failed to fetch {}/dists/{suite}/InRelease  Could not resolve '{host}'",
                s.url
            ));
            continue;
        };
        let suite_ok = match repo {
            Repo::Cuda => s.suites.iter().all(|x| x == "/"),
            Repo::Smallstep => s.suites.iter().all(|x| x == "debs"),
            _ => s
                .suites
                .iter()
                .all(|x| x == CODENAME || x.starts_with(&format!("{CODENAME}-"))),
        };
        if !suite_ok {
            errors.push(format!(
                "E: The repository '{} {suite} Release' does not have a Release file.",
                s.url
            ));
            continue;
        }
        let key_ok = s
            .signed_by
            .as_deref()
            .is_some_and(|k| fs.path(k).metadata().is_ok_and(|m| m.len() > 0));
        if !key_ok {
            errors.push(format!(
                "W: GPG error: {} {suite} InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 7EA0A9C3F273FCD8\nE: The repository '{} {suite} InRelease' is not signed.",
                s.url, s.url
            ));
            continue;
        }
        stdout.push_str(&format!("Get:{n} {} {suite} InRelease [48.8 kB]\n", s.url));
        if !ok.contains(&repo) {
            ok.push(repo);
        }
        let _ = &s.file;
    }
    for r in &ok {
        let _ = fs.write(
            &format!("{LISTS}/{}", r.list_file()),
            format!("pve-sim: package list of {}\n", r.url()).as_bytes(),
        );
    }
    stdout.push_str("Reading package lists...\n");
    if errors.is_empty() {
        Out {
            code: 0,
            stdout,
            stderr: String::new(),
            mutating: true,
        }
    } else {
        Out {
            code: 100,
            stdout,
            stderr: errors.join("\n") + "\n",
            mutating: true,
        }
    }
}

/// The packages to install for `names` (with dependencies not yet installed), or apt's error.
fn resolve(fs: &GuestFs, db: &Db, names: &[String]) -> Result<Vec<Package>, String> {
    let have = fetched(fs);
    let mut out: Vec<Package> = Vec::new();
    let mut todo: Vec<(String, Option<String>)> = names
        .iter()
        .map(|n| match n.split_once('=') {
            Some((a, v)) => (a.to_string(), Some(v.to_string())),
            None => (n.clone(), None),
        })
        .collect();
    while let Some((name, pin)) = todo.pop() {
        if out.iter().any(|p| p.name == name) {
            continue;
        }
        let pkg = catalog::lookup(&name).filter(|p| have.contains(&p.repo));
        let Some(pkg) = pkg else {
            if db.installed(&name) {
                continue;
            }
            return Err(format!("E: Unable to locate package {name}"));
        };
        if let Some(v) = pin {
            if v != pkg.version {
                return Err(format!("E: Version '{v}' for '{name}' was not found"));
            }
        }
        if db.installed(&name) && db.get(&name).map(|e| e.version.as_str()) == Some(&pkg.version) {
            continue;
        }
        for d in &pkg.depends {
            if !db.installed(d) {
                todo.push((d.to_string(), None));
            }
        }
        out.push(pkg);
    }
    out.reverse();
    Ok(out)
}

fn install(fs: &GuestFs, args: &[String], reinstall: bool) -> Out {
    let mut db = Db::load(fs);
    let wanted: Vec<String> = args.to_vec();
    if wanted.is_empty() {
        return Out::ok("Reading package lists...\nBuilding dependency tree...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n");
    }
    let mut stdout = String::from(
        "Reading package lists...\nBuilding dependency tree...\nReading state information...\n",
    );
    let new = match resolve(fs, &db, &wanted) {
        Ok(n) => n,
        Err(e) => {
            return Out {
                code: 100,
                stdout,
                stderr: e + "\n",
                mutating: false,
            }
        }
    };
    for w in &wanted {
        let name = w.split('=').next().unwrap_or(w);
        if !new.iter().any(|p| p.name == name) {
            if let Some(e) = db.get(name) {
                stdout.push_str(&format!(
                    "{name} is already the newest version ({}).\n",
                    e.version
                ));
            }
        }
    }
    let _ = reinstall;
    if !new.is_empty() {
        stdout.push_str("The following NEW packages will be installed:\n  ");
        stdout.push_str(
            &new.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        stdout.push('\n');
    }
    stdout.push_str(&format!(
        "0 upgraded, {} newly installed, 0 to remove and 0 not upgraded.\n",
        new.len()
    ));
    for p in &new {
        stdout.push_str(&format!("Setting up {} ({}) ...\n", p.name, p.version));
        if let Err(e) = unpack(fs, p, true) {
            return Out::err(100, format!("E: {}", e.msg));
        }
        db.add(p);
    }
    if let Err(e) = db.save(fs) {
        return Out::err(100, format!("E: {}", e.msg));
    }
    Out {
        code: 0,
        stdout,
        stderr: String::new(),
        mutating: !new.is_empty(),
    }
}

fn remove(fs: &GuestFs, names: &[String]) -> Out {
    let mut db = Db::load(fs);
    let mut stdout = String::from(
        "Reading package lists...\nBuilding dependency tree...\nReading state information...\n",
    );
    let mut removed = 0;
    for n in names {
        if !db.installed(n) {
            stdout.push_str(&format!("Package '{n}' is not installed, so not removed\n"));
            continue;
        }
        if let Some(p) = catalog::lookup(n) {
            remove_files(fs, &p);
        }
        db.entries.retain(|e| &e.name != n);
        stdout.push_str(&format!("Removing {n} ...\n"));
        removed += 1;
    }
    if let Err(e) = db.save(fs) {
        return Out::err(100, format!("E: {}", e.msg));
    }
    Out {
        code: 0,
        stdout,
        stderr: String::new(),
        mutating: removed > 0,
    }
}

/// `apt-get` / `apt`.
pub fn apt_get(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(argv, &["o", "option", "c", "t", "target-release"]);
    let Some(cmd) = a.pos.first() else {
        return Out::err(100, "E: Invalid operation");
    };
    let rest = &a.pos[1..];
    match cmd.as_str() {
        "update" => update(&ctx.fs),
        "install" => install(&ctx.fs, rest, a.has(&["reinstall"])),
        "remove" | "purge" | "autoremove" if !rest.is_empty() => remove(&ctx.fs, rest),
        "upgrade" | "dist-upgrade" | "full-upgrade" | "autoremove" => Out::ok(
            "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
        ),
        "clean" | "autoclean" => Out::ok(""),
        other => Out::err(100, format!("E: Invalid operation {other}")),
    }
}

/// `apt-cache policy <pkg>...` (other subcommands: `show`, `search` by name).
pub fn apt_cache(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(argv, &["o"]);
    let db = Db::load(&ctx.fs);
    let have = fetched(&ctx.fs);
    match a.pos.first().map(String::as_str) {
        Some("policy") => {
            let mut out = String::new();
            let mut err = String::new();
            for n in &a.pos[1..] {
                let cand = catalog::lookup(n).filter(|p| have.contains(&p.repo));
                let inst = db.get(n).filter(|e| e.status == "install ok installed");
                if cand.is_none() && inst.is_none() {
                    err.push_str(&format!("N: Unable to locate package {n}\n"));
                    continue;
                }
                out.push_str(&format!(
                    "{n}:\n  Installed: {}\n  Candidate: {}\n  Version table:\n",
                    inst.map_or("(none)".to_string(), |e| e.version.clone()),
                    cand.as_ref()
                        .map_or("(none)".to_string(), |p| p.version.clone())
                ));
                if let Some(p) = &cand {
                    let star = if inst.is_some() { "***" } else { "   " };
                    out.push_str(&format!(
                        " {star} {} 500\n        500 {}\n",
                        p.version,
                        p.repo.origin()
                    ));
                    if inst.is_some() {
                        out.push_str("        100 /var/lib/dpkg/status\n");
                    }
                }
            }
            Out {
                code: 0,
                stdout: out,
                stderr: err,
                mutating: false,
            }
        }
        Some("show") | Some("search") => {
            let found: Vec<String> = a.pos[1..]
                .iter()
                .filter_map(|n| catalog::lookup(n).filter(|p| have.contains(&p.repo)))
                .map(|p| {
                    format!(
                        "Package: {}\nVersion: {}\nDescription: {}\n",
                        p.name, p.version, p.description
                    )
                })
                .collect();
            if found.is_empty() {
                Out::err(100, "E: No packages found")
            } else {
                Out::ok(found.join("\n"))
            }
        }
        _ => Out::err(
            100,
            "E: pve-sim: apt-cache: only policy, show and search are simulated",
        ),
    }
}

/// `dpkg --print-architecture`, `-s`, `-l`, `-i <file.deb>`, `--configure -a`.
pub fn dpkg(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(argv, &[]);
    if a.has(&["print-architecture"]) {
        return Out::ok("amd64\n");
    }
    if a.has(&["s", "status"]) {
        return query_status(&ctx.fs, &a.pos);
    }
    if a.has(&["l", "list"]) {
        return dpkg_query(ctx, &[vec!["-l".to_string()], a.pos.clone()].concat());
    }
    if a.has(&["configure"]) {
        return Out::ok("");
    }
    if a.has(&["i", "install"]) {
        let mut db = Db::load(&ctx.fs);
        let mut out = String::new();
        for f in &a.pos {
            let Some(text) = std::fs::read(ctx.fs.path(f)).ok() else {
                return Out::err(
                    2,
                    format!("dpkg: error: cannot access archive '{f}': No such file or directory"),
                );
            };
            let text = String::from_utf8_lossy(&text);
            let Some(name) = text.lines().find_map(|l| l.strip_prefix("pve-sim deb: ")) else {
                return Out::err(1, format!("dpkg-deb: error: '{f}' is not a Debian format archive\ndpkg: error processing archive {f} (--install):\n dpkg-deb --control subprocess returned error exit status 2"));
            };
            let Some(pkg) = catalog::lookup(name.trim()) else {
                return Out::err(
                    1,
                    format!("dpkg: error processing archive {f} (--install): unknown package"),
                );
            };
            out.push_str(&format!("Selecting previously unselected package {}.\nUnpacking {} ({}) ...\nSetting up {} ({}) ...\n", pkg.name, pkg.name, pkg.version, pkg.name, pkg.version));
            if let Err(e) = unpack(&ctx.fs, &pkg, true) {
                return Out::err(1, e.msg);
            }
            db.add(&pkg);
        }
        if let Err(e) = db.save(&ctx.fs) {
            return Out::err(2, e.msg);
        }
        return Out::changed(out);
    }
    Out::err(
        2,
        "dpkg: error: pve-sim simulates only --print-architecture, -s, -l, -i, --configure",
    )
}

fn query_status(fs: &GuestFs, names: &[String]) -> Out {
    let db = Db::load(fs);
    let mut out = String::new();
    let mut err = String::new();
    for n in names {
        match db.get(n) {
            Some(e) => {
                out.push_str(&e.text);
                out.push_str("\n\n");
            }
            None => err.push_str(&format!(
                "dpkg-query: package '{n}' is not installed and no information is available\nUse dpkg --info (= dpkg-deb --info) to examine archive files.\n"
            )),
        }
    }
    Out {
        code: if err.is_empty() { 0 } else { 1 },
        stdout: out,
        stderr: err,
        mutating: false,
    }
}

/// Expands a `dpkg-query --showformat` for one entry.
fn show_format(fmt: &str, e: &Entry) -> String {
    let abbrev = match e.status.as_str() {
        "install ok installed" => "ii ",
        "deinstall ok config-files" => "rc ",
        _ => "un ",
    };
    let mut out = fmt
        .replace("${db:Status-Abbrev}", abbrev)
        .replace(
            "${db:Status-Status}",
            e.status.rsplit(' ').next().unwrap_or(""),
        )
        .replace("${Status}", &e.status)
        .replace("${binary:Package}", &e.name)
        .replace("${Package}", &e.name)
        .replace("${Version}", &e.version)
        .replace("${Architecture}", "amd64");
    out = out.replace("\\n", "\n").replace("\\t", "\t");
    out
}

/// `dpkg-query -W [-f=FORMAT] [pkg...]`, `-s`, `-l`.
pub fn dpkg_query(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(argv, &["f", "showformat"]);
    if a.has(&["s", "status"]) {
        return query_status(&ctx.fs, &a.pos);
    }
    let db = Db::load(&ctx.fs);
    let list = a.has(&["l", "list"]);
    if !a.has(&["W", "show"]) && !list {
        return Out::err(2, "dpkg-query: error: need an action option");
    }
    let fmt = a
        .val(&["f", "showformat"])
        .map(str::to_string)
        .unwrap_or_else(|| "${binary:Package}\t${Version}\n".to_string());
    let mut out = String::new();
    let mut err = String::new();
    let names: Vec<String> = if a.pos.is_empty() {
        db.names()
    } else {
        a.pos.clone()
    };
    for n in &names {
        match db.get(n) {
            Some(e) if list => out.push_str(&format!(
                "{}  {:<30} {:<30} amd64 {}\n",
                show_format("${db:Status-Abbrev}", e).trim_end(),
                e.name,
                e.version,
                e.name
            )),
            Some(e) => out.push_str(&show_format(&fmt, e)),
            None => err.push_str(&format!("dpkg-query: no packages found matching {n}\n")),
        }
    }
    Out {
        code: if err.is_empty() { 0 } else { 1 },
        stdout: out,
        stderr: err,
        mutating: false,
    }
}
