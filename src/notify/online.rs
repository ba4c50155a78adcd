//! Who is online, per resource, and which of our contacts told each of
//! them it is available (so that it says goodbye at shutdown, and says
//! nothing twice).

use std::collections::{BTreeSet, HashMap};

/// Who is online, and which of our contacts told them so.
#[derive(Debug, Default)]
pub struct Online {
    users: HashMap<String, OnlineUser>,
}

#[derive(Debug, Default)]
struct OnlineUser {
    resources: BTreeSet<String>,
    /// Our JIDs that sent this user an available presence.
    announced: BTreeSet<String>,
}

impl Online {
    /// Records a resource; true when it is the user's first.
    pub fn available(&mut self, bare: &str, resource: &str) -> bool {
        let user = self.users.entry(bare.to_owned()).or_default();
        user.resources.insert(resource.to_owned()) && user.resources.len() == 1
    }

    /// Forgets a resource; true when the user has none left.
    pub fn unavailable(&mut self, bare: &str, resource: &str) -> bool {
        let Some(user) = self.users.get_mut(bare) else {
            return false;
        };
        user.resources.remove(resource);
        if user.resources.is_empty() {
            self.users.remove(bare);
            return true;
        }
        false
    }

    pub fn is_online(&self, bare: &str) -> bool {
        self.users.contains_key(bare)
    }

    pub fn resources(&self, bare: &str) -> usize {
        self.users.get(bare).map_or(0, |u| u.resources.len())
    }

    pub fn count(&self) -> usize {
        self.users.len()
    }

    /// Records that `from` told `bare` it is available; false if it had
    /// already (so that it need not say it again).
    pub fn announce(&mut self, bare: &str, from: &str) -> bool {
        match self.users.get_mut(bare) {
            Some(user) => user.announced.insert(from.to_owned()),
            None => true,
        }
    }

    /// Forgets what was announced to `bare` (after unsubscriptions).
    pub fn forget_announced(&mut self, bare: &str) {
        if let Some(user) = self.users.get_mut(bare) {
            user.announced.clear();
        }
    }
}

impl Online {
    /// The bare JIDs of the users online.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Each online user with the contacts that told them they are
    /// available.
    pub fn announced(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &str>)> {
        self.users
            .iter()
            .map(|(bare, user)| (bare.as_str(), user.announced.iter().map(String::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_resources_per_user() {
        let mut o = Online::default();
        assert!(o.available("a@x", "phone"));
        assert!(!o.available("a@x", "laptop"));
        assert!(!o.available("a@x", "phone"));
        assert_eq!(o.resources("a@x"), 2);
        assert!(!o.unavailable("a@x", "phone"));
        assert!(o.is_online("a@x"));
        assert!(o.unavailable("a@x", "laptop"));
        assert!(!o.is_online("a@x"));
        assert!(!o.unavailable("b@x", "r"));
        assert_eq!(o.count(), 0);
    }
}
