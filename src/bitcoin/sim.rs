//! A simulated bitcoind with Bitcoin Core's wallet semantics, for the
//! chain tests (`wallet::chain_tests`): blocks, reorganizations, conflicts,
//! coinbase maturity, the mempool, and the wallet's view of all of it,
//! answered as JSON-RPC replies through the same [`Transport`] as the real
//! node, so that the daemon's own parsing is under test too.
//!
//! It plays what the regtest node of the testbed cannot show (that node is
//! Bitcoin SV 1.0.13: no `removed` in `listsinceblock`, conflicted
//! transactions dropped from the listing). The semantics follow Bitcoin
//! Core 0.21+ (sources: src/wallet/rpcwallet.cpp and wallet.cpp, and the
//! functional tests wallet_listsinceblock.py, wallet_conflicts.py):
//!
//! - depth: confirmed at height h is tip - h + 1; unconfirmed (in the
//!   mempool or not) 0; conflicted (an input spent by another transaction
//!   of the active chain, or a conflicted parent) minus the depth of the
//!   conflicting block;
//! - `listsinceblock`: every wallet transaction with |depth| below the
//!   block's depth, receive entries only at depth >= 0 (a double-spent
//!   deposit vanishes); `removed` lists the transactions of the stale
//!   blocks between the given block and the fork point with their CURRENT
//!   state, receive entries included; an unknown block is -5 "Block not
//!   found"; `lastblock` is the block `target` deep;
//! - `gettransaction`: -5 for a non-wallet transaction; a conflicted
//!   deposit keeps its negative confirmations and has no details;
//! - coinbase outputs: `orphan` below depth 1, `immature` to depth 100,
//!   `generate` from 101;
//! - `getbalance`: confirmed (mature) outputs and the wallet's own
//!   unconfirmed change, unspent;
//! - `sendtoaddress` takes named arguments and `fee_rate` in sat/vB, and
//!   keeps its `comment`.
//!
//! Faults can be queued for the next calls: the node down (nothing done),
//! an RPC error (nothing done), or a lost reply (done, but the caller
//! hears a broken connection).

use super::rpc::{CallError, RpcError, Transport};
use crate::amount::Sats;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

/// Coinbase outputs become spendable (and `generate`) at this depth.
const MATURITY: i64 = 101;
/// Outputs below this are not made as change (they go to the fee).
const DUST: i64 = 546;

type Outpoint = (String, u32);

