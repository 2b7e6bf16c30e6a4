//! Last known good: successful answers remembered per request key, served when the primary
//! fails (stale-if-error). The cache is `moka`'s, bounded in entries, with a time-to-live.

use std::hash::Hash;
use std::time::Duration;

use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use resile_core::{BoxError, ConfigError, Name};
use tokio::time::Instant;

use crate::error::NoLastKnownGood;

/// The longest time-to-live accepted (the cache refuses more than 1000 years).
pub(crate) const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// What the handle can do with the cache, whatever its key and value types.
pub(crate) trait CacheControl: Send + Sync {
    /// Entries held (approximate until pending maintenance runs).
    fn entries(&self) -> u64;
    /// Runs the cache's pending maintenance (evictions), so `entries` is exact.
    fn sync(&self);
    /// Forgets everything.
    fn clear(&self);
}

/// The cache behind the `last_known_good` fallback, as the layer sees it: keyed by the
/// layer's request key `K` however the cache itself is keyed.
pub(crate) trait Memory<K, Res>: CacheControl {
    /// Remembers a successful answer for `key`.
    fn remember(&self, key: K, response: &Res);
    /// The fresh answer remembered for `key`, and its age.
    fn recall(&self, key: &K) -> Result<(Res, Duration), BoxError>;
}

pub(crate) fn validate(ttl: Duration, capacity: u64) -> Result<(), ConfigError> {
    if ttl.is_zero() {
        return Err(ConfigError::new(
            "fallback",
            "last_known_good.ttl",
            "must be greater than zero, got 0s",
        ));
    }
    if ttl > MAX_TTL {
        return Err(ConfigError::new(
            "fallback",
            "last_known_good.ttl",
            format!("must be at most 100 years, got {ttl:?}"),
        ));
    }
    if capacity == 0 {
        return Err(ConfigError::new(
            "fallback",
            "last_known_good.capacity",
            "must be at least 1 entry, got 0",
        ));
    }
    Ok(())
}

/// A bounded, expiring map from cache key to the last good answer and when it was stored.
pub(crate) struct Store<CK, Res> {
    dependency: Name,
    ttl: Duration,
    cache: Cache<CK, (Res, Instant)>,
}

impl<CK, Res> Store<CK, Res>
where
    CK: Hash + Eq + Send + Sync + 'static,
    Res: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(dependency: Name, ttl: Duration, capacity: u64) -> Self {
        // LRU rather than moka's default TinyLFU admission: a new key's first success must be
        // remembered, or the first outage after it would find nothing.
        let cache = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .eviction_policy(EvictionPolicy::lru())
            .build();
        Self {
            dependency,
            ttl,
            cache,
        }
    }

    fn remember(&self, key: CK, response: &Res) {
        self.cache.insert(key, (response.clone(), Instant::now()));
    }

    fn recall(&self, key: &CK) -> Result<(Res, Duration), BoxError> {
        // The age is read from tokio's clock (a paused test clock drives it); the cache's own
        // time-to-live, on the wall clock, only reclaims memory.
        match self.cache.get(key) {
            Some((response, stored)) => {
                let age = stored.elapsed();
                if age >= self.ttl {
                    self.cache.invalidate(key);
                    Err(NoLastKnownGood::new(self.dependency.clone(), true).into())
                } else {
                    Ok((response, age))
                }
            }
            None => Err(NoLastKnownGood::new(self.dependency.clone(), false).into()),
        }
    }
}

/// Keyed by the request key itself.
pub(crate) struct ByKey<K, Res>(pub(crate) Store<K, Res>);

impl<K, Res> Memory<K, Res> for ByKey<K, Res>
where
    K: Hash + Eq + Send + Sync + 'static,
    Res: Clone + Send + Sync + 'static,
{
    fn remember(&self, key: K, response: &Res) {
        self.0.remember(key, response);
    }
    fn recall(&self, key: &K) -> Result<(Res, Duration), BoxError> {
        self.0.recall(key)
    }
}

