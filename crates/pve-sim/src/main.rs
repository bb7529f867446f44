//! `pve-sim`: a simulated Proxmox VE node for machines without Proxmox.
//!
//! One multi-call binary: run through symlinks named `pct`, `qm`, `pvesm`, `pveam` it behaves
//! as that tool against the state folder `$PVE_SIM_ROOT`; run as `pve-sim <verb>` it
//! administers the node (`init`, `reset`, `dump`, `log`, `link`). Every argument is checked
//! against the option spec of the `pve` crate, state changes follow the rules of the real node
//! (locks, existing ids, templates, snapshots), and every call is logged. See
//! docs/simulator.md.

mod admin;
mod api;
mod faults;
mod guest;
mod guestos;
mod ha;
mod host;
mod sandbox;
mod standins;
mod state;
mod storage;
mod storecfg;

use state::{now_ms, Node};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Tools the binary can act as.
pub const TOOLS: &[&str] = &["pct", "qm", "pvesm", "pveam"];

/// A failed command: message for stderr and exit code.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub msg: String,
}

pub type R<T> = Result<T, Fail>;

/// A failure with the real tools' exit code for errors (255).
pub fn fail(msg: impl Into<String>) -> Fail {
    Fail {
        code: 255,
        msg: msg.into(),
    }
}

fn main() {
    // Die quietly on a closed pipe (`pve-sim dump | head`), as C tools do.
    // SAFETY: setting a signal disposition before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let prog = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("pve-sim")
        .to_string();
    let argv0 = args.first().cloned().unwrap_or_default();
    let code = if prog != "pve-sim" && guestos::inside() {
        // A stand-in inside a simulated guest (linked into the guest's /usr/bin).
        guestos::run(&argv0, &prog, &args[1..])
    } else if let Some(t) = args
        .get(1)
        .filter(|t| guestos::TOOLS.contains(&t.as_str()) && guestos::inside())
    {
        guestos::run(t, t, &args[2..])
    } else if TOOLS.contains(&prog.as_str()) {
        run_tool(&prog, &args[1..])
    } else if let Some(t) = args.get(1).filter(|t| TOOLS.contains(&t.as_str())) {
        run_tool(t, &args[2..])
    } else if prog == "pvesh" {
        api::pvesh(&args[1..])
    } else if let Some(verb) = args
        .get(1)
        .filter(|v| ["serve", "token", "pvesh"].contains(&v.as_str()))
    {
        match verb.as_str() {
            "serve" => api::serve(&args[2..]),
            "token" => api::token(&args[2..]),
            _ => api::pvesh(&args[2..]),
        }
    } else if host::is_host_tool(&prog) {
        host::run(&prog, &args[1..])
    } else {
        admin::run(&args[1..])
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// `$PVE_SIM_ROOT`, if set and non-empty.
pub fn sim_root() -> Option<PathBuf> {
    std::env::var_os("PVE_SIM_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn run_tool(tool: &str, argv: &[String]) -> i32 {
    let Some(root) = sim_root() else {
        eprintln!(
            "{tool}: this is pve-sim, the simulated Proxmox node; PVE_SIM_ROOT is not set, refusing to run"
        );
        return 2;
    };
    if !root.join("etc/pve").is_dir() {
        eprintln!(
            "{tool}: PVE_SIM_ROOT '{}' is not an initialised simulator (run 'pve-sim init')",
            root.display()
        );
        return 2;
    }
    // SIGINT/SIGTERM end a call's latency with a failure (Node::pause) instead of killing the
    // process halfway through, as a Proxmox CLI worker dies through its own error path.
    extern "C" fn on_signal(_: libc::c_int) {
        state::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    // SAFETY: the handler only stores into an atomic; installed before any thread starts.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let start = now_ms();
    let t0 = std::time::Instant::now();
    let (code, mutating) = execute(&root, tool, argv);
    log_invocation(
        &root,
        tool,
        argv,
        code,
        start,
        t0.elapsed().as_millis() as u64,
        mutating,
    );
    code
}

fn execute(root: &Path, tool: &str, argv: &[String]) -> (i32, bool) {
    let guess_mutating = pve::is_mutating(tool, argv.first().map(String::as_str).unwrap_or(""));
    let node = match Node::open(root.to_path_buf()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{}", e.msg);
            return (e.code, guess_mutating);
        }
    };
    let call = match pve::validate(tool, argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return (255, guess_mutating);
        }
    };
    let mutating = call.is_mutating();
    let mut count = |k: &str| node.count_match(k);
    match node
        .faults
        .call_fault(tool, &call.command, call.vmid(), argv, &mut count)
    {
        Ok(Some((code, msg))) => {
            let _ = node.pause(tool, &call.command);
            eprintln!("{msg}");
            return (code, mutating);
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("{}", e.msg);
            return (e.code, mutating);
        }
    }
    let pre = if mutating {
        Ok(())
    } else {
        node.pause(tool, &call.command)
    };
    if matches!(tool, "pct" | "qm") {
        // The simulated HA manager acts on what is due before the call (ha.rs).
        ha::tick(root);
    }
    let result = pre.and_then(|()| match tool {
        "pct" | "qm" => guest::run(&node, &call),
        "pvesm" => storage::pvesm(&node, &call),
        _ => storage::pveam(&node, &call),
    });
    // Commands that did not spend their latency inside a lock spend it now (not after a
    // failure, so a lock time-out reports after the lock timeout only).
    let result = match result {
        Ok(c) => node.pause(tool, &call.command).map(|()| c),
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => (c, mutating),
        Err(e) => {
            eprintln!("{}", e.msg);
            (e.code, mutating)
        }
    }
}

/// Append one JSON line to `invocations.jsonl` (one `write` on an `O_APPEND` file).
fn log_invocation(
    root: &Path,
    tool: &str,
    argv: &[String],
    code: i32,
    start: u64,
    duration: u64,
    mutating: bool,
) {
    let mut line = serde_json::json!({
        "tool": tool,
        "argv": argv,
        "exit_code": code,
        "start": start,
        "duration_ms": duration,
        "mutating": mutating,
    });
    // Calls the simulated API server runs on behalf of a request are marked.
    if let Some(via) = std::env::var_os("PVE_SIM_VIA") {
        line["via"] = serde_json::json!(via.to_string_lossy());
    }
    let mut line = line.to_string();
    line.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("invocations.jsonl"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}
