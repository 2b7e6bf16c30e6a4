//! A real tonic gRPC server on `127.0.0.1:0` that answers one unary method by script.
//!
//! The method is `/resile.test.Echo/Call` ([`METHOD`]); its messages are [`EchoRequest`] and
//! [`EchoReply`], hand-written prost messages (no build script, no `protoc`). Each call takes the
//! next [`GrpcAction`] of the script (the last one repeats): echo the message, or answer a gRPC
//! status (with an optional `grpc-retry-pushback-ms`), after an optional delay. The server
//! records the `grpc-timeout` header of every request it receives.
//!
//! ```
//! use resile_tests::grpc::{call, GrpcAction, GrpcServer};
//! use resile_tests::with_real_clock;
//! use std::time::Duration;
//!
//! with_real_clock(Duration::from_secs(20), || async {
//!     let server = GrpcServer::start([GrpcAction::status(tonic::Code::Unavailable), GrpcAction::ok()])
//!         .await
//!         .unwrap();
//!     let channel = server.channel().await.unwrap();
//!     let first = call(channel.clone(), "hi").await.unwrap_err();
//!     assert_eq!(first.code(), tonic::Code::Unavailable);
//!     assert_eq!(call(channel, "hi").await.unwrap().into_inner().message, "hi");
//!     assert_eq!(server.requests(), 2);
//! });
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

/// The one method the test server serves.
pub const METHOD: &str = "/resile.test.Echo/Call";

/// The request message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    /// Text to echo.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The reply message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoReply {
    /// The echoed text.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// What the server does with one call.
#[derive(Debug, Clone)]
pub struct GrpcAction {
    code: Option<Code>,
    pushback: Option<String>,
    delay: Duration,
}

impl GrpcAction {
    /// Echo the request.
    pub fn ok() -> Self {
        Self {
            code: None,
            pushback: None,
            delay: Duration::ZERO,
        }
    }

    /// Answer with this status (a trailers-only response).
    pub fn status(code: Code) -> Self {
        Self {
            code: Some(code),
            ..Self::ok()
        }
    }

    /// Add `grpc-retry-pushback-ms: value` to the status.
    pub fn pushback(mut self, value: impl Into<String>) -> Self {
        self.pushback = Some(value.into());
        self
    }

    /// Answer after `delay` (tokio time).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug, Default)]
struct State {
    script: Mutex<VecDeque<GrpcAction>>,
    requests: AtomicUsize,
    timeouts: Mutex<Vec<Option<String>>>,
}

impl State {
    fn next(&self) -> GrpcAction {
        let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        if script.len() > 1 {
            script.pop_front().unwrap_or_else(GrpcAction::ok)
        } else {
            script.front().cloned().unwrap_or_else(GrpcAction::ok)
        }
    }
}

/// A running tonic server; shut down when dropped.
#[derive(Debug)]
pub struct GrpcServer {
    addr: SocketAddr,
    state: Arc<State>,
    _shutdown: oneshot::Sender<()>,
}

impl GrpcServer {
    /// Starts a server on `127.0.0.1:0` with this script.
    pub async fn start(script: impl IntoIterator<Item = GrpcAction>) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            script: Mutex::new(script.into_iter().collect()),
            ..State::default()
        });
        let (tx, rx) = oneshot::channel::<()>();
        let svc = EchoService {
            state: state.clone(),
        };
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            state,
            _shutdown: tx,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A tonic `Channel` connected to the server.
    pub async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await
    }

    /// How many calls the server received.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The `grpc-timeout` header of every call received, in order.
    pub fn grpc_timeouts(&self) -> Vec<Option<String>> {
        self.state
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Calls [`METHOD`] through any gRPC service (a `Channel`, or a resile stack around one).
pub async fn call<S>(svc: S, message: &str) -> Result<tonic::Response<EchoReply>, Status>
where
    S: tonic::client::GrpcService<Body>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<resile_core::BoxError> + Send,
    S::Error: Into<resile_core::BoxError>,
{
    let mut grpc = tonic::client::Grpc::new(svc);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("service not ready: {}", e.into())))?;
    let request = tonic::Request::new(EchoRequest {
        message: message.to_owned(),
    });
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(METHOD),
        ProstCodec::<EchoRequest, EchoReply>::default(),
    )
    .await
}

#[derive(Debug, Clone)]
struct EchoService {
    state: Arc<State>,
}

impl NamedService for EchoService {
    const NAME: &'static str = "resile.test.Echo";
}

impl tower::Service<http::Request<Body>> for EchoService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.state
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(timeout);
        self.state.requests.fetch_add(1, Ordering::SeqCst);
        let action = self.state.next();
        Box::pin(async move {
            if !action.delay.is_zero() {
                tokio::time::sleep(action.delay).await;
            }
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<EchoReply, EchoRequest>::default());
            let handler = tower::service_fn(move |req: tonic::Request<EchoRequest>| {
                let action = action.clone();
                async move {
                    match action.code {
                        None => Ok(tonic::Response::new(EchoReply {
                            message: req.into_inner().message,
                        })),
                        Some(code) => {
                            let mut status = Status::new(code, "scripted");
                            if let Some(p) = action.pushback.as_deref().and_then(|p| p.parse().ok())
                            {
                                status.metadata_mut().insert("grpc-retry-pushback-ms", p);
                            }
                            Err(status)
                        }
                    }
                }
            });
            Ok(grpc.unary(handler, req).await)
        })
    }
}
