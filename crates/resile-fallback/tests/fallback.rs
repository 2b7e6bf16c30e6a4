//! The fallback layer, end to end on a paused clock: each kind of fallback, the chain order,
//! what the caller gets when everything fails, the degraded marker, the last-known-good cache,
//! triggers, events, counters and validation.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resile_core::{
    BoxError, BulkheadFull, CircuitOpen, Elapsed, ErrorKind, EventLevel, Name, Verdict, find,
    kind_of,
};
use resile_fallback::{
    Cause, Degradable, FallbackEvent, FallbackExhausted, FallbackLayer, NoLastKnownGood,
    primary_error,
};
use tower::{Layer, Service, ServiceExt, service_fn};

type Res = Degradable<String>;

fn ok(s: &str) -> Result<Res, BoxError> {
    Ok(Degradable::new(s.to_owned()))
}

fn open() -> BoxError {
    CircuitOpen::new(Name::new("users"), Duration::from_secs(5)).into()
}

/// A primary that answers from a script, one outcome per call, and counts its calls.
#[derive(Clone)]
struct Script {
    outcomes: Arc<Mutex<Vec<Result<Res, BoxError>>>>,
    calls: Arc<AtomicUsize>,
}

impl Script {
    fn new(outcomes: Vec<Result<Res, BoxError>>) -> Self {
        let mut outcomes = outcomes;
        outcomes.reverse();
        Self {
            outcomes: Arc::new(Mutex::new(outcomes)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Service<u64> for Script {
    type Response = Res;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Res, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u64) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self
            .outcomes
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| Err("script ran out".into()));
        std::future::ready(next)
    }
}

fn recorder() -> (
    Arc<Mutex<Vec<FallbackEvent>>>,
    impl Fn(&FallbackEvent) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |e: &FallbackEvent| {
        sink.lock().unwrap().push(e.clone())
    })
}

async fn call<S: Service<u64>>(svc: &mut S, req: u64) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(req).await
}

// ---------------------------------------------------------------- each kind of fallback

#[tokio::test(start_paused = true)]
async fn value_fallback_answers_a_failed_call_and_is_marked_degraded() {
    let layer = FallbackLayer::builder("users")
        .value(Degradable::new("guest".to_owned()))
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![Err(open())]));
    let answer = call(&mut svc, 1).await.unwrap();
    assert_eq!(answer.get(), "guest");
    let d = answer.degraded().expect("marked");
    assert_eq!(
        (d.dependency(), d.fallback(), d.position()),
        ("users", "value", 0)
    );
    assert_eq!(d.cause(), Cause::Resile(ErrorKind::CircuitOpen));
    assert_eq!(d.age(), None);
}

#[tokio::test(start_paused = true)]
async fn function_fallback_sees_the_request_key_and_the_primary_error() {
    let layer = FallbackLayer::builder("users")
        .request_key(|id: &u64| *id)
        .function(|id: &u64, outcome: &Result<Res, BoxError>| {
            let why = outcome
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            Degradable::new(format!("user {id} unavailable: {why}"))
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![Err("connection refused".into())]));
    let answer = call(&mut svc, 42).await.unwrap();
    assert_eq!(answer.get(), "user 42 unavailable: connection refused");
    assert_eq!(answer.degraded().unwrap().cause(), Cause::Error);
    assert_eq!(answer.degraded().unwrap().fallback(), "function");
}

#[tokio::test(start_paused = true)]
async fn async_function_fallback_answers_after_its_own_delay() {
    let layer = FallbackLayer::builder("users")
        .request_key(|id: &u64| *id)
        .async_function(|id: &u64, _: &Result<Res, BoxError>| {
            let id = *id;
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, BoxError>(Degradable::new(format!("replica {id}")))
            }
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![Err(open())]));
    let start = tokio::time::Instant::now();
    let answer = call(&mut svc, 7).await.unwrap();
    assert_eq!(answer.get(), "replica 7");
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(answer.degraded().unwrap().fallback(), "async_function");
}

