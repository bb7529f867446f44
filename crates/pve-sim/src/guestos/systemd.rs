//! `systemctl`: unit files where systemd keeps them (`/etc/systemd/system`,
//! `/usr/lib/systemd/system`, drop-ins in `<unit>.d/`), enablement as the real `*.wants/`
//! symlinks, and the run state of each unit under `/run/systemd/pve-sim/` (cleared at every
//! boot, when the enabled units start again; see [`super::boot`]). A unit starts only when its
//! `ExecStart` program exists in the guest; otherwise it ends up `failed`.

use super::{Ctx, GuestFs};
use crate::host::{Args, Out};
use crate::R;

const RUN: &str = "/run/systemd/pve-sim";

/// `x` -> `x.service`.
pub fn unit_name(u: &str) -> String {
    if u.contains('.') {
        u.to_string()
    } else {
        format!("{u}.service")
    }
}

/// Path of the unit file, if the unit exists.
pub fn unit_path(fs: &GuestFs, unit: &str) -> Option<String> {
    ["/etc/systemd/system", "/usr/lib/systemd/system"]
        .iter()
        .map(|d| format!("{d}/{unit}"))
        .find(|p| fs.path(p).is_file())
}

/// The unit file followed by its drop-ins (`/etc/systemd/system/<unit>.d/*.conf`).
pub fn unit_text(fs: &GuestFs, unit: &str) -> Option<String> {
    let p = unit_path(fs, unit)?;
    let mut text = fs.read(&p)?;
    let dir = format!("/etc/systemd/system/{unit}.d");
    for f in fs.list(&dir) {
        if f.ends_with(".conf") {
            text.push('\n');
            text.push_str(&fs.read(&format!("{dir}/{f}")).unwrap_or_default());
        }
    }
    Some(text)
}

/// Values of `key=` lines.
pub fn directives(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .collect()
}

fn wanted_by(text: &str) -> Vec<String> {
    directives(text, "WantedBy")
        .iter()
        .chain(directives(text, "RequiredBy").iter())
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

pub fn enable_unit(fs: &GuestFs, unit: &str) -> R<Vec<String>> {
    let Some(path) = unit_path(fs, unit) else {
        return Ok(Vec::new());
    };
    let text = unit_text(fs, unit).unwrap_or_default();
    let mut made = Vec::new();
    for t in wanted_by(&text) {
        let link = format!("/etc/systemd/system/{t}.wants/{unit}");
        if fs.read_link(&link).as_deref() != Some(path.as_str()) {
            fs.symlink(&path, &link)?;
            made.push(format!("Created symlink {link} \u{2192} {path}."));
        }
    }
    Ok(made)
}

pub fn disable_unit(fs: &GuestFs, unit: &str) -> Vec<String> {
    let mut removed = Vec::new();
    for d in fs.list("/etc/systemd/system") {
        if d.ends_with(".wants") || d.ends_with(".requires") {
            let link = format!("/etc/systemd/system/{d}/{unit}");
            if fs.read_link(&link).is_some() {
                fs.remove(&link);
                removed.push(format!("Removed \"{link}\"."));
            }
        }
    }
    removed
}

/// `enabled`, `disabled`, `static`, `masked`, or None when the unit does not exist.
pub fn enablement(fs: &GuestFs, unit: &str) -> Option<&'static str> {
    if fs
        .read_link(&format!("/etc/systemd/system/{unit}"))
        .as_deref()
        == Some("/dev/null")
    {
        return Some("masked");
    }
    let text = unit_text(fs, unit)?;
    let targets = wanted_by(&text);
    if targets.is_empty() {
        return Some("static");
    }
    let on = targets.iter().any(|t| {
        fs.read_link(&format!("/etc/systemd/system/{t}.wants/{unit}"))
            .is_some()
    });
    Some(if on { "enabled" } else { "disabled" })
}

