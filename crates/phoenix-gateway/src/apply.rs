//! Putting a generated config where its service reads it, without ever leaving the service on a
//! broken file: compare with what is there (equal: nothing happens), write the new text
//! atomically, validate it with the service's own check, reload; a failed check or reload puts
//! the previous text back (and reloads again after a failed reload), then reports the failure
//! with the checker's own words.
//!
//! Files are reached through a [`FileTarget`]: the host ([`HostFiles`], paths under
//! `PHOENIX_HOST_ROOT`) or a container ([`GuestFiles`], through `pct exec` / `pct push` only).
//! Commands are argv vectors run by an [`Exec`]; no shell is involved.

use std::path::{Path, PathBuf};

/// The outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs argv vectors.
pub trait Exec {
    fn run(&mut self, argv: &[String]) -> std::io::Result<Output>;
}

/// The real thing: `std::process::Command`.
#[derive(Debug, Default)]
pub struct Processes;

impl Exec for Processes {
    fn run(&mut self, argv: &[String]) -> std::io::Result<Output> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command"))?;
        let out = std::process::Command::new(prog).args(args).output()?;
        Ok(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{target}: {path}: {why}")]
    Io {
        target: String,
        path: String,
        why: String,
    },
    #[error("{target}: {path}: the new configuration was refused by `{check}`; the previous file is kept and the service was not reloaded:\n{output}")]
    Invalid {
        target: String,
        path: String,
        check: String,
        output: String,
    },
    #[error("{target}: `{command}` failed after {path} changed; the previous file was put back:\n{output}")]
    ReloadFailed {
        target: String,
        path: String,
        command: String,
        output: String,
    },
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    /// `--dry-run`: what would change.
    WouldChange(Diff),
    Changed(Diff),
}

/// Lines that appear only in the old or only in the new text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

impl Diff {
    pub fn of(old: Option<&str>, new: &str) -> Diff {
        let old: Vec<&str> = old.map(|o| o.lines().collect()).unwrap_or_default();
        let new_lines: Vec<&str> = new.lines().collect();
        Diff {
            removed: old
                .iter()
                .filter(|l| !new_lines.contains(l))
                .map(|l| l.to_string())
                .collect(),
            added: new_lines
                .iter()
                .filter(|l| !old.contains(l))
                .map(|l| l.to_string())
                .collect(),
        }
    }
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.removed {
            writeln!(f, "-{l}")?;
        }
        for l in &self.added {
            writeln!(f, "+{l}")?;
        }
        Ok(())
    }
}

/// Where files are read and written, and commands run.
pub trait FileTarget {
    /// `host`, `CT 101`: for messages.
    fn name(&self) -> String;
    fn read(&mut self, path: &str) -> Result<Option<String>, ApplyError>;
    /// Replaces the file atomically (temporary file, then rename).
    fn write(&mut self, path: &str, text: &str, mode: u32) -> Result<(), ApplyError>;
    fn remove(&mut self, path: &str) -> Result<(), ApplyError>;
    fn run(&mut self, argv: &[String]) -> Result<Output, ApplyError>;
}

/// A config file to put in place, with its check and reload commands.
#[derive(Debug, Clone)]
pub struct ConfigFile<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub mode: u32,
    /// Checks the whole configuration with the new file in place (`nginx -t`).
    pub check: Option<Vec<String>>,
    /// Makes the service use it (`systemctl reload nginx`).
    pub reload: Option<Vec<String>>,
}

/// Applies `file` on `target` (see the module documentation).
pub fn apply(
    target: &mut dyn FileTarget,
    file: &ConfigFile<'_>,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let old = target.read(file.path)?;
    if old.as_deref() == Some(file.text) {
        return Ok(Applied::Unchanged);
    }
    let diff = Diff::of(old.as_deref(), file.text);
    if dry_run {
        return Ok(Applied::WouldChange(diff));
    }
    target.write(file.path, file.text, file.mode)?;
    if let Some(check) = &file.check {
        let out = target.run(check)?;
        if out.code != 0 {
            restore(target, file, old.as_deref())?;
            return Err(ApplyError::Invalid {
                target: target.name(),
                path: file.path.to_string(),
                check: check.join(" "),
                output: format!("{}{}", out.stdout, out.stderr)
                    .trim_end()
                    .to_string(),
            });
        }
    }
    if let Some(reload) = &file.reload {
        let out = target.run(reload)?;
        if out.code != 0 {
            restore(target, file, old.as_deref())?;
            let _ = target.run(reload);
            return Err(ApplyError::ReloadFailed {
                target: target.name(),
                path: file.path.to_string(),
                command: reload.join(" "),
                output: format!("{}{}", out.stdout, out.stderr)
                    .trim_end()
                    .to_string(),
            });
        }
    }
    Ok(Applied::Changed(diff))
}

