//! The room face (XEP-0045 Multi-User Chat): the gateway joins the rooms
//! it is invited to (XEP-0249 direct or XEP-0045 mediated invitations),
//! follows who is there, and takes `tip <amount> <nick> [comment]` and
//! `leave` said in a room. Tips are orders of the tip engine
//! (`crate::wallet::tips`); its recap, refusals and every other answer go
//! to the tipper privately, never into the room: the room hears only the
//! line of a tip carried out and, once per join, what its owner must
//! change when it hides real JIDs from the gateway.
//!
//! The rooms joined are stored (`ledger::rooms`) and joined again at every
//! connection, without history. A line the room replays (XEP-0203), a
//! correction, our own echo, a repeat of a message id, or a line from a
//! nick whose real JID we do not know is never acted on.
//!
//! Pure parts: `invite` (invitations), `occupants` (who is who), `room`
//! (a room's presences read as what happened to us), `said` (which lines
//! may be commands) and `words` (`tip`'s arguments).

mod invite;
mod occupants;
mod room;
mod said;
mod words;

use crate::amount::Sats;
use crate::command::Services;
use crate::config::Inviters;
use crate::ledger::orders::Tip;
use crate::limits::{RateLimiter, Verdict};
use crate::notify::{chat, groupchat};
use crate::seen::Seen;
use crate::wallet::payments::Refusal;
use crate::xmpp::{ns, Element, Jid};
use invite::Invitation;
use occupants::Role;
use room::{Event, Phase, Removed, Room};
use std::collections::HashMap;
use std::time::Instant;

/// The rooms the gateway is in or joining, by bare JID (lowercased):
/// owned by the gateway, lost with the connection, rebuilt from the
/// ledger at the next one.
#[derive(Debug, Default)]
pub struct State {
    rooms: HashMap<String, Room>,
}

impl State {
    /// Whether `jid` is in a room we are in or joining.
    pub fn is_room(&self, jid: &Jid) -> bool {
        // Asked for every stanza: no lowercased key to build when the
        // gateway is in no room.
        !self.rooms.is_empty() && jid.node.is_some() && self.rooms.contains_key(&key(jid))
    }

    /// The connection is gone: so is our place in every room.
    pub fn clear(&mut self) {
        self.rooms.clear();
    }

    #[cfg(test)]
    pub(crate) fn joined(&self) -> Vec<&str> {
        let mut rooms: Vec<&str> = self
            .rooms
            .values()
            .filter(|r| r.phase == Phase::Joined)
            .map(|r| r.jid.as_str())
            .collect();
        rooms.sort_unstable();
        rooms
    }
}

/// Rooms the gateway is in or joining, at most: each costs its occupant
/// list in memory.
const MAX_ROOMS: usize = 1000;

/// Whether `room` is on a MUC service whose word on real JIDs we take
/// (`[rooms] services`, `RoomsConfig::trusts`).
fn trusted(s: &Services, room: &Jid) -> bool {
    let settings = s.wallet.settings();
    room.node.is_some()
        && settings.rooms.trusts(
            &room.domain,
            &settings.main.allowed_domains,
            &settings.domain,
        )
}

fn key(jid: &Jid) -> String {
    jid.bare_string().to_lowercase()
}

/// A message this face takes.
pub enum Taken {
    /// An invitation to the gateway (read once, here).
    Invitation(Invitation),
    /// From a room we are in or joining.
    Room,
}

/// Whether this face takes a message: an invitation to the gateway, or a
/// message from a room we are in.
pub fn takes_message(state: &State, stanza: &Element, from: &Jid, to: &Jid) -> Option<Taken> {
    if to.node.is_some() {
        return None;
    }
    match invite::parse(stanza, from) {
        Some(invitation) => Some(Taken::Invitation(invitation)),
        None => state.is_room(from).then_some(Taken::Room),
    }
}

