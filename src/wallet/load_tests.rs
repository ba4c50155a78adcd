//! The deposit poller at scale (issue 11, item 7): one `listsinceblock`
//! per interval whatever the number of users, and a poll that lists
//! 10 000 transactions done within the default interval.
//!
//! ```text
//! cargo test --release --lib poll_of_ten_thousand -- --ignored --nocapture
//! ```

use crate::bitcoin::network::Network;
use crate::bitcoin::node::Node;
use crate::bitcoin::rpc::{CallError, Transport};
use crate::bitcoin::sim::{Chain, SimTransport};
use crate::config::Config;
use crate::ledger::{clock, Ledger};
use crate::wallet::{News, Settings, Wallet};
use crate::xmpp::Jid;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The simulated node's calls, by method, and the time spent in it (the
/// simulator's own work, not the daemon's).
#[derive(Debug, Default)]
struct Meter {
    calls: BTreeMap<String, u64>,
    in_node: Duration,
}

struct Metered {
    node: SimTransport,
    meter: Rc<RefCell<Meter>>,
}

impl Transport for Metered {
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, CallError> {
        let started = Instant::now();
        let reply = self.node.call(method, params);
        let mut meter = self.meter.borrow_mut();
        meter.in_node += started.elapsed();
        *meter.calls.entry(method.to_owned()).or_default() += 1;
        reply
    }
}

/// The defaults of a configuration (poll interval included), with three
/// confirmations: a first poll sees the deposits, a later one credits.
fn config() -> Config {
    let text = "[XMPP]\njid = bitcoin.example.org\npassword = x\n\
                [database]\nfile = /nonexistent/bitcoim.db\n\
                [bitcoin]\nuser = u\npassword = p\nnetwork = regtest\nconfirmations = 3\n\
                [main program]\nadmins = admin@example.org\n";
    Config::parse(text, std::path::Path::new("load.conf")).expect("the load test's config")
}

/// One timed `wallet::tick`: its seconds, the seconds spent in the
/// simulated node, and the node's calls by method.
fn timed_tick(
    wallet: &mut Wallet,
    meter: &Rc<RefCell<Meter>>,
) -> (f64, f64, BTreeMap<String, u64>) {
    clock::advance(10);
    *meter.borrow_mut() = Meter::default();
    let mut news: Vec<News> = Vec::new();
    let started = Instant::now();
    super::tick(wallet, &mut news);
    let seconds = started.elapsed().as_secs_f64();
    let meter = std::mem::take(&mut *meter.borrow_mut());
    (seconds, meter.in_node.as_secs_f64(), meter.calls)
}

fn count(wallet: &Wallet, state: &str) -> i64 {
    wallet.ledger().count_rows(&format!(
        "/* test */ SELECT count(*) FROM deposits WHERE state = '{state}'"
    ))
}

// In memory, then on a file as the daemon has it (WAL, synchronous=FULL:
// a commit per deposit waits for the disk).
#[test]
#[ignore = "a load test: cargo test --release --lib poll_of_ten_thousand -- --ignored --nocapture"]
fn poll_of_ten_thousand() {
    poll_of(
        "in memory",
        Ledger::open_in_memory().expect("an in-memory ledger"),
    );
    let dir = std::env::temp_dir().join(format!("bitcoim-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("bitcoim.db");
    poll_of(
        &format!("on {}", path.display()),
        Ledger::open(&path).expect("a database file"),
    );
    std::fs::remove_dir_all(&dir).expect("the temporary directory removed");
}

fn poll_of(database: &str, ledger: Ledger) {
    const USERS: usize = 10_000;
    println!("--- database {database}");
    let config = config();
    let interval = config.bitcoin.poll_interval.as_secs_f64();
    let chain = Rc::new(RefCell::new(Chain::new()));
    let meter = Rc::new(RefCell::new(Meter::default()));
    let node = Node::with_transport(
        Box::new(Metered {
            node: SimTransport(chain.clone()),
            meter: meter.clone(),
        }),
        Network::Regtest,
        None,
        None,
    );
    let mut wallet = Wallet::new(ledger, node, Settings::from_config(&config));
    // The start-up work (wallet identity, Python import) out of the way.
    timed_tick(&mut wallet, &meter);

    let started = Instant::now();
    let mut addresses = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let jid = Jid::parse(&format!("u{i}@example.org")).expect("a JID");
        let mut news = Vec::new();
        match super::accounts::register(&mut wallet, &jid, &format!("user{i}"), &mut news) {
            Ok(super::accounts::Registered::Created {
                address: Some(a), ..
            }) => addresses.push(a.as_str().to_owned()),
            other => panic!("user{i}: {other:?}"),
        }
    }
    for (i, address) in addresses.iter().enumerate() {
        chain
            .borrow_mut()
            .pay_from_world(vec![(address.clone(), 100_000 + i as i64)]);
    }
    chain.borrow_mut().mine_mempool();
    println!(
        "set-up: {USERS} users with an address, {USERS} transactions mined ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let (seen_secs, seen_node, seen_calls) = timed_tick(&mut wallet, &meter);
    let seen = count(&wallet, "seen");
    for _ in 0..2 {
        chain.borrow_mut().mine(&[], None);
    }
    let (credit_secs, credit_node, credit_calls) = timed_tick(&mut wallet, &meter);
    let credited = count(&wallet, "credited");
    let (quiet_secs, quiet_node, quiet_calls) = timed_tick(&mut wallet, &meter);

    let users = wallet.ledger().user_count().expect("a count");
    println!("poll interval (default): {interval} s; users: {users}");
    for (what, secs, in_node, calls, deposits) in [
        ("first poll (seen)", seen_secs, seen_node, &seen_calls, seen),
        (
            "crediting poll",
            credit_secs,
            credit_node,
            &credit_calls,
            credited,
        ),
        (
            "next poll (nothing new)",
            quiet_secs,
            quiet_node,
            &quiet_calls,
            credited,
        ),
    ] {
        println!(
            "{what}: {deposits} deposits, {secs:.3} s per poll ({in_node:.3} s in the simulated \
             node, {:.3} s in the daemon); calls: {calls:?}",
            secs - in_node
        );
    }
    assert_eq!(seen, USERS as i64, "the first poll sees every deposit");
    assert_eq!(
        credited, USERS as i64,
        "the crediting poll credits every deposit"
    );
    for calls in [&seen_calls, &credit_calls, &quiet_calls] {
        assert_eq!(calls.get("listsinceblock"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("gettransaction"), None, "{calls:?}");
    }
    if !cfg!(debug_assertions) {
        for secs in [seen_secs - seen_node, credit_secs - credit_node] {
            assert!(
                secs < interval,
                "a poll took {secs:.1} s, the interval is {interval} s"
            );
        }
    }
}
