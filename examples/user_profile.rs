//! A user profile built from two real HTTP services on loopback: the user is required, the
//! preferences are optional and fall back to defaults.
//!
//! - The preferences client sits behind a `FallbackLayer`: when the preferences service fails,
//!   it answers with the last good preferences seen for the same user (if under five minutes
//!   old), else with defaults — and the answer is marked degraded.
//! - The profile is gathered under a one-second deadline: a failed user fails the profile, while
//!   preferences that do not arrive in time are left at their defaults and reported missing.
//!
//! ```text
//! cargo run -p resile-examples --example user-profile
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use resile_core::BoxError;
use resile_fallback::gather::Gather;
use resile_fallback::{Degradable, FallbackEvent, FallbackLayer};
use tokio::net::TcpListener;
use tower::{Layer, Service, service_fn};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

#[derive(Debug, Clone, PartialEq)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Preferences {
    theme: String,
    language: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            theme: "light".to_owned(),
            language: "en".to_owned(),
        }
    }
}

impl Preferences {
    /// Parses `theme=dark;language=fr`.
    fn parse(text: &str) -> Self {
        let mut p = Self::default();
        for pair in text.split(';') {
            match pair.split_once('=') {
                Some(("theme", v)) => p.theme = v.to_owned(),
                Some(("language", v)) => p.language = v.to_owned(),
                _ => {}
            }
        }
        p
    }
}

// ---------------------------------------------------------------------------------------------
// The two services: real hyper servers on 127.0.0.1:0.

/// Serves `handler` over HTTP/1 on an ephemeral loopback port.
async fn serve<F, Fut>(handler: F) -> std::io::Result<SocketAddr>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                // A connection the client drops mid-request ends here with an error: fine.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_owned())));
    *res.status_mut() = status;
    res
}

fn id_in(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `GET /users/{id}`: users 1, 2 and 4 exist; user 3's database is broken.
async fn users_service(req: Request<Incoming>) -> Response<Full<Bytes>> {
    match id_in(req.uri().path()) {
        1 => reply(StatusCode::OK, "Ada Lovelace"),
        2 => reply(StatusCode::OK, "Grace Hopper"),
        4 => reply(StatusCode::OK, "Edsger Dijkstra"),
        3 => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "users shard 3 unavailable",
        ),
        _ => reply(StatusCode::NOT_FOUND, "no such user"),
    }
}

/// `GET /preferences/{id}`: answers while healthy, 503 when not; user 4's request hangs.
async fn preferences_service(
    healthy: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let id = id_in(req.uri().path());
    if id == 4 {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if !healthy.load(Ordering::SeqCst) {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "preferences store overloaded",
        );
    }
    let body = match id {
        1 => "theme=dark;language=en",
        _ => "theme=solarized;language=fr",
    };
    reply(StatusCode::OK, body)
}

// ---------------------------------------------------------------------------------------------
// The client side.

/// GETs `url`; a status other than 2xx is an error.
async fn get_text(client: HttpClient, url: String) -> Result<String, BoxError> {
    let req = Request::get(url).body(Empty::new())?;
    let res = client.request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}").into())
    }
}

fn print_event(e: &FallbackEvent) {
    match e {
        FallbackEvent::Answered {
            fallback,
            cause,
            age,
            ..
        } => match age {
            Some(age) => {
                println!(
                    "   [event] `{fallback}` answered for the failed call ({cause}), {age:.0?} old"
                )
            }
            None => println!("   [event] `{fallback}` answered for the failed call ({cause})"),
        },
        FallbackEvent::FallbackFailed {
            fallback, error, ..
        } => println!("   [event] `{fallback}` could not answer: {error}"),
        other => println!("   [event] {other:?}"),
    }
}

/// Builds and prints the profile of user `id`.
async fn show_profile<U, P>(users: &U, preferences: &P, id: u64)
where
    U: Service<u64, Response = User, Error = BoxError> + Clone + Send + 'static,
    U::Future: Send,
    P: Service<u64, Response = Degradable<Preferences>, Error = BoxError> + Clone + Send + 'static,
    P::Future: Send,
{
    let started = Instant::now();
    let mut g = Gather::within(Duration::from_secs(1));
    let user = g.required("user", g.call(users.clone(), id));
    let prefs = g.optional_or(
        "preferences",
        g.call(preferences.clone(), id),
        Degradable::new(Preferences::default()),
    );
    let mut out = match g.await {
        Ok(out) => out,
        Err(e) => {
            let cause = e.error().map(|c| c.to_string()).unwrap_or_default();
            println!(
                "   => 503 profile unavailable: {e} ({cause}) after {:.0?}",
                started.elapsed()
            );
            return;
        }
    };
    let user = out.take(user);
    let (prefs, degraded) = out.take(prefs).into_parts();
    let missing: Vec<String> = out
        .missing()
        .map(|m| format!("{}: {}", m.name(), m.reason_str()))
        .collect();
    let source = match (&degraded, out.missing().next()) {
        (Some(d), _) => format!("fallback `{}`", d.fallback()),
        (None, Some(_)) => "gather default".to_owned(),
        (None, None) => "preferences service".to_owned(),
    };
    println!(
        "   => 200 {{ user: {:?}, theme: {:?}, language: {:?}, degraded: {}, preferences_from: {:?}, missing: {:?} }} after {:.0?}",
        user.name,
        prefs.theme,
        prefs.language,
        degraded.is_some() || out.is_partial(),
        source,
        missing,
        started.elapsed()
    );
    debug_assert_eq!(user.id, id);
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let healthy = Arc::new(AtomicBool::new(true));
    let users_addr = serve(users_service).await?;
    let h = healthy.clone();
    let prefs_addr = serve(move |req| preferences_service(h.clone(), req)).await?;
    println!("users service on {users_addr}, preferences service on {prefs_addr}\n");

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let c = client.clone();
    let users = service_fn(move |id: u64| {
        let c = c.clone();
        async move {
            let name = get_text(c, format!("http://{users_addr}/users/{id}")).await?;
            Ok::<_, BoxError>(User { id, name })
        }
    });

    // Preferences: the last good answer for the same user, else the defaults.
    let fallback = FallbackLayer::builder("preferences")
        .request_key(|id: &u64| *id)
        .last_known_good(Duration::from_secs(300), 10_000)
        .value(Degradable::new(Preferences::default()))
        .label("defaults")
        .listener(print_event)
        .build()?;
    let c = client.clone();
    let preferences = fallback.layer(service_fn(move |id: u64| {
        let c = c.clone();
        async move {
            let text = get_text(c, format!("http://{prefs_addr}/preferences/{id}")).await?;
            Ok::<_, BoxError>(Degradable::new(Preferences::parse(&text)))
        }
    }));

    println!("1. everything is up: user 1");
    show_profile(&users, &preferences, 1).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    healthy.store(false, Ordering::SeqCst);
    println!("\n2. the preferences service now answers 503: user 1 was seen before");
    show_profile(&users, &preferences, 1).await;

    println!("\n3. still 503: user 2 was never seen");
    show_profile(&users, &preferences, 2).await;

    println!("\n4. the preferences request for user 4 hangs past the 1 s deadline");
    show_profile(&users, &preferences, 4).await;

    println!("\n5. the user service fails for user 3 (required)");
    show_profile(&users, &preferences, 3).await;

    let stats = fallback.handle();
    println!(
        "\npreferences fallback: {} failures handled, answers per fallback {:?}, {} cached users",
        stats.triggered(),
        stats.per_fallback(),
        stats.cached_entries().unwrap_or(0)
    );
    Ok(())
}
