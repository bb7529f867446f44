//! Configuration checks as `nginx -t` and `dnsmasq --test` make them, to a useful degree: the
//! syntax, the directives and options in use with their argument counts and contexts, the
//! values that reach the network (addresses, ports, URLs), and the files a configuration
//! names (includes, certificates). Messages are worded as the real tools word them.
//!
//! Paths in configurations are absolute paths of the machine they run on; `root` maps them to
//! where that machine's files are (a guest's file tree, or the simulated host root).

pub mod dnsmasq;
pub mod nginx;

use std::path::{Path, PathBuf};

/// `path` (absolute on the checked machine) under `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    if root.as_os_str().is_empty() || root == Path::new("/") {
        PathBuf::from(path)
    } else {
        root.join(path.trim_start_matches('/'))
    }
}

/// Files matching a glob with one `*` in the last component (`/etc/nginx/sites-enabled/*`,
/// `*.conf`), sorted as the tools read them.
pub fn glob(root: &Path, pattern: &str) -> Vec<String> {
    let (dir, file) = pattern.rsplit_once('/').unwrap_or((".", pattern));
    if !file.contains('*') {
        return vec![pattern.to_string()];
    }
    let (pre, post) = file.split_once('*').unwrap_or((file, ""));
    let mut out: Vec<String> = std::fs::read_dir(under(root, dir))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(pre) && n.ends_with(post) && !n.starts_with('.'))
                .map(|n| format!("{dir}/{n}"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
