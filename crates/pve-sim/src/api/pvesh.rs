//! The `pvesh` stand-in: `pvesh get|create|set|delete <path> [--key value ...]
//! [--output-format json|json-pretty]`, run through the same handler as the HTTPS server, as
//! root on the node (no token). A task runs in the foreground, its output goes to stdout, a
//! task error to stderr, and the UPID is printed as the result, as Proxmox's CLI environment
//! does; the exit code is 0 unless the request itself failed (255, message on stderr).

use std::collections::BTreeMap;

use pve::api::Value as P;

use super::handler::{handle, Ctx};
use super::server::log_request;

const USAGE: &str = "usage: pvesh get|create|set|delete <api_path> [--<param> <value> ...] [--output-format json|json-pretty|text]";

/// Runs `pvesh argv`; returns the exit code.
pub fn run(argv: &[String]) -> i32 {
    let Some(root) = crate::sim_root() else {
        eprintln!("pvesh: this is pve-sim's stand-in; PVE_SIM_ROOT is not set, refusing to run");
        return 2;
    };
    let (Some(cmd), Some(path)) = (argv.first(), argv.get(1)) else {
        eprintln!("{USAGE}");
        return 255;
    };
    let method = match cmd.as_str() {
        "get" | "ls" => "GET",
        "create" => "POST",
        "set" => "PUT",
        "delete" => "DELETE",
        other => {
            eprintln!("pvesh: unknown command '{other}'\n{USAGE}");
            return 255;
        }
    };
    let mut params: BTreeMap<String, P> = BTreeMap::new();
    let mut format = "text".to_string();
    let mut i = 2;
    while i < argv.len() {
        let Some(key) = argv[i]
            .strip_prefix("--")
            .or_else(|| argv[i].strip_prefix('-'))
        else {
            eprintln!("400 too many arguments\n{USAGE}");
            return 255;
        };
        let value = match argv.get(i + 1) {
            Some(v) if !v.starts_with('-') || v.parse::<f64>().is_ok() => {
                i += 2;
                v.clone()
            }
            _ => {
                i += 1;
                "1".to_string()
            }
        };
        match key {
            "output-format" => format = value,
            "noproxy" | "quiet" | "human-readable" | "noborder" | "noheader" => {}
            _ => {
                let merged = match params.remove(key) {
                    None => P::Str(value),
                    Some(P::Str(old)) => P::List(vec![old, value]),
                    Some(P::List(mut l)) => {
                        l.push(value);
                        P::List(l)
                    }
                };
                params.insert(key.to_string(), merged);
            }
        }
    }
    let path = format!("/{}", path.trim_matches('/'));
    let ctx = Ctx {
        root: root.clone(),
        user: "root@pam".into(),
        token: false,
        foreground: true,
    };
    let reply = handle(&ctx, method, &path, &params);
    log_request(
        &root,
        method,
        &format!("/api2/json{path}"),
        &params,
        reply.status,
        Some("pvesh"),
    );
    if reply.status == 501 {
        eprintln!("no '{cmd}' handler for '{path}'");
        return 255;
    }
    if reply.status >= 400 {
        eprintln!("{} {}", reply.status, reply.message.trim_end());
        for (k, v) in reply.errors.iter().flatten() {
            eprintln!("{k}: {v}");
        }
        return 255;
    }
    print!("{}", reply.task_output);
    if let Some(upid) = reply.data.as_str() {
        if let Some(st) = super::tasks::status(&root, upid) {
            if let Some(exit) = st["exitstatus"].as_str().filter(|e| !pve_ok(e)) {
                eprintln!("{exit}");
            }
        }
    }
    let out = match format.as_str() {
        "json" => reply.data.to_string(),
        _ => serde_json::to_string_pretty(&reply.data).unwrap_or_default(),
    };
    if !reply.data.is_null() {
        println!("{out}");
    }
    0
}

fn pve_ok(s: &str) -> bool {
    s == "OK" || s.starts_with("WARNINGS: ")
}
