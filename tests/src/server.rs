//! A real hyper server on `127.0.0.1:0` whose behaviour the test scripts.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::client::TestClient;
use crate::script::{RecordedRequest, Script, Then};

/// Which HTTP versions the server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, and HTTP/2 with prior knowledge (h2c), told apart by the connection preface.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 with prior knowledge only.
    Http2,
}

/// A hyper server on `127.0.0.1:0` that answers each request as its [`Script`] says, and
/// records what it received.
///
/// Dropping the server stops accepting, closes every connection and ends every hanging or held
/// request.
///
/// ```
/// use resile_tests::{Action, HttpServer, Script};
///
/// # resile_tests::with_paused_clock(std::time::Duration::from_secs(10), || async {
/// let server = HttpServer::start(Script::sequence([Action::status(503), Action::ok()]))
///     .await
///     .unwrap();
/// let client = server.client();
/// assert_eq!(client.get("/").await.unwrap().status(), 503);
/// assert_eq!(client.get("/").await.unwrap().status(), 200);
/// assert_eq!(server.requests(), 2);
/// # });
/// ```
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// State shared between the server handle, the accept loop and every request.
struct Shared {
    protocol: Protocol,
    script: Mutex<Installed>,
    recorded: Mutex<Vec<RecordedRequest>>,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// The number of requests received (read whole); tests wait on it.
    received: watch::Sender<usize>,
    /// Bumped by [`HttpServer::release`]; held requests wait for it to pass their arrival value.
    releases: watch::Sender<u64>,
    /// Set when the server is dropped; hanging and held requests end.
    shutdown: watch::Sender<bool>,
}

/// The script in force and the request count when it was installed.
struct Installed {
    script: Script,
    since: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the server's records from the next assertion.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HttpServer {
    /// Starts a server speaking HTTP/1.1 and h2c on `127.0.0.1:0`.
    pub async fn start(script: impl Into<Script>) -> io::Result<Self> {
        Self::start_with(Protocol::Auto, script).await
    }

    /// Starts a server speaking `protocol` on `127.0.0.1:0`.
    pub async fn start_with(protocol: Protocol, script: impl Into<Script>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            protocol,
            script: Mutex::new(Installed {
                script: script.into(),
                since: 0,
            }),
            recorded: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            received: watch::Sender::new(0),
            releases: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            addr,
            shared,
            accept,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An absolute `http://127.0.0.1:<port><path>` URI for this server.
    ///
    /// # Panics
    ///
    /// If `path` does not make a valid URI (a bug in the test).
    pub fn uri(&self, path: &str) -> Uri {
        let uri = format!("http://{}{path}", self.addr);
        uri.parse()
            .unwrap_or_else(|e| panic!("test server: bad path {path:?}: {e}"))
    }

    /// An HTTP/1.1 client pointed at this server (HTTP/2 for a [`Protocol::Http2`] server).
    pub fn client(&self) -> TestClient {
        match self.shared.protocol {
            Protocol::Http2 => TestClient::http2(self.addr),
            Protocol::Auto | Protocol::Http1 => TestClient::http1(self.addr),
        }
    }

    /// An HTTP/2 (prior knowledge) client pointed at this server.
    pub fn http2_client(&self) -> TestClient {
        TestClient::http2(self.addr)
    }

    /// Replaces the script; a sequence starts again from its first action.
    pub fn set_script(&self, script: impl Into<Script>) {
        let since = *self.shared.received.borrow();
        *lock(&self.shared.script) = Installed {
            script: script.into(),
            since,
        };
    }

    /// How many requests the server has received (read whole, before acting on them).
    pub fn requests(&self) -> usize {
        *self.shared.received.borrow()
    }

    /// How many connections the server has accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many requests are being handled now (received, not yet answered or abandoned).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests ever handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every request received so far, in arrival order.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.recorded).clone()
    }

    /// Waits (without a timer) until the server has received at least `n` requests.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.received.subscribe();
        // The sender lives as long as `self`, so this only returns once the count is reached.
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// Lets every request that arrived so far with a [held](crate::Action::held) action go on.
    pub fn release(&self) {
        self.shared.releases.send_modify(|r| *r += 1);
    }
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .field("protocol", &self.shared.protocol)
            .field("requests", &self.requests())
            .field("connections", &self.connections())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        // Dropping the accept loop drops its `JoinSet`, which aborts every connection.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let id = shared.connections.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve(stream, id, shared.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection until the client closes it, a [`Action::close`](crate::Action::close) fires, or the server
/// is dropped (the task is aborted).
async fn serve(stream: tokio::net::TcpStream, connection: usize, shared: Arc<Shared>) {
    let protocol = shared.protocol;
    let close = Arc::new(Notify::new());
    let close_on_request = close.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        handle(shared.clone(), connection, close_on_request.clone(), req)
    });
    // No hyper timer is set, so hyper arms no timers of its own (no header-read timeout, no
    // keep-alive pings): the only timers are the script's and the test's.
    let builder = auto::Builder::new(TokioExecutor::new());
    let builder = match protocol {
        Protocol::Auto => builder,
        Protocol::Http1 => builder.http1_only(),
        Protocol::Http2 => builder.http2_only(),
    };
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        // Dropping `conn` drops the socket: the client sees the connection end.
        () = close.notified() => {}
    }
}

/// Why the server ended a request without answering (hyper then drops the stream).
#[derive(Debug)]
enum Abandoned {
    BadBody(hyper::Error),
    ShuttingDown,
}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abandoned::BadBody(e) => write!(f, "test server: reading the request body: {e}"),
            Abandoned::ShuttingDown => f.write_str("test server: shutting down"),
        }
    }
}

impl std::error::Error for Abandoned {}

/// Counts a request as in flight from arrival until its future ends or is dropped.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    shared: Arc<Shared>,
    connection: usize,
    close: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Abandoned> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(Abandoned::BadBody)?.to_bytes();
    let _in_flight = InFlight::enter(&shared);
    let release_seen = *shared.releases.borrow();

    // Record, choose the action and count the request in one step, so a test that waits for
    // `n` requests sees all `n` recorded.
    let action = {
        let mut recorded = lock(&shared.recorded);
        let request = RecordedRequest {
            index: recorded.len(),
            connection,
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            body,
        };
        let action = {
            let installed = lock(&shared.script);
            installed
                .script
                .action(request.index - installed.since, &request)
        };
        recorded.push(request);
        shared.received.send_modify(|n| *n += 1);
        action
    };

    let mut shutdown = shared.shutdown.subscribe();
    let act = async {
        if !action.delay.is_zero() {
            tokio::time::sleep(action.delay).await;
        }
        if action.held {
            let mut releases = shared.releases.subscribe();
            let _ = releases.wait_for(|r| *r > release_seen).await;
        }
        match action.then {
            Then::Respond {
                status,
                headers,
                body,
            } => {
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                Ok(response)
            }
            Then::Hang => std::future::pending().await,
            Then::Close => {
                close.notify_one();
                std::future::pending().await
            }
        }
    };
    tokio::select! {
        answered = act => answered,
        _ = shutdown.wait_for(|stopping| *stopping) => Err(Abandoned::ShuttingDown),
    }
}
