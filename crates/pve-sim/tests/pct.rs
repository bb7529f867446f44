//! `pct` against the simulator binary.
mod common;
use common::*;

#[test]
fn tools_refuse_without_root() {
    let s = Sim::bare();
    let o = std::process::Command::new(s.bin.join("pct"))
        .arg("list")
        .env_remove("PVE_SIM_ROOT")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("PVE_SIM_ROOT"));
    // Set but not initialised: also refused.
    let o = s.run("qm", &["list"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("pve-sim init"));
}

#[test]
fn create_writes_conf_and_volume() {
    let s = Sim::new();
    s.pct(&format!(
        "create 950 fastData-shared-iso:vztmpl/{TEMPLATE} --rootfs quickOS-lxc-disks:32 --cores 2 \
         --memory 2048 --hostname vllm --unprivileged true --features nesting=1 \
         --net0 name=eth0,bridge=vmbr0,ip=10.0.0.150/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC \
         --mp0 quickOS-lxc-disks:10,mp=/data"
    ))
    .ok();
    let conf = s.read("etc/pve/lxc/950.conf");
    assert!(
        conf.contains("rootfs: quickOS-lxc-disks:subvol-950-disk-0,size=32G\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp0: quickOS-lxc-disks:subvol-950-disk-1,mp=/data,size=10G\n"),
        "{conf}"
    );
    assert!(conf.contains("unprivileged: 1\n"));
    assert!(conf.contains("hostname: vllm\n"));
    assert!(conf.contains("ostype: ubuntu\n"));
    assert!(conf.contains("net0: name=eth0,bridge=vmbr0,ip=10.0.0.150/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,type=veth\n"), "{conf}");
    let vol = s.path("storage/quickOS-lxc-disks/subvol-950-disk-0");
    assert_eq!(std::fs::metadata(vol).unwrap().len(), 32 << 30);
    // `pct config` prints the same keys.
    let out = s.pct("config 950").ok().stdout;
    assert_eq!(out, pve::Conf::parse(&conf).main_text());
    assert_eq!(
        pve::output::parse_status(&s.pct("status 950").ok().stdout).unwrap(),
        "stopped"
    );
}

#[test]
fn create_on_dir_storage_and_absolute_template() {
    let s = Sim::new();
    s.pct(&format!(
        "create 951 /fastData/shared-iso/template/cache/{TEMPLATE} --rootfs fastData-dir-disks:4"
    ))
    .ok();
    let conf = s.read("etc/pve/lxc/951.conf");
    assert!(
        conf.contains("rootfs: fastData-dir-disks:951/vm-951-disk-0.raw,size=4G\n"),
        "{conf}"
    );
    assert!(s.exists("host/fastData/dir-disks/images/951/vm-951-disk-0.raw"));
    s.pct("create 952 /fastData/shared-iso/template/cache/missing.tar.zst --rootfs fastData-dir-disks:4")
        .fails_with("No such file");
    s.pct("create 952 local:vztmpl/missing.tar.zst --rootfs fastData-dir-disks:4")
        .fails_with("volume 'local:vztmpl/missing.tar.zst' does not exist");
    s.pct(&format!(
        "create 952 fastData-shared-iso:vztmpl/{TEMPLATE} --rootfs fastData-shared-iso:4"
    ))
    .fails_with("does not support container directories");
    assert!(!s.exists("etc/pve/lxc/952.conf"));
    // A bare size goes to --storage.
    s.pct(&format!("create 953 fastData-shared-iso:vztmpl/{TEMPLATE} --storage quickOS-lxc-disks --rootfs 3 --mp0 2,mp=/x"))
        .ok();
    let conf = s.read("etc/pve/lxc/953.conf");
    assert!(
        conf.contains("rootfs: quickOS-lxc-disks:subvol-953-disk-0,size=3G\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp0: quickOS-lxc-disks:subvol-953-disk-1,mp=/x,size=2G\n"),
        "{conf}"
    );
    // No rootfs: 4G on --storage.
    s.pct(&format!(
        "create 954 fastData-shared-iso:vztmpl/{TEMPLATE} --storage fastData-dir-disks"
    ))
    .ok();
    assert!(s
        .read("etc/pve/lxc/954.conf")
        .contains("rootfs: fastData-dir-disks:954/vm-954-disk-0.raw,size=4G\n"));
}

