//! The client: one HTTP exchange ([`Client::send`]), and a full call ([`Client::call`]) that
//! waits for tasks and survives what a busy Proxmox node does to requests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pve::api::{Method, Request};
use serde_json::Value;

use crate::encode;
use crate::error::Error;
use crate::secret::Token;
use crate::tls::{self, Seen, TlsConnector, Trust};
use crate::upid::{status_is_ok, Upid};

/// Connection and retry settings. [`Options::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://HOST[:PORT]`, without `/api2/json`.
    pub base_url: String,
    pub trust: Trust,
    /// Limit for one whole request (connect, send, answer).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra attempts of a read after a 5xx answer or a broken connection.
    pub read_retries: u32,
    /// First pause between read attempts (doubles).
    pub retry_backoff: Duration,
    /// Extra attempts of a change refused with `can't lock file ... got timeout`.
    pub lock_retries: u32,
    pub lock_backoff: Duration,
    /// How long a change refused with `CT 900 is locked (disk)` waits for the lock to go.
    pub guest_lock_wait: Duration,
    /// Longest pause between two task status reads.
    pub task_poll: Duration,
    /// How long a task may run before the client gives up waiting.
    pub task_timeout: Duration,
    /// Extra attempts of a create whose answer was lost (after checking the guest is absent).
    pub create_retries: u32,
}

impl Options {
    pub fn new(base_url: &str, trust: Trust) -> Options {
        Options {
            base_url: base_url.trim_end_matches('/').to_string(),
            trust,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            read_retries: 3,
            retry_backoff: Duration::from_millis(250),
            lock_retries: 3,
            lock_backoff: Duration::from_secs(1),
            guest_lock_wait: Duration::from_secs(600),
            task_poll: Duration::from_secs(1),
            task_timeout: Duration::from_secs(3600),
            create_retries: 2,
        }
    }
}

/// How a task ended (successfully: `OK` or `WARNINGS: N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub upid: String,
    pub status: String,
    /// The `WARN: ...` lines of the task log, without the prefix.
    pub warnings: Vec<String>,
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The `data` of the answer (a UPID for a task).
    pub data: Value,
    pub task: Option<TaskResult>,
    /// The guest this create makes already existed when the call was repeated after a lost
    /// answer: an earlier attempt made it.
    pub adopted: bool,
}

/// Container or VM, as API paths and messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lxc,
    Qemu,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Lxc => "lxc",
            Kind::Qemu => "qemu",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Lxc => "CT",
            Kind::Qemu => "VM",
        }
    }
    fn tool(self) -> &'static str {
        match self {
            Kind::Lxc => "pct",
            Kind::Qemu => "qm",
        }
    }
}

