//! `nginx -t`: parses the main file and everything it includes, and reports the first problem
//! as nginx does (`nginx: [emerg] <what> in <file>:<line>`).

use std::path::Path;

use super::{glob, under};

/// One directive's rule: contexts it may appear in, argument counts, whether it opens a block.
struct Rule {
    name: &'static str,
    contexts: &'static [&'static str],
    min: usize,
    max: usize,
    block: bool,
}

const MAIN: &[&str] = &["main"];
const HTTP: &[&str] = &["http"];
const SRV: &[&str] = &["server"];
const HSL: &[&str] = &["http", "server", "location"];
const SL: &[&str] = &["server", "location"];
const HS: &[&str] = &["http", "server"];
const ANY_SRV: &[&str] = &["server", "stream-server"];

const RULES: &[Rule] = &[
    r("user", MAIN, 1, 2, false),
    r("worker_processes", MAIN, 1, 1, false),
    r("pid", MAIN, 1, 1, false),
    r("types", HSL, 0, 0, true),
    r(
        "include",
        &[
            "main",
            "http",
            "server",
            "location",
            "events",
            "stream",
            "map",
            "upstream",
            "stream-server",
        ],
        1,
        1,
        false,
    ),
    r("load_module", MAIN, 1, 1, false),
    r(
        "error_log",
        &[
            "main",
            "http",
            "server",
            "location",
            "stream",
            "stream-server",
        ],
        1,
        2,
        false,
    ),
    r("events", MAIN, 0, 0, true),
    r("worker_connections", &["events"], 1, 1, false),
    r("http", MAIN, 0, 0, true),
    r("stream", MAIN, 0, 0, true),
    r("server", &["http", "stream", "upstream"], 0, 8, true),
    r("upstream", &["http", "stream"], 1, 1, true),
    r("map", &["http", "stream"], 2, 2, true),
    r("location", SL, 1, 2, true),
    r("listen", ANY_SRV, 1, 8, false),
    r("server_name", SRV, 1, 64, false),
    r("root", HSL, 1, 1, false),
    r("index", HSL, 1, 16, false),
    r("return", SL, 1, 2, false),
    r("rewrite", SL, 2, 3, false),
    r("try_files", SL, 2, 16, false),
    r("allow", HSL, 1, 1, false),
    r("deny", HSL, 1, 1, false),
    r("resolver", HSL, 1, 8, false),
    r("sendfile", HSL, 1, 1, false),
    r("tcp_nopush", HSL, 1, 1, false),
    r("tcp_nodelay", HSL, 1, 1, false),
    r("types_hash_max_size", HTTP, 1, 1, false),
    r("default_type", HSL, 1, 1, false),
    r("access_log", HSL, 1, 4, false),
    r("gzip", HSL, 1, 1, false),
    r("client_max_body_size", HSL, 1, 1, false),
    r("large_client_header_buffers", HS, 2, 2, false),
    r("keepalive_timeout", HSL, 1, 2, false),
    r("add_header", HSL, 2, 3, false),
    r("ssl_certificate", HS, 1, 1, false),
    r("ssl_certificate_key", HS, 1, 1, false),
    r("ssl_protocols", HS, 1, 6, false),
    r("ssl_ciphers", HS, 1, 1, false),
    r("ssl_prefer_server_ciphers", HS, 1, 1, false),
    r("ssl_session_cache", HS, 1, 2, false),
    r("ssl_session_timeout", HS, 1, 1, false),
    r("proxy_pass", &["location"], 1, 1, false),
    r("proxy_set_header", HSL, 2, 2, false),
    r("proxy_set_body", HSL, 1, 1, false),
    r("proxy_http_version", HSL, 1, 1, false),
    r("proxy_read_timeout", HSL, 1, 1, false),
    r("proxy_connect_timeout", HSL, 1, 1, false),
    r("proxy_send_timeout", HSL, 1, 1, false),
    r("proxy_buffering", HSL, 1, 1, false),
    r("proxy_ssl_server_name", HSL, 1, 1, false),
    r("proxy_ssl_verify", HSL, 1, 1, false),
    r("proxy_ssl_trusted_certificate", HSL, 1, 1, false),
    r("proxy_ssl_name", HSL, 1, 1, false),
    r("js_import", HSL, 1, 2, false),
    r("js_set", HS, 2, 2, false),
];