#[test]
fn create_existing_fails() {
    let s = Sim::new();
    s.ct(950);
    s.pct(&format!(
        "create 950 fastData-shared-iso:vztmpl/{TEMPLATE} --rootfs quickOS-lxc-disks:8"
    ))
    .fails_with("CT 950 already exists");
}

#[test]
fn rejected_arguments() {
    let s = Sim::new();
    let t = format!("fastData-shared-iso:vztmpl/{TEMPLATE}");
    let cases: &[(&str, &str)] = &[
        ("--bogus 1", "Unknown option: bogus"),
        (
            "--arch sparc",
            "arch: value 'sparc' does not have a value in the enumeration",
        ),
        ("--cores 9000", "cores: value may only be 8192"),
        ("--cores two", "cores: type check ('integer') failed"),
        (
            "--net0 name=eth0,colour=red",
            "net0.colour: property is not defined in schema",
        ),
        ("--net0 bridge=vmbr0", "net0.name: property is missing"),
        (
            "--unprivileged maybe",
            "unprivileged: type check ('boolean') failed",
        ),
        ("--mp0 quickOS-lxc-disks:1", "mp0.mp: property is missing"),
    ];
    for (opts, msg) in cases {
        let argv: Vec<&str> = ["create", "960", t.as_str()]
            .into_iter()
            .chain(opts.split_whitespace())
            .collect();
        let o = s.run("pct", &argv);
        assert_eq!(o.code, 255, "{opts}");
        assert!(o.stderr.contains(msg), "{opts}: {}", o.stderr);
    }
    s.pct("create 960").fails_with("400 not enough arguments");
    s.pct("status").fails_with("400 not enough arguments");
    s.pct("status 960 961").fails_with("400 too many arguments");
    s.pct("frobnicate 960")
        .fails_with("unknown command 'pct frobnicate'");
    assert!(!s.exists("etc/pve/lxc/960.conf"));
    // Rejected calls are logged too.
    assert!(s.log().iter().any(|l| l["exit_code"] == 255));
}

#[test]
fn set_keeps_other_bytes() {
    let s = Sim::new();
    s.ct(900);
    // A hand-edited file: comments, raw lxc keys in both syntaxes, pending and snapshot sections.
    let original = "#Template%20base\narch: amd64\ncores: 2\nhostname: ct900\nmemory: 2048\nostype: ubuntu\nparent: base\nrootfs: quickOS-lxc-disks:subvol-900-disk-0,size=8G\nswap: 512\nlxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow: a\nlxc.mount.auto = proc:rw sys:rw\n\n[pve:pending]\nmemory: 4096\n\n[base]\ncores: 2\nsnaptime: 1700000000\n";
    std::fs::write(s.path("etc/pve/lxc/900.conf"), original).unwrap();
    s.pct("set 900 --cores 4").ok();
    assert_eq!(
        s.read("etc/pve/lxc/900.conf"),
        original.replacen("cores: 2\n", "cores: 4\n", 1)
    );
    s.pct("set 900 --onboot 1").ok();
    s.pct("set 900 --delete onboot").ok();
    s.pct("set 900 --cores 2").ok();
    assert_eq!(s.read("etc/pve/lxc/900.conf"), original);
    s.pct("set 900 --delete nosuchkey")
        .fails_with("invalid configuration ID 'nosuchkey'");
    s.pct("set 900 --description hello").ok();
    assert!(s
        .read("etc/pve/lxc/900.conf")
        .starts_with("#hello\narch: amd64\n"));
}