fn restore(
    target: &mut dyn FileTarget,
    file: &ConfigFile<'_>,
    old: Option<&str>,
) -> Result<(), ApplyError> {
    match old {
        Some(text) => target.write(file.path, text, file.mode),
        None => target.remove(file.path),
    }
}

/// The host's files, under a root (`PHOENIX_HOST_ROOT`; empty for `/`).
pub struct HostFiles<E: Exec> {
    pub root: PathBuf,
    pub exec: E,
}

impl<E: Exec> HostFiles<E> {
    pub fn path(&self, p: &str) -> PathBuf {
        if self.root.as_os_str().is_empty() {
            PathBuf::from(p)
        } else {
            self.root.join(p.trim_start_matches('/'))
        }
    }
}

fn io(target: &str, path: &str, e: impl std::fmt::Display) -> ApplyError {
    ApplyError::Io {
        target: target.to_string(),
        path: path.to_string(),
        why: e.to_string(),
    }
}

impl<E: Exec> FileTarget for HostFiles<E> {
    fn name(&self) -> String {
        "host".into()
    }

    fn read(&mut self, path: &str) -> Result<Option<String>, ApplyError> {
        match std::fs::read_to_string(self.path(path)) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("host", path, e)),
        }
    }

    fn write(&mut self, path: &str, text: &str, mode: u32) -> Result<(), ApplyError> {
        write_atomic(&self.path(path), text.as_bytes(), mode).map_err(|e| io("host", path, e))
    }

    fn remove(&mut self, path: &str) -> Result<(), ApplyError> {
        match std::fs::remove_file(self.path(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("host", path, e)),
            _ => Ok(()),
        }
    }

    fn run(&mut self, argv: &[String]) -> Result<Output, ApplyError> {
        self.exec
            .run(argv)
            .map_err(|e| io("host", &argv.join(" "), e))
    }
}

/// Writes through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.phoenix-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A container's files, reached with `pct exec` and `pct push` only.
pub struct GuestFiles<E: Exec> {
    pub ctid: u32,
    pub exec: E,
    /// Where the pushed file is staged on the host.
    pub staging: PathBuf,
}

impl<E: Exec> GuestFiles<E> {
    fn pct(&mut self, args: &[&str]) -> Result<Output, ApplyError> {
        let mut argv = vec!["pct".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let ct = self.ctid;
        self.exec
            .run(&argv)
            .map_err(|e| io(&format!("CT {ct}"), &argv.join(" "), e))
    }
}

impl<E: Exec> FileTarget for GuestFiles<E> {
    fn name(&self) -> String {
        format!("CT {}", self.ctid)
    }

    fn read(&mut self, path: &str) -> Result<Option<String>, ApplyError> {
        let ct = self.ctid.to_string();
        let t = self.pct(&["exec", &ct, "--", "test", "-f", path])?;
        if t.code != 0 {
            return Ok(None);
        }
        let out = self.pct(&["exec", &ct, "--", "cat", path])?;
        if out.code != 0 {
            return Err(io(&self.name(), path, out.stderr.trim()));
        }
        Ok(Some(out.stdout))
    }

    fn write(&mut self, path: &str, text: &str, mode: u32) -> Result<(), ApplyError> {
        let ct = self.ctid.to_string();
        let local = self
            .staging
            .join(format!("ct{}-{}", self.ctid, path.replace('/', "_")));
        write_atomic(&local, text.as_bytes(), 0o600).map_err(|e| io(&self.name(), path, e))?;
        let staged = format!("{path}.phoenix-new");
        let perms = format!("{mode:o}");
        let local_s = local.display().to_string();
        let push = self.pct(&["push", &ct, &local_s, &staged, "--perms", &perms])?;
        let _ = std::fs::remove_file(&local);
        if push.code != 0 {
            return Err(io(&self.name(), path, push.stderr.trim()));
        }
        let mv = self.pct(&["exec", &ct, "--", "mv", "-f", &staged, path])?;
        if mv.code != 0 {
            return Err(io(&self.name(), path, mv.stderr.trim()));
        }
        Ok(())
    }

    fn remove(&mut self, path: &str) -> Result<(), ApplyError> {
        let ct = self.ctid.to_string();
        let out = self.pct(&["exec", &ct, "--", "rm", "-f", path])?;
        if out.code != 0 {
            return Err(io(&self.name(), path, out.stderr.trim()));
        }
        Ok(())
    }

    fn run(&mut self, argv: &[String]) -> Result<Output, ApplyError> {
        let ct = self.ctid.to_string();
        let mut args: Vec<&str> = vec!["exec", &ct, "--"];
        args.extend(argv.iter().map(String::as_str));
        self.pct(&args)
    }
}