impl<K, Res> CacheControl for ByKey<K, Res>
where
    K: Hash + Eq + Send + Sync + 'static,
    Res: Clone + Send + Sync + 'static,
{
    fn entries(&self) -> u64 {
        self.0.cache.entry_count()
    }
    fn sync(&self) {
        self.0.cache.run_pending_tasks();
    }
    fn clear(&self) {
        self.0.cache.invalidate_all();
    }
}

/// Keyed by a function of the request key.
pub(crate) struct Mapped<CK, Res, F> {
    pub(crate) store: Store<CK, Res>,
    pub(crate) key: F,
}

impl<K, CK, Res, F> Memory<K, Res> for Mapped<CK, Res, F>
where
    CK: Hash + Eq + Send + Sync + 'static,
    Res: Clone + Send + Sync + 'static,
    F: Fn(&K) -> CK + Send + Sync,
{
    fn remember(&self, key: K, response: &Res) {
        self.store.remember((self.key)(&key), response);
    }
    fn recall(&self, key: &K) -> Result<(Res, Duration), BoxError> {
        self.store.recall(&(self.key)(key))
    }
}

impl<CK, Res, F> CacheControl for Mapped<CK, Res, F>
where
    CK: Hash + Eq + Send + Sync + 'static,
    Res: Clone + Send + Sync + 'static,
    F: Send + Sync,
{
    fn entries(&self) -> u64 {
        self.store.cache.entry_count()
    }
    fn sync(&self) {
        self.store.cache.run_pending_tasks();
    }
    fn clear(&self) {
        self.store.cache.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_ttl_and_zero_capacity_name_their_knob() {
        let e = validate(Duration::ZERO, 10).unwrap_err();
        assert_eq!(e.field(), "last_known_good.ttl");
        let e = validate(Duration::from_secs(1), 0).unwrap_err();
        assert_eq!(e.field(), "last_known_good.capacity");
        let e = validate(Duration::MAX, 1).unwrap_err();
        assert_eq!(e.field(), "last_known_good.ttl");
        assert!(validate(Duration::from_secs(1), 1).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn answers_expire_on_the_tokio_clock() {
        let m = ByKey(Store::new(Name::new("u"), Duration::from_secs(10), 4));
        m.remember(1u32, &"one");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(m.recall(&1).unwrap(), ("one", Duration::from_secs(4)));
        tokio::time::advance(Duration::from_secs(6)).await;
        let err = m.recall(&1).unwrap_err();
        assert!(err.downcast_ref::<NoLastKnownGood>().unwrap().expired());
        let err = m.recall(&2).unwrap_err();
        assert!(!err.downcast_ref::<NoLastKnownGood>().unwrap().expired());
    }

    #[tokio::test(start_paused = true)]
    async fn entries_stay_within_capacity() {
        let m = ByKey(Store::new(Name::new("u"), Duration::from_secs(60), 3));
        for k in 0..50u32 {
            m.remember(k, &k);
        }
        m.sync();
        assert!(m.entries() <= 3, "{} entries", m.entries());
        // LRU: the most recent key is kept.
        assert_eq!(m.recall(&49).unwrap().0, 49);
    }

    #[tokio::test(start_paused = true)]
    async fn mapped_keys_share_an_entry() {
        let m = Mapped {
            store: Store::new(Name::new("u"), Duration::from_secs(60), 8),
            key: |path: &String| path.to_lowercase(),
        };
        m.remember("/Users/1".to_owned(), &7u8);
        assert_eq!(
            Memory::<String, u8>::recall(&m, &"/users/1".to_owned())
                .unwrap()
                .0,
            7
        );
        m.clear();
        m.sync();
        assert!(Memory::<String, u8>::recall(&m, &"/users/1".to_owned()).is_err());
    }
}
