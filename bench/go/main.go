// Command mconn-bench-go drives CometBFT's own p2p/conn MConnection (and
// SecretConnection) for the mconn benchmark suite. It is built and run by
// `cargo run -p mconn-bench`; every role prints one JSON object on stdout
// (servers first print a "listening <addr>" line).
//
// Roles:
//
//	recv   accept one connection, measure throughput or urgent latency
//	send   dial one connection, saturate a channel (and send urgent messages)
//	node   accept -n connections (SecretConnection + NodeInfo), stay idle
//	swarm  dial -n connections (SecretConnection + NodeInfo), stay idle
//	seal   raw ChaCha20-Poly1305 seal rate on 1028-byte buffers (x/crypto)
//	switch-bcast, switch-hub  CometBFT's p2p.Switch (see switch.go)
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/libs/protoio"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
	tmp2p "github.com/cometbft/cometbft/proto/tendermint/p2p"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	bulkCh   = byte(0x40)
	urgentCh = byte(0x22)
)

var (
	role      = flag.String("role", "", "recv|send|node|swarm|seal|switch-bcast|switch-hub")
	listen    = flag.String("listen", "127.0.0.1:0", "listen address (recv, node)")
	dial      = flag.String("dial", "", "address to dial (send, swarm)")
	mode      = flag.String("mode", "throughput", "throughput|latency")
	size      = flag.Int("size", 1024, "bulk message size in bytes")
	dur       = flag.Duration("dur", time.Second, "measurement window")
	minMsgs   = flag.Int("min-msgs", 6, "throughput: at least this many messages")
	secret    = flag.Bool("secret", false, "wrap the TCP connection in a SecretConnection")
	flush     = flag.Duration("flush", 100*time.Millisecond, "flush throttle")
	sendRate  = flag.Int64("send-rate", 5120000, "send rate in B/s (0 = unlimited)")
	recvRate  = flag.Int64("recv-rate", 5120000, "recv rate in B/s (0 = unlimited)")
	ping      = flag.Duration("ping", 60*time.Second, "ping interval")
	pong      = flag.Duration("pong", 45*time.Second, "pong timeout")
	interval  = flag.Duration("interval", 5*time.Millisecond, "latency: urgent message period")
	urgentLen = flag.Int("urgent-size", 100, "latency: urgent message size")
	n         = flag.Int("n", 1, "node/swarm: connections; switch-bcast: leaves; switch-hub: peers")
	count     = flag.Int("count", 1000, "switch-bcast: messages the hub broadcasts")
	pace      = flag.Duration("pace", 0, "switch-bcast: one broadcast per this period (0 = back to back)")
)

func main() {
	flag.Parse()
	switch *role {
	case "recv":
		recv()
	case "send":
		send()
	case "node":
		node()
	case "swarm":
		swarm()
	case "seal":
		seal()
	case "switch-bcast":
		switchBcast()
	case "switch-hub":
		switchHub()
	default:
		fail(fmt.Errorf("unknown role %q", *role))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mconn-bench-go:", err)
	os.Exit(1)
}

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(b))
}

func mconnConfig() conn.MConnConfig {
	cfg := conn.DefaultMConnConfig()
	cfg.SendRate = *sendRate
	cfg.RecvRate = *recvRate
	cfg.FlushThrottle = *flush
	cfg.PingInterval = *ping
	cfg.PongTimeout = *pong
	return cfg
}

func channels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{
		{ID: urgentCh, Priority: 10, SendQueueCapacity: 100, RecvBufferCapacity: 4096, RecvMessageCapacity: 2 << 20},
		{ID: bulkCh, Priority: 1, SendQueueCapacity: 100, RecvBufferCapacity: 4096, RecvMessageCapacity: 2 << 20},
	}
}

// upgrade optionally wraps c in a SecretConnection.
func upgrade(c net.Conn) net.Conn {
	if err := c.(*net.TCPConn).SetNoDelay(true); err != nil {
		fail(err)
	}
	if !*secret {
		return c
	}
	sc, err := conn.MakeSecretConnection(c, ed25519.GenPrivKey())
	if err != nil {
		fail(err)
	}
	return sc
}

