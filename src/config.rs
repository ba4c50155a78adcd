//! bitcoim.conf: INI text → a validated [`Config`].
//!
//! The sections are those of the Python bitcoIM (`[XMPP]`, `[database]`,
//! `[bitcoin]`, `[main program]`), and its files still load: option names
//! are case-insensitive, `:` works like `=`, and the rest of a line after
//! ` #` or ` ;` is a comment (its sample wrote `port = 3269 # ...`).
//! Every error names the file, the section, the option and what is
//! expected, on one line. Unknown options are warned about, not refused, so
//! that a config written for a newer bitcoIM still starts an older one.

use crate::amount::Sats;
use crate::bitcoin::network::Network;
use crate::bitcoin::rpc::{Endpoint, RpcAuth};
use crate::xmpp::Jid;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, said in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
pub struct XmppConfig {
    /// The component's domain.
    pub jid: Jid,
    pub password: String,
    pub server: String,
    pub port: u16,
    pub keepalive: Duration,
    pub max_stanza_size: usize,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct BitcoinConfig {
    pub auth: RpcAuth,
    pub host: String,
    pub port: u16,
    pub wallet: Option<String>,
    pub network: Network,
    pub timeout: Duration,
    /// File holding the wallet's passphrase, for encrypted wallets.
    pub passphrase_file: Option<PathBuf>,
    /// Confirmations a deposit needs to be credited.
    pub confirmations: i64,
    /// Fee rate, in sat/vB, when the node cannot estimate one.
    pub fallback_fee_rate: i64,
    /// The smallest withdrawal.
    pub min_withdrawal: Sats,
    /// Blocks after which an unconfirmed withdrawal is reported to admins.
    pub stuck_after_blocks: i64,
    /// Seconds between two looks at the wallet for deposits.
    pub poll_interval: Duration,
    /// URL of an address on a block explorer, `{address}` standing for it;
    /// `None` for regtest or when set empty.
    pub explorer: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MainConfig {
    /// How long a payment order waits for its code.
    pub order_expiry: Duration,
    /// Pending orders one user may have at once.
    pub max_pending_orders: usize,
    /// Wrong codes that cancel a user's pending orders.
    pub max_wrong_codes: i64,
    /// A payment recap warns when the balance left falls under this.
    pub low_balance_warning: Sats,
    /// Withdrawals, all users together, per hour; 0: no limit.
    pub max_withdrawals_per_hour: u32,
    /// Stanzas one JID may send at once (0: no limit), and per second.
    pub rate_burst: u32,
    pub rate_per_second: u32,
    pub loglevel: log::LevelFilter,
    /// Bare JIDs.
    pub admins: Vec<Jid>,
    pub languages: Vec<String>,
    /// The domains whose users may register, lowercase; `*` is any.
    pub allowed_domains: Vec<String>,
}

/// Who may invite the gateway into a room (`[rooms] invites`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inviters {
    Admins,
    /// Registered users (and admins).
    Users,
    Nobody,
}

/// The `[rooms]` section: group chats (XEP-0045) and tips.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    /// The gateway's nickname in rooms.
    pub nick: String,
    pub invites: Inviters,
    /// The largest one-step tip limit a user may set (`tiplimit`).
    pub max_tiplimit: Sats,
    /// How long a tip to someone without a wallet waits to be claimed.
    pub claim_expiry: Duration,
    /// The MUC services (domains, lowercase) whose rooms the gateway
    /// joins; empty: the subdomains of the served domains (see
    /// [`RoomsConfig::trusts`]).
    pub services: Vec<String>,
}

