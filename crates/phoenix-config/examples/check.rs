//! Loads a hypervisor config and prints what was found: `cargo run --example check -- PATH`.
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "etc/phoenix_hypervisor_config.json".into());
    match phoenix_config::Config::load(path.as_ref()) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("{w}");
            }
            let ids: Vec<String> = c
                .guests()
                .map(|g| {
                    format!(
                        "{}:{}{}",
                        g.id,
                        g.kind.as_str(),
                        if g.is_template { "(T)" } else { "" }
                    )
                })
                .collect();
            println!("{} guests: {}", ids.len(), ids.join(" "));
        }
        Err(e) => {
            for d in e.diagnostics() {
                eprintln!("{d}");
            }
            std::process::exit(e.exit_code());
        }
    }
}
