//! Disks and ZFS: `lsblk`, `blkid`, `wipefs`, `sgdisk`, `zpool`, `zfs`.

use std::collections::BTreeMap;

use super::state::{Disk, Host, Pool};
use super::{Args, Out};

fn dev_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn no_device(tool: &str, path: &str) -> Out {
    Out::err(32, format!("{tool}: {path}: not a block device"))
}

/// `lsblk [-d] [-n] [-r] [-o COLS] [DEVICE...]`
pub fn lsblk(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "output"]);
    let cols: Vec<String> = args
        .val(&["o", "output"])
        .unwrap_or("NAME,TYPE,FSTYPE")
        .split(',')
        .map(|c| c.trim().to_uppercase())
        .collect();
    let devices: Vec<String> = if args.pos.is_empty() {
        h.state.disks.keys().cloned().collect()
    } else {
        args.pos.clone()
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for dev in &devices {
        if !h.state.disk_exists(dev) {
            return no_device("lsblk", dev);
        }
        let d = h.state.disk(dev);
        rows.push(lsblk_row(
            &cols,
            &dev_name(dev),
            dev,
            "disk",
            d.fstype.as_deref().filter(|_| d.partitions == 0),
        ));
        if !args.has(&["d", "nodeps"]) {
            for i in 1..=d.partitions {
                let name = format!("{}-part{i}", dev_name(dev));
                let fs = d.fstype.as_deref().filter(|_| i == 1);
                rows.push(lsblk_row(
                    &cols,
                    &name,
                    &format!("{dev}-part{i}"),
                    "part",
                    fs,
                ));
            }
        }
    }
    let mut text = String::new();
    if !args.has(&["n", "noheadings"]) {
        text.push_str(&cols.join(" "));
        text.push('\n');
    }
    for r in rows {
        text.push_str(r.join(" ").trim_end());
        text.push('\n');
    }
    Out::ok(text)
}

fn lsblk_row(
    cols: &[String],
    name: &str,
    path: &str,
    kind: &str,
    fstype: Option<&str>,
) -> Vec<String> {
    cols.iter()
        .map(|c| match c.as_str() {
            "NAME" | "KNAME" => name.to_string(),
            "PATH" => path.to_string(),
            "TYPE" => kind.to_string(),
            "FSTYPE" => fstype.unwrap_or("").to_string(),
            "SIZE" => "1.8T".to_string(),
            _ => String::new(),
        })
        .collect()
}

