//! [`Registry`]: the stacks of every dependency a configuration file names.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::path::Path;

use resile_bulkhead::BulkheadHandle;
use resile_circuit_breaker::CircuitBreakerHandle;
use resile_core::ConfigError;
use resile_retry::RetryBudget;

use super::{ConfigFileError, DependencyConfig, Kind, parse};
use crate::builder::Resilience;
use crate::health::{DependencyHealth, HealthSnapshot};
use crate::layer::ResilienceLayer;
use crate::protocol::Generic;
use crate::settings::Settings;

/// One built stack, of whichever kind the file says.
#[derive(Debug, Clone)]
enum Stack {
    Generic(ResilienceLayer<Generic>),
    #[cfg(feature = "http")]
    Http(ResilienceLayer<crate::protocol::Http>),
    #[cfg(feature = "grpc")]
    Grpc(ResilienceLayer<crate::protocol::Grpc>),
}

macro_rules! on_stack {
    ($stack:expr, $l:ident => $e:expr) => {
        match $stack {
            Stack::Generic($l) => $e,
            #[cfg(feature = "http")]
            Stack::Http($l) => $e,
            #[cfg(feature = "grpc")]
            Stack::Grpc($l) => $e,
        }
    };
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    stack: Stack,
}

/// The stacks of every dependency of a configuration file, built once: every layer handed out
/// for a name shares that dependency's breaker, bulkhead and budget. Cheap to clone (clones
/// share the stacks).
///
/// ```
/// use resile::config::Registry;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let registry = Registry::from_toml("[dependencies.echo]\nkind = \"generic\"\n")?;
/// let echo = registry.generic("echo")?.layer(tower::service_fn(|x: u32| async move {
///     Ok::<_, std::io::Error>(x)
/// }));
/// assert_eq!(echo.oneshot(7).await?, 7);
///
/// let breaker = registry.breaker("echo").unwrap();
/// assert_eq!(breaker.metrics().calls, 1);
/// let health = registry.health();
/// assert_eq!(health.dependencies[0].name, "echo");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

/// A registry lookup that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// No dependency of that name in the file.
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The dependency is of another kind than asked for.
    WrongKind {
        /// The name asked for.
        name: String,
        /// The kind in the file.
        kind: Kind,
        /// The kind asked for.
        wanted: Kind,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown { name } => write!(f, "no dependency `{name}` configured"),
            RegistryError::WrongKind { name, kind, wanted } => write!(
                f,
                "dependency `{name}` is configured as kind \"{}\", not \"{}\"",
                kind.as_str(),
                wanted.as_str()
            ),
        }
    }
}

impl StdError for RegistryError {}

fn build_error(name: &str, e: ConfigError) -> ConfigFileError {
    ConfigFileError::new(
        format!("dependencies.{name}.{}", e.field()),
        None,
        e.message().to_owned(),
    )
}

impl Registry {
    /// Reads `source` (TOML) and builds every dependency's stack.
    pub fn from_toml(source: &str) -> Result<Self, ConfigFileError> {
        Self::from_configs(parse(source)?)
    }

