//! JIDs (RFC 7622).
//!
//! bitcoIM only needs what a component sees: JIDs stamped by the server on
//! the way in, and JIDs under its own domain on the way out. Comparison is
//! on a lowercased form of the localpart and domain; full PRECIS profiles
//! are the server's job. The nodes bitcoIM makes need no XEP-0106
//! escaping: a username is lowercase letters, digits, `-` and `_`,
//! and an address node is base58 or lowercase bech32.

use std::fmt;

/// Each part of a JID is at most 1023 bytes (RFC 7622, section 3).
const MAX_PART: usize = 1023;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    pub node: Option<String>,
    pub domain: String,
    pub resource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JidError {
    Empty,
    EmptyPart(&'static str),
    TooLong(&'static str),
    ForbiddenChar(&'static str, char),
}

impl fmt::Display for JidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JidError::Empty => write!(f, "empty JID"),
            JidError::EmptyPart(part) => write!(f, "the {part} of the JID is empty"),
            JidError::TooLong(part) => write!(f, "the {part} of the JID is over {MAX_PART} bytes"),
            JidError::ForbiddenChar(part, c) => {
                write!(
                    f,
                    "the {part} of the JID contains the forbidden character {c:?}"
                )
            }
        }
    }
}

impl std::error::Error for JidError {}

/// Characters RFC 7622 forbids in a localpart.
fn forbidden_in_node(c: char) -> bool {
    matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@')
        || c.is_whitespace()
        || c.is_control()
}

impl Jid {
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        if s.is_empty() {
            return Err(JidError::Empty);
        }
        let (bare, resource) = match s.split_once('/') {
            Some((b, r)) => (b, Some(r)),
            None => (s, None),
        };
        let (node, domain) = match bare.split_once('@') {
            Some((n, d)) => (Some(n), d),
            None => (None, bare),
        };
        if let Some(node) = node {
            check_part(node, "localpart")?;
            if let Some(c) = node.chars().find(|&c| forbidden_in_node(c)) {
                return Err(JidError::ForbiddenChar("localpart", c));
            }
        }
        check_part(domain, "domain")?;
        if let Some(c) = domain
            .chars()
            .find(|&c| c == '@' || c.is_whitespace() || c.is_control())
        {
            return Err(JidError::ForbiddenChar("domain", c));
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if let Some(resource) = resource {
            check_part(resource, "resource")?;
            if let Some(c) = resource.chars().find(|c| c.is_control()) {
                return Err(JidError::ForbiddenChar("resource", c));
            }
        }
        Ok(Jid {
            node: node.map(str::to_lowercase),
            domain: domain.to_lowercase(),
            resource: resource.map(str::to_owned),
        })
    }

    pub fn with_node(&self, node: &str) -> Jid {
        Jid {
            node: Some(node.to_owned()),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// The JID without its resource.
    pub fn bare(&self) -> Jid {
        Jid {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// The bare form as text (`node@domain`), without building a Jid.
    pub fn bare_string(&self) -> String {
        match &self.node {
            Some(node) => {
                let mut s = String::with_capacity(node.len() + 1 + self.domain.len());
                s.push_str(node);
                s.push('@');
                s.push_str(&self.domain);
                s
            }
            None => self.domain.clone(),
        }
    }

    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }
}

fn check_part(part: &str, name: &'static str) -> Result<(), JidError> {
    if part.is_empty() {
        return Err(JidError::EmptyPart(name));
    }
    if part.len() > MAX_PART {
        return Err(JidError::TooLong(name));
    }
    Ok(())
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = &self.node {
            write!(f, "{node}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(resource) = &self.resource {
            write!(f, "/{resource}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_bare_and_domain_jids() {
        let j = Jid::parse("Alice@Example.ORG/Phone/2").unwrap();
        assert_eq!(j.node.as_deref(), Some("alice"));
        assert_eq!(j.domain, "example.org");
        assert_eq!(j.resource.as_deref(), Some("Phone/2"));
        assert_eq!(j.to_string(), "alice@example.org/Phone/2");
        assert_eq!(j.bare().to_string(), "alice@example.org");
        let d = Jid::parse("bitcoin.example.org").unwrap();
        assert_eq!(d.node, None);
        assert!(d.is_bare());
        assert_eq!(Jid::parse("example.org.").unwrap().domain, "example.org");
    }

    #[test]
    fn rejects_malformed_jids() {
        assert_eq!(Jid::parse(""), Err(JidError::Empty));
        assert_eq!(Jid::parse("@x"), Err(JidError::EmptyPart("localpart")));
        assert_eq!(Jid::parse("a@"), Err(JidError::EmptyPart("domain")));
        assert_eq!(Jid::parse("a@b/"), Err(JidError::EmptyPart("resource")));
        assert_eq!(
            Jid::parse("a b@c"),
            Err(JidError::ForbiddenChar("localpart", ' '))
        );
        assert_eq!(
            Jid::parse("a@b@c"),
            Err(JidError::ForbiddenChar("domain", '@'))
        );
        let long = "a".repeat(1024);
        assert_eq!(
            Jid::parse(&format!("{long}@x")),
            Err(JidError::TooLong("localpart"))
        );
        assert_eq!(
            Jid::parse("a@x/\u{7}"),
            Err(JidError::ForbiddenChar("resource", '\u{7}'))
        );
    }
}
