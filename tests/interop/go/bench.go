// The benchmark modes (`interop bench -role ROLE ...`): CometBFT's own
// p2p/conn MConnection and SecretConnection for the mconn benchmark suite
// (`cargo run -p mconn-bench`). Every role prints one JSON object on stdout
// (servers first print a "listening <addr>" line); flags have their own set,
// separate from the interop scenarios'.
//
// Roles:
//
//	recv       accept one connection, measure throughput or urgent latency
//	send       dial one connection, saturate a channel (and send urgent messages)
//	node       accept -n connections (SecretConnection + NodeInfo), stay idle
//	swarm      dial -n connections (SecretConnection + NodeInfo), stay idle
//	seal       raw ChaCha20-Poly1305 seal rate on 1028-byte buffers (x/crypto)
//	hs-listen  accept handshakes concurrently until stdin closes (see benchhs.go)
//	hs-dial    -k concurrent dialers run handshakes for -dur (see benchhs.go)
//	switch-bcast, switch-hub  CometBFT's p2p.Switch (see benchswitch.go)
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
	"github.com/cosmos/gogoproto/proto"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	bulkCh   = byte(0x40)
	urgentCh = byte(0x22)
)

// benchFlags are the bench roles' settings.
type benchFlags struct {
	role      string
	listen    string
	dial      string
	mode      string
	size      int
	dur       time.Duration
	minMsgs   int
	secret    bool
	flush     time.Duration
	sendRate  int64
	recvRate  int64
	ping      time.Duration
	pong      time.Duration
	interval  time.Duration
	urgentLen int
	n         int
	k         int
	sources   int
	count     int
	pace      time.Duration
}

var bf benchFlags

// benchMain runs one bench role with args (everything after "bench").
func benchMain(args []string) {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&bf.role, "role", "", "recv|send|node|swarm|seal|hs-listen|hs-dial|switch-bcast|switch-hub")
	fs.StringVar(&bf.listen, "listen", "127.0.0.1:0", "listen address (recv, node, hs-listen)")
	fs.StringVar(&bf.dial, "dial", "", "address to dial (send, swarm, hs-dial)")
	fs.StringVar(&bf.mode, "mode", "throughput", "throughput|latency")
	fs.IntVar(&bf.size, "size", 1024, "bulk message size in bytes")
	fs.DurationVar(&bf.dur, "dur", time.Second, "measurement window")
	fs.IntVar(&bf.minMsgs, "min-msgs", 6, "throughput: at least this many messages")
	fs.BoolVar(&bf.secret, "secret", false, "wrap the TCP connection in a SecretConnection")
	fs.DurationVar(&bf.flush, "flush", 100*time.Millisecond, "flush throttle")
	fs.Int64Var(&bf.sendRate, "send-rate", 5120000, "send rate in B/s (0 = unlimited)")
	fs.Int64Var(&bf.recvRate, "recv-rate", 5120000, "recv rate in B/s (0 = unlimited)")
	fs.DurationVar(&bf.ping, "ping", 60*time.Second, "ping interval")
	fs.DurationVar(&bf.pong, "pong", 45*time.Second, "pong timeout")
	fs.DurationVar(&bf.interval, "interval", 5*time.Millisecond, "latency: urgent message period")
	fs.IntVar(&bf.urgentLen, "urgent-size", 100, "latency: urgent message size")
	fs.IntVar(&bf.n, "n", 1, "node/swarm: connections; switch-bcast: leaves; switch-hub: peers")
	fs.IntVar(&bf.k, "k", 16, "hs-dial: concurrent dialers")
	fs.IntVar(&bf.sources, "sources", 1, "swarm: spread connections over 127.0.0.1 .. 127.0.0.<sources>")
	fs.IntVar(&bf.count, "count", 1000, "switch-bcast: messages the hub broadcasts")
	fs.DurationVar(&bf.pace, "pace", 0, "switch-bcast: one broadcast per this period (0 = back to back)")
	if err := fs.Parse(args); err != nil {
		benchFail(err)
	}
	switch bf.role {
	case "recv":
		benchRecv()
	case "send":
		benchSend()
	case "node":
		benchNode()
	case "swarm":
		benchSwarm()
	case "seal":
		benchSeal()
	case "hs-listen":
		hsListen()
	case "hs-dial":
		hsDial()
	case "switch-bcast":
		switchBcast()
	case "switch-hub":
		switchHub()
	default:
		benchFail(fmt.Errorf("unknown role %q", bf.role))
	}
}

func benchFail(err error) {
	fmt.Fprintln(os.Stderr, "interop bench:", err)
	os.Exit(1)
}

// benchEmit prints v as one JSON line.
func benchEmit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		benchFail(err)
	}
	fmt.Println(string(b))
}

