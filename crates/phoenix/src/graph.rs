//! `phoenix graph`: the dependency graph for people, as Mermaid or Graphviz dot. Clone edges are
//! solid, dependency edges dashed; templates are drawn differently.

use phoenix_config::{Config, GuestId, OrderError};
use phoenix_host::exit;

use crate::cli::GraphFormat;

/// Prints the graph as mermaid or dot, or with `--output json` as `{"nodes", "edges"}`.
pub fn print(cfg: &Config, targets: &[GuestId], format: GraphFormat, json: bool) -> i32 {
    match shown(cfg, targets) {
        Ok(ids) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&to_json(cfg, &ids)).unwrap_or_default()
                );
            } else {
                print!("{}", render(cfg, &ids, format));
            }
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            exit::FAILURE
        }
    }
}

/// The guests drawn: all of them, or the named ones and everything they need.
pub fn shown(cfg: &Config, targets: &[GuestId]) -> Result<Vec<GuestId>, OrderError> {
    if targets.is_empty() {
        Ok(cfg.guests().map(|g| g.id).collect())
    } else {
        cfg.build_dependency_graph(targets)
    }
}

/// `{"nodes": [{id, type, name, template}], "edges": [{from, to, kind: clone|depends}]}`.
pub fn to_json(cfg: &Config, ids: &[GuestId]) -> serde_json::Value {
    let guests: Vec<_> = ids.iter().filter_map(|id| cfg.guest(*id)).collect();
    let nodes: Vec<_> = guests
        .iter()
        .map(|g| serde_json::json!({"id": g.id.0, "type": g.kind.as_str(), "name": g.name, "template": g.is_template}))
        .collect();
    let mut edges = Vec::new();
    for g in &guests {
        if let Some(src) = g.clone_from {
            edges.push(serde_json::json!({"from": src.0, "to": g.id.0, "kind": "clone"}));
        }
        for d in &g.dependencies {
            edges.push(serde_json::json!({"from": d.0, "to": g.id.0, "kind": "depends"}));
        }
    }
    serde_json::json!({"nodes": nodes, "edges": edges})
}