#[test]
fn set_allocates_mount_points() {
    let s = Sim::new();
    s.ct(900);
    s.pct("set 900 --mp1 quickOS-lxc-disks:5,mp=/srv").ok();
    let conf = s.read("etc/pve/lxc/900.conf");
    assert!(
        conf.contains("mp1: quickOS-lxc-disks:subvol-900-disk-1,mp=/srv,size=5G\n"),
        "{conf}"
    );
    s.pct("set 900 --delete mp1").ok();
    let conf = s.read("etc/pve/lxc/900.conf");
    assert!(
        conf.contains("unused0: quickOS-lxc-disks:subvol-900-disk-1\n"),
        "{conf}"
    );
}

#[test]
fn resize_grows_never_shrinks() {
    let s = Sim::new();
    s.ct(900);
    s.pct("resize 900 rootfs +2G").ok();
    assert!(s.read("etc/pve/lxc/900.conf").contains("size=10G"));
    s.pct("resize 900 rootfs 12G").ok();
    assert!(s.read("etc/pve/lxc/900.conf").contains("size=12G"));
    let vol = s.path("storage/quickOS-lxc-disks/subvol-900-disk-0");
    assert_eq!(std::fs::metadata(vol).unwrap().len(), 12 << 30);
    s.pct("resize 900 rootfs 4G")
        .fails_with("unable to shrink disk size");
    s.pct("resize 900 rootfs 12G")
        .fails_with("disk is already at specified size");
    s.pct("resize 900 mp7 4G").fails_with("does not exist");
    s.pct("resize 900 rootfs 4X")
        .fails_with("400 Parameter verification failed");
}

#[test]
fn lifecycle() {
    let s = Sim::new();
    s.ct(900);
    s.pct("stop 900").fails_with("CT 900 not running");
    s.pct("start 900").ok();
    assert_eq!(s.pct("status 900").ok().stdout, "status: running\n");
    s.pct("start 900").fails_with("CT 900 already running");
    s.pct("reboot 900").ok();
    s.pct("shutdown 900").ok();
    assert_eq!(s.pct("status 900").ok().stdout, "status: stopped\n");
    s.pct("start 901").fails_with("does not exist");
    let list = pve::output::parse_pct_list(&s.pct("list").ok().stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "ct900");
    assert_eq!(list[0].status, "stopped");
}

#[test]
fn snapshots() {
    let s = Sim::new();
    s.ct(900);
    s.pct("snapshot 900 base --description first").ok();
    s.pct("set 900 --cores 3").ok();
    s.pct("snapshot 900 pre-configured").ok();
    s.pct("snapshot 900 base")
        .fails_with("snapshot name 'base' already used");
    s.pct("snapshot 900 bad!name")
        .fails_with("invalid configuration ID");
    let conf = pve::Conf::parse(&s.read("etc/pve/lxc/900.conf"));
    assert_eq!(conf.get("parent"), Some("pre-configured"));
    assert_eq!(
        conf.snapshot("pre-configured")
            .and_then(|s| s.get("parent")),
        Some("base")
    );
    assert!(conf
        .snapshot("base")
        .and_then(|s| s.get("snaptime"))
        .is_some());
    let tree = pve::output::parse_listsnapshot(&s.pct("listsnapshot 900").ok().stdout).unwrap();
    let names: Vec<(&str, usize)> = tree.iter().map(|e| (e.name.as_str(), e.depth)).collect();
    assert_eq!(
        names,
        vec![("base", 0), ("pre-configured", 1), ("current", 2)]
    );
    assert_eq!(tree[0].description, "first");
    // config shows no snapshot sections; --snapshot shows one.
    let cfg = s.pct("config 900").ok().stdout;
    assert!(!cfg.contains('['));
    assert!(cfg.contains("cores: 3"));
    let snap = s.pct("config 900 --snapshot base").ok().stdout;
    assert!(
        snap.contains("cores: 1") || !snap.contains("cores: 3"),
        "{snap}"
    );
    s.pct("config 900 --snapshot nope")
        .fails_with("snapshot 'nope' does not exist");
    s.pct("rollback 900 base").ok();
    let conf = pve::Conf::parse(&s.read("etc/pve/lxc/900.conf"));
    assert_eq!(conf.get("cores"), None);
    assert_eq!(conf.get("parent"), Some("base"));
    s.pct("delsnapshot 900 base").ok();
    let conf = pve::Conf::parse(&s.read("etc/pve/lxc/900.conf"));
    assert_eq!(conf.snapshots(), vec!["pre-configured"]);
    assert_eq!(conf.get("parent"), None);
    s.pct("delsnapshot 900 base")
        .fails_with("snapshot 'base' does not exist");
    s.pct("rollback 900 base")
        .fails_with("snapshot 'base' does not exist");
}

