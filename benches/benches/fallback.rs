//! fallback benchmarks (to be written).

fn main() {}
