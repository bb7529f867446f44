//! The [`Client`]: one agent (TLS against the CA file, the [`Route`] resolver, time-outs), one
//! request function with retries, and one method per Portainer call Phoenix makes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::json;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::transport::DefaultConnector;

use crate::error::Error;
use crate::route::Route;
use crate::secret::Secret;
use crate::types::{
    DockerConfig, Endpoint, EnvVar, ErrorBody, Stack, StackFile, SystemStatus, CREATE_AGENT,
};

/// How to reach Portainer.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://<portainer_hostname>:<port>`; the host is the name the certificate must carry.
    pub url: String,
    /// Connect here instead of resolving the URL's host (the server VM's address).
    pub connect_to: Option<SocketAddr>,
    /// PEM file with the internal CA's root certificate(s).
    pub ca_file: PathBuf,
    /// Time-out of one whole request.
    pub timeout: Duration,
    /// Attempts for a transient failure (at least 1).
    pub attempts: u32,
    /// Pause between attempts (doubles each time).
    pub retry_delay: Duration,
    /// Simulator state folder (`PVE_SIM_ROOT`) when running under `--sim`.
    pub sim_root: Option<PathBuf>,
}

impl Options {
    pub fn new(url: impl Into<String>, ca_file: impl Into<PathBuf>) -> Options {
        Options {
            url: url.into(),
            connect_to: None,
            ca_file: ca_file.into(),
            timeout: Duration::from_secs(30),
            attempts: 5,
            retry_delay: Duration::from_secs(2),
            sim_root: None,
        }
    }
}

/// A request body.
enum Body<'a> {
    Empty,
    Json(serde_json::Value),
    Form(&'a [(&'a str, String)]),
}

/// Result of [`Client::ensure_admin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminInit {
    Created,
    AlreadyInitialized,
}

/// A Portainer API client. Not `Clone`: it holds the session's JWT.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    opts: Options,
    jwt: Option<Secret>,
    login: Option<(String, Secret)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("authenticated", &self.jwt.is_some())
            .finish()
    }
}

impl Client {
    /// A client for `opts`; reads the CA file (nothing is sent yet).
    pub fn new(opts: Options) -> Result<Client, Error> {
        let uri: ureq::http::Uri = opts
            .url
            .parse()
            .map_err(|_| Error::Usage(format!("invalid Portainer URL '{}'", opts.url)))?;
        if uri.scheme_str() != Some("https") {
            return Err(Error::Usage(format!(
                "Portainer URL '{}' must be https:// (TLS verified against the internal CA)",
                opts.url
            )));
        }
        let host = uri
            .host()
            .ok_or_else(|| Error::Usage(format!("no host in '{}'", opts.url)))?
            .to_string();
        let roots = read_ca(&opts.ca_file)?;
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let config = ureq::config::Config::builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(opts.timeout))
            .user_agent(concat!("phoenix/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut route = Route {
            sim_root: opts.sim_root.clone(),
            ..Route::default()
        };
        if let Some(a) = opts.connect_to {
            route.overrides.insert(host, a);
        }
        let agent = ureq::Agent::with_parts(config, DefaultConnector::new(), route);
        Ok(Client {
            agent,
            base: opts.url.trim_end_matches('/').to_string(),
            opts,
            jwt: None,
            login: None,
        })
    }

    /// `GET /api/system/status` (no authentication).
    pub fn status(&mut self) -> Result<SystemStatus, Error> {
        self.json("GET", "/api/system/status", Body::Empty)
    }

    /// Creates the administrator unless one exists (`/api/users/admin/check`, then
    /// `/api/users/admin/init`; a 409 from a concurrent init also means "already").
    pub fn ensure_admin(&mut self, user: &str, password: &Secret) -> Result<AdminInit, Error> {
        if user.is_empty() || user.contains(char::is_whitespace) {
            return Err(Error::Usage(format!(
                "invalid Portainer admin user '{user}': must be non-empty without blanks"
            )));
        }
        if password.is_empty() {
            return Err(Error::Usage("the Portainer admin password is empty".into()));
        }
        let (status, _) = self.call("GET", "/api/users/admin/check", Body::Empty, false)?;
        match status {
            204 => return Ok(AdminInit::AlreadyInitialized),
            404 => {}
            s => return Err(self.status_error("GET", "/api/users/admin/check", s, &[])),
        }
        let body = json!({"Username": user, "Password": password.expose()});
        let (status, bytes) =
            self.call("POST", "/api/users/admin/init", Body::Json(body), false)?;
        match status {
            200 => Ok(AdminInit::Created),
            409 => Ok(AdminInit::AlreadyInitialized),
            s => Err(self.status_error("POST", "/api/users/admin/init", s, &bytes)),
        }
    }

    /// `POST /api/auth`: keeps the JWT for the following calls (and to renew it on a 401).
    pub fn authenticate(&mut self, user: &str, password: &Secret) -> Result<(), Error> {
        self.login = Some((user.to_string(), password.clone()));
        self.login_now()
    }

