// Command interop runs one side of an mconn interop scenario with CometBFT's
// own p2p packages (fetched as a Go module; see README.md next to this file).
//
// The same source builds against each supported CometBFT line: go.mod pins
// v0.38.x, v1.mod pins v1.0.x (`go build -modfile v1.mod`). Everything it
// uses has the same import path and API in both lines.
//
// It prints one JSON object per line on stdout (events, see emit) and logs
// to stderr. Scenarios:
//
//	mconn   Go's MConnection directly over plaintext TCP
//	secret  MakeSecretConnection, then MConnection on top
//	switch  MultiplexTransport + Switch with a test reactor (NodeInfo exchange)
//	book-write  pex.AddrBook: add, mark and save addresses, print the saved entries
//	book-read   pex.AddrBook: load a book file (OnStart), print what it holds
//	addr-class  NetAddress.Valid/Local/Routable and the book's group keys of IPs
//	pex     a node with CometBFT's PEX reactor and address book
//
// Keepalive and rejection runs are these scenarios with other flags.
//
// `interop bench -role ROLE ...` runs one side of a benchmark for
// mconn-bench instead (bench.go, benchhs.go, benchswitch.go; own flags and
// output, no events).
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
)

type options struct {
	scenario  string
	listen    bool
	connect   string
	seed      []byte
	peerID    string
	network   string
	moniker   string
	channels  []*conn.ChannelDescriptor
	sendPlan  plan
	recvPlan  plan
	sendSalt  uint64
	recvSalt  uint64
	ping      time.Duration
	pong      time.Duration
	flush     time.Duration
	rate      int64
	muteAfter time.Duration
	pace      time.Duration
	hold      time.Duration
	closeMode string
	refuse    []byte
	timeout   time.Duration
	port      int
	broadcast bool
	book      string
	bookSpec  string
	ips       string
	strict    bool
	tzOffset  time.Duration
	bookAddrs string
	seeds     string
	ensure    time.Duration
}

// offline scenarios run without a peer (no -listen / -connect).
func offline(scenario string) bool {
	switch scenario {
	case "book-write", "book-read", "addr-class":
		return true
	}
	return false
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		benchMain(os.Args[2:])
		return
	}
	o := parseFlags()
	emit("start", kv{"scenario": o.scenario, "cometbft": cometbftVersion(), "id": string(nodeID(o.seed))})
	go func() {
		time.Sleep(o.timeout)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		emit("error", kv{"msg": fmt.Sprintf("timed out after %v", o.timeout)})
		os.Exit(3)
	}()
	var err error
	switch o.scenario {
	case "mconn", "secret":
		err = runConn(o)
	case "switch":
		err = runSwitch(o)
	case "book-write":
		err = runBookWrite(o)
	case "book-read":
		err = runBookRead(o)
	case "addr-class":
		err = runAddrClass(o)
	case "pex":
		err = runPex(o)
	case "node":
		err = runNode(o)
	default:
		err = fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if err != nil {
		emit("error", kv{"msg": err.Error()})
		os.Exit(1)
	}
	emit("exit", kv{"ok": true})
}

