//! The Bitcoin network a node runs, and what follows from it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Main,
    Test,
    Signet,
    Regtest,
}

impl Network {
    pub fn default_rpc_port(self) -> u16 {
        match self {
            Network::Main => 8332,
            Network::Test => 18332,
            Network::Signet => 38332,
            Network::Regtest => 18443,
        }
    }

    /// A public block explorer's address page; none for regtest.
    pub fn default_explorer(self) -> Option<&'static str> {
        match self {
            Network::Main => Some("https://mempool.space/address/{address}"),
            Network::Test => Some("https://mempool.space/testnet/address/{address}"),
            Network::Signet => Some("https://mempool.space/signet/address/{address}"),
            Network::Regtest => None,
        }
    }

    /// The `chain` that getblockchaininfo reports for this network.
    pub fn chain_name(self) -> &'static str {
        match self {
            Network::Main => "main",
            Network::Test => "test",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}
