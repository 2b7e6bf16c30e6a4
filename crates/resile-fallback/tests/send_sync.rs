//! `Send`, `Sync` and `Unpin` for every public type, in the style of tokio's
//! `async_send_sync.rs`.

use std::io;

use resile_core::BoxError;
use resile_fallback::gather::{
    Call, Gather, GatherError, GatherFuture, Gathered, Missing, Optional, OrDefault, Required,
};
use resile_fallback::{
    Cause, Degradable, Degraded, Fallback, FallbackEvent, FallbackExhausted, FallbackFailure,
    FallbackHandle, FallbackLayer, FallbackLayerBuilder, NoLastKnownGood, ResponseFuture,
};
use tower::util::ServiceFn;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

type Primary = ServiceFn<fn(u64) -> std::future::Ready<Result<u64, io::Error>>>;
type PrimaryFuture = std::future::Ready<Result<u64, io::Error>>;

/// A future that is `Send` but not `Unpin`.
type Pinned = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, BoxError>> + Send>>;

#[test]
fn layer_service_builder_and_handle_are_send_sync() {
    send::<FallbackLayer<u64, u64, io::Error>>();
    sync::<FallbackLayer<u64, u64, io::Error>>();
    unpin::<FallbackLayer<u64, u64, io::Error>>();
    send::<FallbackLayer<String, u64, BoxError, String>>();
    sync::<FallbackLayer<String, u64, BoxError, String>>();
    send::<FallbackLayerBuilder<u64, u64, io::Error>>();
    sync::<FallbackLayerBuilder<u64, u64, io::Error>>();
    send::<Fallback<Primary, u64, u64, io::Error>>();
    sync::<Fallback<Primary, u64, u64, io::Error>>();
    unpin::<Fallback<Primary, u64, u64, io::Error>>();
    send::<FallbackHandle>();
    sync::<FallbackHandle>();
}

#[test]
fn response_future_is_send_and_unpin_when_the_inner_future_is() {
    send::<ResponseFuture<PrimaryFuture, u64, u64, io::Error, u64>>();
    unpin::<ResponseFuture<PrimaryFuture, u64, u64, io::Error, u64>>();
    send::<ResponseFuture<Pinned, u64, u64, BoxError, ()>>();
}

#[test]
fn markers_events_and_errors_are_send_sync() {
    send::<Degraded>();
    sync::<Degraded>();
    send::<Cause>();
    sync::<Cause>();
    send::<Degradable<String>>();
    sync::<Degradable<String>>();
    send::<FallbackEvent>();
    sync::<FallbackEvent>();
    send::<FallbackExhausted>();
    sync::<FallbackExhausted>();
    send::<FallbackFailure>();
    sync::<FallbackFailure>();
    send::<NoLastKnownGood>();
    sync::<NoLastKnownGood>();
}

#[test]
fn gather_types_are_send_and_handles_are_send_sync_unpin() {
    send::<Gather>();
    send::<GatherFuture>();
    send::<Gathered>();
    send::<GatherError>();
    sync::<GatherError>();
    send::<Missing<'static>>();
    sync::<Missing<'static>>();
    send::<Call<Primary, u64>>();
    unpin::<Call<Primary, u64>>();
    // Handles carry no value (the default of `OrDefault` aside), whatever `T` is.
    send::<Required<std::rc::Rc<u8>>>();
    sync::<Required<std::rc::Rc<u8>>>();
    unpin::<Required<std::rc::Rc<u8>>>();
    send::<Optional<std::rc::Rc<u8>>>();
    sync::<Optional<std::rc::Rc<u8>>>();
    send::<OrDefault<Vec<u8>>>();
    sync::<OrDefault<Vec<u8>>>();
}
