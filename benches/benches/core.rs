//! The first group: a bare service and tower's own middleware on a ready inner service.
//! Run with `cargo bench -p resile-benches --bench core`.

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{bare, bench_single};

resile_benches::counting_allocator!();

fn single(c: &mut Criterion) {
    bench_single(c, "core/single", "bare", bare());
}

criterion_group!(benches, single);
criterion_main!(benches);
