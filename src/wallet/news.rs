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
}

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
