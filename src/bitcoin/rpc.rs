//! bitcoind's JSON-RPC client: the only module that names ureq.
//!
//! Calls are blocking on purpose: bitcoIM is one thread, and a handler that
//! needs the node waits for it. Every call is bounded by the configured
//! timeout (ureq has none by default), so a stuck node delays the reactor
//! by at most that long; slow calls are logged with their duration.
//!
//! bitcoind answers JSON-RPC 1.0 errors with HTTP 4xx/5xx and a JSON body:
//! the body is read whatever the status. Numbers stay exact decimals
//! (serde_json's `arbitrary_precision`), never f64.

use base64::Engine as _;
use serde_json::{json, Value};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Replies larger than this are refused (a `listsinceblock` of a busy
/// wallet can be large, but not this large).
const MAX_REPLY_BYTES: u64 = 64 << 20;

/// Calls slower than this are logged at info level.
const SLOW_CALL: Duration = Duration::from_millis(500);

/// Why a call failed. The distinction matters for money: only `Rpc`
/// errors are definite answers from the node; `Unreachable` after the
/// request was sent and `BadReply` leave the outcome unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// No connection could be made: the request never reached the node.
    NotConnected(String),
    /// A timeout or a connection lost mid-call: the node may have acted.
    Unreachable(String),
    /// HTTP 401: wrong user/password or stale cookie.
    AuthRefused,
    /// The node answered with a JSON-RPC error.
    Rpc { code: i64, message: String },
    /// The node answered something that is not a JSON-RPC reply.
    BadReply(String),
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::NotConnected(why) => write!(f, "node unreachable: {why}"),
            RpcError::Unreachable(why) => write!(f, "no clear answer from the node: {why}"),
            RpcError::AuthRefused => {
                write!(f, "authentication refused (check user/password or cookie)")
            }
            RpcError::Rpc { code, message } => write!(f, "RPC error code {code}: {message}"),
            RpcError::BadReply(why) => write!(f, "bad reply: {why}"),
        }
    }
}

impl std::error::Error for RpcError {}

/// A failed call: the method, then what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub method: String,
    pub error: RpcError,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bitcoind {}: {}", self.method, self.error)
    }
}

impl std::error::Error for CallError {}

enum Credentials {
    Fixed(String),
    Cookie {
        path: PathBuf,
        header: Option<String>,
    },
}

/// Where JSON-RPC calls go: bitcoind over HTTP in the daemon, a simulated
/// node in the tests. `params` is a JSON array (positional) or object
/// (named arguments).
pub trait Transport {
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, CallError>;
}

pub struct Client {
    agent: ureq::Agent,
    url: String,
    credentials: Credentials,
    next_id: u64,
}

/// How bitcoIM logs in to bitcoind's RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcAuth {
    UserPassword { user: String, password: String },
    Cookie(PathBuf),
}

/// Where bitcoind's RPC listens and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub auth: RpcAuth,
    /// The wallet's name, for `/wallet/<name>` URLs.
    pub wallet: Option<String>,
    /// How long a call may take, all of it.
    pub timeout: Duration,
}

fn basic(user_colon_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_colon_password)
    )
}

impl Client {
    pub fn new(config: &Endpoint) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("bitcoIM/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let host = if config.host.contains(':') && !config.host.starts_with('[') {
            format!("[{}]", config.host)
        } else {
            config.host.clone()
        };
        let mut url = format!("http://{host}:{}/", config.port);
        if let Some(wallet) = &config.wallet {
            url.push_str("wallet/");
            url.push_str(&percent_encode(wallet));
        }
        let credentials = match &config.auth {
            RpcAuth::UserPassword { user, password } => {
                Credentials::Fixed(basic(&format!("{user}:{password}")))
            }
            RpcAuth::Cookie(path) => Credentials::Cookie {
                path: path.clone(),
                header: None,
            },
        };
        Client {
            agent,
            url,
            credentials,
            next_id: 0,
        }
    }

    /// The authorization header, reading the cookie file if needed.
    fn authorization(&mut self, reload: bool) -> Result<String, RpcError> {
        match &mut self.credentials {
            Credentials::Fixed(h) => Ok(h.clone()),
            Credentials::Cookie { path, header } => {
                if reload || header.is_none() {
                    let text = std::fs::read_to_string(&*path).map_err(|e| {
                        RpcError::NotConnected(format!(
                            "cannot read the cookie file {}: {e}",
                            path.display()
                        ))
                    })?;
                    *header = Some(basic(text.trim()));
                }
                Ok(header.clone().unwrap_or_default())
            }
        }
    }
}

