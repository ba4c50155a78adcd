//! bitcoind and Bitcoin itself: the JSON-RPC client, the node as the
//! gateway uses it, and addresses checked locally.

pub mod address;
pub mod node;
pub mod rpc;
#[cfg(test)]
pub mod sim;
