//! The deposit poller: one `listsinceblock` per interval, whatever the
//! number of users; receives on our users' addresses become deposits.
//!
//! Each deposit is announced once, from its address's contact, and that
//! message is then corrected in place (XEP-0308) as the deposit gets
//! confirmations, is credited, or is reversed.
//!
//! The wallet's current view decides (see `ledger::deposits`). The cursor
//! is kept `WATCH_DEPTH` blocks (or the required confirmations, if more)
//! below the tip, so every recent transaction is listed again, with its
//! current confirmations, at every poll: a reorganization shallower than
//! that shows as changed confirmations (Bitcoin Core also lists the
//! transactions of blocks reorganized away under `removed`, with their
//! CURRENT confirmations: a transaction mined again is in both lists,
//! positive in both). A watched deposit that the listing does not show
//! (nodes that drop conflicted transactions from it, a coinbase maturing
//! beyond the window) is asked about with `gettransaction`.
//!
//! The cursor only moves after every entry was taken: a database error
//! stops the poll and the next one lists them again. An entry the ledger
//! cannot take (a zero amount, an odd category) is recorded once, told to
//! the admins once, and skipped; it never stops the others. A poller that
//! has not completed a poll for `STALL_POLLS` intervals tells the admins.

use crate::amount::{Sats, MAX_MONEY};
use crate::bitcoin::address::Address;
use crate::bitcoin::node::{Category, NodeError, WalletEntry};
use crate::ledger::deposits::{Change, Report, Skipped};
use crate::wallet::{Living, Message, News, Speaker, Wallet};
use std::collections::HashMap;

/// `state` row holding the poller's cursor.
pub const CURSOR: &str = "listsinceblock_cursor";

/// Blocks below the tip where the cursor is kept: a reorganization up to
/// this deep is seen in the listing itself.
pub const WATCH_DEPTH: i64 = 6;

/// Polls without success after which the admins are told.
pub const STALL_POLLS: u32 = 10;

/// The poller's health, for the stall alert.
#[derive(Debug, Clone, Default)]
pub struct PollerHealth {
    /// When the last poll completed (Unix seconds); 0: none yet.
    pub last_success: i64,
    /// Polls that failed since.
    pub failures: u32,
    /// Whether the admins were told of the current stall.
    pub alerted: bool,
}

/// Why a poll stopped before the cursor could move.
struct Stop(String);

/// Polls the wallet once; true when the chain moved on since last time.
pub fn poll(wallet: &mut Wallet, news: &mut Vec<News>) -> bool {
    match poll_once(wallet, news) {
        Ok(moved) => {
            if wallet.poller.alerted {
                log::info!("deposit poller: working again");
                crate::wallet::alert(news, "admin-poller-back", &[]);
            }
            wallet.poller = PollerHealth {
                last_success: crate::ledger::now(),
                failures: 0,
                alerted: false,
            };
            moved
        }
        Err(Stop(why)) => {
            stalled(wallet, &why, news);
            false
        }
    }
}

/// A poll that could not be done: after `STALL_POLLS` in a row, the
/// admins are told, once.
pub fn stalled(wallet: &mut Wallet, why: &str, news: &mut Vec<News>) {
    wallet.poller.failures += 1;
    if wallet.poller.failures < STALL_POLLS || wallet.poller.alerted {
        return;
    }
    wallet.poller.alerted = true;
    let since = crate::i18n::utc(if wallet.poller.last_success == 0 {
        wallet.started_at
    } else {
        wallet.poller.last_success
    });
    log::error!("deposit poller stalled since {since}: {why}");
    crate::wallet::alert(
        news,
        "admin-poller-stalled",
        &[("since", &since), ("why", why)],
    );
}

