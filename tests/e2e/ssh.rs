//! Node-local work over SSH (`phoenix_host::ssh`) against a real OpenSSH server on loopback:
//! the test starts its own `sshd` (temp config, host key and authorized key, a free port).
//! `.ci/run` installs openssh-server; without it the test fails and says so (skipped only
//! outside CI).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_host::ssh::{run, SshError, SshTarget};

const SSHD: &str = "/usr/sbin/sshd";

struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn start_sshd() -> Option<Sshd> {
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
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
         StrictModes no\nUsePAM no\nLogLevel ERROR\n",
        d = d.display()
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sshd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Sshd { dir, child, port })
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    fn target(&self, known_hosts: PathBuf) -> SshTarget {
        let mut t = SshTarget::new("127.0.0.1", known_hosts);
        t.port = self.port;
        t.user = user();
        t.identity = Some(self.dir.path().join("user_key"));
        t
    }

    /// A known_hosts file with the server's real host key.
    fn known_hosts(&self) -> PathBuf {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut parts = key.split_whitespace();
        let (kind, data) = (parts.next().unwrap(), parts.next().unwrap());
        let p = self.dir.path().join("known_hosts");
        std::fs::write(&p, format!("[127.0.0.1]:{} {kind} {data}\n", self.port)).unwrap();
        p
    }
}

#[test]
fn argv_stdin_exit_code_and_stderr_survive_the_trip() {
    let Some(sshd) = start_sshd() else { return };
    let t = sshd.target(sshd.known_hosts());
    let hostile = [
        "it's",
        "$(touch /tmp/phoenix-pwned)",
        "`id`",
        "a; b && c | d",
        "new\nline",
        "*",
        "",
        "--x=\"y\"",
    ];
    let mut argv = vec!["printf", "%s\\0"];
    argv.extend(hostile);
    let out = run(&t, &argv, None).unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_string)
        .collect();
    assert_eq!(
        &got[..hostile.len()],
        hostile.map(str::to_string).as_slice()
    );
    assert!(!Path::new("/tmp/phoenix-pwned").exists());

    let out = run(&t, &["sh", "-c", "echo oops >&2; exit 7"], None).unwrap();
    assert_eq!(out.code, 7);
    assert_eq!(out.stderr.trim(), "oops");

    let pushed = sshd.dir.path().join("pushed");
    let target = pushed.display().to_string();
    let data: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    let out = run(
        &t,
        &["sh", "-c", "cat > \"$1\"", "sh", &target],
        Some(&data),
    )
    .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read(&pushed).unwrap(), data);
}

#[test]
fn an_unknown_host_key_is_refused_and_never_recorded() {
    let Some(sshd) = start_sshd() else { return };
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let e = run(&sshd.target(empty.clone()), &["true"], None).unwrap_err();
    assert!(matches!(e, SshError::HostKey { .. }), "{e:?}");
    assert!(
        e.to_string().contains("never accepted automatically"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "the host key was recorded"
    );
    // A different key under the server's name is refused the same way.
    let wrong = sshd.dir.path().join("wrong_known_hosts");
    keygen(&sshd.dir.path().join("other_key"));
    let other = std::fs::read_to_string(sshd.dir.path().join("other_key.pub")).unwrap();
    let mut p = other.split_whitespace();
    std::fs::write(
        &wrong,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            sshd.port,
            p.next().unwrap(),
            p.next().unwrap()
        ),
    )
    .unwrap();
    let e = run(&sshd.target(wrong), &["true"], None).unwrap_err();
    assert!(matches!(e, SshError::HostKey { .. }), "{e:?}");
}
