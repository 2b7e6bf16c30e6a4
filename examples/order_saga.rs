//! Order placement as a saga, against three real HTTP services on loopback.
//!
//! Placing an order reserves inventory, charges the payment and creates the order. Each step is
//! an HTTP call through a resile attempt timeout; the reservation and the charge have
//! compensations (release, refund). The second order is too expensive: the payment service
//! declines it, and the saga releases the reservation it had made.
//!
//! ```text
//! cargo run -p resile-examples --example order-saga
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use resile_core::{BoxError, Event, EventLevel};
use resile_saga::{Compensation, Saga, SagaEvent, SagaId, Step, StepContext};
use resile_timeout::TimeoutLayer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};

// ---------------------------------------------------------------------------------------------
// The saga's data: the input, and what each step hands forward.

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    customer: String,
    sku: String,
    quantity: u32,
    cents: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reservation {
    id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payment {
    id: String,
}

// ---------------------------------------------------------------------------------------------
// The three services, each a real hyper server on 127.0.0.1:0, keeping its state in memory.

/// What the services hold, so the example can show that the reservation was released.
#[derive(Default)]
struct World {
    reservations: Mutex<HashMap<String, String>>,
    /// Idempotency key → response already given, so a repeated call does not act twice.
    seen: Mutex<HashMap<String, String>>,
    next: Mutex<u32>,
}

impl World {
    fn next_id(&self, prefix: &str) -> String {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        format!("{prefix}-{n}")
    }

    /// Answers a repeated key with the earlier answer, or runs `act` once and remembers it.
    fn once(&self, key: &str, act: impl FnOnce() -> String) -> String {
        if let Some(done) = self.seen.lock().unwrap().get(key) {
            return done.clone();
        }
        let answer = act();
        self.seen
            .lock()
            .unwrap()
            .insert(key.to_owned(), answer.clone());
        answer
    }
}

type Body = Full<Bytes>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res
}

async fn inventory(world: Arc<World>, req: Request<Incoming>) -> Response<Body> {
    let key = header(&req, "idempotency-key");
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body = text(req).await;
    match (method, path.as_str()) {
        (Method::POST, "/reservations") => {
            let id = world.once(&key, || {
                let id = world.next_id("rsv");
                world.reservations.lock().unwrap().insert(id.clone(), body);
                id
            });
            reply(StatusCode::CREATED, id)
        }
        (Method::DELETE, p) if p.starts_with("/reservations/") => {
            // Idempotent: releasing a released (or unknown) reservation is a success.
            world
                .reservations
                .lock()
                .unwrap()
                .remove(&p["/reservations/".len()..]);
            reply(StatusCode::NO_CONTENT, "")
        }
        _ => reply(StatusCode::NOT_FOUND, "no such route"),
    }
}

async fn payments(world: Arc<World>, req: Request<Incoming>) -> Response<Body> {
    let key = header(&req, "idempotency-key");
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body = text(req).await;
    match (method, path.as_str()) {
        (Method::POST, "/charges") => {
            let cents: u64 = body.trim().parse().unwrap_or(u64::MAX);
            if cents > 100_000 {
                return reply(
                    StatusCode::PAYMENT_REQUIRED,
                    "card declined: over the limit",
                );
            }
            reply(
                StatusCode::CREATED,
                world.once(&key, || world.next_id("pay")),
            )
        }
        (Method::POST, p) if p.starts_with("/charges/") && p.ends_with("/refund") => {
            reply(StatusCode::OK, "refunded")
        }
        _ => reply(StatusCode::NOT_FOUND, "no such route"),
    }
}

async fn orders(world: Arc<World>, req: Request<Incoming>) -> Response<Body> {
    let key = header(&req, "idempotency-key");
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/orders") => reply(
            StatusCode::CREATED,
            world.once(&key, || world.next_id("ord")),
        ),
        _ => reply(StatusCode::NOT_FOUND, "no such route"),
    }
}

fn header(req: &Request<Incoming>, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn text(req: Request<Incoming>) -> String {
    match req.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// Serves `handler` on a fresh loopback port until the process exits.
async fn serve<F, Fut>(handler: F) -> std::io::Result<SocketAddr>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

// ---------------------------------------------------------------------------------------------
// The client side: each step is a tower stack (request mapping → resile attempt timeout →
// hyper client → response check).

type Http = Client<HttpConnector, Body>;

fn request(method: Method, url: String, key: &str, body: String) -> Request<Body> {
    let mut req = Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = method;
    *req.uri_mut() = url.parse().unwrap_or_default();
    if let Ok(v) = key.parse() {
        req.headers_mut().insert("idempotency-key", v);
    }
    req
}

/// A 2xx response's body as text; anything else is an error carrying status and body.
async fn success(res: Response<Incoming>) -> Result<String, BoxError> {
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}").into())
    }
}

