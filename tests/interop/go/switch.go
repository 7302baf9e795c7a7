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

// runSwitch: scenario "switch": MultiplexTransport (SecretConnection,
// NodeInfo exchange and checks) and a Switch with one test reactor whose
// messages are google.protobuf.BytesValue (field 1 = the payload).
func runSwitch(o options) error {
	key := p2p.NodeKey{PrivKey: privKey(o.seed)}
	port := 26656 // advertised only, when dialing
	if o.listen {
		port = o.port
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				return err
			}
		}
	}
	var chIDs []byte
	for _, d := range o.channels {
		d.MessageType = &types.BytesValue{}
		chIDs = append(chIDs, d.ID)
	}
	info := p2p.DefaultNodeInfo{
		ProtocolVersion: p2p.NewProtocolVersion(version.P2PProtocol, version.BlockProtocol, 0),
		DefaultNodeID:   key.ID(),
		ListenAddr:      fmt.Sprintf("tcp://127.0.0.1:%d", port),
		Network:         o.network,
		Version:         strings.TrimPrefix(cometbftVersion(), "v"),
		Channels:        chIDs,
		Moniker:         o.moniker,
		Other:           p2p.DefaultNodeInfoOther{TxIndex: "off"},
	}
	mcfg := mconnConfig(o)
	transport := p2p.NewMultiplexTransport(info, key, mcfg)
	p2pCfg := config.DefaultP2PConfig()
	p2pCfg.AllowDuplicateIP = true
	sw := p2p.NewSwitch(p2pCfg, transport)
	sw.SetNodeInfo(info)
	sw.SetNodeKey(&key)

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

	if o.listen {
		addr, err := p2p.NewNetAddressString(p2p.IDAddressString(key.ID(), fmt.Sprintf("127.0.0.1:%d", port)))
		if err != nil {
			return err
		}
		if err := transport.Listen(*addr); err != nil {
			return err
		}
	}
	if err := sw.Start(); err != nil {
		return err
	}
	defer func() {
		_ = sw.Stop()
		_ = transport.Close()
	}()
	emit("node_info", kv{"id": string(key.ID()), "network": info.Network, "version": info.Version,
		"p2p": info.ProtocolVersion.P2P, "block": info.ProtocolVersion.Block, "channels": hex.EncodeToString(chIDs),
		"config": mconnSettings(mcfg)})
	if o.listen {
		emit("listening", kv{"addr": fmt.Sprintf("127.0.0.1:%d", port)})
	} else {
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