fn poll_once(wallet: &mut Wallet, news: &mut Vec<News>) -> Result<bool, Stop> {
    let required = wallet.settings.bitcoin.confirmations;
    let depth = required.max(WATCH_DEPTH);
    let cursor = wallet
        .ledger
        .state(CURSOR)
        .map_err(|e| Stop(e.to_string()))?;
    let since = match wallet.node.list_since_block(cursor.as_deref(), depth) {
        Ok(since) => since,
        Err(NodeError::UnknownBlock(why)) => {
            // A reindex, another wallet or another chain: list everything
            // again (crediting is idempotent) rather than stall for ever.
            log::warn!("deposit poller: the node does not know the cursor ({why}); listing the whole wallet again");
            wallet
                .node
                .list_since_block(None, depth)
                .map_err(|e| Stop(e.to_string()))?
        }
        Err(e) => return Err(Stop(e.to_string())),
    };
    // One view per output: `removed` entries carry the same current
    // confirmations as `transactions`; the listing wins where both are.
    let mut views: HashMap<(String, i64), WalletEntry> = HashMap::new();
    let mut order: Vec<(String, i64)> = Vec::new();
    for entry in since.removed.iter().chain(since.entries.iter()) {
        if matches!(&entry.category, Category::Other(c) if c == "send") {
            continue;
        }
        let key = (entry.txid.clone(), entry.vout);
        if !views.contains_key(&key) {
            order.push(key.clone());
        }
        views.insert(key, entry.clone());
    }
    let moved = cursor.as_deref() != Some(since.lastblock.as_str()) || !since.removed.is_empty();
    // The whole poll's writes are one transaction: one fsync, not one per
    // deposit (`Ledger::begin_batch`). What it announces goes out once
    // committed; a poll stopped half-way keeps, and announces, what it
    // did, as before. A failed commit keeps nothing and announces nothing:
    // the next poll lists the same entries again.
    wallet
        .ledger
        .begin_batch()
        .map_err(|e| Stop(e.to_string()))?;
    let mut told = Vec::new();
    let done = take_all(wallet, &since.lastblock, &views, &order, moved, &mut told);
    if let Err(e) = wallet.ledger.end_batch() {
        if let Err(Stop(why)) = &done {
            log::error!("deposit poller: {why}");
        }
        log::error!("deposit poller: {e}");
        return Err(Stop(e.to_string()));
    }
    news.append(&mut told);
    done.map(|()| moved)
}

/// The poll's writes: each entry, the watched deposits it did not list,
/// the cursor, then the balances it changed.
fn take_all(
    wallet: &mut Wallet,
    lastblock: &str,
    views: &HashMap<(String, i64), WalletEntry>,
    order: &[(String, i64)],
    moved: bool,
    news: &mut Vec<News>,
) -> Result<(), Stop> {
    let required = wallet.settings.bitcoin.confirmations;
    let depth = required.max(WATCH_DEPTH);
    let mut touched: Vec<i64> = Vec::new();
    for key in order {
        intact(wallet)?;
        let entry = &views[key];
        take(wallet, entry, required, &mut touched, news)?;
    }
    intact(wallet)?;
    recheck_unlisted(wallet, views, required, moved, &mut touched, news)?;
    // The cursor moves only with every write of the poll before it.
    intact(wallet)?;
    wallet
        .ledger
        .set_state(CURSOR, lastblock)
        .map_err(|e| Stop(e.to_string()))?;
    // Only now: had the poll stopped half-way, the cursor would not have
    // moved, and those deposits must stay watched.
    wallet
        .ledger
        .unwatch_deep_deposits(depth)
        .map_err(|e| Stop(e.to_string()))?;
    for user_id in touched {
        if let Ok(Some(user)) = wallet.ledger.user_by_id(user_id) {
            news.push(News::Balance(user));
        }
    }
    Ok(())
}

/// `Stop` once an error rolled the poll's batch back: what follows would
/// be committed on its own, and the cursor move past deposits never
/// recorded.
fn intact(wallet: &Wallet) -> Result<(), Stop> {
    if wallet.ledger.batch_intact() {
        Ok(())
    } else {
        Err(Stop(
            "an error rolled the poll's writes back; the next poll does them again".into(),
        ))
    }
}

