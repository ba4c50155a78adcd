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
/// XEP-0184: Message Delivery Receipts.
pub const RECEIPTS: &str = "urn:xmpp:receipts";