/// `blkid [-p] [-o export|value] [-s TAG] DEVICE`: exit 2 when the device carries nothing.
pub fn blkid(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "output", "s", "match-tag"]);
    let Some(dev) = args.pos.first() else {
        return Out::err(
            2,
            "blkid: no device given (the stand-in only probes one device)",
        );
    };
    if !h.state.disk_exists(dev) {
        return Out::err(2, "");
    }
    let d = h.state.disk(dev);
    let mut tags: Vec<(&str, String)> = Vec::new();
    if let Some(pt) = &d.pttype {
        tags.push(("PTTYPE", pt.clone()));
    }
    if let Some(t) = &d.fstype {
        if let Some(l) = &d.label {
            tags.push(("LABEL", l.clone()));
        }
        tags.push(("TYPE", t.clone()));
    }
    let wanted = args.vals(&["s", "match-tag"]);
    tags.retain(|(k, _)| wanted.is_empty() || wanted.contains(k));
    if tags.is_empty() {
        return Out {
            code: 2,
            ..Out::default()
        };
    }
    let text = match args.val(&["o", "output"]).unwrap_or("full") {
        "export" => {
            let mut s = format!("DEVNAME={dev}\n");
            for (k, v) in &tags {
                s.push_str(&format!("{k}={v}\n"));
            }
            s
        }
        "value" => tags.iter().map(|(_, v)| format!("{v}\n")).collect(),
        _ => format!(
            "{dev}: {}\n",
            tags.iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    Out::ok(text)
}

/// `wipefs [-n] [-a] DEVICE`: lists signatures; `-a` erases them (unless `-n`).
pub fn wipefs(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    let Some(dev) = args.pos.first() else {
        return Out::err(1, "wipefs: no device specified");
    };
    if !h.state.disk_exists(dev) {
        return Out::err(
            1,
            format!(
                "wipefs: error: {dev}: probing initialization failed: No such file or directory"
            ),
        );
    }
    let d = h.state.disk(dev);
    let mut sigs: Vec<String> = Vec::new();
    if let Some(t) = &d.fstype {
        sigs.push(t.clone());
    }
    if let Some(pt) = &d.pttype {
        sigs.push(pt.clone());
    }
    if !args.has(&["a", "all"]) || args.has(&["n", "no-act"]) {
        let mut s = String::new();
        if !sigs.is_empty() {
            s.push_str("DEVICE OFFSET TYPE UUID LABEL\n");
            for t in &sigs {
                s.push_str(&format!("{} 0x0 {t}\n", dev_name(dev)));
            }
        }
        return Out::ok(s);
    }
    let text: String = sigs
        .iter()
        .map(|t| format!("{dev}: 8 bytes were erased at offset 0x00000000 ({t})\n"))
        .collect();
    // Signatures and, with the partition table, its partition entries are gone.
    h.state.set_disk(dev, Disk::default());
    Out::changed(text)
}

/// `sgdisk --zap-all|-Z DEV`, `--clear|-o DEV`, `--new|-n N:S:E DEV`, `--print|-p DEV`.
pub fn sgdisk(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["n", "new", "t", "typecode", "c", "change-name"]);
    let Some(dev) = args.pos.last() else {
        return Out::err(2, "Usage: sgdisk [OPTION...] <device>");
    };
    if !h.state.disk_exists(dev) {
        return Out::err(2, format!("Problem opening {dev} for reading! Error is 2.\nThe specified file does not exist!"));
    }
    let mut d = h.state.disk(dev);
    if args.has(&["Z", "zap-all"]) {
        h.state.set_disk(dev, Disk::default());
        return Out::changed("GPT data structures destroyed! You may now partition the disk using fdisk or\nother utilities.\n");
    }
    let mut changed = false;
    if args.has(&["o", "clear"]) {
        d = Disk {
            pttype: Some("gpt".into()),
            ..Disk::default()
        };
        changed = true;
    }
    for _ in args.vals(&["n", "new"]) {
        d.pttype = Some("gpt".into());
        d.partitions += 1;
        changed = true;
    }
    if changed {
        h.state.set_disk(dev, d);
        return Out::changed("The operation has completed successfully.\n");
    }
    let mut s = format!("Disk {dev}: 3907029168 sectors, 1.8 TiB\n");
    s.push_str(&format!(
        "Partition table: {}\n",
        d.pttype.as_deref().unwrap_or("none")
    ));
    for i in 1..=d.partitions {
        s.push_str(&format!(
            "   {i}            2048      3907029134   1.8 TiB     8300\n"
        ));
    }
    Out::ok(s)
}

fn valid_zfs_name(n: &str) -> bool {
    !n.is_empty()
        && n.split('/').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
        })
}

/// `zpool list|create|status`.
pub fn zpool(h: &mut Host, a: &[String]) -> Out {
    let Some(cmd) = a.first() else {
        return Out::err(2, "usage: zpool <command> [args]");
    };
    match cmd.as_str() {
        "list" => zpool_list(h, &a[1..]),
        "status" => zpool_status(h, &a[1..]),
        "create" => zpool_create(h, &a[1..]),
        "import" if a.len() == 1 => Out::ok("no pools available to import\n"),
        other => Out::err(2, format!("pve-sim: 'zpool {other}' is not simulated")),
    }
}

fn zpool_list(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o"]);
    let cols: Vec<&str> = args
        .val(&["o"])
        .unwrap_or("name,size,alloc,free,health")
        .split(',')
        .collect();
    let names: Vec<String> = if args.pos.is_empty() {
        h.state.pools.keys().cloned().collect()
    } else {
        args.pos.clone()
    };
    let mut s = header(&cols, &args);
    for n in &names {
        if !h.state.pools.contains_key(n) {
            return Out::err(1, format!("cannot open '{n}': no such pool"));
        }
        let row: Vec<&str> = cols
            .iter()
            .map(|c| match *c {
                "name" => n.as_str(),
                "size" | "free" => "1.81T",
                "alloc" => "0",
                "health" => "ONLINE",
                _ => "-",
            })
            .collect();
        s.push_str(&row.join(if args.has(&["H"]) { "\t" } else { "  " }));
        s.push('\n');
    }
    Out::ok(s)
}

fn zpool_status(h: &mut Host, a: &[String]) -> Out {
    let names: Vec<String> = if a.is_empty() {
        h.state.pools.keys().cloned().collect()
    } else {
        a.to_vec()
    };
    if names.is_empty() {
        return Out::ok("no pools available\n");
    }
    let mut s = String::new();
    for n in names {
        let Some(p) = h.state.pools.get(&n) else {
            return Out::err(1, format!("cannot open '{n}': no such pool"));
        };
        s.push_str(&format!(
            "  pool: {n}\n state: ONLINE\nconfig:\n\n\t{n}\tONLINE\n"
        ));
        for d in &p.disks {
            s.push_str(&format!("\t  {}\tONLINE\n", dev_name(d)));
        }
        s.push_str("\nerrors: No known data errors\n");
    }
    Out::ok(s)
}

