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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{contact, Bench};

    fn resolve_in(b: &mut Bench, to: &str) -> Entity {
        let jid = Jid::parse(to).expect("a JID");
        resolve(b.services().wallet.ledger(), Network::Regtest, &jid)
    }

    #[test]
    fn the_components_own_jid_is_the_gateway() {
        let mut b = Bench::new();
        assert!(matches!(
            resolve_in(&mut b, "bitcoin.example.org"),
            Entity::Gateway
        ));
        assert!(matches!(
            resolve_in(&mut b, "bitcoin.example.org/whatever"),
            Entity::Gateway
        ));
    }

    #[test]
    fn a_username_is_its_user_while_registered() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        match resolve_in(&mut b, "alice@bitcoin.example.org") {
            Entity::User(u) => assert_eq!((u.id, u.username.as_str()), (alice.id, "alice")),
            other => panic!("{other:?}"),
        }
        // JID nodes are case-insensitive.
        assert!(matches!(
            resolve_in(&mut b, "Alice@bitcoin.example.org"),
            Entity::User(_)
        ));
        b.say("alice", "unregister");
        assert!(matches!(
            resolve_in(&mut b, "alice@bitcoin.example.org"),
            Entity::Unknown
        ));
    }

    #[test]
    fn an_address_node_is_that_address() {
        let mut b = Bench::new();
        let base58 = b.chain.borrow_mut().world_address();
        match resolve_in(&mut b, &contact(&base58)) {
            Entity::Address(a) => assert_eq!(a.as_str(), base58),
            other => panic!("{other:?}"),
        }
        let bech32 = "bcrt1q3qtze4ys45tgdvguj66zrk4fu6hq3a3v9pfly5";
        match resolve_in(&mut b, &format!("{bech32}@bitcoin.example.org")) {
            Entity::Address(a) => assert_eq!(a.as_str(), bech32),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nodes_that_are_nobody_are_unknown() {
        let mut b = Bench::new();
        let base58 = b.chain.borrow_mut().world_address();
        let node = contact(&base58);
        // The case mask of a base58 address names one exact address.
        let (lower, mask) = node.split_once('@').unwrap().0.split_once('-').unwrap();
        let other_mask = if mask == "1" { "2" } else { "1" };
        for to in [
            "carol@bitcoin.example.org".to_owned(),
            "x@bitcoin.example.org".to_owned(),
            format!("{lower}@bitcoin.example.org"),
            format!("{lower}-{other_mask}@bitcoin.example.org"),
            "bcrt1q3qtze4ys45tgdvguj66zrk4fu6hq3a3v9pfly6@bitcoin.example.org".to_owned(),
        ] {
            assert!(matches!(resolve_in(&mut b, &to), Entity::Unknown), "{to}");
        }
    }

    #[test]
    fn an_address_of_another_network_is_unknown() {
        let mut b = Bench::new();
        let main = Address::parse("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Network::Main).unwrap();
        let to = format!("{}@bitcoin.example.org", main.to_node());
        assert!(matches!(resolve_in(&mut b, &to), Entity::Unknown));
        let jid = Jid::parse(&to).unwrap();
        let ledger = b.services().wallet.ledger();
        assert!(matches!(
            resolve(ledger, Network::Main, &jid),
            Entity::Address(_)
        ));
    }
}
