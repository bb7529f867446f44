use super::*;
use std::path::PathBuf;

fn reference_dir() -> Option<PathBuf> {
    // <workspace root>/../shared/reference/proxmox; the crate is <root>/crates/pve.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("../shared/reference/proxmox");
    dir.is_dir().then_some(dir)
}

/// The committed spec must equal what the generator makes of the reference (when present).
/// `PVE_SPEC_REGENERATE=1` rewrites it instead.
#[test]
fn spec_is_current() {
    let Some(dir) = reference_dir() else {
        eprintln!("reference not found next to the workspace; skipping staleness check");
        return;
    };
    let generated = gen::generate(&dir).expect("generate spec");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spec/pve-cli.json");
    if std::env::var_os("PVE_SPEC_REGENERATE").is_some() {
        std::fs::write(&path, &generated).expect("write spec");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "crates/pve/spec/pve-cli.json is stale: run PVE_SPEC_REGENERATE=1 cargo test -p pve spec_is_current"
    );
}

fn v(tool: &str, args: &str) -> Result<Call, SpecError> {
    let argv: Vec<String> = args.split_whitespace().map(str::to_string).collect();
    validate(tool, &argv)
}

#[test]
fn embedded_spec_loads() {
    let s = spec();
    assert!(s.tools["pct"].contains_key("create"));
    assert!(s.tools["qm"].contains_key("guest exec"));
    assert!(s.tools["pvesm"].contains_key("status"));
    assert!(s.tools["pveam"].contains_key("download"));
    assert!(s.conf["pct"].contains_key("rootfs"));
}

#[test]
fn pct_create_accepted() {
    let c = v(
        "pct",
        "create 950 local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst --cores 2 --memory 2048 \
         --net0 name=eth0,bridge=vmbr0,ip=10.0.0.1/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,firewall=1 \
         --rootfs quickOS-lxc-disks:32 --unprivileged 1 --features nesting=1,keyctl=1 --mp0 local:8,mp=/data \
         --startup order=2,up=30 --hostname ct950 --storage quickOS-lxc-disks",
    )
    .unwrap();
    assert_eq!(c.command, "create");
    assert_eq!(c.vmid(), Some(950));
    assert_eq!(c.opt("cores"), Some("2"));
    assert!(c.is_mutating());
}

#[test]
fn rejections() {
    assert!(matches!(
        v("pct", "create 950 x --bogus 1"),
        Err(SpecError::UnknownOption(_))
    ));
    assert!(matches!(
        v("pct", "create 950"),
        Err(SpecError::NotEnoughArguments(_))
    ));
    assert!(matches!(
        v("pct", "status 950 951"),
        Err(SpecError::TooManyArguments(_))
    ));
    assert!(matches!(
        v("pct", "frobnicate 950"),
        Err(SpecError::UnknownCommand(_))
    ));
    let e = v("pct", "create 950 x --cores 0").unwrap_err().to_string();
    assert!(
        e.contains("cores: value must have a minimum value of 1"),
        "{e}"
    );
    let e = v("pct", "create 950 x --cores abc")
        .unwrap_err()
        .to_string();
    assert!(e.contains("type check ('integer') failed"), "{e}");
    let e = v("pct", "create 950 x --arch sparc")
        .unwrap_err()
        .to_string();
    assert!(e.contains("enumeration"), "{e}");
    let e = v("pct", "create 950 x --net0 name=eth0,colour=red")
        .unwrap_err()
        .to_string();
    assert!(e.contains("net0.colour: property is not defined"), "{e}");
    let e = v("pct", "create 950 x --net0 bridge=vmbr0")
        .unwrap_err()
        .to_string();
    assert!(e.contains("net0.name: property is missing"), "{e}");
    let e = v("pct", "create 950 x --net0 name=eth0,ip=10.0.0.300/24")
        .unwrap_err()
        .to_string();
    assert!(e.contains("net0.ip"), "{e}");
    let e = v("pct", "create 950 x --unprivileged maybe")
        .unwrap_err()
        .to_string();
    assert!(e.contains("boolean"), "{e}");
    assert!(v("pct", "create 99 x").is_err(), "vmid below 100");
    assert!(
        v("pct", "set 950 --net32 name=eth0").is_err(),
        "net index above 31"
    );
    assert!(v("pct", "set 950 --mp256 a:1,mp=/x").is_err());
    assert!(v("pct", "set 950 --mp255 a:1,mp=/x").is_ok());
    assert!(v("pct", "set 950 --mp0 a:1").is_err(), "mp requires mp=");
    assert!(v("pct", "set 950 --features nesting=2").is_err());
    assert!(v("pct", "resize 950 rootfs 10X").is_err());
    assert!(v("pct", "resize 950 rootfs +10G").is_ok());
    assert!(v("pct", "resize 950 disk9 10G").is_err());
}

