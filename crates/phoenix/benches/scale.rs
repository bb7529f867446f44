//! Load + validate + plan for generated deployments of 100, 1,000 and 10,000 guests
//! (`cargo bench -p phoenix --bench scale`). Figures go to docs/performance.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use phoenix::host::HostState;
use phoenix::plan::{self, PlanOptions};
use phoenix_config::Config;

fn load_validate_plan(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_validate_plan");
    group.sample_size(20);
    for n in [100usize, 1_000, 10_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let hv = phoenix::synth::generate(n)
            .write(dir.path())
            .expect("write");
        let opts = PlanOptions {
            boot_delays: true,
            ..PlanOptions::default()
        };
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let cfg = Config::load(&hv).expect("valid synthetic config");
                let p = plan::lets_go(&cfg, &HostState::default(), &opts).expect("plan");
                assert!(p.steps.len() > n);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, load_validate_plan);
criterion_main!(benches);