/// A blocking Proxmox API client. Connections are kept alive and reused between calls.
pub struct Client {
    agent: ureq::Agent,
    auth: String,
    opts: Options,
    seen: Arc<Mutex<Seen>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.opts.base_url)
            .field("trust", &self.opts.trust)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(opts: Options, token: Token) -> Result<Client, Error> {
        if !opts.base_url.starts_with("https://") || opts.base_url.len() <= "https://".len() {
            return Err(Error::BaseUrl(opts.base_url.clone()));
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tls_config = tls::client_config(&opts.trust, seen.clone())?;
        use ureq::unversioned::transport::{Connector, TcpConnector};
        let connector = ().chain(TcpConnector::default()).chain(TlsConnector {
            config: Arc::new(tls_config),
        });
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(true)
            .max_redirects(0)
            .timeout_global(Some(opts.timeout))
            .timeout_connect(Some(opts.connect_timeout))
            .user_agent("phoenix-pve-client")
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            connector,
            ureq::unversioned::resolver::DefaultResolver::default(),
        );
        Ok(Client {
            agent,
            auth: token.header(),
            opts,
            seen,
        })
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// One exchange, no retries: the `data` of a 2xx answer, or the error the answer means.
    pub fn send(&self, req: &Request) -> Result<Value, Error> {
        let method = req.method.as_str();
        let path = format!("/api2/json{}", encode::path(&req.path));
        let form = encode::form(&req.params);
        let (uri, body) = match req.method {
            Method::Get | Method::Delete if form.is_empty() => (path.clone(), None),
            Method::Get | Method::Delete => (format!("{path}?{form}"), None),
            Method::Post | Method::Put => (path.clone(), Some(form)),
        };
        log::debug!("api: {method} {}", req.path);
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{uri}", self.opts.base_url))
            .header("Authorization", &self.auth)
            .header("Accept", "application/json");
        if body.is_some() {
            builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
        }
        let http_req = builder
            .body(body.unwrap_or_default())
            .map_err(|e| self.transport(req, e.to_string()))?;
        let mut resp = self
            .agent
            .run(http_req)
            .map_err(|e| self.connect_error(req, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| self.connect_error(req, e))?;
        self.answer(req, status, &text)
    }

    /// Reads the answer of one exchange.
    fn answer(&self, req: &Request, status: u16, text: &str) -> Result<Value, Error> {
        let method = req.method.as_str();
        let path = req.path.clone();
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) if (200..300).contains(&status) => {
                    return Err(Error::Protocol {
                        method,
                        path,
                        why: format!("answer is not JSON: {e}"),
                    })
                }
                Err(_) => Value::Null,
            }
        };
        let message = json
            .get("message")
            .and_then(Value::as_str)
            .map(|m| m.trim_end().to_string())
            .unwrap_or_else(|| format!("HTTP {status}"));
        match status {
            200..=299 => Ok(json.get("data").cloned().unwrap_or(Value::Null)),
            400 => {
                let errors: std::collections::BTreeMap<String, String> = json
                    .get("errors")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                                (k.clone(), v)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if errors.is_empty() {
                    Err(Error::Api {
                        method,
                        path,
                        status,
                        message,
                    })
                } else {
                    Err(Error::BadParams {
                        method,
                        path,
                        errors,
                    })
                }
            }
            401 => Err(Error::Unauthorized { method, path }),
            403 => Err(Error::Forbidden {
                method,
                path,
                message,
            }),
            _ => Err(Error::Api {
                method,
                path,
                status,
                message,
            }),
        }
    }

    fn transport(&self, req: &Request, why: String) -> Error {
        Error::Transport {
            method: req.method.as_str(),
            path: req.path.clone(),
            why,
        }
    }

    /// A failed exchange: a refused certificate gets its own message, the rest is transport.
    fn connect_error(&self, req: &Request, e: ureq::Error) -> Error {
        let text = e.to_string();
        let tls_refused = text.contains("certificate")
            || text.contains("Certificate")
            || text.contains("fingerprint");
        if !tls_refused {
            return self.transport(req, text);
        }
        let seen = self.seen.lock().ok().and_then(|s| s.fingerprint);
        let why = match (&self.opts.trust, seen) {
            (Trust::Fingerprint(pinned), Some(got)) => format!(
                "its SHA-256 fingerprint is {got}, but {pinned} is pinned; if the node's certificate was renewed on purpose, pin the new fingerprint"
            ),
            (Trust::CaFile(ca), Some(got)) => format!(
                "{text} (checked against the CA file {}; the certificate's SHA-256 fingerprint is {got})",
                ca.display()
            ),
            _ => text,
        };
        Error::Certificate {
            url: self.opts.base_url.clone(),
            why,
        }
    }

    /// A read (GET), repeated after a 5xx answer or a broken connection, with back-off.
    pub fn read(&self, req: &Request) -> Result<Value, Error> {
        let mut delay = self.opts.retry_backoff;
        let mut attempt = 0;
        loop {
            match self.send(req) {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.opts.read_retries && retryable_read(&e) => {
                    attempt += 1;
                    log::warn!(
                        "{e}; retry {attempt}/{} in {delay:?}",
                        self.opts.read_retries
                    );
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET path` with parameters.
    pub fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, Error> {
        let mut req = Request::new(Method::Get, path);
        for (k, v) in params {
            req = req.param(*k, *v);
        }
        self.read(&req)
    }

    /// Runs a request to its end: reads are retried ([`Client::read`]); a change that starts a
    /// task waits for it ([`Client::wait_task`]); a change refused because a guest is locked
    /// waits for the lock to go and runs again; a lock time-out is retried with back-off; a
    /// create whose answer was lost checks whether the guest exists before running again.
    pub fn call(&self, req: &Request) -> Result<Reply, Error> {
        if req.method == Method::Get {
            return Ok(Reply {
                data: self.read(req)?,
                task: None,
                adopted: false,
            });
        }
        let created = created_guest(req);
        let started = Instant::now();
        let mut lock_attempts = 0;
        let mut create_attempts = 0;
        let mut delay = self.opts.lock_backoff;
        loop {
            let err = match self.once(req) {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            let msg = err.message().unwrap_or_default().to_string();
            if let Some((kind, vmid)) = locked_guest(&msg) {
                let node = node_of(&req.path).unwrap_or_default();
                let left = self.opts.guest_lock_wait.saturating_sub(started.elapsed());
                self.wait_unlocked(&node, kind, vmid, left, started)?;
                continue;
            }
            if is_lock_timeout(&msg) && lock_attempts < self.opts.lock_retries {
                lock_attempts += 1;
                log::warn!(
                    "{}: Proxmox lock busy; retry {lock_attempts}/{} in {delay:?}",
                    req.path,
                    self.opts.lock_retries
                );
                std::thread::sleep(delay);
                delay *= 2;
                continue;
            }
            let lost = err.is_transport()
                || matches!(&err, Error::Api { status, message, .. } if *status >= 500 && !message.contains("already exists"));
            if let (Some((node, kind, vmid)), true) = (&created, lost) {
                if create_attempts < self.opts.create_retries {
                    create_attempts += 1;
                    log::warn!(
                        "{err}; checking whether {} {vmid} exists before trying again",
                        kind.label()
                    );
                    if self.guest_exists(*vmid)? {
                        let left = self.opts.guest_lock_wait.saturating_sub(started.elapsed());
                        if self.wait_unlocked(node, *kind, *vmid, left, started)? {
                            log::info!(
                                "{} {vmid} exists: made by the attempt whose answer was lost",
                                kind.label()
                            );
                            return Ok(Reply {
                                data: Value::Null,
                                task: None,
                                adopted: true,
                            });
                        }
                    }
                    continue;
                }
            }
            return Err(err);
        }
    }

    /// One attempt: send, and wait for the task if the answer is a UPID.
    fn once(&self, req: &Request) -> Result<Reply, Error> {
        let data = self.send(req)?;
        let task = match data.as_str().filter(|s| s.starts_with("UPID:")) {
            Some(upid) => Some(self.wait_task(upid)?),
            None => None,
        };
        Ok(Reply {
            data,
            task,
            adopted: false,
        })
    }

    /// Polls `GET /nodes/{node}/tasks/{upid}/status` until the task stops. `OK` and
    /// `WARNINGS: N` are success (the warnings are logged and returned); any other exit status
    /// fails with the end of the task log.
    pub fn wait_task(&self, upid: &str) -> Result<TaskResult, Error> {
        let parsed = Upid::parse(upid).ok_or_else(|| Error::Protocol {
            method: "GET",
            path: "/nodes/{node}/tasks/{upid}/status".into(),
            why: format!("'{upid}' is not a UPID"),
        })?;
        let status_path = format!("/nodes/{}/tasks/{upid}/status", parsed.node);
        let started = Instant::now();
        loop {
            let st = self.get(&status_path, &[])?;
            if st.get("status").and_then(Value::as_str) == Some("stopped") {
                let exit = st
                    .get("exitstatus")
                    .and_then(Value::as_str)
                    .unwrap_or("unexpected status")
                    .to_string();
                return self.finished(upid, &parsed.node, exit);
            }
            if started.elapsed() >= self.opts.task_timeout {
                return Err(Error::TaskTimeout {
                    upid: upid.to_string(),
                    secs: started.elapsed().as_secs(),
                });
            }
            std::thread::sleep(poll_pause(started.elapsed(), self.opts.task_poll));
        }
    }

    fn finished(&self, upid: &str, node: &str, exit: String) -> Result<TaskResult, Error> {
        if exit == "OK" {
            return Ok(TaskResult {
                upid: upid.to_string(),
                status: exit,
                warnings: Vec::new(),
            });
        }
        let log = self.task_log(node, upid).unwrap_or_default();
        if status_is_ok(&exit) {
            let warnings: Vec<String> = log
                .iter()
                .filter_map(|l| l.strip_prefix("WARN: "))
                .map(str::to_string)
                .collect();
            for w in &warnings {
                log::warn!("task {upid}: {w}");
            }
            return Ok(TaskResult {
                upid: upid.to_string(),
                status: exit,
                warnings,
            });
        }
        let tail: Vec<String> = log.iter().rev().take(10).rev().cloned().collect();
        Err(Error::TaskFailed {
            upid: upid.to_string(),
            status: exit,
            log_tail: tail,
        })
    }

    /// The lines of a task's log.
    pub fn task_log(&self, node: &str, upid: &str) -> Result<Vec<String>, Error> {
        let v = self.get(
            &format!("/nodes/{node}/tasks/{upid}/log"),
            &[("start", "0"), ("limit", "10000")],
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.get("t").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether a guest with this id exists anywhere in the cluster.
    pub fn guest_exists(&self, vmid: u32) -> Result<bool, Error> {
        let v = self.get("/cluster/resources", &[("type", "vm")])?;
        Ok(v.as_array().is_some_and(|a| {
            a.iter()
                .any(|r| r.get("vmid").and_then(Value::as_u64) == Some(u64::from(vmid)))
        }))
    }

    /// Waits until the guest's config shows no `lock`, at most `max`. `Ok(false)`: the guest
    /// is gone (its create failed).
    fn wait_unlocked(
        &self,
        node: &str,
        kind: Kind,
        vmid: u32,
        max: Duration,
        started: Instant,
    ) -> Result<bool, Error> {
        let path = format!("/nodes/{node}/{}/{vmid}/config", kind.path());
        let t0 = Instant::now();
        let mut announced = false;
        loop {
            let conf = match self.get(&path, &[]) {
                Ok(c) => c,
                Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            };
            let Some(lock) = conf.get("lock").and_then(Value::as_str) else {
                return Ok(true);
            };
            if t0.elapsed() >= max {
                return Err(Error::StillLocked {
                    kind: kind.label(),
                    vmid,
                    lock: lock.to_string(),
                    waited: started.elapsed().as_secs(),
                    tool: kind.tool(),
                });
            }
            if !announced {
                log::info!(
                    "{} {vmid} is locked ({lock}); waiting up to {}s for Proxmox to release it",
                    kind.label(),
                    max.as_secs()
                );
                announced = true;
            }
            std::thread::sleep(Duration::from_millis(250).min(max.saturating_sub(t0.elapsed())));
        }
    }
}

/// Reads are repeated after a broken connection or a 5xx, except when the server answered
/// that the thing read does not exist (a definite answer, not a hiccup).
fn retryable_read(e: &Error) -> bool {
    match e {
        Error::Transport { .. } => true,
        Error::Api {
            status, message, ..
        } => *status >= 500 && !message.contains("does not exist"),
        _ => false,
    }
}

/// Proxmox's message when a config or storage lock could not be taken in time.
pub fn is_lock_timeout(msg: &str) -> bool {
    msg.contains("can't lock file") && msg.contains("got timeout")
}

/// The guest a refusal names as locked: `CT 900 is locked (disk)`, `VM 8000 is locked (clone)`.
fn locked_guest(msg: &str) -> Option<(Kind, u32)> {
    msg.lines().find_map(|line| {
        let (before, _) = line.split_once(" is locked (")?;
        let mut words = before.split_whitespace().rev();
        let id = words.next()?.parse().ok()?;
        match words.next()? {
            "CT" => Some((Kind::Lxc, id)),
            "VM" => Some((Kind::Qemu, id)),
            _ => None,
        }
    })
}

/// `/nodes/{node}/...` → node.
fn node_of(path: &str) -> Option<String> {
    let mut parts = path.trim_start_matches('/').split('/');
    (parts.next()? == "nodes").then(|| parts.next().map(str::to_string))?
}

/// The guest a request creates: `POST /nodes/{node}/{lxc|qemu}` (`vmid`) or a clone (`newid`).
fn created_guest(req: &Request) -> Option<(String, Kind, u32)> {
    if req.method != Method::Post {
        return None;
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let kind = |s: &str| match s {
        "lxc" => Some(Kind::Lxc),
        "qemu" => Some(Kind::Qemu),
        _ => None,
    };
    match parts.as_slice() {
        ["nodes", node, k] => Some((node.to_string(), kind(k)?, req.get("vmid")?.parse().ok()?)),
        ["nodes", node, k, _, "clone"] => {
            Some((node.to_string(), kind(k)?, req.get("newid")?.parse().ok()?))
        }
        _ => None,
    }
}

/// How long to wait before polling a task again: a sixteenth of how long it has run, between
/// 25 ms and `cap`. A task is then seen stopped at most ~6% after it did (a fixed doubling up
/// to 1 s left short tasks, most of a run, up to 0.5 s late each; an eighth from 50 ms still
/// cost a 2 s clone 0.12 s and a snapshot 50 ms on average), while a long task (a disk copy of
/// minutes) is still polled once per `cap`. The price is status reads: about 10 for a task of
/// half a second, 40 for one of 2 s, cheap GETs the node answers from its task log.
pub fn poll_pause(elapsed: Duration, cap: Duration) -> Duration {
    (elapsed / 16).clamp(
        Duration::from_millis(25),
        cap.max(Duration::from_millis(25)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_polls_follow_the_tasks_age() {
        let cap = Duration::from_secs(1);
        let ms = |m| Duration::from_millis(m);
        assert_eq!(poll_pause(ms(0), cap), ms(25));
        assert_eq!(poll_pause(ms(2000), cap), ms(125));
        assert_eq!(poll_pause(Duration::from_secs(600), cap), cap);
    }

    #[test]
    fn creates_are_recognised() {
        let r = Request::new(Method::Post, "/nodes/pve/lxc").param("vmid", "950");
        assert_eq!(created_guest(&r), Some(("pve".into(), Kind::Lxc, 950)));
        let r = Request::new(Method::Post, "/nodes/n1/qemu/9000/clone").param("newid", "9001");
        assert_eq!(created_guest(&r), Some(("n1".into(), Kind::Qemu, 9001)));
        let r = Request::new(Method::Post, "/nodes/pve/lxc/950/status/start");
        assert_eq!(created_guest(&r), None);
    }

    #[test]
    fn lock_messages() {
        assert_eq!(
            locked_guest("CT 900 is locked (disk)\n"),
            Some((Kind::Lxc, 900))
        );
        assert_eq!(
            locked_guest("clone failed: VM 8000 is locked (clone)"),
            Some((Kind::Qemu, 8000))
        );
        assert_eq!(locked_guest("the door is locked (key)"), None);
        assert!(is_lock_timeout(
            "can't lock file '/var/lock/lxc/pve-config-950.lock' - got timeout"
        ));
    }

    #[test]
    fn nodes_from_paths() {
        assert_eq!(node_of("/nodes/pve/lxc/950/config").as_deref(), Some("pve"));
        assert_eq!(node_of("/cluster/resources"), None);
    }
}
