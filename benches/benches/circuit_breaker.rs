//! circuit_breaker benchmarks (to be written).

fn main() {}
