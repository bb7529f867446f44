//! `curl` and `wget`: there is no network, so downloads come from a fixed table (Docker's apt
//! key, Ollama's installer, NVIDIA's driver runfile and CUDA keyring, Docker Hub's registry
//! root), local URLs (`localhost`, `127.0.0.1`) are answered by the services that are active in
//! the guest and listen on that port (see [`listeners`]), and every other host does not resolve.

use super::{docker, systemd, Ctx, GuestFs};
use crate::host::{Args, Out};

/// What a URL answers.
pub enum Answer {
    Http(u16, String),
    /// A 200 with a binary body (a release tarball).
    Binary(Vec<u8>),
    NoHost(String),
    Refused(u16),
}

/// A service listening in the guest.
#[derive(Debug, Clone)]
pub enum Service {
    Vllm { served: String },
    Ollama,
    LlamaServer,
    Nginx,
    Traefik,
    Container(String),
}

fn word_after(exec: &str, flag: &str) -> Option<String> {
    let w: Vec<&str> = exec.split_whitespace().collect();
    w.iter()
        .position(|x| *x == flag)
        .and_then(|i| w.get(i + 1))
        .map(|s| s.to_string())
}

/// Ports the guest's active services listen on.
pub fn listeners(fs: &GuestFs) -> Vec<(u16, Service)> {
    let mut out = Vec::new();
    for unit in systemd::active_units(fs) {
        let Some(text) = systemd::unit_text(fs, &unit) else {
            continue;
        };
        let exec = systemd::directives(&text, "ExecStart").join(" ");
        let env = systemd::directives(&text, "Environment").join(" ");
        let prog = exec.split_whitespace().next().unwrap_or("");
        let port_flag = word_after(&exec, "--port").and_then(|p| p.parse::<u16>().ok());
        if prog.ends_with("/vllm") {
            let model = word_after(&exec, "serve").unwrap_or_default();
            let served = word_after(&exec, "--served-model-name").unwrap_or(model);
            out.push((port_flag.unwrap_or(8000), Service::Vllm { served }));
        } else if prog.ends_with("/ollama") {
            let port = env
                .split(['"', ' '])
                .find_map(|kv| kv.strip_prefix("OLLAMA_HOST="))
                .and_then(|h| h.rsplit(':').next()?.parse::<u16>().ok())
                .unwrap_or(11434);
            out.push((port, Service::Ollama));
        } else if prog.ends_with("/llama-server") {
            out.push((port_flag.unwrap_or(8080), Service::LlamaServer));
        } else if unit == "nginx.service" {
            out.push((80, Service::Nginx));
        } else if prog.ends_with("/traefik") {
            out.push((80, Service::Traefik));
        }
    }
    for (port, image) in docker::published(fs) {
        out.push((port, Service::Container(image)));
    }
    out
}

