//! XMPP data types, free of I/O: JIDs, the element tree and its writer,
//! stanzas and their errors.

pub mod element;
pub mod form;
pub mod jid;
pub mod ns;
pub mod stanza;

pub use element::{Element, Node};
pub use jid::Jid;