func benchMConnConfig() conn.MConnConfig {
	cfg := conn.DefaultMConnConfig()
	cfg.SendRate = bf.sendRate
	cfg.RecvRate = bf.recvRate
	cfg.FlushThrottle = bf.flush
	cfg.PingInterval = bf.ping
	cfg.PongTimeout = bf.pong
	return cfg
}

// benchChannels: urgent (priority 10) and bulk (priority 1), as on the
// Rust side.
func benchChannels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{
		{ID: urgentCh, Priority: 10, SendQueueCapacity: 100, RecvBufferCapacity: 4096, RecvMessageCapacity: 2 << 20},
		{ID: bulkCh, Priority: 1, SendQueueCapacity: 100, RecvBufferCapacity: 4096, RecvMessageCapacity: 2 << 20},
	}
}

// benchUpgrade optionally wraps c in a SecretConnection.
func benchUpgrade(c net.Conn) net.Conn {
	if err := c.(*net.TCPConn).SetNoDelay(true); err != nil {
		benchFail(err)
	}
	if !bf.secret {
		return c
	}
	sc, err := conn.MakeSecretConnection(c, ed25519.GenPrivKey())
	if err != nil {
		benchFail(err)
	}
	return sc
}

func benchListen() net.Listener {
	ln, err := net.Listen("tcp", bf.listen)
	if err != nil {
		benchFail(err)
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

func benchRecv() {
	ln := benchListen()
	c, err := ln.Accept()
	if err != nil {
		benchFail(err)
	}
	c = benchUpgrade(c)
	done := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(done) }) }

	var mu sync.Mutex
	var first, last time.Time
	msgs := 0
	var bulkBytes int64
	var lat []float64
	start := time.Now()
	latency := bf.mode == "latency"
	onReceive := func(ch byte, msg []byte) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if latency {
			if ch == urgentCh && len(msg) >= 8 {
				sent := int64(binary.LittleEndian.Uint64(msg))
				lat = append(lat, float64(now.UnixNano()-sent)/1e6)
			} else {
				bulkBytes += int64(len(msg))
			}
			if now.Sub(start) >= bf.dur {
				finish()
			}
			return
		}
		if msgs == 0 {
			first = now
		}
		last = now
		msgs++
		if now.Sub(first) >= bf.dur && msgs >= bf.minMsgs {
			finish()
		}
	}
	onError := func(r interface{}) {
		fmt.Fprintln(os.Stderr, "interop bench recv: connection error:", r)
		finish()
	}
	mc := conn.NewMConnectionWithConfig(c, benchChannels(), onReceive, onError, benchMConnConfig())
	mc.SetLogger(log.NewNopLogger())
	if err := mc.Start(); err != nil {
		benchFail(err)
	}
	if latency {
		// Ends on time even if the bulk channel is starved.
		go func() { time.Sleep(bf.dur + 50*time.Millisecond); finish() }()
	}
	<-done
	mu.Lock()
	if latency {
		sort.Float64s(lat)
		res := latencyResult{Urgent: len(lat), BulkBytes: bulkBytes, Secs: time.Since(start).Seconds()}
		if len(lat) > 0 {
			res.P50Ms = lat[(len(lat)-1)*50/100]
			res.P99Ms = lat[(len(lat)-1)*99/100]
			res.MaxMs = lat[len(lat)-1]
		}
		benchEmit(res)
	} else {
		secs := last.Sub(first).Seconds()
		bytes := int64(msgs-1) * int64(bf.size)
		benchEmit(throughputResult{Msgs: msgs, Bytes: bytes, Secs: secs, Bps: float64(bytes) / secs})
	}
	mu.Unlock()
	os.Exit(0)
}

