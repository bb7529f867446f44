//! `curl` and `wget`: a small simulated internet, so downloads run without the network.
//!
//! What is served:
//! - `https://cloud-images.ubuntu.com/<release>/current/`: `<release>-server-cloudimg-amd64.img`
//!   and `-arm64.img` (a deterministic qcow2-like blob of [`IMAGE_BYTES`] bytes, the same on every
//!   run for a given name) and `SHA256SUMS` listing them (`<hex> *<file>`), as Ubuntu publishes;
//!   any other path there is a 404;
//! - a host under `.invalid` (RFC 6761) does not resolve: curl exits 6, wget 4;
//! - any other URL answers with a small placeholder (for an NVIDIA `NVIDIA-Linux-x86_64-<v>.run`,
//!   a script running the `nvidia-installer` stand-in with version `<v>`).
//!
//! Like the real tools: `-o`/`-O` (wget `-O`) write the file, without it the body goes to stdout;
//! `-C -` (wget `-c`) continues an existing file from its size, and a file that is already complete
//! is left as it is (exit 0); `-f` turns an HTTP error into exit 22 (without it the error page is
//! written and curl exits 0; wget exits 8). `--retry` and the time-out options are accepted; one
//! attempt is simulated.
//!
//! Faults (`downloads` in `faults.json`, see docs/simulator.md): a transfer cut after N bytes
//! (curl exit 18, wget 4, the bytes that arrived stay), corrupted bytes (a checksum no longer
//! matches), an HTTP status, an unresolvable host; `nth` counts matching calls in
//! `host-state/download-counters.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::state::Host;
use super::{Args, Out};

/// Size of a simulated cloud image: big enough to interrupt and resume, small enough for tests.
pub const IMAGE_BYTES: usize = 3 * 65536;
/// Virtual disk size written into the simulated image's header (3.5 GiB, as Ubuntu's).
const VIRTUAL_SIZE: u64 = 3584 << 20;
/// Architectures with a simulated image per release.
const ARCHES: &[&str] = &["amd64", "arm64"];
const CLOUD_IMAGES: &str = "cloud-images.ubuntu.com";

/// One injected download fault; every given field must match (`url_contains`), then it applies.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DownloadFault {
    /// Substring of the URL; absent matches every download.
    pub url_contains: Option<String>,
    /// Only the Nth matching call (1-based) is affected; absent: every matching call.
    pub nth: Option<u64>,
    /// The connection drops after this many bytes of the body (from the resume offset).
    pub truncate_after_bytes: Option<u64>,
    /// The server sends different bytes than it lists in `SHA256SUMS`.
    #[serde(default)]
    pub corrupt: bool,
    /// The server answers with this HTTP status instead (404, 503, ...).
    pub http_status: Option<u16>,
    /// The host name does not resolve.
    #[serde(default)]
    pub unresolvable: bool,
}

/// What the simulated server answers.
enum Response {
    Body(Vec<u8>),
    Status(u16),
    Unresolved(String),
}

/// The parts of a URL the simulation looks at.
struct Url<'a> {
    host: String,
    path: &'a str,
}

fn parse_url(url: &str) -> Url<'_> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let path = path.split(['?', '#']).next().unwrap_or(path);
    Url { host, path }
}

