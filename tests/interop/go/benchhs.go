// Handshake rate: SecretConnection + NodeInfo exchange + MConnection start,
// both ends measured, one node key per process (as a node has).
//
//	hs-listen  accept connections and run each handshake in its own
//	           goroutine (as CometBFT's transport does), then stop the
//	           MConnection (closing the connection). Prints "listening
//	           <addr>", then, once stdin closes, {"handshakes": N,
//	           "failed": F}.
//	hs-dial    -k goroutines, each dialing and handshaking back to back
//	           until -dur has passed; a handshake counts once
//	           authenticated and the listener closed the connection. (The
//	           NodeInfo write is synchronous here, so the listener may
//	           close as soon as it is through.)
//	           Prints {"handshakes": N, "failed": F, "secs": S,
//	           "per_sec": N/S}; S runs until the last handshake in flight
//	           at the end of -dur completed.
package main

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
)

// hsPatience bounds one handshake.
const hsPatience = 10 * time.Second

func hsListen() {
	ln := benchListen()
	key := ed25519.GenPrivKey()
	var done, failed int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(hsPatience))
				mc, err := authenticated(c, key, func(interface{}) {})
				if err != nil {
					atomic.AddInt64(&failed, 1)
					_ = c.Close()
					return
				}
				atomic.AddInt64(&done, 1)
				_ = mc.Stop()
			}()
		}
	}()
	waitStdinThen(func() {
		benchEmit(map[string]int64{"handshakes": atomic.LoadInt64(&done), "failed": atomic.LoadInt64(&failed)})
	})
}

func hsDial() {
	key := ed25519.GenPrivKey()
	var done, failed int64
	start := time.Now()
	deadline := start.Add(bf.dur)
	var wg sync.WaitGroup
	for i := 0; i < bf.k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := net.DialTimeout("tcp", bf.dial, hsPatience)
				if err != nil {
					atomic.AddInt64(&failed, 1)
					fmt.Fprintln(os.Stderr, "interop bench hs-dial:", err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_ = c.SetDeadline(time.Now().Add(hsPatience))
				ended := make(chan struct{})
				var once sync.Once
				mc, err := authenticated(c, key, func(interface{}) { once.Do(func() { close(ended) }) })
				if err != nil {
					atomic.AddInt64(&failed, 1)
					_ = c.Close()
					continue
				}
				// The listener closes once it is through.
				select {
				case <-ended:
				case <-time.After(hsPatience):
				}
				_ = mc.Stop()
				atomic.AddInt64(&done, 1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	n := atomic.LoadInt64(&done)
	benchEmit(map[string]interface{}{
		"handshakes": n, "failed": atomic.LoadInt64(&failed), "secs": secs, "per_sec": float64(n) / secs,
	})
	os.Exit(0)
}

// waitStdinThen idles until the parent closes our stdin, runs last, exits.
func waitStdinThen(last func()) {
	buf := make([]byte, 512)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			break
		}
	}
	last()
	os.Exit(0)
}
