//! Node-local work over SSH (`phoenix_host::ssh`) against a real OpenSSH server on loopback:
//! the test starts its own `sshd` (`phoenix_tests::sshd`: temp config, host key and authorized
//! key, a free port). `.ci/run` installs openssh-server; without it the test fails and says so
//! (skipped only outside CI).

use std::path::Path;

use phoenix_host::ssh::{run, SshError};
use phoenix_tests::sshd::{keygen, start_sshd};

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