/// The deterministic content of simulated cloud image `file`: a qcow2 version 3 header with a
/// 3.5 GiB virtual size, then pseudo-random bytes seeded by the name.
pub fn cloud_image(file: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(IMAGE_BYTES);
    out.extend_from_slice(b"QFI\xfb");
    out.extend_from_slice(&3u32.to_be_bytes()); // version
    out.extend_from_slice(&0u64.to_be_bytes()); // backing file offset
    out.extend_from_slice(&0u32.to_be_bytes()); // backing file size
    out.extend_from_slice(&16u32.to_be_bytes()); // cluster bits (64 KiB)
    out.extend_from_slice(&VIRTUAL_SIZE.to_be_bytes());
    out.resize(104, 0);
    // FNV-1a of the name seeds an xorshift generator: same name, same bytes.
    let mut x = file.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    while out.len() < IMAGE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(IMAGE_BYTES);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `SHA256SUMS` of a release folder, in Ubuntu's format.
pub fn sha256sums(release: &str) -> String {
    ARCHES
        .iter()
        .map(|a| {
            let file = format!("{release}-server-cloudimg-{a}.img");
            format!("{} *{file}\n", hex(&Sha256::digest(cloud_image(&file))))
        })
        .collect()
}

/// `cloud-images.ubuntu.com`: `/<release>/current/<file>`.
fn serve_cloud_images(path: &str) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [release, "current", file] = parts.as_slice() else {
        return Response::Status(404);
    };
    let valid_release =
        (3..=16).contains(&release.len()) && release.bytes().all(|b| b.is_ascii_lowercase());
    if !valid_release {
        return Response::Status(404);
    }
    if *file == "SHA256SUMS" {
        return Response::Body(sha256sums(release).into_bytes());
    }
    let known = ARCHES
        .iter()
        .any(|a| *file == format!("{release}-server-cloudimg-{a}.img"));
    if known {
        Response::Body(cloud_image(file))
    } else {
        Response::Status(404)
    }
}

fn serve(url: &str) -> Response {
    let u = parse_url(url);
    if u.host.is_empty() || u.host.ends_with(".invalid") || u.host == "invalid" {
        return Response::Unresolved(u.host);
    }
    if u.host == CLOUD_IMAGES {
        return serve_cloud_images(u.path);
    }
    Response::Body(placeholder(url).into_bytes())
}

/// The content for any other URL: for an NVIDIA driver runfile, a script that runs the
/// `nvidia-installer` stand-in with the version from the file name; otherwise a text line.
fn placeholder(url: &str) -> String {
    let file = url.rsplit('/').next().unwrap_or("");
    let version = file
        .strip_prefix("NVIDIA-Linux-x86_64-")
        .and_then(|f| f.strip_suffix(".run"))
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    match version {
        Some(v) => format!(
            "#!/bin/sh\n# pve-sim: simulated download of {url}\n# Running it installs NVIDIA driver {v} in the simulated host (nvidia-installer stand-in).\nexec nvidia-installer --pve-sim-version {v} \"$@\"\n"
        ),
        None => format!("pve-sim: simulated download of {url}\n"),
    }
}

/// The first fault matching `url` for this call (counting toward `nth`).
fn fault_for(h: &Host, url: &str) -> Result<Option<DownloadFault>, String> {
    let faults = crate::faults::Faults::load(&h.root).map_err(|e| e.msg)?;
    let path = h.root.join("host-state/download-counters.json");
    let mut counters: BTreeMap<String, u64> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut hit = None;
    for (i, f) in faults.downloads.iter().enumerate() {
        if !f.url_contains.as_deref().is_none_or(|s| url.contains(s)) {
            continue;
        }
        let n = counters.entry(format!("download{i}")).or_insert(0);
        *n += 1;
        if f.nth.is_none_or(|nth| nth == *n) {
            hit = Some(f.clone());
            break;
        }
    }
    if !faults.downloads.is_empty() {
        // Written under the host-state lock held for the whole call.
        let text = serde_json::to_string_pretty(&counters).map_err(|e| e.to_string())?;
        crate::state::atomic_write(&path, text.as_bytes()).map_err(|e| e.msg)?;
    }
    Ok(hit)
}

/// The server's answer for `url`, with any fault applied (a cut is returned separately: it
/// happens during the transfer).
fn answer(h: &Host, url: &str) -> Result<(Response, Option<u64>), String> {
    let fault = fault_for(h, url)?.unwrap_or_default();
    if fault.unresolvable {
        return Ok((Response::Unresolved(parse_url(url).host), None));
    }
    if let Some(code) = fault.http_status {
        return Ok((Response::Status(code), None));
    }
    let mut resp = serve(url);
    if let (Response::Body(b), true) = (&mut resp, fault.corrupt) {
        for i in (0..b.len()).step_by(4096) {
            b[i] ^= 0xff;
        }
    }
    Ok((resp, fault.truncate_after_bytes))
}

/// Which tool is asking: the two differ in options and exit codes.
#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Curl,
    Wget,
}