/// Whether a txid is 64 hexadecimal digits.
fn is_txid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Takes one wallet entry: a deposit's news, a skipped output, or nothing
/// (not one of our addresses). `Err` only for what must stop the poll.
fn take(
    wallet: &mut Wallet,
    entry: &WalletEntry,
    required: i64,
    touched: &mut Vec<i64>,
    news: &mut Vec<News>,
) -> Result<(), Stop> {
    let owner = wallet
        .ledger
        .address_owner(&entry.address)
        .map_err(|e| Stop(e.to_string()))?;
    let Some(user_id) = owner else {
        return Ok(());
    };
    if wallet
        .ledger
        .is_skipped(&entry.txid, entry.vout)
        .map_err(|e| Stop(e.to_string()))?
    {
        return Ok(());
    }
    let (coinbase, mature, orphan) = match &entry.category {
        Category::Receive => (false, true, false),
        Category::Generate => (true, true, false),
        Category::Immature => (true, false, false),
        Category::Orphan => (true, false, true),
        Category::Other(_) => (false, false, false),
    };
    let refusal = match (&entry.category, entry.amount) {
        (Category::Other(c), _) => Some(format!("unknown category '{c}'")),
        _ if !is_txid(&entry.txid) || entry.vout < 0 => Some("malformed txid or vout".to_owned()),
        (_, None) => Some("the amount is not a whole number of satoshis".to_owned()),
        (_, Some(Sats(0))) => Some("zero amount".to_owned()),
        (_, Some(a)) if a.0 < 0 || a.0 > MAX_MONEY => Some("amount out of range".to_owned()),
        _ => None,
    };
    if let Some(reason) = refusal {
        return skip(wallet, entry, user_id, &reason, news);
    }
    let confirmations = match entry.confirmations {
        // A coinbase of a block that left the chain can never confirm
        // again by itself (its block would have to come back): it counts
        // as conflicted, not as incoming.
        Some(c) if orphan => c.min(-1),
        Some(c) => c,
        // When in doubt, the wallet's own view of the transaction.
        None => match wallet.node.transaction(&entry.txid) {
            Ok(Some(tx)) => tx.confirmations,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Stop(e.to_string())),
        },
    };
    let report = Report {
        txid: &entry.txid,
        vout: entry.vout,
        address: &entry.address,
        user_id,
        amount: entry.amount.unwrap_or_default(),
        confirmations,
        coinbase,
        mature,
        orphan,
    };
    match wallet.ledger.report_deposit(&report, required) {
        Ok(Change::Nothing) => Ok(()),
        Ok(change) => {
            if matches!(change, Change::Credited { .. }) {
                crate::wallet::withdrawals::remember_wallet(wallet, &entry.txid);
            }
            // An address has one owner for ever: the deposit is theirs.
            announce(wallet, &report, user_id, &change, news);
            crate::wallet::requests::on_deposit(wallet, &report, &change, news);
            if !touched.contains(&user_id) {
                touched.push(user_id);
            }
            Ok(())
        }
        // Not committed: the next poll reports it again.
        Err(e) => Err(Stop(format!(
            "deposit {}:{}: {e:?}",
            entry.txid, entry.vout
        ))),
    }
}

