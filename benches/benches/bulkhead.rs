//! bulkhead benchmarks (to be written).

fn main() {}
