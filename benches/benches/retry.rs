//! retry benchmarks (to be written).

fn main() {}