    fn login_now(&mut self) -> Result<(), Error> {
        let Some((user, password)) = self.login.clone() else {
            return Err(Error::Usage("not authenticated".into()));
        };
        let body = json!({"Username": user, "Password": password.expose()});
        let (status, bytes) = self.call("POST", "/api/auth", Body::Json(body), false)?;
        match status {
            200 => {}
            401 | 422 => return Err(Error::BadCredentials { user, status }),
            s => return Err(self.status_error("POST", "/api/auth", s, &bytes)),
        }
        let v: serde_json::Value = decode("POST", "/api/auth", &bytes)?;
        let jwt = v
            .get("jwt")
            .and_then(|j| j.as_str())
            .filter(|j| !j.is_empty())
            .ok_or_else(|| Error::Decode {
                method: "POST",
                path: "/api/auth".into(),
                why: "no jwt in the answer".into(),
            })?;
        self.jwt = Some(Secret::new(jwt));
        Ok(())
    }

    /// `GET /api/endpoints`.
    pub fn endpoints(&mut self) -> Result<Vec<Endpoint>, Error> {
        self.json("GET", "/api/endpoints", Body::Empty)
    }

    /// `POST /api/endpoints` (form): an agent environment at `url` (`tcp://host:9001`). The
    /// agent serves its own self-signed certificate, so TLS is on without verification of
    /// the agent, as Portainer's UI registers agents.
    pub fn create_agent_endpoint(
        &mut self,
        name: &str,
        url: &str,
        group_id: u64,
    ) -> Result<Endpoint, Error> {
        let form = [
            ("Name", name.to_string()),
            ("EndpointCreationType", CREATE_AGENT.to_string()),
            ("URL", url.to_string()),
            ("GroupID", group_id.to_string()),
            ("TLS", "true".to_string()),
            ("TLSSkipVerify", "true".to_string()),
            ("TLSSkipClientVerify", "true".to_string()),
        ];
        self.json("POST", "/api/endpoints", Body::Form(&form))
    }

    /// `GET /api/stacks`.
    pub fn stacks(&mut self) -> Result<Vec<Stack>, Error> {
        self.json("GET", "/api/stacks", Body::Empty)
    }

    /// `GET /api/stacks/{id}/file`: the Compose text Portainer holds.
    pub fn stack_file(&mut self, id: u64) -> Result<String, Error> {
        let f: StackFile = self.json("GET", &format!("/api/stacks/{id}/file"), Body::Empty)?;
        Ok(f.content)
    }

    /// `POST /api/stacks/create/standalone/string?endpointId=N`.
    pub fn create_stack(
        &mut self,
        endpoint_id: u64,
        name: &str,
        compose: &str,
        env: &[EnvVar],
    ) -> Result<Stack, Error> {
        let body = json!({
            "Name": name,
            "StackFileContent": compose,
            "Env": env,
            "FromAppTemplate": false,
        });
        self.json(
            "POST",
            &format!("/api/stacks/create/standalone/string?endpointId={endpoint_id}"),
            Body::Json(body),
        )
    }

    /// `PUT /api/stacks/{id}?endpointId=N`: new Compose text and variables, redeployed;
    /// services no longer in the file are removed (`Prune`).
    pub fn update_stack(
        &mut self,
        id: u64,
        endpoint_id: u64,
        compose: &str,
        env: &[EnvVar],
    ) -> Result<Stack, Error> {
        let body = json!({
            "StackFileContent": compose,
            "Env": env,
            "Prune": true,
            "PullImage": false,
        });
        self.json(
            "PUT",
            &format!("/api/stacks/{id}?endpointId={endpoint_id}"),
            Body::Json(body),
        )
    }

    /// Docker configs of an environment (`GET /api/endpoints/{id}/docker/configs`).
    pub fn configs(&mut self, endpoint_id: u64) -> Result<Vec<DockerConfig>, Error> {
        self.json(
            "GET",
            &format!("/api/endpoints/{endpoint_id}/docker/configs"),
            Body::Empty,
        )
    }

    /// Creates a Docker config (`POST /api/endpoints/{id}/docker/configs/create`); returns
    /// its id. Docker configs are immutable: a changed file is a delete and a create.
    pub fn create_config(
        &mut self,
        endpoint_id: u64,
        name: &str,
        data: &[u8],
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, Error> {
        let body = json!({"Name": name, "Data": base64(data), "Labels": labels});
        let path = format!("/api/endpoints/{endpoint_id}/docker/configs/create");
        let v: serde_json::Value = self.json("POST", &path, Body::Json(body))?;
        v.get("ID")
            .and_then(|i| i.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Decode {
                method: "POST",
                path,
                why: "no ID in the answer".into(),
            })
    }

    /// `DELETE /api/endpoints/{id}/docker/configs/{config}`.
    pub fn delete_config(&mut self, endpoint_id: u64, config_id: &str) -> Result<(), Error> {
        let path = format!("/api/endpoints/{endpoint_id}/docker/configs/{config_id}");
        let (status, bytes) = self.call("DELETE", &path, Body::Empty, true)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(self.status_error("DELETE", &path, status, &bytes))
        }
    }