#[tokio::test(start_paused = true)]
async fn backup_service_gets_the_kept_request() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let backup = service_fn(move |id: u64| {
        sink.lock().unwrap().push(id);
        async move { Ok::<_, io::Error>(Degradable::new(format!("backup {id}"))) }
    });
    let layer = FallbackLayer::builder("users")
        .keep_request()
        .service(backup)
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![ok("primary"), Err(open())]));
    assert_eq!(call(&mut svc, 1).await.unwrap().get(), "primary");
    let answer = call(&mut svc, 2).await.unwrap();
    assert_eq!(answer.get(), "backup 2");
    assert_eq!(answer.degraded().unwrap().fallback(), "service");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![2],
        "the backup runs only for the failed call"
    );
}

#[tokio::test(start_paused = true)]
async fn last_known_good_serves_the_previous_success_for_the_same_key_with_its_age() {
    let layer = FallbackLayer::builder("users")
        .request_key(|id: &u64| *id)
        .last_known_good(Duration::from_secs(60), 100)
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![
        ok("ada v1"),
        ok("bob"),
        Err(open()),
        Err(open()),
    ]));
    call(&mut svc, 1).await.unwrap();
    call(&mut svc, 2).await.unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    let answer = call(&mut svc, 1).await.unwrap();
    assert_eq!(answer.get(), "ada v1");
    let d = answer.degraded().unwrap();
    assert_eq!(
        (d.fallback(), d.age()),
        ("last_known_good", Some(Duration::from_secs(20)))
    );
    // Nothing cached for key 3: the only fallback fails, the primary's error comes back.
    let err = call(&mut svc, 3).await.unwrap_err();
    let exhausted = err.downcast_ref::<FallbackExhausted>().unwrap();
    assert!(exhausted.failures()[0].error().is::<NoLastKnownGood>());
}

// ---------------------------------------------------------------- chain order and exhaustion

#[tokio::test(start_paused = true)]
async fn chain_is_tried_in_order_and_the_first_answer_wins() {
    let later_calls = Arc::new(AtomicUsize::new(0));
    let later = later_calls.clone();
    let (events, listener) = recorder();
    let layer = FallbackLayer::builder("users")
        .try_function(|_: &(), _: &Result<Res, BoxError>| Err::<Res, _>("cache offline"))
        .label("cache")
        .async_function(|_: &(), _: &Result<Res, BoxError>| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err::<Res, BoxError>("replica refused".into())
        })
        .label("replica")
        .value(Degradable::new("static".to_owned()))
        .function(move |_: &(), _: &Result<Res, BoxError>| {
            later.fetch_add(1, Ordering::SeqCst);
            Degradable::new("never".to_owned())
        })
        .listener(listener)
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![Err(open())]));
    let answer = call(&mut svc, 1).await.unwrap();
    assert_eq!(answer.get(), "static");
    assert_eq!(answer.degraded().unwrap().position(), 2);
    assert_eq!(
        later_calls.load(Ordering::SeqCst),
        0,
        "fallbacks after the answer never run"
    );
    let kinds: Vec<(String, usize)> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            FallbackEvent::FallbackFailed {
                fallback, position, ..
            } => (format!("failed {fallback}"), *position),
            FallbackEvent::Answered {
                fallback, position, ..
            } => (format!("answered {fallback}"), *position),
            other => (format!("{other:?}"), 99),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("failed cache".to_owned(), 0),
            ("failed replica".to_owned(), 1),
            ("answered value".to_owned(), 2)
        ]
    );
    let h = layer.handle();
    assert_eq!(
        h.per_fallback(),
        vec![("cache", 0), ("replica", 0), ("value", 1), ("function", 0)]
    );
    assert_eq!(
        (
            h.triggered(),
            h.answered(),
            h.fallback_errors(),
            h.exhausted()
        ),
        (1, 1, 2, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn when_every_fallback_fails_the_caller_gets_the_primary_error_with_the_others_attached() {
    let (events, listener) = recorder();
    let layer = FallbackLayer::builder("users")
        .try_function(|_: &(), _: &Result<Res, BoxError>| Err::<Res, _>("cache offline"))
        .try_function(|_: &(), _: &Result<Res, BoxError>| {
            Err::<Res, _>(io::Error::other("replica down"))
        })
        .listener(listener)
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![Err(open())]));
    let err = call(&mut svc, 1).await.unwrap_err();

    // The primary's kind, not the last fallback's.
    assert_eq!(kind_of(&*err), Some(ErrorKind::CircuitOpen));
    assert!(find::<CircuitOpen>(&*err).is_some());
    assert!(primary_error(&*err).is::<CircuitOpen>());
    let exhausted = err.downcast_ref::<FallbackExhausted>().unwrap();
    let fallback_errors: Vec<String> = exhausted
        .failures()
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(fallback_errors, ["cache offline", "replica down"]);
    assert_eq!(err.to_string(), "`users` failed and so did its 2 fallbacks");

    let last = events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        FallbackEvent::Exhausted {
            dependency: Name::new("users"),
            cause: Cause::Resile(ErrorKind::CircuitOpen),
            tried: 2
        }
    );
    assert_eq!(layer.handle().exhausted(), 1);
}