#[test]
fn template_and_clone_rules() {
    let s = Sim::new();
    s.ct(900);
    s.pct("clone 900 901").fails_with("snapname");
    s.pct("clone 900 901 --snapname nope")
        .fails_with("snapshot 'nope' does not exist");
    s.pct("clone 999 901").fails_with("does not exist");
    s.pct("snapshot 900 pre").ok();
    s.pct("clone 900 901 --snapname pre --hostname c1").ok();
    s.pct("start 900").ok();
    // pve-container's order: snapshots, already a template, running.
    s.pct("template 900")
        .fails_with("unable to create template, because CT contains snapshots");
    s.pct("delsnapshot 900 pre").ok();
    s.pct("template 900")
        .fails_with("you can't convert a CT to template if the CT is running");
    s.pct("stop 900").ok();
    s.pct("template 900").ok();
    assert!(s.read("etc/pve/lxc/900.conf").contains("template: 1\n"));
    s.pct("template 900")
        .fails_with("you can't convert a template to a template");
    s.pct("start 900")
        .fails_with("you can't start a CT if it's a template");
    s.pct("snapshot 900 current")
        .fails_with("unable to use snapshot name 'current' (reserved name)");
    s.pct("clone 900 901").fails_with("CT 901 already exists");
    s.pct("clone 900 902 --hostname c2 --full 1").ok();
    let src = pve::Conf::parse(&s.read("etc/pve/lxc/900.conf"));
    let c = pve::Conf::parse(&s.read("etc/pve/lxc/902.conf"));
    assert_eq!(c.get("hostname"), Some("c2"));
    assert_eq!(
        c.get("rootfs"),
        Some("quickOS-lxc-disks:subvol-902-disk-0,size=8G")
    );
    assert_eq!(c.get("template"), None);
    assert_eq!(c.get("lock"), None);
    assert!(c.snapshots().is_empty());
    assert_ne!(c.get("net0"), src.get("net0"), "clone gets a new MAC");
    assert_eq!(src.get("lock"), None, "source lock removed after clone");
    assert!(s.exists("storage/quickOS-lxc-disks/subvol-902-disk-0"));
}

#[test]
fn destroy() {
    let s = Sim::new();
    s.ct(900);
    s.pct("start 900").ok();
    s.pct("destroy 900")
        .fails_with("unable to destroy CT 900 - container is running");
    std::fs::write(s.path("etc/pve/firewall/900.fw"), "[OPTIONS]\nenable: 1\n").unwrap();
    s.pct("destroy 900 --force").ok();
    assert!(!s.exists("etc/pve/lxc/900.conf"));
    assert!(!s.exists("etc/pve/firewall/900.fw"));
    assert!(!s.exists("storage/quickOS-lxc-disks/subvol-900-disk-0"));
    s.pct("destroy 900").fails_with("does not exist");
}

