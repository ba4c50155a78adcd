//! bitcoind: the JSON-RPC client. Address validation and the JID encoding
//! of addresses come with the accounts.

pub mod address;
pub mod rpc;
