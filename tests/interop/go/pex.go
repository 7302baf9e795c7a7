package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
	"github.com/cometbft/cometbft/p2p/pex"
)

// watchChannel is the watcher reactor's channel (never used for traffic).
const watchChannel = 0x20

// runPex: scenario "pex": a node with CometBFT's PEX reactor over an
// address book at -book (strict per -strict), optionally pre-filled with
// -book-addrs (their source: this node) and bootstrapped from -seeds, with
// ensurePeers every -ensure. A watcher reactor prints every peer added
// and removed; the book's size is printed whenever it changes. Runs until
// -hold is over (then prints the book) or the process is killed.
func runPex(o options) error {
	n, err := newNode(o, []byte{pex.PexChannel, watchChannel})
	if err != nil {
		return err
	}
	book := pex.NewAddrBook(o.book, o.strict)
	book.SetLogger(newLogger("addrbook", nil))
	self := n.netAddress()
	book.AddOurAddress(self)
	for _, s := range splitList(o.bookAddrs) {
		addr, err := p2p.NewNetAddressString(s)
		if err != nil {
			return err
		}
		if err := book.AddAddress(addr, self); err != nil {
			return fmt.Errorf("AddAddress(%v): %w", addr, err)
		}
	}
	r := pex.NewReactor(book, &pex.ReactorConfig{Seeds: splitList(o.seeds)})
	r.SetEnsurePeersPeriod(o.ensure)
	r.SetLogger(newLogger("pex", nil))
	n.sw.AddReactor("PEX", r)
	w := &watcher{}
	w.BaseReactor = *p2p.NewBaseReactor("Watcher", w)
	n.sw.AddReactor("WATCH", w)
	n.sw.SetAddrBook(book)
	n.sw.SetLogger(newLogger("switch", nil))
	if err := n.sw.Start(); err != nil {
		return err
	}
	defer n.stop()
	n.emitInfo()

	size := -1
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.After(o.hold)
	for {
		select {
		case <-tick.C:
			if s := book.Size(); s != size {
				size = s
				emit("book_size", kv{"size": s})
			}
		case <-end:
			book.Save()
			return dumpBook(book)
		}
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// watcher prints peers as they come and go.
type watcher struct {
	p2p.BaseReactor
}

func (w *watcher) GetChannels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{{ID: watchChannel, Priority: 1, SendQueueCapacity: 1,
		RecvBufferCapacity: 1024, RecvMessageCapacity: 1024}}
}

func (w *watcher) AddPeer(p p2p.Peer) {
	emit("peer_added", kv{"id": string(p.ID()), "outbound": p.IsOutbound(),
		"addr": p.SocketAddr().String()})
}

func (w *watcher) RemovePeer(p p2p.Peer, reason any) {
	emit("peer_removed", kv{"id": string(p.ID()), "reason": fmt.Sprint(reason)})
}

func (w *watcher) Receive(e p2p.Envelope) {
	emit("error", kv{"msg": fmt.Sprintf("unexpected message on %#x", e.ChannelID)})
}