impl RoomsConfig {
    /// Whether the gateway may join a room of the service `domain`, and
    /// believe the real JIDs its presences give: a room's presences say
    /// who every occupant is, and a tip pays whoever they say. Only a
    /// service of a server the operator trusts can be believed: an
    /// ordinary account or a federated server could forge any JID.
    ///
    /// The services listed in `services`, or by default any subdomain of
    /// the served domains (`allowed_domains`; with `*`, of the domain the
    /// component belongs to): conference.example.org for example.org.
    /// Never the component's own domain or its subdomains.
    pub fn trusts(&self, domain: &str, allowed_domains: &[String], component: &str) -> bool {
        let domain = domain.to_lowercase();
        let component = component.to_lowercase();
        let under = |parent: &str| {
            domain.len() > parent.len() + 1 && domain.ends_with(&format!(".{parent}"))
        };
        if domain == component || under(&component) {
            return false;
        }
        if !self.services.is_empty() {
            return self.services.contains(&domain);
        }
        let served: Vec<&str> = allowed_domains
            .iter()
            .map(String::as_str)
            .filter(|d| *d != "*")
            .collect();
        if served.is_empty() {
            return component
                .split_once('.')
                .is_some_and(|(_, parent)| under(parent));
        }
        served.into_iter().any(under)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub xmpp: XmppConfig,
    pub database: DatabaseConfig,
    pub bitcoin: BitcoinConfig,
    pub main: MainConfig,
    pub rooms: RoomsConfig,
    /// Problems that do not stop bitcoIM (unknown options), to be logged
    /// once logging is up.
    pub warnings: Vec<String>,
}

/// The options each section knows; anything else is warned about. The
/// man page and the sample are tested against this list.
pub const KNOWN: &[(&str, &[&str])] = &[
    (
        "XMPP",
        &[
            "jid",
            "password",
            "server",
            "port",
            "keepalive",
            "max_stanza_size",
        ],
    ),
    ("database", &["file"]),
    (
        "bitcoin",
        &[
            "user",
            "password",
            "cookie",
            "host",
            "port",
            "protocol",
            "wallet",
            "network",
            "timeout",
            "explorer",
            "confirmations",
            "poll_interval",
            "fallback_fee_rate",
            "min_withdrawal",
            "stuck_after_blocks",
            "passphrase_file",
        ],
    ),
    (
        "main program",
        &[
            "loglevel",
            "admins",
            "languages",
            "order_expiry",
            "max_pending_orders",
            "max_wrong_codes",
            "low_balance_warning",
            "rate_burst",
            "rate_per_second",
            "max_withdrawals_per_hour",
            "allowed_domains",
        ],
    ),
    (
        "rooms",
        &["nick", "invites", "max_tiplimit", "claim_days", "services"],
    ),
];

/// bitcoind's data directory in the layout the README recommends: Bitcoin
/// Core's own systemd unit (`contrib/init/bitcoind.service`: user
/// `bitcoin`, `-datadir=/var/lib/bitcoind`, `StateDirectoryMode=0710`).
pub const BITCOIND_DATADIR: &str = "/var/lib/bitcoind";

/// The cookie bitcoIM reads when `[bitcoin]` sets neither `cookie` nor
/// `user`/`password`: bitcoind's default `-rpccookiefile`, `.cookie` in the
/// network's data subdirectory.
pub fn default_cookie(network: Network) -> PathBuf {
    let mut path = PathBuf::from(BITCOIND_DATADIR);
    if !network.data_subdir().is_empty() {
        path.push(network.data_subdir());
    }
    path.push(".cookie");
    path
}

/// One `name = value` line of the file.
#[derive(Debug)]
struct Entry {
    section: String,
    name: String,
    value: String,
}

fn parse_ini(text: &str, file: &str) -> Result<Vec<Entry>, ConfigError> {
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let lineno = index + 1;
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                ConfigError(format!(
                    "{file} line {lineno}: expected ']' to end the section name"
                ))
            })?;
            section = Some(name.trim().to_owned());
            continue;
        }
        let Some(pos) = line.find(['=', ':']) else {
            return Err(ConfigError(format!(
                "{file} line {lineno}: expected 'name = value', '[section]' or a comment"
            )));
        };
        let Some(section) = &section else {
            return Err(ConfigError(format!(
                "{file} line {lineno}: option before any [section]"
            )));
        };
        let name = line[..pos].trim().to_lowercase();
        if name.is_empty() {
            return Err(ConfigError(format!(
                "{file} line {lineno}: option without a name"
            )));
        }
        entries.push(Entry {
            section: section.clone(),
            name,
            value: line[pos + 1..].trim().to_owned(),
        });
    }
    Ok(entries)
}

/// Drops a comment: a line starting with `#` or `;`, or the rest of a line
/// after whitespace and `#` or `;`.
fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return "";
    }
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'#' || bytes[i] == b';') && bytes[i - 1].is_ascii_whitespace() {
            return &line[..i];
        }
    }
    line
}

/// Typed access to the entries with errors that name the option.
struct Options<'a> {
    file: &'a str,
    entries: &'a [Entry],
}

impl<'a> Options<'a> {
    /// The last value given for an option, if any and not empty.
    fn get(&self, section: &str, name: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.section == section && e.name == name)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The items of a list option, separated by commas or white space;
    /// those of `default` when it is not given.
    fn list<'b>(&self, section: &str, name: &str, default: &'b str) -> impl Iterator<Item = &'b str>
    where
        'a: 'b,
    {
        self.get(section, name)
            .unwrap_or(default)
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
    }

    fn error(&self, section: &str, name: &str, expected: &str) -> ConfigError {
        ConfigError(format!("{}: [{section}] {name}: {expected}", self.file))
    }

    fn required(&self, section: &str, name: &str, expected: &str) -> Result<&'a str, ConfigError> {
        self.get(section, name)
            .ok_or_else(|| self.error(section, name, &format!("missing; expected {expected}")))
    }

    fn number<T: std::str::FromStr + PartialOrd + fmt::Display>(
        &self,
        section: &str,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.get(section, name) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(self.error(
                section,
                name,
                &format!("expected a whole number from {min} to {max}, got '{raw}'"),
            )),
        }
    }
}

impl Options<'_> {
    /// An amount, written as users write them (`0.0001`, `10000 sat`).
    fn amount(&self, section: &str, name: &str, default: Sats) -> Result<Sats, ConfigError> {
        match self.get(section, name) {
            None => Ok(default),
            Some(raw) => Sats::parse_user(raw).map_err(|_| {
                self.error(
                    section,
                    name,
                    &format!("expected an amount such as 0.0001 or 10000 sat, got '{raw}'"),
                )
            }),
        }
    }
}

impl BitcoinConfig {
    /// Where the node's RPC is, for `bitcoin::node::Node::new`.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            auth: self.auth.clone(),
            wallet: self.wallet.clone(),
            timeout: self.timeout,
        }
    }
}

impl MainConfig {
    /// Whether users of `domain` may open an account (`allowed_domains`).
    pub fn serves_domain(&self, domain: &str) -> bool {
        let domain = domain.to_lowercase();
        self.allowed_domains
            .iter()
            .any(|d| d == "*" || *d == domain)
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Config::parse(&text, path)?;
        config.warn_about_modes();
        Ok(config)
    }