#[derive(Debug, Clone)]
pub struct Tx {
    pub txid: String,
    /// Spent outputs; a world coin is a txid the wallet never saw.
    pub inputs: Vec<Outpoint>,
    pub outputs: Vec<(String, i64)>,
    pub coinbase: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
struct Block {
    height: usize,
    parent: Option<String>,
    txids: Vec<String>,
    /// When it was mined (the tests' clock).
    time: i64,
}

/// A fault for the next call of a method (`None`: of any method).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Connection refused: nothing reaches the node.
    Down,
    /// The node answers this error and does nothing.
    Error(i64, &'static str),
    /// The node does the work, the reply is lost.
    LostReply,
    /// The call times out, but stays queued in the node and runs later,
    /// before the next block (a busy node).
    Delayed,
}

#[derive(Debug, Default)]
pub struct Chain {
    blocks: HashMap<String, Block>,
    /// The active chain, by height.
    active: Vec<String>,
    /// Height of each transaction of the active chain.
    confirmed: HashMap<String, usize>,
    /// Which active-chain transaction spends each outpoint.
    spent_in_chain: HashMap<Outpoint, String>,
    txs: HashMap<String, Tx>,
    mempool: Vec<String>,
    /// Our wallet's addresses, with their label (`None`: change).
    ours: HashMap<String, Option<String>>,
    counter: u64,
    faults: VecDeque<(Option<&'static str>, Fault)>,
    /// Every `sendtoaddress` the node carried out: (comment, txid).
    pub sends: Vec<(String, String)>,
    /// Calls seen, by method.
    pub calls: BTreeMap<String, u64>,
    /// Faults that fired.
    pub faults_fired: u64,
    /// `estimatesmartfee`'s answer in sat/vB.
    pub fee_rate: i64,
    /// The `fee_rate` of the last `sendtoaddress`.
    pub last_fee_rate: Option<i64>,
    /// Answer `fee_rate` as an unknown named parameter, as nodes older
    /// than Bitcoin Core 0.21 do.
    pub without_fee_rate: bool,
    /// Calls that timed out but run before the next block.
    delayed: Vec<(String, Value)>,
    /// Unconfirmed transactions a restored wallet does not know (until a
    /// block brings them back to it).
    forgotten: HashSet<String>,
}

/// The transport the daemon's `Node` talks to.
pub struct SimTransport(pub Rc<RefCell<Chain>>);

impl Transport for SimTransport {
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, CallError> {
        self.0.borrow_mut().call(method, params)
    }
}

fn rpc_error(method: &str, code: i64, message: &str) -> CallError {
    CallError {
        method: method.to_owned(),
        error: RpcError::Rpc {
            code,
            message: message.to_owned(),
        },
    }
}

fn btc(sats: i64) -> Value {
    Sats(sats).to_rpc()
}

/// A regtest P2PKH address (version 0x6f) made from `n`.
fn address(n: u64, kind: u8) -> String {
    let mut payload = [0u8; 20];
    payload[0] = kind;
    payload[12..].copy_from_slice(&n.to_be_bytes());
    bs58::encode(payload).with_check_version(0x6f).into_string()
}

impl Chain {
    /// A chain with its genesis block and a wallet that has nothing.
    pub fn new() -> Chain {
        let mut chain = Chain {
            fee_rate: 7,
            ..Chain::default()
        };
        let genesis = chain.hash();
        chain.blocks.insert(
            genesis.clone(),
            Block {
                height: 0,
                parent: None,
                txids: Vec::new(),
                time: crate::ledger::now(),
            },
        );
        chain.active.push(genesis);
        chain
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// 64 hex digits, all different.
    fn hash(&mut self) -> String {
        let n = self.next();
        format!(
            "{:016x}{:016x}{:016x}{:016x}",
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            n,
            n.rotate_left(17) ^ 0x5bd1_e995,
            n.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        )
    }

    /// An address of the rest of the world.
    pub fn world_address(&mut self) -> String {
        let n = self.next();
        address(n, 1)
    }

    fn wallet_address(&mut self, label: Option<String>) -> String {
        let n = self.next();
        let a = address(n, 2);
        self.ours.insert(a.clone(), label);
        a
    }

    pub fn tip(&self) -> usize {
        self.active.len() - 1
    }

    pub fn tip_hash(&self) -> String {
        self.active[self.tip()].clone()
    }

    pub fn fail_next(&mut self, method: Option<&'static str>, fault: Fault) {
        self.faults.push_back((method, fault));
    }

    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub fn tx(&self, txid: &str) -> Option<&Tx> {
        self.txs.get(txid)
    }

    // --- the world's moves ------------------------------------------------

    /// A payment from the world with these outputs, into the mempool.
    /// `coin` is the world coin it spends (a double spend reuses it).
    pub fn pay_from_world(&mut self, outputs: Vec<(String, i64)>) -> String {
        let coin = (self.hash(), 0);
        self.add_mempool(vec![coin], outputs, None)
    }

    /// A transaction spending the same inputs as `txid`, paying the world:
    /// into the mempool, where it replaces `txid` (and its descendants),
    /// or for a block.
    pub fn double_spend(&mut self, txid: &str) -> Option<String> {
        let inputs = self.txs.get(txid)?.inputs.clone();
        let to = self.world_address();
        let id = self.hash();
        self.txs.insert(
            id.clone(),
            Tx {
                txid: id.clone(),
                inputs,
                outputs: vec![(to, 1000)],
                coinbase: false,
                comment: None,
            },
        );
        Some(id)
    }

    fn add_mempool(
        &mut self,
        inputs: Vec<Outpoint>,
        outputs: Vec<(String, i64)>,
        comment: Option<String>,
    ) -> String {
        let txid = self.hash();
        self.txs.insert(
            txid.clone(),
            Tx {
                txid: txid.clone(),
                inputs,
                outputs,
                coinbase: false,
                comment,
            },
        );
        self.mempool.push(txid.clone());
        txid
    }

    /// Every transaction the simulator knows.
    pub fn all_txids(&self) -> Vec<String> {
        self.txs.keys().cloned().collect()
    }

    /// The wallet restored from its seed: the transactions are there
    /// again (a rescan finds them), their comments are not.
    pub fn forget_comments(&mut self) {
        for tx in self.txs.values_mut() {
            tx.comment = None;
        }
    }

    /// The wallet's transactions with their state, for a failing test.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "tip {} mempool {:?}\n",
            self.tip(),
            self.mempool.iter().map(|t| &t[..8]).collect::<Vec<_>>()
        );
        for txid in self.wallet_txids() {
            let tx = &self.txs[&txid];
            out.push_str(&format!(
                "  {} depth {} trusted {} from_me {} in {:?} out {:?}\n",
                &txid[..8],
                self.depth(&txid),
                self.trusted(&txid, 0),
                self.debits_wallet(tx),
                tx.inputs
                    .iter()
                    .map(|(t, v)| format!("{}:{v}", &t[..8]))
                    .collect::<Vec<_>>(),
                tx.outputs
                    .iter()
                    .map(|(a, v)| format!(
                        "{}{}:{v}",
                        if self.is_ours(a) { "*" } else { "" },
                        &a[a.len() - 4..]
                    ))
                    .collect::<Vec<_>>()
            ));
        }
        out
    }

