//! What carries an API request to Proxmox for the API-shaped transports: `pvesh` on the node
//! ([`Pvesh`]) or HTTPS to `/api2/json` ([`Https`]). Both run a request to its end: a change
//! that starts a task waits for it and fails with the end of its log, a change refused while a
//! guest is locked waits for the lock, a lock time-out is retried with back-off.

use std::time::Duration;

use phoenix_host::{tool, Runner};
use pve::api::{Method, Request, Value as P};
use serde_json::Value;

use crate::error::TransportError;

/// Parameters whose value is never shown (the API's names of the CLI's secret options).
const SECRET_PARAMS: &[&str] = &["cipassword", "password"];

/// One way of sending API requests.
pub trait Carrier {
    /// Runs `req` to its end and returns the API's `data`.
    fn call(&self, req: &Request) -> Result<Value, TransportError>;
    /// How `req` is shown in plans and `-v` (secrets masked).
    fn show(&self, req: &Request) -> String;
}

/// `METHOD /api2/json/path k=v ...` with secrets masked.
pub fn show_request(req: &Request) -> String {
    let mut s = format!("{} /api2/json{}", req.method, req.path);
    for (k, v) in &req.params {
        let shown = if SECRET_PARAMS.contains(&k.as_str()) {
            "******".to_string()
        } else {
            match v {
                P::Str(s) => s.clone(),
                P::List(l) => format!("[{}]", l.join(" ")),
            }
        };
        s.push_str(&format!(" {k}={shown}"));
    }
    s
}

/// `pvesh`: the API handlers run on the node by the Proxmox CLI, as root, without HTTPS.
///
/// How the real `pvesh` behaves (pve-manager `PVE::CLI::pvesh`, pve-common
/// `PVE::RESTEnvironment::fork_worker`), and what is read back here:
/// - `pvesh get|create|set|delete <path> --<param> <value> ... --output-format json`; an array
///   parameter is the option repeated (`--command ls --command -l`);
/// - a request the handler refuses exits non-zero with the message on stderr
///   (`400 Parameter verification failed.` and `param: message` lines, or a plain
///   `CT 950 is locked (disk)`); [`Runner::change`] waits out guest locks and retries lock
///   time-outs as for `pct`/`qm`;
/// - a task runs in the foreground: its output goes to stdout, then the UPID as the JSON
///   result; the exit code is 0 **even when the task failed** (only its message goes to
///   stderr), so the outcome is read from `GET /nodes/{node}/tasks/{upid}/status`.
pub struct Pvesh<'a> {
    pub runner: &'a Runner,
    /// Retries of a task that failed with a lock time-out.
    pub lock_retries: u32,
    pub lock_backoff: Duration,
}