    /// Reads the TOML file at `path` and builds every dependency's stack.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigFileError> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigFileError::new("", None, format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_toml(&source)
    }

    /// Builds the stacks of already-parsed dependencies.
    pub fn from_configs(
        configs: BTreeMap<String, DependencyConfig>,
    ) -> Result<Self, ConfigFileError> {
        let mut entries = BTreeMap::new();
        for (name, config) in configs {
            let stack = Self::build(&name, config.kind, config.settings)?;
            entries.insert(
                name,
                Entry {
                    kind: config.kind,
                    stack,
                },
            );
        }
        Ok(Self { entries })
    }

    fn build(name: &str, kind: Kind, settings: Settings) -> Result<Stack, ConfigFileError> {
        let err = |e| build_error(name, e);
        Ok(match kind {
            Kind::Generic => Stack::Generic(
                Resilience::new(name)
                    .settings(settings)
                    .build()
                    .map_err(err)?,
            ),
            #[cfg(feature = "http")]
            Kind::Http => Stack::Http(
                Resilience::http(name)
                    .settings(settings)
                    .build()
                    .map_err(err)?,
            ),
            #[cfg(feature = "grpc")]
            Kind::Grpc => Stack::Grpc(
                Resilience::grpc(name)
                    .settings(settings)
                    .build()
                    .map_err(err)?,
            ),
            #[allow(unreachable_patterns)]
            other => {
                return Err(ConfigFileError::new(
                    format!("dependencies.{name}.kind"),
                    None,
                    format!(
                        "kind \"{}\" needs resile's `{}` feature",
                        other.as_str(),
                        other.as_str()
                    ),
                ));
            }
        })
    }

    /// The dependencies' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The kind of dependency `name`.
    pub fn kind(&self, name: &str) -> Option<Kind> {
        self.entries.get(name).map(|e| e.kind)
    }

    /// The settings of dependency `name`, `[defaults]` merged in.
    pub fn settings(&self, name: &str) -> Option<&Settings> {
        self.entries
            .get(name)
            .map(|e| on_stack!(&e.stack, l => l.settings()))
    }

    fn entry(&self, name: &str, wanted: Kind) -> Result<&Stack, RegistryError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| RegistryError::Unknown {
                name: name.to_owned(),
            })?;
        if entry.kind != wanted {
            return Err(RegistryError::WrongKind {
                name: name.to_owned(),
                kind: entry.kind,
                wanted,
            });
        }
        Ok(&entry.stack)
    }

    /// The layer of generic dependency `name` (around any tower service).
    pub fn generic(&self, name: &str) -> Result<ResilienceLayer<Generic>, RegistryError> {
        match self.entry(name, Kind::Generic)? {
            Stack::Generic(l) => Ok(l.clone()),
            #[allow(unreachable_patterns)]
            _ => Err(RegistryError::Unknown {
                name: name.to_owned(),
            }),
        }
    }

    /// The layer of HTTP dependency `name` (around an HTTP client).
    #[cfg(feature = "http")]
    pub fn http(
        &self,
        name: &str,
    ) -> Result<ResilienceLayer<crate::protocol::Http>, RegistryError> {
        match self.entry(name, Kind::Http)? {
            Stack::Http(l) => Ok(l.clone()),
            _ => Err(RegistryError::Unknown {
                name: name.to_owned(),
            }),
        }
    }

    /// The layer of gRPC dependency `name` (around a tonic channel).
    #[cfg(feature = "grpc")]
    pub fn grpc(
        &self,
        name: &str,
    ) -> Result<ResilienceLayer<crate::protocol::Grpc>, RegistryError> {
        match self.entry(name, Kind::Grpc)? {
            Stack::Grpc(l) => Ok(l.clone()),
            _ => Err(RegistryError::Unknown {
                name: name.to_owned(),
            }),
        }
    }

    /// The circuit breaker handle of dependency `name`.
    pub fn breaker(&self, name: &str) -> Option<CircuitBreakerHandle> {
        self.entries
            .get(name)
            .map(|e| on_stack!(&e.stack, l => l.breaker()))
    }

    /// The bulkhead handle of dependency `name`.
    pub fn bulkhead(&self, name: &str) -> Option<BulkheadHandle> {
        self.entries
            .get(name)
            .map(|e| on_stack!(&e.stack, l => l.bulkhead()))
    }

    /// The retry budget of dependency `name`, if it has one.
    pub fn budget(&self, name: &str) -> Option<RetryBudget> {
        self.entries
            .get(name)
            .and_then(|e| on_stack!(&e.stack, l => l.budget()))
    }

    /// The health of dependency `name`.
    pub fn dependency_health(&self, name: &str) -> Option<DependencyHealth> {
        self.entries
            .get(name)
            .map(|e| on_stack!(&e.stack, l => l.health()))
    }

    /// Every dependency's health, for an admin or `/health` endpoint (serializable with the
    /// `serde` feature, which `config` turns on).
    pub fn health(&self) -> HealthSnapshot {
        HealthSnapshot::new(
            self.entries
                .values()
                .map(|e| on_stack!(&e.stack, l => l.health()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[dependencies.a]\nkind = \"generic\"\n[dependencies.b]\nkind = \"generic\"\n[dependencies.b.bulkhead]\nmax_concurrent = 3\n";

    #[test]
    fn lookups_hand_out_handles_of_one_shared_stack() {
        let r = Registry::from_toml(FILE).unwrap();
        assert_eq!(r.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.bulkhead("b").unwrap().limit(), 3);
        r.breaker("a").unwrap().force_open();
        assert_eq!(
            r.generic("a").unwrap().breaker().state(),
            resile_circuit_breaker::State::ForcedOpen
        );
        let h = r.health();
        assert!(!h.healthy);
        assert_eq!(
            h.unhealthy().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(r.budget("a").is_some());
        assert!(r.dependency_health("zzz").is_none());
    }

    #[test]
    fn unknown_names_and_wrong_kinds_are_errors() {
        let r = Registry::from_toml(FILE).unwrap();
        assert!(matches!(
            r.generic("nope"),
            Err(RegistryError::Unknown { .. })
        ));
        #[cfg(feature = "http")]
        assert_eq!(
            r.http("a").unwrap_err().to_string(),
            "dependency `a` is configured as kind \"generic\", not \"http\""
        );
    }

    #[test]
    fn the_health_snapshot_serializes() {
        let r = Registry::from_toml(FILE).unwrap();
        let json = serde_json::to_value(r.health()).unwrap();
        assert_eq!(json["healthy"], true);
        assert_eq!(json["dependencies"][1]["bulkhead"]["limit"], 3);
        assert_eq!(json["dependencies"][0]["circuit"]["state"], "closed");
    }
}
