//! The user-visible contract as snapshots: plan text, applied changes, recap, status table and
//! status JSON (`cargo insta review` after an intended change).

use crate::event::{Change, Event, EventKind, GuestTag, Kind};
use crate::recap::Recap;
use crate::render::{event_lines, recap_lines, Verbosity};
use crate::reporter::progress_line;
use crate::status::{table, GuestStatus, Sync};

const CT953: GuestTag = GuestTag {
    id: 953,
    kind: Kind::Lxc,
};
const VM8001: GuestTag = GuestTag {
    id: 8001,
    kind: Kind::Vm,
};

fn drift_fix() -> Event {
    Event::new(EventKind::Planned, Some(CT953))
        .step("configure")
        .message("1 setting differs from the config")
        .action("pct set 953 --memory 1024")
        .changes(vec![Change::new("memory", Some("999"), Some("1024"))])
}

fn text(events: &[Event], v: Verbosity) -> String {
    events
        .iter()
        .flat_map(|e| event_lines(e, v))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn plan_text() {
    let events = vec![
        drift_fix(),
        Event::new(EventKind::Planned, Some(VM8001))
            .step("clone")
            .message("VM 8001 does not exist")
            .action("qm clone 8000 8001 --full 1 --name docker-vm-01 --storage quickOS-vm-disks"),
        Event::new(EventKind::Then, Some(VM8001)).message(
            "configure, start, features, health checks, snapshot (planned once the clone exists)",
        ),
        Event::new(EventKind::Note, Some(CT953))
            .message("installed, no longer configured: docker; Phoenix does not uninstall"),
        Event::new(EventKind::Failed, Some(CT953))
            .step("disk")
            .message(
                "storage_size_gb 8 is below the live root disk (32G); Proxmox cannot shrink a disk",
            ),
    ];
    insta::assert_snapshot!("plan_default", text(&events, Verbosity::default()));
    insta::assert_snapshot!(
        "plan_verbose",
        text(
            &events,
            Verbosity {
                quiet: false,
                verbose: 1
            }
        )
    );
}

#[test]
fn quiet_shows_only_errors() {
    let mut applied = drift_fix();
    applied.event = EventKind::Changed;
    let events = vec![
        applied,
        Event::new(EventKind::Unchanged, Some(CT953)).step("start"),
        Event::new(EventKind::Begin, None).message("lxc-manager create 953"),
        Event::new(EventKind::Failed, Some(VM8001))
            .step("start")
            .message("boom"),
    ];
    let q = Verbosity {
        quiet: true,
        verbose: 0,
    };
    assert_eq!(text(&events, q), "Error: VM 8001: start: boom");
    insta::assert_snapshot!("applied_default", text(&events, Verbosity::default()));
}

fn recap() -> Recap {
    let mut r = Recap::default();
    let mut applied = drift_fix();
    applied.event = EventKind::Changed;
    for _ in 0..5 {
        r.count(&Event::new(EventKind::Unchanged, Some(CT953)));
    }
    r.count(&applied);
    for _ in 0..6 {
        r.count(&Event::new(EventKind::Unchanged, Some(VM8001)));
    }
    r
}

#[test]
fn recap_text_and_json() {
    let r = recap();
    insta::assert_snapshot!("recap_text", recap_lines(&r).join("\n"));
    insta::assert_json_snapshot!("recap_json", r.to_json());
}

fn rows() -> Vec<GuestStatus> {
    vec![
        GuestStatus {
            id: 900,
            kind: Kind::Lxc,
            name: "tmpl-base".into(),
            template: true,
            exists: true,
            state: Some("stopped".into()),
            managed: true,
            sync: Sync::InSync,
            drift: vec![],
            notes: vec![],
            problems: vec![],
        },
        GuestStatus {
            id: 953,
            kind: Kind::Lxc,
            name: "gateway".into(),
            template: false,
            exists: true,
            state: Some("running".into()),
            managed: true,
            sync: Sync::Drifted,
            drift: vec![
                Change::new("memory", Some("999"), Some("1024")),
                Change::new("net0.ip", Some("10.0.0.5/24"), Some("10.0.0.6/24")),
            ],
            notes: vec![
                "installed, no longer configured: docker; Phoenix does not uninstall".into(),
            ],
            problems: vec![],
        },
        GuestStatus {
            id: 8001,
            kind: Kind::Vm,
            name: "docker-vm-01".into(),
            template: false,
            exists: false,
            state: None,
            managed: true,
            sync: Sync::Absent,
            drift: vec![],
            notes: vec![],
            problems: vec![],
        },
        GuestStatus {
            id: 990,
            kind: Kind::Lxc,
            name: "stray".into(),
            template: false,
            exists: true,
            state: Some("running".into()),
            managed: false,
            sync: Sync::Unmanaged,
            drift: vec![],
            notes: vec![],
            problems: vec![],
        },
    ]
}

#[test]
fn status_table_and_json() {
    insta::assert_snapshot!("status_table", table(&rows()));
    insta::assert_json_snapshot!("status_json", rows());
}

#[test]
fn progress_line_shows_what_runs_longer_than_a_second() {
    use std::time::Duration;
    let running = vec![
        (Some(CT953), "clone".to_string(), Duration::from_secs(12)),
        (
            Some(VM8001),
            "start".to_string(),
            Duration::from_millis(300),
        ),
    ];
    assert_eq!(
        progress_line(&running).as_deref(),
        Some("… CT 953: clone (12s)")
    );
    assert_eq!(progress_line(&running[1..]), None);
}

#[test]
fn forwarded_events_round_trip() {
    let e = drift_fix();
    let line = serde_json::to_string(&e).unwrap();
    let back: Event = serde_json::from_str(&line).unwrap();
    assert_eq!(back, e);
    assert!(line.starts_with(r#"{"event":"planned","guest":{"id":953,"type":"lxc"}"#));
}

#[test]
fn host_events_of_cluster_nodes_have_one_recap_row_each() {
    let mut r = Recap::default();
    let ev = |k, n: &str| Event::new(k, None).node(n).step("setup zfs");
    for e in [
        ev(EventKind::Changed, "pve2"),
        ev(EventKind::Unchanged, "pve1"),
        ev(EventKind::Failed, "pve2"),
        Event::new(EventKind::Unchanged, Some(CT953)),
    ] {
        r.count(&e);
    }
    assert_eq!(
        recap_lines(&r),
        vec![
            "Recap:",
            "  host pve1 ok=1 changed=0 failed=0 skipped=0",
            "  host pve2 ok=0 changed=1 failed=1 skipped=0",
            "  953      ok=1 changed=0 failed=0 skipped=0",
            "  total    ok=2 changed=1 failed=1 skipped=0",
        ]
    );
    assert_eq!(r.to_json()["nodes"][1]["node"], "pve2");
    let failed = event_lines(
        &ev(EventKind::Failed, "pve2").message("boom"),
        Verbosity::default(),
    );
    assert_eq!(failed, vec!["Error: host pve2: boom"]);
}