pub fn render(cfg: &Config, ids: &[GuestId], format: GraphFormat) -> String {
    let mut out = String::new();
    let guests: Vec<_> = ids.iter().filter_map(|id| cfg.guest(*id)).collect();
    match format {
        GraphFormat::Mermaid => {
            out.push_str("graph TD\n");
            for g in &guests {
                let label = format!("{} {} ({})", g.id, g.name, g.kind.as_str());
                if g.is_template {
                    out.push_str(&format!("    g{}[[\"{label} template\"]]\n", g.id));
                } else {
                    out.push_str(&format!("    g{}[\"{label}\"]\n", g.id));
                }
            }
            for g in &guests {
                if let Some(src) = g.clone_from {
                    out.push_str(&format!("    g{src} -->|clone| g{}\n", g.id));
                }
                for d in &g.dependencies {
                    out.push_str(&format!("    g{d} -.->|depends| g{}\n", g.id));
                }
            }
        }
        GraphFormat::Dot => {
            out.push_str("digraph phoenix {\n    rankdir=LR;\n");
            for g in &guests {
                let shape = if g.is_template { "box3d" } else { "box" };
                out.push_str(&format!(
                    "    \"{}\" [label=\"{} {}\\n{}\", shape={shape}];\n",
                    g.id,
                    g.id,
                    g.name,
                    g.kind.as_str()
                ));
            }
            for g in &guests {
                if let Some(src) = g.clone_from {
                    out.push_str(&format!(
                        "    \"{src}\" -> \"{}\" [label=\"clone\"];\n",
                        g.id
                    ));
                }
                for d in &g.dependencies {
                    out.push_str(&format!(
                        "    \"{d}\" -> \"{}\" [style=dashed, label=\"depends\"];\n",
                        g.id
                    ));
                }
            }
            out.push_str("}\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 900 template; 950 clones 900 and depends on 953; 953 clones 900; 960 unrelated;
    /// VM 8000 template, 8001 clones it.
    fn config() -> (tempfile::TempDir, Config) {
        let d = tempfile::tempdir().unwrap();
        let ct = |name: &str, from: Option<u64>, deps: Vec<u64>| {
            let mut c = json!({ "name": name, "storage_pool": "local-zfs", "template_snapshot_name": "ready" });
            match from {
                Some(f) => c["clone_from_ctid"] = json!(f.to_string()),
                None => c["template"] = json!("local:vztmpl/u.tar.zst"),
            }
            c["dependencies"] = json!(deps);
            c
        };
        let lxc = json!({ "lxc_configs": {
            "900": ct("base", None, vec![]), "953": ct("nginx", Some(900), vec![]),
            "950": ct("vllm", Some(900), vec![953]), "960": ct("other", None, vec![]) } });
        let vm = json!({ "vm_defaults": { "template_image": "noble.img", "storage_pool": "local-zfs" },
            "vms": [ { "vmid": 8000, "name": "tmpl", "is_template": true },
                     { "vmid": 8001, "name": "app", "clone_from_vmid": 8000 } ] });
        let hv =
            json!({ "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" } });
        for (f, v) in [("hv.json", hv), ("lxc.json", lxc), ("vm.json", vm)] {
            std::fs::write(d.path().join(f), v.to_string()).unwrap();
        }
        let cfg = Config::load(&d.path().join("hv.json")).unwrap();
        (d, cfg)
    }

    fn draw(cfg: &Config, targets: &[u64], format: GraphFormat) -> String {
        let t: Vec<GuestId> = targets.iter().map(|&i| GuestId(i)).collect();
        render(cfg, &shown(cfg, &t).unwrap(), format)
    }

    #[test]
    fn mermaid_styles_clone_and_dependency_edges_apart_and_marks_templates() {
        let (_d, cfg) = config();
        let m = draw(&cfg, &[], GraphFormat::Mermaid);
        assert!(m.starts_with("graph TD\n"), "{m}");
        assert!(m.contains("    g900 -->|clone| g950\n"), "{m}");
        assert!(m.contains("    g953 -.->|depends| g950\n"), "{m}");
        assert!(m.contains("    g8000 -->|clone| g8001\n"), "{m}");
        // Templates (explicit, or inferred: cloned from and not started at boot) as subroutines.
        assert!(
            m.contains("    g900[[\"900 base (lxc) template\"]]\n"),
            "{m}"
        );
        assert!(
            m.contains("    g8000[[\"8000 tmpl (vm) template\"]]\n"),
            "{m}"
        );
        assert!(m.contains("    g950[\"950 vllm (lxc)\"]\n"), "{m}");
    }

    #[test]
    fn dot_styles_clone_and_dependency_edges_apart_and_marks_templates() {
        let (_d, cfg) = config();
        let d = draw(&cfg, &[], GraphFormat::Dot);
        assert!(
            d.starts_with("digraph phoenix {\n") && d.ends_with("}\n"),
            "{d}"
        );
        assert!(
            d.contains("    \"900\" -> \"950\" [label=\"clone\"];\n"),
            "{d}"
        );
        assert!(
            d.contains("    \"953\" -> \"950\" [style=dashed, label=\"depends\"];\n"),
            "{d}"
        );
        assert!(
            d.contains("    \"900\" [label=\"900 base\\nlxc\", shape=box3d];\n"),
            "{d}"
        );
        assert!(
            d.contains("    \"960\" [label=\"960 other\\nlxc\", shape=box];\n"),
            "{d}"
        );
    }

    #[test]
    fn named_ids_draw_only_their_closure() {
        let (_d, cfg) = config();
        let m = draw(&cfg, &[950], GraphFormat::Mermaid);
        for present in [
            "g900[[",
            "g953[",
            "g950[",
            "g900 -->|clone| g953",
            "g953 -.->|depends| g950",
        ] {
            assert!(m.contains(present), "{present} missing:\n{m}");
        }
        for absent in ["g960", "g8000", "g8001"] {
            assert!(
                !m.contains(absent),
                "{absent} is outside the closure of 950:\n{m}"
            );
        }
        let d = draw(&cfg, &[8001], GraphFormat::Dot);
        assert!(
            d.contains("\"8000\" -> \"8001\"") && !d.contains("\"900\""),
            "{d}"
        );
        assert!(shown(&cfg, &[GuestId(12345)]).is_err());
    }
}
