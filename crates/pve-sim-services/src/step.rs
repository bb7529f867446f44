//! `step` and `step-ca` stand-ins: the subset of Smallstep's CLI the deployment uses, with the
//! same arguments, files and failure modes, backed by [`crate::ca`] (real certificates).
//!
//! | command | does |
//! | --- | --- |
//! | `step ca init --name N --dns D... --address :P --provisioner P --password-file F --provisioner-password-file F [--deployment-type standalone]` | a new CA in `$STEPPATH` (refuses an existing one; both password files must be non-empty) |
//! | `step-ca $STEPPATH/config/ca.json --password-file F` | "starts" the CA: it answers on `<dns>:<port>` for every `--dns` address or name of the CA in the simulated network |
//! | `step ca health --ca-url U [--root R]` | `ok` when the CA answers at `U` and `R` is its root |
//! | `step certificate fingerprint FILE` | SHA-256 of the (first) certificate, hex |
//! | `step ca bootstrap --ca-url U --fingerprint F [--force]` | fetches the root from the CA at `U`, checks its fingerprint, writes `$STEPPATH/certs/root_ca.crt` and `config/defaults.json` |
//! | `step ca certificate SUBJECT CRT KEY [--san S]... [--provisioner P] [--provisioner-password-file F] [--not-after 24h] [--force] [--ca-url U] [--root R]` | a certificate from the CA at `U` (or the bootstrapped one): the root given must be the CA's, the provisioner password must be right, existing files need `--force` |
//! | `step ca provisioner list`, `step ca provisioner add NAME --type T` | the CA's provisioners (JSON), adding one |
//!
//! "The CA at U" is found through the simulated network ([`crate::net`]): an address nothing
//! answers on fails as `connect: connection refused`, as the real client does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ca::{fingerprint_pem, write, Ca, CaConfig};
use crate::net;

/// Where the stand-ins run: the environment and the simulator's state folder.
pub struct Env<'a> {
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    pub sim_root: &'a Path,
    /// The guest the command runs in (recorded with the CA's addresses), if any.
    pub guest: Option<u32>,
}

/// A command's outcome.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn ok(stdout: impl Into<String>) -> Out {
    Out {
        code: 0,
        stdout: stdout.into(),
        stderr: String::new(),
    }
}

fn fail(msg: impl Into<String>) -> Out {
    let mut m = msg.into();
    if !m.ends_with('\n') {
        m.push('\n');
    }
    Out {
        code: 1,
        stdout: String::new(),
        stderr: m,
    }
}

/// Parsed flags: `--name value` pairs (repeatable) and positionals.
struct Args {
    flags: BTreeMap<String, Vec<String>>,
    switches: Vec<String>,
    pos: Vec<String>,
}

const SWITCHES: &[&str] = &["--force", "--install", "-f", "--insecure", "--offline"];

fn parse(args: &[String]) -> Args {
    let mut a = Args {
        flags: BTreeMap::new(),
        switches: Vec::new(),
        pos: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let x = &args[i];
        if let Some((k, v)) = x.strip_prefix("--").and_then(|r| r.split_once('=')) {
            a.flags
                .entry(format!("--{k}"))
                .or_default()
                .push(v.to_string());
        } else if SWITCHES.contains(&x.as_str()) {
            a.switches.push(x.clone());
        } else if x.starts_with("--") && i + 1 < args.len() {
            a.flags
                .entry(x.clone())
                .or_default()
                .push(args[i + 1].clone());
            i += 1;
        } else {
            a.pos.push(x.clone());
        }
        i += 1;
    }
    a
}

impl Args {
    fn one(&self, k: &str) -> Option<&str> {
        self.flags.get(k).and_then(|v| v.last()).map(String::as_str)
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.flags.get(k).cloned().unwrap_or_default()
    }
    fn has(&self, k: &str) -> bool {
        self.switches.iter().any(|s| s == k)
    }
}

fn steppath(env: &Env<'_>) -> PathBuf {
    if let Some(p) = (env.vars)("STEPPATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = (env.vars)("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".step")
}