    /// Warns when a file holding a secret is readable by every user: the
    /// config holds the component secret (and perhaps the RPC password),
    /// the passphrase file unlocks the wallet.
    fn warn_about_modes(&mut self) {
        let file = self.path.display().to_string();
        if let Some(mode) = world_readable(&self.path) {
            self.warnings.push(format!(
                "{file}: readable by every user (mode {mode:o}) but it holds the component \
                 secret; fix: chmod o-r {file}"
            ));
        }
        if let Some(passphrase) = &self.bitcoin.passphrase_file {
            if let Some(mode) = world_readable(passphrase) {
                let shown = passphrase.display();
                self.warnings.push(format!(
                    "{file}: [bitcoin] passphrase_file: {shown} is readable by every user \
                     (mode {mode:o}); fix: chmod o-r {shown}"
                ));
            }
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let entries = parse_ini(text, &file)?;
        let o = Options {
            file: &file,
            entries: &entries,
        };
        let mut warnings = Vec::new();
        for entry in &entries {
            match KNOWN.iter().find(|(s, _)| *s == entry.section) {
                None => warnings.push(format!(
                    "{file}: unknown section [{}] ignored",
                    entry.section
                )),
                Some((_, names)) if !names.contains(&entry.name.as_str()) => {
                    warnings.push(format!(
                        "{file}: [{}] {}: unknown option ignored",
                        entry.section, entry.name
                    ))
                }
                Some(_) => {}
            }
        }
        warnings.dedup();

        let jid_text = o.required(
            "XMPP",
            "jid",
            "the component's domain, e.g. bitcoin.example.org",
        )?;
        let jid = match Jid::parse(jid_text) {
            Ok(j) if j.node.is_none() && j.resource.is_none() => j,
            _ => {
                return Err(o.error(
                    "XMPP",
                    "jid",
                    &format!(
                        "expected a bare domain such as bitcoin.example.org, got '{jid_text}'"
                    ),
                ))
            }
        };
        let xmpp = XmppConfig {
            jid,
            password: o
                .required(
                    "XMPP",
                    "password",
                    "the component secret of the XMPP server",
                )?
                .to_owned(),
            server: o.get("XMPP", "server").unwrap_or("127.0.0.1").to_owned(),
            port: o.number("XMPP", "port", 5347, 1, 65535)?,
            keepalive: Duration::from_secs(o.number("XMPP", "keepalive", 60, 5, 3600)?),
            max_stanza_size: o.number("XMPP", "max_stanza_size", 65536, 4096, 16 << 20)?,
        };

        let database = DatabaseConfig {
            file: PathBuf::from(o.required(
                "database",
                "file",
                "the path of the SQLite database",
            )?),
        };

        let network = match o
            .get("bitcoin", "network")
            .map(str::to_lowercase)
            .as_deref()
        {
            None | Some("main" | "mainnet" | "bitcoin") => Network::Main,
            // testnet3 and testnet4 are different chains: "testnet" keeps
            // meaning testnet3, as bitcoind's -testnet does.
            Some("test" | "testnet" | "testnet3") => Network::Test,
            Some("testnet4") => Network::Testnet4,
            Some("signet") => Network::Signet,
            Some("regtest") => Network::Regtest,
            Some(other) => {
                return Err(o.error(
                    "bitcoin",
                    "network",
                    &format!("expected main, test, testnet4, signet or regtest, got '{other}'"),
                ))
            }
        };
        // One way to log in, said once: a cookie beside a password would
        // leave the reader guessing which one bitcoIM uses.
        let auth = match (
            o.get("bitcoin", "cookie"),
            o.get("bitcoin", "user"),
            o.get("bitcoin", "password"),
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(o.error(
                    "bitcoin",
                    "cookie",
                    "expected either cookie or user and password, not both",
                ))
            }
            (Some(cookie), None, None) => RpcAuth::Cookie(PathBuf::from(cookie)),
            (None, Some(user), Some(password)) => RpcAuth::UserPassword {
                user: user.to_owned(),
                password: password.to_owned(),
            },
            (None, Some(_), None) => {
                return Err(o.error(
                    "bitcoin",
                    "password",
                    "missing; expected the RPC password that goes with user",
                ))
            }
            (None, None, Some(_)) => {
                return Err(o.error(
                    "bitcoin",
                    "user",
                    "missing; expected the RPC user that goes with password",
                ))
            }
            (None, None, None) => RpcAuth::Cookie(default_cookie(network)),
        };
        match o
            .get("bitcoin", "protocol")
            .map(str::to_lowercase)
            .as_deref()
        {
            None | Some("http") => {}
            Some(other) => {
                return Err(o.error(
                    "bitcoin",
                    "protocol",
                    &format!(
                    "expected http (keep bitcoind's RPC on loopback or tunnel it), got '{other}'"
                ),
                ))
            }
        }
        let wallet = o.get("bitcoin", "wallet").map(str::to_owned);
        let explorer = match o
            .entries
            .iter()
            .rev()
            .find(|e| e.section == "bitcoin" && e.name == "explorer")
        {
            Some(e) if e.value.is_empty() => None,
            Some(e) => {
                if !e.value.contains("{address}")
                    || !(e.value.starts_with("https://") || e.value.starts_with("http://"))
                {
                    return Err(o.error(
                        "bitcoin",
                        "explorer",
                        &format!(
                            "expected an http(s) URL containing {{address}}, got '{}'",
                            e.value
                        ),
                    ));
                }
                Some(e.value.clone())
            }
            None => network.default_explorer().map(str::to_owned),
        };
        let bitcoin = BitcoinConfig {
            auth,
            host: o.get("bitcoin", "host").unwrap_or("127.0.0.1").to_owned(),
            port: o.number("bitcoin", "port", network.default_rpc_port(), 1, 65535)?,
            wallet,
            network,
            timeout: Duration::from_secs(o.number("bitcoin", "timeout", 10, 1, 600)?),
            passphrase_file: o.get("bitcoin", "passphrase_file").map(PathBuf::from),
            confirmations: o.number("bitcoin", "confirmations", 1, 1, 1000)?,
            fallback_fee_rate: o.number("bitcoin", "fallback_fee_rate", 20, 1, 10_000)?,
            min_withdrawal: o.amount("bitcoin", "min_withdrawal", Sats(10_000))?,
            stuck_after_blocks: o.number("bitcoin", "stuck_after_blocks", 6, 1, 10_000)?,
            poll_interval: Duration::from_secs(o.number(
                "bitcoin",
                "poll_interval",
                15,
                1,
                3600,
            )?),
            explorer,
        };

        let loglevel = match o
            .get("main program", "loglevel")
            .map(str::to_lowercase)
            .as_deref()
        {
            None | Some("info") => log::LevelFilter::Info,
            Some("debug") => log::LevelFilter::Debug,
            Some("trace") => log::LevelFilter::Trace,
            Some("warning" | "warn") => log::LevelFilter::Warn,
            Some("error" | "critical") => log::LevelFilter::Error,
            Some(other) => {
                return Err(o.error(
                    "main program",
                    "loglevel",
                    &format!("expected debug, info, warning, error or critical, got '{other}'"),
                ))
            }
        };
        let mut admins = Vec::new();
        for raw in o.list("main program", "admins", "") {
            match Jid::parse(raw) {
                Ok(j) if j.node.is_some() && j.resource.is_none() => admins.push(j),
                _ => {
                    return Err(o.error(
                        "main program",
                        "admins",
                        &format!("expected bare JIDs such as alice@example.org, got '{raw}'"),
                    ))
                }
            }
        }
        let mut languages = Vec::new();
        for raw in o.list("main program", "languages", "en") {
            let tag = raw.to_lowercase();
            let (primary, _) = tag.split_once(['-', '_']).unwrap_or((&tag, ""));
            if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_lowercase())
            {
                return Err(o.error(
                    "main program",
                    "languages",
                    &format!("expected language codes such as en, fr, got '{raw}'"),
                ));
            }
            languages.push(primary.to_owned());
        }
        if languages.is_empty() {
            languages.push("en".to_owned());
        }
        // By default the server the component is part of: bitcoin.example.org
        // serves example.org.
        let own = xmpp.jid.domain.to_lowercase();
        let parent = own
            .split_once('.')
            .map_or(own.as_str(), |(_, p)| p)
            .to_owned();
        let mut allowed_domains = Vec::new();
        for raw in o.list("main program", "allowed_domains", &parent) {
            let domain = raw.to_lowercase();
            let valid = domain == "*"
                || matches!(Jid::parse(&domain), Ok(j) if j.node.is_none() && j.resource.is_none());
            if !valid {
                return Err(o.error(
                    "main program",
                    "allowed_domains",
                    &format!("expected domains such as example.org, or *, got '{raw}'"),
                ));
            }
            allowed_domains.push(domain);
        }
        if allowed_domains.is_empty() {
            return Err(o.error(
                "main program",
                "allowed_domains",
                "expected at least one domain (or * for any)",
            ));
        }
        let nick = o
            .get("rooms", "nick")
            .unwrap_or("bitcoin")
            .trim()
            .to_owned();
        if nick.is_empty() || nick.chars().count() > 64 || nick.chars().any(char::is_control) {
            return Err(o.error(
                "rooms",
                "nick",
                &format!("expected a nickname of 1 to 64 printable characters, got '{nick}'"),
            ));
        }
        let invites = match o
            .get("rooms", "invites")
            .unwrap_or("users")
            .trim()
            .to_lowercase()
            .as_str()
        {
            "admins" => Inviters::Admins,
            "users" => Inviters::Users,
            "nobody" => Inviters::Nobody,
            other => {
                return Err(o.error(
                    "rooms",
                    "invites",
                    &format!("expected admins, users or nobody, got '{other}'"),
                ))
            }
        };
        let mut services = Vec::new();
        for raw in o.list("rooms", "services", "") {
            let domain = raw.to_lowercase();
            if !matches!(Jid::parse(&domain), Ok(j) if j.node.is_none() && j.resource.is_none()) {
                return Err(o.error(
                    "rooms",
                    "services",
                    &format!(
                        "expected MUC service domains such as conference.example.org, got '{raw}'"
                    ),
                ));
            }
            services.push(domain);
        }
        let rooms = RoomsConfig {
            services,
            nick,
            invites,
            max_tiplimit: o.amount("rooms", "max_tiplimit", Sats(100_000))?,
            claim_expiry: Duration::from_secs(
                24 * 3600 * o.number::<u64>("rooms", "claim_days", 7, 1, 365)?,
            ),
        };

