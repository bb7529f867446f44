use super::*;

#[test]
fn pct_list_roundtrip() {
    let rows = vec![
        PctListEntry {
            vmid: 900,
            status: "stopped".into(),
            lock: String::new(),
            name: "Template-Base".into(),
        },
        PctListEntry {
            vmid: 950,
            status: "running".into(),
            lock: "disk".into(),
            name: "vllm".into(),
        },
    ];
    let text = format_pct_list(&rows);
    assert!(text.starts_with("VMID       Status     Lock         Name"));
    assert_eq!(
        text.lines().nth(2).unwrap_or(""),
        "950        running    disk         vllm                "
    );
    assert_eq!(parse_pct_list(&text).unwrap(), rows);
    assert!(parse_pct_list("x y z\n").is_err());
}

#[test]
fn qm_list_roundtrip() {
    let rows = vec![QmListEntry {
        vmid: 8001,
        name: "docker-vm-01".into(),
        status: "running".into(),
        mem_mb: 8192,
        bootdisk_gb: 100.0,
        pid: 1234,
    }];
    let text = format_qm_list(&rows);
    assert_eq!(
        text.lines().next().unwrap_or(""),
        "      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID       "
    );
    assert_eq!(parse_qm_list(&text).unwrap(), rows);
}

#[test]
fn status() {
    assert_eq!(parse_status("status: running\n").unwrap(), "running");
    assert!(parse_status("nope").is_err());
    assert_eq!(format_status("stopped"), "status: stopped\n");
}

#[test]
fn snapshot_tree() {
    let snaps = vec![
        SnapshotInfo {
            name: "base".into(),
            parent: None,
            snaptime: Some(1_700_000_000),
            description: None,
        },
        SnapshotInfo {
            name: "pre-configured".into(),
            parent: Some("base".into()),
            snaptime: Some(1_700_000_100),
            description: Some("after\nsetup".into()),
        },
        SnapshotInfo {
            name: "current".into(),
            parent: Some("pre-configured".into()),
            snaptime: None,
            description: Some("You are here!".into()),
        },
    ];
    let text = format_snapshot_tree(&snaps);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "`-> base                        2023-11-14 22:13:20     no-description"
    );
    assert!(lines[1].starts_with("    `-> pre-configured"));
    assert!(lines[2].starts_with("        `-> current"));
    let parsed = parse_listsnapshot(&text).unwrap();
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[1].name, "pre-configured");
    assert_eq!(parsed[1].depth, 1);
    assert_eq!(parsed[1].time.as_deref(), Some("2023-11-14 22:15:00"));
    assert_eq!(parsed[1].description, "setup");
    assert_eq!(parsed[2].time, None);
    assert_eq!(parsed[2].description, "You are here!");
}

#[test]
fn guest_exec() {
    let v = serde_json::json!({"exitcode": 3, "exited": 1, "out-data": "hi\n"});
    let text = format_json(&v);
    assert_eq!(
        text,
        "{\n   \"exitcode\" : 3,\n   \"exited\" : 1,\n   \"out-data\" : \"hi\\n\"\n}\n"
    );
    let GuestExec::Finished(s) = parse_guest_exec(&text).unwrap() else {
        panic!("expected finished");
    };
    assert_eq!(s.exitcode, Some(3));
    assert!(s.exited);
    assert_eq!(s.out_data.as_deref(), Some("hi\n"));
    assert_eq!(
        parse_guest_exec("{\"pid\": 42}").unwrap(),
        GuestExec::Running { pid: 42 }
    );
    assert!(!parse_guest_exec_status("{\"exited\":0}").unwrap().exited);
    assert!(parse_guest_exec("not json").is_err());
}

#[test]
fn pvesm_and_pveam() {
    let rows = vec![StorageStatus {
        name: "local".into(),
        storage_type: "dir".into(),
        status: "active".into(),
        total_kib: 100,
        used_kib: 25,
        avail_kib: 75,
        percent: Some(25.0),
    }];
    let text = format_pvesm_status(&rows);
    assert!(text.contains("  25.00%"));
    assert_eq!(parse_pvesm_status(&text).unwrap(), rows);
    let vols = vec![VolumeEntry {
        volid: "local:100/vm-100-disk-0.raw".into(),
        format: "raw".into(),
        content: "images".into(),
        size: 1024,
        vmid: Some(100),
    }];
    assert_eq!(parse_pvesm_list(&format_pvesm_list(&vols)).unwrap(), vols);
    let t = vec![TemplateEntry {
        volid: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
        size_mb: 120.5,
    }];
    assert_eq!(parse_pveam_list(&format_pveam_list(&t)).unwrap(), t);
    let a = vec![("system".to_string(), "x.tar.zst".to_string())];
    assert_eq!(parse_pveam_available(&format_pveam_available(&a)), a);
    assert_eq!(format_time(0), "1970-01-01 00:00:00");
    assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
}
