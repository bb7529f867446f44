//! Output formats of the Proxmox tools: parsers (for the managers) and formatters (for the
//! simulator), so both sides agree on exactly one format per command.
//!
//! Column layouts follow the `printf` formats of the real `pct`, `qm`, `pvesm` and `pveam`.

use serde_json::Value;

/// Errors of the parsers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error("unexpected output: {0}")]
    Unexpected(String),
    #[error("invalid JSON: {0}")]
    Json(String),
}

/// One row of `pct list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PctListEntry {
    pub vmid: u32,
    pub status: String,
    /// Empty when not locked.
    pub lock: String,
    pub name: String,
}

/// `pct list` (`%-10s %-10s %-12s %-20s`, header `VMID Status Lock Name`; nothing at all
/// without containers, as pve-container's `PVE::CLI::pct` prints it).
pub fn format_pct_list(rows: &[PctListEntry]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{:<10} {:<10} {:<12} {:<20}\n",
        "VMID", "Status", "Lock", "Name"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<10} {:<10} {:<12} {:<20}\n",
            r.vmid, r.status, r.lock, r.name
        ));
    }
    out
}

/// Parse `pct list`. The lock column is recognised by position.
pub fn parse_pct_list(text: &str) -> Result<Vec<PctListEntry>, OutputError> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("VMID") {
            continue;
        }
        let col = |a: usize, b: usize| -> String {
            line.get(a..b.min(line.len()))
                .or_else(|| line.get(a..))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let vmid = col(0, 10)
            .parse()
            .map_err(|_| OutputError::Unexpected(line.to_string()))?;
        rows.push(PctListEntry {
            vmid,
            status: col(11, 21),
            lock: col(22, 34),
            name: line.get(35..).unwrap_or("").trim().to_string(),
        });
    }
    Ok(rows)
}

/// One row of `qm list`.
#[derive(Debug, Clone, PartialEq)]
pub struct QmListEntry {
    pub vmid: u32,
    pub name: String,
    pub status: String,
    pub mem_mb: u64,
    pub bootdisk_gb: f64,
    pub pid: u64,
}

/// `qm list` (`%10s %-20s %-10s %-10s %12s %-10s`; a longer name is not cut, and nothing is
/// printed without VMs, as qemu-server's `PVE::CLI::qm` does).
pub fn format_qm_list(rows: &[QmListEntry]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{:>10} {:<20} {:<10} {:<10} {:>12} {:<10}\n",
        "VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>10} {:<20} {:<10} {:<10} {:>12.2} {:<10}\n",
            r.vmid, r.name, r.status, r.mem_mb, r.bootdisk_gb, r.pid
        ));
    }
    out
}

/// Parse `qm list`.
pub fn parse_qm_list(text: &str) -> Result<Vec<QmListEntry>, OutputError> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"VMID") {
            continue;
        }
        let bad = || OutputError::Unexpected(line.to_string());
        if f.len() < 6 {
            return Err(bad());
        }
        // NAME may be empty or have no spaces (Proxmox names are DNS names).
        let n = f.len();
        rows.push(QmListEntry {
            vmid: f[0].parse().map_err(|_| bad())?,
            name: f[1..n - 4].join(" "),
            status: f[n - 4].to_string(),
            mem_mb: f[n - 3].parse().map_err(|_| bad())?,
            bootdisk_gb: f[n - 2].parse().map_err(|_| bad())?,
            pid: f[n - 1].parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}

/// `pct status` / `qm status`: `status: running`.
pub fn format_status(status: &str) -> String {
    format!("status: {status}\n")
}

/// Parse `status: <state>` (first such line).
pub fn parse_status(text: &str) -> Result<String, OutputError> {
    text.lines()
        .find_map(|l| l.strip_prefix("status:"))
        .map(|s| s.trim().to_string())
        .ok_or_else(|| OutputError::Unexpected(text.to_string()))
}

/// A snapshot to print with [`format_snapshot_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub parent: Option<String>,
    /// Unix seconds; `None` for `current`.
    pub snaptime: Option<u64>,
    pub description: Option<String>,
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of unix seconds.
pub fn format_time(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `listsnapshot`: the tree Proxmox prints (`print_snapshot_tree`), `current` included by the
/// caller as an entry without snaptime and description `You are here!`.
pub fn format_snapshot_tree(snaps: &[SnapshotInfo]) -> String {
    let names: Vec<&str> = snaps.iter().map(|s| s.name.as_str()).collect();
    let key = |s: &SnapshotInfo| {
        (
            s.snaptime.is_none(),
            s.snaptime.unwrap_or(0),
            s.name.clone(),
        )
    };
    let mut roots: Vec<&SnapshotInfo> = snaps
        .iter()
        .filter(|s| s.parent.as_deref().is_none_or(|p| !names.contains(&p)))
        .collect();
    roots.sort_by_key(|s| key(s));
    let mut out = String::new();
    fn walk(
        out: &mut String,
        prefix: &str,
        e: &SnapshotInfo,
        all: &[SnapshotInfo],
        key: &dyn Fn(&SnapshotInfo) -> (bool, u64, String),
    ) {
        let descr = e.description.clone().unwrap_or_default();
        let descr = if descr.is_empty() {
            "no-description".to_string()
        } else {
            descr.lines().last().unwrap_or("").to_string()
        };
        let time = e.snaptime.map(format_time).unwrap_or_default();
        let len = 30usize.saturating_sub(prefix.len());
        out.push_str(&format!(
            "{prefix} {:<len$} {:<23} {descr}\n",
            e.name,
            time,
            len = len
        ));
        let mut kids: Vec<&SnapshotInfo> = all
            .iter()
            .filter(|c| c.parent.as_deref() == Some(e.name.as_str()))
            .collect();
        kids.sort_by_key(|s| key(s));
        let p = format!("    {prefix}");
        for k in kids {
            walk(out, &p, k, all, key);
        }
    }
    for r in roots {
        walk(&mut out, "`->", r, snaps, &key);
    }
    out
}

/// One line of `listsnapshot` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub name: String,
    /// Tree depth (0 for roots).
    pub depth: usize,
    /// `YYYY-MM-DD HH:MM:SS`, absent for `current`.
    pub time: Option<String>,
    pub description: String,
}

/// Parse `pct listsnapshot` / `qm listsnapshot`; the `current` entry is included.
pub fn parse_listsnapshot(text: &str) -> Result<Vec<SnapshotEntry>, OutputError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        let rest = line
            .trim_start()
            .strip_prefix("`->")
            .ok_or_else(|| OutputError::Unexpected(line.to_string()))?;
        let mut it = rest.split_whitespace();
        let name = it
            .next()
            .ok_or_else(|| OutputError::Unexpected(line.to_string()))?
            .to_string();
        let tail: Vec<&str> = it.collect();
        let is_date = |s: &str| s.len() == 10 && s.as_bytes().get(4) == Some(&b'-');
        let (time, descr) = if tail.len() >= 2 && is_date(tail[0]) {
            (
                Some(format!("{} {}", tail[0], tail[1])),
                tail[2..].join(" "),
            )
        } else {
            (None, tail.join(" "))
        };
        out.push(SnapshotEntry {
            name,
            depth: indent / 4,
            time,
            description: descr,
        });
    }
    Ok(out)
}