        Ok(Config {
            path: path.to_owned(),
            xmpp,
            database,
            bitcoin,
            main: MainConfig {
                order_expiry: Duration::from_secs(
                    60 * o.number("main program", "order_expiry", 10, 1, 1440)?,
                ),
                max_pending_orders: o.number("main program", "max_pending_orders", 5, 1, 100)?,
                max_wrong_codes: o.number("main program", "max_wrong_codes", 3, 1, 20)?,
                low_balance_warning: o.amount(
                    "main program",
                    "low_balance_warning",
                    Sats(10_000),
                )?,
                max_withdrawals_per_hour: o.number(
                    "main program",
                    "max_withdrawals_per_hour",
                    0,
                    0,
                    1_000_000,
                )?,
                rate_burst: o.number("main program", "rate_burst", 30, 0, 100_000)?,
                rate_per_second: o.number("main program", "rate_per_second", 5, 1, 100_000)?,
                loglevel,
                admins,
                languages,
                allowed_domains,
            },
            rooms,
            warnings,
        })
    }
}

/// The permission bits of `path` if others may read it; `None` when they
/// may not, or when it cannot be looked at (reading it will say why).
fn world_readable(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o004 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("bitcoim.conf"))
    }

    const MINIMAL: &str = "[XMPP]\njid = bitcoin.example.org\npassword = s3cret\n\
                           [database]\nfile = /tmp/b.db\n\
                           [bitcoin]\nuser = u\npassword = p\n";

    #[test]
    fn rooms_are_joined_only_on_trusted_muc_services() {
        let c = parse(MINIMAL).unwrap();
        let served = &c.main.allowed_domains;
        let trusts = |d: &str| c.rooms.trusts(d, served, "bitcoin.example.org");
        assert!(trusts("conference.example.org"));
        assert!(trusts("MUC.Example.org"));
        // An account's own domain, a federated server, the component.
        assert!(!trusts("example.org"));
        assert!(!trusts("conference.evil.org"));
        assert!(!trusts("evilexample.org"));
        assert!(!trusts("bitcoin.example.org"));
        assert!(!trusts("x.bitcoin.example.org"));
        let c = parse(&format!("{MINIMAL}[main program]\nallowed_domains = *\n")).unwrap();
        assert!(c.rooms.trusts(
            "chat.example.org",
            &c.main.allowed_domains,
            "bitcoin.example.org"
        ));
        assert!(!c.rooms.trusts(
            "chat.other.org",
            &c.main.allowed_domains,
            "bitcoin.example.org"
        ));
        let c = parse(&format!(
            "{MINIMAL}[rooms]\nservices = rooms.other.org, Chat.Example.org\n"
        ))
        .unwrap();
        let trusts = |d: &str| {
            c.rooms
                .trusts(d, &c.main.allowed_domains, "bitcoin.example.org")
        };
        assert!(trusts("rooms.other.org") && trusts("chat.example.org"));
        assert!(
            !trusts("conference.example.org"),
            "the list replaces the default"
        );
        let e = parse(&format!("{MINIMAL}[rooms]\nservices = a@b\n")).unwrap_err();
        assert!(
            e.to_string()
                .contains("[rooms] services: expected MUC service domains"),
            "{e}"
        );
    }

    #[test]
    fn the_sample_loads() {
        let text = include_str!("../bitcoim.conf.sample");
        let c = parse(text).unwrap();
        assert_eq!(c.xmpp.jid.to_string(), "bitcoin.example.org");
        assert_eq!(c.xmpp.port, 5347);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Issue 12: placeholder credentials used to win over the cookie.
        assert_eq!(
            c.bitcoin.auth,
            RpcAuth::Cookie(PathBuf::from("/var/lib/bitcoind/.cookie"))
        );
    }

    // The sample shipped with the Python bitcoIM, verbatim.
    #[test]
    fn a_python_bitcoim_config_loads() {
        let text = "[XMPP]\njid = bitcoin.myserver.com\npassword = secret\nserver = myserver.com\n\
                    port = 3269 # This is the default port\n\n[database]\nfile = /var/lib/bitcoim/database.db\n\n\
                    [bitcoin]\nuser = rpc-user\npassword = rpc-password\nhost = localhost\n\
                    port = 8332 # This is the default port\n\n[main program]\n\
                    loglevel = error # possible values: debug, info, warning, error, critical\n";
        let c = parse(text).unwrap();
        assert_eq!(c.xmpp.server, "myserver.com");
        assert_eq!(c.xmpp.port, 3269);
        assert_eq!(c.bitcoin.port, 8332);
        assert_eq!(c.bitcoin.host, "localhost");
        assert_eq!(c.main.loglevel, log::LevelFilter::Error);
        assert_eq!(
            c.bitcoin.auth,
            RpcAuth::UserPassword {
                user: "rpc-user".into(),
                password: "rpc-password".into()
            }
        );
    }

    #[test]
    fn defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.xmpp.server, "127.0.0.1");
        assert_eq!(c.xmpp.port, 5347);
        assert_eq!(c.xmpp.keepalive, Duration::from_secs(60));
        assert_eq!(c.xmpp.max_stanza_size, 65536);
        assert_eq!(c.bitcoin.network, Network::Main);
        assert_eq!(c.bitcoin.port, 8332);
        assert_eq!(c.bitcoin.wallet, None);
        assert_eq!(c.bitcoin.timeout, Duration::from_secs(10));
        assert_eq!(c.bitcoin.confirmations, 1);
        assert_eq!(c.bitcoin.min_withdrawal, Sats(10_000));
        assert_eq!(c.main.order_expiry, Duration::from_secs(600));
        assert_eq!(c.main.max_pending_orders, 5);
        let c = parse(&format!("{MINIMAL}min_withdrawal = 5000 sat\n")).unwrap();
        assert_eq!(c.bitcoin.min_withdrawal, Sats(5000));
        assert_eq!(
            parse(&format!("{MINIMAL}min_withdrawal = lots\n")).unwrap_err().to_string(),
            "bitcoim.conf: [bitcoin] min_withdrawal: expected an amount such as 0.0001 or 10000 sat, got 'lots'"
        );
        assert_eq!(c.bitcoin.poll_interval, Duration::from_secs(15));
        assert_eq!(
            c.bitcoin.explorer.as_deref(),
            Some("https://mempool.space/address/{address}")
        );
        let c = parse(&format!("{MINIMAL}explorer =\n")).unwrap();
        assert_eq!(c.bitcoin.explorer, None);
        assert_eq!(c.main.loglevel, log::LevelFilter::Info);
        assert_eq!(c.main.languages, vec!["en"]);
        assert!(c.main.admins.is_empty());
    }

    // Issue 9, item 8: any JID of any domain could register and hold money.
    #[test]
    fn allowed_domains_default_to_the_parent_of_the_component() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.xmpp.jid.to_string(), "bitcoin.example.org");
        assert_eq!(c.main.allowed_domains, vec!["example.org"]);
        assert!(c.main.serves_domain("Example.ORG"));
        assert!(!c.main.serves_domain("elsewhere.org"));
        assert!(!c.main.serves_domain("bitcoin.example.org"));
        let c = parse(&format!(
            "{MINIMAL}[main program]\nallowed_domains = a.org, B.org\n"
        ))
        .unwrap();
        assert_eq!(c.main.allowed_domains, vec!["a.org", "b.org"]);
        let c = parse(&format!("{MINIMAL}[main program]\nallowed_domains = *\n")).unwrap();
        assert!(c.main.serves_domain("anywhere.net"));
        assert_eq!(
            parse(&format!(
                "{MINIMAL}[main program]\nallowed_domains = a@b.org\n"
            ))
            .unwrap_err()
            .to_string(),
            "bitcoim.conf: [main program] allowed_domains: expected domains such as \
             example.org, or *, got 'a@b.org'"
        );
    }

    #[test]
    fn network_picks_the_rpc_port() {
        let c = parse(&format!("{MINIMAL}network = regtest\n")).unwrap();
        assert_eq!(c.bitcoin.port, 18443);
        let c = parse(&format!("{MINIMAL}network = signet\nport = 1234\n")).unwrap();
        assert_eq!(c.bitcoin.port, 1234);
    }

    // Issue 12: `network = testnet4` was read as testnet3, so bitcoIM
    // expected chain "test" on port 18332 and refused a testnet4 node.
    #[test]
    fn testnet4_is_its_own_network() {
        for (name, network, port) in [
            ("main", Network::Main, 8332),
            ("mainnet", Network::Main, 8332),
            ("test", Network::Test, 18332),
            ("testnet", Network::Test, 18332),
            ("testnet3", Network::Test, 18332),
            ("TestNet4", Network::Testnet4, 48332),
            ("signet", Network::Signet, 38332),
            ("regtest", Network::Regtest, 18443),
        ] {
            let c = parse(&format!("{MINIMAL}network = {name}\n")).unwrap();
            assert_eq!(c.bitcoin.network, network, "{name}");
            assert_eq!(c.bitcoin.port, port, "{name}");
        }
        let c = parse(&format!("{MINIMAL}network = testnet4\n")).unwrap();
        assert_eq!(c.bitcoin.network.chain_name(), "testnet4");
        assert_eq!(
            c.bitcoin.explorer.as_deref(),
            Some("https://mempool.space/testnet4/address/{address}")
        );
    }

    const NO_AUTH: &str = "[XMPP]\njid = bitcoin.example.org\npassword = s3cret\n\
                           [database]\nfile = /tmp/b.db\n[bitcoin]\n";

    // Issue 12: one default cookie per network, in bitcoind's
    // net-specific data directory (Core's chainparamsbase.cpp).
    #[test]
    fn without_credentials_the_cookie_of_the_network_is_used() {
        for (network, cookie) in [
            ("main", "/var/lib/bitcoind/.cookie"),
            ("test", "/var/lib/bitcoind/testnet3/.cookie"),
            ("testnet4", "/var/lib/bitcoind/testnet4/.cookie"),
            ("signet", "/var/lib/bitcoind/signet/.cookie"),
            ("regtest", "/var/lib/bitcoind/regtest/.cookie"),
        ] {
            let c = parse(&format!("{NO_AUTH}network = {network}\n")).unwrap();
            assert_eq!(c.bitcoin.auth, RpcAuth::Cookie(PathBuf::from(cookie)));
            assert_eq!(default_cookie(c.bitcoin.network).to_str(), Some(cookie));
        }
        let c = parse(&format!(
            "{NO_AUTH}network = signet\ncookie = /srv/btc/.cookie\n"
        ))
        .unwrap();
        assert_eq!(
            c.bitcoin.auth,
            RpcAuth::Cookie(PathBuf::from("/srv/btc/.cookie"))
        );
        // An empty value is no value: `user =` does not clash with a cookie.
        let c = parse(&format!("{NO_AUTH}user =\npassword =\ncookie = /c\n")).unwrap();
        assert_eq!(c.bitcoin.auth, RpcAuth::Cookie(PathBuf::from("/c")));
    }

    // Issue 12: with both set, the password silently won over the cookie.
    #[test]
    fn a_cookie_and_a_password_together_are_refused() {
        let err = parse(&format!("{NO_AUTH}user = u\npassword = p\ncookie = /c\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bitcoim.conf: [bitcoin] cookie: expected either cookie or user and password, not both"
        );
    }

    /// A file in a directory of its own, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("bitcoim-config-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            use std::os::unix::fs::PermissionsExt as _;
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    // The config holds the component secret and maybe the RPC password;
    // the passphrase file unlocks the wallet.
    #[test]
    fn files_readable_by_everyone_are_warned_about() {
        let dir = TempDir::new("modes");
        let passphrase = dir.write("passphrase", "hunter2\n", 0o644);
        let text = format!("{MINIMAL}passphrase_file = {}\n", passphrase.display());
        let config = dir.write("bitcoim.conf", &text, 0o644);
        let c = Config::load(&config).unwrap();
        let shown = config.display();
        assert_eq!(
            c.warnings,
            vec![
                format!(
                    "{shown}: readable by every user (mode 644) but it holds the component \
                     secret; fix: chmod o-r {shown}"
                ),
                format!(
                    "{shown}: [bitcoin] passphrase_file: {} is readable by every user \
                     (mode 644); fix: chmod o-r {}",
                    passphrase.display(),
                    passphrase.display()
                ),
            ]
        );
        let config = dir.write("bitcoim.conf", &text, 0o640);
        dir.write("passphrase", "hunter2\n", 0o600);
        assert!(Config::load(&config).unwrap().warnings.is_empty());
        // A passphrase file that cannot be looked at is for --check to
        // report, not a mode warning.
        let text = format!("{MINIMAL}passphrase_file = {}/none\n", dir.0.display());
        let config = dir.write("bitcoim.conf", &text, 0o600);
        assert!(Config::load(&config).unwrap().warnings.is_empty());
    }

    /// The option names a text documents for each section: `section_of`
    /// says whether a line opens a section (and which), `option_of` which
    /// option a line documents, if any.
    fn documented(
        text: &str,
        section_of: impl Fn(&str) -> Option<String>,
        option_of: impl Fn(&str, &str) -> Vec<String>,
    ) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut section = String::new();
        let mut previous = "";
        for line in text.lines() {
            if let Some(s) = section_of(line) {
                section = s;
            } else {
                for name in option_of(previous, line) {
                    found.push((section.clone(), name));
                }
            }
            previous = line;
        }
        found
    }

    /// Compares what a text documents with [`KNOWN`], both ways.
    fn undocumented_and_unknown(found: &[(String, String)]) -> (Vec<String>, Vec<String>) {
        let missing = KNOWN
            .iter()
            .flat_map(|(s, names)| names.iter().map(move |n| (*s, *n)))
            .filter(|(s, n)| !found.iter().any(|(fs, f)| fs == s && f == n))
            .map(|(s, n)| format!("[{s}] {n}"))
            .collect();
        let unknown = found
            .iter()
            .filter(|(s, n)| {
                !KNOWN
                    .iter()
                    .any(|(ks, names)| ks == s && names.contains(&n.as_str()))
            })
            .map(|(s, n)| format!("[{s}] {n}"))
            .collect();
        (missing, unknown)
    }

    // Issue 12: max_withdrawals_per_hour was parsed but not in the man page.
    #[test]
    fn the_man_page_documents_every_option() {
        let man = include_str!("../contrib/bitcoim.8");
        // `.SS [bitcoin]` opens a section, `.SH` ends it; after `.TP`, a
        // `.B name` or `.BR name ", " other` line is the tag of an option's
        // paragraph.
        let found = documented(
            man,
            |line| {
                if line.starts_with(".SH ") {
                    return Some(String::new());
                }
                line.strip_prefix(".SS [")
                    .and_then(|s| s.strip_suffix(']'))
                    .map(str::to_owned)
            },
            |previous, line| {
                let tag = line
                    .strip_prefix(".B ")
                    .or_else(|| line.strip_prefix(".BR "));
                match tag {
                    Some(words) if previous == ".TP" => words
                        .split_whitespace()
                        .map(|w| w.trim_matches(|c| c == '"' || c == ','))
                        .filter(|w| {
                            !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        })
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                }
            },
        );
        let found: Vec<_> = found.into_iter().filter(|(s, _)| !s.is_empty()).collect();
        let (missing, unknown) = undocumented_and_unknown(&found);
        assert!(missing.is_empty(), "contrib/bitcoim.8 lacks {missing:?}");
        assert!(
            unknown.is_empty(),
            "contrib/bitcoim.8 documents unknown {unknown:?}"
        );
    }

    #[test]
    fn the_sample_mentions_every_option() {
        let sample = include_str!("../bitcoim.conf.sample");
        // `name = value`, commented out or not.
        let found = documented(
            sample,
            |line| {
                line.strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .map(str::to_owned)
            },
            |_, line| {
                let line = line.strip_prefix('#').unwrap_or(line);
                match line.split_once(" = ") {
                    Some((name, _))
                        if !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
                    {
                        vec![name.to_owned()]
                    }
                    _ => Vec::new(),
                }
            },
        );
        let (missing, unknown) = undocumented_and_unknown(&found);
        assert!(missing.is_empty(), "bitcoim.conf.sample lacks {missing:?}");
        assert!(
            unknown.is_empty(),
            "bitcoim.conf.sample mentions unknown {unknown:?}"
        );
    }

    // Issue 12: contrib/bitcoind, the sample and the README each put the
    // cookie somewhere else.
    #[test]
    fn the_cookie_layout_is_the_same_everywhere() {
        let texts = [
            (
                "bitcoim.conf.sample",
                include_str!("../bitcoim.conf.sample"),
            ),
            ("README.md", include_str!("../README.md")),
            ("contrib/bitcoim.8", include_str!("../contrib/bitcoim.8")),
        ];
        for network in Network::ALL {
            let cookie = default_cookie(network).display().to_string();
            for (name, text) in texts {
                assert!(text.contains(&cookie), "{name} does not mention {cookie}");
            }
        }
        let bitcoind = include_str!("../contrib/bitcoind/bitcoin.conf");
        assert!(bitcoind.contains("\nrpccookieperms=group\n"));
        assert!(bitcoind.contains(BITCOIND_DATADIR));
        let snippet = include_str!("../contrib/bitcoind/bitcoim.conf");
        let c = parse(&format!(
            "[XMPP]\njid = bitcoin.example.org\npassword = x\n[database]\nfile = f\n{snippet}"
        ))
        .unwrap();
        assert_eq!(
            c.bitcoin.auth,
            RpcAuth::Cookie(default_cookie(Network::Main))
        );
        assert_eq!(c.bitcoin.wallet.as_deref(), Some("bitcoim"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn cookie_auth_and_admins() {
        let text = "[XMPP]\nJID: bitcoin.example.org\nPassword: x\n[database]\nfile=/x.db\n\
                    [bitcoin]\ncookie = /var/lib/bitcoind/.cookie\n\
                    [main program]\nadmins = alice@example.org,  Bob@Example.org\nlanguages = fr, en\n";
        let c = parse(text).unwrap();
        assert_eq!(
            c.bitcoin.auth,
            RpcAuth::Cookie(PathBuf::from("/var/lib/bitcoind/.cookie"))
        );
        assert_eq!(c.main.admins.len(), 2);
        let admins = &c.main.admins;
        assert!(admins.contains(&Jid::parse("bob@example.org/phone").unwrap().bare()));
        assert!(!admins.contains(&Jid::parse("eve@example.org").unwrap()));
        assert_eq!(c.main.languages, vec!["fr", "en"]);
    }

    #[test]
    fn each_error_names_section_option_and_expectation() {
        let cases: &[(&str, &str)] = &[
            ("", "bitcoim.conf: [XMPP] jid: missing; expected the component's domain, e.g. bitcoin.example.org"),
            ("[XMPP]\njid = a@b\n", "bitcoim.conf: [XMPP] jid: expected a bare domain such as bitcoin.example.org, got 'a@b'"),
            ("[XMPP]\njid = b\n", "bitcoim.conf: [XMPP] password: missing; expected the component secret of the XMPP server"),
            ("[XMPP]\njid = b\npassword = x\nport = 70000\n", "bitcoim.conf: [XMPP] port: expected a whole number from 1 to 65535, got '70000'"),
            ("[XMPP]\njid = b\npassword = x\nport = abc\n", "bitcoim.conf: [XMPP] port: expected a whole number from 1 to 65535, got 'abc'"),
            ("[XMPP]\njid = b\npassword = x\n", "bitcoim.conf: [database] file: missing; expected the path of the SQLite database"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\n", "bitcoim.conf: [bitcoin] password: missing; expected the RPC password that goes with user"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\npassword=p\n", "bitcoim.conf: [bitcoin] user: missing; expected the RPC user that goes with password"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\ncookie=/c\nuser=u\npassword=p\n", "bitcoim.conf: [bitcoin] cookie: expected either cookie or user and password, not both"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\ncookie=/c\nuser=u\n", "bitcoim.conf: [bitcoin] cookie: expected either cookie or user and password, not both"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\ncookie=/c\npassword=p\n", "bitcoim.conf: [bitcoin] cookie: expected either cookie or user and password, not both"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\nnetwork=moon\n", "bitcoim.conf: [bitcoin] network: expected main, test, testnet4, signet or regtest, got 'moon'"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\nprotocol=https\n", "bitcoim.conf: [bitcoin] protocol: expected http (keep bitcoind's RPC on loopback or tunnel it), got 'https'"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\ntimeout=0\n", "bitcoim.conf: [bitcoin] timeout: expected a whole number from 1 to 600, got '0'"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\nexplorer=https://x/\n", "bitcoim.conf: [bitcoin] explorer: expected an http(s) URL containing {address}, got 'https://x/'"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\n[main program]\nloglevel=loud\n", "bitcoim.conf: [main program] loglevel: expected debug, info, warning, error or critical, got 'loud'"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\n[main program]\nadmins=alice\n", "bitcoim.conf: [main program] admins: expected bare JIDs such as alice@example.org, got 'alice'"),
            ("[XMPP]\njid = b\npassword = x\n[database]\nfile=f\n[bitcoin]\nuser=u\npassword=p\n[main program]\nlanguages=english\n", "bitcoim.conf: [main program] languages: expected language codes such as en, fr, got 'english'"),
            ("jid = b\n", "bitcoim.conf line 1: option before any [section]"),
            ("[XMPP\n", "bitcoim.conf line 1: expected ']' to end the section name"),
            ("[XMPP]\njust words\n", "bitcoim.conf line 2: expected 'name = value', '[section]' or a comment"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.to_string(), *expected, "for {text:?}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn unknown_options_are_warnings() {
        let c = parse(&format!("{MINIMAL}confirmation = 3\n[extra]\na = b\n")).unwrap();
        assert_eq!(
            c.warnings,
            vec![
                "bitcoim.conf: [bitcoin] confirmation: unknown option ignored",
                "bitcoim.conf: unknown section [extra] ignored",
            ]
        );
    }

    #[test]
    fn comments_need_whitespace_before_them() {
        let c =
            parse(&MINIMAL.replace("password = s3cret", "password = s3#cret;x ; comment")).unwrap();
        assert_eq!(c.xmpp.password, "s3#cret;x");
    }
}
