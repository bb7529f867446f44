//! `phoenix graph`: the dependency graph for people, as Mermaid or Graphviz dot. Clone edges are
//! solid, dependency edges dashed; templates are drawn differently.

use phoenix_config::{Config, GuestId};
use phoenix_host::exit;

use crate::cli::GraphFormat;

pub fn print(cfg: &Config, targets: &[GuestId], format: GraphFormat) -> i32 {
    let ids: Vec<GuestId> = if targets.is_empty() {
        cfg.guests().map(|g| g.id).collect()
    } else {
        match cfg.build_dependency_graph(targets) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("Error: {e}");
                return exit::FAILURE;
            }
        }
    };
    print!("{}", render(cfg, &ids, format));
    exit::SUCCESS
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