fn local_answer(svc: &Service, path: &str) -> (u16, String) {
    match svc {
        Service::Vllm { served } => match path {
            "/health" => (200, String::new()),
            "/v1/models" => (
                200,
                serde_json::json!({"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]}).to_string(),
            ),
            _ => (404, "{\"detail\":\"Not Found\"}".into()),
        },
        Service::Ollama => match path {
            "/api/version" => (200, "{\"version\":\"0.11.4\"}".into()),
            "/" => (200, "Ollama is running".into()),
            _ => (404, "404 page not found".into()),
        },
        Service::LlamaServer => (200, "{\"status\":\"ok\"}".into()),
        Service::Nginx => (200, "<h1>Welcome to nginx!</h1>\n".into()),
        Service::Traefik => match path {
            "/ping" => (200, "OK".into()),
            _ => (404, "404 page not found\n".into()),
        },
        Service::Container(image) => {
            if image.contains("qdrant") {
                (200, "{\"title\":\"qdrant - vector search engine\",\"version\":\"1.15.1\"}".into())
            } else if image.contains("prometheus") {
                (200, "Prometheus Server is Ready.\n".into())
            } else if image.contains("grafana") {
                (200, "{\"database\": \"ok\", \"version\": \"12.1.0\"}".into())
            } else {
                (200, "{\"status\":\"ok\"}".into())
            }
        }
    }
}

const LOCAL: &[&str] = &["localhost", "127.0.0.1", "0.0.0.0", "[::1]", "::1"];

/// Parses `scheme://host[:port]/path`.
fn split_url(url: &str) -> Option<(String, String, u16, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (h.to_string(), p.parse().ok()?)
        }
        _ => (hostport.to_string(), default),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
    Some((scheme.to_string(), host, port, path))
}

/// The fixed answer for `url`.
pub fn fetch(fs: &GuestFs, url: &str) -> Answer {
    let Some((_, host, port, path)) = split_url(url) else {
        return Answer::NoHost(url.to_string());
    };
    if LOCAL.contains(&host.as_str()) {
        return match listeners(fs).into_iter().find(|(p, _)| *p == port) {
            Some((_, svc)) => {
                let (code, body) = local_answer(&svc, &path);
                Answer::Http(code, body)
            }
            None => Answer::Refused(port),
        };
    }
    let file = path.rsplit('/').next().unwrap_or("");
    match host.as_str() {
        "download.docker.com" if path == "/linux/ubuntu/gpg" => Answer::Http(
            200,
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\npve-sim: Docker Release (CE deb) <docker@docker.com>\n-----END PGP PUBLIC KEY BLOCK-----\n".into(),
        ),
        "packages.smallstep.com" if path == "/keys/apt/repo-signing-key.gpg" => Answer::Http(
            200,
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\npve-sim: Smallstep Labs package signing key <techadmin@smallstep.com>\n-----END PGP PUBLIC KEY BLOCK-----\n".into(),
        ),
        "ollama.com" if path == "/install.sh" => Answer::Http(200, OLLAMA_INSTALLER.into()),
        "github.com" if path.starts_with("/traefik/traefik/releases/download/") => {
            match super::release::traefik(file) {
                Some(a) => a,
                None => Answer::Http(404, "Not Found\n".into()),
            }
        }
        h if h.ends_with("nvidia.com") && file.starts_with("NVIDIA-Linux-") && file.ends_with(".run") => {
            let version = file
                .trim_end_matches(".run")
                .rsplit('-')
                .next()
                .unwrap_or("")
                .to_string();
            Answer::Http(200, runfile(&version))
        }
        h if h.ends_with("nvidia.com") && file.starts_with("cuda-keyring_") && file.ends_with(".deb") => {
            Answer::Http(200, "pve-sim deb: cuda-keyring\n".into())
        }
        "registry-1.docker.io" if path == "/v2/" => Answer::Http(
            401,
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}\n".into(),
        ),
        "download.docker.com"
        | "ollama.com"
        | "github.com"
        | "registry-1.docker.io"
        | "packages.smallstep.com" => {
            Answer::Http(404, "Not Found\n".into())
        }
        h if h.ends_with("nvidia.com") => Answer::Http(404, "Not Found\n".into()),
        _ => Answer::NoHost(host),
    }
}

/// What `https://ollama.com/install.sh` serves here: what the real installer leaves behind on a
/// systemd host (binary, user, unit, service enabled and started), nothing else.
const OLLAMA_INSTALLER: &str = r#"#!/bin/sh
# pve-sim: stand-in for Ollama's Linux installer. Like the real one it installs the ollama
# binary, creates the ollama user and ollama.service, and enables and starts the service.
set -eu
if [ "$(id -u)" -ne 0 ]; then echo "ERROR: This script requires superuser permissions." >&2; exit 1; fi
echo ">>> Installing ollama to /usr/local"
install -o0 -g0 -m755 -d /usr/local/bin
ln -sf /.pve-sim/bin/pve-sim /usr/local/bin/ollama
if ! id ollama >/dev/null 2>&1; then
    echo ">>> Creating ollama user..."
    useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama
fi
echo ">>> Creating ollama systemd service..."
cat <<UNIT >/etc/systemd/system/ollama.service
[Unit]
Description=Ollama Service
After=network-online.target

[Service]
ExecStart=/usr/local/bin/ollama serve
User=ollama
Group=ollama
Restart=always
RestartSec=3

[Install]
WantedBy=default.target
UNIT
systemctl daemon-reload
systemctl enable ollama
systemctl restart ollama
echo ">>> The Ollama API is now available at 127.0.0.1:11434."
"#;