#[test]
fn exec_push_pull() {
    let s = Sim::new();
    s.ct(900);
    s.pct("exec 900 -- true")
        .fails_with("container '900' not running!");
    s.pct("start 900").ok();
    s.run(
        "pct",
        &["exec", "900", "--", "bash", "-c", "apt-get update"],
    )
    .ok();
    let log: Vec<serde_json::Value> = s
        .read("guests/900/exec.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The stand-in the shell ran is logged first, then the pct exec call itself.
    assert_eq!(log[0]["standin"], serde_json::json!(["apt-get", "update"]));
    assert_eq!(log[0]["changed"], true);
    assert_eq!(
        log[1]["cmd"],
        serde_json::json!(["bash", "-c", "apt-get update"])
    );
    let src = s.dir.path().join("motd");
    std::fs::write(&src, "hello\n").unwrap();
    s.run(
        "pct",
        &[
            "push",
            "900",
            src.to_str().unwrap(),
            "/etc/motd",
            "--perms",
            "0644",
        ],
    )
    .ok();
    assert_eq!(s.read("guests/900/rootfs/etc/motd"), "hello\n");
    let back = s.dir.path().join("back");
    s.run("pct", &["pull", "900", "/etc/motd", back.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read_to_string(back).unwrap(), "hello\n");
    assert_eq!(s.pct("exec 900 -- cat /etc/motd").ok().stdout, "hello\n");
    assert_eq!(s.pct("exec 900 -- test -f /etc/nope").code, 1);
    s.pct("pull 900 /etc/nope /tmp/x")
        .fails_with("failed to open");
}

#[test]
fn pveam_and_pvesm() {
    let s = Sim::new();
    let avail = s
        .run("pveam", &["available", "--section", "system"])
        .ok()
        .stdout;
    assert!(avail.contains("debian-12-standard_12.7-1_amd64.tar.zst"));
    assert!(avail.contains(TEMPLATE));
    s.run(
        "pveam",
        &["download", "fastData-shared-iso", "nope.tar.zst"],
    )
    .fails_with("no such template");
    s.run("pveam", &["download", "quickOS-lxc-disks", TEMPLATE])
        .fails_with("does not support templates");
    let list = pve::output::parse_pveam_list(
        &s.run("pveam", &["list", "fastData-shared-iso"]).ok().stdout,
    )
    .unwrap();
    assert_eq!(
        list[0].volid,
        format!("fastData-shared-iso:vztmpl/{TEMPLATE}")
    );
    let st = pve::output::parse_pvesm_status(&s.run("pvesm", &["status"]).ok().stdout).unwrap();
    let names: Vec<&str> = st.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "fastData-dir-disks",
            "fastData-shared-iso",
            "local",
            "quickOS-lxc-disks",
            "quickOS-vm-disks"
        ]
    );
    s.ct(900);
    let vols =
        pve::output::parse_pvesm_list(&s.run("pvesm", &["list", "quickOS-lxc-disks"]).ok().stdout)
            .unwrap();
    assert_eq!(vols[0].volid, "quickOS-lxc-disks:subvol-900-disk-0");
    assert_eq!(vols[0].vmid, Some(900));
    assert_eq!(
        s.run("pvesm", &["path", "quickOS-lxc-disks:subvol-900-disk-0"])
            .ok()
            .stdout,
        "/quickOS/lxc-disks/subvol-900-disk-0\n"
    );
    s.run(
        "pvesm",
        &["alloc", "quickOS-vm-disks", "100", "vm-100-disk-5", "1G"],
    )
    .ok();
    assert!(s.exists("storage/quickOS-vm-disks/vm-100-disk-5"));
    s.run("pvesm", &["status", "--storage", "nope"])
        .fails_with("storage 'nope' does not exist");
}

