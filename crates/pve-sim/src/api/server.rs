//! `pve-sim serve`: HTTPS (rustls) on loopback, HTTP/1.1 with keep-alive, one thread per
//! connection up to a bound, requests handled by [`super::handler`], answers wrapped as
//! Proxmox's JSON formatter does (`{"data": ...}`, plus `errors` and `message` on failure),
//! every request appended to `$PVE_SIM_ROOT/api-requests.jsonl`. SIGTERM/SIGINT stop the
//! accept loop; open connections and running tasks get a few seconds to finish.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pve::api::Value as P;
use serde_json::{json, Value};

use super::handler::{self, Ctx, Reply};
use super::tokens;

/// Connections served at once; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 32;
/// Largest request head and body accepted.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 16 << 20;
/// How long an idle keep-alive connection stays open.
const IDLE: Duration = Duration::from_secs(10);

static RUNNING_TASKS: AtomicUsize = AtomicUsize::new(0);

/// Runs a task's work on its own thread, counted so shutdown can wait for it.
pub fn spawn_task(work: impl FnOnce() -> String + Send + 'static) {
    RUNNING_TASKS.fetch_add(1, Ordering::SeqCst);
    std::thread::spawn(move || {
        let _ = work();
        RUNNING_TASKS.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Serves until SIGTERM/SIGINT. `addr` must be a loopback address.
pub fn serve(root: &Path, addr: SocketAddr) -> crate::R<()> {
    if !addr.ip().is_loopback() {
        return Err(crate::fail(format!(
            "refusing to listen on {addr}: the simulated API serves loopback only"
        )));
    }
    let api_dir = root.join("api");
    let (tls, fingerprint) = super::cert::load_or_create(&api_dir)?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| crate::fail(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| crate::fail(e.to_string()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| crate::fail(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| crate::fail(e.to_string()))?;
    }
    let url = format!("https://{local}");
    let info = json!({"url": url, "fingerprint": fingerprint, "pid": std::process::id()});
    crate::state::atomic_write(&api_dir.join("server.json"), format!("{info}\n").as_bytes())?;
    println!("pve-sim: serving the Proxmox API on {url}/api2/json");
    println!("pve-sim: certificate fingerprint (SHA-256) {fingerprint}");
    let _ = std::io::stdout().flush();
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                let _ = sock.set_nonblocking(false);
                if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    busy(sock);
                    continue;
                }
                open.fetch_add(1, Ordering::SeqCst);
                let (tls, root, open, stop) =
                    (tls.clone(), root.to_path_buf(), open.clone(), stop.clone());
                std::thread::spawn(move || {
                    let _ = connection(sock, tls, &root, &stop);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (open.load(Ordering::SeqCst) > 0 || RUNNING_TASKS.load(Ordering::SeqCst) > 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(api_dir.join("server.json"));
    eprintln!("pve-sim: API server stopped");
    Ok(())
}

fn busy(mut sock: TcpStream) {
    // Plain text before TLS is meaningless to a client; closing is the clear signal.
    let _ = sock.write_all(b"");
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// One parsed request.
struct HttpRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn connection(
    sock: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    root: &Path,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    sock.set_read_timeout(Some(IDLE))?;
    sock.set_write_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let Some(req) = read_request(&mut stream, &mut buf)? else {
            return Ok(());
        };
        let close = req
            .header("Connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
            || stop.load(Ordering::SeqCst);
        let (status, reason, body, reset) = respond(root, &req);
        if reset {
            let _ = stream.sock.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        let keep = !close && status < 400;
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nServer: pve-api-daemon/3.0 (pve-sim)\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nCache-Control: max-age=0\r\nConnection: {}\r\n\r\n",
            body.len(),
            if keep { "Keep-Alive" } else { "close" }
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        stream.flush()?;
        if !keep {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            return Ok(());
        }
    }
}

/// Reads one request (`None` when the client closed the connection between requests).
fn read_request(stream: &mut Tls, buf: &mut Vec<u8>) -> std::io::Result<Option<HttpRequest>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let mut chunk = [0u8; 8192];
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if buf.is_empty()
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::UnexpectedEof
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::ConnectionReset
                    ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed
        .parse(&buf[..head_end])
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let method = parsed.method.unwrap_or("GET").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    if len > MAX_BODY {
        return Err(std::io::Error::other("request body too large"));
    }
    buf.drain(..head_end);
    while buf.len() < len {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other(
                "connection closed inside a request body",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buf.drain(..len).collect();
    Ok(Some(HttpRequest {
        method,
        target,
        headers,
        body,
    }))
}

/// Parameters as sent: query, then form or JSON body (body wins, as Proxmox merges them the
/// other way round only for conflicting keys it then rejects).
fn params_of(req: &HttpRequest, query: &str) -> BTreeMap<String, P> {
    let mut params = parse_form(query);
    if req.method == "POST" || req.method == "PUT" {
        let json_body = req
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/json"));
        let body = String::from_utf8_lossy(&req.body);
        let from_body = if json_body {
            json_params(&body)
        } else {
            parse_form(&body)
        };
        for (k, v) in from_body {
            params.entry(k).or_insert(v);
        }
    }
    params
}

fn json_params(body: &str) -> BTreeMap<String, P> {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(body) else {
        return BTreeMap::new();
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        other => other.to_string(),
    };
    o.iter()
        .map(|(k, v)| {
            let p = match v {
                Value::Array(a) => P::List(a.iter().map(scalar).collect()),
                v => P::Str(scalar(v)),
            };
            (k.clone(), p)
        })
        .collect()
}

/// `application/x-www-form-urlencoded` (repeated fields become a list).
pub fn parse_form(s: &str) -> BTreeMap<String, P> {
    let mut out: BTreeMap<String, P> = BTreeMap::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (unescape(k), unescape(v));
        let merged = match out.remove(&k) {
            None => P::Str(v),
            Some(P::Str(old)) => P::List(vec![old, v]),
            Some(P::List(mut l)) => {
                l.push(v);
                P::List(l)
            }
        };
        out.insert(k, merged);
    }
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status, reason phrase, body, and whether to drop the connection instead.
fn respond(root: &Path, req: &HttpRequest) -> (u16, String, Vec<u8>, bool) {
    let (raw_path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let path = unescape(raw_path);
    let params = params_of(req, query);
    let Some(rel) = path
        .strip_prefix("/api2/json")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        log_request(root, &req.method, &path, &params, 501, None);
        return (
            501,
            "no such uri".into(),
            b"{\"data\":null}".to_vec(),
            false,
        );
    };
    let rel = if rel.is_empty() { "/" } else { rel };
    let reply = match tokens::verify(root, req.header("Authorization")) {
        Ok(user) => handler::handle(
            &Ctx {
                root: root.to_path_buf(),
                user,
                token: true,
                foreground: false,
            },
            &req.method,
            rel,
            &params,
        ),
        Err(msg) => Reply {
            status: 401,
            message: msg,
            ..Reply::default()
        },
    };
    log_request(root, &req.method, &path, &params, reply.status, None);
    let reason = reply
        .message
        .lines()
        .next()
        .filter(|m| !m.is_empty())
        .unwrap_or("OK")
        .to_string();
    let body = if reply.status == 401 {
        Vec::new()
    } else {
        envelope(&reply).to_string().into_bytes()
    };
    (reply.status, reason, body, reply.reset)
}

/// `{"data": ...}`, with `errors` and `message` on failure (PVE's JSON formatter).
pub fn envelope(reply: &Reply) -> Value {
    let mut v = json!({"data": reply.data});
    if let Some(e) = &reply.errors {
        v["errors"] = json!(e);
    }
    if reply.status >= 400 {
        let mut m = reply.message.clone();
        if !m.ends_with('\n') {
            m.push('\n');
        }
        v["message"] = json!(m);
    }
    v
}

/// One JSON line per request in `api-requests.jsonl` (one `write` on an `O_APPEND` file).
pub fn log_request(
    root: &Path,
    method: &str,
    path: &str,
    params: &BTreeMap<String, P>,
    status: u16,
    via: Option<&str>,
) {
    let mut v = json!({"method": method, "path": path, "params": params, "status": status});
    if let Some(via) = via {
        v["via"] = json!(via);
    }
    let mut line = v.to_string();
    line.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("api-requests.jsonl"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}