func parseFlags() options {
	var o options
	var seed, channels, sendPlan, recvPlan, refuse string
	flag.StringVar(&o.scenario, "scenario", "mconn", "mconn | secret | switch | book-write | book-read | addr-class | pex")
	flag.BoolVar(&o.listen, "listen", false, "listen on 127.0.0.1 (ephemeral port, printed)")
	flag.StringVar(&o.connect, "connect", "", "dial this host:port")
	flag.StringVar(&seed, "seed", "", "hex ed25519 seed (32 bytes) of our node key")
	flag.StringVar(&o.peerID, "peer-id", "", "ID expected from the peer / dialed (switch)")
	flag.StringVar(&o.network, "network", "mconn-interop", "NodeInfo network")
	flag.StringVar(&o.moniker, "moniker", "go-peer", "NodeInfo moniker")
	flag.StringVar(&channels, "channels", "20:1:1:1048576", "id:priority:sendQueue:recvMessageCap,... (hex id)")
	flag.StringVar(&sendPlan, "send", "", "messages to send: ch:len,len;ch:len (hex ch)")
	flag.StringVar(&recvPlan, "recv", "", "messages expected from the peer, same format")
	flag.Uint64Var(&o.sendSalt, "send-salt", 1, "content salt of what we send")
	flag.Uint64Var(&o.recvSalt, "recv-salt", 2, "content salt of what we receive")
	flag.DurationVar(&o.ping, "ping", 60*time.Second, "MConnConfig.PingInterval")
	flag.DurationVar(&o.pong, "pong", 45*time.Second, "MConnConfig.PongTimeout")
	flag.DurationVar(&o.flush, "flush", 0, "MConnConfig.FlushThrottle (0: the line's default)")
	flag.Int64Var(&o.rate, "rate", 20_000_000, "MConnConfig.SendRate and RecvRate, bytes/s")
	flag.DurationVar(&o.muteAfter, "mute-after", 0, "stop reading and writing the socket this long after connecting")
	flag.DurationVar(&o.pace, "pace", 0, "pause between two messages of one channel")
	flag.DurationVar(&o.hold, "hold", 0, "keep the connection at least this long after the traffic (pex: run this long)")
	flag.StringVar(&o.closeMode, "close", "peer", "who ends the connection: peer (wait for it) | flush (FlushStop) ")
	flag.StringVar(&refuse, "try-send", "", "hex channel ids to try sending on that the peer lacks (switch)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	flag.IntVar(&o.port, "port", 0, "listen on this loopback port (0: a free one)")
	flag.BoolVar(&o.broadcast, "broadcast", false, "send with Switch.Broadcast instead of Peer.Send (switch)")
	flag.StringVar(&o.book, "book", "", "address book file (book-write, book-read)")
	flag.StringVar(&o.bookSpec, "book-spec", "", "JSON: what book-write adds and marks")
	flag.StringVar(&o.ips, "ips", "", "comma-separated IPs (addr-class)")
	flag.BoolVar(&o.strict, "strict", true, "addr_book_strict (book-write, book-read)")
	flag.DurationVar(&o.tzOffset, "tz-offset", 0, "run in a fixed local time zone this far east of UTC")
	flag.StringVar(&o.bookAddrs, "book-addrs", "", "id@ip:port,... put in the book first (pex)")
	flag.StringVar(&o.seeds, "seeds", "", "id@ip:port,... the PEX reactor's seeds (pex)")
	flag.DurationVar(&o.ensure, "ensure", 30*time.Second, "PEX ensurePeers period (pex)")
	flag.Parse()
	if o.tzOffset != 0 {
		time.Local = time.FixedZone("interop", int(o.tzOffset.Seconds()))
	}

	var err error
	if seed == "" && offline(o.scenario) {
		seed = strings.Repeat("00", 32)
	}
	if o.seed, err = hex.DecodeString(seed); err != nil || len(o.seed) != 32 {
		fatalf("-seed must be 64 hex chars")
	}
	if o.channels, err = parseChannels(channels); err != nil {
		fatalf("-channels: %v", err)
	}
	if o.sendPlan, err = parsePlan(sendPlan); err != nil {
		fatalf("-send: %v", err)
	}
	if o.recvPlan, err = parsePlan(recvPlan); err != nil {
		fatalf("-recv: %v", err)
	}
	if refuse != "" {
		if o.refuse, err = hex.DecodeString(refuse); err != nil {
			fatalf("-try-send: %v", err)
		}
	}
	if o.listen == (o.connect != "") && !offline(o.scenario) {
		fatalf("exactly one of -listen and -connect")
	}
	return o
}

func fatalf(format string, args ...any) {
	emit("error", kv{"msg": fmt.Sprintf(format, args...)})
	os.Exit(2)
}

// ---- output ----

type kv map[string]any

var outMu sync.Mutex

// emit prints {"ev": ev, ...fields} as one line on stdout.
func emit(ev string, fields kv) {
	if fields == nil {
		fields = kv{}
	}
	fields["ev"] = ev
	line, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

// cometbftVersion is the CometBFT module version this binary was built with.
func cometbftVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "github.com/cometbft/cometbft" {
				return m.Version
			}
		}
	}
	return "unknown"
}

// ---- keys ----

func privKey(seed []byte) cmted25519.PrivKey {
	return cmted25519.PrivKey(ed25519.NewKeyFromSeed(seed))
}

func nodeID(seed []byte) p2p.ID {
	return p2p.PubKeyToID(privKey(seed).PubKey())
}

// ---- channels, plans, content ----

func parseChannels(s string) ([]*conn.ChannelDescriptor, error) {
	var out []*conn.ChannelDescriptor
	for _, item := range strings.Split(s, ",") {
		f := strings.Split(item, ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("bad channel %q", item)
		}
		id, err := strconv.ParseUint(f[0], 16, 8)
		if err != nil {
			return nil, err
		}
		var n [3]int
		for i := range n {
			if n[i], err = strconv.Atoi(f[i+1]); err != nil {
				return nil, err
			}
		}
		out = append(out, &conn.ChannelDescriptor{
			ID:                  byte(id),
			Priority:            n[0],
			SendQueueCapacity:   n[1],
			RecvBufferCapacity:  4096,
			RecvMessageCapacity: n[2],
		})
	}
	return out, nil
}

// plan: message lengths per channel, in order.
type plan map[byte][]int

func parsePlan(s string) (plan, error) {
	p := plan{}
	if s == "" {
		return p, nil
	}
	for _, item := range strings.Split(s, ";") {
		chS, lens, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("bad plan item %q", item)
		}
		ch, err := strconv.ParseUint(chS, 16, 8)
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(lens, ",") {
			n, err := strconv.Atoi(l)
			if err != nil {
				return nil, err
			}
			p[byte(ch)] = append(p[byte(ch)], n)
		}
	}
	return p, nil
}

func (p plan) channels() []byte {
	var chs []byte
	for ch := range p {
		chs = append(chs, ch)
	}
	sort.Slice(chs, func(i, j int) bool { return chs[i] < chs[j] })
	return chs
}

