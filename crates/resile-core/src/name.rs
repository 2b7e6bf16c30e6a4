//! The name of the dependency a layer protects.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The name of a dependency (`"user-service"`, `"payments.Charge"`), carried by every layer
/// instance, error, event and metric.
///
/// Names are interned: the first `Name::new` of a string stores it once for the life of the
/// process, and every later name with the same text points at that copy. So a clone is a copy
/// of one pointer (no reference count moves), which lets hot paths such as an open circuit's
/// rejection carry the name at no cost. The price is that each *distinct* name stays allocated
/// until the process exits: use names for dependencies and operations (a bounded set), never
/// for per-request values such as user ids.
///
/// ```
/// use resile_core::Name;
///
/// let name = Name::new("user-service");
/// assert_eq!(name.as_str(), "user-service");
/// assert_eq!(name, "user-service");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(&'static str);

/// Every distinct name made so far.
fn table() -> &'static Mutex<HashSet<&'static str>> {
    static TABLE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashSet::new()))
}

fn intern(text: &str) -> &'static str {
    // The table is only ever inserted into, so a panic elsewhere cannot leave it inconsistent.
    let mut names = table().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = names.get(text) {
        return known;
    }
    let stored: &'static str = Box::leak(Box::from(text));
    names.insert(stored);
    stored
}

impl Name {
    /// Makes a name (interned: see the type's docs).
    pub fn new(name: impl AsRef<str>) -> Self {
        Name(intern(name.as_ref()))
    }

    /// A name from a string that already lives for the whole program; nothing is stored.
    pub const fn from_static(name: &'static str) -> Self {
        Name(name)
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0
    }

    /// The name as a string slice that lives for the whole program.
    pub fn as_static_str(&self) -> &'static str {
        self.0
    }
}

impl Default for Name {
    fn default() -> Self {
        Name::from_static("default")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Self {
        Name::new(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Name::new(s)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_same_string() {
        let a = Name::new("users");
        let b = a.clone();
        assert!(std::ptr::eq(a.0, b.0));
        assert_eq!(format!("{a} {b:?}"), "users \"users\"");
    }

    #[test]
    fn equal_names_are_stored_once() {
        let text = String::from("interned-once");
        let a = Name::new(&text);
        let b = Name::from(text.clone());
        assert!(std::ptr::eq(a.as_static_str(), b.as_static_str()));
        assert!(
            !std::ptr::eq(a.as_str(), text.as_str()),
            "a stored copy, not the caller's"
        );
        let c = Name::new("interned-other");
        assert_ne!(a, c);
        assert!(a < c);
    }

    #[test]
    fn static_names_equal_interned_ones() {
        const USERS: Name = Name::from_static("users-static");
        assert_eq!(USERS, Name::new("users-static"));
        assert_eq!(USERS.as_static_str(), "users-static");
    }

    #[test]
    fn default_name_is_default() {
        assert_eq!(Name::default(), "default");
        assert_eq!(Name::from(String::from("x")), Name::from("x"));
    }
}