const fn r(
    name: &'static str,
    contexts: &'static [&'static str],
    min: usize,
    max: usize,
    block: bool,
) -> Rule {
    Rule {
        name,
        contexts,
        min,
        max,
        block,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

/// Tokens with their line numbers.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>, (String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            '{' => {
                out.push((Tok::Open, line));
                i += 1;
            }
            '}' => {
                out.push((Tok::Close, line));
                i += 1;
            }
            ';' => {
                out.push((Tok::Semi, line));
                i += 1;
            }
            '"' | '\'' => {
                let q = c;
                let start = line;
                let mut w = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err((
                                "unexpected end of file, expecting \";\" or \"}\"".into(),
                                start,
                            ))
                        }
                        Some(&x) if x == q => break,
                        Some('\\') => {
                            if let Some(&n) = b.get(i + 1) {
                                w.push(n);
                                i += 1;
                            }
                        }
                        Some(&x) => {
                            if x == '\n' {
                                line += 1;
                            }
                            w.push(x);
                        }
                    }
                    i += 1;
                }
                i += 1;
                out.push((Tok::Word(w), line));
            }
            _ => {
                let mut w = String::new();
                while i < b.len() && !b[i].is_whitespace() && !"{};".contains(b[i]) {
                    // `${var}` stays one word.
                    if b[i] == '$' && b.get(i + 1) == Some(&'{') {
                        while i < b.len() && b[i] != '}' {
                            w.push(b[i]);
                            i += 1;
                        }
                    }
                    if i < b.len() {
                        w.push(b[i]);
                        i += 1;
                    }
                }
                out.push((Tok::Word(w), line));
            }
        }
    }
    Ok(out)
}

struct Checker<'a> {
    root: &'a Path,
    depth: usize,
}

/// Checks `/etc/nginx/nginx.conf` (or `conf`) under `root`. `Ok` holds nginx's success lines.
pub fn test(root: &Path, conf: &str) -> Result<String, String> {
    let mut c = Checker { root, depth: 0 };
    match c.file(conf, "main") {
        Ok(()) => Ok(format!(
            "nginx: the configuration file {conf} syntax is ok\nnginx: configuration file {conf} test is successful\n"
        )),
        Err(e) => Err(format!("nginx: [emerg] {e}\nnginx: configuration file {conf} test failed\n")),
    }
}

