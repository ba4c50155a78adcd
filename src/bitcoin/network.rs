//! The Bitcoin network a node runs, and what follows from it.
//!
//! The chain names, RPC ports and data subdirectories are Bitcoin Core's
//! (`src/util/chaintype.cpp`, `src/chainparamsbase.cpp`): testnet3 and
//! testnet4 are two chains with their own ports and directories, though
//! their addresses look alike.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Main,
    /// testnet3 (`-testnet`, `-chain=test`).
    Test,
    /// testnet4 (`-testnet4`, `-chain=testnet4`, Bitcoin Core 28+).
    Testnet4,
    Signet,
    Regtest,
}

impl Network {
    pub const ALL: [Network; 5] = [
        Network::Main,
        Network::Test,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
    ];

    /// bitcoind's `-rpcport` default on this network.
    pub fn default_rpc_port(self) -> u16 {
        match self {
            Network::Main => 8332,
            Network::Test => 18332,
            Network::Testnet4 => 48332,
            Network::Signet => 38332,
            Network::Regtest => 18443,
        }
    }

    /// A public block explorer's address page; none for regtest.
    pub fn default_explorer(self) -> Option<&'static str> {
        match self {
            Network::Main => Some("https://mempool.space/address/{address}"),
            Network::Test => Some("https://mempool.space/testnet/address/{address}"),
            Network::Testnet4 => Some("https://mempool.space/testnet4/address/{address}"),
            Network::Signet => Some("https://mempool.space/signet/address/{address}"),
            Network::Regtest => None,
        }
    }

    /// The `chain` that getblockchaininfo reports for this network, which
    /// is also what `-chain=` takes.
    pub fn chain_name(self) -> &'static str {
        match self {
            Network::Main => "main",
            Network::Test => "test",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }

    /// The subdirectory of bitcoind's data directory that holds this
    /// network's files, its `.cookie` among them; empty for main.
    pub fn data_subdir(self) -> &'static str {
        match self {
            Network::Main => "",
            Network::Test => "testnet3",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bitcoin Core's CreateBaseChainParams and ChainTypeToString: issue 12
    // found testnet4 read as testnet3 (chain "test", port 18332).
    #[test]
    fn testnet4_is_not_testnet3() {
        let table: Vec<_> = Network::ALL
            .iter()
            .map(|n| (n.chain_name(), n.default_rpc_port(), n.data_subdir()))
            .collect();
        assert_eq!(
            table,
            [
                ("main", 8332, ""),
                ("test", 18332, "testnet3"),
                ("testnet4", 48332, "testnet4"),
                ("signet", 38332, "signet"),
                ("regtest", 18443, "regtest"),
            ]
        );
        assert_eq!(
            Network::Testnet4.default_explorer(),
            Some("https://mempool.space/testnet4/address/{address}")
        );
    }
}
