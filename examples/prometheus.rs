//! resile's metrics in Prometheus text: install `metrics-exporter-prometheus` as the `metrics`
//! recorder, build a stack (its instruments register with the recorder), send it a few calls
//! that succeed, get retried, time out and hit an open breaker, then print the exposition a
//! `/metrics` endpoint would serve.
//!
//! ```sh
//! cargo run -p resile-examples --example prometheus
//! ```
//!
//! Install the recorder *before* building stacks: each stack registers its instruments once,
//! when it is built. Every series has a `dependency` label and at most one of `outcome`,
//! `kind`; the breaker's state is one gauge whose value is the state (0 closed, 1 open,
//! 2 half-open, 3 forced open, 4 disabled, 5 metrics only). See `docs/telemetry.md`.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use resile::{BoxError, Resilience};
use tower::{Layer, Service, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let prometheus = PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0])?
        .install_recorder()?;

    let layer = Resilience::new("inventory")
        .total_timeout(Duration::from_millis(400))
        .attempt_timeout(Duration::from_millis(100))
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(5),
            Duration::from_millis(5),
        )
        .breaker_window_calls(10)
        .minimum_calls(5)
        .build()?;

    // A dependency whose n-th call: fails (every 4th), hangs (the 6th), or answers.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let dependency = tower::service_fn(move |sku: u32| {
        let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        async move {
            match call {
                6 => {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(sku)
                }
                c if c.is_multiple_of(4) => Err(BoxError::from("connection reset")),
                _ => Ok(sku),
            }
        }
    });
    let mut svc = layer.layer(dependency);
    for sku in 0..8 {
        let _ = svc.ready().await?.call(sku).await;
    }
    // Maintenance: open the breaker by hand; the next calls are rejected.
    layer.breaker().force_open();
    for sku in 0..3 {
        let _ = svc.ready().await?.call(sku).await;
    }

    prometheus.run_upkeep();
    let text = prometheus.render();
    for line in text
        .lines()
        .filter(|l| l.contains("resile_") && !l.contains("_bucket"))
    {
        println!("{line}");
    }
    Ok(())
}
