use super::*;

const SAMPLE: &str = "#Phoenix%20template\n#second line\narch: amd64\ncores: 2\nfeatures: nesting=1,keyctl=1\nhostname: tpl\nmemory: 2048\nnet0: name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.200/24,gw=10.0.0.1,type=veth\nmp0: quickOS-lxc-disks:subvol-900-disk-1,mp=/data,size=8G\nmp2: /host/path,mp=/mnt/x\nostype: ubuntu\nparent: pre-configured\nrootfs: quickOS-lxc-disks:subvol-900-disk-0,size=32G\nswap: 512\nunprivileged: 1\nlxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow: a\nlxc.cgroup2.devices.allow: c 195:* rwm\nlxc.mount.auto = proc:rw sys:rw\n\n[pve:pending]\ncores: 4\n\n[base]\ncores: 2\nhostname: tpl\nsnaptime: 1700000000\n\n[pre-configured]\n#after setup\ncores: 2\nhostname: tpl\nparent: base\nsnaptime: 1700000100\n";

#[test]
fn roundtrip_byte_for_byte() {
    let c = Conf::parse(SAMPLE);
    assert_eq!(c.to_string(), SAMPLE);
    // Odd spacing, CRLF, no final newline, unknown lines are kept too.
    let odd = "cores:4\r\nweird line\n  \nmemory:   1024";
    assert_eq!(Conf::parse(odd).to_string(), odd);
    assert_eq!(Conf::parse(odd).get("memory"), Some("1024"));
}

#[test]
fn set_changes_one_line_only() {
    let mut c = Conf::parse(SAMPLE);
    c.set("cores", "4");
    let expected = SAMPLE.replacen("cores: 2\n", "cores: 4\n", 1);
    assert_eq!(c.to_string(), expected);
    // A new key goes in sorted position before the raw lxc lines.
    let mut c = Conf::parse(SAMPLE);
    c.set("onboot", "1");
    let expected = SAMPLE.replacen("ostype: ubuntu\n", "onboot: 1\nostype: ubuntu\n", 1);
    assert_eq!(c.to_string(), expected);
    let mut c = Conf::parse(SAMPLE);
    assert!(c.delete("swap"));
    assert_eq!(c.to_string(), SAMPLE.replacen("swap: 512\n", "", 1));
    assert!(!c.delete("swap"));
}

#[test]
fn accessors() {
    let c = Conf::parse(SAMPLE);
    assert_eq!(c.get("hostname"), Some("tpl"));
    assert_eq!(c.get("parent"), Some("pre-configured"));
    assert_eq!(
        c.description().as_deref(),
        Some("Phoenix template\nsecond line")
    );
    let mps = c.indexed("mp");
    assert_eq!(mps.len(), 2);
    assert_eq!(mps[1].0, 2);
    assert_eq!(c.indexed("net")[0].0, 0);
    let lxc = c.lxc_entries();
    assert_eq!(lxc.len(), 4);
    assert_eq!(lxc[1], ("lxc.cgroup2.devices.allow", "a"));
    assert_eq!(lxc[2], ("lxc.cgroup2.devices.allow", "c 195:* rwm"));
    assert_eq!(lxc[3], ("lxc.mount.auto", "proc:rw sys:rw"));
    assert_eq!(c.snapshots(), vec!["base", "pre-configured"]);
    assert_eq!(
        c.snapshot("pre-configured").and_then(|s| s.description()),
        Some("after setup".to_string())
    );
    assert_eq!(c.pending().and_then(|p| p.get("cores")), Some("4"));
    assert!(c.snapshot("pve:pending").is_none());
}

#[test]
fn lxc_entries_append_in_order() {
    let mut c = Conf::parse("cores: 1\nlxc.a: 1\n");
    c.main_mut().add_lxc("lxc.a", "2");
    c.set("memory", "512");
    assert_eq!(c.to_string(), "cores: 1\nmemory: 512\nlxc.a: 1\nlxc.a: 2\n");
}

#[test]
fn snapshots_add_remove_rollback() {
    let mut c = Conf::parse("#main\ncores: 1\nhostname: a\nunused0: l:vm-1-disk-9\n");
    assert!(c.add_snapshot("s1", 100, Some("first")));
    assert!(!c.add_snapshot("s1", 100, None));
    assert_eq!(c.get("parent"), Some("s1"));
    c.set("cores", "2");
    assert!(c.add_snapshot("s2", 200, None));
    assert_eq!(c.snapshot("s2").and_then(|s| s.get("parent")), Some("s1"));
    assert_eq!(c.snapshot("s2").and_then(|s| s.get("cores")), Some("2"));
    assert_eq!(
        c.to_string(),
        "#main\ncores: 2\nhostname: a\nparent: s2\nunused0: l:vm-1-disk-9\n\n[s1]\n#first\ncores: 1\nhostname: a\nsnaptime: 100\n\n[s2]\ncores: 2\nhostname: a\nparent: s1\nsnaptime: 200\n"
    );
    assert!(c.rollback("s1"));
    assert_eq!(c.get("cores"), Some("1"));
    assert_eq!(c.get("parent"), Some("s1"));
    assert!(c.remove_snapshot("s1"));
    assert_eq!(c.snapshot("s2").and_then(|s| s.get("parent")), None);
    assert_eq!(c.get("parent"), None);
    assert!(!c.remove_snapshot("s1"));
    assert!(c.remove_snapshot("s2"));
    assert_eq!(
        c.to_string(),
        "#main\ncores: 1\nhostname: a\nunused0: l:vm-1-disk-9\n"
    );
}

#[test]
fn description_encoding() {
    let mut c = Conf::parse("cores: 1\n");
    c.main_mut().set_description(Some("50% done\nüber"));
    assert_eq!(c.to_string(), "#50%25 done\n#%C3%BCber\ncores: 1\n");
    assert_eq!(c.description().as_deref(), Some("50% done\nüber"));
    assert_eq!(c.main_text(), "#50% done\n#über\ncores: 1\n");
    c.main_mut().set_description(None);
    assert_eq!(c.to_string(), "cores: 1\n");
    assert_eq!(decode_text("%zz%4"), "%zz%4");
}