#[test]
fn booleans() {
    for b in ["0", "1", "yes", "no", "true", "false", "on", "off", "ON"] {
        assert!(v("pct", &format!("set 950 --onboot {b}")).is_ok(), "{b}");
    }
    let c = v("pct", "destroy 950 --force").unwrap();
    assert!(c.flag("force"));
    let c = v("pct", "destroy 950 --purge 0 --force").unwrap();
    assert!(!c.flag("purge"));
    assert!(c.flag("force"));
}

#[test]
fn exec_forms() {
    let c = v("pct", "exec 950 -- bash -c true").unwrap();
    assert_eq!(c.extra, vec!["bash", "-c", "true"]);
    let c = v("qm", "guest exec 8001 --timeout 5 -- ls -l /").unwrap();
    assert_eq!(c.command, "guest exec");
    assert_eq!(c.opt("timeout"), Some("5"));
    assert_eq!(c.extra, vec!["ls", "-l", "/"]);
    assert!(v("qm", "guest exec 8001 --pass-stdin 1 -- cat").is_ok());
    assert!(v("qm", "guest exec-status 8001 42").is_ok());
    assert!(v("qm", "guest exec-status 8001 x").is_err());
    let c = v("qm", "guest cmd 8001 ping").unwrap();
    assert!(!c.is_mutating());
    assert!(v("qm", "guest cmd 8001 dance").is_err());
    let c = v("qm", "agent 8001 ping").unwrap();
    assert_eq!(c.command, "guest cmd");
}

#[test]
fn qm_forms() {
    assert!(v(
        "qm",
        "create 8000 --name tpl --memory 2048 --cores 2 --net0 virtio,bridge=vmbr0 \
         --scsihw virtio-scsi-pci --scsi0 quickOS-vm-disks:0,import-from=/tmp/x.img,size=10G \
         --ide2 quickOS-vm-disks:cloudinit --boot order=scsi0 --serial0 socket --vga serial0 \
         --agent enabled=1 --ipconfig0 ip=10.0.0.45/24,gw=10.0.0.1 --ciuser phoenix \
         --cicustom user=local:snippets/u.yml"
    )
    .is_ok());
    assert!(v(
        "qm",
        "set 8001 --net0 virtio=52:54:00:12:34:56,bridge=vmbr0"
    )
    .is_ok());
    assert!(v("qm", "set 8001 --net0 model=bogus").is_err());
    assert!(v("qm", "set 8001 --agent 1").is_ok());
    assert!(v("qm", "set 8001 --agent enabled=1,type=usb").is_err());
    assert!(v("qm", "set 8001 --ipconfig0 ip=dhcp").is_ok());
    assert!(v("qm", "set 8001 --ipconfig0 ip=dhcp,mask=1").is_err());
    assert!(v("qm", "set 8001 --scsi0 local:1,cache=bogus").is_err());
    assert!(v(
        "qm",
        "disk import 8000 /tmp/x.img quickOS-vm-disks --format raw"
    )
    .is_ok());
    assert!(v("qm", "disk import 8000 /tmp/x.img").is_err());
    let c = v("qm", "resize 8000 scsi0 +5G").unwrap();
    assert_eq!(c.command, "disk resize");
    assert!(v(
        "qm",
        "clone 8000 8001 --name docker --full 1 --snapname initial"
    )
    .is_ok());
    assert!(v("qm", "list --full").is_ok());
}

#[test]
fn other_tools() {
    assert!(v("pvesm", "status").is_ok());
    assert!(v("pvesm", "status --storage local").is_ok());
    assert!(v("pvesm", "alloc local 100 vm-100-disk-0.raw 4G").is_ok());
    assert!(v(
        "pveam",
        "download local ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
    )
    .is_ok());
    assert!(v("pveam", "download local").is_err());
    assert!(v("pveam", "available --section system").is_ok());
    assert!(v("pveam", "available --section bogus").is_err());
    assert!(!is_mutating("pvesm", "status"));
    assert!(!is_mutating("pveam", "list"));
    assert!(is_mutating("pveam", "download"));
    assert!(!is_mutating("pct", "listsnapshot"));
    assert!(is_mutating("pct", "set"));
    assert!(is_mutating("qm", "guest cmd"));
    assert!(!is_mutating("qm", "guest cmd ping"));
    assert!(!is_mutating("qm", "agent ping"));
    assert!(is_mutating("qm", "guest exec"));
}
