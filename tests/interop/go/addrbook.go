package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	_ "unsafe" // go:linkname

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/pex"
)

// groupKeyFor is the address book's network group of an address
// (p2p/pex/addrbook.go, unexported, same signature in v0.38 and v1): called
// here through the linker, so the printed groups are CometBFT's own.
//
//go:linkname groupKeyFor github.com/cometbft/cometbft/p2p/pex.groupKeyFor
func groupKeyFor(na *p2p.NetAddress, routabilityStrict bool) string

// bookSpec is what book-write does, in order, to each address.
type bookSpec struct {
	Entries []struct {
		Addr     string `json:"addr"`
		Src      string `json:"src"`
		Good     bool   `json:"good"`
		Attempts int    `json:"attempts"`
		Bad      bool   `json:"bad"`
	} `json:"entries"`
}

// savedBook is addrbook.json as the book writes it (knownAddress is
// unexported; its fields and JSON names are public).
type savedBook struct {
	Key   string `json:"key"`
	Addrs []struct {
		Addr        *p2p.NetAddress `json:"addr"`
		Src         *p2p.NetAddress `json:"src"`
		Buckets     []int           `json:"buckets"`
		Attempts    int32           `json:"attempts"`
		BucketType  byte            `json:"bucket_type"`
		LastAttempt time.Time       `json:"last_attempt"`
		LastSuccess time.Time       `json:"last_success"`
		LastBanTime time.Time       `json:"last_ban_time"`
	} `json:"addrs"`
}

func startBook(o options) (pex.AddrBook, error) {
	if o.book == "" {
		return nil, fmt.Errorf("-book is required")
	}
	book := pex.NewAddrBook(o.book, o.strict)
	book.SetLogger(newLogger("addrbook", nil))
	if err := book.Start(); err != nil {
		return nil, err
	}
	return book, nil
}

// runBookWrite: a new book at -book; every entry of -book-spec is added
// with its source, marked good, attempted and marked bad (24 h) as told;
// then the book is saved and the saved entries printed.
func runBookWrite(o options) error {
	var spec bookSpec
	if err := json.Unmarshal([]byte(o.bookSpec), &spec); err != nil {
		return fmt.Errorf("-book-spec: %w", err)
	}
	if _, err := os.Stat(o.book); err == nil {
		return fmt.Errorf("%s exists already", o.book)
	}
	book, err := startBook(o)
	if err != nil {
		return err
	}
	var banned []*p2p.NetAddress
	for _, e := range spec.Entries {
		addr, err := p2p.NewNetAddressString(e.Addr)
		if err != nil {
			return err
		}
		src, err := p2p.NewNetAddressString(e.Src)
		if err != nil {
			return err
		}
		if err := book.AddAddress(addr, src); err != nil {
			return fmt.Errorf("AddAddress(%v): %w", addr, err)
		}
		if e.Good {
			book.MarkGood(addr.ID)
		}
		for i := 0; i < e.Attempts; i++ {
			book.MarkAttempt(addr)
		}
		if e.Bad {
			book.MarkBad(addr, 24*time.Hour)
			banned = append(banned, addr)
		}
	}
	book.Save()
	for _, addr := range banned {
		emit("banned", kv{"addr": addr.String(), "is_banned": book.IsBanned(addr), "has": book.HasAddress(addr)})
	}
	return dumpBook(book)
}

// runBookRead: loads the book file at -book the way a node does (OnStart),
// then saves it back (the book's own view of what it loaded) and prints it.
func runBookRead(o options) error {
	if _, err := os.Stat(o.book); err != nil {
		return err
	}
	book, err := startBook(o)
	if err != nil {
		return err
	}
	book.Save()
	return dumpBook(book)
}

// dumpBook prints the saved file's key and entries, each with what the
// book itself answers about it.
func dumpBook(book pex.AddrBook) error {
	path := book.(interface{ FilePath() string }).FilePath()
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var saved savedBook
	if err := json.Unmarshal(text, &saved); err != nil {
		return err
	}
	micros := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMicro()
	}
	for _, ka := range saved.Addrs {
		emit("book_entry", kv{
			"id": string(ka.Addr.ID), "ip": ka.Addr.IP.String(), "port": ka.Addr.Port,
			"src": ka.Src.String(), "buckets": ka.Buckets, "attempts": ka.Attempts,
			"bucket_type": ka.BucketType, "last_attempt_us": micros(ka.LastAttempt),
			"last_success_us": micros(ka.LastSuccess), "last_ban_us": micros(ka.LastBanTime),
			"has": book.HasAddress(ka.Addr), "good": book.IsGood(ka.Addr),
			"banned": book.IsBanned(ka.Addr),
		})
	}
	emit("book", kv{"key": saved.Key, "size": book.Size(), "entries": len(saved.Addrs),
		"text_has_tabs": strings.Contains(string(text), "\n\t\"")})
	return nil
}

// runAddrClass prints, for every IP of -ips, CometBFT's answers.
func runAddrClass(o options) error {
	id := nodeID(o.seed)
	for _, s := range strings.Split(o.ips, ",") {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("not an IP: %q", s)
		}
		na := p2p.NewNetAddressIPPort(ip, 26656)
		na.ID = id
		emit("class", kv{
			"ip": s, "valid": na.Valid() == nil, "local": na.Local(), "routable": na.Routable(),
			"group_strict": groupKeyFor(na, true), "group_loose": groupKeyFor(na, false),
		})
	}
	return nil
}