/// Result of `qm guest exec` / `qm guest exec-status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuestExecStatus {
    pub exited: bool,
    pub exitcode: Option<i32>,
    pub out_data: Option<String>,
    pub err_data: Option<String>,
}

/// What `qm guest exec` printed: a finished command, or only the pid (still running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestExec {
    Finished(GuestExecStatus),
    Running { pid: u64 },
}

fn json_obj(text: &str) -> Result<serde_json::Map<String, Value>, OutputError> {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(OutputError::Unexpected(text.to_string())),
        Err(e) => Err(OutputError::Json(e.to_string())),
    }
}

fn status_of(m: &serde_json::Map<String, Value>) -> GuestExecStatus {
    let truthy = |v: Option<&Value>| match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
        _ => false,
    };
    GuestExecStatus {
        exited: truthy(m.get("exited")),
        exitcode: m.get("exitcode").and_then(Value::as_i64).map(|n| n as i32),
        out_data: m
            .get("out-data")
            .and_then(Value::as_str)
            .map(str::to_string),
        err_data: m
            .get("err-data")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// Parse `qm guest exec` output (`{"pid": N}` or the exit status).
pub fn parse_guest_exec(text: &str) -> Result<GuestExec, OutputError> {
    let m = json_obj(text)?;
    if !m.contains_key("exited") {
        if let Some(pid) = m.get("pid").and_then(Value::as_u64) {
            return Ok(GuestExec::Running { pid });
        }
        return Err(OutputError::Unexpected(text.to_string()));
    }
    Ok(GuestExec::Finished(status_of(&m)))
}

/// Parse `qm guest exec-status` output.
pub fn parse_guest_exec_status(text: &str) -> Result<GuestExecStatus, OutputError> {
    Ok(status_of(&json_obj(text)?))
}

/// Print a JSON value as the Proxmox CLI does (Perl `JSON->pretty->canonical`: sorted keys,
/// three-space indent, `"key" : value`).
pub fn format_json(v: &Value) -> String {
    fn go(v: &Value, indent: usize, out: &mut String) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push_str("{\n");
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for (i, k) in keys.iter().enumerate() {
                    out.push_str(&" ".repeat(indent + 3));
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push_str(" : ");
                    go(&m[*k], indent + 3, out);
                    if i + 1 < keys.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent));
                out.push('}');
            }
            Value::Array(a) if !a.is_empty() => {
                out.push_str("[\n");
                for (i, x) in a.iter().enumerate() {
                    out.push_str(&" ".repeat(indent + 3));
                    go(x, indent + 3, out);
                    if i + 1 < a.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent));
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    go(v, 0, &mut out);
    out.push('\n');
    out
}

