//! The node as the gateway uses it: typed calls over the RPC client, the
//! start-up check, and whether the node is up.
//!
//! Only calls present in Bitcoin Core 0.21 and later are used. A node
//! that is unreachable at start-up is not fatal (bitcoind often starts
//! after bitcoIM on a Pi); a node on the wrong chain or without the
//! configured wallet is, because every address and amount would be wrong.

use super::address::Address;
use super::rpc::{CallError, Client, RpcError};
use crate::config::{BitcoinConfig, Network};
use serde_json::{json, Value};
use std::fmt;

/// What the start-up check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready {
        chain: String,
        blocks: u64,
        /// The wallet's name as the node reports it (empty: default).
        wallet: String,
    },
    /// Unreachable or warming up: try again later.
    Unavailable(String),
}

/// A problem that must stop the daemon: it would handle money wrongly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfigured(pub String);

impl fmt::Display for Misconfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Misconfigured {}

pub struct Node {
    client: Client,
    network: Network,
    wallet: Option<String>,
    /// The last call failed for want of a node.
    down: bool,
}

/// Errors that mean "no node right now" rather than "the node said no".
pub fn is_outage(e: &CallError) -> bool {
    match &e.error {
        RpcError::Unreachable(_) | RpcError::AuthRefused | RpcError::BadReply(_) => true,
        // -28: warming up (loading blocks, verifying); -18: wallet not loaded.
        RpcError::Rpc { code, .. } => *code == -28 || *code == -18,
    }
}

impl Node {
    pub fn new(config: &BitcoinConfig) -> Node {
        Node {
            client: Client::new(config),
            network: config.network,
            wallet: config.wallet.clone(),
            down: false,
        }
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// Whether the last call found the node unavailable.
    pub fn is_down(&self) -> bool {
        self.down
    }

    fn call(&mut self, method: &str, params: &[Value]) -> Result<Value, CallError> {
        let result = self.client.call(method, params);
        let down = matches!(&result, Err(e) if is_outage(e));
        if down && !self.down {
            log::warn!(
                "{}",
                result
                    .as_ref()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            );
        } else if !down && self.down {
            log::info!("bitcoind is reachable again");
        }
        self.down = down;
        result
    }

    /// Checks chain and wallet. `Err` only for a node that answers but is
    /// not the one the configuration describes.
    pub fn check(&mut self) -> Result<Health, Misconfigured> {
        let info = match self.call("getblockchaininfo", &[]) {
            Ok(info) => info,
            Err(e) if is_outage(&e) => return Ok(Health::Unavailable(e.to_string())),
            Err(e) => return Err(Misconfigured(e.to_string())),
        };
        let chain = info
            .get("chain")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if chain != self.network.chain_name() {
            return Err(Misconfigured(format!(
                "bitcoind is on the '{chain}' chain but [bitcoin] network is '{}'",
                self.network.chain_name()
            )));
        }
        let blocks = info.get("blocks").and_then(Value::as_u64).unwrap_or(0);
        match self.call("getwalletinfo", &[]) {
            Ok(info) => Ok(Health::Ready {
                chain,
                blocks,
                wallet: info
                    .get("walletname")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            Err(CallError {
                error: RpcError::Rpc { code, message },
                ..
            }) if code == -18 || code == -19 => Err(Misconfigured(format!(
                "bitcoind has no wallet {} loaded ({message}); create or load it: \
                 bitcoin-cli loadwallet {}",
                self.wallet_name(),
                self.wallet.as_deref().unwrap_or("\"\"")
            ))),
            Err(e) if is_outage(&e) => Ok(Health::Unavailable(e.to_string())),
            Err(e) => Err(Misconfigured(e.to_string())),
        }
    }

    fn wallet_name(&self) -> String {
        match &self.wallet {
            Some(w) => format!("'{w}'"),
            None => "(the default wallet)".to_owned(),
        }
    }

    /// A fresh deposit address, labelled with the username.
    pub fn new_address(&mut self, label: &str) -> Result<Address, NodeError> {
        let value = self.call("getnewaddress", &[json!(label)])?;
        let text = value
            .as_str()
            .ok_or_else(|| NodeError::Unexpected("getnewaddress did not return a string".into()))?;
        Address::parse(text, self.network)
            .map_err(|e| NodeError::Unexpected(format!("getnewaddress returned {text:?}: {e}")))
    }
}

/// A failed node operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// The node cannot be reached (or is warming up).
    Down(String),
    /// The node refused or answered oddly.
    Unexpected(String),
}

impl From<CallError> for NodeError {
    fn from(e: CallError) -> NodeError {
        if is_outage(&e) {
            NodeError::Down(e.to_string())
        } else {
            NodeError::Unexpected(e.to_string())
        }
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Down(why) | NodeError::Unexpected(why) => f.write_str(why),
        }
    }
}
