package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
)

// runConn: scenarios "mconn" (plaintext) and "secret" (SecretConnection):
// Go's MConnection on one TCP connection, no NodeInfo.
func runConn(o options) error {
	var raw net.Conn
	var err error
	if o.listen {
		raw, err = listenOnce()
	} else {
		raw, err = net.DialTimeout("tcp", o.connect, 5*time.Second)
	}
	if err != nil {
		return err
	}
	mc := newMuteConn(raw)
	defer mc.Close()
	var stream net.Conn = mc
	if o.scenario == "secret" {
		_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
		sc, err := conn.MakeSecretConnection(mc, privKey(o.seed))
		if err != nil {
			emit("rejected", kv{"reason": "secret connection: " + err.Error()})
			return nil
		}
		_ = raw.SetDeadline(time.Time{})
		remote := p2p.PubKeyToID(sc.RemotePubKey())
		emit("secret", kv{"remote_id": string(remote)})
		if o.peerID != "" && string(remote) != o.peerID {
			emit("rejected", kv{"reason": fmt.Sprintf("authenticated ID %s, expected %s", remote, o.peerID)})
			return nil
		}
		stream = sc
	}

	chk := newChecker(o.recvPlan, o.recvSalt)
	closed := make(chan string, 1)
	onError := func(r any) {
		select {
		case closed <- fmt.Sprint(r):
		default:
		}
	}
	cfg := mconnConfig(o)
	m := conn.NewMConnectionWithConfig(stream, o.channels, chk.receive, onError, cfg)
	m.SetLogger(newLogger("mconn", nil))
	if err := m.Start(); err != nil {
		return err
	}
	emit("connected", kv{"config": mconnSettings(cfg)})
	start := time.Now()
	if o.muteAfter > 0 {
		time.AfterFunc(o.muteAfter, func() {
			mc.Mute()
			emit("muted", kv{"after_ms": time.Since(start).Milliseconds()})
		})
	}
	sent := make(chan bool, 1)
	go func() { sent <- sendAll(o.sendPlan, o.sendSalt, o.pace, m.Send) }()

	// Traffic, then the hold time, unless the connection dies first.
	for pending := 2; pending > 0; pending-- {
		select {
		case <-chk.complete:
			chk.complete = nil
		case <-sent:
			sent = nil
		case reason := <-closed:
			return reportClosed(m, start, reason, o, mc)
		}
	}
	if o.hold > 0 {
		select {
		case <-time.After(o.hold - time.Since(start)):
		case reason := <-closed:
			return reportClosed(m, start, reason, o, mc)
		}
	}
	emit("done", kv{"elapsed_ms": time.Since(start).Milliseconds()})
	if o.closeMode == "flush" {
		m.FlushStop()
		emit("closed", kv{"reason": "local FlushStop", "by": "us"})
		return nil
	}
	return reportClosed(m, start, <-closed, o, mc)
}

func reportClosed(m *conn.MConnection, start time.Time, reason string, o options, mc *muteConn) error {
	_ = m.Stop()
	emit("closed", kv{"reason": reason, "by": "peer_or_error", "after_ms": time.Since(start).Milliseconds()})
	select {
	case <-mc.muted:
		// Play dead until the hold time is over: the socket stays open.
		time.Sleep(o.hold - time.Since(start))
	default:
	}
	return nil
}

// ---- logging ----

// logger writes Info and Error lines to stderr (Debug is per packet and
// dropped) and hands every line to hook, which the Switch scenarios use to
// turn rejections into events.
type logger struct {
	prefix string
	kvs    []any
	hook   func(level, msg string, kvs []any)
}

var logMu sync.Mutex

func newLogger(prefix string, hook func(level, msg string, kvs []any)) log.Logger {
	return &logger{prefix: prefix, hook: hook}
}

func (l *logger) Debug(msg string, kvs ...any) { l.log("D", msg, kvs) }
func (l *logger) Info(msg string, kvs ...any)  { l.log("I", msg, kvs) }
func (l *logger) Error(msg string, kvs ...any) { l.log("E", msg, kvs) }

func (l *logger) With(kvs ...any) log.Logger {
	return &logger{prefix: l.prefix, kvs: append(append([]any{}, l.kvs...), kvs...), hook: l.hook}
}

func (l *logger) log(level, msg string, kvs []any) {
	all := append(append([]any{}, l.kvs...), kvs...)
	if l.hook != nil {
		l.hook(level, msg, all)
	}
	if level == "D" {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s: %s", time.Now().Format("15:04:05.000"), level, l.prefix, msg)
	for i := 0; i+1 < len(all); i += 2 {
		fmt.Fprintf(&b, " %v=%v", all[i], all[i+1])
	}
	logMu.Lock()
	fmt.Fprintln(os.Stderr, b.String())
	logMu.Unlock()
}

// kvLookup returns the value of key in a key/value list.
func kvLookup(kvs []any, key string) (any, bool) {
	for i := 0; i+1 < len(kvs); i += 2 {
		if k, ok := kvs[i].(string); ok && k == key {
			return kvs[i+1], true
		}
	}
	return nil, false
}