/// `active`, `inactive` or `failed`.
pub fn state(fs: &GuestFs, unit: &str) -> String {
    fs.read(&format!("{RUN}/{unit}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "inactive".into())
}

pub fn is_active(fs: &GuestFs, unit: &str) -> bool {
    state(fs, unit) == "active"
}

/// Units that are active now.
pub fn active_units(fs: &GuestFs) -> Vec<String> {
    fs.list(RUN)
        .into_iter()
        .filter(|u| is_active(fs, u))
        .collect()
}

pub fn set_active(fs: &GuestFs, unit: &str, on: bool) -> R<()> {
    let p = format!("{RUN}/{unit}");
    if on {
        fs.write(&p, b"active\n")
    } else {
        fs.remove(&p);
        Ok(())
    }
}

/// Starts a unit: active when its program exists, else failed. Err: systemd's message.
pub fn start(fs: &GuestFs, unit: &str) -> Result<(), String> {
    let Some(text) = unit_text(fs, unit) else {
        return Err(format!("Failed to start {unit}: Unit {unit} not found."));
    };
    let exec = directives(&text, "ExecStart")
        .into_iter()
        .rfind(|v| !v.is_empty())
        .unwrap_or_default();
    let prog = exec
        .trim_start_matches(['-', '@', '!', '+', ':'])
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let runnable = prog.is_empty() || fs.exists(&prog);
    if !runnable {
        let _ = fs.write(&format!("{RUN}/{unit}"), b"failed\n");
        return Err(format!(
            "Job for {unit} failed because the control process exited with error code.\nSee \"systemctl status {unit}\" and \"journalctl -xeu {unit}\" for details."
        ));
    }
    if let Err(e) = super::pki::on_unit_started(fs, unit) {
        let _ = fs.write(&format!("{RUN}/{unit}"), b"failed\n");
        return Err(format!(
            "Job for {unit} failed because the control process exited with error code.\nSee \"systemctl status {unit}\" and \"journalctl -xeu {unit}\" for details.\n{e}"
        ));
    }
    set_active(fs, unit, true).map_err(|e| e.msg)?;
    super::docker::on_unit_started(fs, unit);
    Ok(())
}

/// `systemctl ...`.
pub fn systemctl(ctx: &mut Ctx, argv: &[String]) -> Out {
    let a = Args::parse(argv, &["p", "property", "type", "state", "signal", "s"]);
    let quiet = a.has(&["q", "quiet"]);
    let now = a.has(&["now"]);
    let Some(cmd) = a.pos.first().cloned() else {
        return Out::err(
            1,
            "pve-sim: systemctl without a command (list-units) is not simulated",
        );
    };
    let units: Vec<String> = a.pos[1..].iter().map(|u| unit_name(u)).collect();
    let fs = &ctx.fs;
    let mut out = String::new();
    let mut err = String::new();
    let mut code = 0;
    let mut changed = false;
    match cmd.as_str() {
        "daemon-reload" | "daemon-reexec" => changed = true,
        "is-active" | "is-failed" => {
            code = 3;
            let mut all = true;
            for u in &units {
                let s = state(fs, u);
                if !quiet {
                    out.push_str(&format!("{s}\n"));
                }
                let hit = if cmd == "is-active" {
                    s == "active"
                } else {
                    s == "failed"
                };
                all &= hit;
            }
            if all && !units.is_empty() {
                code = 0;
            } else if cmd == "is-failed" {
                code = 1;
            }
        }
        "is-enabled" => {
            code = 1;
            let mut any_unknown = false;
            let mut all = true;
            for u in &units {
                match enablement(fs, u) {
                    Some(e) => {
                        if !quiet {
                            out.push_str(&format!("{e}\n"));
                        }
                        all &= matches!(e, "enabled" | "static");
                    }
                    None => {
                        any_unknown = true;
                        if !quiet {
                            err.push_str(&format!(
                                "Failed to get unit file state for {u}: No such file or directory\n"
                            ));
                        }
                    }
                }
            }
            if all && !any_unknown && !units.is_empty() {
                code = 0;
            }
        }
        "enable" | "disable" | "mask" | "unmask" => {
            for u in &units {
                if unit_text(fs, u).is_none() && cmd != "unmask" {
                    return Out::err(
                        1,
                        format!("Failed to {cmd} unit: Unit file {u} does not exist."),
                    );
                }
                match cmd.as_str() {
                    "enable" => match enable_unit(fs, u) {
                        Ok(msgs) if msgs.is_empty() && enablement(fs, u) == Some("static") => {
                            err.push_str("The unit files have no installation config (WantedBy=, RequiredBy=, UpheldBy=,\nAlso=, or Alias= settings in the [Install] section, and DefaultInstance= for\ntemplate units). This means they are not meant to be enabled or disabled using systemctl.\n");
                        }
                        Ok(msgs) => {
                            changed |= !msgs.is_empty();
                            for m in msgs {
                                err.push_str(&m);
                                err.push('\n');
                            }
                        }
                        Err(e) => return Out::err(1, e.msg),
                    },
                    "disable" => {
                        for m in disable_unit(fs, u) {
                            changed = true;
                            err.push_str(&m);
                            err.push('\n');
                        }
                    }
                    "mask" => {
                        let _ = fs.symlink("/dev/null", &format!("/etc/systemd/system/{u}"));
                        changed = true;
                    }
                    _ => {
                        if fs.read_link(&format!("/etc/systemd/system/{u}")).as_deref()
                            == Some("/dev/null")
                        {
                            fs.remove(&format!("/etc/systemd/system/{u}"));
                            changed = true;
                        }
                    }
                }
                if now {
                    let r = if cmd == "enable" {
                        if is_active(fs, u) {
                            Ok(())
                        } else {
                            changed = true;
                            start(fs, u)
                        }
                    } else if cmd == "disable" && is_active(fs, u) {
                        changed = true;
                        set_active(fs, u, false).map_err(|e| e.msg)
                    } else {
                        Ok(())
                    };
                    if let Err(e) = r {
                        err.push_str(&e);
                        err.push('\n');
                        code = 1;
                    }
                }
            }
        }
        "start" | "restart" | "try-restart" | "reload-or-restart" => {
            for u in &units {
                if cmd == "try-restart" && !is_active(fs, u) {
                    continue;
                }
                changed = true;
                if let Err(e) = start(fs, u) {
                    err.push_str(&e);
                    err.push('\n');
                    code = if e.contains("not found") { 5 } else { 1 };
                }
            }
        }
        "reload" => {
            for u in &units {
                if unit_text(fs, u).is_none() {
                    return Out::err(5, format!("Failed to reload {u}: Unit {u} not found."));
                }
                if !is_active(fs, u) {
                    err.push_str(&format!("{u} is not active, cannot reload.\n"));
                    code = 1;
                }
                changed = true;
            }
        }
        "stop" => {
            for u in &units {
                if unit_text(fs, u).is_none() {
                    return Out::err(5, format!("Failed to stop {u}: Unit {u} not loaded."));
                }
                changed |= is_active(fs, u);
                let _ = set_active(fs, u, false);
                super::pki::on_unit_stopped(fs, u);
            }
        }
        "cat" => {
            for u in &units {
                match unit_path(fs, u) {
                    Some(p) => {
                        out.push_str(&format!("# {p}\n{}", fs.read(&p).unwrap_or_default()));
                        let dir = format!("/etc/systemd/system/{u}.d");
                        for f in fs.list(&dir) {
                            out.push_str(&format!(
                                "\n# {dir}/{f}\n{}",
                                fs.read(&format!("{dir}/{f}")).unwrap_or_default()
                            ));
                        }
                    }
                    None => {
                        err.push_str(&format!("No files found for {u}.\n"));
                        code = 1;
                    }
                }
            }
        }
        "status" => {
            for u in &units {
                match unit_path(fs, u) {
                    Some(p) => {
                        let s = state(fs, u);
                        let e = enablement(fs, u).unwrap_or("disabled");
                        out.push_str(&format!("\u{25cf} {u}\n     Loaded: loaded ({p}; {e}; preset: enabled)\n     Active: {s}\n"));
                        if s != "active" {
                            code = 3;
                        }
                    }
                    None => {
                        err.push_str(&format!("Unit {u} could not be found.\n"));
                        code = 4;
                    }
                }
            }
        }
        "is-system-running" => out.push_str("running\n"),
        other => {
            return Out::err(1, format!("pve-sim: 'systemctl {other}' is not simulated"));
        }
    }
    Out {
        code,
        stdout: out,
        stderr: err,
        mutating: changed,
    }
}