    pub fn mempool(&self) -> &[String] {
        &self.mempool
    }

    /// Mines a block on the tip with the given transactions (in order; a
    /// transaction whose inputs are not available is left out), and a
    /// coinbase paying `coinbase_to` (or the world).
    pub fn mine(&mut self, txids: &[String], coinbase_to: Option<String>) -> String {
        for (method, params) in std::mem::take(&mut self.delayed) {
            let _ = self.answer(&method, &params);
        }
        let to = coinbase_to.unwrap_or_else(|| self.world_address());
        let coinbase = self.hash();
        self.txs.insert(
            coinbase.clone(),
            Tx {
                txid: coinbase.clone(),
                inputs: Vec::new(),
                outputs: vec![(to, 50 * 100_000_000)],
                coinbase: true,
                comment: None,
            },
        );
        let mut included = vec![coinbase];
        included.extend(self.valid_in_order(txids));
        let hash = self.hash();
        let height = self.active.len();
        self.blocks.insert(
            hash.clone(),
            Block {
                height,
                parent: Some(self.tip_hash()),
                txids: included,
                time: crate::ledger::now(),
            },
        );
        self.connect(&hash);
        hash
    }

    /// Mines the whole mempool.
    pub fn mine_mempool(&mut self) -> String {
        let pool = self.mempool.clone();
        self.mine(&pool, None)
    }

    fn connect(&mut self, hash: &str) {
        let block = self.blocks[hash].clone();
        debug_assert_eq!(block.height, self.active.len());
        for txid in &block.txids {
            self.confirmed.insert(txid.clone(), block.height);
            for input in &self.txs[txid].inputs {
                self.spent_in_chain.insert(input.clone(), txid.clone());
            }
        }
        self.active.push(hash.to_owned());
        self.refresh_mempool();
    }

    /// Disconnects the tip block: its transactions go back to the mempool
    /// (a coinbase cannot: it becomes an orphan).
    fn disconnect(&mut self) -> Vec<String> {
        let hash = self.active.pop().expect("never below genesis");
        let block = self.blocks[&hash].clone();
        for txid in &block.txids {
            self.confirmed.remove(txid);
            for input in &self.txs[txid].inputs {
                self.spent_in_chain.remove(input);
            }
        }
        let back: Vec<String> = block
            .txids
            .iter()
            .filter(|t| !self.txs[*t].coinbase)
            .cloned()
            .collect();
        for txid in back.iter().rev() {
            if !self.mempool.contains(txid) {
                self.mempool.insert(0, txid.clone());
            }
        }
        back
    }

    /// A reorganization `depth` blocks deep: the new branch has one block
    /// more, its first block holds `first` (double spends, say) and
    /// `remine` of the transactions sent back to the mempool; the rest
    /// stay in the mempool if still valid.
    pub fn reorg(&mut self, depth: usize, first: &[String], remine: &[String]) -> Vec<String> {
        let depth = depth.min(self.tip());
        let mut back = Vec::new();
        for _ in 0..depth {
            back.extend(self.disconnect());
        }
        let mut txs: Vec<String> = first.to_vec();
        txs.extend(remine.iter().cloned());
        self.mine(&txs, None);
        for _ in 0..depth {
            self.mine(&[], None);
        }
        back
    }

    /// Drops from the mempool what the chain made invalid (conflicts, and
    /// their descendants) or confirmed.
    fn refresh_mempool(&mut self) {
        let pool = std::mem::take(&mut self.mempool);
        self.mempool = self.valid_in_order(&pool);
    }

    /// Of `txids`, in order, those that can go into the next block or stay
    /// in the mempool: not confirmed, spending only confirmed outputs,
    /// world coins or outputs of earlier ones, and no outpoint twice.
    fn valid_in_order(&self, txids: &[String]) -> Vec<String> {
        let mut valid: Vec<String> = Vec::new();
        let mut spent: HashSet<Outpoint> = HashSet::new();
        for txid in txids {
            let Some(tx) = self.txs.get(txid) else {
                continue;
            };
            let ok = !self.confirmed.contains_key(txid)
                && tx.inputs.iter().all(|i| {
                    !self.spent_in_chain.contains_key(i)
                        && !spent.contains(i)
                        && (self.confirmed.contains_key(&i.0)
                            || valid.contains(&i.0)
                            || !self.txs.contains_key(&i.0))
                });
            if ok {
                spent.extend(tx.inputs.iter().cloned());
                valid.push(txid.clone());
            }
        }
        valid
    }