impl Checker<'_> {
    fn file(&mut self, path: &str, ctx: &str) -> Result<(), String> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(format!("too deep includes at {path}"));
        }
        let text = std::fs::read_to_string(under(self.root, path))
            .map_err(|_| format!("open() \"{path}\" failed (2: No such file or directory)"))?;
        let toks = lex(&text).map_err(|(m, l)| format!("{m} in {path}:{l}"))?;
        let mut pos = 0;
        self.block(&toks, &mut pos, ctx, path, false)?;
        self.depth -= 1;
        Ok(())
    }

    /// Directives until `}` (when `inner`) or the end.
    fn block(
        &mut self,
        toks: &[(Tok, usize)],
        pos: &mut usize,
        ctx: &str,
        path: &str,
        inner: bool,
    ) -> Result<(), String> {
        loop {
            let Some((tok, line)) = toks.get(*pos) else {
                if inner {
                    let l = toks.last().map(|t| t.1).unwrap_or(1);
                    return Err(format!(
                        "unexpected end of file, expecting \"}}\" in {path}:{l}"
                    ));
                }
                return Ok(());
            };
            match tok {
                Tok::Close if inner => {
                    *pos += 1;
                    return Ok(());
                }
                Tok::Close => return Err(format!("unexpected \"}}\" in {path}:{line}")),
                Tok::Semi => return Err(format!("unexpected \";\" in {path}:{line}")),
                Tok::Open => return Err(format!("unexpected \"{{\" in {path}:{line}")),
                Tok::Word(name) => {
                    *pos += 1;
                    let mut args = Vec::new();
                    let end = loop {
                        match toks.get(*pos) {
                            Some((Tok::Word(w), _)) => {
                                args.push(w.clone());
                                *pos += 1;
                            }
                            Some((Tok::Semi, _)) => break Tok::Semi,
                            Some((Tok::Open, _)) => break Tok::Open,
                            Some((Tok::Close, l)) => {
                                return Err(format!("unexpected \"}}\" in {path}:{l}"))
                            }
                            None => return Err(format!("unexpected end of file, expecting \";\" or \"}}\" in {path}:{line}")),
                        }
                    };
                    *pos += 1;
                    if ctx == "types" {
                        if end == Tok::Open || args.is_empty() {
                            return Err(format!("invalid number of arguments in \"{name}\" directive in {path}:{line}"));
                        }
                        continue;
                    }
                    if ctx == "map" {
                        if end == Tok::Open || (args.len() != 1 && name != "include") {
                            return Err(format!(
                                "invalid number of the map parameters in {path}:{line}"
                            ));
                        }
                        continue;
                    }
                    let inner_ctx = self.directive(name, &args, &end, ctx, path, *line)?;
                    if end == Tok::Open {
                        self.block(toks, pos, &inner_ctx, path, true)?;
                    }
                }
            }
        }
    }

    /// Checks one directive; returns the context of its block.
    fn directive(
        &mut self,
        name: &str,
        args: &[String],
        end: &Tok,
        ctx: &str,
        path: &str,
        line: usize,
    ) -> Result<String, String> {
        let at = format!("in {path}:{line}");
        let rule = RULES
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| format!("unknown directive \"{name}\" {at}"))?;
        let ctx_ok = rule.contexts.contains(&ctx);
        if !ctx_ok {
            return Err(format!("\"{name}\" directive is not allowed here {at}"));
        }
        if rule.block && *end != Tok::Open {
            return Err(format!("directive \"{name}\" has no opening \"{{\" {at}"));
        }
        if !rule.block && *end == Tok::Open {
            return Err(format!(
                "directive \"{name}\" is not terminated by \";\" {at}"
            ));
        }
        if args.len() < rule.min || args.len() > rule.max {
            return Err(format!(
                "invalid number of arguments in \"{name}\" directive {at}"
            ));
        }
        match name {
            "include" => {
                let target = if args[0].starts_with('/') {
                    args[0].clone()
                } else {
                    format!("/etc/nginx/{}", args[0])
                };
                let files = glob(self.root, &target);
                if !target.contains('*') && !under(self.root, &target).is_file() {
                    return Err(format!(
                        "open() \"{target}\" failed (2: No such file or directory) {at}"
                    ));
                }
                for f in files {
                    self.file(&f, ctx)?;
                }
            }
            "listen" => listen(&args[0]).map_err(|e| format!("{e} {at}"))?,
            "proxy_pass" => {
                let u = &args[0];
                if !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with('$')) {
                    return Err(format!("invalid URL prefix in \"{u}\" {at}"));
                }
            }
            "ssl_certificate" | "ssl_certificate_key" | "proxy_ssl_trusted_certificate" => {
                let f = &args[0];
                if !f.contains('$') {
                    let text = std::fs::read_to_string(under(self.root, f)).unwrap_or_default();
                    let want = if name == "ssl_certificate_key" {
                        "PRIVATE KEY"
                    } else {
                        "CERTIFICATE"
                    };
                    if !text.contains(&format!("-----BEGIN {want}"))
                        && !text.contains("-----BEGIN EC PRIVATE KEY")
                    {
                        let what = if name == "ssl_certificate_key" {
                            "certificate key"
                        } else {
                            "certificate"
                        };
                        return Err(format!("cannot load {what} \"{f}\": BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory) {at}"));
                    }
                }
            }
            "return" => {
                let code = &args[0];
                if args.len() == 2 && code.parse::<u16>().is_err() {
                    return Err(format!("invalid return code \"{code}\" {at}"));
                }
            }
            _ => {}
        }
        Ok(match name {
            "events" => "events",
            "http" => "http",
            "stream" => "stream",
            "server" if ctx == "stream" => "stream-server",
            "server" if ctx == "upstream" => "upstream-server",
            "server" => "server",
            "location" => "location",
            "map" => "map",
            "types" => "types",
            "upstream" => "upstream",
            _ => ctx,
        }
        .to_string())
    }
}

