//! `docker compose`: the Compose plug-in over the simulated engine ([`super::docker`]). A
//! project is the set of containers labelled `com.docker.compose.project=<name>`, as Compose
//! finds its containers; each carries the hash of its service's settings
//! (`com.docker.compose.config-hash`), so `up` leaves a running container whose settings did
//! not change alone, starts a stopped one, and recreates a changed one, as Compose does.
//!
//! Read from the file: `services.<name>.{image, container_name, command, ports, volumes,
//! environment, restart, networks, labels}`, top-level `volumes` (`external`, `name`) and
//! `networks`. `${VAR}` / `${VAR:-default}` are taken from the environment and the project
//! folder's `.env`. Subcommands: `up [-d] [--force-recreate]`, `ps [--services] [-q] [-a]
//! [--filter status=running] [--format]`, `down [-v]`, `start`, `stop`, `restart`.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use super::docker::{hex_id, normalise, port_pairs, valid_image, Container, Engine};
use super::GuestFs;
use crate::host::Out;

const PROJECT: &str = "com.docker.compose.project";
const SERVICE: &str = "com.docker.compose.service";
const HASH: &str = "com.docker.compose.config-hash";

struct Args {
    files: Vec<String>,
    project: Option<String>,
    dir: Option<String>,
    sub: String,
    rest: Vec<String>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        files: vec![],
        project: None,
        dir: None,
        sub: String::new(),
        rest: vec![],
    };
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].as_str();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            argv.get(i)
                .cloned()
                .ok_or_else(|| format!("flag needs an argument: {flag}"))
        };
        match flag {
            "-f" | "--file" => a.files.push(value()?),
            "-p" | "--project-name" => a.project = Some(value()?),
            "--project-directory" => a.dir = Some(value()?),
            "--env-file" | "--profile" | "--ansi" | "--progress" => {
                value()?;
            }
            f if f.starts_with('-') => return Err(format!("unknown flag: {f}")),
            _ => {
                a.sub = arg.to_string();
                a.rest = argv[i + 1..].to_vec();
                return Ok(a);
            }
        }
        i += 1;
    }
    Err("Usage:  docker compose [OPTIONS] COMMAND".into())
}

fn dirname(p: &str) -> String {
    match p.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.into(),
        None => ".".into(),
    }
}

/// Compose's rule: lower case, `[a-z0-9_-]`, starting with a letter or digit.
fn project_name(raw: &str) -> String {
    raw.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_-".contains(*c))
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

/// `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `$VAR` (`$$` is a literal `$`).
fn substitute(text: &str, vars: &BTreeMap<String, String>, unset: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                out.push('$');
                rest = after;
                continue;
            };
            let expr = &r[..end];
            let (name, default) = match expr.find([':', '-']) {
                Some(j) => {
                    let d = expr[j..].trim_start_matches(':');
                    (&expr[..j], d.strip_prefix('-').map(str::to_string))
                }
                None => (expr, None),
            };
            match (vars.get(name), default) {
                (Some(v), _) if !v.is_empty() => out.push_str(v),
                (_, Some(d)) => out.push_str(&d),
                (Some(v), None) => out.push_str(v),
                (None, None) => unset.push(name.to_string()),
            }
            rest = &r[end + 1..];
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if n == 0 {
                out.push('$');
            } else {
                match vars.get(&after[..n]) {
                    Some(v) => out.push_str(v),
                    None => unset.push(after[..n].to_string()),
                }
            }
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    out
}

fn env_file(fs: &GuestFs, dir: &str) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(text) = fs.read(&format!("{}/.env", dir.trim_end_matches('/'))) {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
            }
        }
    }
    vars
}