    // --- the wallet's view ------------------------------------------------

    /// Core's GetDepthInMainChain.
    pub fn depth(&self, txid: &str) -> i64 {
        let tip = self.tip() as i64;
        if let Some(h) = self.confirmed.get(txid) {
            return tip - *h as i64 + 1;
        }
        match self.conflict_height(txid, 0) {
            Some(h) => -(tip - h as i64 + 1),
            None => 0,
        }
    }

    /// The height of the block that conflicts `txid` (spends one of its
    /// inputs, or conflicts one of its parents).
    fn conflict_height(&self, txid: &str, level: usize) -> Option<usize> {
        if level > 64 {
            return None;
        }
        let tx = self.txs.get(txid)?;
        let mut found: Option<usize> = None;
        for input in &tx.inputs {
            let h = match self.spent_in_chain.get(input) {
                Some(other) if other != txid => self.confirmed.get(other).copied(),
                _ if self.txs.contains_key(&input.0) && !self.confirmed.contains_key(&input.0) => {
                    self.conflict_height(&input.0, level + 1)
                }
                _ => None,
            };
            if let Some(h) = h {
                found = Some(found.map_or(h, |f: usize| f.min(h)));
            }
        }
        found
    }

    fn is_ours(&self, address: &str) -> bool {
        self.ours.contains_key(address)
    }

    fn is_change(&self, address: &str) -> bool {
        matches!(self.ours.get(address), Some(None))
    }

    /// Whether the wallet spent in `tx` (Core's "from me").
    fn debits_wallet(&self, tx: &Tx) -> bool {
        tx.inputs.iter().any(|(parent, vout)| {
            self.txs
                .get(parent)
                .and_then(|p| p.outputs.get(*vout as usize))
                .is_some_and(|(a, _)| self.is_ours(a))
        })
    }

    fn is_wallet_tx(&self, tx: &Tx) -> bool {
        if self.forgotten.contains(&tx.txid) && !self.confirmed.contains_key(&tx.txid) {
            return false;
        }
        tx.outputs.iter().any(|(a, _)| self.is_ours(a)) || self.debits_wallet(tx)
    }

    /// The wallet restored from its seed (or from an older backup), as
    /// far as withdrawals are concerned: its transactions come back
    /// without their comments, its addresses without their labels, and its
    /// own unconfirmed sends are gone from it (the network's mempools may
    /// still mine them; a block brings them back to the wallet). Incoming
    /// transactions stay known: a real rescan would not find a deposit
    /// conflicted out of the chain, and the daemon could not tell it from
    /// one the rescan has not reached yet; that case is the audit's (it
    /// freezes withdrawals), not this simulator's.
    pub fn restore_from_seed(&mut self) {
        for tx in self.txs.values_mut() {
            tx.comment = None;
        }
        for label in self.ours.values_mut() {
            if label.is_some() {
                *label = Some(String::new());
            }
        }
        let unconfirmed_sends: Vec<String> = self
            .txs
            .values()
            .filter(|t| !self.confirmed.contains_key(&t.txid) && self.debits_wallet(t))
            .map(|t| t.txid.clone())
            .collect();
        self.forgotten.extend(unconfirmed_sends);
    }

    fn in_mempool(&self, txid: &str) -> bool {
        self.mempool.iter().any(|t| t == txid)
    }

    /// Core's IsTrusted.
    fn trusted(&self, txid: &str, level: usize) -> bool {
        let d = self.depth(txid);
        if d >= 1 {
            return true;
        }
        if d < 0 || level > 64 || !self.in_mempool(txid) {
            return false;
        }
        let tx = &self.txs[txid];
        self.debits_wallet(tx)
            && tx
                .inputs
                .iter()
                .all(|(p, _)| self.txs.contains_key(p) && self.trusted(p, level + 1))
    }

    /// Whether an outpoint is spent by a transaction of the chain or of
    /// the mempool.
    fn spent(&self, outpoint: &Outpoint) -> bool {
        self.spent_in_chain.contains_key(outpoint)
            || self
                .mempool
                .iter()
                .any(|t| self.txs[t].inputs.contains(outpoint))
    }

