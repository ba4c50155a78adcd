//! Bitcoin addresses, checked locally, and their encoding as JID nodes.
//!
//! Validation needs no RPC: base58check (P2PKH, P2SH) and bech32/bech32m
//! (BIP173, BIP350: segwit v0 and v1+) with the version bytes or the
//! human-readable part of the configured network. An address of another
//! network is refused by name ("a testnet address"), so that nobody sends
//! coins to an address the node would read differently.
//!
//! JID nodes are case-insensitive and base58 is not. A base58 address
//! becomes its lowercase form, `-`, and the base-36 mask of which of its
//! letters were uppercase (bit 0 = the rightmost letter; digits do not
//! count): the Python bitcoIM's scheme, so old rosters keep working.
//! Bech32 addresses are lowercase already and are used as they are.

use crate::bitcoin::network::Network;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    P2pkh,
    P2sh,
    /// A segwit output of this witness version (0 to 16).
    Segwit(u8),
}

/// A valid address of the configured network, in its canonical form
/// (base58 as given, bech32 in lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    Empty,
    /// Not base58 nor bech32 at all.
    NotAnAddress,
    /// Well formed, but the checksum does not match: a typo.
    Checksum,
    /// A valid address of another network.
    WrongNetwork {
        found: &'static str,
    },
    /// A version byte or witness program that no network uses.
    Unsupported,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Empty => write!(f, "no address given"),
            AddressError::NotAnAddress => write!(f, "this is not a Bitcoin address"),
            AddressError::Checksum => {
                write!(f, "the address's checksum is wrong (a typo?)")
            }
            AddressError::WrongNetwork { found } => {
                write!(
                    f,
                    "this is a {found} address, not one of this gateway's network"
                )
            }
            AddressError::Unsupported => write!(f, "this kind of address is not supported"),
        }
    }
}

impl std::error::Error for AddressError {}

/// Base58check version bytes: (P2PKH, P2SH).
fn base58_versions(network: Network) -> (u8, u8) {
    match network {
        Network::Main => (0x00, 0x05),
        Network::Test | Network::Testnet4 | Network::Signet | Network::Regtest => (0x6f, 0xc4),
    }
}

fn base58_network_name(version: u8) -> Option<&'static str> {
    match version {
        0x00 | 0x05 => Some("mainnet"),
        0x6f | 0xc4 => Some("testnet"),
        _ => None,
    }
}

fn bech32_hrp(network: Network) -> &'static str {
    match network {
        Network::Main => "bc",
        Network::Test | Network::Testnet4 | Network::Signet => "tb",
        Network::Regtest => "bcrt",
    }
}

fn hrp_network_name(hrp: &str) -> Option<&'static str> {
    match hrp {
        "bc" => Some("mainnet"),
        "tb" => Some("testnet"),
        "bcrt" => Some("regtest"),
        _ => None,
    }
}

const BASE58_ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