func listenOne() net.Listener {
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(err)
	}
	fmt.Println("listening", ln.Addr().String())
	return ln
}

type throughputResult struct {
	Msgs  int     `json:"msgs"`
	Bytes int64   `json:"bytes"`
	Secs  float64 `json:"secs"`
	Bps   float64 `json:"bytes_per_sec"`
}

type latencyResult struct {
	Urgent    int     `json:"urgent"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	BulkBytes int64   `json:"bulk_bytes"`
	Secs      float64 `json:"secs"`
}

func recv() {
	ln := listenOne()
	c, err := ln.Accept()
	if err != nil {
		fail(err)
	}
	c = upgrade(c)
	done := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(done) }) }

	var mu sync.Mutex
	var first, last time.Time
	msgs := 0
	var bulkBytes int64
	var lat []float64
	start := time.Now()
	onReceive := func(ch byte, msg []byte) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if *mode == "latency" {
			if ch == urgentCh && len(msg) >= 8 {
				sent := int64(binary.LittleEndian.Uint64(msg))
				lat = append(lat, float64(now.UnixNano()-sent)/1e6)
			} else {
				bulkBytes += int64(len(msg))
			}
			if now.Sub(start) >= *dur {
				finish()
			}
			return
		}
		if msgs == 0 {
			first = now
		}
		last = now
		msgs++
		if now.Sub(first) >= *dur && msgs >= *minMsgs {
			finish()
		}
	}
	onError := func(r interface{}) {
		fmt.Fprintln(os.Stderr, "mconn-bench-go recv: connection error:", r)
		finish()
	}
	mc := conn.NewMConnectionWithConfig(c, channels(), onReceive, onError, mconnConfig())
	mc.SetLogger(log.NewNopLogger())
	if err := mc.Start(); err != nil {
		fail(err)
	}
	if *mode == "latency" {
		// Ends on time even if the bulk channel is starved.
		go func() { time.Sleep(*dur + 50*time.Millisecond); finish() }()
	}
	<-done
	mu.Lock()
	if *mode == "latency" {
		sort.Float64s(lat)
		res := latencyResult{Urgent: len(lat), BulkBytes: bulkBytes, Secs: time.Since(start).Seconds()}
		if len(lat) > 0 {
			res.P50Ms = lat[(len(lat)-1)*50/100]
			res.P99Ms = lat[(len(lat)-1)*99/100]
			res.MaxMs = lat[len(lat)-1]
		}
		emit(res)
	} else {
		secs := last.Sub(first).Seconds()
		bytes := int64(msgs-1) * int64(*size)
		emit(throughputResult{Msgs: msgs, Bytes: bytes, Secs: secs, Bps: float64(bytes) / secs})
	}
	mu.Unlock()
	os.Exit(0)
}

func send() {
	c, err := net.Dial("tcp", *dial)
	if err != nil {
		fail(err)
	}
	c = upgrade(c)
	stop := make(chan struct{})
	var once sync.Once
	onError := func(r interface{}) { once.Do(func() { close(stop) }) }
	mc := conn.NewMConnectionWithConfig(c, channels(), func(byte, []byte) {}, onError, mconnConfig())
	mc.SetLogger(log.NewNopLogger())
	if err := mc.Start(); err != nil {
		fail(err)
	}
	msg := make([]byte, *size)
	for i := range msg {
		msg[i] = byte(i)
	}
	if *mode == "latency" {
		go func() {
			t := time.NewTicker(*interval)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					u := make([]byte, *urgentLen)
					binary.LittleEndian.PutUint64(u, uint64(time.Now().UnixNano()))
					mc.Send(urgentCh, u)
				}
			}
		}()
	}
	for {
		select {
		case <-stop:
			os.Exit(0)
		default:
		}
		if !mc.Send(bulkCh, msg) {
			if !mc.IsRunning() {
				os.Exit(0)
			}
		}
	}
}

// nodeInfo is a minimal valid NodeInfo for the key, compatible with mconn's
// bench side (block protocol 11, network "mconn-bench").
func nodeInfo(key ed25519.PrivKey) p2p.DefaultNodeInfo {
	return p2p.DefaultNodeInfo{
		ProtocolVersion: p2p.NewProtocolVersion(8, 11, 0),
		DefaultNodeID:   p2p.PubKeyToID(key.PubKey()),
		ListenAddr:      "tcp://127.0.0.1:26656",
		Network:         "mconn-bench",
		Version:         "0.38",
		Channels:        []byte{urgentCh, bulkCh},
		Moniker:         "go-bench",
	}
}

// authenticated runs SecretConnection, the NodeInfo exchange (as CometBFT's
// transport does: write ours, read theirs, validate) and starts an idle
// MConnection with CometBFT node defaults.
func authenticated(c net.Conn) (*conn.MConnection, error) {
	if err := c.(*net.TCPConn).SetNoDelay(true); err != nil {
		return nil, err
	}
	key := ed25519.GenPrivKey()
	sc, err := conn.MakeSecretConnection(c, key)
	if err != nil {
		return nil, err
	}
	ours := nodeInfo(key)
	errc := make(chan error, 1)
	go func() {
		_, err := protoio.NewDelimitedWriter(sc).WriteMsg(ours.ToProto())
		errc <- err
	}()
	var pb tmp2p.DefaultNodeInfo
	if _, err := protoio.NewDelimitedReader(sc, p2p.MaxNodeInfoSize()).ReadMsg(&pb); err != nil {
		return nil, err
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	theirs, err := p2p.DefaultNodeInfoFromToProto(&pb)
	if err != nil {
		return nil, err
	}
	if err := theirs.Validate(); err != nil {
		return nil, err
	}
	if err := ours.CompatibleWith(theirs); err != nil {
		return nil, err
	}
	mc := conn.NewMConnectionWithConfig(sc, channels(), func(byte, []byte) {}, func(r interface{}) {
		fmt.Fprintln(os.Stderr, "mconn-bench-go: peer error:", r)
	}, mconnConfig())
	mc.SetLogger(log.NewNopLogger())
	return mc, mc.Start()
}

func node() {
	ln := listenOne()
	var up int64
	conns := make([]*conn.MConnection, 0, *n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		c, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mc, err := authenticated(c)
			if err != nil {
				fmt.Fprintln(os.Stderr, "mconn-bench-go node: handshake:", err)
				return
			}
			atomic.AddInt64(&up, 1)
			mu.Lock()
			conns = append(conns, mc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	emit(map[string]int64{"connected": atomic.LoadInt64(&up)})
	waitStdin()
}

func swarm() {
	conns := make([]*conn.MConnection, *n)
	errs := make(chan error, *n)
	sem := make(chan struct{}, 64)
	for i := 0; i < *n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			c, err := net.Dial("tcp", *dial)
			if err == nil {
				conns[i], err = authenticated(c)
			}
			errs <- err
		}(i)
	}
	up := 0
	for i := 0; i < *n; i++ {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, "mconn-bench-go swarm:", err)
		} else {
			up++
		}
	}
	emit(map[string]int{"connected": up})
	waitStdin()
}

// waitStdin idles until the parent closes our stdin.
func waitStdin() {
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	os.Exit(0)
}

func seal() {
	aead, err := chacha20poly1305.New(make([]byte, 32))
	if err != nil {
		fail(err)
	}
	buf := make([]byte, 1028, 1028+16)
	nonce := make([]byte, 12)
	start := time.Now()
	count := 0
	for time.Since(start) < *dur {
		for i := 0; i < 256; i++ {
			aead.Seal(buf[:0], nonce, buf[:1028], nil)
			buf = buf[:1028]
		}
		count += 256
	}
	secs := time.Since(start).Seconds()
	emit(map[string]float64{"bytes_per_sec": float64(count) * 1028 / secs})
}