fn order_saga(
    http: &Http,
    inventory: SocketAddr,
    payments: SocketAddr,
    orders: SocketAddr,
) -> Result<Saga<Order>, BoxError> {
    let timeout = |name: &str| {
        TimeoutLayer::builder()
            .name(name)
            .limit(Duration::from_secs(2))
            .build()
    };

    let reserve = ServiceBuilder::new()
        .map_request(move |cx: StepContext<Order>| {
            let o = cx.input();
            request(
                Method::POST,
                format!("http://{inventory}/reservations"),
                cx.idempotency_key().as_str(),
                format!("{} x{}", o.sku, o.quantity),
            )
        })
        .layer(timeout("inventory")?)
        .service(http.clone())
        .and_then(|res| async move {
            Ok::<_, BoxError>(Reservation {
                id: success(res).await?,
            })
        });

    let release = ServiceBuilder::new()
        .map_request(move |c: Compensation<Order, Reservation>| {
            request(
                Method::DELETE,
                format!("http://{inventory}/reservations/{}", c.output().id),
                c.idempotency_key().as_str(),
                String::new(),
            )
        })
        .layer(timeout("inventory")?)
        .service(http.clone())
        .and_then(|res| async move { success(res).await.map(drop) });

    let charge = ServiceBuilder::new()
        .map_request(move |cx: StepContext<Order>| {
            request(
                Method::POST,
                format!("http://{payments}/charges"),
                cx.idempotency_key().as_str(),
                cx.input().cents.to_string(),
            )
        })
        .layer(timeout("payments")?)
        .service(http.clone())
        .and_then(|res| async move {
            Ok::<_, BoxError>(Payment {
                id: success(res).await?,
            })
        });

    // A compensation can also be a plain closure.
    let refund_client = ServiceBuilder::new()
        .layer(timeout("payments")?)
        .service(http.clone());
    let refund = move |c: Compensation<Order, Payment>| {
        let client = refund_client.clone();
        async move {
            let url = format!("http://{payments}/charges/{}/refund", c.output().id);
            let req = request(
                Method::POST,
                url,
                c.idempotency_key().as_str(),
                String::new(),
            );
            success(client.oneshot(req).await?).await.map(drop)
        }
    };

    let create = ServiceBuilder::new()
        .map_request(move |cx: StepContext<Order>| {
            // Data passed forward: the payment id from the previous step.
            let payment: Payment = cx.output("charge").unwrap_or(Payment { id: String::new() });
            request(
                Method::POST,
                format!("http://{orders}/orders"),
                cx.idempotency_key().as_str(),
                format!("{} paid by {}", cx.input().customer, payment.id),
            )
        })
        .layer(timeout("orders")?)
        .service(http.clone())
        .and_then(success);

    let saga = Saga::builder("place-order")
        .step(Step::service("reserve", reserve).compensate_service(release))
        .step(Step::service("charge", charge).compensate(refund))
        .step(Step::service("create", create))
        .listener(|e: &SagaEvent| {
            if e.level() >= EventLevel::Info {
                println!(
                    "  event: {} {} {}",
                    e.saga_id(),
                    e.kind(),
                    e.step().unwrap_or("")
                );
            }
        })
        .build()?;
    Ok(saga)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let world = Arc::new(World::default());
    let w = world.clone();
    let inventory = serve(move |req| inventory(w.clone(), req)).await?;
    let w = world.clone();
    let payments = serve(move |req| payments(w.clone(), req)).await?;
    let w = world.clone();
    let orders = serve(move |req| orders(w.clone(), req)).await?;
    println!("inventory on {inventory}, payments on {payments}, orders on {orders}\n");

    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let saga = order_saga(&http, inventory, payments, orders)?;

    let book = Order {
        customer: "ada".into(),
        sku: "book".into(),
        quantity: 2,
        cents: 3_998,
    };
    println!("order-1001: two books");
    let report = saga.run_with_id(SagaId::new("order-1001")?, book).await?;
    println!("{report}");
    println!("  created order: {}\n", report.output::<String>("create")?);
    assert!(report.is_completed());

    let piano = Order {
        customer: "grace".into(),
        sku: "piano".into(),
        quantity: 1,
        cents: 499_900,
    };
    println!("order-1002: a piano (the payment service declines it)");
    let report = saga.run_with_id(SagaId::new("order-1002")?, piano).await?;
    println!("{report}");
    assert_eq!(report.failed_step().map(|s| s.name()), Some("charge"));
    assert_eq!(report.compensated().collect::<Vec<_>>(), ["reserve"]);

    let held: Vec<String> = world
        .reservations
        .lock()
        .unwrap()
        .values()
        .cloned()
        .collect();
    println!("\ninventory still holds: {held:?} (the piano's reservation was released)");
    assert_eq!(held, ["book x2"]);
    Ok(())
}