/// One parsed download request.
struct Request {
    tool: Tool,
    url: String,
    /// Output file; `None` or `-`: stdout.
    output: Option<String>,
    /// Continue an existing output file from its size.
    resume: bool,
    /// curl `-f`: HTTP errors fail with exit 22 instead of writing the error page.
    fail_on_http_error: bool,
    /// curl `-s` without `-S`: no error message.
    quiet_errors: bool,
}

fn parse_request(tool: Tool, a: &[String]) -> Result<Request, Out> {
    let with_value: &[&str] = match tool {
        Tool::Curl => &[
            "o",
            "output",
            "C",
            "continue-at",
            "retry",
            "retry-delay",
            "retry-max-time",
            "connect-timeout",
            "m",
            "max-time",
            "y",
            "speed-time",
            "Y",
            "speed-limit",
            "H",
            "header",
            "u",
            "user",
            "A",
            "user-agent",
            "w",
            "write-out",
            "e",
            "referer",
        ],
        Tool::Wget => &[
            "O",
            "output-document",
            "t",
            "tries",
            "T",
            "timeout",
            "header",
            "U",
            "user-agent",
            "waitretry",
        ],
    };
    let args = Args::parse(a, with_value);
    let name = if tool == Tool::Curl { "curl" } else { "wget" };
    let Some(url) = args.pos.iter().find(|p| p.contains("://")).cloned() else {
        return Err(Out::err(2, format!("{name}: no URL specified (pve-sim)")));
    };
    Ok(match tool {
        Tool::Curl => Request {
            tool,
            output: args.val(&["o", "output"]).map(str::to_string).or_else(|| {
                args.has(&["O", "remote-name"])
                    .then(|| url.rsplit('/').next().unwrap_or("index.html").to_string())
            }),
            resume: args.val(&["C", "continue-at"]) == Some("-"),
            fail_on_http_error: args.has(&["f", "fail", "fail-with-body"]),
            quiet_errors: args.has(&["s", "silent"]) && !args.has(&["S", "show-error"]),
            url,
        },
        Tool::Wget => Request {
            tool,
            output: Some(
                args.val(&["O", "output-document"])
                    .map(str::to_string)
                    .unwrap_or_else(|| url.rsplit('/').next().unwrap_or("index.html").to_string()),
            ),
            resume: args.has(&["c", "continue"]),
            fail_on_http_error: true,
            quiet_errors: args.has(&["q", "quiet"]),
            url,
        },
    })
}

/// `curl` with `argv`.
pub fn curl(h: &mut Host, a: &[String]) -> Out {
    transfer(h, Tool::Curl, a)
}

/// `wget` with `argv`.
pub fn wget(h: &mut Host, a: &[String]) -> Out {
    transfer(h, Tool::Wget, a)
}

fn transfer(h: &mut Host, tool: Tool, a: &[String]) -> Out {
    let req = match parse_request(tool, a) {
        Ok(r) => r,
        Err(out) => return out,
    };
    let (resp, cut) = match answer(h, &req.url) {
        Ok(x) => x,
        Err(msg) => return Out::err(2, msg),
    };
    let error = |curl_code: i32, wget_code: i32, msg: String| {
        let (code, text) = match tool {
            Tool::Curl => (curl_code, format!("curl: ({curl_code}) {msg}")),
            Tool::Wget => (wget_code, format!("wget: {msg}")),
        };
        let mut out = Out::err(code, text);
        if req.quiet_errors {
            out.stderr.clear();
        }
        out
    };
    let body = match resp {
        Response::Unresolved(host) => {
            return error(6, 4, format!("Could not resolve host: {host}"));
        }
        Response::Status(code) if req.fail_on_http_error => {
            return error(22, 8, format!("The requested URL returned error: {code}"));
        }
        Response::Status(code) => {
            format!("<html><body><h1>{code}</h1></body></html>\n").into_bytes()
        }
        Response::Body(b) => b,
    };
    deliver(h, &req, &body, cut)
}