#[test]
fn guest_files_follow_snapshots_rollback_and_clones() {
    let s = Sim::new();
    s.ct(900);
    s.pct("start 900").ok();
    let write = |id: &str, text: &str| {
        s.run(
            "pct",
            &[
                "exec",
                id,
                "--",
                "sh",
                "-c",
                &format!("echo {text} > /root/state"),
            ],
        )
        .ok();
    };
    let read = |id: &str| {
        s.run("pct", &["exec", id, "--", "cat", "/root/state"])
            .ok()
            .stdout
    };
    write("900", "before");
    s.pct("snapshot 900 snap1").ok();
    write("900", "after");
    assert_eq!(read("900"), "after\n");
    // A clone of the snapshot starts with what 900 had then.
    s.pct("clone 900 901 --snapname snap1").ok();
    s.pct("start 901").ok();
    assert_eq!(read("901"), "before\n");
    // Rollback restores the files (and stops the container, as pct does).
    s.pct("rollback 900 snap1").ok();
    s.pct("start 900").ok();
    assert_eq!(read("900"), "before\n");
    // A fresh container has no Docker, and no command that is neither real nor simulated.
    let o = s.run("pct", &["exec", "900", "--", "docker", "ps"]);
    assert_eq!(o.code, 127, "{}", o.stderr);
    assert!(o.stderr.contains("docker"), "{}", o.stderr);
    let o = s.run(
        "pct",
        &[
            "exec",
            "900",
            "--",
            "sh",
            "-c",
            "command -v jq || echo none",
        ],
    );
    assert_eq!(o.stdout, "none\n");
    assert!(s
        .read("guests/900/rootfs/etc/os-release")
        .contains("VERSION_CODENAME=noble"));
}

#[test]
fn pvesm_add_set_remove_follow_pve_storage() {
    let s = Sim::new();
    s.run("pvesm", &["add", "dir", "d1", "--content", "images"])
        .fails_with("missing value for required option 'path'");
    s.run(
        "pvesm",
        &[
            "add",
            "zfspool",
            "z1",
            "--pool",
            "tank/a",
            "--content",
            "bogus",
        ],
    )
    .fails_with("invalid content type 'bogus'");
    s.run("pvesm", &["add", "dir", "d1", "--path", "/nowhere", "--is_mountpoint", "yes"])
        .fails_with("create storage failed: unable to activate storage 'd1' - directory is expected to be a mount point but is not mounted: '/nowhere'");
    std::fs::create_dir_all(s.path("host/data/d1")).unwrap();
    s.run(
        "pvesm",
        &[
            "add",
            "dir",
            "d1",
            "--path",
            "/data/d1",
            "--content",
            "iso,images",
            "--is_mountpoint",
            "yes",
        ],
    )
    .ok();
    s.run("pvesm", &["add", "dir", "d1", "--path", "/data/d1"])
        .fails_with("create storage failed: storage ID 'd1' already defined");
    s.run(
        "pvesm",
        &[
            "add",
            "zfspool",
            "z1",
            "--pool",
            "tank/a",
            "--content",
            "iso,images",
        ],
    )
    .ok();
    let cfg = s.read("etc/pve/storage.cfg");
    assert!(
        cfg.contains("zfspool: z1\n\tpool tank/a\n\tcontent images\n"),
        "{cfg}"
    );
    s.run("pvesm", &["set", "d1", "--delete", "path"])
        .fails_with("update storage failed: unable to delete required option 'path'");
    s.run(
        "pvesm",
        &["set", "d1", "--content", "iso", "--delete", "content"],
    )
    .fails_with("cannot set and delete property 'content' at the same time!");
    s.run("pvesm", &["set", "d1", "--content", "iso"]).ok();
    assert!(s
        .read("etc/pve/storage.cfg")
        .contains("dir: d1\n\tpath /data/d1\n\tcontent iso\n"));
    s.run("pvesm", &["remove", "nope"])
        .fails_with("delete storage failed: storage 'nope' does not exist");
    s.run("pvesm", &["remove", "z1"]).ok();
    assert!(!s.read("etc/pve/storage.cfg").contains("z1"));
}
