//! Support for resile's end-to-end tests against real loopback servers.
//!
//! - [`HttpServer`]: a real hyper 1 server on `127.0.0.1:0` (HTTP/1.1 and h2c) that answers each
//!   request as a [`Script`] of [`Action`]s says — a status with headers and a body, after a
//!   delay; hang for ever; close the connection without answering; hold until released — and
//!   records what it received ([`RecordedRequest`]), how many requests and connections it saw, and
//!   how many were in flight at once.
//! - [`TestClient`] / [`hyper_client`]: a hyper-util legacy client pointed at it, which is the
//!   `tower::Service` a layer under test wraps.
//! - [`with_paused_clock`]: runs a test on a current-thread runtime with a paused clock, bounded
//!   by a real-time limit so a hung test fails instead of hanging CI.
//!
//! # Time, IO and the paused clock
//!
//! Every timer here is a `tokio::time` timer, and neither the server nor the client sets a hyper
//! timer, so the only timers are the ones the script and the test create. With the clock
//! paused, tokio *auto-advances* to the next timer whenever the runtime has nothing to do —
//! including while bytes are in flight on the loopback socket. What that means in practice:
//!
//! - With no timer pending, a paused clock never moves: plain request/response tests are exact.
//! - A scripted [`delay`](Action::delay) with no competing client-side timer is exact: the
//!   response arrives after exactly the delay of virtual time.
//! - A client-side timeout that races server-side work is only deterministic once the request
//!   has reached the server: start the call, `server.wait_for_requests(n).await` (which waits
//!   without a timer), then apply the timeout (`tokio::time::timeout_at(start + limit, call)`).
//!   Otherwise the clock may jump to the client's timeout while the request is still on the wire.
//! - For concurrency, prefer [`Action::held`] and [`HttpServer::release`] to delays.
//!
//! ```
//! use resile_tests::{with_paused_clock, Action, HttpServer, Script};
//! use std::time::Duration;
//!
//! with_paused_clock(Duration::from_secs(10), || async {
//!     let server = HttpServer::start(Script::sequence([
//!         Action::status(503).retry_after(1),
//!         Action::ok().delay(Duration::from_millis(200)),
//!     ]))
//!     .await
//!     .unwrap();
//!     let client = server.client();
//!     let first = client.get("/users").await.unwrap();
//!     assert_eq!(first.status(), 503);
//!     assert_eq!(first.headers()["retry-after"], "1");
//!
//!     let start = tokio::time::Instant::now();
//!     assert_eq!(client.get("/users").await.unwrap().status(), 200);
//!     assert_eq!(start.elapsed(), Duration::from_millis(200));
//!     assert_eq!(server.requests(), 2);
//! });
//! ```

#![forbid(unsafe_code)]

mod client;
pub mod grpc;
mod runtime;
mod script;
mod server;

pub use client::{HyperClient, TestClient, collect, hyper_client};
pub use runtime::{with_paused_clock, with_real_clock};
pub use script::{Action, RecordedRequest, Script};
pub use server::{HttpServer, Protocol};
