//! A gRPC client through resile's stack: a tonic `Channel` wrapped by `Resilience::grpc`,
//! against a loopback tonic server that is unavailable at first, then pushes back, then is
//! slow once, then healthy.
//!
//! The stack retries `UNAVAILABLE`, waits as the server's `grpc-retry-pushback-ms` asks, writes
//! each attempt's share of the deadline as `grpc-timeout`, and stays `Clone` — it plugs into a
//! (here hand-written, usually generated) tonic client without `tower::Buffer`.
//!
//! ```sh
//! cargo run -p resile-examples --example tonic-client
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use resile::{BoxError, DependencyError, Resilience};
use tokio::net::TcpListener;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Endpoint;
use tonic::transport::server::TcpIncoming;
use tonic_prost::ProstCodec;
use tower::Layer;

const METHOD: &str = "/shop.Inventory/Stock";

/// The request (a hand-written prost message: no build script, no `protoc`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StockRequest {
    /// The product.
    #[prost(string, tag = "1")]
    pub sku: String,
}

/// The reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StockReply {
    /// Units in stock.
    #[prost(uint32, tag = "1")]
    pub units: u32,
}

/// What a tonic-generated client looks like: generic over any `GrpcService`.
#[derive(Debug, Clone)]
struct InventoryClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> InventoryClient<T>
where
    T: tonic::client::GrpcService<Body>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<BoxError> + Send,
    T::Error: Into<BoxError>,
{
    fn new(inner: T) -> Self {
        Self {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    async fn stock(&mut self, sku: &str) -> Result<StockReply, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("not ready: {}", e.into())))?;
        let req = tonic::Request::new(StockRequest {
            sku: sku.to_owned(),
        });
        let codec = ProstCodec::<StockRequest, StockReply>::default();
        let path = http::uri::PathAndQuery::from_static(METHOD);
        Ok(self.inner.unary(req, path, codec).await?.into_inner())
    }
}

/// The server: its n-th call is unavailable (1, 2), pushed back (3), slow (5), else healthy.
#[derive(Debug, Clone, Default)]
struct Inventory {
    calls: Arc<AtomicUsize>,
}

impl NamedService for Inventory {
    const NAME: &'static str = "shop.Inventory";
}

impl tower::Service<http::Request<Body>> for Inventory {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        println!("  server: call {n}, grpc-timeout {timeout}");
        Box::pin(async move {
            if n == 5 {
                tokio::time::sleep(Duration::from_secs(5)).await; // slower than an attempt may take
            }
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<StockReply, StockRequest>::default());
            let handler = tower::service_fn(move |_req: tonic::Request<StockRequest>| async move {
                match n {
                    1 | 2 => Err(Status::unavailable("warming up")),
                    3 => {
                        let mut s = Status::resource_exhausted("busy");
                        s.metadata_mut()
                            .insert("grpc-retry-pushback-ms", "200".parse().expect("ascii"));
                        Err(s)
                    }
                    _ => Ok(tonic::Response::new(StockReply { units: 42 })),
                }
            });
            Ok(grpc.unary(handler, req).await)
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Inventory::default())
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let inventory = Resilience::grpc("inventory")
        .total_timeout(Duration::from_secs(3))
        .attempt_timeout(Duration::from_secs(1))
        .max_attempts(4)
        .backoff(
            resile::settings::BackoffKind::Exponential,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
        .build()?;
    // The protected channel is `Clone`: one per client, all sharing breaker, bulkhead and budget.
    let mut client = InventoryClient::new(inventory.layer(channel));

    println!("call 1: unavailable twice, then pushed back for 200 ms, then answered");
    let start = tokio::time::Instant::now();
    match client.stock("sku-1").await {
        Ok(reply) => println!("  -> {} units after {:?}", reply.units, start.elapsed()),
        Err(status) => println!("  -> failed: {status}"),
    }

    println!("call 2: the server is slow; the attempt is cut at 1 s and retried");
    let start = tokio::time::Instant::now();
    match client.stock("sku-2").await {
        Ok(reply) => println!("  -> {} units after {:?}", reply.units, start.elapsed()),
        Err(status) => {
            let why = resile::core::find::<DependencyError>(&status)
                .map_or_else(|| status.to_string(), ToString::to_string);
            println!("  -> failed after {:?}: {why}", start.elapsed());
        }
    }

    let health = inventory.health();
    println!(
        "\n`{}`: breaker {} ({} calls, {} failures in its window), {} in flight",
        health.name,
        health.circuit.state,
        health.circuit.calls,
        health.circuit.failures,
        health.bulkhead.in_flight
    );
    Ok(())
}
