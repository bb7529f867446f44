//! The upstream fixture, unmodified: template 8000 from the cloud image, then clone 8001 with
//! the docker feature; converged re-runs; dry run; the template guard.

mod common;

use common::*;

fn fixture() -> Node {
    let n = Node::fixture();
    n.seed_image(CACHE, NOBLE, 3 << 20);
    n
}

#[test]
fn template_then_clone_then_converged() {
    let n = fixture();
    let calls = n.calls_of(|| {
        n.ok(&["create", "8000"]);
        n.ok(&["create", "8001"]);
    });
    assert_valid_qm(&calls);
    assert!(
        calls
            .iter()
            .all(|c| c.exit == 0 || c.line().contains("guest cmd")),
        "failed calls: {:#?}",
        lines(&calls)
    );
    let t = n.conf(8000).expect("8000");
    assert!(t.contains("template: 1"), "{t}");
    assert!(
        pos(&calls, "qm guest exec 8000") < pos(&calls, "qm shutdown 8000")
            && pos(&calls, "qm shutdown 8000") < pos(&calls, "qm template 8000")
    );
    assert!(has(
        &calls,
        "qm clone 8000 8001 --full 1 --name docker-vm-01"
    ));
    let c = n.conf(8001).expect("8001");
    assert!(
        c.contains("[initial]")
            && c.contains("cicustom: user=local:snippets/phoenix-8001-user.yml"),
        "{c}"
    );
    let execs = n.guest_exec_log(8001);
    assert!(execs.iter().any(
        |e| e["cmd"].to_string().contains("feature_install_docker.sh") && e["stdin"].is_null()
    ));

    let again = n.calls_of(|| {
        let err = n.ok(&["create", "8001"]);
        assert!(err.contains("already in the desired state"), "{err}");
    });
    let qm: Vec<&Call> = again.iter().filter(|c| c.tool == "qm").collect();
    assert!(again.iter().all(|c| !c.mutating), "{:#?}", lines(&again));
    assert!(
        qm.len() <= 2,
        "qm calls on a converged clone: {:#?}",
        lines(&again)
    );
    let tmpl = n.calls_of(|| {
        n.ok(&["create", "8000"]);
    });
    assert!(tmpl.iter().all(|c| c.tool != "qm"), "{:#?}", lines(&tmpl));
}

#[test]
fn a_template_is_never_started() {
    let n = fixture();
    n.ok(&["create", "8000"]);
    let calls = n.calls_of(|| {
        let err = n.fails(&["start", "8000"]);
        assert!(
            err.contains("Error: VM 8000: start: the VM is a template"),
            "{err}"
        );
    });
    assert!(!has(&calls, "qm start"));
}

#[test]
fn dry_run_on_an_empty_node_prints_the_clone_and_changes_nothing() {
    let n = fixture();
    let calls = n.calls_of(|| {
        let err = n.ok(&["create", "8001", "--dry-run"]);
        assert!(
            err.contains("VM 8001: will clone: VM 8001 does not exist (full clone of VM 8000)\n    $ qm clone 8000 8001 --full 1 --name docker-vm-01"),
            "{err}"
        );
        assert!(err.contains("VM 8001: then: configure, start"), "{err}");
    });
    assert!(calls.iter().all(|c| !c.mutating), "{:#?}", lines(&calls));
    assert!(n.conf(8001).is_none());
    n.ok(&["create", "8000"]);
    let err = n.ok(&["create", "8000", "--dry-run"]);
    assert!(
        !err.contains("will "),
        "converged template: nothing to print: {err}"
    );
}

#[test]
fn delete_of_a_missing_vm_says_so() {
    let n = fixture();
    let err = n.ok(&["delete", "8001"]);
    assert!(err.contains("VM 8001: does not exist"), "{err}");
}
