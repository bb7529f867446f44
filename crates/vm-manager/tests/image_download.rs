//! The cloud image download (docs/vms.md, "Cloud images"): derived URL, resume, checksum, an
//! unreachable `SHA256SUMS`, and a cached image costing no download. The simulated host's
//! `curl` serves Ubuntu's folder (`pve-sim`'s `host/download.rs`); faults come from
//! `faults.json` `downloads`.

mod common;

use common::*;
use serde_json::json;

const URL: &str = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img";
const SUMS: &str = "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS";
/// Size of the simulated image (`pve-sim` `IMAGE_BYTES`).
const IMAGE_BYTES: u64 = 3 * 65536;

fn node(image_url: Option<&str>) -> Node {
    let mut vm = json!({"vmid": 1500, "name": "dl", "template_image": NOBLE});
    if let Some(u) = image_url {
        vm["image_url"] = json!(u);
    }
    let n = Node::with_vms(&json!({
        "vm_defaults": {"storage_pool": "quickOS-vm-disks", "guest_agent_timeout_secs": 10,
                        "guest_agent_poll_secs": 1},
        "vms": [vm]
    }));
    n.init();
    n
}

fn image(n: &Node) -> std::path::PathBuf {
    n.sim
        .join("host")
        .join(CACHE.trim_start_matches('/'))
        .join(NOBLE)
}

fn part(n: &Node) -> std::path::PathBuf {
    image(n).with_file_name(format!("{NOBLE}.part"))
}

/// The image transfers (`curl ... -o`), not the `SHA256SUMS` reads.
fn transfers(calls: &[Call]) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.tool == "curl" && c.argv.iter().any(|a| a == "-o"))
        .collect()
}

fn sums_reads(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.tool == "curl" && c.argv.last().map(String::as_str) == Some(SUMS))
        .count()
}

#[test]
fn fresh_download_from_the_derived_url_is_verified_and_imported() {
    let n = node(None);
    let mut err = String::new();
    let calls = n.calls_of(|| err = n.ok(&["create", "1500"]));
    let t = transfers(&calls);
    assert_eq!(t.len(), 1, "{:#?}", lines(&calls));
    assert_eq!(t[0].argv.last().map(String::as_str), Some(URL));
    assert!(
        t[0].argv.windows(2).any(|w| w == ["-C", "-"]),
        "resumable: {}",
        t[0].line()
    );
    assert_eq!(sums_reads(&calls), 1);
    assert!(err.contains("verified (sha256 "), "{err}");
    let bytes = std::fs::read(image(&n)).unwrap();
    assert_eq!(bytes.len() as u64, IMAGE_BYTES);
    assert_eq!(&bytes[..4], b"QFI\xfb", "a qcow2 header");
    assert!(!part(&n).exists(), "no part file left");
    let create = pos(&calls, "qm create 1500");
    assert!(calls[create]
        .line()
        .contains(&format!("import-from={}", image(&n).display())));
    assert!(pos(&calls, "curl") < create, "downloaded before the import");
}

#[test]
fn an_interrupted_download_resumes_on_the_next_run() {
    let n = node(None);
    n.faults(&json!({"downloads": [
        {"url_contains": "amd64.img", "nth": 1, "truncate_after_bytes": 100000}
    ]}));
    let first = n.calls_of(|| {
        let err = n.fails(&["create", "1500"]);
        assert!(
            err.contains("the 100000 bytes received are kept in") && err.contains("curl: (18)"),
            "{err}"
        );
    });
    assert!(!has(&first, "qm create"), "no import of a partial image");
    assert_eq!(std::fs::metadata(part(&n)).unwrap().len(), 100000);
    assert!(!image(&n).exists());

    let mut err = String::new();
    let second = n.calls_of(|| err = n.ok(&["create", "1500"]));
    assert!(
        err.contains("resuming the download of") && err.contains("at 100000 bytes"),
        "{err}"
    );
    assert_eq!(transfers(&second).len(), 1);
    assert!(err.contains("verified (sha256 "), "{err}");
    assert_eq!(std::fs::metadata(image(&n)).unwrap().len(), IMAGE_BYTES);
    assert!(!part(&n).exists());
}

