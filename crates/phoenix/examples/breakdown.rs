//! Where load time goes, per phase: `cargo run --release -p phoenix --example breakdown -- 10000`.
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let hv = phoenix::synth::generate(n)
        .write(dir.path())
        .expect("write");
    let lxc = dir.path().join("phoenix_lxc_configs.json");
    let text = std::fs::read_to_string(&lxc).unwrap();
    let t = Instant::now();
    phoenix_config::load::check_duplicate_keys(&lxc, &text).unwrap();
    println!("dup check {:?}", t.elapsed());
    let t = Instant::now();
    let _: serde_json::Value = serde_json::from_str(&text).unwrap();
    println!("plain Value parse {:?}", t.elapsed());
    let t = Instant::now();
    let _ = phoenix_config::load::parse_str::<serde_json::Value>(&lxc, &text).unwrap();
    println!("parse_str as a free-form value {:?}", t.elapsed());
    let t = Instant::now();
    let cfg = phoenix_config::Config::load(&hv).unwrap();
    println!("Config::load {:?}", t.elapsed());
    let t = Instant::now();
    let all: Vec<_> = cfg.guests().map(|g| g.id).collect();
    let _ = cfg.build_dependency_graph(&all).unwrap();
    println!("toposort all {:?}", t.elapsed());
    let t = Instant::now();
    let _ = cfg.graph().cycles();
    println!("cycles {:?}", t.elapsed());
}
