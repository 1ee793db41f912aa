package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

type seen struct{ peer, xff string }

// fleetAgainst starts a fleet calling a loopback test server that records, per node_id, the
// TCP peer and the X-Forwarded-For header of the first request.
func fleetAgainst(t *testing.T) (*fleet, func(nodeID string) (seen, bool)) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		id := r.URL.Query().Get("node_id")
		mu.Lock()
		if _, ok := got[id]; !ok {
			got[id] = seen{peer: host, xff: r.Header.Get("X-Forwarded-For")}
		}
		mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	}))
	base, _ := url.Parse(srv.URL)
	fl := &fleet{bases: []*url.URL{base}, token: "t", period: 20 * time.Millisecond, logger: log.New(io.Discard, "", 0), nodes: map[string]*node{}}
	t.Cleanup(func() {
		for _, n := range fl.nodes {
			n.stop()
		}
		srv.Close()
	})
	return fl, func(id string) (seen, bool) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			s, ok := got[id]
			mu.Unlock()
			if ok {
				return s, true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return seen{}, false
	}
}

func TestForwardedFor(t *testing.T) {
	fl, wait := fleetAgainst(t)
	if err := fl.put("plain", nodeSpec{Address: "127.0.0.1", NodeID: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := fl.put("behind-alb", nodeSpec{Address: "127.0.0.1", NodeID: "2", ForwardedFor: "45.76.83.243"}); err != nil {
		t.Fatal(err)
	}
	// Default: no X-Forwarded-For, the TCP peer is the node's address.
	if s, ok := wait("1"); !ok || s.peer != "127.0.0.1" || s.xff != "" {
		t.Errorf("plain node: got %+v (seen %v), want peer 127.0.0.1 and no X-Forwarded-For", s, ok)
	}
	// forwardedFor: still from the loopback source, with the address in X-Forwarded-For.
	if s, ok := wait("2"); !ok || s.peer != "127.0.0.1" || s.xff != "45.76.83.243" {
		t.Errorf("forwardedFor node: got %+v (seen %v), want peer 127.0.0.1, X-Forwarded-For 45.76.83.243", s, ok)
	}
}

func TestForwardedForRejectsNonAddress(t *testing.T) {
	fl, _ := fleetAgainst(t)
	for _, bad := range []string{"nodes.example", "45.76.83.243:443", "45.76.83.0/24"} {
		if err := fl.put("n", nodeSpec{Address: "127.0.0.1", ForwardedFor: bad}); err == nil {
			t.Errorf("forwardedFor %q accepted", bad)
		}
	}
	if len(fl.nodes) != 0 {
		t.Errorf("a rejected spec left a node: %v", fl.nodes)
	}
}

// A node always calls the same entry point, and a fleet spreads over all of them.
func TestBaseForIsStickyAndSpread(t *testing.T) {
	var bases []*url.URL
	for _, h := range []string{"http://127.255.0.1:1", "http://127.255.0.2:1", "http://127.255.0.3:1"} {
		u, _ := url.Parse(h)
		bases = append(bases, u)
	}
	fl := &fleet{bases: bases}
	seen := map[string]int{}
	for i := 0; i < 3000; i++ {
		name := fmt.Sprintf("vps-%05d", i)
		b := fl.baseFor(name)
		if fl.baseFor(name) != b {
			t.Fatalf("%s: two entry points", name)
		}
		seen[b.Host]++
	}
	for _, u := range bases {
		if seen[u.Host] < 800 {
			t.Fatalf("entry point %s got %d of 3000 nodes: %v", u.Host, seen[u.Host], seen)
		}
	}
}
