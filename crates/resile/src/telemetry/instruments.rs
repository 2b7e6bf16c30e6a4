//! The `metrics` instruments of one dependency, registered once when the stack is built.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use resile_core::{Name, Verdict};

use super::names;

/// Handles registered with the global recorder installed when the stack was built (install
/// your exporter first).
pub(crate) struct Instruments {
    calls: [Counter; 3],
    call_duration: [Histogram; 3],
    failures: [(&'static str, Counter); 7],
    pub(crate) rejected_open: Counter,
    pub(crate) rejected_full: Counter,
    pub(crate) timeout_attempt: Counter,
    pub(crate) timeout_total: Counter,
    pub(crate) retries: Counter,
    pub(crate) budget_denials: Counter,
    pub(crate) fallback_answered: Counter,
    pub(crate) fallback_failed: Counter,
    pub(crate) circuit_state: Gauge,
    pub(crate) attempt_duration: Histogram,
}

const OUTCOMES: [&str; 3] = ["success", "failure", "ignored"];
const FAILURE_KINDS: [&str; 7] = [
    "circuit_open",
    "timeout",
    "deadline_exceeded",
    "bulkhead_full",
    "budget_exhausted",
    "dependency_error",
    "failed_response",
];

fn describe_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_counter!(names::CALLS, "Logical requests to a dependency, by outcome.");
        describe_histogram!(
            names::CALL_DURATION,
            Unit::Seconds,
            "Logical request duration, every attempt and backoff included."
        );
        describe_counter!(names::FAILURES, "Failed logical requests, by kind.");
        describe_counter!(
            names::REJECTIONS,
            "Calls or attempts rejected without reaching the dependency."
        );
        describe_counter!(names::TIMEOUTS, "Attempt and total timeouts.");
        describe_counter!(names::RETRIES, "Retries made.");
        describe_counter!(names::BUDGET_DENIALS, "Retries the retry budget denied.");
        describe_counter!(names::FALLBACKS, "Fallbacks that answered or failed.");
        describe_gauge!(
            names::CIRCUIT_STATE,
            "Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only."
        );
        describe_histogram!(names::ATTEMPT_DURATION, Unit::Seconds, "One attempt's duration.");
    });
}

impl Instruments {
    pub(crate) fn register(name: &Name) -> Self {
        describe_once();
        let dep = name.as_str().to_owned();
        let outcome =
            |o: &'static str| counter!(names::CALLS, "dependency" => dep.clone(), "outcome" => o);
        let duration = |o: &'static str| histogram!(names::CALL_DURATION, "dependency" => dep.clone(), "outcome" => o);
        let by_kind = |metric: &'static str, k: &'static str| counter!(metric, "dependency" => dep.clone(), "kind" => k);
        let state = gauge!(names::CIRCUIT_STATE, "dependency" => dep.clone());
        state.set(0.0);
        Self {
            calls: OUTCOMES.map(outcome),
            call_duration: OUTCOMES.map(duration),
            failures: FAILURE_KINDS.map(|k| (k, by_kind(names::FAILURES, k))),
            rejected_open: by_kind(names::REJECTIONS, "circuit_open"),
            rejected_full: by_kind(names::REJECTIONS, "bulkhead_full"),
            timeout_attempt: by_kind(names::TIMEOUTS, "attempt"),
            timeout_total: by_kind(names::TIMEOUTS, "total"),
            retries: counter!(names::RETRIES, "dependency" => dep.clone()),
            budget_denials: counter!(names::BUDGET_DENIALS, "dependency" => dep.clone()),
            fallback_answered: counter!(names::FALLBACKS, "dependency" => dep.clone(), "outcome" => "answered"),
            fallback_failed: counter!(names::FALLBACKS, "dependency" => dep.clone(), "outcome" => "failed"),
            circuit_state: state,
            attempt_duration: histogram!(names::ATTEMPT_DURATION, "dependency" => dep),
        }
    }

    pub(crate) fn record_call(
        &self,
        took: Duration,
        verdict: &Verdict,
        failure: Option<&'static str>,
    ) {
        let i = match verdict {
            Verdict::Success => 0,
            Verdict::Failure(_) => 1,
            Verdict::Ignored => 2,
        };
        self.calls[i].increment(1);
        self.call_duration[i].record(took.as_secs_f64());
        if let Some(kind) = failure
            && let Some((_, c)) = self.failures.iter().find(|(k, _)| *k == kind)
        {
            c.increment(1);
        }
    }
}
