//! A private OpenSSH server on loopback for the tests of node-local work over SSH: its own
//! config, host key and authorized key in a temp folder, a free port, stopped on drop.
//! `.ci/run` installs openssh-server; without it [`start_sshd`] fails in CI and returns `None`
//! elsewhere (the caller skips).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_host::ssh::SshTarget;

const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed");
}

pub fn start_sshd() -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{SSHD} missing: .ci/run installs openssh-server"
        );
        eprintln!("{SSHD} not installed; skipping (CI installs it)");
        return None;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 && !Path::new("/run/sshd").is_dir() {
        panic!("sshd needs its privilege separation folder /run/sshd (.ci/run creates it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(&d.join("host_key"));
    keygen(&d.join("user_key"));
    std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
    // A free port is only free until someone else binds it (another test's server may pick
    // the same one): the server is ready when its own log says it listens; a server that could
    // not bind exits, and another port is tried.
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if let Some(child) = spawn_sshd(d, port) {
            return Some(Sshd { dir, child, port });
        }
    }
    let logs: Vec<String> = std::fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("sshd-"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    panic!("sshd did not start on any of 5 ports:\n{}", logs.join("\n"));
}

/// Starts sshd on `port`; `None` when it exited (the port was taken).
fn spawn_sshd(d: &Path, port: u16) -> Option<Child> {
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
         StrictModes no\nUsePAM no\nLogLevel INFO\n",
        d = d.display()
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let log = d.join("sshd.log");
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new(SSHD)
        .arg("-D")
        .arg("-E")
        .arg(&log)
        .arg("-f")
        .arg(d.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd");
    let listening = format!("Server listening on 127.0.0.1 port {port}");
    let t0 = Instant::now();
    loop {
        if std::fs::read_to_string(&log).is_ok_and(|l| l.contains(&listening)) {
            return Some(child);
        }
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "sshd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    pub fn target(&self, known_hosts: PathBuf) -> SshTarget {
        let mut t = SshTarget::new("127.0.0.1", known_hosts);
        t.port = self.port;
        t.user = user();
        t.identity = Some(self.dir.path().join("user_key"));
        t
    }

    /// Connections the server accepted so far (its log's `Accepted publickey` lines).
    pub fn accepted(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("sshd.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }

    /// A known_hosts file with the server's real host key.
    pub fn known_hosts(&self) -> PathBuf {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut parts = key.split_whitespace();
        let (kind, data) = (parts.next().unwrap(), parts.next().unwrap());
        let p = self.dir.path().join("known_hosts");
        std::fs::write(&p, format!("[127.0.0.1]:{} {kind} {data}\n", self.port)).unwrap();
        p
    }
}