fn runfile(version: &str) -> String {
    format!(
        "#!/bin/sh\n# pve-sim: stand-in for NVIDIA's driver installer NVIDIA-Linux-x86_64-{version}.run\nexec /.pve-sim/bin/pve-sim nvidia-installer --pve-sim-version={version} \"$@\"\n"
    )
}

/// `curl [-fsSL] [-o FILE|-O] [--max-time N] URL`.
pub fn curl(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(
        argv,
        &[
            "o",
            "output",
            "m",
            "max-time",
            "connect-timeout",
            "retry",
            "w",
            "write-out",
            "H",
            "header",
            "X",
            "request",
            "d",
            "data",
            "A",
            "user-agent",
            "u",
            "user",
            "retry-delay",
            "retry-max-time",
        ],
    );
    let fail = a.has(&["f", "fail"]);
    let silent = a.has(&["s", "silent"]);
    let show = a.has(&["S", "show-error"]);
    let Some(url) = a.pos.first() else {
        return Out::err(2, "curl: no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information");
    };
    let err = |code: i32, msg: String| -> Out {
        if silent && !show {
            Out {
                code,
                ..Out::default()
            }
        } else {
            Out::err(code, format!("curl: ({code}) {msg}"))
        }
    };
    let (status, body) = match fetch(&ctx.fs, url) {
        Answer::NoHost(h) => return err(6, format!("Could not resolve host: {h}")),
        Answer::Refused(p) => {
            let host = split_url(url).map(|x| x.1).unwrap_or_default();
            return err(
                7,
                format!(
                    "Failed to connect to {host} port {p} after 0 ms: Couldn't connect to server"
                ),
            );
        }
        Answer::Http(s, b) => (s, b.into_bytes()),
        Answer::Binary(b) => (200, b),
    };
    if fail && status >= 400 {
        return err(22, format!("The requested URL returned error: {status}"));
    }
    let out_file = a.val(&["o", "output"]).map(str::to_string).or_else(|| {
        a.has(&["O", "remote-name"])
            .then(|| url.rsplit('/').next().unwrap_or("index.html").to_string())
    });
    match out_file {
        Some(f) if f != "-" && f != "/dev/null" => match ctx.fs.write(&f, &body) {
            Ok(()) => Out::changed(""),
            Err(e) => Out::err(
                23,
                format!(
                    "curl: (23) Failure writing output to destination: {}",
                    e.msg
                ),
            ),
        },
        Some(f) if f == "/dev/null" => Out::ok(""),
        _ => Out::ok(String::from_utf8_lossy(&body).into_owned()),
    }
}

/// `wget [-q] [-O FILE] URL`.
pub fn wget(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(
        argv,
        &[
            "O",
            "output-document",
            "T",
            "timeout",
            "t",
            "tries",
            "P",
            "directory-prefix",
            "U",
            "user-agent",
        ],
    );
    let Some(url) = a.pos.first() else {
        return Out::err(1, "wget: missing URL");
    };
    let quiet = a.has(&["q", "quiet"]);
    let (status, body) = match fetch(&ctx.fs, url) {
        Answer::NoHost(h) => {
            return Out::err(4, format!("wget: unable to resolve host address '{h}'"))
        }
        Answer::Refused(p) => {
            return Out::err(4, format!("failed: Connection refused (port {p})."))
        }
        Answer::Http(s, b) => (s, b.into_bytes()),
        Answer::Binary(b) => (200, b),
    };
    if status >= 400 {
        return Out::err(
            8,
            if quiet {
                String::new()
            } else {
                format!("ERROR {status}: Not Found.")
            },
        );
    }
    let target = a
        .val(&["O", "output-document"])
        .map(str::to_string)
        .unwrap_or_else(|| {
            url.rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("index.html")
                .to_string()
        });
    if target == "-" {
        return Out::ok(String::from_utf8_lossy(&body).into_owned());
    }
    match ctx.fs.write(&target, &body) {
        Ok(()) => Out {
            code: 0,
            stdout: String::new(),
            stderr: if quiet {
                String::new()
            } else {
                format!("'{target}' saved\n")
            },
            mutating: true,
        },
        Err(e) => Out::err(3, format!("{target}: {}", e.msg)),
    }
}