/// Handles a message [`takes_message`] took.
#[allow(clippy::too_many_arguments)]
pub fn on_message(
    s: &mut Services,
    state: &mut State,
    limiter: &mut RateLimiter,
    seen: &mut Seen,
    taken: Taken,
    stanza: &Element,
    from: &Jid,
    out: &mut Vec<Element>,
) {
    if let Taken::Invitation(invitation) = taken {
        on_invitation(s, state, stanza, &invitation, out);
        return;
    }
    let Some(room) = state.rooms.get_mut(&key(from)) else {
        return;
    };
    if from.resource.is_none() {
        if room.on_room_message(stanza) == Event::NowHidden {
            hidden_notice(s, room, out);
        }
        return;
    }
    match stanza.get_attr("type") {
        Some("error") => log::info!("{} refused a message of ours", room.jid),
        Some("groupchat") => on_line(s, room, limiter, seen, stanza, from, out),
        _ => {
            // A private message through the room: we cannot tell who it is.
            let body = stanza.get_child("body", ns::COMPONENT);
            if body.is_some() && from.resource.is_some() && room.phase == Phase::Joined {
                let lang = s.lang(stanza, None);
                if allowed(limiter, &from.to_string()) {
                    let text = s.text(
                        lang,
                        "room-private",
                        &[("gateway", &s.voice.jid().to_string())],
                    );
                    out.push(chat(s.voice.jid(), &from.to_string(), lang, &text));
                }
            }
        }
    }
}

fn allowed(limiter: &mut RateLimiter, who: &str) -> bool {
    matches!(limiter.check(who, Instant::now()), Verdict::Allow)
}

/// Handles a presence from a room we are in or joining.
pub fn on_presence(
    s: &mut Services,
    state: &mut State,
    stanza: &Element,
    from: &Jid,
    out: &mut Vec<Element>,
) {
    let room_key = key(from);
    let Some(room) = state.rooms.get_mut(&room_key) else {
        return;
    };
    let Some(nick) = from.resource.as_deref() else {
        return;
    };
    match room.on_presence(nick, stanza) {
        Event::Nothing => {}
        Event::Joined { hidden } => {
            log::info!("joined {} as {}", room.jid, room.nick);
            if let Err(e) = s.wallet.ledger_mut().store_room(
                &room.jid,
                room.invited_by,
                room.password.as_deref(),
            ) {
                log::error!("{e}");
            }
            if !room.rejoin {
                tell_inviter(s, room, "room-joined", out);
            }
            if hidden {
                hidden_notice(s, room, out);
            }
        }
        Event::NowHidden => hidden_notice(s, room, out),
        Event::Retry(nick) => {
            log::info!("{}: our nick is taken, trying {nick}", room.jid);
            out.push(join(s.voice.jid(), room));
        }
        Event::Refused(why) => {
            log::warn!("{} refused us: {why:?}; forgotten", room.jid);
            if !room.rejoin {
                tell_inviter(s, room, why.key(), out);
            }
            forget(s, state, &room_key);
        }
        Event::Removed(why) => {
            log::warn!("out of {}: {why:?}; forgotten", room.jid);
            if why == Removed::Gone {
                // Our join made an empty room: leaving it takes it away.
                out.push(leave(s.voice.jid(), room));
            }
            tell_inviter(s, room, why.key(), out);
            forget(s, state, &room_key);
        }
        Event::Shutdown => {
            log::info!(
                "{} shuts down; joined again at the next connection",
                room.jid
            );
            state.rooms.remove(&room_key);
        }
        Event::Left => {
            log::info!("left {}", room.jid);
            state.rooms.remove(&room_key);
        }
    }
}

/// Shutdown: out of every room (they stay stored, for the next start).
pub fn goodbye(s: &Services, state: &State, out: &mut Vec<Element>) {
    for room in state.rooms.values().filter(|r| r.phase == Phase::Joined) {
        out.push(leave(s.voice.jid(), room));
    }
}