/// Records what `addresses` received in blocks made before `before` (Unix
/// seconds; a receive whose block time the node does not give counts as
/// older) as skipped with `reason`, so that it is never credited: deposits
/// from before an upgrade, whose value the old system had already counted.
/// Returns how many, and their total.
pub fn skip_history(
    wallet: &mut Wallet,
    addresses: &[String],
    before: i64,
    reason: &str,
) -> Result<(usize, Sats), String> {
    let since = wallet
        .node
        .list_since_block(None, 1)
        .map_err(|e| format!("cannot list the wallet's history: {e}"))?;
    let (mut count, mut total) = (0, Sats(0));
    for entry in since.entries {
        let old =
            entry.confirmations.unwrap_or(0) >= 1 && entry.blocktime.is_none_or(|t| t < before);
        if matches!(entry.category, Category::Other(_))
            || !old
            || !addresses.contains(&entry.address)
        {
            continue;
        }
        let owner = wallet
            .ledger
            .address_owner(&entry.address)
            .map_err(|e| e.to_string())?;
        let known = wallet
            .ledger
            .deposit(&entry.txid, entry.vout)
            .map_err(|e| e.to_string())?;
        if known.is_some() {
            continue;
        }
        let recorded = wallet
            .ledger
            .record_skipped(&Skipped {
                txid: &entry.txid,
                vout: entry.vout,
                address: &entry.address,
                user_id: owner,
                amount: &entry.amount_text,
                category: "receive",
                reason,
            })
            .map_err(|e| e.to_string())?;
        if recorded {
            count += 1;
            total = Sats(total.0.saturating_add(entry.amount.unwrap_or_default().0));
        }
    }
    Ok((count, total))
}

/// Records an output the ledger cannot take; the admins hear of it once.
fn skip(
    wallet: &mut Wallet,
    entry: &WalletEntry,
    user_id: i64,
    reason: &str,
    news: &mut Vec<News>,
) -> Result<(), Stop> {
    let category = match &entry.category {
        Category::Receive => "receive",
        Category::Generate => "generate",
        Category::Immature => "immature",
        Category::Orphan => "orphan",
        Category::Other(c) => c.as_str(),
    };
    let first = wallet
        .ledger
        .record_skipped(&Skipped {
            txid: &entry.txid,
            vout: entry.vout,
            address: &entry.address,
            user_id: Some(user_id),
            amount: &entry.amount_text,
            category,
            reason,
        })
        .map_err(|e| Stop(e.to_string()))?;
    if first {
        let username = wallet
            .ledger
            .user_by_id(user_id)
            .ok()
            .flatten()
            .map(|u| u.username)
            .unwrap_or_default();
        log::warn!(
            "output {}:{} to {} ({username}) not credited: {reason}",
            entry.txid,
            entry.vout,
            entry.address
        );
        let output = format!("{}:{}", entry.txid, entry.vout);
        crate::wallet::alert(
            news,
            "admin-skipped-output",
            &[
                ("output", &output),
                ("address", &entry.address),
                ("username", &username),
                ("amount", &entry.amount_text),
                ("reason", reason),
            ],
        );
    }
    Ok(())
}

/// The watched deposits the listing did not show are asked about one by
/// one. A deposit stays watched until a completed poll saw it deeper than
/// the cursor, so a watched deposit is within the listing's window: one
/// that is missing has left the chain in a way the listing does not show
/// (a double-spent deposit loses its receive entries). A coinbase maturing
/// beyond the window is asked about once per new block.
fn recheck_unlisted(
    wallet: &mut Wallet,
    listed: &HashMap<(String, i64), WalletEntry>,
    required: i64,
    new_block: bool,
    touched: &mut Vec<i64>,
    news: &mut Vec<News>,
) -> Result<(), Stop> {
    let watched = wallet
        .ledger
        .watched_deposits()
        .map_err(|e| Stop(e.to_string()))?;
    for deposit in watched {
        if listed.contains_key(&(deposit.txid.clone(), deposit.vout))
            || (deposit.coinbase && !new_block)
        {
            continue;
        }
        let tx = match wallet.node.transaction(&deposit.txid) {
            Ok(Some(tx)) => tx,
            Ok(None) => {
                // Another wallet: the identity check froze withdrawals and
                // told the admins; once per block is enough here.
                if new_block {
                    log::warn!(
                        "deposit {}:{}: the wallet does not know its transaction",
                        deposit.txid,
                        deposit.vout
                    );
                }
                continue;
            }
            Err(e) => return Err(Stop(e.to_string())),
        };
        // A conflicted transaction may have lost its details; the row
        // knows what it was.
        // (A send to ourselves has a send entry on the same output: it is
        // not the deposit's.)
        let detail = tx.details.into_iter().find(|d| {
            d.vout == deposit.vout
                && d.address == deposit.address
                && d.category != Category::Other("send".into())
        });
        let category = detail.map_or(
            if deposit.coinbase {
                Category::Immature
            } else {
                Category::Receive
            },
            |d| d.category,
        );
        let entry = WalletEntry {
            txid: deposit.txid.clone(),
            vout: deposit.vout,
            address: deposit.address.clone(),
            category,
            amount_text: deposit.amount.btc_fixed(),
            amount: Some(deposit.amount),
            confirmations: Some(tx.confirmations),
            blocktime: None,
        };
        take(wallet, &entry, required, touched, news)?;
    }
    Ok(())
}

