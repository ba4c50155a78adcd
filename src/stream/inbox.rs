//! Stanzas read from the server and not handled yet, in two lanes, so
//! that a flood of presences (a server restart brings thousands of users
//! back online at once) does not hold up everyone else's IQs and messages.
//!
//! Presences wait in the `later` lane; IQs and messages go first, except
//! that a sender's stanzas never overtake each other: once a sender has a
//! stanza waiting in `later`, everything else of theirs queues behind it
//! (RFC 6120, section 10.1: stanzas from one entity are processed in
//! order). The reactor reads ahead up to [`Inbox::is_full`] and handles a
//! bounded number of stanzas per turn.

use crate::xmpp::Element;
use std::collections::{HashMap, VecDeque};

/// How many stanzas may wait: enough to read past a burst of presences to
/// the IQ behind it, few enough to bound memory (a stanza here is a few
/// hundred bytes).
pub const CAPACITY: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct Inbox {
    urgent: VecDeque<Element>,
    later: VecDeque<Element>,
    /// How many stanzas of each sender (bare JID) wait in `later`.
    later_from: HashMap<String, usize>,
}

impl Inbox {
    pub fn push(&mut self, stanza: Element) {
        let from = bare(stanza.get_attr("from").unwrap_or_default());
        if let Some(count) = self.later_from.get_mut(from) {
            *count += 1;
            self.later.push_back(stanza);
        } else if stanza.name == "presence" {
            self.later_from.insert(from.to_owned(), 1);
            self.later.push_back(stanza);
        } else {
            self.urgent.push_back(stanza);
        }
    }

    /// The next stanza to handle.
    pub fn pop(&mut self) -> Option<Element> {
        if let Some(stanza) = self.urgent.pop_front() {
            return Some(stanza);
        }
        let stanza = self.later.pop_front()?;
        let from = bare(stanza.get_attr("from").unwrap_or_default());
        if let Some(count) = self.later_from.get_mut(from) {
            *count -= 1;
            if *count == 0 {
                self.later_from.remove(from);
            }
        }
        Some(stanza)
    }

    pub fn len(&self) -> usize {
        self.urgent.len() + self.later.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether reading should wait until some stanzas are handled.
    pub fn is_full(&self) -> bool {
        self.len() >= CAPACITY
    }
}

/// The bare form of a JID as the server wrote it (the text before `/`).
fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(bare, _)| bare)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::ns;

    fn stanza(name: &str, from: &str, id: &str) -> Element {
        Element::new(name, ns::COMPONENT)
            .attr("from", from)
            .attr("id", id)
    }

    fn drain(inbox: &mut Inbox) -> Vec<String> {
        std::iter::from_fn(|| inbox.pop())
            .map(|s| s.get_attr("id").unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn an_iq_behind_a_burst_of_presences_goes_first() {
        let mut inbox = Inbox::default();
        for i in 0..1000 {
            inbox.push(stanza("presence", &format!("u{i}@x/r"), &format!("p{i}")));
        }
        inbox.push(stanza("iq", "carol@x/phone", "iq"));
        inbox.push(stanza("message", "dave@x/phone", "m"));
        let order = drain(&mut inbox);
        assert_eq!(order[..2], ["iq", "m"]);
        assert_eq!(order[2], "p0");
        assert_eq!(order.len(), 1002);
        assert!(inbox.is_empty());
    }

    #[test]
    fn a_senders_stanzas_keep_their_order() {
        let mut inbox = Inbox::default();
        inbox.push(stanza("presence", "alice@x/a", "1"));
        inbox.push(stanza("iq", "alice@x/b", "2"));
        inbox.push(stanza("iq", "bob@x/b", "3"));
        inbox.push(stanza("message", "alice@x/a", "4"));
        inbox.push(stanza("iq", "bob@x/b", "5"));
        inbox.push(stanza("presence", "bob@x/b", "6"));
        // Bob's IQs go first; Alice's stay behind her presence; Bob's
        // presence after his IQs.
        assert_eq!(drain(&mut inbox), ["3", "5", "1", "2", "4", "6"]);
        // Once Alice's presence is handled, her IQs are urgent again.
        inbox.push(stanza("iq", "alice@x/a", "7"));
        inbox.push(stanza("presence", "eve@x/a", "8"));
        inbox.push(stanza("iq", "alice@x/a", "9"));
        assert_eq!(drain(&mut inbox), ["7", "9", "8"]);
    }

    #[test]
    fn it_is_full_at_its_capacity() {
        let mut inbox = Inbox::default();
        for i in 0..CAPACITY {
            assert!(!inbox.is_full());
            inbox.push(stanza("presence", "u@x", &i.to_string()));
        }
        assert!(inbox.is_full());
        inbox.pop();
        assert!(!inbox.is_full());
    }
}
