//! `qm` against the simulator binary.
mod common;
use common::*;
use pve::output::{parse_guest_exec, parse_guest_exec_status, GuestExec};

/// User-data that installs the guest agent (Ubuntu's cloud image has none).
const AGENT_USER_DATA: &str = "#cloud-config\npackages: [qemu-guest-agent]\n";

fn vm(s: &Sim) {
    let snippets = s.path("storage/local/snippets");
    std::fs::create_dir_all(&snippets).unwrap();
    std::fs::write(snippets.join("agent.yml"), AGENT_USER_DATA).unwrap();
    let img = s.dir.path().join("noble.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    s.run(
        "qm",
        &[
            "create",
            "8000",
            "--name",
            "ubuntu-tpl",
            "--memory",
            "2048",
            "--cores",
            "2",
            "--net0",
            "virtio,bridge=vmbr0",
            "--scsihw",
            "virtio-scsi-pci",
            "--scsi0",
            &format!("quickOS-vm-disks:0,import-from={}", img.display()),
            "--ide2",
            "quickOS-vm-disks:cloudinit",
            "--boot",
            "order=scsi0",
            "--agent",
            "enabled=1",
            "--ipconfig0",
            "ip=10.0.0.45/24,gw=10.0.0.1",
            "--cicustom",
            "user=local:snippets/agent.yml",
        ],
    )
    .ok();
}

#[test]
fn create_import_cloudinit() {
    let s = Sim::new();
    vm(&s);
    let conf = pve::Conf::parse(&s.read("etc/pve/qemu-server/8000.conf"));
    assert_eq!(
        conf.get("scsi0"),
        Some("quickOS-vm-disks:vm-8000-disk-0,size=2G")
    );
    assert_eq!(conf.get("ide2"), Some("quickOS-vm-disks:vm-8000-cloudinit"));
    assert!(conf
        .get("net0")
        .unwrap_or("")
        .starts_with("virtio=BC:24:11:"));
    s.qm("create 8000 --name x")
        .fails_with("unable to create VM 8000 - VM 8000 already exists");
    let img = s.dir.path().join("noble.img");
    let o = s
        .run(
            "qm",
            &[
                "disk",
                "import",
                "8000",
                img.to_str().unwrap(),
                "quickOS-vm-disks",
            ],
        )
        .ok();
    assert!(o.stdout.contains("unused0"));
    let conf = pve::Conf::parse(&s.read("etc/pve/qemu-server/8000.conf"));
    assert_eq!(conf.get("unused0"), Some("quickOS-vm-disks:vm-8000-disk-1"));
    s.qm("disk import 8000 /nonexistent.img quickOS-vm-disks")
        .fails_with("does not exist");
    s.qm("resize 8000 scsi0 +1G").ok();
    assert!(s
        .read("etc/pve/qemu-server/8000.conf")
        .contains("vm-8000-disk-0,size=3G"));
    s.qm("disk resize 8000 scsi0 1G")
        .fails_with("shrinking disks is not supported");
    // Resizing to the current size is a no-op for qemu-server.
    s.qm("disk resize 8000 scsi0 3G").ok();
    let list = pve::output::parse_qm_list(&s.qm("list").ok().stdout).unwrap();
    assert_eq!(list[0].name, "ubuntu-tpl");
    assert_eq!(list[0].bootdisk_gb, 3.0);
    s.qm("create 8002 --net0 model=bogus")
        .fails_with("net0.model");
    s.qm("create 8002 --scsi0 quickOS-vm-disks:1,cache=bogus")
        .fails_with("scsi0.cache");
}