    /// Our spendable outputs: trusted, mature, unspent.
    fn spendable(&self) -> Vec<(Outpoint, i64)> {
        let mut coins = Vec::new();
        let mut ids: Vec<&String> = self.txs.keys().collect();
        ids.sort();
        for txid in ids {
            let tx = &self.txs[txid];
            if !self.trusted(txid, 0) || (tx.coinbase && self.depth(txid) < MATURITY) {
                continue;
            }
            for (vout, (a, amount)) in tx.outputs.iter().enumerate() {
                let outpoint = (txid.clone(), vout as u32);
                if self.is_ours(a) && *amount > 0 && !self.spent(&outpoint) {
                    coins.push((outpoint, *amount));
                }
            }
        }
        coins
    }

    /// getbalance: what the wallet trusts.
    pub fn balance(&self) -> i64 {
        self.spendable().iter().map(|(_, a)| a).sum()
    }

    /// What a transaction spends of the wallet's outputs (Core's debit).
    fn debit(&self, tx: &Tx) -> i64 {
        tx.inputs
            .iter()
            .filter_map(|(p, v)| self.txs.get(p).and_then(|p| p.outputs.get(*v as usize)))
            .filter(|(a, _)| self.is_ours(a))
            .map(|(_, amount)| amount)
            .sum()
    }

    /// What a transaction of ours took from the wallet: what it spent of
    /// ours less what came back to us.
    pub fn outflow(&self, txid: &str) -> i64 {
        let Some(tx) = self.txs.get(txid) else {
            return 0;
        };
        let debit = self.debit(tx);
        let back: i64 = tx
            .outputs
            .iter()
            .filter(|(a, _)| self.is_ours(a))
            .map(|(_, amount)| amount)
            .sum();
        debit - back
    }

    /// What the wallet's keys hold for good or will hold: mature confirmed
    /// outputs and the change of its own sends in the mempool, unspent,
    /// even while one of their ancestors waits for a block again after a
    /// reorganization (getbalance leaves those out until then), or while a
    /// restored wallet does not know its own send yet.
    pub fn holdings(&self) -> i64 {
        let mut total = 0;
        for (txid, tx) in &self.txs {
            let depth = self.depth(txid);
            let counted = (depth >= 1 && !(tx.coinbase && depth < MATURITY))
                || (depth == 0 && self.in_mempool(txid) && self.debits_wallet(tx));
            if !counted {
                continue;
            }
            for (vout, (a, amount)) in tx.outputs.iter().enumerate() {
                if self.is_ours(a) && !self.spent(&(txid.clone(), vout as u32)) {
                    total += amount;
                }
            }
        }
        total
    }

    /// The listsinceblock/gettransaction entries of a transaction.
    fn entries(&self, tx: &Tx, min_depth: i64, long: bool) -> Vec<Value> {
        let depth = self.depth(&tx.txid);
        let from_me = self.debits_wallet(tx);
        let fee = if from_me {
            let out: i64 = tx.outputs.iter().map(|(_, a)| a).sum();
            Some(self.debit(tx) - out)
        } else {
            None
        };
        let mut list = Vec::new();
        let common = |entry: &mut Map<String, Value>| {
            entry.insert("confirmations".into(), json!(depth));
            entry.insert("txid".into(), json!(tx.txid));
            if depth <= 0 {
                entry.insert("trusted".into(), json!(self.trusted(&tx.txid, 0)));
            }
            if tx.coinbase {
                entry.insert("generated".into(), json!(true));
            }
            if let Some(c) = &tx.comment {
                entry.insert("comment".into(), json!(c));
            }
            if let Some(h) = self.confirmed.get(&tx.txid) {
                let time = self.blocks[&self.active[*h]].time;
                entry.insert("blocktime".into(), json!(time));
            }
        };
        for (vout, (a, amount)) in tx.outputs.iter().enumerate() {
            // Core: every output that is not change, ours or not.
            if from_me && !self.is_change(a) {
                let mut e = Map::new();
                e.insert("address".into(), json!(a));
                e.insert("category".into(), json!("send"));
                e.insert("amount".into(), btc(-amount));
                e.insert("vout".into(), json!(vout));
                e.insert("fee".into(), btc(-fee.unwrap_or(0)));
                if long {
                    common(&mut e);
                }
                list.push(Value::Object(e));
            }
        }
        if depth >= min_depth {
            for (vout, (a, amount)) in tx.outputs.iter().enumerate() {
                if !self.is_ours(a) || (from_me && self.is_change(a)) {
                    continue;
                }
                let category = match (tx.coinbase, depth) {
                    (false, _) => "receive",
                    (true, d) if d < 1 => "orphan",
                    (true, d) if d < MATURITY => "immature",
                    (true, _) => "generate",
                };
                let mut e = Map::new();
                e.insert("address".into(), json!(a));
                e.insert("category".into(), json!(category));
                e.insert("amount".into(), btc(*amount));
                e.insert(
                    "label".into(),
                    json!(self.ours[a].clone().unwrap_or_default()),
                );
                e.insert("vout".into(), json!(vout));
                if long {
                    common(&mut e);
                }
                list.push(Value::Object(e));
            }
        }
        list
    }