fn zpool_create(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "O", "m", "R"]);
    let force = args.has(&["f"]);
    let Some((name, rest)) = args.pos.split_first() else {
        return Out::err(2, "missing pool name");
    };
    if !valid_zfs_name(name) || name.contains('/') {
        return Out::err(
            1,
            format!("cannot create '{name}': invalid character in pool name"),
        );
    }
    if h.state.pools.contains_key(name) {
        return Out::err(1, format!("cannot create '{name}': pool already exists"));
    }
    let (layout, disks): (String, Vec<String>) = match rest.first().map(String::as_str) {
        Some(l @ ("mirror" | "raidz" | "raidz1" | "raidz2" | "raidz3")) => {
            (l.to_string(), rest[1..].to_vec())
        }
        _ => ("stripe".to_string(), rest.to_vec()),
    };
    if disks.is_empty() {
        return Out::err(2, "missing vdev specification");
    }
    if let Some(e) = check_vdevs(h, &disks, force) {
        return e;
    }
    for d in &disks {
        h.state.set_disk(
            d,
            Disk {
                pttype: Some("gpt".into()),
                partitions: 2,
                fstype: Some("zfs_member".into()),
                label: Some(name.clone()),
                missing: false,
            },
        );
    }
    let props: BTreeMap<String, String> = args
        .vals(&["o"])
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    h.state.pools.insert(
        name.clone(),
        Pool {
            layout,
            disks,
            properties: props,
        },
    );
    h.state.datasets.insert(name.clone(), BTreeMap::new());
    let _ = std::fs::create_dir_all(h.host_path(&format!("/{name}")));
    Out::changed("")
}

/// The checks of real `zpool create`: devices exist, and without `-f` hold nothing.
fn check_vdevs(h: &Host, disks: &[String], force: bool) -> Option<Out> {
    for d in disks {
        if !h.state.disk_exists(d) {
            return Some(Out::err(1, format!("cannot open '{d}': no such device in /dev\nmust be a full path or shorthand device name")));
        }
        let disk = h.state.disk(d);
        if let Some(pool) = h
            .state
            .pools
            .iter()
            .find(|(_, p)| p.disks.contains(d))
            .map(|(n, _)| n)
        {
            return Some(Out::err(
                1,
                format!("invalid vdev specification\n{d} is part of active pool '{pool}'"),
            ));
        }
        if !force && !disk.is_blank() {
            let what = match (&disk.fstype, &disk.pttype) {
                (Some(fs), _) => format!("{d} contains a filesystem of type '{fs}'"),
                (None, Some(pt)) => format!("{d} contains a {pt} partition table"),
                _ => format!("{d} has partitions"),
            };
            return Some(Out::err(1, format!("invalid vdev specification\nuse '-f' to override the following errors:\n{what}")));
        }
    }
    None
}

/// Property defaults of a new dataset (`zfs get`).
fn zfs_default(ds: &str, prop: &str) -> String {
    match prop {
        "mountpoint" => format!("/{ds}"),
        "compression" => "off".into(),
        "recordsize" => "128K".into(),
        "sync" => "standard".into(),
        "quota" | "refquota" | "reservation" | "refreservation" => "none".into(),
        "atime" => "on".into(),
        "mounted" => "yes".into(),
        "type" => "filesystem".into(),
        "name" => ds.into(),
        _ => "-".into(),
    }
}

/// `16K` -> 16384, `1.4T` -> 1539316278886, `none` -> 0; other values unchanged (`zfs get -p`).
pub fn parsable(v: &str) -> String {
    if v == "none" {
        return "0".into();
    }
    let up = v.to_ascii_uppercase();
    let num = up.trim_end_matches('B');
    let (digits, unit) = match num.char_indices().last() {
        Some((i, c)) if "KMGTPE".contains(c) => (&num[..i], "KMGTPE".find(c).map_or(0, |p| p + 1)),
        _ => (num, 0),
    };
    match digits.parse::<f64>() {
        Ok(n) if !digits.is_empty() => {
            format!("{}", (n * 1024f64.powi(unit as i32)).trunc() as u64)
        }
        _ => v.to_string(),
    }
}

/// `zfs list|create|get|set`.
pub fn zfs(h: &mut Host, a: &[String]) -> Out {
    let Some(cmd) = a.first() else {
        return Out::err(2, "usage: zfs <command> [args]");
    };
    match cmd.as_str() {
        "list" => zfs_list(h, &a[1..]),
        "create" => zfs_create(h, &a[1..]),
        "get" => zfs_get(h, &a[1..]),
        "set" => zfs_set(h, &a[1..]),
        other => Out::err(2, format!("pve-sim: 'zfs {other}' is not simulated")),
    }
}

