//! The name of the dependency a layer protects.

use std::fmt;
use std::sync::Arc;

/// The name of a dependency (`"user-service"`, `"payments.Charge"`), carried by every layer
/// instance, error, event and metric.
///
/// Cloning is cheap (a reference-count increment).
///
/// ```
/// use resile_core::Name;
///
/// let name = Name::new("user-service");
/// assert_eq!(name.as_str(), "user-service");
/// assert_eq!(name, "user-service");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    /// Makes a name.
    pub fn new(name: impl AsRef<str>) -> Self {
        Name(Arc::from(name.as_ref()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Name {
    /// `"default"`, for layers built without a name.
    fn default() -> Self {
        Name::new("default")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Self {
        Name::new(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Name(Arc::from(s))
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_same_string() {
        let a = Name::new("users");
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(format!("{a} {b:?}"), "users \"users\"");
    }

    #[test]
    fn default_name_is_default() {
        assert_eq!(Name::default(), "default");
        assert_eq!(Name::from(String::from("x")), Name::from("x"));
    }
}
