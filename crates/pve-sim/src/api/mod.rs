//! The simulated Proxmox REST API (`/api2/json`) over the same state folder as the CLI
//! stand-ins, so CLI and API see one node.
//!
//! Key design decision: a change is not re-implemented here. Its request is turned into the
//! CLI call that carries it (`pve::api::Request::to_argv`) and run by the stand-in as a child
//! process (`pve-sim pct ...`): the same argument checks, rules, locks, latency and fault
//! injection as a CLI call, by construction. Reads are answered from the state folder in the
//! API's JSON shapes. Every request is first validated against an extract of Proxmox's API
//! schema (`spec/pve-api.json`, generated from apidata.js) and answered 400 with an `errors`
//! map worded as `PVE::JSONSchema` words it.
//!
//! Map: `server.rs` (HTTPS, auth, request log), `pvesh.rs` (the `pvesh` stand-in),
//! `handler.rs` (one request), `view.rs` (reads), `tasks.rs` (UPIDs and task logs),
//! `schema.rs` + `formats.rs` (validation), `gen.rs` (the extract's generator, tests only),
//! `tokens.rs`, `cert.rs`, `faults.rs` (`api_rules` of faults.json).

mod cert;
pub mod faults;
pub mod formats;
#[cfg(test)]
mod gen;
mod handler;
mod pvesh;
pub mod schema;
mod server;
mod tasks;
mod tokens;
pub(crate) mod view;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use pvesh::run as pvesh;

const USAGE: &str = "usage: pve-sim serve [--listen 127.0.0.1:8006] [--root DIR]
       pve-sim token add <USER@REALM!NAME> [--secret S] [--root DIR]";

fn root_of(args: &[String]) -> Result<(PathBuf, Vec<String>), String> {
    let mut root = crate::sim_root();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--root" {
            root = Some(PathBuf::from(it.next().ok_or("--root needs a value")?));
        } else {
            rest.push(a.clone());
        }
    }
    let root = root.ok_or("PVE_SIM_ROOT is not set (or pass --root DIR)")?;
    if !root.join("etc/pve").is_dir() {
        return Err(format!(
            "'{}' is not an initialised simulator (run 'pve-sim init')",
            root.display()
        ));
    }
    Ok((root, rest))
}

/// `pve-sim serve [--listen ADDR]`.
pub fn serve(args: &[String]) -> i32 {
    let (root, rest) = match root_of(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("pve-sim serve: {e}\n{USAGE}");
            return 2;
        }
    };
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8006).into();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--listen", Some(v)) => match v.parse() {
                Ok(x) => addr = x,
                Err(_) => {
                    eprintln!("pve-sim serve: '{v}' is not IP:PORT");
                    return 1;
                }
            },
            _ => {
                eprintln!("{USAGE}");
                return 1;
            }
        }
    }
    match server::serve(&root, addr) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pve-sim serve: {}", e.msg);
            1
        }
    }
}

/// `pve-sim token add ID [--secret S]`: prints the secret.
pub fn token(args: &[String]) -> i32 {
    let (root, rest) = match root_of(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("pve-sim token: {e}\n{USAGE}");
            return 2;
        }
    };
    let (Some("add"), Some(id)) = (rest.first().map(String::as_str), rest.get(1)) else {
        eprintln!("{USAGE}");
        return 1;
    };
    let secret = match (rest.get(2).map(String::as_str), rest.get(3)) {
        (Some("--secret"), Some(s)) => Some(s.as_str()),
        (None, _) => None,
        _ => {
            eprintln!("{USAGE}");
            return 1;
        }
    };
    match tokens::add(&root, id, secret) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("pve-sim token: {}", e.msg);
            1
        }
    }
}