fn strs(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(scalar).collect(),
        Yaml::Hash(h) => h
            .iter()
            .filter_map(|(k, v)| {
                let k = scalar(k)?;
                Some(match scalar(v) {
                    Some(v) => format!("{k}={v}"),
                    None => k,
                })
            })
            .collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The project as the files describe it.
struct Project {
    name: String,
    services: Vec<(String, Container)>,
    /// Named volumes: (name in the engine, external).
    volumes: Vec<(String, bool)>,
    /// Networks: (name in the engine, external).
    networks: Vec<(String, bool)>,
    warnings: String,
}

fn load(fs: &GuestFs, a: &Args) -> Result<Project, String> {
    let files = if a.files.is_empty() {
        let dir = a.dir.clone().unwrap_or_else(|| ".".into());
        let found = [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yml",
            "docker-compose.yaml",
        ]
        .iter()
        .map(|f| format!("{}/{f}", dir.trim_end_matches('/')))
        .find(|p| fs.exists(p));
        vec![found.ok_or("no configuration file provided: not found")?]
    } else {
        a.files.clone()
    };
    let dir = a.dir.clone().unwrap_or_else(|| dirname(&files[0]));
    let vars = env_file(fs, &dir);
    let mut unset = Vec::new();
    let mut top = yaml_rust2::yaml::Hash::new();
    for f in &files {
        let text = fs
            .read(f)
            .ok_or_else(|| format!("open {f}: no such file or directory"))?;
        let text = substitute(&text, &vars, &mut unset);
        let doc = YamlLoader::load_from_str(&text)
            .map_err(|e| format!("yaml: line {}: {}", e.marker().line(), e.info()))?
            .into_iter()
            .next()
            .unwrap_or(Yaml::Null);
        if let Yaml::Hash(h) = doc {
            for (k, v) in h {
                top.insert(k, v);
            }
        }
    }
    let key = |k: &str| Yaml::String(k.into());
    let dir_base = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let raw_name = a
        .project
        .clone()
        .or_else(|| top.get(&key("name")).and_then(scalar))
        .unwrap_or_else(|| dir_base.to_string());
    let name = project_name(&raw_name);
    if name.is_empty() {
        return Err(format!("invalid project name \"{raw_name}\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"));
    }
    let section = |k: &str| -> Vec<(String, Yaml)> {
        match top.get(&key(k)) {
            Some(Yaml::Hash(h)) => h
                .iter()
                .filter_map(|(k, v)| Some((scalar(k)?, v.clone())))
                .collect(),
            _ => vec![],
        }
    };
    let declared = |k: &str| -> Vec<(String, String, bool)> {
        section(k)
            .into_iter()
            .map(|(n, v)| {
                let external = v["external"].as_bool().unwrap_or(false);
                let real = v["name"].as_str().map(str::to_string).unwrap_or_else(|| {
                    if external {
                        n.clone()
                    } else {
                        format!("{name}_{n}")
                    }
                });
                (n, real, external)
            })
            .collect()
    };
    let vols = declared("volumes");
    let mut nets = declared("networks");
    let services = section("services");
    if services.is_empty() {
        return Err("no service selected".into());
    }
    let mut out = Vec::new();
    for (svc, body) in &services {
        let image = body["image"]
            .as_str()
            .ok_or_else(|| format!("service \"{svc}\" has neither an image nor a build context specified: invalid compose project"))?;
        if !valid_image(image) {
            return Err(format!(
                "invalid reference format: repository name ({image}) must be lowercase"
            ));
        }
        let mut volumes = Vec::new();
        for v in strs(&body["volumes"]) {
            let (src, rest) = v.split_once(':').unwrap_or((v.as_str(), ""));
            let src = if src.starts_with('/') || src.starts_with('.') || rest.is_empty() {
                src.to_string()
            } else {
                let Some((_, real, _)) = vols.iter().find(|(n, _, _)| n == src) else {
                    return Err(format!("service \"{svc}\" refers to undefined volume {src}: invalid compose project"));
                };
                real.clone()
            };
            volumes.push(if rest.is_empty() {
                src
            } else {
                format!("{src}:{rest}")
            });
        }
        let svc_nets = strs(&body["networks"]);
        let network = match svc_nets.first() {
            Some(n) => match nets.iter().find(|(x, _, _)| x == n) {
                Some((_, real, _)) => real.clone(),
                None => {
                    return Err(format!(
                        "service \"{svc}\" refers to undefined network {n}: invalid compose project"
                    ))
                }
            },
            None => {
                if !nets.iter().any(|(n, _, _)| n == "default") {
                    nets.push(("default".into(), format!("{name}_default"), false));
                }
                format!("{name}_default")
            }
        };
        let cmd = match &body["command"] {
            Yaml::String(s) => s.split_whitespace().map(str::to_string).collect(),
            other => strs(other),
        };
        let mut c = Container {
            name: body["container_name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{name}-{svc}-1")),
            image: normalise(image),
            restart: body["restart"].as_str().unwrap_or("no").to_string(),
            ports: strs(&body["ports"]),
            volumes,
            env: strs(&body["environment"]),
            network,
            cmd,
            labels: strs(&body["labels"]),
            ..Container::default()
        };
        let hash = hex_id(0, &format!("{c:?}"))[..16].to_string();
        c.labels.push(format!("{PROJECT}={name}"));
        c.labels.push(format!("{SERVICE}={svc}"));
        c.labels.push(format!("{HASH}={hash}"));
        out.push((svc.clone(), c));
    }
    unset.sort();
    unset.dedup();
    let warnings = unset
        .iter()
        .map(|v| {
            format!("WARN[0000] The \"{v}\" variable is not set. Defaulting to a blank string.\n")
        })
        .collect();
    Ok(Project {
        name,
        services: out,
        volumes: vols.into_iter().map(|(_, r, e)| (r, e)).collect(),
        networks: nets.into_iter().map(|(_, r, e)| (r, e)).collect(),
        warnings,
    })
}