    fn wallet_txids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .txs
            .values()
            .filter(|t| self.is_wallet_tx(t))
            .map(|t| t.txid.clone())
            .collect();
        ids.sort();
        ids
    }

    fn height_of_fork(&self, hash: &str) -> Option<usize> {
        let mut at = hash.to_owned();
        loop {
            let block = self.blocks.get(&at)?;
            if self.active.get(block.height) == Some(&at) {
                return Some(block.height);
            }
            at = block.parent.clone()?;
        }
    }

    // --- JSON-RPC ---------------------------------------------------------

    pub fn call(&mut self, method: &str, params: &Value) -> Result<Value, CallError> {
        *self.calls.entry(method.to_owned()).or_default() += 1;
        let position = self
            .faults
            .iter()
            .position(|(m, _)| m.is_none_or(|m| m == method));
        let fault = position.and_then(|p| self.faults.remove(p)).map(|(_, f)| f);
        if fault.is_some() {
            self.faults_fired += 1;
        }
        match fault {
            Some(Fault::Down) => Err(CallError {
                method: method.to_owned(),
                error: RpcError::NotConnected("connection refused (simulated)".into()),
            }),
            Some(Fault::Error(code, message)) => Err(rpc_error(method, code, message)),
            Some(Fault::LostReply) => {
                let _ = self.answer(method, params);
                Err(CallError {
                    method: method.to_owned(),
                    error: RpcError::Unreachable("connection reset (simulated)".into()),
                })
            }
            Some(Fault::Delayed) => {
                self.delayed.push((method.to_owned(), params.clone()));
                Err(CallError {
                    method: method.to_owned(),
                    error: RpcError::Unreachable("timed out (simulated)".into()),
                })
            }
            None => self.answer(method, params),
        }
    }

    fn answer(&mut self, method: &str, params: &Value) -> Result<Value, CallError> {
        let arg = |i: usize, name: &str| -> Option<Value> {
            match params {
                Value::Array(a) => a.get(i).cloned(),
                Value::Object(o) => o.get(name).cloned(),
                _ => None,
            }
            .filter(|v| !v.is_null())
        };
        match method {
            "getblockchaininfo" => Ok(json!({
                "chain": "regtest",
                "blocks": self.tip(),
                "bestblockhash": self.tip_hash(),
            })),
            "getwalletinfo" => Ok(json!({"walletname": ""})),
            "getnewaddress" => {
                let label = arg(0, "label")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok(json!(self.wallet_address(Some(label))))
            }
            "getbalance" => Ok(btc(self.balance())),
            "estimatesmartfee" => Ok(json!({
                "feerate": btc(self.fee_rate * 1000),
                "blocks": 6,
            })),
            "gettransaction" => {
                let txid = arg(0, "txid")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let Some(tx) = self.txs.get(&txid).filter(|t| self.is_wallet_tx(t)) else {
                    return Err(rpc_error(
                        method,
                        -5,
                        "Invalid or non-wallet transaction id",
                    ));
                };
                let mut reply = Map::new();
                if self.debits_wallet(tx) {
                    let entries = self.entries(tx, 0, false);
                    let fee = entries
                        .iter()
                        .find_map(|e| e.get("fee").cloned())
                        .unwrap_or_else(|| btc(0));
                    reply.insert("fee".into(), fee);
                }
                reply.insert("confirmations".into(), json!(self.depth(&txid)));
                reply.insert("txid".into(), json!(txid));
                if let Some(c) = &tx.comment {
                    reply.insert("comment".into(), json!(c));
                }
                reply.insert("details".into(), Value::Array(self.entries(tx, 0, false)));
                Ok(Value::Object(reply))
            }
            "listsinceblock" => self.list_since_block(
                arg(0, "blockhash")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                arg(1, "target_confirmations")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(1),
            ),
            "sendtoaddress" => self.send_to_address(params),
            "getaddressesbylabel" => {
                let label = arg(0, "label")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let found: Map<String, Value> = self
                    .ours
                    .iter()
                    .filter(|(_, l)| l.as_deref() == Some(label.as_str()))
                    .map(|(a, _)| (a.clone(), json!({"purpose": "receive"})))
                    .collect();
                if found.is_empty() {
                    return Err(rpc_error(
                        method,
                        -11,
                        &format!("No addresses with label {label}"),
                    ));
                }
                Ok(Value::Object(found))
            }
            _ => Err(rpc_error(method, -32601, "Method not found")),
        }
    }

