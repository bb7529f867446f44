//! `docker`: the Docker CLI against a simulated engine whose state lives in the guest
//! (`/var/lib/docker/pve-sim.json`): images (pulled from a registry that has every well-formed
//! name), containers with their published ports, volumes, networks and restart policies. The
//! engine answers only while `docker.service` is active; at boot, containers with restart
//! policy `always` or `unless-stopped` (not stopped by hand) come back with the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{systemd, Ctx, GuestFs};
use crate::host::Out;

pub(super) const STATE: &str = "/var/lib/docker/pve-sim.json";
const NO_DAEMON: &str =
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub running: bool,
    #[serde(default)]
    pub stopped_by_user: bool,
    #[serde(default)]
    pub restart: String,
    /// `host:container` (host side first, as given to `-p`).
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `key=value` (`--label`; Compose adds `com.docker.compose.*`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// How often the container was started (a restart is a new process inside it).
    #[serde(default)]
    pub starts: u64,
}

impl Container {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find_map(|l| l.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Engine {
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub next_id: u64,
}

impl Engine {
    pub fn load(fs: &GuestFs) -> Engine {
        fs.read(STATE)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
    pub(super) fn save(&self, fs: &GuestFs) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        fs.write(STATE, text.as_bytes()).map_err(|e| e.msg)
    }
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        self.containers.iter().position(|c| {
            c.name == name || c.id == name || (name.len() >= 12 && c.id.starts_with(name))
        })
    }
    pub(super) fn has_network(&self, n: &str) -> bool {
        matches!(n, "bridge" | "host" | "none" | "") || self.networks.iter().any(|x| x == n)
    }
}

/// `qdrant/qdrant` -> `qdrant/qdrant:latest`.
pub fn normalise(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

pub(super) fn valid_image(image: &str) -> bool {
    !image.is_empty()
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
        && image
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Restart-policy containers come back when the engine starts.
pub fn on_unit_started(fs: &GuestFs, unit: &str) {
    if unit != "docker.service" {
        return;
    }
    let mut e = Engine::load(fs);
    let mut any = false;
    for c in &mut e.containers {
        if !c.running
            && !c.stopped_by_user
            && matches!(c.restart.as_str(), "always" | "unless-stopped")
        {
            c.running = true;
            c.starts += 1;
            any = true;
        }
    }
    if any {
        let _ = e.save(fs);
    }
}

/// At boot every container is down until the engine starts.
pub fn on_boot(fs: &GuestFs) {
    let mut e = Engine::load(fs);
    if e.containers.iter().any(|c| c.running) {
        for c in &mut e.containers {
            c.running = false;
        }
        let _ = e.save(fs);
    }
}

/// Running containers' published ports: (host port, image).
pub fn published(fs: &GuestFs) -> Vec<(u16, String)> {
    running(fs)
        .iter()
        .flat_map(|c| {
            port_pairs(c)
                .into_iter()
                .map(|(host, _)| (host, c.image.clone()))
        })
        .collect()
}

/// The containers running now (none while the engine is down).
pub fn running(fs: &GuestFs) -> Vec<Container> {
    if !systemd::is_active(fs, "docker.service") {
        return Vec::new();
    }
    Engine::load(fs)
        .containers
        .into_iter()
        .filter(|c| c.running)
        .collect()
}

/// A container's published ports: (host port, container port); `-p 9001` alone publishes the
/// container port on the same host port here (Docker would pick a free one).
pub fn port_pairs(c: &Container) -> Vec<(u16, u16)> {
    let num = |s: &str| s.split('/').next().unwrap_or("").parse::<u16>().ok();
    c.ports
        .iter()
        .filter_map(|p| {
            let parts: Vec<&str> = p.split(':').collect();
            let inner = num(parts.last()?)?;
            let host = match parts.len() {
                1 => inner,
                n => num(parts[n - 2])?,
            };
            Some((host, inner))
        })
        .collect()
}

pub(super) fn hex_id(n: u64, name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ n;
    let mut s = String::new();
    for round in 0..4u64 {
        for b in name.bytes().chain(round.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        s.push_str(&format!("{h:016x}"));
    }
    s
}

fn format_tpl(tpl: &str, c: &Container) -> String {
    let mut out = tpl.to_string();
    for (k, v) in [
        ("{{.Config.Image}}", c.image.clone()),
        ("{{.State.Running}}", c.running.to_string()),
        (
            "{{.State.Status}}",
            if c.running { "running" } else { "exited" }.to_string(),
        ),
        ("{{.Name}}", format!("/{}", c.name)),
        ("{{.Id}}", c.id.clone()),
        ("{{.HostConfig.RestartPolicy.Name}}", c.restart.clone()),
        ("{{.Names}}", c.name.clone()),
        ("{{.Image}}", c.image.clone()),
        ("{{.ID}}", c.id[..12].to_string()),
        (
            "{{.Status}}",
            if c.running {
                "Up 1 minute"
            } else {
                "Exited (0) 1 minute ago"
            }
            .to_string(),
        ),
    ] {
        out = out.replace(k, &v);
    }
    out
}

fn container_json(c: &Container) -> String {
    serde_json::to_string_pretty(&serde_json::json!([{
        "Id": c.id, "Name": format!("/{}", c.name),
        "State": {"Status": if c.running {"running"} else {"exited"}, "Running": c.running},
        "Config": {"Image": c.image, "Env": c.env, "Cmd": c.cmd},
        "HostConfig": {"RestartPolicy": {"Name": c.restart}, "Binds": c.volumes, "NetworkMode": if c.network.is_empty() {"bridge"} else {c.network.as_str()}},
    }]))
    .unwrap_or_default()
        + "\n"
}

/// Options of `docker run`/`create` that take a value.
const RUN_VALUE_OPTS: &[&str] = &[
    "name",
    "restart",
    "p",
    "publish",
    "v",
    "volume",
    "e",
    "env",
    "network",
    "net",
    "gpus",
    "runtime",
    "add-host",
    "label",
    "l",
    "user",
    "u",
    "workdir",
    "w",
    "entrypoint",
    "hostname",
    "h",
    "shm-size",
    "ipc",
    "device",
    "cap-add",
    "cap-drop",
    "security-opt",
    "log-driver",
    "log-opt",
    "mount",
    "env-file",
    "memory",
    "m",
    "cpus",
    "pull",
    "platform",
    "health-cmd",
    "health-interval",
    "health-retries",
    "health-timeout",
    "ulimit",
    "tmpfs",
    "stop-signal",
];

struct RunArgs {
    detach: bool,
    rm: bool,
    opts: BTreeMap<String, Vec<String>>,
    image: String,
    cmd: Vec<String>,
}

fn parse_run(args: &[String]) -> Result<RunArgs, String> {
    let mut r = RunArgs {
        detach: false,
        rm: false,
        opts: BTreeMap::new(),
        image: String::new(),
        cmd: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') || a == "-" {
            r.image = a.clone();
            r.cmd = args[i + 1..].to_vec();
            return Ok(r);
        }
        let (name, inline) = match a.trim_start_matches('-').split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.trim_start_matches('-').to_string(), None),
        };
        if RUN_VALUE_OPTS.contains(&name.as_str()) {
            let v = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("flag needs an argument: {a}"))?
                }
            };
            r.opts.entry(name).or_default().push(v);
        } else if !a.starts_with("--") && a.len() > 2 {
            for ch in name.chars() {
                match ch {
                    'd' => r.detach = true,
                    'i' | 't' => {}
                    _ => return Err(format!("unknown shorthand flag: '{ch}' in {a}")),
                }
            }
        } else {
            match name.as_str() {
                "d" | "detach" => r.detach = true,
                "rm" => r.rm = true,
                "i" | "t" | "interactive" | "tty" | "privileged" | "init" | "read-only" => {}
                _ => return Err(format!("unknown flag: {a}")),
            }
        }
        i += 1;
    }
    Err("\"docker run\" requires at least 1 argument.".into())
}