func benchSend() {
	c, err := net.Dial("tcp", bf.dial)
	if err != nil {
		benchFail(err)
	}
	c = benchUpgrade(c)
	stop := make(chan struct{})
	var once sync.Once
	onError := func(r interface{}) { once.Do(func() { close(stop) }) }
	mc := conn.NewMConnectionWithConfig(c, benchChannels(), func(byte, []byte) {}, onError, benchMConnConfig())
	mc.SetLogger(log.NewNopLogger())
	if err := mc.Start(); err != nil {
		benchFail(err)
	}
	msg := make([]byte, bf.size)
	for i := range msg {
		msg[i] = byte(i)
	}
	if bf.mode == "latency" {
		go func() {
			t := time.NewTicker(bf.interval)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					u := make([]byte, bf.urgentLen)
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

// benchNodeInfo is a minimal valid NodeInfo for the key, compatible with
// mconn's bench side (block protocol 11, network "mconn-bench").
func benchNodeInfo(key ed25519.PrivKey) p2p.DefaultNodeInfo {
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

// readNodeInfo reads one length-delimited NodeInfo message and converts it
// with from (p2p.DefaultNodeInfoFromToProto). Generic over the protobuf
// type, whose package differs between CometBFT lines.
func readNodeInfo[P any, PP interface {
	*P
	proto.Message
}](r io.Reader, from func(PP) (p2p.DefaultNodeInfo, error)) (p2p.DefaultNodeInfo, error) {
	var pb P
	if _, err := protoio.NewDelimitedReader(r, p2p.MaxNodeInfoSize()).ReadMsg(PP(&pb)); err != nil {
		return p2p.DefaultNodeInfo{}, err
	}
	return from(&pb)
}

// authenticated runs SecretConnection with key, the NodeInfo exchange (as
// CometBFT's transport does: write ours, read theirs, validate) and starts
// an idle MConnection with CometBFT node defaults. onError: the
// MConnection's error callback (nil: log to stderr).
func authenticated(c net.Conn, key ed25519.PrivKey, onError func(interface{})) (*conn.MConnection, error) {
	if err := c.(*net.TCPConn).SetNoDelay(true); err != nil {
		return nil, err
	}
	sc, err := conn.MakeSecretConnection(c, key)
	if err != nil {
		return nil, err
	}
	ours := benchNodeInfo(key)
	errc := make(chan error, 1)
	go func() {
		_, err := protoio.NewDelimitedWriter(sc).WriteMsg(ours.ToProto())
		errc <- err
	}()
	theirs, err := readNodeInfo(sc, p2p.DefaultNodeInfoFromToProto)
	if err != nil {
		return nil, err
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	if err := theirs.Validate(); err != nil {
		return nil, err
	}
	if err := ours.CompatibleWith(theirs); err != nil {
		return nil, err
	}
	if onError == nil {
		onError = func(r interface{}) {
			fmt.Fprintln(os.Stderr, "interop bench: peer error:", r)
		}
	}
	mc := conn.NewMConnectionWithConfig(sc, benchChannels(), func(byte, []byte) {}, onError, benchMConnConfig())
	mc.SetLogger(log.NewNopLogger())
	return mc, mc.Start()
}

// handshakePatience bounds one connection's handshake in node and swarm.
const handshakePatience = 60 * time.Second

func benchNode() {
	ln := benchListen()
	var up int64
	conns := make([]*conn.MConnection, 0, bf.n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < bf.n; i++ {
		c, err := ln.Accept()
		if err != nil {
			benchFail(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetDeadline(time.Now().Add(handshakePatience))
			mc, err := authenticated(c, ed25519.GenPrivKey(), nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "interop bench node: handshake:", err)
				return
			}
			_ = c.SetDeadline(time.Time{})
			atomic.AddInt64(&up, 1)
			mu.Lock()
			conns = append(conns, mc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	benchEmit(map[string]int64{"connected": atomic.LoadInt64(&up)})
	waitStdin()
}

// swarmDialer dials from 127.0.0.<1 + i % sources>, so that more
// connections than one source address has ephemeral ports can reach one
// listener.
func swarmDialer(i int) *net.Dialer {
	d := &net.Dialer{Timeout: handshakePatience}
	if bf.sources > 1 {
		ip := net.IPv4(127, 0, 0, byte(1+i%bf.sources))
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

func benchSwarm() {
	conns := make([]*conn.MConnection, bf.n)
	errs := make(chan error, bf.n)
	sem := make(chan struct{}, 64)
	for i := 0; i < bf.n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			c, err := swarmDialer(i).Dial("tcp", bf.dial)
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(handshakePatience))
				conns[i], err = authenticated(c, ed25519.GenPrivKey(), nil)
				_ = c.SetDeadline(time.Time{})
			}
			errs <- err
		}(i)
	}
	up := 0
	for i := 0; i < bf.n; i++ {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, "interop bench swarm:", err)
		} else {
			up++
		}
	}
	benchEmit(map[string]int{"connected": up})
	waitStdin()
}

// waitStdin idles until the parent closes our stdin.
func waitStdin() {
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	os.Exit(0)
}

func benchSeal() {
	aead, err := chacha20poly1305.New(make([]byte, 32))
	if err != nil {
		benchFail(err)
	}
	buf := make([]byte, 1028, 1028+16)
	nonce := make([]byte, 12)
	start := time.Now()
	count := 0
	for time.Since(start) < bf.dur {
		for i := 0; i < 256; i++ {
			aead.Seal(buf[:0], nonce, buf[:1028], nil)
			buf = buf[:1028]
		}
		count += 256
	}
	secs := time.Since(start).Seconds()
	benchEmit(map[string]float64{"bytes_per_sec": float64(count) * 1028 / secs})
}