/// `80`, `443`, `10.0.0.1:80`, `[::]:443`, `unix:/path`.
fn listen(a: &str) -> Result<(), String> {
    if a.starts_with("unix:") {
        return Ok(());
    }
    let port = if let Some(rest) = a.strip_prefix('[') {
        let (_, p) = rest.split_once("]:").ok_or(format!(
            "invalid host in \"{a}\" of the \"listen\" directive"
        ))?;
        p
    } else if let Some((host, p)) = a.rsplit_once(':') {
        if host.parse::<std::net::IpAddr>().is_err() && host != "*" && host != "localhost" {
            return Err(format!(
                "host not found in \"{a}\" of the \"listen\" directive"
            ));
        }
        p
    } else {
        a
    };
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(()),
        _ => Err(format!(
            "invalid port in \"{a}\" of the \"listen\" directive"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let p = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        d
    }

    const MAIN_CONF: &str = "user www-data;\nevents { worker_connections 768; }\nhttp {\n  include /etc/nginx/sites-enabled/*;\n}\n";

    #[test]
    fn a_good_site_passes() {
        let d = tree(&[
            ("/etc/nginx/nginx.conf", MAIN_CONF),
            ("/etc/ssl/c.crt", "-----BEGIN CERTIFICATE-----\n"),
            ("/etc/ssl/c.key", "-----BEGIN PRIVATE KEY-----\n"),
            ("/etc/nginx/sites-enabled/gateway", "server {\n listen 443 ssl;\n listen [::]:443 ssl;\n server_name a.example b.example;\n ssl_certificate /etc/ssl/c.crt;\n ssl_certificate_key /etc/ssl/c.key;\n location / { proxy_pass http://10.0.0.12:80; proxy_set_header Host $host; }\n}\n"),
        ]);
        let ok = test(d.path(), "/etc/nginx/nginx.conf").unwrap();
        assert!(ok.contains("syntax is ok"), "{ok}");
    }

    #[test]
    fn problems_are_reported_as_nginx_does() {
        for (site, want) in [
            (
                "server { listen 80; ",
                "unexpected end of file, expecting \"}\"",
            ),
            ("server { listen 80 }", "unexpected \"}\""),
            (
                "server { lisen 80; }",
                "unknown directive \"lisen\" in /etc/nginx/sites-enabled/s:1",
            ),
            ("listen 80;", "\"listen\" directive is not allowed here"),
            ("server { listen 99999; }", "invalid port"),
            (
                "server { location / { proxy_pass 10.0.0.1; } }",
                "invalid URL prefix",
            ),
            (
                "server { ssl_certificate /missing.crt; }",
                "cannot load certificate \"/missing.crt\"",
            ),
            (
                "server { proxy_set_header Host; }",
                "invalid number of arguments in \"proxy_set_header\"",
            ),
            (
                "server { include /etc/nginx/none.conf; }",
                "open() \"/etc/nginx/none.conf\" failed",
            ),
        ] {
            let d = tree(&[
                ("/etc/nginx/nginx.conf", MAIN_CONF),
                ("/etc/nginx/sites-enabled/s", site),
            ]);
            let e = test(d.path(), "/etc/nginx/nginx.conf").unwrap_err();
            assert!(e.contains(want) && e.contains("test failed"), "{site}: {e}");
        }
    }
}