    fn list_since_block(&self, blockhash: String, target: i64) -> Result<Value, CallError> {
        if target < 1 {
            return Err(rpc_error("listsinceblock", -8, "Invalid parameter"));
        }
        let tip = self.tip() as i64;
        let (limit, stale) = if blockhash.is_empty() {
            (None, None)
        } else {
            let Some(fork) = self.height_of_fork(&blockhash) else {
                return Err(rpc_error("listsinceblock", -5, "Block not found"));
            };
            let on_chain = self.blocks[&blockhash].height == fork;
            (Some(tip + 1 - fork as i64), (!on_chain).then_some(fork))
        };
        let mut transactions = Vec::new();
        for txid in self.wallet_txids() {
            let depth = self.depth(&txid);
            if limit.is_none_or(|l| depth.abs() < l) {
                transactions.extend(self.entries(&self.txs[&txid], 0, true));
            }
        }
        let mut removed = Vec::new();
        if let Some(fork) = stale {
            let mut at = blockhash.clone();
            while self.blocks[&at].height > fork {
                let block = &self.blocks[&at];
                for txid in &block.txids {
                    let tx = &self.txs[txid];
                    if self.is_wallet_tx(tx) {
                        removed.extend(self.entries(tx, i64::MIN, true));
                    }
                }
                at = block.parent.clone().expect("above the fork point");
            }
        }
        let t = target.min(tip + 1);
        let lastblock = &self.active[(tip + 1 - t) as usize];
        Ok(json!({
            "transactions": transactions,
            "removed": removed,
            "lastblock": lastblock,
        }))
    }