#[test]
fn template_clone_start_destroy() {
    let s = Sim::new();
    vm(&s);
    s.qm("snapshot 8000 initial").ok();
    s.qm("template 8000")
        .fails_with("unable to create template, because VM contains snapshots");
    s.qm("delsnapshot 8000 initial").ok();
    s.qm("template 8000").ok();
    s.qm("start 8000")
        .fails_with("you can't start a vm if it's a template");
    s.qm("clone 8000 8001 --name docker-vm-01 --full 1").ok();
    s.qm("clone 8000 8001").fails_with("VM 8001 already exists");
    let c = pve::Conf::parse(&s.read("etc/pve/qemu-server/8001.conf"));
    assert_eq!(c.get("name"), Some("docker-vm-01"));
    assert_eq!(
        c.get("scsi0"),
        Some("quickOS-vm-disks:vm-8001-disk-0,size=2G")
    );
    assert_eq!(c.get("ide2"), Some("quickOS-vm-disks:vm-8001-cloudinit"));
    s.qm("start 8001").ok();
    assert_eq!(s.qm("status 8001").ok().stdout, "status: running\n");
    s.qm("destroy 8001")
        .fails_with("VM 8001 is running - destroy failed");
    s.qm("stop 8001").ok();
    s.qm("destroy 8001").ok();
    assert!(!s.exists("storage/quickOS-vm-disks/vm-8001-disk-0"));
    let l = s.qm("listsnapshot 8000").ok().stdout;
    assert!(!l.contains("initial") && l.contains("current"), "{l}");
}

