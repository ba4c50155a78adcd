//! The presence face (RFC 6121): subscriptions between users and the
//! gateway, its address contacts and its user contacts; who is online, per
//! resource; probes at start-up and goodbyes at shutdown.
//!
//! The gateway's status carries the user's balance (from the ledger, no
//! RPC); an own address's status says what it has received. Only the user
//! themself ever sees those: presence is always directed to one user. The
//! presences themselves are built by `crate::notify`, which also sends
//! them when a balance changes.

use crate::command::Services;
use crate::entity::Entity;
use crate::notify::presence;
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};

/// Handles a presence from `from` to `entity`.
pub fn on_presence(
    s: &mut Services,
    stanza: &Element,
    from: &Jid,
    entity: &Entity,
    out: &mut Vec<Element>,
) {
    let kind = stanza.get_attr("type");
    if kind == Some("error") {
        return;
    }
    let bare = from.bare().to_string();
    if matches!(entity, Entity::Unknown) {
        if matches!(kind, Some("subscribe" | "probe")) {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(Condition::ItemNotFound, "no such user or address"),
            ));
        }
        return;
    }
    let to_jid = s.voice.entity_jid(entity);
    let user = s.wallet.user_of(from);
    let lang = s.lang(stanza, user.as_ref());
    match kind {
        None => {
            let resource = from.resource.clone().unwrap_or_default();
            if s.voice.online.available(&bare, &resource) {
                log::debug!("{bare} is online");
                let me = s.voice.jid().to_string();
                if s.voice.online.announce(&bare, &me) {
                    if let Some(p) = s.voice.available(
                        s.wallet.ledger(),
                        &Entity::Gateway,
                        &bare,
                        user.as_ref(),
                        lang,
                    ) {
                        out.push(p);
                    }
                }
            }
        }
        Some("unavailable") => {
            let resource = from.resource.clone().unwrap_or_default();
            if s.voice.online.unavailable(&bare, &resource) {
                log::debug!("{bare} is offline");
            }
        }
        Some("subscribe") => {
            out.push(presence(&to_jid, &bare, Some("subscribed")));
            if let Some(p) =
                s.voice
                    .available(s.wallet.ledger(), entity, &bare, user.as_ref(), lang)
            {
                s.voice.online.announce(&bare, &to_jid.to_string());
                out.push(p);
            }
        }
        Some("subscribed") => {
            // Said already if the user came online or subscribed first.
            if s.voice.online.announce(&bare, &to_jid.to_string()) {
                if let Some(p) =
                    s.voice
                        .available(s.wallet.ledger(), entity, &bare, user.as_ref(), lang)
                {
                    out.push(p);
                }
            }
        }
        Some("probe") => {
            if let Some(p) = s.voice.available(
                s.wallet.ledger(),
                entity,
                &from.to_string(),
                user.as_ref(),
                lang,
            ) {
                s.voice.online.announce(&bare, &to_jid.to_string());
                out.push(p);
            }
        }
        Some("unsubscribe") => out.push(presence(&to_jid, &bare, Some("unsubscribed"))),
        Some(_) => {}
    }
}

/// Start-up: probe every registered user, so that their presence (and so
/// who is online) comes back to us.
pub fn on_connected(s: &mut Services, out: &mut Vec<Element>) {
    match s.wallet.ledger().users() {
        Ok(users) => {
            log::info!("probing {} registered users", users.len());
            for user in users {
                out.push(presence(s.voice.jid(), &user.jid, Some("probe")));
            }
        }
        Err(e) => log::error!("{e}"),
    }
}

/// Shutdown: every contact that told an online user it was available now
/// says it is not.
pub fn goodbye(s: &Services, out: &mut Vec<Element>) {
    let mut count = 0;
    for (bare, announced) in s.voice.online.announced() {
        for from in announced {
            out.push(
                Element::new("presence", ns::COMPONENT)
                    .attr("from", from)
                    .attr("to", bare)
                    .attr("type", "unavailable"),
            );
        }
        count += 1;
    }
    log::info!("said goodbye to {count} online users");
}