impl<'a> Pvesh<'a> {
    pub fn new(runner: &'a Runner) -> Pvesh<'a> {
        Pvesh {
            runner,
            lock_retries: runner.lock_retries,
            lock_backoff: runner.lock_backoff,
        }
    }

    /// The argv of `req` (without `pvesh`).
    pub fn argv(req: &Request) -> Vec<String> {
        let mut a = vec![req.method.pvesh_command().to_string(), req.path.clone()];
        for (k, v) in &req.params {
            match v {
                P::Str(s) => a.extend([format!("--{k}"), s.clone()]),
                P::List(l) => {
                    for s in l {
                        a.extend([format!("--{k}"), s.clone()]);
                    }
                }
            }
        }
        a.extend(["--output-format".into(), "json".into()]);
        a
    }

    fn get(&self, path: &str) -> Result<Value, TransportError> {
        let out = self
            .runner
            .read("pvesh", &Self::argv(&Request::new(Method::Get, path)))?;
        parse_output(&out)
    }

    /// Waits for a task `pvesh` ran in the foreground (it has ended: only its status is read).
    fn task_outcome(&self, upid: &str) -> Result<Result<(), String>, TransportError> {
        let node = upid.split(':').nth(1).unwrap_or("localhost");
        let status = self.get(&format!("/nodes/{node}/tasks/{upid}/status"))?;
        if status.get("status").and_then(Value::as_str) != Some("stopped") {
            return Err(TransportError(format!(
                "task {upid} is still running after pvesh returned"
            )));
        }
        let exit = status
            .get("exitstatus")
            .and_then(Value::as_str)
            .unwrap_or("unexpected status")
            .to_string();
        if pve_client::status_is_ok(&exit) {
            if exit != "OK" {
                log::warn!("task {upid}: {exit}");
            }
            return Ok(Ok(()));
        }
        Ok(Err(exit))
    }

    fn task_tail(&self, upid: &str) -> Vec<String> {
        let node = upid.split(':').nth(1).unwrap_or("localhost");
        let req = Request::new(Method::Get, format!("/nodes/{node}/tasks/{upid}/log"))
            .param("start", "0")
            .param("limit", "10000");
        let lines = self
            .runner
            .read("pvesh", &Self::argv(&req))
            .ok()
            .and_then(|o| parse_output(&o).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let text: Vec<String> = lines
            .iter()
            .filter_map(|l| l.get("t").and_then(Value::as_str).map(str::to_string))
            .collect();
        text[text.len().saturating_sub(10)..].to_vec()
    }
}

/// The JSON result `pvesh --output-format json` printed last (task output may precede it).
pub fn parse_output(out: &str) -> Result<Value, TransportError> {
    let t = out.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    if let Ok(v) = serde_json::from_str(t) {
        return Ok(v);
    }
    let last = t.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(last.trim())
        .map_err(|e| TransportError(format!("unexpected pvesh output ({e}): {last}")))
}

impl Carrier for Pvesh<'_> {
    fn call(&self, req: &Request) -> Result<Value, TransportError> {
        let argv = Self::argv(req);
        if !req.method.is_write() {
            return parse_output(&self.runner.read("pvesh", &argv)?);
        }
        let mut delay = self.lock_backoff;
        let mut attempt = 0;
        loop {
            let data = parse_output(&self.runner.change("pvesh", &argv)?)?;
            let Some(upid) = data.as_str().filter(|s| s.starts_with("UPID:")) else {
                return Ok(data);
            };
            match self.task_outcome(upid)? {
                Ok(()) => return Ok(data),
                Err(exit) if pve_client::is_lock_timeout(&exit) && attempt < self.lock_retries => {
                    attempt += 1;
                    log::warn!(
                        "{}: Proxmox lock busy; retry {attempt}/{} in {delay:?}",
                        tool::display("pvesh", &argv),
                        self.lock_retries
                    );
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(exit) => {
                    let tail = self.task_tail(upid);
                    let mut msg = format!("`{}`: task failed: {exit}", self.show(req));
                    if !tail.is_empty() {
                        msg.push_str(&format!(
                            "\n  task log (last lines):\n    {}",
                            tail.join("\n    ")
                        ));
                    }
                    return Err(TransportError(msg));
                }
            }
        }
    }

    fn show(&self, req: &Request) -> String {
        tool::display("pvesh", &Self::argv(req))
    }
}

/// HTTPS to `/api2/json` with an API token ([`pve_client::Client`]: tasks followed, locks
/// waited out, reads and lost creates retried).
pub struct Https {
    pub client: pve_client::Client,
}

impl Carrier for Https {
    fn call(&self, req: &Request) -> Result<Value, TransportError> {
        self.client
            .call(req)
            .map(|r| r.data)
            .map_err(|e| TransportError(e.to_string()))
    }

    fn show(&self, req: &Request) -> String {
        show_request(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvesh_argv_repeats_array_parameters_and_asks_for_json() {
        let req = Request::new(Method::Post, "/nodes/pve/qemu/8001/agent/exec")
            .param("command", vec!["ls".to_string(), "-l".to_string()]);
        assert_eq!(
            Pvesh::argv(&req),
            [
                "create",
                "/nodes/pve/qemu/8001/agent/exec",
                "--command",
                "ls",
                "--command",
                "-l",
                "--output-format",
                "json"
            ]
        );
    }

    #[test]
    fn the_result_is_the_last_line_after_task_output() {
        let out =
            "extracting archive\nTotal bytes read: 1\n\"UPID:pve:1:2:3:vzcreate:950:root@pam:\"\n";
        assert_eq!(
            parse_output(out).unwrap(),
            Value::String("UPID:pve:1:2:3:vzcreate:950:root@pam:".into())
        );
        assert_eq!(parse_output("").unwrap(), Value::Null);
        assert_eq!(parse_output("{\"a\": 1}").unwrap()["a"], 1);
    }

    #[test]
    fn secrets_are_masked() {
        let req = Request::new(Method::Put, "/nodes/pve/qemu/8001/config")
            .param("cipassword", "hunter2")
            .param("memory", "1024");
        let shown = show_request(&req);
        assert!(
            !shown.contains("hunter2") && shown.contains("cipassword=******"),
            "{shown}"
        );
        assert!(!Pvesh {
            runner: &Runner::new(),
            lock_retries: 0,
            lock_backoff: Duration::ZERO
        }
        .show(&req)
        .contains("hunter2"));
    }
}
