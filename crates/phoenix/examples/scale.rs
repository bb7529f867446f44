//! One load + validate + plan of a generated deployment, with wall time and peak memory:
//! `cargo run --release -p phoenix --example scale -- 10000` (files generated, then measured in a
//! fresh process). `-- 10000 --write DIR` only writes the files into DIR, for timing
//! `phoenix validate --config DIR/phoenix_hypervisor_config.json` against `jq empty`.

use std::time::Instant;

use phoenix::host::HostState;
use phoenix::plan::{self, PlanOptions};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    if let Some(dir) = write_dir() {
        std::fs::create_dir_all(&dir).expect("create the --write folder");
        let hv = phoenix::synth::generate(n).write(&dir).expect("write");
        println!("{}", hv.display());
        return;
    }
    // Measured in a fresh process that only reads the files, like `phoenix` itself: freeing
    // the generator's JSON tree in the same process left the allocator fragmented (malloc
    // consolidation showed up inside the measured load) and counted it in the peak RSS.
    let Some(dir) = std::env::var_os("SCALE_FILES").map(std::path::PathBuf::from) else {
        let tmp = tempfile::tempdir().expect("tempdir");
        phoenix::synth::generate(n)
            .write(tmp.path())
            .expect("write");
        let exe = std::env::current_exe().expect("own path");
        let status = std::process::Command::new(exe)
            .arg(n.to_string())
            .env("SCALE_FILES", tmp.path())
            .status()
            .expect("re-run");
        std::process::exit(status.code().unwrap_or(1));
    };
    let hv = dir.join("phoenix_hypervisor_config.json");
    let bytes: u64 = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let start = Instant::now();
    let cfg = match phoenix_config::Config::load(&hv) {
        Ok(c) => c,
        Err(e) => {
            for d in e.diagnostics().iter().take(5) {
                eprintln!("{d}");
            }
            std::process::exit(1);
        }
    };
    let loaded = start.elapsed();
    let opts = PlanOptions {
        boot_delays: true,
        ..PlanOptions::default()
    };
    let p = plan::lets_go(&cfg, &HostState::default(), &opts).expect("plan");
    let total = start.elapsed();
    // SAFETY: getrusage fills a struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    println!(
        "guests={n} files={:.1}MiB load+validate={:.1}ms plan={:.1}ms total={:.1}ms steps={} peak_rss={:.1}MiB",
        bytes as f64 / 1048576.0,
        loaded.as_secs_f64() * 1e3,
        (total - loaded).as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        p.steps.len(),
        ru.ru_maxrss as f64 / 1024.0
    );
}

/// The folder after `--write`, when given.
fn write_dir() -> Option<std::path::PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--write")?;
    args.get(i + 1).map(std::path::PathBuf::from)
}