/// At every connection: joins every stored room again, without history.
pub fn on_connected(s: &mut Services, state: &mut State, out: &mut Vec<Element>) {
    state.clear();
    let stored = match s.wallet.ledger().rooms() {
        Ok(rooms) => rooms,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    if !stored.is_empty() {
        log::info!("joining {} room(s) again", stored.len());
    }
    for r in stored {
        if !Jid::parse(&r.jid).is_ok_and(|jid| trusted(s, &jid)) {
            log::warn!(
                "not joining {} again: not a MUC service we trust (any more)",
                r.jid
            );
            continue;
        }
        if state.rooms.len() >= MAX_ROOMS {
            log::warn!("not joining {} again: already in {MAX_ROOMS} rooms", r.jid);
            continue;
        }
        let mut room = Room::new(r.jid.clone(), s.wallet.settings().rooms.nick.clone());
        room.invited_by = r.invited_by;
        room.inviter = r
            .invited_by
            .and_then(|id| s.wallet.ledger().user_by_id(id).ok().flatten())
            .map(|u| u.jid);
        room.password = r.password;
        room.rejoin = true;
        out.push(join(s.voice.jid(), &room));
        state.rooms.insert(r.jid, room);
    }
}

fn on_invitation(
    s: &mut Services,
    state: &mut State,
    stanza: &Element,
    invitation: &Invitation,
    out: &mut Vec<Element>,
) {
    let room_jid = key(&invitation.room);
    if !trusted(s, &invitation.room) {
        // A mediated invitation from an untrusted "room" is anyone's
        // message: nobody to answer. A direct one gets the reason.
        log::warn!("invitation to {room_jid}: not a MUC service we trust; ignored");
        if let (false, Some(inviter)) = (invitation.mediated, &invitation.inviter) {
            let lang = s.lang(stanza, s.wallet.user_of(inviter).as_ref());
            let text = s.text(lang, "room-untrusted", &[("room", &room_jid)]);
            out.push(chat(s.voice.jid(), &inviter.to_string(), lang, &text));
        }
        return;
    }
    let Some(inviter) = &invitation.inviter else {
        log::info!("an invitation to {room_jid} without an inviter: ignored");
        return;
    };
    let user = s.wallet.user_of(inviter);
    let admin = s.voice.is_admin(inviter);
    let lang = match &user {
        Some(u) => s.voice.user_lang(u),
        None => s.lang(stanza, None),
    };
    let refusal = match s.wallet.settings().rooms.invites {
        _ if invitation.inviter_hidden() => Some("room-invite-hidden"),
        Inviters::Nobody => Some("room-invite-nobody"),
        Inviters::Admins if !admin => Some("room-invite-admins"),
        Inviters::Users if !admin && user.is_none() => Some("room-invite-unregistered"),
        _ => None,
    };
    let me = s.voice.jid().clone();
    if let Some(why) = refusal {
        log::info!("invitation of {inviter} to {room_jid} refused: {why}");
        let args = [("room", room_jid.as_str()), ("gateway", &me.to_string())];
        // Never to a room's JID: the room would bounce it.
        if !invitation.inviter_hidden() {
            let text = s.text(lang, why, &args);
            out.push(chat(&me, &inviter.to_string(), lang, &text));
        }
        if invitation.mediated {
            let reason = s.text(s.voice.default_lang(), why, &args);
            out.extend(invite::decline(&me, invitation, &reason));
        }
        return;
    }
    if !state.rooms.contains_key(&room_jid) && state.rooms.len() >= MAX_ROOMS {
        log::warn!("invitation of {inviter} to {room_jid} refused: already in {MAX_ROOMS} rooms");
        let text = s.text(lang, "room-too-many", &[("room", &room_jid)]);
        out.push(chat(&me, &inviter.to_string(), lang, &text));
        return;
    }
    if state
        .rooms
        .get(&room_jid)
        .is_some_and(|r| r.phase == Phase::Joined)
    {
        let text = s.text(lang, "room-already-in", &[("room", &room_jid)]);
        out.push(chat(&me, &inviter.to_string(), lang, &text));
        return;
    }
    log::info!("{inviter} invites us to {room_jid}: joining");
    let mut room = Room::new(room_jid.clone(), s.wallet.settings().rooms.nick.clone());
    room.invited_by = user.map(|u| u.id);
    room.inviter = Some(inviter.bare_string());
    room.password = invitation.password.clone();
    out.push(join(&me, &room));
    state.rooms.insert(room_jid, room);
}

/// A line said in a room we are in.
fn on_line(
    s: &mut Services,
    room: &mut Room,
    limiter: &mut RateLimiter,
    seen: &mut Seen,
    stanza: &Element,
    from: &Jid,
    out: &mut Vec<Element>,
) {
    let Some(said) = said::read(stanza, from) else {
        return;
    };
    if room.phase != Phase::Joined
        || said.nick == room.nick
        || !room.first_sight(said.id.as_deref())
    {
        return;
    }
    let Some((command, args)) = room_command(s, &said.body) else {
        return;
    };
    let Some(occupant) = room.occupants.get(&said.nick).cloned() else {
        return;
    };
    // A client resending after a failed stream resumption keeps its
    // origin-id (or id) but the room gives the copy a new stanza-id.
    let sender = occupant.jid.clone().unwrap_or_else(|| from.to_string());
    if !seen.first_time(
        &sender,
        &room.jid,
        said.client_id.as_deref(),
        &said.body,
        Instant::now(),
    ) {
        log::info!(
            "{sender} said a line again in {}: not acted on twice",
            room.jid
        );
        return;
    }
    let limit_key = sender;
    if !allowed(limiter, &limit_key) {
        return;
    }
    match (command, occupant.jid) {
        (RoomCommand::Leave, jid) => {
            let by_inviter = jid.is_some() && jid == room.inviter;
            if by_inviter || occupant.role == Role::Moderator {
                log::info!("leaving {}, as {} asked", room.jid, said.nick);
                out.push(leave(s.voice.jid(), room));
                room.phase = Phase::Leaving;
                if let Err(e) = s.wallet.ledger_mut().forget_room(&room.jid) {
                    log::error!("{e}");
                }
            } else if let Some(jid) = jid {
                let lang = s.lang(stanza, s.wallet.user_of(&parse_jid(&jid)).as_ref());
                let text = s.text(lang, "room-leave-refused", &[("room", &room.jid)]);
                out.push(chat(s.voice.jid(), &jid, lang, &text));
            }
        }
        (RoomCommand::Tip, Some(jid)) => tip(s, room, &said.nick, &jid, args, stanza, out),
        (RoomCommand::Tip, None) => {
            // Hidden from us: answered through the room, to the nick.
            let lang = s.voice.default_lang();
            let text = s.text(lang, "room-tip-hidden", &[("room", &room.jid)]);
            out.push(chat(s.voice.jid(), &from.to_string(), lang, &text));
            if room.hidden {
                hidden_notice(s, room, out);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoomCommand {
    Tip,
    Leave,
}

/// The command a room line starts with: its first word, exactly one of
/// the command's names in the default language or in English (no
/// prefixes: a room is a conversation, "tipsy" is not a tip).
fn room_command<'a>(s: &Services, body: &'a str) -> Option<(RoomCommand, &'a str)> {
    let body = body.trim();
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (body, ""),
    };
    let word = word.to_lowercase();
    let catalogs = s.voice.catalogs();
    let lang = s.voice.default_lang();
    [
        ("room-tip", RoomCommand::Tip),
        ("room-leave", RoomCommand::Leave),
    ]
    .into_iter()
    .find(|(id, _)| {
        catalogs
            .names(lang, id)
            .into_iter()
            .chain(catalogs.names("en", id))
            .any(|n| n == word)
    })
    .map(|(_, command)| (command, rest))
}

fn parse_jid(jid: &str) -> Jid {
    Jid::parse(jid).unwrap_or_else(|_| Jid {
        node: None,
        domain: jid.to_owned(),
        resource: None,
    })
}

/// `tip` from the occupant `nick`, whose real bare JID is `jid`.
fn tip(
    s: &mut Services,
    room: &Room,
    nick: &str,
    jid: &str,
    args: &str,
    stanza: &Element,
    out: &mut Vec<Element>,
) {
    let me = s.voice.jid().clone();
    let Some(tipper) = s.wallet.user_of(&parse_jid(jid)) else {
        let lang = s.lang(stanza, None);
        let text = s.text(
            lang,
            "room-tip-unregistered",
            &[("gateway", &me.to_string())],
        );
        out.push(chat(&me, jid, lang, &text));
        return;
    };
    let lang = s.voice.user_lang(&tipper);
    let answer = |s: &Services, key: &str, args: &[(&str, &str)]| s.text(lang, key, args);
    let text = match words::tip(args, room.occupants.nicks()) {
        None => answer(s, "room-tip-usage", &[]),
        Some(w) if !w.known => answer(
            s,
            "room-tip-no-such-nick",
            &[("nick", w.nick), ("room", &room.jid)],
        ),
        Some(w) if w.nick == room.nick => answer(s, "room-tip-gateway", &[]),
        Some(w) => match (
            room.occupants.get(w.nick).and_then(|o| o.jid.clone()),
            Sats::parse_user(&w.amount),
        ) {
            (None, _) => answer(s, "room-tip-hidden", &[("room", &room.jid)]),
            (Some(_), Err(e)) => s.refusal(lang, &Refusal::Amount(e)),
            (Some(recipient_jid), Ok(amount)) => {
                let place = Tip {
                    room: room.jid.clone(),
                    tipper_nick: nick.to_owned(),
                    recipient_nick: w.nick.to_owned(),
                    recipient_jid,
                };
                // The recap, or what was done; the room's line and the
                // recipient's message are the engine's news.
                crate::command::tip(s, lang, &tipper, &place, amount, w.comment, out)
            }
        },
    };
    out.push(chat(&me, &tipper.jid, lang, &text));
}

/// Tells the inviter (if we know them) about `room`, by catalog key.
fn tell_inviter(s: &Services, room: &Room, key: &str, out: &mut Vec<Element>) {
    let Some(inviter) = &room.inviter else {
        return;
    };
    let user = s.wallet.user_of(&parse_jid(inviter));
    let lang = user
        .as_ref()
        .map_or_else(|| s.voice.default_lang(), |u| s.voice.user_lang(u));
    let text = s.text(lang, key, &[("room", &room.jid), ("nick", &room.nick)]);
    out.push(chat(s.voice.jid(), inviter, lang, &text));
}

/// Says once per join, in the room, what its owner must change for tips.
fn hidden_notice(s: &Services, room: &mut Room, out: &mut Vec<Element>) {
    if room.notice_said {
        return;
    }
    room.notice_said = true;
    let lang = s.voice.default_lang();
    let text = s.text(lang, "room-hidden-jids", &[("nick", &room.nick)]);
    out.push(groupchat(s.voice.jid(), &room.jid, lang, &text));
}

fn forget(s: &mut Services, state: &mut State, room: &str) {
    state.rooms.remove(room);
    if let Err(e) = s.wallet.ledger_mut().forget_room(room) {
        log::error!("{e}");
    }
}

/// Our join: no history (XEP-0045, 7.2.6), the password if any.
fn join(me: &Jid, room: &Room) -> Element {
    let mut x =
        Element::new("x", ns::MUC).child(Element::new("history", ns::MUC).attr("maxstanzas", "0"));
    if let Some(password) = &room.password {
        x.push(Element::new("password", ns::MUC).text(password));
    }
    Element::new("presence", ns::COMPONENT)
        .attr("from", &me.to_string())
        .attr("to", &format!("{}/{}", room.jid, room.nick))
        .child(x)
}

fn leave(me: &Jid, room: &Room) -> Element {
    Element::new("presence", ns::COMPONENT)
        .attr("from", &me.to_string())
        .attr("to", &format!("{}/{}", room.jid, room.nick))
        .attr("type", "unavailable")
}

#[cfg(test)]
mod tests;