    fn send_to_address(&mut self, params: &Value) -> Result<Value, CallError> {
        const METHOD: &str = "sendtoaddress";
        let Value::Object(p) = params else {
            return Err(rpc_error(METHOD, -1, "the simulator takes named arguments"));
        };
        for name in p.keys() {
            let known = ["address", "amount", "comment", "subtractfeefromamount"];
            if !known.contains(&name.as_str()) && (self.without_fee_rate || name != "fee_rate") {
                return Err(rpc_error(
                    METHOD,
                    -8,
                    &format!("Unknown named parameter {name}"),
                ));
            }
        }
        let to = p
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if crate::bitcoin::address::Address::parse(&to, crate::bitcoin::network::Network::Regtest)
            .is_err()
        {
            return Err(rpc_error(METHOD, -5, "Invalid Bitcoin address"));
        }
        let Some(amount) = p.get("amount").and_then(Sats::from_rpc) else {
            return Err(rpc_error(METHOD, -3, "Invalid amount"));
        };
        if amount.0 <= 0 {
            return Err(rpc_error(METHOD, -3, "Amount out of range"));
        }
        let subtract = p
            .get("subtractfeefromamount")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.last_fee_rate = p.get("fee_rate").and_then(Value::as_i64);
        let rate = self.last_fee_rate.unwrap_or(self.fee_rate);
        let comment = p
            .get("comment")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        // Coins in the wallet's order (by txid), until amount and fee are
        // covered: many small coins make a big transaction.
        let coins = self.spendable();
        let mut inputs = Vec::new();
        let mut total = 0;
        let mut fee = 0;
        for (outpoint, value) in coins {
            inputs.push(outpoint);
            total += value;
            fee = rate * (10 + 68 * inputs.len() as i64 + 2 * 31);
            let needed = if subtract { amount.0 } else { amount.0 + fee };
            if total >= needed {
                break;
            }
        }
        let needed = if subtract { amount.0 } else { amount.0 + fee };
        if inputs.is_empty() || total < needed {
            return Err(rpc_error(METHOD, -6, "Insufficient funds"));
        }
        let paid = if subtract { amount.0 - fee } else { amount.0 };
        if paid < DUST {
            return Err(rpc_error(METHOD, -6, "Transaction amount too small"));
        }
        let mut outputs = vec![(to, paid)];
        let change = total - paid - fee;
        if change >= DUST {
            let change_address = self.wallet_address(None);
            outputs.push((change_address, change));
        }
        let txid = self.add_mempool(inputs, outputs, comment.clone());
        self.sends.push((comment.unwrap_or_default(), txid.clone()));
        Ok(json!(txid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(reply: &Value, key: &str) -> Vec<(String, String, i64)> {
        reply[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["txid"].as_str().unwrap().to_owned(),
                    e["category"].as_str().unwrap().to_owned(),
                    e["confirmations"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn call(c: &mut Chain, method: &str, params: Value) -> Value {
        c.call(method, &params).unwrap()
    }

    // wallet_listsinceblock.py test_double_send: a transaction mined again
    // in another block after a reorganization is listed in both
    // `transactions` and `removed`, with its current confirmations.
    #[test]
    fn a_remined_transaction_is_in_both_lists_with_current_confirmations() {
        let mut c = Chain::new();
        let a = call(&mut c, "getnewaddress", json!(["alice"]));
        let txid = c.pay_from_world(vec![(a.as_str().unwrap().to_owned(), 1000)]);
        let stale = c.mine_mempool();
        let lsb = call(&mut c, "listsinceblock", json!(["", 1]));
        assert_eq!(lsb["lastblock"], json!(stale));
        c.reorg(1, &[], std::slice::from_ref(&txid));
        let reply = call(&mut c, "listsinceblock", json!([stale, 1]));
        let in_tx = listed(&reply, "transactions");
        let removed = listed(&reply, "removed");
        assert!(
            in_tx.contains(&(txid.clone(), "receive".into(), 2)),
            "{in_tx:?}"
        );
        assert_eq!(removed, vec![(txid, "receive".into(), 2)]);
    }

    // A deposit double-spent on the winning branch vanishes from the
    // listing (receive entries need depth >= 0) but is in `removed` with
    // negative confirmations, and gettransaction keeps it, without details.
    #[test]
    fn a_double_spent_deposit_vanishes_from_the_listing() {
        let mut c = Chain::new();
        let a = call(&mut c, "getnewaddress", json!(["alice"]));
        let txid = c.pay_from_world(vec![(a.as_str().unwrap().to_owned(), 1000)]);
        let stale = c.mine_mempool();
        let spend = c.double_spend(&txid).unwrap();
        c.reorg(1, &[spend], &[]);
        let reply = call(&mut c, "listsinceblock", json!([stale, 1]));
        assert!(listed(&reply, "transactions").is_empty());
        assert_eq!(
            listed(&reply, "removed"),
            vec![(txid.clone(), "receive".into(), -2)]
        );
        let tx = call(&mut c, "gettransaction", json!([txid]));
        assert_eq!(tx["confirmations"], json!(-2));
        assert_eq!(tx["details"], json!([]));
        assert!(c.mempool().is_empty());
        assert_eq!(call(&mut c, "getbalance", json!([])), btc(0));
    }

    #[test]
    fn coinbase_matures_and_an_unknown_block_is_refused() {
        let mut c = Chain::new();
        let a = call(&mut c, "getnewaddress", json!(["miner"]));
        let a = a.as_str().unwrap().to_owned();
        c.mine(&[], Some(a.clone()));
        let reply = call(&mut c, "listsinceblock", json!(["", 1]));
        assert_eq!(listed(&reply, "transactions")[0].1, "immature");
        for _ in 0..100 {
            c.mine(&[], None);
        }
        let reply = call(&mut c, "listsinceblock", json!(["", 1]));
        assert_eq!(listed(&reply, "transactions")[0].1, "generate");
        assert_eq!(call(&mut c, "getbalance", json!([])), btc(50 * 100_000_000));
        let err = c
            .call("listsinceblock", &json!([format!("{:064x}", 7), 1]))
            .unwrap_err();
        assert_eq!(
            err.error,
            RpcError::Rpc {
                code: -5,
                message: "Block not found".into()
            }
        );
    }

    #[test]
    fn sends_keep_their_comment_and_a_lost_reply_still_sends() {
        let mut c = Chain::new();
        let a = call(&mut c, "getnewaddress", json!(["alice"]));
        c.pay_from_world(vec![(a.as_str().unwrap().to_owned(), 100_000)]);
        c.mine_mempool();
        let to = c.world_address();
        c.fail_next(Some("sendtoaddress"), Fault::LostReply);
        let params = json!({"address": to, "amount": btc(20_000), "comment": "c1",
                            "subtractfeefromamount": false, "fee_rate": 10});
        assert!(c.call("sendtoaddress", &params).is_err());
        assert_eq!(c.sends.len(), 1);
        let txid = c.sends[0].1.clone();
        let tx = call(&mut c, "gettransaction", json!([txid]));
        assert_eq!(tx["comment"], json!("c1"));
        // 1 input, 2 outputs at 10 sat/vB: 10 * (10 + 68 + 62) = 1400.
        assert_eq!(tx["fee"], btc(-1400));
        // The wallet trusts its own unconfirmed change.
        assert_eq!(
            call(&mut c, "getbalance", json!([])),
            btc(100_000 - 20_000 - 1400)
        );
        let bad = json!({"address": to, "amount": btc(1), "feerate": 3});
        let err = c.call("sendtoaddress", &bad).unwrap_err();
        assert!(matches!(err.error, RpcError::Rpc { code: -8, .. }));
    }
}
