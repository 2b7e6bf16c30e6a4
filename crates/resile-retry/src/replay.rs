//! Fresh requests for retries: [`ReplayRequest`].
//!
//! A service consumes its request, so a retry needs a new one. [`CloneRequest`] (the default)
//! clones it; a closure can build it; and a custom implementation can do anything else — the
//! resile HTTP crate, for one, replays streaming bodies by teeing the first attempt's body into a
//! bounded buffer.

/// Makes the request of each attempt.
///
/// The retry layer calls [`first`](ReplayRequest::first) once, with the caller's request, to get
/// the request for the first attempt and the [`State`](ReplayRequest::State) it keeps between
/// attempts. Before each retry — after the backoff and once the inner service is ready — it calls
/// [`next`](ReplayRequest::next) with that state to get the retry's request. Either can say "this
/// request cannot be retried" (`None`): the layer then returns the last outcome as it is.
///
/// `next` is only called when a retry is about to be sent, so a retry that is not made (success,
/// budget denied, deadline reached) costs nothing. The state is dropped with the response future.
///
/// # Implementations
///
/// - [`CloneRequest`], the default, for `Req: Clone`: keeps the original and clones it for every
///   attempt.
/// - Any `Fn(&Req) -> Option<Req>`: keeps the caller's request as a template and builds *every*
///   attempt (the first too) from it; `None` means "cannot retry this one".
/// - Your own, for requests that are not `Clone`. A streaming body can be replayed by wrapping
///   it in `first` with a body that records what the first attempt sends (up to a limit), and
///   rebuilding it from that record in `next` — returning `None` from `next` when the body was
///   larger than the limit or the first attempt did not finish sending it.
///
/// ```
/// use resile_retry::ReplayRequest;
///
/// /// A request that owns a one-shot resource, rebuilt from its parts.
/// struct Upload { id: u64, data: Vec<u8> }
///
/// #[derive(Clone)]
/// struct ReplayUpload;
///
/// impl ReplayRequest<Upload> for ReplayUpload {
///     type State = (u64, Vec<u8>);
///     fn first(&self, req: Upload) -> (Upload, Option<Self::State>) {
///         let keep = (req.id, req.data.clone());
///         // Refuse to keep copies of big uploads: they are not retried.
///         let state = (req.data.len() <= 64 * 1024).then_some(keep);
///         (req, state)
///     }
///     fn next(&self, state: &mut Self::State, _attempt: u32) -> Option<Upload> {
///         Some(Upload { id: state.0, data: state.1.clone() })
///     }
/// }
///
/// let (first, state) = ReplayUpload.first(Upload { id: 7, data: vec![1, 2, 3] });
/// let mut state = state.expect("small uploads can be retried");
/// assert_eq!(ReplayUpload.next(&mut state, 2).unwrap().data, first.data);
///
/// // A closure builds each attempt from the caller's request.
/// let replay = |req: &String| Some(format!("{req}?retry"));
/// let (first, state) = replay.first(String::from("GET /"));
/// assert_eq!(first, "GET /?retry");
/// assert!(state.is_some());
/// ```
pub trait ReplayRequest<Req> {
    /// What is kept between attempts to build the next request.
    type State;

    /// Takes the caller's request; returns the first attempt's request and, if the request can
    /// be retried, the state to build retries from (`None`: it cannot be retried).
    fn first(&self, req: Req) -> (Req, Option<Self::State>);

    /// Builds the request for attempt number `attempt` (2 for the first retry), or `None` if it
    /// cannot be retried after all.
    fn next(&self, state: &mut Self::State, attempt: u32) -> Option<Req>;
}

/// Replays requests by cloning them: the default for `Req: Clone`.
///
/// The original is kept for retries, and the first attempt sends a clone (so a request type
/// whose clone is expensive pays for one clone per call even when no retry happens; a
/// one-attempt layer makes no clone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneRequest;

impl<Req: Clone> ReplayRequest<Req> for CloneRequest {
    type State = Req;

    #[inline]
    fn first(&self, req: Req) -> (Req, Option<Req>) {
        (req.clone(), Some(req))
    }

    fn next(&self, state: &mut Req, _attempt: u32) -> Option<Req> {
        Some(state.clone())
    }
}

impl<F, Req> ReplayRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    type State = Req;

    fn first(&self, req: Req) -> (Req, Option<Req>) {
        match self(&req) {
            Some(attempt) => (attempt, Some(req)),
            None => (req, None),
        }
    }

    fn next(&self, state: &mut Req, _attempt: u32) -> Option<Req> {
        self(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_request_keeps_the_original() {
        let (first, state) = CloneRequest.first(vec![1, 2]);
        let mut state = state.unwrap();
        assert_eq!(first, vec![1, 2]);
        assert_eq!(CloneRequest.next(&mut state, 2), Some(vec![1, 2]));
        assert_eq!(CloneRequest.next(&mut state, 3), Some(vec![1, 2]));
    }

    #[test]
    fn a_closure_that_refuses_sends_the_original_without_retry_state() {
        let only_small = |r: &u32| (*r < 10).then_some(*r);
        let (first, state) = only_small.first(50);
        assert_eq!((first, state), (50, None));
        let (first, state) = only_small.first(5);
        assert_eq!((first, state), (5, Some(5)));
    }
}