const HELLO: &str = "\nHello from Docker!\nThis message shows that your installation appears to be working correctly.\n\n";

fn run(fs: &GuestFs, e: &mut Engine, args: &[String]) -> Out {
    let r = match parse_run(args) {
        Ok(r) => r,
        Err(m) => return Out::err(125, format!("docker: {m}\nSee 'docker run --help'.")),
    };
    if !valid_image(&r.image) {
        return Out::err(
            125,
            format!(
                "docker: invalid reference format: repository name ({}) must be lowercase.",
                r.image
            ),
        );
    }
    let image = normalise(&r.image);
    let one = |k: &str| r.opts.get(k).and_then(|v| v.last()).cloned();
    let many = |ks: &[&str]| -> Vec<String> {
        ks.iter()
            .flat_map(|k| r.opts.get(*k).cloned().unwrap_or_default())
            .collect()
    };
    let name = one("name").unwrap_or_else(|| format!("sim_{}", e.next_id));
    if let Some(i) = e.find(&name) {
        return Out::err(125, format!("docker: Error response from daemon: Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.\n\nRun 'docker run --help' for more information", e.containers[i].id));
    }
    let network = one("network").or_else(|| one("net")).unwrap_or_default();
    if !e.has_network(&network) {
        return Out::err(125, format!("docker: Error response from daemon: network {network} not found.\n\nRun 'docker run --help' for more information"));
    }
    let ports = many(&["p", "publish"]);
    let taken = published(fs);
    for p in &ports {
        let host = p.split(':').rev().nth(1).unwrap_or(p).to_string();
        if host.parse::<u16>().is_err() && p.split(':').count() > 1 {
            return Out::err(125, format!("docker: Error response from daemon: invalid port specification: \"{p}\".\n\nRun 'docker run --help' for more information"));
        }
        if let Ok(hp) = host.parse::<u16>() {
            if taken.iter().any(|(t, _)| *t == hp) {
                return Out::err(125, format!("docker: Error response from daemon: driver failed programming external connectivity on endpoint {name}: Bind for 0.0.0.0:{hp} failed: port is already allocated.\n\nRun 'docker run --help' for more information"));
            }
        }
    }
    let mut stderr = String::new();
    let pulled = !e.images.contains(&image);
    if pulled {
        stderr.push_str(&format!("Unable to find image '{image}' locally\n{}: Pulling from {}\nStatus: Downloaded newer image for {image}\n", image.rsplit(':').next().unwrap_or("latest"), image.rsplit_once(':').map_or(image.as_str(), |x| x.0)));
        e.images.push(image.clone());
    }
    let volumes = many(&["v", "volume"]);
    for v in &volumes {
        let src = v.split(':').next().unwrap_or("");
        if !src.starts_with('/') && !src.is_empty() && !e.volumes.iter().any(|x| x == src) {
            e.volumes.push(src.to_string());
        }
        if src.starts_with('/') && !fs.exists(src) {
            let _ = fs.mkdir(src);
        }
    }
    e.next_id += 1;
    let c = Container {
        id: hex_id(e.next_id, &name),
        name: name.clone(),
        image: image.clone(),
        running: r.detach,
        stopped_by_user: false,
        restart: one("restart").unwrap_or_else(|| "no".into()),
        ports,
        volumes,
        env: many(&["e", "env"]),
        network,
        cmd: r.cmd.clone(),
        labels: many(&["label", "l"]),
        starts: u64::from(r.detach),
    };
    let mut stdout = String::new();
    if r.detach {
        stdout = format!("{}\n", c.id);
    } else if image.starts_with("hello-world") {
        stdout = HELLO.to_string();
    }
    // `docker run --rm` in the foreground leaves nothing behind (but a pulled image).
    let keeps = !r.rm || r.detach;
    if keeps {
        e.containers.push(c);
    }
    Out {
        code: 0,
        stdout,
        stderr,
        mutating: keeps || pulled,
    }
}

