package main

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/cosmos/gogoproto/types"

	"github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
	"github.com/cometbft/cometbft/version"
)

// node is a Go Switch on a MultiplexTransport (SecretConnection, NodeInfo
// exchange and checks) that announces 127.0.0.1:port.
type node struct {
	key       p2p.NodeKey
	port      int
	listening bool
	info      p2p.DefaultNodeInfo
	mcfg      conn.MConnConfig
	transport *p2p.MultiplexTransport
	sw        *p2p.Switch
}

// newNode builds the node with channels chIDs in its NodeInfo; it listens
// on -port (or a free port) with -listen. Reactors and logger are the
// caller's; Start the switch afterwards.
func newNode(o options, chIDs []byte) (*node, error) {
	// The port is advertised only, when dialing.
	n := &node{key: p2p.NodeKey{PrivKey: privKey(o.seed)}, port: 26656, listening: o.listen}
	if o.listen {
		n.port = o.port
		if n.port == 0 {
			var err error
			if n.port, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	n.info = p2p.DefaultNodeInfo{
		ProtocolVersion: p2p.NewProtocolVersion(version.P2PProtocol, version.BlockProtocol, 0),
		DefaultNodeID:   n.key.ID(),
		ListenAddr:      fmt.Sprintf("tcp://127.0.0.1:%d", n.port),
		Network:         o.network,
		Version:         strings.TrimPrefix(cometbftVersion(), "v"),
		Channels:        chIDs,
		Moniker:         o.moniker,
		Other:           p2p.DefaultNodeInfoOther{TxIndex: "off"},
	}
	n.mcfg = mconnConfig(o)
	n.transport = p2p.NewMultiplexTransport(n.info, n.key, n.mcfg)
	p2pCfg := config.DefaultP2PConfig()
	p2pCfg.AllowDuplicateIP = true
	n.sw = p2p.NewSwitch(p2pCfg, n.transport)
	n.sw.SetNodeInfo(n.info)
	n.sw.SetNodeKey(&n.key)
	if o.listen {
		if err := n.transport.Listen(*n.netAddress()); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// netAddress is the address the node announces.
func (n *node) netAddress() *p2p.NetAddress {
	addr, err := p2p.NewNetAddressString(p2p.IDAddressString(n.key.ID(), fmt.Sprintf("127.0.0.1:%d", n.port)))
	if err != nil {
		panic(err)
	}
	return addr
}

func (n *node) stop() {
	_ = n.sw.Stop()
	_ = n.transport.Close()
}

func (n *node) emitInfo() {
	emit("node_info", kv{"id": string(n.key.ID()), "network": n.info.Network, "version": n.info.Version,
		"p2p": n.info.ProtocolVersion.P2P, "block": n.info.ProtocolVersion.Block,
		"channels": hex.EncodeToString(n.info.Channels), "config": mconnSettings(n.mcfg)})
	if n.listening {
		emit("listening", kv{"addr": fmt.Sprintf("127.0.0.1:%d", n.port), "id": string(n.key.ID())})
	}
}

// runSwitch: scenario "switch": a node with one test reactor whose
// messages are google.protobuf.BytesValue (field 1 = the payload).
func runSwitch(o options) error {
	var chIDs []byte
	for _, d := range o.channels {
		d.MessageType = &types.BytesValue{}
		chIDs = append(chIDs, d.ID)
	}
	n, err := newNode(o, chIDs)
	if err != nil {
		return err
	}
	sw := n.sw

	rejected := make(chan string, 4)
	hook := func(level, msg string, kvs []any) {
		switch msg {
		case "Inbound Peer rejected", "Ignoring inbound connection: error while adding peer":
			reason, _ := kvLookup(kvs, "err")
			select {
			case rejected <- fmt.Sprint(reason):
			default:
			}
		}
	}
	r := &reactor{
		descs:   o.channels,
		chk:     newChecker(o.recvPlan, o.recvSalt),
		added:   make(chan p2p.Peer, 1),
		removed: make(chan string, 1),
	}
	r.BaseReactor = *p2p.NewBaseReactor("Interop", r)
	sw.AddReactor("INTEROP", r)
	sw.SetLogger(newLogger("switch", hook))

	if err := sw.Start(); err != nil {
		return err
	}
	defer n.stop()
	n.emitInfo()
	if !o.listen {
		addr, err := p2p.NewNetAddressString(p2p.IDAddressString(p2p.ID(o.peerID), o.connect))
		if err != nil {
			return err
		}
		if err := sw.DialPeerWithAddress(addr); err != nil {
			emit("rejected", kv{"reason": err.Error(), "side": "dialer"})
			return nil
		}
	}

	var peer p2p.Peer
	select {
	case peer = <-r.added:
	case reason := <-rejected:
		emit("rejected", kv{"reason": reason, "side": "listener"})
		return nil
	case reason := <-r.removed:
		emit("closed", kv{"reason": reason, "by": "peer_or_error"})
		return nil
	}
	start := time.Now()
	ni, _ := peer.NodeInfo().(p2p.DefaultNodeInfo)
	emit("connected", kv{
		"remote_id": string(peer.ID()), "outbound": peer.IsOutbound(),
		"id_ok":   o.peerID == "" || string(peer.ID()) == o.peerID,
		"moniker": ni.Moniker, "network": ni.Network, "version": ni.Version,
		"p2p": ni.ProtocolVersion.P2P, "block": ni.ProtocolVersion.Block,
		"channels": hex.EncodeToString(ni.Channels), "listen_addr": ni.ListenAddr,
	})
	for _, ch := range o.refuse {
		ok := peer.Send(p2p.Envelope{ChannelID: ch, Message: &types.BytesValue{Value: []byte{1}}})
		emit("try_send", kv{"ch": ch, "accepted": ok})
	}
	sent := make(chan bool, 1)
	go func() {
		sent <- sendAll(o.sendPlan, o.sendSalt, o.pace, func(ch byte, msg []byte) bool {
			e := p2p.Envelope{ChannelID: ch, Message: &types.BytesValue{Value: msg}}
			if o.broadcast {
				// One goroutine per peer and message in both lines (v0.38
				// returns a channel of results, v1 nothing): successive
				// broadcasts may overtake each other.
				sw.Broadcast(e)
				return true
			}
			return peer.Send(e)
		})
	}()
	complete := r.chk.complete
	for pending := 2; pending > 0; pending-- {
		select {
		case <-complete:
			complete = nil
		case <-sent:
			sent = nil
		case reason := <-r.removed:
			emit("closed", kv{"reason": reason, "by": "peer_or_error", "after_ms": time.Since(start).Milliseconds()})
			return nil
		}
	}
	emit("done", kv{"elapsed_ms": time.Since(start).Milliseconds()})
	if o.closeMode == "flush" {
		// What PEX does to end a connection gracefully: flush, then remove.
		peer.FlushStop()
		sw.StopPeerGracefully(peer)
		emit("closed", kv{"reason": "local FlushStop + StopPeerGracefully", "by": "us"})
		return nil
	}
	select {
	case reason := <-r.removed:
		emit("closed", kv{"reason": reason, "by": "peer_or_error", "after_ms": time.Since(start).Milliseconds()})
	case <-time.After(o.timeout):
	}
	return nil
}

type reactor struct {
	p2p.BaseReactor
	descs   []*conn.ChannelDescriptor
	chk     *checker
	added   chan p2p.Peer
	removed chan string
}

func (r *reactor) GetChannels() []*conn.ChannelDescriptor { return r.descs }

func (r *reactor) AddPeer(p p2p.Peer) {
	select {
	case r.added <- p:
	default:
	}
}

func (r *reactor) RemovePeer(_ p2p.Peer, reason any) {
	select {
	case r.removed <- fmt.Sprint(reason):
	default:
	}
}

func (r *reactor) Receive(e p2p.Envelope) {
	msg, ok := e.Message.(*types.BytesValue)
	if !ok {
		emit("error", kv{"msg": fmt.Sprintf("unexpected message type %T", e.Message)})
		return
	}
	r.chk.receive(e.ChannelID, msg.Value)
}
