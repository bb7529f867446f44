//! Downloading one file into a cache through the host's `curl`: resumable and checksummed.
//!
//! The transfer goes to `<dest>.part` with `curl -C -`, so an interrupted download (a dropped
//! connection, a stalled mirror, Ctrl-C) continues from where it stopped on the next run instead
//! of starting over; only a complete, verified file is renamed to `dest`, so `dest` existing
//! always means "done". The expected SHA-256 comes from a `SHA256SUMS` file (Ubuntu's format:
//! `<hex> *<name>`), fetched first:
//!
//! - listed and equal: the file is kept; listed and different: the part file is deleted and
//!   the download fails naming both sums (resuming a corrupt file would never repair it);
//! - `SHA256SUMS` unreachable or silent about the file: a warning, and the file is kept because
//!   curl reported the transfer complete.
//!
//! Why `curl` rather than an HTTP crate: the download is then one more host tool run through
//! [`Runner`] (an argv, in the simulator's invocation log; under `--dry-run` the managers'
//! executor plans the download and never calls [`fetch`]), and the
//! simulated host serves it. The sum is computed here, in Rust, with `sha2`, so verification
//! does not depend on which `sha256sum` the host has or on parsing its output.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::tool::{Runner, ToolError};

/// `curl` options shared by both requests: follow redirects, fail on HTTP errors, no progress
/// meter but errors shown, and give up on a mirror that does not answer.
const CURL_COMMON: &[&str] = &["-fL", "-sS", "--connect-timeout", "30", "--retry", "3"];
/// The image transfer: retries with a pause, and a stall (under 1 KiB/s for 60 s) ends it so the
/// next run can resume it, instead of a fixed `--max-time` that a slow but working link would hit.
const CURL_TRANSFER: &[&str] = &[
    "--retry-delay",
    "5",
    "--speed-limit",
    "1024",
    "--speed-time",
    "60",
];
/// `SHA256SUMS` is a few hundred bytes: two minutes is generous.
const CURL_SUMS: &[&str] = &["--max-time", "120"];

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub url: &'a str,
    /// The final path; the transfer writes `<dest>.part` next to it.
    pub dest: &'a Path,
    /// `SHA256SUMS` listing the file under `name`; `None`: the file is not verified.
    pub sums_url: Option<&'a str>,
    /// The file's name in `SHA256SUMS`.
    pub name: &'a str,
    /// Prefix of progress lines on stderr (`VM 8000`).
    pub label: &'a str,
}

/// How the downloaded file was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Its SHA-256 (hex) equals the one `SHA256SUMS` lists.
    Verified(String),
    /// Not checked, and why (already printed as a warning).
    Unverified(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("download of {url} failed: {source}; {kept}")]
    Transfer {
        url: String,
        source: ToolError,
        kept: String,
    },
    #[error("checksum mismatch for {name}: {sums_url} lists sha256 {expected}, the download has {actual}; deleted {part}, run again to download it anew")]
    Mismatch {
        name: String,
        sums_url: String,
        expected: String,
        actual: String,
        part: String,
    },
    #[error("cannot {what} {}: {why}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DownloadError + 'a {
    move |e| DownloadError::Io {
        what,
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// The partial file next to `dest`: `<dest>.part`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// `SHA256SUMS` in the folder of `url` (`https://host/a/b/file` -> `https://host/a/b/SHA256SUMS`).
pub fn sums_beside(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (folder, file) = rest.rsplit_once('/')?;
    (!file.is_empty()).then(|| format!("{scheme}://{folder}/SHA256SUMS"))
}

/// The sum listed for `name` in a `SHA256SUMS` text (`<hex> *<name>` or `<hex>  <name>`).
pub fn listed_sum(sums: &str, name: &str) -> Option<String> {
    sums.lines().find_map(|line| {
        let (sum, file) = line.trim().split_once(char::is_whitespace)?;
        let file = file.trim_start();
        let file = file.strip_prefix('*').unwrap_or(file);
        let valid = sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit());
        (file == name && valid).then(|| sum.to_ascii_lowercase())
    })
}