/// `docker ...`.
pub fn docker(ctx: &mut Ctx, argv: &[String]) -> Out {
    let fs = ctx.fs.clone();
    let Some(cmd) = argv.first().map(String::as_str) else {
        return Out::err(0, "Usage:  docker [OPTIONS] COMMAND");
    };
    if matches!(cmd, "--version" | "-v") {
        return Out::ok("Docker version 28.3.3, build 980b856\n");
    }
    if cmd == "version" && !systemd::is_active(&fs, "docker.service") {
        return Out {
            code: 1,
            stdout: "Client: Docker Engine - Community\n Version:           28.3.3\n".into(),
            stderr: format!("{NO_DAEMON}\n"),
            mutating: false,
        };
    }
    if !systemd::is_active(&fs, "docker.service") {
        return Out::err(1, NO_DAEMON);
    }
    let mut e = Engine::load(&fs);
    let rest = &argv[1..];
    if cmd == "compose" {
        if !super::apt::Db::load(&fs).installed("docker-compose-plugin") {
            return Out::err(
                1,
                "docker: 'compose' is not a docker command.\nSee 'docker --help'",
            );
        }
        let out = super::compose::compose(&fs, &mut e, rest);
        if out.mutating {
            if let Err(m) = e.save(&fs) {
                return Out::err(1, m);
            }
        }
        return out;
    }
    let (sub, rest) = match cmd {
        "container" | "image" | "network" | "volume" => match rest.first() {
            Some(s) => (format!("{cmd} {s}"), &rest[1..]),
            None => return Out::err(1, format!("\"docker {cmd}\" requires a subcommand")),
        },
        _ => (cmd.to_string(), rest),
    };
    let fmt = rest
        .iter()
        .position(|a| a == "-f" || a == "--format")
        .and_then(|i| rest.get(i + 1))
        .cloned()
        .or_else(|| {
            rest.iter()
                .find_map(|a| a.strip_prefix("--format=").map(str::to_string))
        });
    let names: Vec<&String> = {
        let mut v = Vec::new();
        let mut skip = false;
        for a in rest {
            if skip {
                skip = false;
                continue;
            }
            if a == "-f" || a == "--format" || a == "--type" || a == "-t" || a == "--time" {
                skip = true;
                continue;
            }
            if a.starts_with('-') {
                continue;
            }
            v.push(a);
        }
        v
    };
    let force = rest.iter().any(|a| a == "-f" || a == "--force") && !sub.ends_with("inspect");
    let out = match sub.as_str() {
        "version" => Out::ok("Client: Docker Engine - Community\n Version:           28.3.3\nServer: Docker Engine - Community\n Engine:\n  Version:          28.3.3\n"),
        "info" | "system info" => match fmt {
            Some(f) => Out::ok(format!("{}\n", f.replace("{{.Driver}}", "overlay2").replace("{{.ServerVersion}}", "28.3.3").replace("{{json .Driver}}", "\"overlay2\""))),
            None => Out::ok("Server Version: 28.3.3\nStorage Driver: overlay2\nCgroup Driver: systemd\n"),
        },
        "inspect" | "container inspect" => {
            let mut out = String::new();
            let mut err = String::new();
            for n in &names {
                match e.find(n) {
                    Some(i) => out.push_str(&match &fmt { Some(f) => format_tpl(f, &e.containers[i]) + "\n", None => container_json(&e.containers[i]) }),
                    None if sub == "inspect" && e.images.contains(&normalise(n)) => out.push_str(&format!("[{{\"RepoTags\": [\"{}\"]}}]\n", normalise(n))),
                    None if sub == "inspect" && (e.has_network(n) || e.volumes.contains(n)) => out.push_str(&format!("[{{\"Name\": \"{n}\"}}]\n")),
                    None => err.push_str(&format!("Error: No such {}: {n}\n", if sub == "inspect" { "object" } else { "container" })),
                }
            }
            if fmt.is_none() && !err.is_empty() && out.is_empty() { out.push_str("[]\n"); }
            Out { code: if err.is_empty() { 0 } else { 1 }, stdout: out, stderr: err, mutating: false }
        }
        "image inspect" => {
            let missing: Vec<String> = names.iter().filter(|n| !e.images.contains(&normalise(n))).map(|n| format!("Error: No such image: {n}")).collect();
            if missing.is_empty() {
                Out::ok(names.iter().map(|n| format!("[{{\"RepoTags\": [\"{}\"]}}]\n", normalise(n))).collect::<String>())
            } else {
                Out { code: 1, stdout: "[]\n".into(), stderr: missing.join("\n") + "\n", mutating: false }
            }
        }
        "pull" | "image pull" => {
            let Some(img) = names.first() else { return Out::err(1, "\"docker pull\" requires exactly 1 argument.") };
            if !valid_image(img) { return Out::err(1, format!("invalid reference format: repository name ({img}) must be lowercase")); }
            let n = normalise(img);
            let tag = n.rsplit(':').next().unwrap_or("latest").to_string();
            if e.images.contains(&n) {
                Out::ok(format!("{tag}: Pulling from {}\nStatus: Image is up to date for {n}\n", n.rsplit_once(':').map_or(n.as_str(), |x| x.0)))
            } else {
                e.images.push(n.clone());
                Out::changed(format!("{tag}: Pulling from {}\nStatus: Downloaded newer image for {n}\ndocker.io/{n}\n", n.rsplit_once(':').map_or(n.as_str(), |x| x.0)))
            }
        }
        "run" | "container run" => run(&fs, &mut e, rest),
        "start" | "stop" | "restart" | "rm" | "container start" | "container stop" | "container restart" | "container rm" | "kill" => {
            let verb = sub.rsplit(' ').next().unwrap_or("");
            let mut out = String::new();
            let mut err = String::new();
            for n in &names {
                let Some(i) = e.find(n) else {
                    err.push_str(&format!("Error response from daemon: No such container: {n}\n"));
                    continue;
                };
                match verb {
                    "start" | "restart" => {
                        if verb == "restart" || !e.containers[i].running { e.containers[i].starts += 1; }
                        e.containers[i].running = true;
                        e.containers[i].stopped_by_user = false;
                    }
                    "stop" | "kill" => { e.containers[i].running = false; e.containers[i].stopped_by_user = true; }
                    _ => {
                        if e.containers[i].running && !force {
                            err.push_str(&format!("Error response from daemon: cannot remove container \"/{n}\": container is running: stop the container before removing or force remove\n"));
                            continue;
                        }
                        e.containers.remove(i);
                    }
                }
                out.push_str(&format!("{n}\n"));
            }
            Out { code: if err.is_empty() { 0 } else { 1 }, stdout: out, stderr: err, mutating: true }
        }
        "ps" | "container ls" | "container list" => {
            let all = rest.iter().any(|a| a == "-a" || a == "--all");
            let quiet = rest.iter().any(|a| a == "-q" || a == "--quiet");
            let mut out = String::new();
            if fmt.is_none() && !quiet {
                out.push_str("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n");
            }
            for c in e.containers.iter().filter(|c| all || c.running) {
                out.push_str(&match (&fmt, quiet) {
                    (_, true) => format!("{}\n", &c.id[..12]),
                    (Some(f), _) => format_tpl(f, c) + "\n",
                    _ => format!("{}   {}   \"\"   1 minute ago   {}   {}   {}\n", &c.id[..12], c.image, format_tpl("{{.Status}}", c), c.ports.join(", "), c.name),
                });
            }
            Out::ok(out)
        }
        "images" | "image ls" | "image list" => Out::ok(e.images.iter().map(|i| format!("{i}\n")).collect::<String>()),
        "network inspect" | "volume inspect" => {
            let is_net = sub.starts_with("network");
            let missing: Vec<String> = names.iter().filter(|n| if is_net { !e.has_network(n) } else { !e.volumes.contains(n) }).map(|n| format!("Error response from daemon: {} {n} not found", if is_net { "network" } else { "get" })).collect();
            if missing.is_empty() {
                Out::ok(names.iter().map(|n| format!("[{{\"Name\": \"{n}\"}}]\n")).collect::<String>())
            } else {
                Out { code: 1, stdout: "[]\n".into(), stderr: missing.join("\n") + "\n", mutating: false }
            }
        }
        "network create" | "volume create" => {
            let Some(n) = names.first() else { return Out::err(1, format!("\"docker {sub}\" requires exactly 1 argument.")) };
            let list = if sub.starts_with("network") { &mut e.networks } else { &mut e.volumes };
            if list.contains(n) && sub.starts_with("network") {
                return Out::err(1, format!("Error response from daemon: network with name {n} already exists"));
            }
            if !list.contains(n) { list.push(n.to_string()); }
            Out::changed(if sub.starts_with("network") { format!("{}\n", hex_id(99, n)) } else { format!("{n}\n") })
        }
        "network ls" | "volume ls" => {
            let list = if sub.starts_with("network") { vec!["bridge".to_string(), "host".into(), "none".into()].into_iter().chain(e.networks.clone()).collect::<Vec<_>>() } else { e.volumes.clone() };
            Out::ok(list.iter().map(|n| format!("{n}\n")).collect::<String>())
        }
        "network rm" | "volume rm" => {
            let list = if sub.starts_with("network") { &mut e.networks } else { &mut e.volumes };
            list.retain(|x| !names.contains(&x));
            Out::changed(names.iter().map(|n| format!("{n}\n")).collect::<String>())
        }
        "port" | "container port" => match names.first().and_then(|n| e.find(n)) {
            Some(i) => {
                let want = names.get(1).and_then(|p| p.split('/').next()?.parse::<u16>().ok());
                let pairs: Vec<(u16, u16)> = port_pairs(&e.containers[i]).into_iter().filter(|(_, c)| want.is_none_or(|w| w == *c)).collect();
                if pairs.is_empty() && want.is_some() {
                    Out::err(1, format!("Error: No public port '{}/tcp' published for {}", want.unwrap_or(0), names[0]))
                } else if want.is_some() {
                    Out::ok(pairs.iter().map(|(h, _)| format!("0.0.0.0:{h}\n")).collect::<String>())
                } else {
                    Out::ok(pairs.iter().map(|(h, c)| format!("{c}/tcp -> 0.0.0.0:{h}\n")).collect::<String>())
                }
            }
            None => Out::err(1, format!("Error: No such container: {}", names.first().map(|s| s.as_str()).unwrap_or(""))),
        },
        "logs" | "container logs" => match names.first().and_then(|n| e.find(n)) {
            Some(_) => Out::ok(""),
            None => Out::err(1, format!("Error response from daemon: No such container: {}", names.first().map(|s| s.as_str()).unwrap_or(""))),
        },
        other => return Out::err(1, format!("pve-sim: 'docker {other}' is not simulated")),
    };
    if out.mutating || matches!(sub.as_str(), "run" | "container run") {
        if let Err(m) = e.save(&fs) {
            return Out::err(1, m);
        }
    }
    out
}