    /// An authenticated call whose 2xx answer is JSON of type `T`.
    fn json<T: DeserializeOwned>(
        &mut self,
        method: &'static str,
        path: &str,
        body: Body<'_>,
    ) -> Result<T, Error> {
        let auth = !path.starts_with("/api/system/status");
        let (status, bytes) = self.call(method, path, body, auth)?;
        if !(200..300).contains(&status) {
            return Err(self.status_error(method, path, status, &bytes));
        }
        decode(method, path, &bytes)
    }

    /// One call with retries on transient failures, and one JWT renewal on a 401.
    fn call(
        &mut self,
        method: &'static str,
        path: &str,
        body: Body<'_>,
        auth: bool,
    ) -> Result<(u16, Vec<u8>), Error> {
        let mut renewed = false;
        loop {
            let (status, bytes) = self.call_retrying(method, path, &body, auth)?;
            if status == 401 && auth {
                if !renewed && self.login.is_some() {
                    log::info!("{method} {path}: HTTP 401, renewing the JWT");
                    self.login_now()?;
                    renewed = true;
                    continue;
                }
                return Err(Error::Unauthorized {
                    method,
                    path: path.to_string(),
                });
            }
            return Ok((status, bytes));
        }
    }

    fn call_retrying(
        &self,
        method: &'static str,
        path: &str,
        body: &Body<'_>,
        auth: bool,
    ) -> Result<(u16, Vec<u8>), Error> {
        let attempts = self.opts.attempts.max(1);
        let mut delay = self.opts.retry_delay;
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(method, path, body, auth);
            let transient = match &outcome {
                Ok((s, _)) => matches!(s, 502..=504),
                Err(e) => is_transient(e),
            };
            if !transient || attempt >= attempts {
                return match outcome {
                    Ok(r) => Ok(r),
                    Err(e) => Err(Error::Transport {
                        url: format!("{}{path}", self.base),
                        why: describe(&e),
                    }),
                };
            }
            let what = match &outcome {
                Ok((s, _)) => format!("HTTP {s}"),
                Err(e) => describe(e),
            };
            log::warn!(
                "{method} {path}: {what}; retrying in {:?} (attempt {attempt}/{attempts})",
                delay
            );
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2);
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        method: &'static str,
        path: &str,
        body: &Body<'_>,
        auth: bool,
    ) -> Result<(u16, Vec<u8>), ureq::Error> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        if auth {
            if let Some(jwt) = &self.jwt {
                req = req.header("Authorization", format!("Bearer {}", jwt.expose()));
            }
        }
        let bytes: Vec<u8> = match body {
            Body::Empty => Vec::new(),
            Body::Json(v) => {
                req = req.header("Content-Type", "application/json");
                serde_json::to_vec(v).unwrap_or_default()
            }
            Body::Form(fields) => {
                req = req.header("Content-Type", "application/x-www-form-urlencoded");
                form_encode(fields).into_bytes()
            }
        };
        let req = req
            .body(bytes)
            .map_err(|e| ureq::Error::BadUri(e.to_string()))?;
        log::debug!("{method} {path}");
        let mut resp = self.agent.run(req)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_vec()?;
        log::debug!("{method} {path}: HTTP {status}");
        Ok((status, body))
    }

    fn status_error(&self, method: &'static str, path: &str, status: u16, body: &[u8]) -> Error {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let mut message = parsed.message;
        if !parsed.details.is_empty() && parsed.details != message {
            message = if message.is_empty() {
                parsed.details
            } else {
                format!("{message} ({})", parsed.details)
            };
        }
        Error::Status {
            method,
            path: path.to_string(),
            status,
            message,
        }
    }
}

fn decode<T: DeserializeOwned>(method: &'static str, path: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        method,
        path: path.to_string(),
        why: e.to_string(),
    })
}

fn read_ca(path: &Path) -> Result<Vec<Certificate<'static>>, Error> {
    let bad = |why: String| Error::CaFile {
        path: path.to_path_buf(),
        why,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(out)
}

/// Connection problems worth another attempt; TLS and protocol errors are not.
fn is_transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

fn form_encode(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(
            form_encode(&[
                ("URL", "tcp://10.0.0.102:9001".into()),
                ("Name", "a b".into())
            ]),
            "URL=tcp%3A%2F%2F10.0.0.102%3A9001&Name=a%20b"
        );
    }

    #[test]
    fn plain_http_and_missing_ca_are_refused() {
        let e = Client::new(Options::new("http://x:9000", "/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("must be https"), "{e}");
        let e = Client::new(Options::new("https://x:9443", "/nonexistent/ca.crt")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
    }
}
