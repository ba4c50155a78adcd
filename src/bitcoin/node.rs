//! The node as the gateway uses it: typed calls over the RPC client, the
//! start-up check, and whether the node is up.
//!
//! Only calls present in Bitcoin Core 0.21 and later are used. A node
//! that is unreachable at start-up is not fatal (bitcoind often starts
//! after bitcoIM on a Pi); a node on the wrong chain or without the
//! configured wallet is, because every address and amount would be wrong.

use super::address::Address;
use super::rpc::{CallError, Client, RpcError};
use crate::amount::Sats;
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
    passphrase_file: Option<std::path::PathBuf>,
    network: Network,
    wallet: Option<String>,
    /// The last call failed for want of a node.
    down: bool,
}

/// Errors that mean "no node right now" rather than "the node said no".
pub fn is_outage(e: &CallError) -> bool {
    match &e.error {
        RpcError::NotConnected(_) | RpcError::Unreachable(_) | RpcError::AuthRefused => true,
        // The node answered, oddly: it is there.
        RpcError::BadReply(_) => false,
        // -28: warming up (loading blocks, verifying); -18: wallet not loaded.
        RpcError::Rpc { code, .. } => *code == -28 || *code == -18,
    }
}

impl Node {
    pub fn new(config: &BitcoinConfig) -> Node {
        Node {
            client: Client::new(config),
            passphrase_file: config.passphrase_file.clone(),
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

    /// Whether an RPC error is a definite refusal that happened before
    /// anything was committed: only those release a withdrawal's hold.
    /// Everything else (timeouts, resets, -1, -4, -32603, HTTP errors
    /// without a JSON body) leaves the outcome unknown.
    pub fn is_definite_refusal(e: &CallError) -> bool {
        matches!(
            e.error,
            RpcError::Rpc {
                code: -3 | -5 | -6 | -8 | -13,
                ..
            } | RpcError::NotConnected(_)
                | RpcError::AuthRefused
        )
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

    /// Receives since `cursor` (everything when `None`), with a cursor
    /// `confirmations` deep so that deposits not yet credited are listed
    /// again next time.
    pub fn list_since_block(
        &mut self,
        cursor: Option<&str>,
        confirmations: i64,
    ) -> Result<SinceBlock, NodeError> {
        let reply = self.call(
            "listsinceblock",
            &[json!(cursor.unwrap_or("")), json!(confirmations)],
        )?;
        let lastblock = reply
            .get("lastblock")
            .and_then(Value::as_str)
            .ok_or_else(|| NodeError::Unexpected("listsinceblock without lastblock".into()))?
            .to_owned();
        Ok(SinceBlock {
            receives: receives(reply.get("transactions")),
            removed: receives(reply.get("removed")),
            lastblock,
        })
    }

    /// A fee rate in sat/vB for confirmation within about 6 blocks, or
    /// `fallback` when the node cannot say (no `estimatesmartfee`, or not
    /// enough data yet).
    pub fn fee_rate(&mut self, fallback: i64) -> Result<i64, NodeError> {
        match self.call("estimatesmartfee", &[json!(6)]) {
            Ok(reply) => Ok(reply
                .get("feerate")
                .and_then(Sats::from_rpc)
                // BTC/kvB → sat/vB, rounded up.
                .map(|per_kvb| ((per_kvb.0 + 999) / 1000).max(1))
                .unwrap_or(fallback)),
            Err(CallError {
                error: RpcError::Rpc { code: -32601, .. },
                ..
            }) => Ok(fallback),
            Err(e) => Err(e.into()),
        }
    }

    /// `sendtoaddress`, with the order's reference as the wallet comment
    /// that reconciliation looks for. The raw error is returned: which
    /// code it is decides whether the hold may be released.
    pub fn send_to_address(
        &mut self,
        address: &str,
        amount: Sats,
        comment: &str,
        subtract_fee: bool,
    ) -> Result<String, CallError> {
        self.unlock()?;
        let reply = self.call(
            "sendtoaddress",
            &[
                json!(address),
                amount.to_rpc(),
                json!(comment),
                json!(""),
                json!(subtract_fee),
            ],
        )?;
        reply.as_str().map(str::to_owned).ok_or_else(|| CallError {
            method: "sendtoaddress".to_owned(),
            error: RpcError::BadReply(format!("not a txid: {reply}")),
        })
    }

    /// Unlocks an encrypted wallet for the few seconds a send takes. The
    /// passphrase is read from its file each time and never logged.
    fn unlock(&mut self) -> Result<(), CallError> {
        /// Seconds the wallet stays unlocked.
        const UNLOCK_SECONDS: i64 = 5;
        let Some(path) = &self.passphrase_file else {
            return Ok(());
        };
        let passphrase = std::fs::read_to_string(path).map_err(|e| CallError {
            method: "walletpassphrase".to_owned(),
            // -13 (wallet locked): a definite refusal, nothing was sent.
            error: RpcError::Rpc {
                code: -13,
                message: format!("cannot read the passphrase file {}: {e}", path.display()),
            },
        })?;
        let passphrase = passphrase.trim_end_matches(['\r', '\n']);
        match self.call(
            "walletpassphrase",
            &[json!(passphrase), json!(UNLOCK_SECONDS)],
        ) {
            Ok(_) => Ok(()),
            // -15: the wallet is not encrypted; nothing to unlock.
            Err(CallError {
                error: RpcError::Rpc { code: -15, .. },
                ..
            }) => {
                log::warn!("passphrase_file is set but the wallet is not encrypted");
                Ok(())
            }
            Err(e) => Err(CallError {
                method: e.method,
                // -14 (wrong passphrase) and the like: nothing was sent.
                error: match e.error {
                    RpcError::Rpc { message, .. } => RpcError::Rpc {
                        code: -13,
                        message: format!("cannot unlock the wallet: {message}"),
                    },
                    other => other,
                },
            }),
        }
    }

    /// The fee the wallet paid for one of its transactions, and its
    /// confirmations.
    pub fn sent_fee(&mut self, txid: &str) -> Result<(Sats, i64), NodeError> {
        let tx = self.call("gettransaction", &[json!(txid)])?;
        let fee = tx
            .get("fee")
            .and_then(Sats::from_rpc)
            .ok_or_else(|| NodeError::Unexpected(format!("gettransaction {txid}: no fee")))?;
        let confirmations = tx.get("confirmations").and_then(Value::as_i64).unwrap_or(0);
        Ok((Sats(-fee.0), confirmations))
    }

    /// The txid of the wallet's send whose comment is `comment`, among its
    /// last `depth` transactions.
    pub fn find_send(&mut self, comment: &str, depth: u32) -> Result<Option<String>, NodeError> {
        let list = self.call("listtransactions", &[json!("*"), json!(depth), json!(0)])?;
        let Value::Array(entries) = list else {
            return Err(NodeError::Unexpected("listtransactions: not a list".into()));
        };
        Ok(entries
            .iter()
            .filter(|e| e.get("category").and_then(Value::as_str) == Some("send"))
            .filter(|e| e.get("comment").and_then(Value::as_str) == Some(comment))
            .find_map(|e| e.get("txid").and_then(Value::as_str).map(str::to_owned)))
    }

    /// The wallet's confirmed balance, for the solvency audit.
    pub fn wallet_balance(&mut self) -> Result<Sats, NodeError> {
        let b = self.call("getbalance", &[])?;
        Sats::from_rpc(&b).ok_or_else(|| NodeError::Unexpected(format!("getbalance: {b}")))
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

/// A receive entry of `listsinceblock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receive {
    pub txid: String,
    pub vout: i64,
    pub address: String,
    pub amount: Sats,
    /// Negative for a conflicted transaction.
    pub confirmations: i64,
}

/// What `listsinceblock` says since the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinceBlock {
    pub receives: Vec<Receive>,
    /// Receives of blocks reorganized away (Bitcoin Core's `removed`).
    pub removed: Vec<Receive>,
    /// The cursor for the next call.
    pub lastblock: String,
}

fn receives(list: Option<&Value>) -> Vec<Receive> {
    let Some(Value::Array(entries)) = list else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| e.get("category").and_then(Value::as_str) == Some("receive"))
        .filter_map(|e| {
            let receive = Receive {
                txid: e.get("txid")?.as_str()?.to_owned(),
                vout: e.get("vout")?.as_i64()?,
                address: e.get("address")?.as_str()?.to_owned(),
                amount: Sats::from_rpc(e.get("amount")?)?,
                confirmations: e.get("confirmations")?.as_i64()?,
            };
            Some(receive)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    // Bitcoin Core's documented shape of listsinceblock, with a send, a
    // coinbase and a removed entry: the regtest node shows no `removed`.
    #[test]
    fn reads_receives_and_removed_entries() {
        let reply: Value = serde_json::from_str(
            r#"{"transactions":[
                {"address":"bcrt1qa","category":"receive","amount":0.29,"vout":1,"confirmations":0,"txid":"t1"},
                {"address":"bcrt1qb","category":"send","amount":-1.0,"vout":0,"confirmations":3,"txid":"t2"},
                {"address":"bcrt1qc","category":"immature","amount":50.0,"vout":0,"confirmations":3,"txid":"t3"},
                {"address":"bcrt1qd","category":"receive","amount":1.5,"vout":0,"confirmations":-2,"txid":"t4"}],
              "removed":[{"address":"bcrt1qa","category":"receive","amount":0.1,"vout":0,"confirmations":0,"txid":"t5"}],
              "lastblock":"00ab"}"#,
        )
        .unwrap();
        let r = receives(reply.get("transactions"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].amount, Sats(29_000_000));
        assert_eq!(r[0].vout, 1);
        assert_eq!(r[1].confirmations, -2);
        assert_eq!(receives(reply.get("removed"))[0].txid, "t5");
    }

    #[test]
    fn only_definite_refusals_release_a_hold() {
        let err = |error| CallError {
            method: "sendtoaddress".into(),
            error,
        };
        let rpc = |code| {
            err(RpcError::Rpc {
                code,
                message: String::new(),
            })
        };
        for code in [-3, -5, -6, -8, -13] {
            assert!(Node::is_definite_refusal(&rpc(code)), "{code}");
        }
        for code in [-1, -4, -14, -28, -32603, 0] {
            assert!(!Node::is_definite_refusal(&rpc(code)), "{code}");
        }
        assert!(!Node::is_definite_refusal(&err(RpcError::Unreachable(
            "timeout".into()
        ))));
        assert!(!Node::is_definite_refusal(&err(RpcError::BadReply(
            "HTTP 500".into()
        ))));
        // A request that never reached the node did nothing there.
        assert!(Node::is_definite_refusal(&err(RpcError::NotConnected(
            "connection refused".into()
        ))));
        // HTTP 401 is answered before the request is looked at.
        assert!(Node::is_definite_refusal(&err(RpcError::AuthRefused)));
    }
}
