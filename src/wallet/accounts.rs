//! Registering and unregistering, the same for XEP-0077 and for the chat
//! commands (which Conversations, Dino and Monal users need: they cannot
//! register with a component).

use crate::bitcoin::address::Address;
use crate::bitcoin::node::NodeError;
use crate::ledger::accounts::{check_username, RegisterFailure, UnregisterError, UsernameError};
use crate::ledger::{Registration, User};
use crate::wallet::{News, Wallet};
use crate::xmpp::Jid;

/// A successful registration.
#[derive(Debug)]
pub enum Registered {
    /// A new (or returning) account, with its deposit address if the node
    /// could give one.
    Created {
        user: User,
        address: Option<Address>,
    },
    Renamed {
        user: User,
        old: String,
    },
    Unchanged(User),
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A server, a service or ourselves: only user accounts register.
    NotAUser,
    /// A user of a domain this gateway does not serve (`allowed_domains`).
    DomainNotServed,
    Username {
        error: UsernameError,
        name: String,
    },
    Internal,
}

/// Whether `jid` may hold an account: a user of some server, not a
/// domain and not something under our own domain.
fn may_register(wallet: &Wallet, jid: &Jid) -> bool {
    let ours = &wallet.settings.domain;
    jid.node.is_some() && jid.domain != *ours && !jid.domain.ends_with(&format!(".{ours}"))
}

/// Whether `jid` could ever open a wallet here: a user, of a served
/// domain (or with an account already). A tip to anyone else could never
/// be claimed.
pub fn may_open_wallet(wallet: &Wallet, jid: &Jid) -> bool {
    may_register(wallet, jid)
        && (wallet.settings.main.serves_domain(&jid.domain)
            || wallet
                .ledger
                .has_account(&jid.bare().to_string().to_lowercase())
                .unwrap_or(false))
}

/// Registers `from` as `username`, renames it, or brings it back; sends
/// the subscription requests of a new account on `out`.
pub fn register(
    wallet: &mut Wallet,
    from: &Jid,
    username: &str,
    news: &mut Vec<News>,
) -> Result<Registered, Refusal> {
    if !may_register(wallet, from) {
        return Err(Refusal::NotAUser);
    }
    let bare = from.bare().to_string();
    // Accounts opened before the domain was left out keep working.
    if !wallet.settings.main.serves_domain(&from.domain) {
        match wallet.ledger.has_account(&bare) {
            Ok(true) => {}
            Ok(false) => return Err(Refusal::DomainNotServed),
            Err(e) => {
                log::error!("{e}");
                return Err(Refusal::Internal);
            }
        }
    }
    let name = check_username(username).map_err(|error| Refusal::Username {
        error,
        name: username.trim().to_lowercase(),
    })?;
    let outcome = wallet.ledger.register(&bare, &name).map_err(|e| match e {
        RegisterFailure::Taken => Refusal::Username {
            error: UsernameError::Taken,
            name: name.clone(),
        },
        RegisterFailure::Db(e) => {
            log::error!("{e}");
            Refusal::Internal
        }
    })?;
    Ok(match outcome {
        Registration::Created(user) => {
            log::info!("{bare} registered as {}", user.username);
            let address = first_address(wallet, &user);
            news.push(News::Registered {
                user: user.clone(),
                address: address.clone(),
            });
            crate::wallet::tips::claim_held(wallet, &user, news);
            Registered::Created { user, address }
        }
        Registration::Renamed { user, old } => {
            log::info!("{bare} renamed from {old} to {}", user.username);
            Registered::Renamed { user, old }
        }
        Registration::Unchanged(user) => Registered::Unchanged(user),
    })
}

/// The account's deposit address: its newest one, or a new one from the
/// node. `None` while the node is down (one comes when it is back).
fn first_address(wallet: &mut Wallet, user: &User) -> Option<Address> {
    match wallet.ledger.addresses_of(user.id) {
        Ok(existing) => {
            if let Some(last) = existing.last() {
                return Address::parse(last, wallet.node.network()).ok();
            }
        }
        Err(e) => {
            log::error!("{e}");
            return None;
        }
    }
    new_address(wallet, user)
}