/// `docker compose ...`.
pub fn compose(fs: &GuestFs, e: &mut Engine, argv: &[String]) -> Out {
    let a = match parse_args(argv) {
        Ok(a) => a,
        Err(m) => return Out::err(1, m),
    };
    let p = match load(fs, &a) {
        Ok(p) => p,
        Err(m) => return Out::err(1, m),
    };
    let flag = |names: &[&str]| a.rest.iter().any(|x| names.contains(&x.as_str()));
    let mut out = match a.sub.as_str() {
        "up" => up(e, &p, flag(&["--force-recreate"])),
        "ps" => ps(e, &p, &a.rest),
        "down" => down(e, &p, flag(&["-v", "--volumes"])),
        "start" | "stop" | "restart" => {
            let mut err = String::new();
            for c in e.containers.iter_mut() {
                if c.label(PROJECT) == Some(p.name.as_str()) {
                    if a.sub == "restart" || (a.sub == "start" && !c.running) {
                        c.starts += 1;
                    }
                    c.running = a.sub != "stop";
                    c.stopped_by_user = a.sub == "stop";
                    err.push_str(&format!(" Container {}  {}\n", c.name, past(&a.sub)));
                }
            }
            Out {
                code: 0,
                stdout: String::new(),
                stderr: err,
                mutating: true,
            }
        }
        other => Out::err(
            1,
            format!("pve-sim: 'docker compose {other}' is not simulated"),
        ),
    };
    out.stderr = format!("{}{}", p.warnings, out.stderr);
    out
}

fn past(verb: &str) -> &'static str {
    match verb {
        "stop" => "Stopped",
        "restart" => "Restarted",
        _ => "Started",
    }
}

fn up(e: &mut Engine, p: &Project, force: bool) -> Out {
    let mut log = String::new();
    let mut changed = false;
    for (v, external) in &p.volumes {
        if e.volumes.contains(v) {
            continue;
        }
        if *external {
            return Out::err(1, format!("external volume \"{v}\" not found"));
        }
        e.volumes.push(v.clone());
        log.push_str(&format!(" Volume \"{v}\"  Created\n"));
        changed = true;
    }
    for (n, external) in &p.networks {
        if e.has_network(n) {
            continue;
        }
        if *external {
            return Out::err(
                1,
                format!("network {n} declared as external, but could not be found"),
            );
        }
        e.networks.push(n.clone());
        log.push_str(&format!(" Network {n}  Created\n"));
        changed = true;
    }
    for (_, want) in &p.services {
        let hash = want.label(HASH);
        let existing = e.find(&want.name);
        if let Some(i) = existing {
            let c = &e.containers[i];
            if c.label(PROJECT) != Some(p.name.as_str()) {
                return Out::err(1, format!("Error response from daemon: Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.", want.name, c.id));
            }
            if c.label(HASH) == hash && !force {
                if c.running {
                    log.push_str(&format!(" Container {}  Running\n", want.name));
                } else {
                    e.containers[i].running = true;
                    e.containers[i].stopped_by_user = false;
                    e.containers[i].starts += 1;
                    log.push_str(&format!(" Container {}  Started\n", want.name));
                    changed = true;
                }
                continue;
            }
        }
        let taken: Vec<u16> = e
            .containers
            .iter()
            .filter(|c| c.running && c.name != want.name)
            .flat_map(|c| port_pairs(c).into_iter().map(|(h, _)| h))
            .collect();
        if let Some((h, _)) = port_pairs(want)
            .into_iter()
            .find(|(h, _)| taken.contains(h))
        {
            return Out::err(1, format!("Error response from daemon: driver failed programming external connectivity on endpoint {}: Bind for 0.0.0.0:{h} failed: port is already allocated", want.name));
        }
        if !e.images.contains(&want.image) {
            e.images.push(want.image.clone());
            log.push_str(&format!(" {} Pulled\n", want.image));
        }
        let verb = match existing {
            Some(i) => {
                e.containers.remove(i);
                "Recreated"
            }
            None => "Created",
        };
        e.next_id += 1;
        let mut c = want.clone();
        c.id = hex_id(e.next_id, &c.name);
        c.running = true;
        c.starts = 1;
        e.containers.push(c);
        log.push_str(&format!(
            " Container {}  {verb}\n Container {}  Started\n",
            want.name, want.name
        ));
        changed = true;
    }
    Out {
        code: 0,
        stdout: String::new(),
        stderr: log,
        mutating: changed,
    }
}

