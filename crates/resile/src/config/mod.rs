//! Per-dependency settings from TOML, a [`Registry`] of the stacks built from them, and a
//! health snapshot of them all (feature `config`).
//!
//! A `[defaults]` table is merged into every `[dependencies.<name>]` table (the dependency's
//! own keys win, table by table), then read into [`Settings`]: durations are human
//! (`"250ms"`, `"30s"`, `"1m 30s"`), unknown keys are refused, and the settings are checked
//! as [`Settings::validate`] does, knobs against each other included. Every error names the
//! key path where the bad value is written and, where the parser knows it, its line:
//!
//! ```text
//! invalid configuration at `dependencies.users.retry.max_attempts` (line 9): must be in [1, 100] (1 turns retries off), got 0
//! ```
//!
//! Each dependency also says what it wraps with `kind`: `"http"` (the default; feature
//! `http`), `"grpc"` (feature `grpc`) or `"generic"` (any tower service).
//!
//! ```
//! use resile::config::Registry;
//! use std::time::Duration;
//!
//! let registry = Registry::from_toml(r#"
//!     [defaults]
//!     total_timeout = "5s"
//!     attempt_timeout = "1s"
//!
//!     [defaults.retry]
//!     max_attempts = 2
//!
//!     [dependencies.users]
//!     kind = "generic"
//!     attempt_timeout = "500ms"
//!
//!     [dependencies.users.circuit_breaker]
//!     failure_rate = 0.25
//!     window = "10s"
//!
//!     [dependencies.prices]
//!     kind = "generic"
//! "#)?;
//!
//! let users = registry.settings("users").unwrap();
//! assert_eq!(users.attempt_timeout, Duration::from_millis(500)); // its own
//! assert_eq!(users.total_timeout, Duration::from_secs(5));       // from [defaults]
//! assert_eq!(users.retry.max_attempts, 2);
//! let layer = registry.generic("users")?;   // the stack's layer; clones share its state
//! assert!(registry.health().healthy);
//!
//! let err = Registry::from_toml("[dependencies.users]\nkind = \"generic\"\nretyr = 3\n").unwrap_err();
//! assert_eq!(err.path(), "dependencies.users.retyr");
//! assert_eq!(err.line(), Some(3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod registry;

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use crate::settings::Settings;

pub use registry::{Registry, RegistryError};

/// What a dependency's stack wraps (`kind` in its table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Any tower service (`"generic"`).
    Generic,
    /// An HTTP client (`"http"`, the default).
    Http,
    /// A tonic channel (`"grpc"`).
    Grpc,
}

impl Kind {
    /// The name used in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Generic => "generic",
            Kind::Http => "http",
            Kind::Grpc => "grpc",
        }
    }
}

/// A configuration file that could not be used: where (the key path, and the line when
/// known) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileError {
    path: String,
    line: Option<usize>,
    message: String,
}