/// `step ...`
pub fn step(args: &[String], env: &Env<'_>) -> Out {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["version", ..] | ["--version"] => ok("Smallstep CLI/0.28.0 (linux/amd64)\n"),
        ["certificate", "fingerprint", rest @ ..] => fingerprint(&parse(&strings(rest))),
        ["ca", "init", rest @ ..] => init(&parse(&strings(rest)), env),
        ["ca", "health", rest @ ..] => health(&parse(&strings(rest)), env),
        ["ca", "bootstrap", rest @ ..] => bootstrap(&parse(&strings(rest)), env),
        ["ca", "certificate", rest @ ..] => certificate(&parse(&strings(rest)), env),
        ["ca", "provisioner", "list", rest @ ..] => provisioner_list(&parse(&strings(rest)), env),
        ["ca", "provisioner", "add", rest @ ..] => provisioner_add(&parse(&strings(rest)), env),
        _ => fail(format!(
            "step: this simulated step does not implement '{}'",
            args.join(" ")
        )),
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn read_secret(path: Option<&str>, what: &str) -> Result<String, Out> {
    let Some(p) = path else {
        return Err(fail(format!("{what} is required (non-interactive)")));
    };
    match std::fs::read_to_string(p) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        Ok(_) => Err(fail(format!("error reading {p}: the file is empty"))),
        Err(e) => Err(fail(format!("open {p}: {e}"))),
    }
}

fn sha(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn init(a: &Args, env: &Env<'_>) -> Out {
    let dir = steppath(env);
    let Some(name) = a.one("--name") else {
        return fail("flag '--name' is required");
    };
    let dns = a.all("--dns");
    if dns.is_empty() {
        return fail("flag '--dns' is required");
    }
    let Some(address) = a.one("--address") else {
        return fail("flag '--address' is required");
    };
    let Some(provisioner) = a.one("--provisioner") else {
        return fail("flag '--provisioner' is required");
    };
    if let Err(o) = read_secret(a.one("--password-file"), "--password-file") {
        return o;
    }
    let prov_pass = match read_secret(
        a.one("--provisioner-password-file"),
        "--provisioner-password-file",
    ) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let config = CaConfig {
        name: name.to_string(),
        dns: dns.clone(),
        address: address.to_string(),
        provisioner: provisioner.to_string(),
        provisioners: vec![],
        provisioner_password_sha256: sha(&prov_pass),
    };
    let ca = match Ca::init(&dir, config) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let fp = ca.root_fingerprint().unwrap_or_default();
    let url = format!("https://{}{}", dns[0], address);
    if let Err(e) = write_defaults(&dir, &url, &fp, &ca.root_path()) {
        return fail(e);
    }
    ok(format!(
        "Your PKI is ready to go.\nRoot certificate: {}\nRoot fingerprint: {fp}\nYour CA is ready to go: step-ca {}\n",
        ca.root_path().display(),
        dir.join("config/ca.json").display()
    ))
}

fn write_defaults(dir: &Path, url: &str, fp: &str, root: &Path) -> Result<(), String> {
    let d =
        serde_json::json!({"ca-url": url, "fingerprint": fp, "root": root.display().to_string()});
    let text = serde_json::to_string_pretty(&d).map_err(|e| e.to_string())?;
    write(&dir.join("config/defaults.json"), text.as_bytes(), 0o644)
}

/// `step-ca <ca.json> --password-file F`: the CA answers on its addresses.
pub fn step_ca(args: &[String], env: &Env<'_>) -> Out {
    let a = parse(args);
    let Some(config) = a.pos.first() else {
        return fail("step-ca: the path to ca.json is required");
    };
    let config = Path::new(config);
    let Some(dir) = config.parent().and_then(Path::parent) else {
        return fail(format!(
            "step-ca: {}: not in a $STEPPATH/config folder",
            config.display()
        ));
    };
    let ca = match Ca::load(dir) {
        Ok(c) => c,
        Err(e) => return fail(format!("step-ca: {e}")),
    };
    if let Err(o) = read_secret(a.one("--password-file"), "--password-file") {
        return o;
    }
    let port = ca
        .config
        .address
        .rsplit(':')
        .next()
        .unwrap_or("9000")
        .to_string();
    let mut addrs = Vec::new();
    for d in &ca.config.dns {
        if d.starts_with('*') {
            continue;
        }
        let addr = format!("{d}:{port}");
        let key = net::scoped(&addr, env.guest);
        if let Err(e) = net::register_dir(env.sim_root, &key, dir, "step-ca", env.guest) {
            return fail(format!("step-ca: {e}"));
        }
        addrs.push(addr);
    }
    ok(format!("step-ca: serving HTTPS on {}\n", addrs.join(", ")))
}

/// The CA the URL reaches, or the client's connection error.
fn reach(url: &str, env: &Env<'_>) -> Result<Ca, Out> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(fail(format!(
            "invalid value '{url}' for flag '--ca-url': must be https://"
        )));
    };
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:443")
    };
    let l = net::lookup(env.sim_root, &net::scoped(&hostport, env.guest)).map_err(|_| {
        fail(format!(
            "client GET {url}/health failed: Get \"{url}/health\": dial tcp {hostport}: connect: connection refused"
        ))
    })?;
    let dir = net::dir_of(env.sim_root, &l)
        .ok_or_else(|| fail(format!("{hostport} does not answer as a CA")))?;
    Ca::load(&dir).map_err(fail)
}