/// SHA-256 of a file, read in 1 MiB pieces (cloud images are hundreds of MiB).
pub fn sha256_file(path: &Path) -> Result<String, DownloadError> {
    let mut f = std::fs::File::open(path).map_err(io("read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The expected sum, or why there is none (fetching `SHA256SUMS` is a read: it runs once).
fn expected_sum(runner: &Runner, req: &Request) -> Result<String, String> {
    let Some(sums_url) = req.sums_url else {
        return Err("no SHA256SUMS to check against".into());
    };
    let mut args: Vec<&str> = CURL_COMMON.to_vec();
    args.extend(CURL_SUMS);
    args.push(sums_url);
    let out = runner
        .probe("curl", &args)
        .map_err(|e| format!("cannot fetch {sums_url}: {e}"))?;
    if !out.success() {
        let why = out.stderr.trim();
        return Err(format!(
            "cannot fetch {sums_url} (curl exit {}: {why})",
            out.code
        ));
    }
    listed_sum(&out.stdout, req.name)
        .ok_or_else(|| format!("{sums_url} does not list {}", req.name))
}

/// Downloads `req.url` to `req.dest` (see the module documentation). `dest` must not exist yet.
pub fn fetch(runner: &Runner, req: &Request) -> Result<Verification, DownloadError> {
    let part = part_path(req.dest);
    let part_s = part.display().to_string();
    if let Some(dir) = req.dest.parent() {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    }
    let expected = expected_sum(runner, req);
    if let Err(why) = &expected {
        log::debug!("{}: {why}", req.label);
    }
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    if have > 0 {
        eprintln!(
            "{}: resuming the download of {} at {have} bytes",
            req.label, req.url
        );
    } else {
        eprintln!("{}: downloading {}", req.label, req.url);
    }
    let mut args: Vec<&str> = CURL_COMMON.to_vec();
    args.extend(CURL_TRANSFER);
    args.extend(["-C", "-", "-o", part_s.as_str(), req.url]);
    runner
        .change("curl", &args)
        .map_err(|source| transfer_error(req, &part, source))?;
    let actual = sha256_file(&part)?;
    let verification = match expected {
        Ok(want) if want == actual => Verification::Verified(actual),
        Ok(want) => {
            std::fs::remove_file(&part).map_err(io("delete", &part))?;
            return Err(DownloadError::Mismatch {
                name: req.name.to_string(),
                sums_url: req.sums_url.unwrap_or_default().to_string(),
                expected: want,
                actual,
                part: part_s,
            });
        }
        Err(why) => {
            eprintln!(
                "Warning: {}: {why}; keeping the completed download of {} unverified (sha256 {actual})",
                req.label, req.name
            );
            Verification::Unverified(why)
        }
    };
    std::fs::rename(&part, req.dest).map_err(io("rename", &part))?;
    if let Verification::Verified(sum) = &verification {
        eprintln!(
            "{}: {} verified (sha256 {sum}, as listed in SHA256SUMS)",
            req.label, req.name
        );
    }
    Ok(verification)
}

/// A failed transfer: the part file stays for the next run, and the message says how much of it
/// there is.
fn transfer_error(req: &Request, part: &Path, source: ToolError) -> DownloadError {
    let have = std::fs::metadata(part).map_or(0, |m| m.len());
    let kept = if have > 0 {
        format!(
            "the {have} bytes received are kept in {} and the next run continues from there",
            part.display()
        )
    } else {
        "nothing was received".to_string()
    };
    DownloadError::Transfer {
        url: req.url.to_string(),
        source,
        kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_file_sits_beside_the_download() {
        assert_eq!(
            sums_beside(
                "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
            )
            .as_deref(),
            Some("https://cloud-images.ubuntu.com/noble/current/SHA256SUMS")
        );
        assert_eq!(sums_beside("https://host/"), None);
        assert_eq!(sums_beside("not a url"), None);
    }

    #[test]
    fn listed_sums_in_both_formats() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text = format!("{a} *one.img\n{b}  two.img\nxyz *three.img\n");
        assert_eq!(listed_sum(&text, "one.img"), Some(a));
        assert_eq!(listed_sum(&text, "two.img"), Some("b".repeat(64)));
        assert_eq!(listed_sum(&text, "three.img"), None, "not a sha256");
        assert_eq!(listed_sum(&text, "four.img"), None);
    }

    #[test]
    fn part_file_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.img");
        assert_eq!(part_path(&dest), dir.path().join("x.img.part"));
        std::fs::write(&dest, b"abc").unwrap();
        assert_eq!(
            sha256_file(&dest).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