fn ps(e: &Engine, p: &Project, rest: &[String]) -> Out {
    let has = |x: &str| rest.iter().any(|a| a == x);
    let all = has("-a") || has("--all");
    let running_only = rest
        .windows(2)
        .any(|w| w[0] == "--filter" && w[1] == "status=running")
        || rest.iter().any(|a| a == "--filter=status=running");
    let fmt = rest
        .iter()
        .position(|a| a == "--format")
        .and_then(|i| rest.get(i + 1));
    let mine: Vec<&Container> = e
        .containers
        .iter()
        .filter(|c| c.label(PROJECT) == Some(p.name.as_str()))
        .filter(|c| c.running || (all && !running_only))
        .collect();
    let service = |c: &Container| c.label(SERVICE).unwrap_or("").to_string();
    let state = |c: &Container| if c.running { "running" } else { "exited" };
    let mut out = String::new();
    if has("--services") {
        for c in &mine {
            out.push_str(&format!("{}\n", service(c)));
        }
    } else if has("-q") || has("--quiet") {
        for c in &mine {
            out.push_str(&format!("{}\n", c.id));
        }
    } else if let Some(f) = fmt {
        for c in &mine {
            out.push_str(&format!(
                "{}\n",
                f.replace("{{.Name}}", &c.name)
                    .replace("{{.Service}}", &service(c))
                    .replace("{{.State}}", state(c))
                    .replace("{{.Image}}", &c.image)
            ));
        }
    } else {
        out.push_str("NAME      IMAGE     COMMAND   SERVICE   CREATED   STATUS    PORTS\n");
        for c in &mine {
            out.push_str(&format!(
                "{}   {}   \"\"   {}   1 minute ago   {}   {}\n",
                c.name,
                c.image,
                service(c),
                if c.running {
                    "Up 1 minute"
                } else {
                    "Exited (0)"
                },
                c.ports.join(", ")
            ));
        }
    }
    Out::ok(out)
}

fn down(e: &mut Engine, p: &Project, volumes: bool) -> Out {
    let mut log = String::new();
    let before = e.containers.len();
    e.containers.retain(|c| {
        let mine = c.label(PROJECT) == Some(p.name.as_str());
        if mine {
            log.push_str(&format!(" Container {}  Removed\n", c.name));
        }
        !mine
    });
    let mut changed = e.containers.len() != before;
    for (n, external) in &p.networks {
        if !external && e.networks.contains(n) {
            e.networks.retain(|x| x != n);
            log.push_str(&format!(" Network {n}  Removed\n"));
            changed = true;
        }
    }
    if volumes {
        for (v, external) in &p.volumes {
            if !external && e.volumes.contains(v) {
                e.volumes.retain(|x| x != v);
                log.push_str(&format!(" Volume {v}  Removed\n"));
                changed = true;
            }
        }
    }
    Out {
        code: 0,
        stdout: String::new(),
        stderr: log,
        mutating: changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_substituted() {
        let vars: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        let mut unset = vec![];
        assert_eq!(
            substitute("x=${A} y=${B:-2} z=$A w=$$A v=${C}", &vars, &mut unset),
            "x=1 y=2 z=1 w=$A v="
        );
        assert_eq!(unset, ["C"]);
        assert_eq!(project_name("Portainer_Service"), "portainer_service");
    }
}