fn zfs_list(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "t", "s", "d"]);
    let names: Vec<String> = if args.pos.is_empty() {
        h.state.datasets.keys().cloned().collect()
    } else {
        args.pos.clone()
    };
    let cols: Vec<&str> = args
        .val(&["o"])
        .unwrap_or("name,used,avail,refer,mountpoint")
        .split(',')
        .collect();
    let mut s = header(&cols, &args);
    for n in names {
        let Some(props) = h.state.datasets.get(&n) else {
            return Out::err(1, format!("cannot open '{n}': dataset does not exist"));
        };
        let row: Vec<String> = cols
            .iter()
            .map(|c| match *c {
                "used" | "refer" => "96K".to_string(),
                "avail" => "1.76T".to_string(),
                p => props.get(p).cloned().unwrap_or_else(|| zfs_default(&n, p)),
            })
            .collect();
        s.push_str(&row.join(if args.has(&["H"]) { "\t" } else { "  " }));
        s.push('\n');
    }
    Out::ok(s)
}

fn zfs_create(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "V"]);
    let Some(ds) = args.pos.first() else {
        return Out::err(2, "missing dataset name");
    };
    if !valid_zfs_name(ds) || !ds.contains('/') {
        return Out::err(1, format!("cannot create '{ds}': invalid dataset name"));
    }
    if h.state.datasets.contains_key(ds) {
        return Out::err(1, format!("cannot create '{ds}': dataset already exists"));
    }
    let parent = ds
        .rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default();
    if !h.state.datasets.contains_key(&parent) && !args.has(&["p"]) {
        return Out::err(1, format!("cannot create '{ds}': parent does not exist"));
    }
    let mut props = BTreeMap::new();
    for kv in args.vals(&["o"]) {
        let Some((k, v)) = kv.split_once('=') else {
            return Out::err(2, format!("missing '=' for property=value argument '{kv}'"));
        };
        props.insert(k.to_string(), v.to_string());
    }
    let mp = props
        .get("mountpoint")
        .cloned()
        .unwrap_or_else(|| format!("/{ds}"));
    h.state.datasets.insert(ds.clone(), props);
    let _ = std::fs::create_dir_all(h.host_path(&mp));
    Out::changed("")
}

fn zfs_get(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "s", "t", "d"]);
    let (Some(props), Some(ds)) = (args.pos.first(), args.pos.get(1)) else {
        return Out::err(
            2,
            "usage: zfs get [-Hp] [-o field[,...]] <property[,...]> <dataset>",
        );
    };
    let Some(set) = h.state.datasets.get(ds) else {
        return Out::err(1, format!("cannot open '{ds}': dataset does not exist"));
    };
    let cols: Vec<&str> = args
        .val(&["o"])
        .unwrap_or("name,property,value,source")
        .split(',')
        .collect();
    let mut s = String::new();
    for p in props.split(',') {
        let (mut value, source) = match set.get(p) {
            Some(v) => (v.clone(), "local"),
            None => (zfs_default(ds, p), "default"),
        };
        if args.has(&["p"]) {
            value = parsable(&value);
        }
        let row: Vec<&str> = cols
            .iter()
            .map(|c| match *c {
                "name" => ds.as_str(),
                "property" => p,
                "value" => value.as_str(),
                "source" => source,
                _ => "-",
            })
            .collect();
        s.push_str(&row.join("\t"));
        s.push('\n');
    }
    Out::ok(s)
}

fn zfs_set(h: &mut Host, a: &[String]) -> Out {
    let (Some(kv), Some(ds)) = (a.first(), a.get(1)) else {
        return Out::err(2, "usage: zfs set <property=value> <dataset>");
    };
    let Some((k, v)) = kv.split_once('=') else {
        return Out::err(2, format!("missing '=' for property=value argument '{kv}'"));
    };
    let Some(set) = h.state.datasets.get_mut(ds) else {
        return Out::err(1, format!("cannot open '{ds}': dataset does not exist"));
    };
    set.insert(k.to_string(), v.to_string());
    Out::changed("")
}

/// The column header line of `zpool list` / `zfs list` (none with `-H`).
fn header(cols: &[&str], args: &Args) -> String {
    if args.has(&["H"]) {
        return String::new();
    }
    let names: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
    names.join("  ") + "\n"
}

#[cfg(test)]
mod tests {
    use super::parsable;

    #[test]
    fn sizes_become_bytes() {
        assert_eq!(parsable("16K"), "16384");
        assert_eq!(parsable("1.4T"), "1539316278886");
        assert_eq!(parsable("none"), "0");
        assert_eq!(parsable("lz4"), "lz4");
    }
}
