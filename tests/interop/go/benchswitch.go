// The bench's switch roles (`interop bench -role switch-...`): CometBFT's
// own p2p.Switch over p2p.MultiplexTransport (SecretConnection, NodeInfo
// exchange, one MConnection per peer) with a test reactor on one channel.
//
//	switch-bcast  one hub switch and -n leaf switches in this process; the
//	              hub broadcasts -count messages of -size bytes (each with
//	              its send time) with sw.Broadcast, back to back or one per
//	              -pace, waiting for each broadcast's results before the
//	              next; every leaf records arrivals
//	switch-hub    one switch accepting -n peers (dialled by the swarm
//	              role), then idle until stdin closes
package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
	gogotypes "github.com/cosmos/gogoproto/types"
)

// switchCh is the test reactor's channel (bulkCh, so the swarm role, which
// announces 0x22 and 0x40, shares it).
const switchCh = bulkCh

// benchReactor owns switchCh; with a recorder it records every arrival.
type benchReactor struct {
	p2p.BaseReactor
	rec *recorder
}

func newBenchReactor(rec *recorder) *benchReactor {
	r := &benchReactor{rec: rec}
	r.BaseReactor = *p2p.NewBaseReactor("bench", r)
	return r
}

func (r *benchReactor) GetChannels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{{
		ID:                  switchCh,
		Priority:            1,
		SendQueueCapacity:   100,
		RecvBufferCapacity:  4096,
		RecvMessageCapacity: 1 << 20,
		MessageType:         &gogotypes.BytesValue{},
	}}
}

func (r *benchReactor) Receive(e p2p.Envelope) {
	if r.rec == nil {
		return
	}
	if m, ok := e.Message.(*gogotypes.BytesValue); ok && len(m.Value) >= 16 {
		r.rec.arrived(int64(binary.LittleEndian.Uint64(m.Value[8:16])))
	}
}

// recorder collects one leaf's delivery latencies (ns since base).
type recorder struct {
	base      time.Time
	mu        sync.Mutex
	lat       []int64
	delivered *int64
	last      *int64
}

func (r *recorder) arrived(sent int64) {
	now := int64(time.Since(r.base))
	r.mu.Lock()
	r.lat = append(r.lat, now-sent)
	r.mu.Unlock()
	atomic.AddInt64(r.delivered, 1)
	for {
		l := atomic.LoadInt64(r.last)
		if now <= l || atomic.CompareAndSwapInt64(r.last, l, now) {
			return
		}
	}
}

// p2pConfig: a node's P2P defaults with our rate caps and flush throttle,
// room for `inbound` peers, and no duplicate-IP filter (everything is on
// 127.0.0.1; the bare switch adds no such filter anyway).
func p2pConfig(inbound int) *config.P2PConfig {
	cfg := config.DefaultP2PConfig()
	cfg.SendRate = bf.sendRate
	cfg.RecvRate = bf.recvRate
	if bf.sendRate == 0 {
		cfg.SendRate = 1 << 40
	}
	if bf.recvRate == 0 {
		cfg.RecvRate = 1 << 40
	}
	cfg.FlushThrottleTimeout = bf.flush
	cfg.MaxNumInboundPeers = inbound
	cfg.AllowDuplicateIP = true
	return cfg
}

// newSwitch builds a started switch; with `port` > 0 it listens on
// 127.0.0.1:port first.
func newSwitch(cfg *config.P2PConfig, port int, rec *recorder) (*p2p.Switch, *p2p.NetAddress, error) {
	key := p2p.NodeKey{PrivKey: ed25519.GenPrivKey()}
	info := benchNodeInfo(key.PrivKey.(ed25519.PrivKey))
	info.Channels = []byte{switchCh}
	if port > 0 {
		info.ListenAddr = fmt.Sprintf("tcp://127.0.0.1:%d", port)
	}
	mcfg := p2p.MConnConfig(cfg)
	mcfg.PingInterval = bf.ping
	mcfg.PongTimeout = bf.pong
	tr := p2p.NewMultiplexTransport(info, key, mcfg)
	addr := p2p.NewNetAddressIPPort(net.ParseIP("127.0.0.1"), uint16(port))
	addr.ID = key.ID()
	if port > 0 {
		if err := tr.Listen(*addr); err != nil {
			return nil, nil, err
		}
	}
	sw := p2p.NewSwitch(cfg, tr)
	sw.SetLogger(log.NewNopLogger())
	sw.SetNodeInfo(info)
	sw.SetNodeKey(&key)
	sw.AddReactor("bench", newBenchReactor(rec))
	if err := sw.Start(); err != nil {
		return nil, nil, err
	}
	return sw, addr, nil
}

