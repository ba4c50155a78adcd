//! Messages already acted on, so that none is acted on twice.
//!
//! A client whose stream resumption (XEP-0198) failed sends again what it
//! is not sure the server took: the same message, with the same `id`
//! attribute and the same XEP-0359 `origin-id`. A `pay`, a `confirm` or a
//! one-step tip must not happen twice for it.
//!
//! A message is known by its sender's bare JID (a resent message may come
//! from a new resource), its id (the origin-id when there is one, else the
//! `id` attribute) and its body. The body is part of it because some
//! clients number their messages from 1 again at each connection: the same
//! id with another text is another message. A message without any id
//! cannot be told from a new one and is always acted on.
//!
//! Only keyed hashes are kept (SipHash with a key drawn at start-up, so
//! that nobody can make two messages collide on purpose), in a ring of
//! bounded length, each for a bounded time: resends come within seconds
//! or minutes of the original, and a flood of ids only pushes older ones
//! out (the rate limiter bounds it anyway).

use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// Messages remembered at most.
const CAPACITY: usize = 4096;
/// How long a message is remembered.
const MEMORY: Duration = Duration::from_secs(15 * 60);

pub struct Seen {
    keys: RandomState,
    /// Oldest first.
    ring: VecDeque<(u64, Instant)>,
    set: HashSet<u64>,
}

impl Default for Seen {
    fn default() -> Seen {
        Seen::new()
    }
}

impl Seen {
    pub fn new() -> Seen {
        Seen {
            keys: RandomState::new(),
            ring: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Whether the message `id` with `body` from `sender` (a bare JID) is
    /// new; it is remembered either way. `id` is the origin-id or the
    /// stanza's id attribute; `None`: always new.
    pub fn first_time(&mut self, sender: &str, id: Option<&str>, body: &str, now: Instant) -> bool {
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return true;
        };
        self.forget_before(now.checked_sub(MEMORY));
        let key = self.keys.hash_one((sender, id, body));
        if self.set.contains(&key) {
            return false;
        }
        if self.ring.len() == CAPACITY {
            if let Some((old, _)) = self.ring.pop_front() {
                self.set.remove(&old);
            }
        }
        self.ring.push_back((key, now));
        self.set.insert(key);
        true
    }

    fn forget_before(&mut self, cutoff: Option<Instant>) {
        let Some(cutoff) = cutoff else { return };
        while let Some(&(key, at)) = self.ring.front() {
            if at > cutoff {
                break;
            }
            self.ring.pop_front();
            self.set.remove(&key);
        }
    }

    /// Messages remembered now.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resent_message_is_not_new_from_any_resource_of_the_sender() {
        let mut seen = Seen::new();
        let t = Instant::now();
        assert!(seen.first_time("alice@x", Some("m1"), "confirm abc", t));
        assert!(!seen.first_time("alice@x", Some("m1"), "confirm abc", t));
        // Another sender, id or text is another message.
        assert!(seen.first_time("bob@x", Some("m1"), "confirm abc", t));
        assert!(seen.first_time("alice@x", Some("m2"), "confirm abc", t));
        assert!(seen.first_time("alice@x", Some("m1"), "balance", t));
    }

    #[test]
    fn messages_without_an_id_are_always_new() {
        let mut seen = Seen::new();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(seen.first_time("alice@x", None, "balance", t));
            assert!(seen.first_time("alice@x", Some(""), "balance", t));
        }
        assert!(seen.is_empty());
    }

    #[test]
    fn a_message_is_remembered_for_a_while_then_forgotten() {
        let mut seen = Seen::new();
        let t = Instant::now();
        assert!(seen.first_time("alice@x", Some("m1"), "pay 1 bob", t));
        let later = t + MEMORY - Duration::from_secs(1);
        assert!(!seen.first_time("alice@x", Some("m1"), "pay 1 bob", later));
        let much_later = t + MEMORY + Duration::from_secs(1);
        assert!(seen.first_time("alice@x", Some("m1"), "pay 1 bob", much_later));
    }

    #[test]
    fn memory_is_bounded_and_the_newest_are_kept() {
        let mut seen = Seen::new();
        let t = Instant::now();
        for i in 0..CAPACITY * 3 {
            assert!(seen.first_time("eve@x", Some(&i.to_string()), "x", t));
        }
        assert_eq!(seen.len(), CAPACITY);
        let newest = (CAPACITY * 3 - 1).to_string();
        assert!(!seen.first_time("eve@x", Some(&newest), "x", t));
        assert!(seen.first_time("eve@x", Some("0"), "x", t));
    }
}