#[tokio::test(start_paused = true)]
async fn keep_primary_error_returns_the_boxed_primary_untouched() {
    let layer = FallbackLayer::builder("users")
        .try_function(|_: &(), _: &Result<Res, BoxError>| Err::<Res, _>("cache offline"))
        .keep_primary_error()
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![Err(open())]));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert!(err.is::<CircuitOpen>());
}

#[tokio::test(start_paused = true)]
async fn a_concrete_error_type_comes_back_unchanged_and_fallback_errors_reach_listeners() {
    let (events, listener) = recorder();
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("prices")
        .try_function(|_: &(), _: &Result<u64, io::Error>| Err::<u64, _>("no default price"))
        .listener(listener)
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(|_: u64| async {
        Err::<u64, _>(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "reset by peer",
        ))
    }));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(err.to_string(), "reset by peer");
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        FallbackEvent::FallbackFailed { error, .. } if error == "no default price"
    )));
}

// ---------------------------------------------------------------- the degraded marker

#[tokio::test(start_paused = true)]
async fn the_marker_is_set_only_on_fallback_answers() {
    let layer = FallbackLayer::builder("users")
        .value(Degradable::new("stand-in".to_owned()))
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![ok("real"), Err(open()), ok("real again")]));
    let a = call(&mut svc, 1).await.unwrap();
    let b = call(&mut svc, 1).await.unwrap();
    let c = call(&mut svc, 1).await.unwrap();
    assert_eq!((a.get().as_str(), a.is_degraded()), ("real", false));
    assert_eq!((b.get().as_str(), b.is_degraded()), ("stand-in", true));
    assert_eq!((c.get().as_str(), c.is_degraded()), ("real again", false));
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_responses_carry_the_marker_as_an_extension_only_from_fallbacks() {
    use resile_fallback::Degraded;
    let layer = FallbackLayer::builder("search")
        .function(
            |_: &(), _: &Result<http::Response<&'static str>, BoxError>| {
                http::Response::new("cached results")
            },
        )
        .build()
        .unwrap();
    let mut calls = 0;
    let mut svc = layer.layer(service_fn(move |_: u64| {
        calls += 1;
        let fail = calls == 2;
        async move {
            if fail {
                Err::<http::Response<&'static str>, BoxError>(open())
            } else {
                Ok(http::Response::new("live results"))
            }
        }
    }));
    let live = call(&mut svc, 1).await.unwrap();
    assert!(live.extensions().get::<Degraded>().is_none());
    let stand_in = call(&mut svc, 1).await.unwrap();
    assert_eq!(*stand_in.body(), "cached results");
    let d = stand_in.extensions().get::<Degraded>().unwrap();
    assert_eq!((d.dependency(), d.fallback()), ("search", "function"));
}

// ---------------------------------------------------------------- last known good: TTL and capacity

