//! timeout benchmarks (to be written).

fn main() {}