impl Address {
    pub fn parse(s: &str, network: Network) -> Result<Address, AddressError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.len() > 90 || !s.is_ascii() {
            return Err(AddressError::NotAnAddress);
        }
        let lower = s.to_ascii_lowercase();
        if let Some((hrp, _)) = lower.rsplit_once('1') {
            if hrp_network_name(hrp).is_some() {
                return Address::parse_bech32(s, &lower, hrp, network);
            }
        }
        Address::parse_base58(s, network)
    }

    fn parse_bech32(
        s: &str,
        lower: &str,
        hrp: &str,
        network: Network,
    ) -> Result<Address, AddressError> {
        let (_, version, _) = bech32::segwit::decode(s).map_err(|e| {
            use bech32::primitives::decode::SegwitHrpstringError as E;
            match e.0 {
                E::Checksum(_) => AddressError::Checksum,
                E::InvalidWitnessVersion(_) | E::WitnessLength(_) => AddressError::Unsupported,
                _ => AddressError::NotAnAddress,
            }
        })?;
        if hrp != bech32_hrp(network) {
            return Err(AddressError::WrongNetwork {
                found: hrp_network_name(hrp).unwrap_or("foreign"),
            });
        }
        Ok(Address {
            text: lower.to_owned(),
            kind: Kind::Segwit(version.to_u8()),
        })
    }

    fn parse_base58(s: &str, network: Network) -> Result<Address, AddressError> {
        if !s.chars().all(|c| BASE58_ALPHABET.contains(c)) {
            return Err(AddressError::NotAnAddress);
        }
        let payload = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|e| match e {
                bs58::decode::Error::InvalidChecksum { .. } => AddressError::Checksum,
                _ => AddressError::NotAnAddress,
            })?;
        if payload.len() != 21 {
            return Err(AddressError::NotAnAddress);
        }
        let (p2pkh, p2sh) = base58_versions(network);
        let kind = match payload[0] {
            v if v == p2pkh => Kind::P2pkh,
            v if v == p2sh => Kind::P2sh,
            v => {
                return Err(match base58_network_name(v) {
                    Some(found) => AddressError::WrongNetwork { found },
                    None => AddressError::Unsupported,
                })
            }
        };
        Ok(Address {
            text: s.to_owned(),
            kind,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The JID node of this address's contact.
    pub fn to_node(&self) -> String {
        if let Kind::Segwit(_) = self.kind {
            return self.text.clone();
        }
        let mut mask: u64 = 0;
        let letters = self.text.chars().rev().filter(|c| c.is_ascii_alphabetic());
        for (bit, c) in letters.enumerate() {
            if c.is_ascii_uppercase() {
                mask |= 1 << bit;
            }
        }
        let lower = self.text.to_ascii_lowercase();
        if mask == 0 {
            lower
        } else {
            format!("{lower}-{}", to_base36(mask))
        }
    }

    /// The address a JID node stands for, if it is a valid address of
    /// `network` in its canonical encoding.
    pub fn from_node(node: &str, network: Network) -> Result<Address, AddressError> {
        if node.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(AddressError::NotAnAddress);
        }
        let (lower, mask) = match node.split_once('-') {
            None => (node, 0),
            Some((lower, suffix)) => {
                // Canonical base 36 only: no empty suffix, no leading zero.
                if suffix.is_empty() || suffix.starts_with('0') {
                    return Err(AddressError::NotAnAddress);
                }
                let mask =
                    u64::from_str_radix(suffix, 36).map_err(|_| AddressError::NotAnAddress)?;
                (lower, mask)
            }
        };
        let letters = lower.chars().filter(|c| c.is_ascii_alphabetic()).count();
        if letters < 64 && mask >> letters != 0 {
            return Err(AddressError::NotAnAddress);
        }
        let mut chars: Vec<char> = lower.chars().collect();
        let mut bit = 0;
        for c in chars.iter_mut().rev() {
            if c.is_ascii_alphabetic() {
                // checked_shr: a node may have more letters than the mask
                // has bits (a long bech32 address, or any long string).
                if mask.checked_shr(bit).is_some_and(|m| m & 1 == 1) {
                    *c = c.to_ascii_uppercase();
                }
                bit += 1;
            }
        }
        let text: String = chars.into_iter().collect();
        let address = Address::parse(&text, network)?;
        // A bech32 address must come as itself, without a mask.
        if address.to_node() != node {
            return Err(AddressError::NotAnAddress);
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str, network: Network) -> Address {
        Address::parse(s, network).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn base58_vectors() {
        assert_eq!(
            ok("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Network::Main).kind(),
            Kind::P2pkh
        );
        assert_eq!(
            ok("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Network::Main).kind(),
            Kind::P2pkh
        );
        assert_eq!(
            ok("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Network::Main).kind(),
            Kind::P2sh
        );
        assert_eq!(
            ok("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Test).kind(),
            Kind::P2pkh
        );
        assert_eq!(
            ok("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", Network::Regtest).kind(),
            Kind::P2sh
        );
        assert_eq!(
            Address::parse("1BoatSLRHtKNngkdXEeobR76b53LETtpyU", Network::Main),
            Err(AddressError::Checksum)
        );
        assert_eq!(
            Address::parse("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Network::Regtest),
            Err(AddressError::WrongNetwork { found: "mainnet" })
        );
        assert_eq!(
            Address::parse("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Main),
            Err(AddressError::WrongNetwork { found: "testnet" })
        );
        for bad in [
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN0",
            "alice",
            "0xdeadbeef",
            "1Ivalid",
        ] {
            assert!(Address::parse(bad, Network::Main).is_err(), "{bad}");
        }
        assert_eq!(
            Address::parse("  ", Network::Main),
            Err(AddressError::Empty)
        );
    }

    // BIP173 and BIP350 valid vectors for the networks bitcoIM serves.
    #[test]
    fn bech32_vectors() {
        let main = [
            ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", 0),
            (
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
                0,
            ),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                1,
            ),
            (
                "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
                1,
            ),
            ("BC1SW50QGDZ25J", 16),
            ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", 2),
        ];
        for (s, version) in main {
            let a = ok(s, Network::Main);
            assert_eq!(a.kind(), Kind::Segwit(version), "{s}");
            assert_eq!(a.as_str(), s.to_ascii_lowercase());
        }
        ok(
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            Network::Test,
        );
        ok(
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
            Network::Signet,
        );
        // testnet4 keeps testnet3's prefixes (Core's kernel/chainparams.cpp).
        ok(
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
            Network::Testnet4,
        );
        ok("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Testnet4);
        ok(
            "bcrt1q3qtze4ys45tgdvguj66zrk4fu6hq3a3v9pfly5",
            Network::Regtest,
        );
    }

    #[test]
    fn bech32_refusals() {
        use AddressError::*;
        let cases = [
            // Wrong checksum variant for the version (BIP350).
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
                Network::Main,
            ),
            ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", Network::Main),
            // BIP173's v1+ vectors, with bech32 checksums that BIP350 retired.
            (
                "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
                Network::Main,
            ),
            ("BC1SW50QA3JX3S", Network::Main),
            ("bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj", Network::Main),
            // Mixed case.
            (
                "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
                Network::Test,
            ),
            // Program too short for v1.
            ("bc1pw5dgrnzv", Network::Main),
        ];
        for (s, network) in cases {
            let e = Address::parse(s, network).unwrap_err();
            assert!(
                matches!(e, Checksum | NotAnAddress | Unsupported),
                "{s}: {e:?}"
            );
        }
        assert_eq!(
            Address::parse(
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                Network::Regtest
            ),
            Err(WrongNetwork { found: "mainnet" })
        );
        assert_eq!(
            Address::parse(
                "bcrt1q3qtze4ys45tgdvguj66zrk4fu6hq3a3v9pfly5",
                Network::Main
            ),
            Err(WrongNetwork { found: "regtest" })
        );
        assert!(
            Address::parse("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", Network::Test).is_err()
        );
    }

    // The example in the Python bitcoIM's address.py.
    #[test]
    fn python_bitcoim_node_encoding() {
        let a = ok("1DXFn72VHrXRVYJTTxjbmNXyXpYXmgiWfw", Network::Main);
        assert_eq!(a.to_node(), "1dxfn72vhrxrvyjttxjbmnxyxpyxmgiwfw-x0l0p0");
    }

    #[test]
    fn node_encoding_round_trips() {
        let samples = [
            ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Network::Main),
            ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Network::Main),
            ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Regtest),
            ("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", Network::Regtest),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                Network::Main,
            ),
            ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", Network::Main),
        ];
        for (s, network) in samples {
            let a = ok(s, network);
            let node = a.to_node();
            assert_eq!(node, node.to_lowercase());
            assert_eq!(Address::from_node(&node, network).unwrap(), a, "{node}");
            let jid = crate::xmpp::Jid::parse(&format!("{node}@bitcoin.example.org")).unwrap();
            assert_eq!(jid.node.as_deref(), Some(node.as_str()));
        }
    }

    #[test]
    fn non_canonical_nodes_are_refused() {
        let n = Network::Main;
        let node = ok("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", n).to_node();
        let (lower, suffix) = node.split_once('-').unwrap();
        for bad in [
            format!("{lower}-0{suffix}"),
            format!("{lower}-"),
            lower.to_owned(),
            format!("{lower}-zzzzzzzzzzz"),
            format!("{lower}-{suffix}-1"),
            node.to_uppercase(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4-1".to_owned(),
            "alice".to_owned(),
            // More letters than a u64 mask has bits: refused, no overflow.
            "a".repeat(100),
            format!("{}-1", "a".repeat(100)),
            format!("{}-zzzzzzzzzzzz", "b".repeat(70)),
        ] {
            assert!(Address::from_node(&bad, n).is_err(), "{bad}");
        }
    }
}
