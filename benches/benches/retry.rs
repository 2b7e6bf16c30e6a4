//! Retry with a budget on a ready inner service (the first attempt succeeds, so this is pure
//! middleware overhead), beside tower `Retry` + `TpsBudget` and tower-resilience's retry with a
//! token-bucket budget, in the same run; then the budgets alone (deposit on every call, a
//! withdrawal on 1 call in 100) with 1, 2 and N threads.
//! Run with `cargo bench -p resile-benches --bench retry`.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{bare, bench_single, bench_threads};
use resile_retry::budget::{RatioBudget, RetryBudget, TokenBucket};
use resile_retry::{Budget, RetryLayer};
use tower::retry::budget::{Budget as TowerBudget, TpsBudget};
use tower::{Layer, Service};

resile_benches::counting_allocator!();

/// tower needs a hand-written policy: deposit on success, withdraw before a retry.
#[derive(Clone)]
struct TowerPolicy(Arc<TpsBudget>);

impl<E> tower::retry::Policy<u64, u64, E> for TowerPolicy {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => self.0.withdraw().then(|| std::future::ready(())),
        }
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

fn tps() -> Arc<TpsBudget> {
    Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2))
}

fn tower_retry() -> tower::retry::Retry<TowerPolicy, resile_benches::Bare> {
    tower::retry::RetryLayer::new(TowerPolicy(tps())).layer(bare())
}

fn tower_resilience_retry() -> impl Service<u64, Response = u64, Error = Infallible> + Clone + Send
{
    let budget = tower_resilience::retry::RetryBudgetBuilder::new()
        .token_bucket()
        .tokens_per_second(10.0)
        .max_tokens(100)
        .build()
        .expect("valid budget");
    tower_resilience::retry::RetryLayer::<u64, u64, Infallible>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(50))
        .budget(budget)
        .build()
        .layer(bare())
}

fn resile_retry() -> impl Service<u64, Response = u64, Error = Infallible> + Clone + Send {
    RetryLayer::new().layer(bare())
}

fn single(c: &mut Criterion) {
    let g = "retry/single";
    bench_single(c, g, "bare", bare());
    bench_single(c, g, "tower_retry_tps_budget", tower_retry());
    bench_single(
        c,
        g,
        "tower_resilience_retry_budget",
        tower_resilience_retry(),
    );
    bench_single(c, g, "resile_retry_ratio_budget", resile_retry());
    bench_single(
        c,
        g,
        "resile_retry_token_bucket",
        RetryLayer::builder()
            .budget(TokenBucket::new(10, 0.1).expect("valid"))
            .build()
            .expect("valid")
            .layer(bare()),
    );
    bench_single(
        c,
        g,
        "resile_retry_no_budget",
        RetryLayer::builder()
            .no_budget()
            .build()
            .expect("valid")
            .layer(bare()),
    );
}

fn threads(c: &mut Criterion) {
    let g = "retry/threads";
    bench_threads(c, g, "bare", bare());
    bench_threads(c, g, "tower_retry_tps_budget", tower_retry());
    bench_threads(
        c,
        g,
        "tower_resilience_retry_budget",
        tower_resilience_retry(),
    );
    bench_threads(c, g, "resile_retry_ratio_budget", resile_retry());
}

/// A budget driven like a retry layer would drive it: a deposit per call and, on one call in
/// `1 / WITHDRAW_EVERY`, a withdrawal. Wrapped as a service so the thread harness can run it.
const WITHDRAW_EVERY: u64 = 100;

#[derive(Clone)]
struct Drive<B> {
    budget: B,
    calls: u64,
    withdraw: bool,
}

impl<B> Drive<B> {
    fn new(budget: B, withdraw: bool) -> Self {
        Self {
            budget,
            calls: 0,
            withdraw,
        }
    }
}

trait Ops {
    fn deposit(&self);
    fn withdraw(&self) -> bool;
}

impl Ops for Arc<TpsBudget> {
    fn deposit(&self) {
        TowerBudget::deposit(&**self);
    }
    fn withdraw(&self) -> bool {
        TowerBudget::withdraw(&**self)
    }
}

impl Ops for Arc<dyn tower_resilience::retry::RetryBudget> {
    fn deposit(&self) {
        (**self).deposit();
    }
    fn withdraw(&self) -> bool {
        self.try_withdraw()
    }
}

impl Ops for RetryBudget {
    fn deposit(&self) {
        RetryBudget::deposit(self);
    }
    fn withdraw(&self) -> bool {
        RetryBudget::withdraw(self)
    }
}

impl Ops for Arc<RatioBudget> {
    fn deposit(&self) {
        Budget::deposit(&**self);
    }
    fn withdraw(&self) -> bool {
        Budget::withdraw(&**self)
    }
}

impl<B: Ops> Service<u64> for Drive<B> {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.budget.deposit();
        self.calls += 1;
        let granted =
            self.withdraw && self.calls.is_multiple_of(WITHDRAW_EVERY) && self.budget.withdraw();
        std::future::ready(Ok(req + u64::from(granted)))
    }
}

fn peer_token_bucket() -> Arc<dyn tower_resilience::retry::RetryBudget> {
    tower_resilience::retry::RetryBudgetBuilder::new()
        .token_bucket()
        .tokens_per_second(10.0)
        .max_tokens(100)
        .build()
        .expect("valid budget")
}

fn budgets(c: &mut Criterion) {
    let g = "retry/budget_deposit";
    bench_single(c, g, "tower_tps_budget", Drive::new(tps(), false));
    bench_single(
        c,
        g,
        "tower_resilience_token_bucket",
        Drive::new(peer_token_bucket(), false),
    );
    bench_single(
        c,
        g,
        "resile_ratio_budget",
        Drive::new(Arc::new(RatioBudget::default()), false),
    );
    let g = "retry/budget_deposit_threads";
    bench_threads(c, g, "tower_tps_budget", Drive::new(tps(), false));
    bench_threads(
        c,
        g,
        "tower_resilience_token_bucket",
        Drive::new(peer_token_bucket(), false),
    );
    bench_threads(
        c,
        g,
        "resile_ratio_budget",
        Drive::new(Arc::new(RatioBudget::default()), false),
    );
    let g = "retry/budget_deposit_withdraw_1pc_threads";
    bench_threads(c, g, "tower_tps_budget", Drive::new(tps(), true));
    bench_threads(
        c,
        g,
        "tower_resilience_token_bucket",
        Drive::new(peer_token_bucket(), true),
    );
    bench_threads(
        c,
        g,
        "resile_ratio_budget",
        Drive::new(Arc::new(RatioBudget::default()), true),
    );
    bench_threads(
        c,
        g,
        "resile_token_bucket",
        Drive::new(
            RetryBudget::new(TokenBucket::new(100, 0.1).expect("valid")),
            true,
        ),
    );
}

criterion_group!(benches, single, threads, budgets);
criterion_main!(benches);
