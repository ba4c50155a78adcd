//! What a JID under the component's domain stands for: the gateway, a
//! registered user (by username), a Bitcoin address, or nothing.

use crate::bitcoin::address::Address;
use crate::bitcoin::network::Network;
use crate::ledger::accounts::is_valid_username;
use crate::ledger::{Ledger, User};
use crate::xmpp::Jid;

#[derive(Debug, Clone)]
pub enum Entity {
    Gateway,
    User(User),
    Address(Address),
    Unknown,
}

/// Resolves the `to` of a stanza. Usernames are at most 24 characters and
/// addresses at least 26, so a node is never both.
pub fn resolve(ledger: &Ledger, network: Network, to: &Jid) -> Entity {
    let Some(node) = &to.node else {
        return Entity::Gateway;
    };
    if is_valid_username(node) {
        return match ledger.user_by_username(node) {
            Ok(Some(user)) => Entity::User(user),
            Ok(None) => Entity::Unknown,
            Err(e) => {
                log::error!("{e}");
                Entity::Unknown
            }
        };
    }
    match Address::from_node(node, network) {
        Ok(address) => Entity::Address(address),
        Err(_) => Entity::Unknown,
    }
}