/// `--ca-url`/`--root` from the flags, else from `$STEPPATH/config/defaults.json`.
fn url_and_root(a: &Args, env: &Env<'_>) -> Result<(String, Option<PathBuf>), Out> {
    let defaults: serde_json::Value =
        std::fs::read_to_string(steppath(env).join("config/defaults.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    let url = a
        .one("--ca-url")
        .map(str::to_string)
        .or_else(|| defaults["ca-url"].as_str().map(str::to_string))
        .ok_or_else(|| fail("'step ca' needs --ca-url, or run 'step ca bootstrap' first"))?;
    let root = a
        .one("--root")
        .map(PathBuf::from)
        .or_else(|| defaults["root"].as_str().map(PathBuf::from));
    Ok((url, root))
}

/// The TLS check a real client makes: the root it trusts must be the CA's.
fn trust(ca: &Ca, root: Option<&Path>) -> Result<(), Out> {
    let Some(root) = root else {
        return Err(fail(
            "'step ca' needs --root, or run 'step ca bootstrap' first",
        ));
    };
    let have =
        std::fs::read_to_string(root).map_err(|e| fail(format!("open {}: {e}", root.display())))?;
    let ours = ca.root_fingerprint().map_err(fail)?;
    match fingerprint_pem(&have) {
        Ok(fp) if fp == ours => Ok(()),
        Ok(_) => Err(fail("x509: certificate signed by unknown authority")),
        Err(e) => Err(fail(format!("{}: {e}", root.display()))),
    }
}

fn health(a: &Args, env: &Env<'_>) -> Out {
    let (url, root) = match url_and_root(a, env) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let ca = match reach(&url, env) {
        Ok(c) => c,
        Err(o) => return o,
    };
    match trust(&ca, root.as_deref()) {
        Ok(()) => ok("ok\n"),
        Err(o) => o,
    }
}

fn fingerprint(a: &Args) -> Out {
    let Some(f) = a.pos.first() else {
        return fail("step certificate fingerprint: a file is required");
    };
    match std::fs::read_to_string(f)
        .map_err(|e| format!("open {f}: {e}"))
        .and_then(|t| fingerprint_pem(&t))
    {
        Ok(fp) => ok(format!("{fp}\n")),
        Err(e) => fail(e),
    }
}

fn bootstrap(a: &Args, env: &Env<'_>) -> Out {
    let Some(url) = a.one("--ca-url") else {
        return fail("flag '--ca-url' is required");
    };
    let Some(want) = a.one("--fingerprint") else {
        return fail("flag '--fingerprint' is required");
    };
    let dir = steppath(env);
    if dir.join("config/defaults.json").exists() && !a.has("--force") && !a.has("-f") {
        return fail(format!(
            "file {} already exists",
            dir.join("config/defaults.json").display()
        ));
    }
    let ca = match reach(url, env) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let fp = match ca.root_fingerprint() {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    if !fp.eq_ignore_ascii_case(want.trim()) {
        return fail(format!(
            "root certificate fingerprint does not match: got {fp}, want {want}"
        ));
    }
    let root = dir.join("certs/root_ca.crt");
    let pem = match ca.root_pem() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(e) =
        write(&root, pem.as_bytes(), 0o644).and_then(|()| write_defaults(&dir, url, &fp, &root))
    {
        return fail(e);
    }
    ok(format!("The root certificate has been saved in {}.\nThe authority configuration has been saved in {}.\n", root.display(), dir.join("config/defaults.json").display()))
}

/// `24h`, `90m`, `3600s`, `1h30m`.
fn duration(s: &str) -> Option<time::Duration> {
    let mut total = 0i64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    (num.is_empty() && total > 0).then(|| time::Duration::seconds(total))
}

fn certificate(a: &Args, env: &Env<'_>) -> Out {
    let [subject, crt, key] = match a.pos.as_slice() {
        [s, c, k] => [s, c, k],
        _ => return fail("usage: step ca certificate <subject> <crt-file> <key-file> [flags]"),
    };
    let (url, root) = match url_and_root(a, env) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let ca = match reach(&url, env) {
        Ok(c) => c,
        Err(o) => return o,
    };
    if let Err(o) = trust(&ca, root.as_deref()) {
        return o;
    }
    let prov = a.one("--provisioner").unwrap_or(&ca.config.provisioner);
    if prov != ca.config.provisioner {
        return fail(format!("provisioner '{prov}' not found"));
    }
    let pass = match read_secret(
        a.one("--provisioner-password-file"),
        "--provisioner-password-file",
    ) {
        Ok(p) => p,
        Err(o) => return o,
    };
    if sha(&pass) != ca.config.provisioner_password_sha256 {
        return fail("error decrypting provisioner key: invalid password");
    }
    let force = a.has("--force") || a.has("-f");
    for f in [crt, key] {
        if Path::new(f).exists() && !force {
            return fail(format!(
                "file {f} already exists; use --force to overwrite it"
            ));
        }
    }
    let valid = match a.one("--not-after") {
        None => time::Duration::hours(24),
        Some(d) => match duration(d) {
            Some(v) => v,
            None => return fail(format!("invalid value '{d}' for flag '--not-after'")),
        },
    };
    let issued = match ca.issue(subject, &a.all("--san"), valid) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    if let Err(e) = write(Path::new(key), issued.key_pem.as_bytes(), 0o600)
        .and_then(|()| write(Path::new(crt), issued.chain_pem.as_bytes(), 0o644))
    {
        return fail(e);
    }
    ok(format!("✔ Certificate: {crt}\n✔ Private Key: {key}\n"))
}

fn local_ca(a: &Args, env: &Env<'_>) -> Result<Ca, Out> {
    if a.one("--ca-url").is_some() {
        let (url, root) = url_and_root(a, env)?;
        let ca = reach(&url, env)?;
        trust(&ca, root.as_deref())?;
        return Ok(ca);
    }
    Ca::load(&steppath(env)).map_err(fail)
}

fn provisioner_list(a: &Args, env: &Env<'_>) -> Out {
    let ca = match local_ca(a, env) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let mut list = vec![serde_json::json!({"type": "JWK", "name": ca.config.provisioner})];
    for p in &ca.config.provisioners {
        list.push(serde_json::json!({"type": p.kind, "name": p.name}));
    }
    ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&list).unwrap_or_default()
    ))
}

fn provisioner_add(a: &Args, env: &Env<'_>) -> Out {
    let mut ca = match local_ca(a, env) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let Some(name) = a.pos.first() else {
        return fail("step ca provisioner add: a name is required");
    };
    let kind = a.one("--type").unwrap_or("JWK").to_uppercase();
    if name == &ca.config.provisioner || ca.config.provisioners.iter().any(|p| &p.name == name) {
        return fail(format!("provisioner with name {name} already exists"));
    }
    ca.config.provisioners.push(crate::ca::Provisioner {
        name: name.clone(),
        kind,
    });
    match ca.save() {
        Ok(()) => ok(String::new()),
        Err(e) => fail(e),
    }
}

/// Runs a stand-in as a process would: output to the real stdout/stderr, the exit code back.
pub fn main(tool: &str, args: &[String], env: &Env<'_>) -> i32 {
    let out = if tool == "step-ca" {
        step_ca(args, env)
    } else {
        step(args, env)
    };
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    out.code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("24h"), Some(time::Duration::hours(24)));
        assert_eq!(duration("1h30m"), Some(time::Duration::minutes(90)));
        assert_eq!(duration("x"), None);
        assert_eq!(duration("10"), None);
    }
}
