//! Namespace URIs, in one place so that a typo cannot hide in a handler.

pub const COMPONENT: &str = "jabber:component:accept";
pub const STREAM: &str = "http://etherx.jabber.org/streams";
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const VERSION: &str = "jabber:iq:version";
pub const LAST: &str = "jabber:iq:last";
pub const PING: &str = "urn:xmpp:ping";
pub const VCARD: &str = "vcard-temp";
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
pub const REGISTER: &str = "jabber:iq:register";
pub const GATEWAY: &str = "jabber:iq:gateway";
pub const DATA: &str = "jabber:x:data";
pub const COMMANDS: &str = "http://jabber.org/protocol/commands";
/// XEP-0059: Result Set Management (pages of the admins' disco#items).
pub const RSM: &str = "http://jabber.org/protocol/rsm";
/// XEP-0184: Message Delivery Receipts.
pub const RECEIPTS: &str = "urn:xmpp:receipts";
/// End-to-end encryption a component cannot read: OMEMO (XEP-0384, the
/// version Conversations still speaks and version 2), OpenPGP for XMPP
/// (XEP-0373), legacy OpenPGP (XEP-0027), and the XEP-0380 label.
pub const OMEMO_LEGACY: &str = "eu.siacs.conversations.axolotl";
pub const OMEMO: &str = "urn:xmpp:omemo:2";
pub const OPENPGP: &str = "urn:xmpp:openpgp:0";
pub const PGP_LEGACY: &str = "jabber:x:encrypted";
pub const EME: &str = "urn:xmpp:eme:0";
/// XEP-0249: Direct MUC Invitations (also the gateway's disco feature).
pub const CONFERENCE: &str = "jabber:x:conference";
/// XEP-0045: Multi-User Chat, the join and the room's user extension.
pub const MUC: &str = "http://jabber.org/protocol/muc";
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0203: Delayed Delivery, and the legacy XEP-0091 form.
pub const DELAY: &str = "urn:xmpp:delay";
pub const DELAY_LEGACY: &str = "jabber:x:delay";
/// XEP-0308: Last Message Correction.
pub const CORRECT: &str = "urn:xmpp:message-correct:0";
/// XEP-0359: Unique and Stable Stanza IDs.
pub const SID: &str = "urn:xmpp:sid:0";
/// XEP-0421: Anonymous unique occupant identifiers.
pub const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
