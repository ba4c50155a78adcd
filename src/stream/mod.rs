//! The XEP-0114 wire protocol without sockets: the incremental parser with
//! its limits, the handshake and session state, the inbox of stanzas not
//! handled yet, and the outgoing buffer.

pub mod inbox;
pub mod outbuf;
pub mod parser;
pub mod session;

pub use parser::Limits;
pub use session::{Incoming, Session};