#[test]
fn a_checksum_mismatch_deletes_the_part_file_and_names_both_sums() {
    let n = node(None);
    n.faults(&json!({"downloads": [{"url_contains": "amd64.img", "corrupt": true}]}));
    let calls = n.calls_of(|| {
        let err = n.fails(&["create", "1500"]);
        assert!(
            err.contains("checksum mismatch for noble-server-cloudimg-amd64.img")
                && err.contains(&format!("{SUMS} lists sha256 "))
                && err.contains("the download has "),
            "{err}"
        );
        // Two different 64-digit sums are named.
        let sums: Vec<&str> = err
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|w| w.len() == 64)
            .collect();
        assert_eq!(sums.len(), 2, "{err}");
        assert_ne!(sums[0], sums[1]);
    });
    assert!(!part(&n).exists(), "the corrupt part is deleted");
    assert!(!image(&n).exists());
    assert!(!has(&calls, "qm create"));
}

#[test]
fn unreachable_sha256sums_keeps_only_a_completed_download() {
    let n = node(None);
    n.faults(&json!({"downloads": [
        {"url_contains": "SHA256SUMS", "http_status": 503},
        {"url_contains": "amd64.img", "nth": 1, "truncate_after_bytes": 5000}
    ]}));
    // Incomplete: nothing is kept as the image, the part waits for the next run.
    let err = n.fails(&["create", "1500"]);
    assert!(
        err.contains("download of") && err.contains("failed"),
        "{err}"
    );
    assert!(!image(&n).exists());
    assert_eq!(std::fs::metadata(part(&n)).unwrap().len(), 5000);
    // Complete: kept, with a warning saying it is unverified.
    let err = n.ok(&["create", "1500"]);
    assert!(
        err.contains("Warning: VM 1500: cannot fetch")
            && err.contains("503")
            && err.contains("unverified"),
        "{err}"
    );
    assert_eq!(std::fs::metadata(image(&n)).unwrap().len(), IMAGE_BYTES);
}

#[test]
fn a_cached_image_is_not_downloaded_again() {
    let n = node(None);
    n.ok(&["create", "1500"]);
    n.ok(&["delete", "1500"]);
    let calls = n.calls_of(|| {
        n.ok(&["create", "1500"]);
    });
    assert!(has(&calls, "qm create 1500"), "{:#?}", lines(&calls));
    let curl: Vec<String> = calls
        .iter()
        .filter(|c| c.tool == "curl")
        .map(Call::line)
        .collect();
    assert!(curl.is_empty(), "no download on the re-run: {curl:?}");
}

#[test]
fn image_url_errors_are_curls() {
    // Unknown host: curl's exit 6, nothing kept.
    let n = node(Some(
        "https://mirror.example.invalid/noble/noble-server-cloudimg-amd64.img",
    ));
    let err = n.fails(&["create", "1500"]);
    assert!(
        err.contains("curl: (6) Could not resolve host: mirror.example.invalid")
            && err.contains("nothing was received"),
        "{err}"
    );
    // A release without that file: HTTP 404 with -f is exit 22.
    let n = node(Some(
        "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-riscv64.img",
    ));
    let err = n.fails(&["create", "1500"]);
    assert!(
        err.contains("(exit 22)") && err.contains("returned error: 404"),
        "{err}"
    );
}

#[test]
fn dry_run_prints_the_download_and_fetches_nothing() {
    let n = node(None);
    let calls = n.calls_of(|| {
        let err = n.ok(&["create", "1500", "--dry-run"]);
        assert!(
            err.contains("VM 1500: will image:")
                && err.contains(&format!("{URL} (verified against SHA256SUMS)")),
            "{err}"
        );
    });
    assert!(
        !calls.iter().any(|c| c.tool == "curl"),
        "{:#?}",
        lines(&calls)
    );
    assert!(!image(&n).exists() && !part(&n).exists());
}