impl ConfigFileError {
    pub(crate) fn new(
        path: impl Into<String>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// The key path of the bad value (`dependencies.users.retry.max_attempts`); empty for an
    /// error of the whole file (a syntax error, a file that cannot be read).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The line (from 1) of the bad value, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong, with the allowed range where there is one.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration")?;
        if !self.path.is_empty() {
            write!(f, " at `{}`", self.path)?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl StdError for ConfigFileError {}

/// One dependency as the file describes it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DependencyConfig {
    /// What the stack wraps.
    pub kind: Kind,
    /// Its settings, `[defaults]` merged in and validated.
    pub settings: Settings,
}

/// Reads a configuration file: every dependency's kind and validated settings, by name.
pub fn parse(source: &str) -> Result<BTreeMap<String, DependencyConfig>, ConfigFileError> {
    let spans = Spans::new(source)?;
    let doc: Table = toml::from_str(source).map_err(|e| spans.syntax(&e))?;
    let mut defaults = Table::new();
    let mut dependencies = Table::new();
    for (key, value) in doc {
        match (key.as_str(), value) {
            ("defaults", Value::Table(t)) => defaults = t,
            ("dependencies", Value::Table(t)) => dependencies = t,
            ("defaults" | "dependencies", _) => {
                return Err(spans.error(&[key.as_str()], "must be a table"));
            }
            (other, _) => {
                return Err(spans.error(
                    &[other],
                    "unknown key: expected `defaults` or `dependencies`",
                ));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (name, value) in dependencies {
        let Value::Table(own) = value else {
            return Err(spans.error(&["dependencies", &name], "must be a table"));
        };
        if name.is_empty() {
            return Err(spans.error(&["dependencies", &name], "a dependency needs a name"));
        }
        let mut merged = defaults.clone();
        merge(&mut merged, own);
        let kind = match merged.remove("kind") {
            None => Kind::Http,
            Some(Value::String(k)) => match k.as_str() {
                "http" => Kind::Http,
                "grpc" => Kind::Grpc,
                "generic" => Kind::Generic,
                other => {
                    return Err(spans.located(
                        &name,
                        "kind",
                        format!("must be \"http\", \"grpc\" or \"generic\", got {other:?}"),
                    ));
                }
            },
            Some(other) => {
                return Err(spans.located(
                    &name,
                    "kind",
                    format!("must be a string, got a {}", other.type_str()),
                ));
            }
        };
        let settings: Settings =
            serde_path_to_error::deserialize(Value::Table(merged)).map_err(|e| {
                let mut path = e.path().to_string();
                let message = e.inner().message().to_owned();
                if let Some(field) = unknown_field(&message)
                    && !path.ends_with(field)
                {
                    if path == "." || path.is_empty() {
                        path = field.to_owned();
                    } else {
                        path = format!("{path}.{field}");
                    }
                }
                spans.located(&name, &path, message)
            })?;
        settings
            .validate()
            .map_err(|e| spans.located(&name, e.field(), e.message().to_owned()))?;
        out.insert(name, DependencyConfig { kind, settings });
    }
    Ok(out)
}

/// The field an "unknown field `x`, expected ..." message names.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The source's spans, to turn key paths into lines.
struct Spans<'a> {
    source: &'a str,
    doc: Option<Spanned<DeTable<'a>>>,
}

impl<'a> Spans<'a> {
    fn new(source: &'a str) -> Result<Self, ConfigFileError> {
        Ok(Self {
            source,
            doc: DeTable::parse(source).ok(),
        })
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.source.len());
        self.source.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn syntax(&self, e: &toml::de::Error) -> ConfigFileError {
        let line = e.span().map(|s| self.line_of(s.start));
        ConfigFileError::new("", line, e.message().trim().to_owned())
    }

    /// The span of the value at `path`, or of its nearest ancestor that exists.
    fn find(&self, path: &[&str]) -> Option<(usize, bool)> {
        let doc = self.doc.as_ref()?;
        let mut table: &DeTable<'_> = doc.get_ref();
        let mut found = None;
        for (i, seg) in path.iter().enumerate() {
            let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *seg)?;
            let exact = i + 1 == path.len();
            found = Some((
                if exact {
                    value.span().start
                } else {
                    key.span().start
                },
                exact,
            ));
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                _ if exact => break,
                _ => return found.map(|(o, _)| (o, false)),
            }
        }
        found
    }

    fn error(&self, path: &[&str], message: impl Into<String>) -> ConfigFileError {
        let line = self.find(path).map(|(o, _)| self.line_of(o));
        ConfigFileError::new(path.join("."), line, message)
    }

    /// An error about `key` (a dotted path inside a dependency's settings) of dependency
    /// `name`: reported where the value is written — the dependency's own table, else
    /// `[defaults]`.
    fn located(&self, name: &str, key: &str, message: impl Into<String>) -> ConfigFileError {
        let segments: Vec<&str> = key.split('.').filter(|s| !s.is_empty()).collect();
        let mut own = vec!["dependencies", name];
        own.extend(&segments);
        let mut defaults = vec!["defaults"];
        defaults.extend(&segments);
        let message = message.into();
        match (self.find(&own), self.find(&defaults)) {
            (Some((o, true)), _) | (Some((o, false)), None) => {
                ConfigFileError::new(own.join("."), Some(self.line_of(o)), message)
            }
            (_, Some((o, exact))) => {
                let path = if exact {
                    defaults.join(".")
                } else {
                    own.join(".")
                };
                ConfigFileError::new(
                    path,
                    Some(self.line_of(o)),
                    format!("{message} (for dependency `{name}`)"),
                )
            }
            (None, None) => ConfigFileError::new(own.join("."), None, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_merge_table_by_table_and_the_dependency_wins() {
        let deps = parse(
            r#"
[defaults]
total_timeout = "10s"
[defaults.retry]
max_attempts = 4
base_delay = "250ms"

[dependencies.users]
kind = "generic"
[dependencies.users.retry]
max_attempts = 2

[dependencies.orders]
kind = "grpc"
"#,
        )
        .unwrap();
        let users = &deps["users"];
        assert_eq!(users.kind, Kind::Generic);
        assert_eq!(users.settings.retry.max_attempts, 2);
        assert_eq!(users.settings.retry.base_delay, Duration::from_millis(250));
        assert_eq!(users.settings.total_timeout, Duration::from_secs(10));
        assert_eq!(deps["orders"].kind, Kind::Grpc);
        assert_eq!(deps["orders"].settings.retry.max_attempts, 4);
    }

    #[test]
    fn an_invalid_value_names_its_key_path_and_line() {
        let err = parse("[dependencies.users]\n\n[dependencies.users.retry]\nmax_attempts = 0\n")
            .unwrap_err();
        assert_eq!(err.path(), "dependencies.users.retry.max_attempts");
        assert_eq!(err.line(), Some(4));
        assert!(err.message().contains("got 0"), "{err}");
    }

    #[test]
    fn a_bad_default_is_reported_where_it_is_written() {
        let err = parse("[defaults]\nattempt_timeout = \"1m\"\n[dependencies.a]\n").unwrap_err();
        assert_eq!(err.path(), "defaults.attempt_timeout");
        assert_eq!(err.line(), Some(2));
        assert!(err.message().contains("`a`"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused_with_their_path() {
        let err = parse("[dependencies.a.circuit_breaker]\nfailure_rat = 0.5\n").unwrap_err();
        assert_eq!(err.path(), "dependencies.a.circuit_breaker.failure_rat");
        assert_eq!(err.line(), Some(2));
        let err = parse("[dependencies.a]\ntotal_timeout = \"soon\"\n").unwrap_err();
        assert_eq!(err.path(), "dependencies.a.total_timeout");
        assert_eq!(err.line(), Some(2));
        let err = parse("[dependencies.a]\nkind = \"soap\"\n").unwrap_err();
        assert_eq!(err.path(), "dependencies.a.kind");
        let err = parse("[dependency.a]\n").unwrap_err();
        assert_eq!(err.path(), "dependency");
        assert_eq!(err.line(), Some(1));
    }

    #[test]
    fn cross_field_checks_name_the_later_key() {
        let err = parse(
            "[dependencies.a]\nattempt_timeout = \"5s\"\n[dependencies.a.circuit_breaker]\nwindow = \"2s\"\n",
        )
        .unwrap_err();
        assert_eq!(err.path(), "dependencies.a.circuit_breaker.window");
        assert_eq!(err.line(), Some(4));
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("[dependencies.a]\ntotal_timeout = \n").unwrap_err();
        assert_eq!(err.path(), "");
        assert_eq!(err.line(), Some(2));
        assert!(
            err.to_string()
                .starts_with("invalid configuration (line 2): ")
        );
    }
}