func (p plan) totals() (msgs, bytes int) {
	for _, lens := range p {
		for _, l := range lens {
			msgs++
			bytes += l
		}
	}
	return
}

// content is message idx (of length n) on channel ch: a splitmix64 stream,
// little-endian, seeded from (salt, ch, idx, n). The Rust side has the same.
func content(salt uint64, ch byte, idx, n int) []byte {
	s := salt ^ uint64(ch)<<48 ^ uint64(idx)<<24 ^ uint64(n)
	out := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		binary.LittleEndian.PutUint64(out[i:], z)
	}
	return out[:n]
}

// checker verifies received messages against the plan, per channel in order.
type checker struct {
	mu       sync.Mutex
	plan     plan
	salt     uint64
	next     map[byte]int
	msgs     int
	bytes    int
	bad      int
	want     int
	complete chan struct{}
	once     sync.Once
}

func newChecker(p plan, salt uint64) *checker {
	c := &checker{plan: p, salt: salt, next: map[byte]int{}, complete: make(chan struct{})}
	c.want, _ = p.totals()
	if c.want == 0 {
		c.once.Do(func() { close(c.complete) })
	}
	return c
}

func (c *checker) receive(ch byte, msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.next[ch]
	c.next[ch] = idx + 1
	sum := sha256.Sum256(msg)
	ok := false
	if lens := c.plan[ch]; idx < len(lens) && lens[idx] == len(msg) {
		ok = sha256.Sum256(content(c.salt, ch, idx, len(msg))) == sum
	}
	c.msgs++
	c.bytes += len(msg)
	if !ok {
		c.bad++
	}
	emit("recv", kv{"ch": ch, "idx": idx, "len": len(msg), "sha256": hex.EncodeToString(sum[:]), "ok": ok})
	if c.msgs == c.want {
		emit("recv_done", kv{"msgs": c.msgs, "bytes": c.bytes, "bad": c.bad})
		c.once.Do(func() { close(c.complete) })
	}
}

// sendAll sends the plan, one goroutine per channel (so channels interleave),
// through send (which blocks like MConnection.Send). Reports "sent" when every
// message was accepted.
func sendAll(p plan, salt uint64, pace time.Duration, send func(ch byte, msg []byte) bool) bool {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for _, ch := range p.channels() {
		wg.Add(1)
		go func(ch byte, lens []int) {
			defer wg.Done()
			for idx, n := range lens {
				if idx > 0 && pace > 0 {
					time.Sleep(pace)
				}
				if !send(ch, content(salt, ch, idx, n)) {
					mu.Lock()
					failed++
					mu.Unlock()
					emit("send_failed", kv{"ch": ch, "idx": idx, "len": n})
					return
				}
			}
		}(ch, p[ch])
	}
	wg.Wait()
	msgs, bytes := p.totals()
	emit("sent", kv{"msgs": msgs, "bytes": bytes, "failed": failed})
	return failed == 0
}

// ---- sockets ----

// listenOnce accepts one TCP connection on an ephemeral loopback port.
func listenOnce() (net.Conn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	emit("listening", kv{"addr": ln.Addr().String()})
	return ln.Accept()
}

// freePort reserves and releases an ephemeral loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// muteConn stops passing bytes either way once muted: reads block until
// Close, writes are swallowed. A peer sees a live socket that never answers.
type muteConn struct {
	net.Conn
	muted  chan struct{}
	closed chan struct{}
	once   sync.Once
	mute   sync.Once
}

func newMuteConn(c net.Conn) *muteConn {
	return &muteConn{Conn: c, muted: make(chan struct{}), closed: make(chan struct{})}
}

func (m *muteConn) Mute() { m.mute.Do(func() { close(m.muted) }) }

func (m *muteConn) Read(b []byte) (int, error) {
	select {
	case <-m.muted:
		<-m.closed
		return 0, net.ErrClosed
	default:
	}
	return m.Conn.Read(b)
}

func (m *muteConn) Write(b []byte) (int, error) {
	select {
	case <-m.muted:
		return len(b), nil
	default:
	}
	return m.Conn.Write(b)
}

// Close unblocks reads; once muted the socket itself stays open (a hung
// peer does not close it) until the process exits.
func (m *muteConn) Close() error {
	m.once.Do(func() { close(m.closed) })
	select {
	case <-m.muted:
		return nil
	default:
	}
	return m.Conn.Close()
}

func mconnConfig(o options) conn.MConnConfig {
	cfg := conn.DefaultMConnConfig()
	cfg.PingInterval = o.ping
	cfg.PongTimeout = o.pong
	if o.flush > 0 {
		cfg.FlushThrottle = o.flush
	}
	cfg.SendRate = o.rate
	cfg.RecvRate = o.rate
	return cfg
}

func mconnSettings(cfg conn.MConnConfig) kv {
	return kv{
		"ping": cfg.PingInterval.String(), "pong": cfg.PongTimeout.String(),
		"flush": cfg.FlushThrottle.String(), "rate": cfg.SendRate,
		"max_payload": cfg.MaxPacketMsgPayloadSize,
	}
}
