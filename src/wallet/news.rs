//! What the wallet has to tell: it never builds a stanza, picks a
//! language or renders a sentence. A service states what happened as
//! [`News`]; `crate::notify` turns each into stanzas for whoever must know.

use crate::bitcoin::address::Address;
use crate::ledger::User;

/// A sentence to be said, by catalog key: the key names what happened,
/// the arguments are its figures. The speaking layer picks the language
/// of whoever hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Message {
    pub fn new(key: &'static str) -> Message {
        Message {
            key,
            args: Vec::new(),
        }
    }

    /// The message with one more argument.
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Message {
        self.args.push((name, value.to_string()));
        self
    }

    /// The arguments as the catalogs take them.
    pub fn arg_refs(&self) -> Vec<(&str, &str)> {
        self.args.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The message as one line of text, to be stored (a freeze's reason)
    /// and said later in the reader's language: `key` then `name=value`
    /// pairs, tab-separated (tabs and new lines in values become spaces).
    pub fn encode(&self) -> String {
        let mut text = self.key.to_owned();
        for (name, value) in &self.args {
            text.push('\t');
            text.push_str(name);
            text.push('=');
            text.extend(
                value
                    .chars()
                    .map(|c| if c == '\t' || c == '\n' { ' ' } else { c }),
            );
        }
        text
    }

    /// A message [`encode`](Message::encode)d by this version, whose key
    /// is one of `keys`; `None` for anything else (a reason written by an
    /// older bitcoIM is plain text).
    pub fn decode(text: &str, keys: &[&'static str]) -> Option<Message> {
        let mut parts = text.split('\t');
        let head = parts.next()?;
        let key = keys.iter().find(|k| **k == head)?;
        let mut message = Message::new(key);
        for part in parts {
            let (name, value) = part.split_once('=')?;
            let name = ARG_NAMES.iter().find(|n| **n == name)?;
            message = message.with(name, value);
        }
        Some(message)
    }
}

/// The argument names a stored message may use.
const ARG_NAMES: &[&str] = &["wallet", "owed", "balances", "held", "users", "txid"];

/// Who a user hears a message from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    /// The gateway itself.
    Gateway,
    /// One of the user's address contacts.
    Address(Address),
    /// A user contact, by username.
    User(String),
}

/// A message that later news corrects in place (XEP-0308): the id of this
/// one, and the id of the first one it corrects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Living {
    pub id: String,
    pub replaces: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News {
    /// Something for one user to read.
    Tell {
        user: User,
        from: Speaker,
        message: Message,
        living: Option<Living>,
    },
    /// A user's balance, hold or incoming changed: their view of it (the
    /// gateway's presence status) must follow.
    Balance(User),
    /// Something that needs a human.
    Alert(Message),
    /// A new user: the gateway (and their first address contact, if the
    /// node gave one) asks to be in their roster.
    Registered {
        user: User,
        address: Option<Address>,
    },
    /// A new address contact for a user.
    NewAddress { user: User, address: Address },
    /// A user left: the gateway and each of their address contacts say
    /// goodbye.
    Unregistered { user: User, addresses: Vec<Address> },
    /// Something for someone without a wallet (the recipient of a held
    /// tip), at their bare JID, from the gateway, in the default language.
    TellJid { jid: String, message: Message },
    /// One line for everyone in a room the gateway is in (a tip carried
    /// out), in the default language.
    Room { room: String, message: Message },
}

impl News {
    /// `message` for `user`, from the gateway.
    pub fn tell(user: &User, message: Message) -> News {
        News::Tell {
            user: user.clone(),
            from: Speaker::Gateway,
            message,
            living: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_message_reads_back_as_it_was() {
        let why = Message::new("frozen-shortfall-drift")
            .with("wallet", "1 BTC")
            .with("owed", "2 BTC")
            .with("users", "alice, bob\tand\ncarol");
        let keys = &["frozen-shortfall-drift"];
        let back = Message::decode(&why.encode(), keys).expect("decoded");
        assert_eq!(back.key, "frozen-shortfall-drift");
        assert_eq!(
            back.arg_refs(),
            vec![
                ("wallet", "1 BTC"),
                ("owed", "2 BTC"),
                ("users", "alice, bob and carol")
            ]
        );
    }

    #[test]
    fn plain_text_and_unknown_keys_are_not_messages() {
        let keys = &["frozen-shortfall"];
        assert_eq!(Message::decode("wallet 1 < owed 2", keys), None);
        assert_eq!(Message::decode("other-key\twallet=1", keys), None);
        assert_eq!(Message::decode("frozen-shortfall\tnope=1", keys), None);
        assert_eq!(Message::decode("frozen-shortfall\twallet", keys), None);
    }
}