/// A fresh deposit address for `user`, recorded as theirs.
pub fn new_address(wallet: &mut Wallet, user: &User) -> Option<Address> {
    match wallet.node.new_address(&user.username) {
        Ok(address) => match wallet.ledger.add_address(user.id, address.as_str()) {
            Ok(()) => Some(address),
            Err(e) => {
                // The node handed out an address nobody will be told
                // about: harmless, it is never given to anyone else.
                log::error!("{e}");
                None
            }
        },
        Err(NodeError::Down(why)) => {
            log::warn!("no deposit address for {} yet: {why}", user.username);
            wallet.node_wanted = true;
            None
        }
        Err(why) => {
            log::error!("no deposit address for {}: {why}", user.username);
            None
        }
    }
}

/// Gives a first address to the users who registered while the node was
/// down, and tells them.
pub fn create_missing_addresses(wallet: &mut Wallet, news: &mut Vec<News>) {
    let users = match wallet.ledger.users_without_address() {
        Ok(users) => users,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    for user in users {
        let Some(address) = new_address(wallet, &user) else {
            return;
        };
        log::info!("first deposit address of {} created", user.username);
        news.push(News::NewAddress { user, address });
    }
}

/// Unregisters `from`, refusing while any money is there; on success the
/// gateway and address contacts end their subscriptions.
pub fn unregister(
    wallet: &mut Wallet,
    from: &Jid,
    news: &mut Vec<News>,
) -> Result<User, UnregisterError> {
    let bare = from.bare().to_string();
    let user = wallet.ledger.unregister(&bare)?;
    log::info!("{bare} ({}) unregistered", user.username);
    let addresses = wallet
        .ledger
        .addresses_of(user.id)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| Address::parse(a, wallet.node.network()).ok())
        .collect();
    news.push(News::Unregistered {
        user: user.clone(),
        addresses,
    });
    Ok(user)
}

/// `state` row: the Python bitcoIM's deposit addresses were imported.
pub const PYTHON_ADDRESSES: &str = "python_addresses_imported";

/// Brings in the deposit addresses of a Python bitcoIM's users, once: that
/// bitcoIM named each user's bitcoind account after their JID, and
/// Bitcoin Core turned accounts into labels. Without this, coins sent to
/// an old address contact would reach the wallet and be credited to
/// nobody.
///
/// Their balances lived in those accounts, which Bitcoin Core removed: what
/// those addresses received in blocks older than the upgrade of the
/// database is recorded as skipped, never credited (the old system counted
/// it). Anything later is a deposit like any other. `Err` while this
/// cannot be done: the deposit poller waits for it.
pub fn import_python_addresses(wallet: &mut Wallet, news: &mut Vec<News>) -> Result<(), String> {
    match wallet.ledger.state(PYTHON_ADDRESSES) {
        Ok(Some(_)) => return Ok(()),
        Ok(None) => {}
        Err(e) => return Err(e.to_string()),
    }
    let (accounts, upgraded_at) = wallet.ledger.python_accounts().map_err(|e| e.to_string())?;
    let mut adopted: Vec<String> = Vec::new();
    for (user_id, label) in &accounts {
        let addresses = wallet
            .node
            .addresses_of_label(label)
            .map_err(|e| format!("Python bitcoIM addresses not imported yet: {e}"))?;
        for address in addresses {
            if wallet
                .ledger
                .adopt_address(*user_id, &address)
                .map_err(|e| e.to_string())?
            {
                adopted.push(address);
            }
        }
    }
    if !adopted.is_empty() {
        let (count, total) = crate::wallet::deposits::skip_history(
            wallet,
            &adopted,
            upgraded_at,
            "received before the upgrade from the Python bitcoIM, whose balances \
             lived in bitcoind's accounts",
        )?;
        log::info!(
            "imported {} deposit addresses of {} Python bitcoIM users; {count} older \
             receives ({total}) not credited",
            adopted.len(),
            accounts.len()
        );
        let (users, addresses, count, total) = (
            accounts.len().to_string(),
            adopted.len().to_string(),
            count.to_string(),
            total.to_string(),
        );
        crate::wallet::alert(
            news,
            "admin-python-addresses",
            &[
                ("users", &users),
                ("addresses", &addresses),
                ("count", &count),
                ("total", &total),
            ],
        );
    }
    wallet
        .ledger
        .set_state(PYTHON_ADDRESSES, &adopted.len().to_string())
        .map_err(|e| e.to_string())
}
