//! A Portainer API stand-in: HTTPS on loopback only, HTTP/1.1 with keep-alive, one thread per
//! connection. Its state lives in a folder (`state.json`), every request is appended to
//! `requests.jsonl` (method, path, query, status, JSON body with passwords masked), and
//! `faults.json` makes chosen requests fail.
//!
//! Endpoints served (Portainer's paths and JSON shapes):
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /api/system/status` | `{"Version", "InstanceID"}` (public) |
//! | `GET /api/users/admin/check` | 204 when an administrator exists, else 404 (public) |
//! | `POST /api/users/admin/init` `{"Username","Password"}` | the user; 409 once initialised (public) |
//! | `POST /api/auth` `{"Username","Password"}` | `{"jwt"}`; 422 for wrong credentials (public) |
//! | `GET /api/endpoints` | environments |
//! | `POST /api/endpoints` (form: `Name`, `EndpointCreationType`, `URL`, `GroupID`, `TLS`...) | the environment; an agent must be reachable in the simulated network (else 500, as Portainer fails to ping it); a duplicate name is 409 |
//! | `GET /api/stacks` | stacks |
//! | `GET /api/stacks/{id}` , `GET /api/stacks/{id}/file` | one stack, `{"StackFileContent"}` |
//! | `POST /api/stacks/create/standalone/string?endpointId=N` `{"Name","StackFileContent","Env"}` | the stack; the name must match `^[a-z0-9][a-z0-9_-]*$`, be unique on the environment (409); the Compose text must parse (else 500 with the error, as a failed deployment) |
//! | `PUT /api/stacks/{id}?endpointId=N` `{"StackFileContent","Env","Prune"}` | the stack |
//! | `GET /api/endpoints/{id}/docker/configs`, `POST .../configs/create` `{"Name","Data","Labels"}`, `DELETE .../configs/{id}` | Docker's shapes (`ID`, `Spec`) |
//!
//! Every other path is a 404; anything but the public calls needs `Authorization: Bearer <jwt>`
//! with a token this server issued (401 otherwise).

mod api;
mod store;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use store::{Fault, State, StoredEndpoint, StoredStack};

use crate::ca::R;

const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 16 << 20;

/// A running stand-in. Dropping it stops the server.
pub struct Server {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the server needs from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// State folder (`state.json`, `requests.jsonl`, `faults.json`).
    pub dir: PathBuf,
    /// Simulator state folder, to check that an agent's address is reachable.
    pub sim_root: Option<PathBuf>,
}

impl Server {
    /// Listens on `addr` (loopback only; port 0 picks one) with `tls`.
    pub fn start(config: Config, addr: SocketAddr, tls: Arc<rustls::ServerConfig>) -> R<Server> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {addr}: the simulated Portainer serves loopback only"
            ));
        }
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| format!("{}: {e}", config.dir.display()))?;
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            config: config.clone(),
            lock: Mutex::new(()),
        });
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || accept_loop(listener, tls, shared, stop2));
        Ok(Server {
            addr,
            dir: config.dir,
            stop,
            thread: Some(thread),
        })
    }

    /// Blocks until `stop` is set (for a foreground `serve` command).
    pub fn wait(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What every connection shares: the configuration and a lock making each request atomic on
/// the state file.
pub(crate) struct Shared {
    pub config: Config,
    pub lock: Mutex<()>,
}

fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                let _ = sock.set_nonblocking(false);
                let (tls, shared, stop) = (tls.clone(), shared.clone(), stop.clone());
                std::thread::spawn(move || {
                    let _ = connection(sock, tls, &shared, &stop);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// One parsed request.
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn connection(
    sock: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    shared: &Shared,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.set_write_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut stream, &mut buf)? else {
            return Ok(());
        };
        let close = req
            .header("Connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
            || stop.load(Ordering::SeqCst);
        let (status, body) = api::handle(shared, &req);
        let reason = reason(status);
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        stream.flush()?;
        if close {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads one request; `None` when the client closed the connection.
fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let method = parsed.method.unwrap_or("").to_string();
                let target = parsed.path.unwrap_or("/").to_string();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).to_string(),
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
                while buf.len() < head_len + len {
                    let n = stream.read(&mut chunk)?;
                    if n == 0 {
                        return Ok(None);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[head_len..head_len + len].to_vec();
                buf.drain(..head_len + len);
                let (path, query) = split_target(&target);
                return Ok(Some(Request {
                    method,
                    path,
                    query,
                    headers,
                    body,
                }));
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(std::io::Error::other("request head too large"));
                }
                let n = match stream.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) if buf.is_empty() && is_idle_end(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    }
}

fn is_idle_end(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
    )
}

fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    (path.to_string(), parse_form(q))
}

/// `a=1&b=x%20y` into pairs.
pub(crate) fn parse_form(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unpct(k), unpct(v))
        })
        .collect()
}

fn unpct(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The requests recorded in `dir/requests.jsonl`.
pub fn requests(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        assert_eq!(
            parse_form("URL=tcp%3A%2F%2F10.0.0.102%3A9001&Name=a+b&x"),
            vec![
                ("URL".to_string(), "tcp://10.0.0.102:9001".to_string()),
                ("Name".to_string(), "a b".to_string()),
                ("x".to_string(), String::new())
            ]
        );
    }
}