/// Announces a deposit's news, correcting its first message.
fn announce(wallet: &mut Wallet, r: &Report, user_id: i64, change: &Change, news: &mut Vec<News>) {
    let Ok(Some(user)) = wallet.ledger.user_by_id(user_id) else {
        return;
    };
    let required = wallet.settings.bitcoin.confirmations;
    let short_txid: String = r.txid.chars().take(12).collect();
    let args = vec![
        ("amount", r.amount.to_string()),
        ("txid", short_txid),
        ("confirmations", r.confirmations.max(0).to_string()),
        ("required", required.to_string()),
        ("balance", user.balance.to_string()),
        ("debt", user.debt.to_string()),
        (
            "repaid",
            match change {
                Change::Credited { repaid } => *repaid,
                _ => Sats(0),
            }
            .to_string(),
        ),
    ];
    let key = match change {
        Change::Seen if !r.mature => "deposit-immature",
        Change::Seen => "deposit-seen",
        Change::Confirmations(_) if !r.mature => "deposit-immature",
        Change::Confirmations(_) => "deposit-confirming",
        Change::Credited { repaid } if repaid.0 > 0 => "deposit-credited-repaid",
        Change::Credited { .. } => "deposit-credited",
        Change::Reversed { debt } if debt.0 > 0 => "deposit-reversed-debt",
        Change::Reversed { .. } => "deposit-reversed",
        Change::Conflicted => "deposit-conflicted",
        Change::Nothing => return,
    };
    let from = match Address::parse(r.address, wallet.node.network()) {
        Ok(a) => Speaker::Address(a),
        Err(_) => Speaker::Gateway,
    };
    let original = wallet
        .ledger
        .deposit(r.txid, r.vout)
        .ok()
        .flatten()
        .and_then(|d| d.message_id);
    let id = format!("dep-{}-{}-{}", r.txid, r.vout, crate::ledger::now());
    let mut message = Message::new(key);
    message.args = args;
    news.push(News::Tell {
        user: user.clone(),
        from,
        message,
        living: Some(Living {
            id: id.clone(),
            replaces: original.clone(),
        }),
    });
    if original.is_none() {
        if let Err(e) = wallet.ledger.set_deposit_message(r.txid, r.vout, &id) {
            log::error!("{e:?}");
        }
    }
    if let Change::Reversed { debt } = change {
        log::warn!(
            "deposit {}:{} of {} reversed ({} confirmations; debt {debt})",
            r.txid,
            r.vout,
            user.username,
            r.confirmations
        );
        let reference = format!("{}:{}", r.txid, r.vout);
        let (amount, debt, total) = (
            r.amount.to_string(),
            debt.to_string(),
            user.debt.to_string(),
        );
        crate::wallet::alert(
            news,
            "admin-deposit-reversed",
            &[
                ("deposit", &reference),
                ("amount", &amount),
                ("username", &user.username),
                ("address", r.address),
                ("debt", &debt),
                ("total_debt", &total),
            ],
        );
    }
}
