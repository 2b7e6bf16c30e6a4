//! Health snapshots: what each dependency's breaker, bulkhead and budget say right now.

use resile_bulkhead::BulkheadHandle;
use resile_circuit_breaker::{CircuitBreakerHandle, State};
use resile_core::Name;
use resile_retry::budget::BudgetStats;

/// One dependency's health, for an admin or `/health` endpoint (serializable with the `serde`
/// feature).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DependencyHealth {
    /// The dependency's name.
    pub name: String,
    /// Whether calls reach it: the breaker is closed (or disabled, or only watching).
    pub healthy: bool,
    /// The circuit breaker.
    pub circuit: CircuitHealth,
    /// The bulkhead.
    pub bulkhead: BulkheadHealth,
    /// The retry budget, when the stack has its own ratio budget.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub budget: Option<BudgetHealth>,
}

/// A breaker's part of a [`DependencyHealth`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CircuitHealth {
    /// `closed`, `open`, `half_open`, `forced_open`, `disabled` or `metrics_only`.
    pub state: &'static str,
    /// Calls in the window.
    pub calls: u64,
    /// Failures in the window.
    pub failures: u64,
    /// The window's failure rate, 0 to 1.
    pub failure_rate: f64,
    /// Calls rejected since the breaker was built.
    pub rejected: u64,
    /// Times the breaker opened since it was built.
    pub trips: u64,
}

/// A bulkhead's part of a [`DependencyHealth`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BulkheadHealth {
    /// Calls in flight now.
    pub in_flight: usize,
    /// The limit.
    pub limit: usize,
    /// Calls rejected since the bulkhead was built.
    pub rejected: u64,
}

/// A retry budget's part of a [`DependencyHealth`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BudgetHealth {
    /// Requests credited to the current window.
    pub requests: u64,
    /// Retries granted in the window.
    pub retries: u64,
    /// Retries still allowed now.
    pub available: u64,
}

impl DependencyHealth {
    pub(crate) fn of(
        name: &Name,
        breaker: &CircuitBreakerHandle,
        bulkhead: &BulkheadHandle,
        budget: Option<BudgetStats>,
    ) -> Self {
        let m = breaker.metrics();
        Self {
            name: name.as_str().to_owned(),
            healthy: matches!(
                m.state,
                State::Closed | State::Disabled | State::MetricsOnly
            ),
            circuit: CircuitHealth {
                state: m.state.as_str(),
                calls: m.calls,
                failures: m.failures,
                failure_rate: m.failure_rate,
                rejected: m.rejected,
                trips: m.trips,
            },
            bulkhead: BulkheadHealth {
                in_flight: bulkhead.in_flight(),
                limit: bulkhead.limit(),
                rejected: bulkhead.rejected(),
            },
            budget: budget.map(|b| BudgetHealth {
                requests: b.requests,
                retries: b.retries,
                available: b.available,
            }),
        }
    }
}

/// Every dependency's health (from a [`Registry`](crate::config::Registry), or assembled by
/// hand with [`HealthSnapshot::new`]).
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct HealthSnapshot {
    /// Whether every dependency is healthy.
    pub healthy: bool,
    /// Each dependency, by name.
    pub dependencies: Vec<DependencyHealth>,
}

impl HealthSnapshot {
    /// A snapshot of these dependencies.
    pub fn new(dependencies: Vec<DependencyHealth>) -> Self {
        Self {
            healthy: dependencies.iter().all(|d| d.healthy),
            dependencies,
        }
    }

    /// The dependencies that are not healthy.
    pub fn unhealthy(&self) -> impl Iterator<Item = &DependencyHealth> {
        self.dependencies.iter().filter(|d| !d.healthy)
    }
}
