//! bitcoind and Bitcoin itself: the JSON-RPC client, the node as the
//! gateway uses it, addresses checked locally, and BIP21 `bitcoin:` URIs.

pub mod address;
pub mod network;
pub mod node;
pub mod rpc;
#[cfg(test)]
pub mod sim;
pub mod uri;
