package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/types"
)

// writeHomeDir is scenario "node"'s -write-home (registered here, parsed
// with the other flags in parseFlags).
var writeHomeDir = flag.String("write-home", "",
	"node: first write a CometBFT home directory here, as `cometbft init` does (chain_id = -network)")

// runNode: scenario "node": a CometBFT node as the `mconn` binary meets it.
// With -write-home DIR it first writes a home directory the way
// `cometbft init` does (CometBFT's default config.toml, a node key from
// p2p.LoadOrGenNodeKey, a genesis.json with chain_id -network) and prints
// "home_written" with the key's ID; that home is for the other side, this
// node keeps its -seed key. Then it runs scenario "pex" (a Switch with the
// PEX reactor and a watcher printing peers added and removed), with its
// address book in a temporary directory unless -book is given.
func runNode(o options) error {
	if *writeHomeDir != "" {
		id, err := writeCometHome(*writeHomeDir, o.network, o.moniker)
		if err != nil {
			return fmt.Errorf("write home %s: %w", *writeHomeDir, err)
		}
		emit("home_written", kv{"home": *writeHomeDir, "id": string(id), "chain_id": o.network})
	}
	if o.book == "" {
		dir, err := os.MkdirTemp("", "interop-node-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.book = filepath.Join(dir, "addrbook.json")
	}
	return runPex(o)
}

// writeCometHome writes root/config/{config.toml,node_key.json,genesis.json}
// and root/data with CometBFT's own functions; returns the node key's ID.
// Unlike `cometbft init` it writes no private validator files (a fresh
// validator key only goes into genesis.json), as the p2p layer has no use
// for them.
func writeCometHome(root, chainID, moniker string) (p2p.ID, error) {
	cfg := config.DefaultConfig().SetRoot(root)
	cfg.Moniker = moniker
	config.EnsureRoot(root)
	config.WriteConfigFile(filepath.Join(root, "config", "config.toml"), cfg)
	key, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return "", err
	}
	validator := cmted25519.GenPrivKey().PubKey()
	genesis := types.GenesisDoc{
		ChainID:         chainID,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators: []types.GenesisValidator{{
			Address: validator.Address(),
			PubKey:  validator,
			Power:   10,
		}},
	}
	if err := genesis.ValidateAndComplete(); err != nil {
		return "", err
	}
	if err := genesis.SaveAs(cfg.GenesisFile()); err != nil {
		return "", err
	}
	return key.ID(), nil
}