#[test]
fn guest_agent() {
    let s = Sim::new();
    vm(&s);
    s.qm("guest cmd 8000 ping")
        .fails_with("VM 8000 is not running");
    // Longer than the boot itself (cloud-init installs the agent during `qm start`).
    s.faults(r#"{"agent_boot_delay_ms": 2500}"#);
    s.qm("start 8000").ok();
    s.qm("guest cmd 8000 ping")
        .fails_with("QEMU guest agent is not running");
    std::thread::sleep(std::time::Duration::from_millis(2600));
    assert_eq!(s.qm("guest cmd 8000 ping").ok().stdout, "");
    s.qm("agent 8000 ping").ok();
    let ifs = s.qm("guest cmd 8000 network-get-interfaces").ok().stdout;
    assert!(ifs.contains("10.0.0.45"));
    // A disabled agent has no channel: qemu-server finds it configured but not answering.
    s.qm("set 8000 --agent 0").ok();
    s.qm("guest cmd 8000 ping")
        .fails_with("QEMU guest agent is not running");
    s.qm("set 8000 --delete agent").ok();
    s.qm("guest cmd 8000 ping")
        .fails_with("No QEMU guest agent configured");
}

#[test]
fn the_agent_is_a_program_in_the_guest() {
    let s = Sim::new();
    vm(&s);
    // Without user-data installing it, Ubuntu's cloud image has no guest agent.
    s.qm("set 8000 --delete cicustom").ok();
    s.qm("start 8000").ok();
    s.qm("guest cmd 8000 ping")
        .fails_with("QEMU guest agent is not running");
    // A new instance (other user-data) is a first boot again: cloud-init installs it.
    s.qm("stop 8000").ok();
    s.qm("set 8000 --cicustom user=local:snippets/agent.yml")
        .ok();
    s.qm("start 8000").ok();
    s.qm("guest cmd 8000 ping").ok();
    let o = s
        .qm("guest exec 8000 -- dpkg-query -W qemu-guest-agent")
        .ok();
    assert!(
        o.stdout.contains("qemu-guest-agent\\t1:8.2.2"),
        "{}",
        o.stdout
    );
    let log = s.read("guests/8000/exec.log");
    assert!(log.contains(r#""standin":["apt-get","update"]"#), "{log}");
}

#[test]
fn guest_exec_and_timeout() {
    let s = Sim::new();
    vm(&s);
    s.faults(
        r#"{"guest_commands": [
            {"tool": "qm", "contains": "cloud-init status", "exit_code": 0, "stdout": "status: done\n"},
            {"tool": "qm", "contains": "false", "exit_code": 1, "stderr": "nope"},
            {"tool": "qm", "contains": "sleep", "duration_ms": 2500, "exit_code": 0}
        ]}"#,
    );
    s.qm("start 8000").ok();
    let o = s
        .run(
            "qm",
            &[
                "guest",
                "exec",
                "8000",
                "--",
                "cloud-init",
                "status",
                "--wait",
            ],
        )
        .ok();
    match parse_guest_exec(&o.stdout).unwrap() {
        GuestExec::Finished(st) => {
            assert_eq!(st.exitcode, Some(0));
            assert_eq!(st.out_data.as_deref(), Some("status: done\n"));
        }
        other => panic!("{other:?}"),
    }
    // The guest's failure is in the JSON; qm itself exits 0.
    let o = s.qm("guest exec 8000 -- false").ok();
    let GuestExec::Finished(st) = parse_guest_exec(&o.stdout).unwrap() else {
        panic!()
    };
    assert_eq!(st.exitcode, Some(1));
    assert_eq!(st.err_data.as_deref(), Some("nope"));
    // Outlives --timeout: only the pid; exec-status says exited 0 until done.
    let o = s.qm("guest exec 8000 --timeout 1 -- sleep 3").ok();
    let GuestExec::Running { pid } = parse_guest_exec(&o.stdout).unwrap() else {
        panic!("{}", o.stdout)
    };
    let st = parse_guest_exec_status(&s.qm(&format!("guest exec-status 8000 {pid}")).ok().stdout)
        .unwrap();
    assert!(!st.exited);
    std::thread::sleep(std::time::Duration::from_millis(1700));
    let st = parse_guest_exec_status(&s.qm(&format!("guest exec-status 8000 {pid}")).ok().stdout)
        .unwrap();
    assert!(st.exited);
    assert_eq!(st.exitcode, Some(0));
    s.qm("guest exec-status 8000 99999")
        .fails_with("Invalid parameter 'pid'");
    // --pass-stdin is recorded.
    s.run_stdin(
        "qm",
        &["guest", "exec", "8000", "--pass-stdin", "1", "--", "cat"],
        "secret",
    )
    .ok();
    let log = s.read("guests/8000/exec.log");
    assert!(
        log.lines()
            .last()
            .unwrap_or("")
            .contains("\"stdin\":\"secret\""),
        "{log}"
    );
}

#[test]
fn lifecycle_snapshots_set() {
    let s = Sim::new();
    vm(&s);
    s.qm("shutdown 8000").fails_with("VM 8000 not running");
    s.qm("stop 8000").ok();
    s.qm("start 8000").ok();
    s.qm("start 8000").fails_with("VM 8000 already running");
    s.qm("reboot 8000").ok();
    s.qm("shutdown 8000").ok();
    assert_eq!(s.qm("status 8000").ok().stdout, "status: stopped\n");
    s.qm("snapshot 8000 one").ok();
    s.qm("set 8000 --memory 4096 --delete ipconfig0").ok();
    let cfg = s.qm("config 8000").ok().stdout;
    assert!(cfg.contains("memory: 4096\n"));
    assert!(!cfg.contains("ipconfig0"));
    assert!(cfg.contains("parent: one\n"));
    let snap = s.qm("config 8000 --snapshot one").ok().stdout;
    assert!(snap.contains("memory: 2048\n"));
    assert!(snap.contains("snaptime: "));
    s.qm("rollback 8000 one").ok();
    assert!(s.qm("config 8000").ok().stdout.contains("memory: 2048\n"));
    s.qm("delsnapshot 8000 one").ok();
    assert!(!s.read("etc/pve/qemu-server/8000.conf").contains("[one]"));
    s.qm("set 8000 --delete bogus")
        .fails_with("invalid configuration ID 'bogus'");
    s.qm("set 8000 --delete scsi0").ok();
    assert!(s
        .read("etc/pve/qemu-server/8000.conf")
        .contains("unused0: quickOS-vm-disks:vm-8000-disk-0\n"));
    s.qm("unlock 8000").ok();
    s.run("pveam", &["update"]).ok();
    s.qm("destroy 8000 --purge 1").ok();
    assert!(!s.exists("storage/quickOS-vm-disks/vm-8000-disk-0"));
    assert!(!s.exists("storage/quickOS-vm-disks/vm-8000-cloudinit"));
}
