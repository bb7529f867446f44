//! Invariants shared by the fuzz targets. Each one panics (which libFuzzer reports as a crash)
//! when the library breaks a promise.

use std::collections::{BTreeMap, BTreeSet};

use phoenix_config::{Config, ConfigError, Diagnostic, GuestId, Severity};

/// A failed parse or load must say why with at least one error.
pub fn check_error_diagnostic(d: &Diagnostic) {
    assert_eq!(d.severity, Severity::Error, "a refusal must be an error: {d}");
    let _ = d.to_string();
}

/// `Config::load`/`load_with` either succeed or carry at least one `Severity::Error`.
pub fn check_config_error(e: &ConfigError) {
    let diags = e.diagnostics();
    assert!(
        diags.iter().any(|d| d.severity == Severity::Error),
        "ConfigError without an error diagnostic: {diags:?}"
    );
    for d in &diags {
        let _ = d.to_string();
    }
    let _ = e.to_string();
}

/// A valid config orders every guest exactly once, each after everything it needs.
pub fn check_config(cfg: &Config) {
    let ids: Vec<GuestId> = cfg.guests().map(|g| g.id).collect();
    for w in &cfg.warnings {
        assert_eq!(w.severity, Severity::Warning, "Ok config with an error: {w}");
    }

    let order = cfg
        .build_dependency_graph(&ids)
        .unwrap_or_else(|e| panic!("valid config cannot be ordered: {e}"));
    check_order(cfg, &ids, &order);

    // Single targets: their closure, ordered the same way.
    for &id in ids.iter().take(8) {
        let order = cfg
            .build_dependency_graph(&[id])
            .unwrap_or_else(|e| panic!("valid config cannot order {id}: {e}"));
        assert!(order.contains(&id), "{id} missing from its own order");
        let mut closure = BTreeSet::new();
        let mut todo = vec![id];
        while let Some(g) = todo.pop() {
            if closure.insert(g) {
                todo.extend(cfg.guest(g).unwrap().needs().filter(|n| cfg.guest(*n).is_some()));
            }
        }
        let want: Vec<GuestId> = closure.into_iter().collect();
        check_order(cfg, &want, &order);
    }

    let boot = cfg
        .get_boot_order(&ids)
        .unwrap_or_else(|e| panic!("valid config has no boot order: {e}"));
    let mut sorted = boot.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "boot order is not a permutation of the guests");
    let keys: Vec<u64> = boot
        .iter()
        .map(|id| cfg.guest(*id).unwrap().boot_order.unwrap_or(u64::MAX))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "boot order not sorted");

    for &id in &ids {
        let g = cfg.guest(id).unwrap();
        match g.kind {
            phoenix_config::GuestKind::Lxc => assert_eq!(cfg.lxc(id).unwrap().id, id),
            phoenix_config::GuestKind::Vm => {
                assert_eq!(cfg.vm(id).unwrap().id, id);
            }
        }
        let _ = cfg.resolve_target_type(id);
    }
    // An unknown ID is an error, never a panic.
    let unknown = GuestId(u64::MAX);
    if cfg.guest(unknown).is_none() {
        assert!(cfg.build_dependency_graph(&[unknown]).is_err());
        assert!(cfg.get_boot_order(&[unknown]).is_err());
    }
}

/// `order` holds exactly the guests in `expected` (sorted, unique), each after what it needs.
fn check_order(cfg: &Config, expected: &[GuestId], order: &[GuestId]) {
    let pos: BTreeMap<GuestId, usize> = order.iter().enumerate().map(|(i, &g)| (g, i)).collect();
    assert_eq!(pos.len(), order.len(), "a guest appears twice: {order:?}");
    let got: Vec<GuestId> = pos.keys().copied().collect();
    assert_eq!(got, expected, "order has the wrong guests");
    for (&g, &i) in &pos {
        for n in cfg.guest(g).unwrap().needs() {
            if n == g || cfg.guest(n).is_none() {
                continue;
            }
            let j = pos[&n];
            assert!(j < i, "{g} is ordered before {n}, which it needs: {order:?}");
        }
    }
}