impl Transport for Client {
    /// Calls `method` and returns its `result`.
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, CallError> {
        let started = Instant::now();
        let mut result = self.call_once(method, params, false);
        // The cookie changes at every bitcoind restart: re-read it once.
        if result == Err(RpcError::AuthRefused)
            && matches!(self.credentials, Credentials::Cookie { .. })
        {
            result = self.call_once(method, params, true);
        }
        let elapsed = started.elapsed();
        if elapsed > SLOW_CALL {
            log::info!("bitcoind {method} took {} ms", elapsed.as_millis());
        } else {
            log::debug!("bitcoind {method} took {} ms", elapsed.as_millis());
        }
        result.map_err(|error| CallError {
            method: method.to_owned(),
            error,
        })
    }
}

impl Client {
    fn call_once(&mut self, method: &str, params: &Value, reload: bool) -> Result<Value, RpcError> {
        self.next_id += 1;
        let body = json!({
            "jsonrpc": "1.0",
            "id": self.next_id,
            "method": method,
            "params": params,
        })
        .to_string();
        let authorization = self.authorization(reload)?;
        let mut response = self
            .agent
            .post(&self.url)
            .header("Authorization", &authorization)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .map_err(classify)?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RpcError::AuthRefused);
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .read_to_string()
            .map_err(|e| RpcError::Unreachable(format!("reading the reply: {e}")))?;
        parse_reply(status, &text)
    }
}

/// Tells a request that never left (nothing can have happened on the
/// node) from one whose fate is unknown.
fn classify(e: ureq::Error) -> RpcError {
    use ureq::Timeout;
    let not_sent = match &e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
        ),
        _ => false,
    };
    if not_sent {
        RpcError::NotConnected(e.to_string())
    } else {
        RpcError::Unreachable(e.to_string())
    }
}

/// Extracts `result` or the JSON-RPC error from a reply body.
fn parse_reply(status: u16, text: &str) -> Result<Value, RpcError> {
    let reply: Value = serde_json::from_str(text).map_err(|_| {
        let excerpt: String = text.chars().take(80).collect();
        RpcError::BadReply(format!(
            "HTTP {status} with a body that is not JSON: {excerpt:?}"
        ))
    })?;
    match reply.get("error") {
        Some(Value::Null) | None => {}
        Some(error) => {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_owned();
            return Err(RpcError::Rpc { code, message });
        }
    }
    if status != 200 {
        return Err(RpcError::BadReply(format!(
            "HTTP {status} without an error"
        )));
    }
    reply
        .get("result")
        .cloned()
        .ok_or_else(|| RpcError::BadReply("no result in the reply".to_owned()))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_result_and_errors_whatever_the_status() {
        assert_eq!(
            parse_reply(200, r#"{"result":{"chain":"regtest"},"error":null,"id":1}"#).unwrap()
                ["chain"],
            "regtest"
        );
        assert_eq!(
            parse_reply(
                500,
                r#"{"result":null,"error":{"code":-6,"message":"Insufficient funds"},"id":1}"#
            ),
            Err(RpcError::Rpc {
                code: -6,
                message: "Insufficient funds".to_owned()
            })
        );
        assert_eq!(
            parse_reply(
                404,
                r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#
            ),
            Err(RpcError::Rpc {
                code: -32601,
                message: "Method not found".to_owned()
            })
        );
        assert!(matches!(
            parse_reply(503, "Service Unavailable"),
            Err(RpcError::BadReply(_))
        ));
        assert!(matches!(
            parse_reply(500, r#"{"result":null}"#),
            Err(RpcError::BadReply(_))
        ));
    }

    #[test]
    fn amounts_stay_exact() {
        let v = parse_reply(200, r#"{"result":0.1,"error":null}"#).unwrap();
        assert_eq!(v.to_string(), "0.1");
        let v = parse_reply(200, r#"{"result":20999999.97690001,"error":null}"#).unwrap();
        assert_eq!(v.to_string(), "20999999.97690001");
    }

    #[test]
    fn wallet_names_are_escaped_in_the_url() {
        assert_eq!(percent_encode("my wallet/1"), "my%20wallet%2F1");
    }

    #[test]
    fn errors_say_the_method_first() {
        let e = CallError {
            method: "getnewaddress".to_owned(),
            error: RpcError::NotConnected("connection refused".to_owned()),
        };
        assert_eq!(
            e.to_string(),
            "bitcoind getnewaddress: node unreachable: connection refused"
        );
    }
}
