//! Tasks (workers) of the simulated node: a UPID per task (`PVE::Tools::upid_encode` format),
//! its log in `$PVE_SIM_ROOT/api/tasks/<UPID>`, ended by `TASK OK`, `TASK WARNINGS: N` or
//! `TASK ERROR: <message>` as Proxmox writes it. The status is read back from the last line,
//! as `PVE::UPID::read_status` does, so a task's state survives the thread that ran it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

use crate::state::now_ms;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn dir(root: &Path) -> PathBuf {
    root.join("api/tasks")
}

fn file(root: &Path, upid: &str) -> Option<PathBuf> {
    // A UPID is one path component; refuse anything that could leave the folder.
    let ok = upid.starts_with("UPID:") && !upid.contains('/') && !upid.contains("..");
    ok.then(|| dir(root).join(upid))
}

/// A new UPID for a task of `kind` on `id` by `user`.
pub fn new_upid(node: &str, kind: &str, id: &str, user: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id().wrapping_mul(1000).wrapping_add(n) & 0x3fff_ffff;
    let now = now_ms();
    format!(
        "UPID:{node}:{pid:08X}:{:08X}:{:08X}:{kind}:{id}:{user}:",
        (now / 10) & 0xffff_ffff,
        now / 1000
    )
}

/// Creates the task's log (the task is running from now on).
pub fn start(root: &Path, upid: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir(root))?;
    let p = file(root, upid).ok_or_else(|| std::io::Error::other("bad upid"))?;
    std::fs::write(p, "")
}

/// Appends lines to the task's log.
pub fn append(root: &Path, upid: &str, text: &str) {
    let Some(p) = file(root, upid) else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(p) {
        let mut t = text.to_string();
        if !t.is_empty() && !t.ends_with('\n') {
            t.push('\n');
        }
        let _ = f.write_all(t.as_bytes());
    }
}

/// Ends the task: `Ok(warnings)` or `Err(message)`.
pub fn finish(root: &Path, upid: &str, outcome: Result<usize, String>) {
    let last = match outcome {
        Ok(0) => "TASK OK".to_string(),
        Ok(n) => format!("TASK WARNINGS: {n}"),
        Err(msg) => format!("TASK ERROR: {}", msg.trim().replace('\n', " ")),
    };
    append(root, upid, &last);
}

fn lines(root: &Path, upid: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file(root, upid)?).ok()?;
    Some(text.lines().map(str::to_string).collect())
}

/// `GET /nodes/{node}/tasks/{upid}/status`, or `None` when there is no such task.
pub fn status(root: &Path, upid: &str) -> Option<Value> {
    let lines = lines(root, upid)?;
    let f: Vec<&str> = upid.split(':').collect();
    let num = |i: usize| {
        f.get(i)
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .unwrap_or(0)
    };
    let mut v = json!({
        "upid": upid, "node": f.get(1), "pid": num(2), "pstart": num(3), "starttime": num(4),
        "type": f.get(5), "id": f.get(6), "user": f.get(7), "status": "running",
    });
    if let Some(tok) = f.get(7).and_then(|u| u.split_once('!')) {
        v["user"] = json!(tok.0);
        v["tokenid"] = json!(tok.1);
    }
    let last = lines.last().map(String::as_str).unwrap_or("");
    let exit = if last == "TASK OK" {
        Some("OK".to_string())
    } else if let Some(w) = last
        .strip_prefix("TASK ")
        .filter(|w| w.starts_with("WARNINGS: "))
    {
        Some(w.to_string())
    } else {
        last.strip_prefix("TASK ERROR: ").map(str::to_string)
    };
    if let Some(e) = exit {
        v["status"] = json!("stopped");
        v["exitstatus"] = json!(e);
    }
    Some(v)
}

/// `GET /nodes/{node}/tasks/{upid}/log`: `[{n, t}]` from line `start` (0-based), at most `limit`.
pub fn log(root: &Path, upid: &str, start: usize, limit: usize) -> Option<(Value, usize)> {
    let lines = lines(root, upid)?;
    let total = lines.len();
    let out: Vec<Value> = lines
        .into_iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, t)| json!({"n": i + 1, "t": t}))
        .collect();
    Some((Value::Array(out), total))
}

/// `WARN:` lines in the task output: what makes `TASK WARNINGS: N`.
pub fn count_warnings(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("WARN: ")).count()
}