// listeningSwitch retries on a fresh free port if another process took it
// between probing and listening.
func listeningSwitch(cfg *config.P2PConfig) (*p2p.Switch, *p2p.NetAddress) {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			benchFail(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		sw, addr, err := newSwitch(cfg, port, nil)
		if err == nil {
			return sw, addr
		}
		last = err
	}
	benchFail(last)
	return nil, nil
}

// waitPeers polls until sw has n peers or the deadline passes.
func waitPeers(sw *p2p.Switch, n int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for sw.Peers().Size() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return sw.Peers().Size()
}

type bcastResult struct {
	Broadcasts   int     `json:"broadcasts"`
	Failed       int     `json:"failed"`
	Delivered    int64   `json:"delivered"`
	Expected     int64   `json:"expected"`
	HubPerSec    float64 `json:"hub_per_sec"`
	DeliverPerSc float64 `json:"delivered_per_sec"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
}

func switchBcast() {
	base := time.Now()
	hub, hubAddr := listeningSwitch(p2pConfig(bf.n))
	var delivered, last int64
	recs := make([]*recorder, bf.n)
	leaves := make([]*p2p.Switch, bf.n)
	for i := range leaves {
		recs[i] = &recorder{base: base, delivered: &delivered, last: &last, lat: make([]int64, 0, bf.count)}
		sw, _, err := newSwitch(p2pConfig(0), 0, recs[i])
		if err != nil {
			benchFail(err)
		}
		leaves[i] = sw
	}
	var wg sync.WaitGroup
	for _, sw := range leaves {
		wg.Add(1)
		go func(sw *p2p.Switch) {
			defer wg.Done()
			if err := sw.DialPeerWithAddress(hubAddr); err != nil {
				fmt.Fprintln(os.Stderr, "interop bench switch-bcast: dial:", err)
			}
		}(sw)
	}
	wg.Wait()
	if got := waitPeers(hub, bf.n, 60*time.Second); got != bf.n {
		benchFail(fmt.Errorf("hub has %d of %d peers", got, bf.n))
	}

	body := make([]byte, bf.size-3) // BytesValue: tag, 2-byte length, body
	for i := range body {
		body[i] = byte(i)
	}
	failed := 0
	start := int64(time.Since(base))
	t0 := time.Now()
	for seq := 0; seq < bf.count; seq++ {
		if bf.pace > 0 {
			time.Sleep(time.Until(t0.Add(time.Duration(seq) * bf.pace)))
		}
		msg := make([]byte, len(body))
		copy(msg, body)
		binary.LittleEndian.PutUint64(msg[0:8], uint64(seq))
		binary.LittleEndian.PutUint64(msg[8:16], uint64(time.Since(base)))
		failed += broadcast(hub, p2p.Envelope{ChannelID: switchCh, Message: &gogotypes.BytesValue{Value: msg}})
	}
	hubDone := int64(time.Since(base))
	expected := int64(bf.n) * int64(bf.count)
	deadline := time.Now().Add(60 * time.Second)
	for atomic.LoadInt64(&delivered) < expected-int64(failed) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	var lat []int64
	for _, r := range recs {
		r.mu.Lock()
		lat = append(lat, r.lat...)
		r.mu.Unlock()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := bcastResult{
		Broadcasts: bf.count,
		Failed:     failed,
		Delivered:  atomic.LoadInt64(&delivered),
		Expected:   expected,
		HubPerSec:  float64(bf.count) / (float64(hubDone-start) / 1e9),
	}
	res.DeliverPerSc = float64(res.Delivered) / (float64(atomic.LoadInt64(&last)-start) / 1e9)
	if len(lat) > 0 {
		res.P50Ms = float64(lat[(len(lat)-1)*50/100]) / 1e6
		res.P99Ms = float64(lat[(len(lat)-1)*99/100]) / 1e6
		res.MaxMs = float64(lat[len(lat)-1]) / 1e6
	}
	benchEmit(res)
	os.Exit(0)
}

// broadcast calls sw.Broadcast and, where it reports per-peer results (a
// channel, v0.38), waits for them and counts the failed sends; v1.0's
// Broadcast returns nothing (its sends are queued, not awaited).
func broadcast(sw *p2p.Switch, e p2p.Envelope) int {
	type withResults interface {
		Broadcast(p2p.Envelope) chan bool
	}
	type withoutResults interface {
		Broadcast(p2p.Envelope)
	}
	failed := 0
	switch b := any(sw).(type) {
	case withResults:
		for ok := range b.Broadcast(e) {
			if !ok {
				failed++
			}
		}
	case withoutResults:
		b.Broadcast(e)
	}
	return failed
}

func switchHub() {
	sw, addr := listeningSwitch(p2pConfig(bf.n))
	fmt.Println("listening", addr.DialString())
	got := waitPeers(sw, bf.n, 60*time.Second+time.Duration(bf.n)*10*time.Millisecond)
	benchEmit(map[string]int{"connected": got})
	waitStdin()
}