#[tokio::test(start_paused = true)]
async fn last_known_good_expires_after_its_ttl_and_the_next_fallback_answers() {
    let layer = FallbackLayer::builder("users")
        .request_key(|id: &u64| *id)
        .last_known_good(Duration::from_secs(10), 100)
        .value(Degradable::new("static".to_owned()))
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![ok("ada"), Err(open()), Err(open())]));
    call(&mut svc, 1).await.unwrap();
    tokio::time::advance(Duration::from_millis(9_999)).await;
    let fresh = call(&mut svc, 1).await.unwrap();
    assert_eq!(fresh.get(), "ada");
    tokio::time::advance(Duration::from_millis(1)).await;
    let expired = call(&mut svc, 1).await.unwrap();
    assert_eq!(expired.get(), "static");
    assert_eq!(expired.degraded().unwrap().position(), 1);
    assert_eq!(
        layer.handle().per_fallback(),
        vec![("last_known_good", 1), ("value", 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn last_known_good_holds_at_most_capacity_keys_and_drops_the_least_recent() {
    let layer = FallbackLayer::builder("users")
        .request_key(|id: &u64| *id)
        .last_known_good(Duration::from_secs(60), 2)
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![
        ok("one"),
        ok("two"),
        ok("three"),
        Err(open()),
        Err(open()),
    ]));
    for id in 1..=3 {
        call(&mut svc, id).await.unwrap();
    }
    assert_eq!(layer.handle().cached_entries(), Some(2));
    assert_eq!(call(&mut svc, 3).await.unwrap().get(), "three");
    let evicted = call(&mut svc, 1).await.unwrap_err();
    assert!(primary_error(&*evicted).is::<CircuitOpen>());
}

#[tokio::test(start_paused = true)]
async fn last_known_good_by_a_cache_key_shares_entries_between_request_keys() {
    let layer = FallbackLayer::builder("pages")
        .request_key(|path: &String| path.clone())
        .last_known_good_by(Duration::from_secs(60), 10, |path: &String| {
            path.to_lowercase()
        })
        .build()
        .unwrap();
    let mut outcomes = vec![ok("home"), Err(open())];
    outcomes.reverse();
    let outcomes = Arc::new(Mutex::new(outcomes));
    let mut svc = layer.layer(service_fn(move |_: String| {
        let next = outcomes.lock().unwrap().pop().unwrap();
        async move { next }
    }));
    svc.ready()
        .await
        .unwrap()
        .call("/Home".to_owned())
        .await
        .unwrap();
    let answer = svc
        .ready()
        .await
        .unwrap()
        .call("/home".to_owned())
        .await
        .unwrap();
    assert_eq!(answer.get(), "home");
    layer.handle().clear_last_known_good();
    assert_eq!(layer.handle().cached_entries(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn only_successes_are_remembered() {
    let layer = FallbackLayer::builder("users")
        .request_key(|id: &u64| *id)
        .classifier(|r: &Result<Res, BoxError>| match r {
            Ok(res) if res.get() == "not found" => Verdict::Ignored,
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::retryable_failure(),
        })
        .last_known_good(Duration::from_secs(60), 10)
        .build()
        .unwrap();
    let mut svc = layer.layer(Script::new(vec![ok("not found"), Err(open())]));
    assert_eq!(call(&mut svc, 1).await.unwrap().get(), "not found");
    assert_eq!(layer.handle().cached_entries(), Some(0));
    assert!(call(&mut svc, 1).await.is_err());
}

// ---------------------------------------------------------------- triggers

#[tokio::test(start_paused = true)]
async fn on_kinds_falls_back_only_for_the_chosen_resile_kinds() {
    let layer = FallbackLayer::builder("users")
        .on_kinds([ErrorKind::CircuitOpen, ErrorKind::BulkheadFull])
        .value(Degradable::new("shed".to_owned()))
        .build()
        .unwrap();
    let full: BoxError = BulkheadFull::new(Name::new("users"), 4).into();
    let timeout: BoxError = Elapsed::attempt(Name::new("users"), Duration::from_secs(1)).into();
    let mut svc = layer.layer(Script::new(vec![
        Err(open()),
        Err(full),
        Err(timeout),
        Err("io".into()),
    ]));
    assert_eq!(call(&mut svc, 1).await.unwrap().get(), "shed");
    assert_eq!(call(&mut svc, 1).await.unwrap().get(), "shed");
    let err = call(&mut svc, 1).await.unwrap_err();
    assert!(err.is::<Elapsed>(), "a timeout passes through untouched");
    assert_eq!(call(&mut svc, 1).await.unwrap_err().to_string(), "io");
    assert_eq!(layer.handle().triggered(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_predicate_picks_the_errors_that_fall_back() {
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("prices")
        .when(|e: &io::Error| e.kind() == io::ErrorKind::TimedOut)
        .value(0)
        .build()
        .unwrap();
    let mut n = 0;
    let mut svc = layer.layer(service_fn(move |_: u64| {
        n += 1;
        let kind = if n == 1 {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::PermissionDenied
        };
        async move { Err::<u64, _>(io::Error::from(kind)) }
    }));
    assert_eq!(call(&mut svc, 1).await.unwrap(), 0);
    assert_eq!(
        call(&mut svc, 1).await.unwrap_err().kind(),
        io::ErrorKind::PermissionDenied
    );
}

#[tokio::test(start_paused = true)]
async fn a_classifier_can_fall_back_for_a_failed_response_and_returns_it_if_all_fail() {
    let classify = |r: &Result<u16, BoxError>| match r {
        Ok(s) if *s >= 500 => Verdict::retryable_failure(),
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::retryable_failure(),
    };
    let answering = FallbackLayer::builder("api")
        .classifier(classify)
        .value(299u16)
        .build()
        .unwrap();
    let mut svc = answering.layer(service_fn(|_: u64| async { Ok::<u16, BoxError>(503) }));
    assert_eq!(call(&mut svc, 1).await.unwrap(), 299);

    let (events, listener) = recorder();
    let failing = FallbackLayer::builder("api")
        .classifier(classify)
        .try_function(|_: &(), _: &Result<u16, BoxError>| Err::<u16, _>("no stand-in"))
        .listener(listener)
        .build()
        .unwrap();
    let mut svc = failing.layer(service_fn(|_: u64| async { Ok::<u16, BoxError>(503) }));
    assert_eq!(
        call(&mut svc, 1).await.unwrap(),
        503,
        "the primary's own response comes back"
    );
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        FallbackEvent::Exhausted {
            cause: Cause::FailedResponse,
            ..
        }
    )));
}

// ---------------------------------------------------------------- events and counters

#[tokio::test(start_paused = true)]
async fn fallback_events_are_info_or_warn_and_every_use_is_counted() {
    let (events, listener) = recorder();
    let layer = FallbackLayer::builder("users")
        .value(Degradable::new("x".to_owned()))
        .listener(listener)
        .build()
        .unwrap();
    let mut a = layer.layer(Script::new(vec![Err(open()), Err(open()), ok("fine")]));
    let mut b = a.clone();
    call(&mut a, 1).await.unwrap();
    call(&mut b, 1).await.unwrap();
    call(&mut a, 1).await.unwrap();
    let levels: Vec<EventLevel> = events
        .lock()
        .unwrap()
        .iter()
        .map(resile_core::Event::level)
        .collect();
    assert_eq!(levels, [EventLevel::Info, EventLevel::Info]);
    assert!(levels.iter().all(|l| *l < EventLevel::Error));
    // Clones and the layer share the counters.
    assert_eq!(
        (
            a.handle().answered(),
            b.handle().answered(),
            layer.handle().answered()
        ),
        (2, 2, 2)
    );
    assert_eq!(layer.handle().answered_by(0), Some(2));
    assert_eq!(layer.handle().answered_by(1), None);
    assert_eq!(layer.handle().triggered(), 2);
}

// ---------------------------------------------------------------- validation

#[test]
fn invalid_configuration_is_an_error_naming_the_knob() {
    type B = FallbackLayer<u64, u64, io::Error>;
    let field = |r: Result<FallbackLayer<u64, u64, io::Error, u64>, resile_core::ConfigError>| {
        r.unwrap_err().field()
    };
    assert_eq!(B::builder("x").build().unwrap_err().field(), "chain");
    assert_eq!(
        field(
            B::builder("x")
                .request_key(|k: &u64| *k)
                .last_known_good(Duration::ZERO, 10)
                .build()
        ),
        "last_known_good.ttl"
    );
    assert_eq!(
        field(
            B::builder("x")
                .request_key(|k: &u64| *k)
                .last_known_good(Duration::from_secs(1), 0)
                .build()
        ),
        "last_known_good.capacity"
    );
    assert_eq!(
        field(
            B::builder("x")
                .request_key(|k: &u64| *k)
                .last_known_good(Duration::from_secs(1), 1)
                .last_known_good(Duration::from_secs(1), 1)
                .build()
        ),
        "last_known_good"
    );
    assert_eq!(
        B::builder("x")
            .on_kinds([])
            .value(1)
            .build()
            .unwrap_err()
            .field(),
        "on_kinds"
    );
    assert_eq!(
        B::builder("x")
            .label("first")
            .value(1)
            .build()
            .unwrap_err()
            .field(),
        "label"
    );
    assert_eq!(
        field(
            B::builder("x")
                .value(1)
                .request_key(|k: &u64| *k)
                .value(2)
                .build()
        ),
        "request_key"
    );
    let e = B::builder("x").build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid fallback configuration: `chain` must hold at least one fallback, got none"
    );
}
