//! Output that goes to every user (start-up probes, announcements), made
//! a page at a time while the socket drains: the reactor asks for the next
//! page only when little waits to be written, so memory stays bounded
//! whatever the number of users.

use super::{presence, Voice};
use crate::ledger::Ledger;
use crate::xmpp::{ns, Element};
use std::collections::VecDeque;

/// Stanzas made per page.
pub const PAGE: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bulk {
    /// A probe to every registered user, after the account `after`, so
    /// that their presence (and so who is online) comes back to us.
    Probes { after: i64 },
    /// A message to every registered user, after the account `after`.
    AnnounceAll { body: String, after: i64 },
    /// A message to these users (those online when it was sent).
    AnnounceTo {
        body: String,
        jids: VecDeque<String>,
    },
}

impl Voice {
    /// Queues bulk output. Probes replace probes not finished (a new
    /// connection starts them again).
    pub fn queue(&mut self, job: Bulk) {
        if matches!(job, Bulk::Probes { .. }) {
            self.bulk.retain(|j| !matches!(j, Bulk::Probes { .. }));
        }
        self.bulk.push_back(job);
    }

    /// Whether bulk output waits.
    pub fn has_backlog(&self) -> bool {
        !self.bulk.is_empty()
    }

    /// The next page of bulk output, from the oldest job.
    pub fn next_page(&mut self, ledger: &Ledger, out: &mut Vec<Element>) {
        let Some(job) = self.bulk.front_mut() else {
            return;
        };
        let from = self.jid.clone();
        let done = match job {
            Bulk::Probes { after } => match ledger.users_after(*after, PAGE) {
                Ok(users) => {
                    for user in &users {
                        out.push(presence(&from, &user.jid, Some("probe")));
                    }
                    *after = users.last().map_or(*after, |u| u.id);
                    users.len() < PAGE
                }
                Err(e) => {
                    log::error!("start-up probes stopped: {e}");
                    true
                }
            },
            Bulk::AnnounceAll { body, after } => match ledger.users_after(*after, PAGE) {
                Ok(users) => {
                    for user in &users {
                        out.push(announcement(&from.to_string(), &user.jid, body));
                    }
                    *after = users.last().map_or(*after, |u| u.id);
                    users.len() < PAGE
                }
                Err(e) => {
                    log::error!("announcement stopped: {e}");
                    true
                }
            },
            Bulk::AnnounceTo { body, jids } => {
                for jid in jids.drain(..PAGE.min(jids.len())) {
                    out.push(announcement(&from.to_string(), &jid, body));
                }
                jids.is_empty()
            }
        };
        if done {
            self.bulk.pop_front();
        }
    }
}

/// An announcement: `normal`, not `headline`, because servers keep normal
/// messages for offline users, and an announcement must reach them.
fn announcement(from: &str, to: &str, body: &str) -> Element {
    Element::new("message", ns::COMPONENT)
        .attr("type", "normal")
        .attr("from", from)
        .attr("to", to)
        .text_child("body", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Bench;

    /// Every page a bulk job makes, until it is done.
    fn pages(b: &mut Bench) -> Vec<Vec<Element>> {
        let mut pages = Vec::new();
        let s = b.services();
        while s.voice.has_backlog() {
            let mut out = Vec::new();
            s.voice.next_page(s.wallet.ledger(), &mut out);
            pages.push(out);
        }
        pages
    }

    #[test]
    fn probes_go_to_every_user_a_page_at_a_time() {
        let mut b = Bench::new();
        for i in 0..(PAGE + 10) {
            let jid = format!("user{i}@example.org");
            b.services()
                .wallet
                .ledger_mut()
                .register(&jid, &format!("user{i}"))
                .unwrap();
        }
        b.services().voice.queue(Bulk::Probes { after: 0 });
        let pages = pages(&mut b);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [PAGE, 10]);
        let to: Vec<&str> = pages
            .iter()
            .flatten()
            .filter_map(|p| p.get_attr("to"))
            .collect();
        assert_eq!(to.len(), PAGE + 10);
        assert_eq!(to[0], "user0@example.org");
        assert_eq!(to[PAGE + 9], format!("user{}@example.org", PAGE + 9));
        assert!(pages
            .iter()
            .flatten()
            .all(|p| p.get_attr("type") == Some("probe")));
    }

    #[test]
    fn new_probes_replace_probes_not_finished_and_announcements_wait_their_turn() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.register("bob", "bob");
        let voice = &mut b.services().voice;
        voice.queue(Bulk::Probes { after: 0 });
        voice.queue(Bulk::AnnounceTo {
            body: "hi".into(),
            jids: ["alice@example.org".to_owned()].into(),
        });
        voice.queue(Bulk::Probes { after: 0 });
        let pages = pages(&mut b);
        let kinds: Vec<Vec<&str>> = pages
            .iter()
            .map(|p| p.iter().map(|e| e.name.as_str()).collect())
            .collect();
        assert_eq!(kinds, [vec!["message"], vec!["presence", "presence"]]);
        assert_eq!(pages[0][0].get_attr("type"), Some("normal"));
    }
}