/// Writes `body` (from the resume offset, cut after `cut` bytes) where the request asked.
fn deliver(h: &Host, req: &Request, body: &[u8], cut: Option<u64>) -> Out {
    let target = req.output.as_deref().filter(|t| *t != "-");
    let path = target.filter(|t| *t != "/dev/null").map(|t| resolve(h, t));
    let offset = match (&path, req.resume) {
        (Some(p), true) => std::fs::metadata(p).map_or(0, |m| m.len()),
        _ => 0,
    };
    if offset >= body.len() as u64 && offset > 0 {
        // HTTP 416 on a resumed request: the file is complete; both tools leave it alone.
        return Out::ok("");
    }
    let rest = &body[offset as usize..];
    let sent = cut.map_or(rest.len(), |c| (c as usize).min(rest.len()));
    let mut out = match &path {
        Some(p) => match write_file(p, offset > 0, &rest[..sent]) {
            Ok(()) => Out::changed(""),
            Err(why) => {
                let t = target.unwrap_or_default();
                return match req.tool {
                    Tool::Curl => Out::err(
                        23,
                        format!("curl: (23) Failure writing output to {t}: {why}"),
                    ),
                    Tool::Wget => Out::err(3, format!("wget: {t}: {why}")),
                };
            }
        },
        None if target.is_some() => Out::ok(""),
        None => {
            // Binary-safe: straight to stdout rather than through `Out`'s text.
            let _ = std::io::stdout().write_all(&rest[..sent]);
            Out::ok("")
        }
    };
    if sent < rest.len() {
        let left = rest.len() - sent;
        let (code, msg) = match req.tool {
            Tool::Curl => (
                18,
                format!("curl: (18) transfer closed with {left} bytes remaining to read\n"),
            ),
            Tool::Wget => (
                4,
                format!(
                    "wget: read error at byte {}: connection reset by peer\n",
                    offset as usize + sent
                ),
            ),
        };
        out.code = code;
        out.stderr = if req.quiet_errors { String::new() } else { msg };
    }
    out
}

fn write_file(p: &Path, append: bool, bytes: &[u8]) -> Result<(), String> {
    if let Some(d) = p.parent() {
        if !d.is_dir() {
            return Err("no such folder".into());
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(p)
        .map_err(|e| e.to_string())?;
    f.write_all(bytes).map_err(|e| e.to_string())
}

/// A relative target is relative to the caller's folder; an absolute one is used as given inside
/// the simulator's folder or the temp folder, else placed under the simulated host root.
fn resolve(h: &Host, target: &str) -> PathBuf {
    let p = Path::new(target);
    if p.is_absolute() {
        if p.starts_with(std::env::temp_dir()) {
            return p.to_path_buf();
        }
        h.host_path(target)
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_and_listed_in_sha256sums() {
        let a = cloud_image("noble-server-cloudimg-amd64.img");
        assert_eq!(a, cloud_image("noble-server-cloudimg-amd64.img"));
        assert_ne!(a, cloud_image("jammy-server-cloudimg-amd64.img"));
        assert_eq!(a.len(), IMAGE_BYTES);
        assert_eq!(&a[..4], b"QFI\xfb");
        let sums = sha256sums("noble");
        let line = format!(
            "{} *noble-server-cloudimg-amd64.img",
            hex(&Sha256::digest(&a))
        );
        assert!(sums.lines().any(|l| l == line), "{sums}");
    }

    #[test]
    fn urls_map_to_answers() {
        let body = |u: &str| match serve(u) {
            Response::Body(b) => Some(b.len()),
            _ => None,
        };
        assert_eq!(
            body("https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"),
            Some(IMAGE_BYTES)
        );
        assert!(matches!(
            serve("https://cloud-images.ubuntu.com/noble/current/nope.img"),
            Response::Status(404)
        ));
        assert!(matches!(
            serve("https://cloud-images.ubuntu.com/Noble/current/SHA256SUMS"),
            Response::Status(404)
        ));
        assert!(matches!(
            serve("https://mirror.example.invalid/x.img"),
            Response::Unresolved(h) if h == "mirror.example.invalid"
        ));
        assert!(body("https://us.download.nvidia.com/x/NVIDIA-Linux-x86_64-1.2.run").is_some());
    }
}