/// One row of `pvesm status`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageStatus {
    pub name: String,
    pub storage_type: String,
    /// `active`, `inactive` or `disabled`.
    pub status: String,
    pub total_kib: u64,
    pub used_kib: u64,
    pub avail_kib: u64,
    /// `None` for disabled storages (`N/A`).
    pub percent: Option<f64>,
}

/// `pvesm status` (`%-<w>s %10s %10s %15s %15s %15s %8s`, headers `Total (KiB)`,
/// `Used (KiB)`, `Available (KiB)` as pve-storage's `PVE::CLI::pvesm` prints them).
pub fn format_pvesm_status(rows: &[StorageStatus]) -> String {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0) + 1;
    let mut out = format!(
        "{:<w$} {:>10} {:>10} {:>15} {:>15} {:>15} {:>8}\n",
        "Name",
        "Type",
        "Status",
        "Total (KiB)",
        "Used (KiB)",
        "Available (KiB)",
        "%",
        w = w
    );
    for r in rows {
        let pct = match r.percent {
            Some(p) => format!("{p:7.2}%"),
            None => format!("{:>8}", "N/A"),
        };
        out.push_str(&format!(
            "{:<w$} {:>10} {:>10} {:>15} {:>15} {:>15} {pct}\n",
            r.name,
            r.storage_type,
            r.status,
            r.total_kib,
            r.used_kib,
            r.avail_kib,
            w = w
        ));
    }
    out
}

/// Parse `pvesm status`.
pub fn parse_pvesm_status(text: &str) -> Result<Vec<StorageStatus>, OutputError> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"Name") {
            continue;
        }
        let bad = || OutputError::Unexpected(line.to_string());
        if f.len() != 7 {
            return Err(bad());
        }
        rows.push(StorageStatus {
            name: f[0].to_string(),
            storage_type: f[1].to_string(),
            status: f[2].to_string(),
            total_kib: f[3].parse().map_err(|_| bad())?,
            used_kib: f[4].parse().map_err(|_| bad())?,
            avail_kib: f[5].parse().map_err(|_| bad())?,
            percent: f[6].trim_end_matches('%').parse().ok(),
        });
    }
    Ok(rows)
}

/// One row of `pvesm list <storage>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeEntry {
    pub volid: String,
    pub format: String,
    /// Content type: `images`, `rootdir`, `vztmpl`, `iso`, ...
    pub content: String,
    pub size: u64,
    pub vmid: Option<u32>,
}

/// `pvesm list` (`%-<w>s %-6s %-9s %10s %s`, header `Volid Format Type Size VMID`).
pub fn format_pvesm_list(rows: &[VolumeEntry]) -> String {
    let w = rows.iter().map(|r| r.volid.len()).max().unwrap_or(5).max(5) + 1;
    let mut out = format!(
        "{:<w$} {:<6} {:<9} {:>10} {}\n",
        "Volid",
        "Format",
        "Type",
        "Size",
        "VMID",
        w = w
    );
    for r in rows {
        let vmid = r.vmid.map(|v| v.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{:<w$} {:<6} {:<9} {:>10} {vmid}\n",
            r.volid,
            r.format,
            r.content,
            r.size,
            w = w
        ));
    }
    out
}

/// Parse `pvesm list`.
pub fn parse_pvesm_list(text: &str) -> Result<Vec<VolumeEntry>, OutputError> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"Volid") {
            continue;
        }
        let bad = || OutputError::Unexpected(line.to_string());
        if f.len() < 4 {
            return Err(bad());
        }
        rows.push(VolumeEntry {
            volid: f[0].to_string(),
            format: f[1].to_string(),
            content: f[2].to_string(),
            size: f[3].parse().map_err(|_| bad())?,
            vmid: f.get(4).and_then(|v| v.parse().ok()),
        });
    }
    Ok(rows)
}

/// One row of `pveam list <storage>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateEntry {
    pub volid: String,
    pub size_mb: f64,
}

/// `pveam list` (`%-<w>s %-6s` header `NAME SIZE`, rows `%-<w>s %6.2fMB`).
pub fn format_pveam_list(rows: &[TemplateEntry]) -> String {
    let w = rows.iter().map(|r| r.volid.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<w$} {:<6}\n", "NAME", "SIZE", w = w);
    for r in rows {
        out.push_str(&format!("{:<w$} {:6.2}MB\n", r.volid, r.size_mb, w = w));
    }
    out
}

/// Parse `pveam list`.
pub fn parse_pveam_list(text: &str) -> Result<Vec<TemplateEntry>, OutputError> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"NAME") {
            continue;
        }
        let bad = || OutputError::Unexpected(line.to_string());
        if f.len() != 2 {
            return Err(bad());
        }
        rows.push(TemplateEntry {
            volid: f[0].to_string(),
            size_mb: f[1].trim_end_matches("MB").parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}

/// `pveam available` rows `(section, template)` (`%-20s %s`).
pub fn format_pveam_available(rows: &[(String, String)]) -> String {
    rows.iter().map(|(s, t)| format!("{s:<20} {t}\n")).collect()
}

/// Parse `pveam available`.
pub fn parse_pveam_available(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
