// xrayr-traffic is the lab's XrayR fleet: N nodes, each calling Xboard from its own source
// address on XrayR's schedule (api/newV2board, XrayR v25.3.6: per node, every UpdatePeriodic,
// the first call one period after start: GET config and GET user with If-None-Match, then POST
// push; every request with ?node_id=&node_type=&token=), keeping ground-truth counters per node.
//
// Each node's HTTP client binds its own local address (Linux routes all of 127/8 to lo, so every
// 127.x.y.z works without setup), so the sidecar sees one TCP peer per node, as with real VPS.
//
// Optional per node, "forwardedFor": "45.76.83.243" emulates an L7 hop (an AWS ALB, say) in
// front of Xboard: the node still connects from its loopback "address" to the loopback entry
// point, and every request carries "X-Forwarded-For: <forwardedFor>", the client address such a
// hop appends. The sidecar names the caller by the rightmost X-Forwarded-For address, so a node
// can stand for a VPS with a public address (make demo) without sending anything off loopback.
// Unset (the default), no X-Forwarded-For is sent and the TCP peer names the caller.
//
// Admin API (JSON):
//
//	GET    /nodes                   every node: address, node_id, state and counters
//	PUT    /nodes/{name}            {"address":"127.1.0.5","nodeId":"5","nodeType":"vless"}: add
//	                                or change a node (an address change takes effect at once:
//	                                new connections from the new address); starts it; optional
//	                                "forwardedFor":"45.76.83.243" (see above)
//	POST   /nodes/{name}/stop       stop calling (the node goes silent); /start resumes
//	DELETE /nodes/{name}            stop and forget it
//
// Counters count responses received (any status): what reached the sidecar and came back.
// Requests that got no response are counted in "errors". The token is never logged.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

type nodeSpec struct {
	Address  string `json:"address"`
	NodeID   string `json:"nodeId"`
	NodeType string `json:"nodeType"`
	// ForwardedFor, if set, is sent as X-Forwarded-For on every request (an L7 hop's append).
	ForwardedFor string `json:"forwardedFor,omitempty"`
}

type counters struct {
	Responses int64            `json:"responses"`
	Errors    int64            `json:"errors"`
	ByCode    map[string]int64 `json:"byCode"`
	ByPath    map[string]int64 `json:"byPath"`
	ByAddress map[string]int64 `json:"byAddress"` // responses per source address used
	Cycles    int64            `json:"cycles"`
	First     *time.Time       `json:"firstResponse,omitempty"`
	Last      *time.Time       `json:"lastResponse,omitempty"`
}

type node struct {
	name string
	fl   *fleet

	mu      sync.Mutex
	spec    nodeSpec
	client  *http.Client
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	etags   map[string]string
	c       counters
}

type fleet struct {
	// bases: Xboard's entry points; a node always calls the same one (chosen by its name's
	// hash), as a VPS behind an NLB keeps its connection to one pod.
	bases  []*url.URL
	token  string
	period time.Duration
	// fresh: each cycle ends by closing the node's idle connections, so the next cycle opens a
	// new one (behind the NLB stand-in: the next Xboard pod, round-robin). XrayR keeps its
	// connection (and so its pod) as long as it lives; this is the worst case for series per
	// VPS, every VPS on every pod.
	fresh  bool
	logger *log.Logger

	mu    sync.Mutex
	nodes map[string]*node
}

func main() {
	var (
		xboard = flag.String("xboard", "http://127.0.0.1:15006", "Xboard's entry point (in the lab: the NLB stand-in), or a comma-separated list (each pod's sidecar: every node calls one of them, chosen by its name, where a fleet is larger than one NLB process can hold descriptors for)")
		token  = flag.String("token", "lab-token", "the server token")
		period = flag.Duration("period", 60*time.Second, "XrayR's UpdatePeriodic")
		admin  = flag.String("admin", "127.0.0.1:0", "admin API listener")
		nodesF = flag.String("nodes", "", "optional JSON file {\"<name>\": {\"address\",\"nodeId\",\"nodeType\"[,\"forwardedFor\"]}} to start with")
		ready  = flag.String("ready-file", "", "write the admin API's address here once listening")
		fresh  = flag.Bool("fresh-connections", false, "a new connection every cycle (not XrayR's keep-alive): behind the lab's NLB, every node reaches every Xboard pod in turn")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	var bases []*url.URL
	for _, x := range strings.Split(*xboard, ",") {
		base, err := url.Parse(x)
		if err != nil || base.Host == "" {
			logger.Fatalf("--xboard %q: not a URL", x)
		}
		bases = append(bases, base)
	}
	fl := &fleet{bases: bases, token: *token, period: *period, fresh: *fresh, logger: logger, nodes: map[string]*node{}}
	if *nodesF != "" {
		var specs map[string]nodeSpec
		b, err := os.ReadFile(*nodesF)
		if err == nil {
			err = json.Unmarshal(b, &specs)
		}
		if err != nil {
			logger.Fatalf("--nodes: %v", err)
		}
		for name, s := range specs {
			if err := fl.put(name, s); err != nil {
				logger.Fatalf("node %s: %v", name, err)
			}
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /nodes", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, fl.snapshot()) })
	mux.HandleFunc("PUT /nodes/{name}", func(w http.ResponseWriter, r *http.Request) {
		var s nodeSpec
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := fl.put(r.PathValue("name"), s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, fl.snapshot()[r.PathValue("name")])
	})
	mux.HandleFunc("POST /nodes/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		n := fl.get(r.PathValue("name"))
		if n == nil {
			http.Error(w, "no such node", http.StatusNotFound)
			return
		}
		switch r.PathValue("action") {
		case "stop":
			n.stop()
		case "start":
			n.start()
		default:
			http.Error(w, "action: stop or start", http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, fl.snapshot()[n.name])
	})
	mux.HandleFunc("DELETE /nodes/{name}", func(w http.ResponseWriter, r *http.Request) {
		fl.mu.Lock()
		n := fl.nodes[r.PathValue("name")]
		delete(fl.nodes, r.PathValue("name"))
		fl.mu.Unlock()
		if n != nil {
			n.stop()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })

	ln, err := net.Listen("tcp", *admin)
	if err != nil {
		logger.Fatalf("listen %s: %v", *admin, err)
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			logger.Fatalf("--ready-file: %v", err)
		}
	}
	logger.Printf("xrayr-traffic: calling %s every %s; admin on %s", redacted(bases), *period, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	fl.mu.Lock()
	for _, n := range fl.nodes {
		n.stop()
	}
	fl.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

func (fl *fleet) get(name string) *node {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.nodes[name]
}

func (fl *fleet) put(name string, s nodeSpec) error {
	a, err := netip.ParseAddr(s.Address)
	if err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if s.ForwardedFor != "" {
		f, err := netip.ParseAddr(s.ForwardedFor)
		if err != nil {
			return fmt.Errorf("forwardedFor: %w", err)
		}
		s.ForwardedFor = f.String()
	}
	if s.NodeID == "" {
		s.NodeID = "1"
	}
	if s.NodeType == "" {
		s.NodeType = "vless"
	}
	fl.mu.Lock()
	n := fl.nodes[name]
	if n == nil {
		n = &node{name: name, fl: fl, etags: map[string]string{}, c: newCounters()}
		fl.nodes[name] = n
	}
	fl.mu.Unlock()
	n.mu.Lock()
	old := n.client
	n.spec = s
	n.client = clientFrom(a)
	n.etags = map[string]string{}
	n.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
	n.start()
	return nil
}

func newCounters() counters {
	return counters{ByCode: map[string]int64{}, ByPath: map[string]int64{}, ByAddress: map[string]int64{}}
}

// clientFrom is XrayR's HTTP client (keep-alive) with the node's own source address.
func clientFrom(src netip.Addr) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IP(src.AsSlice())}}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

func (n *node) start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n.running, n.cancel, n.done = true, cancel, done
	go func() {
		defer close(done)
		n.loop(ctx)
	}()
}

// stop ends the schedule and returns once the request in flight (if any) has its answer, so
// the counters read after a stop are final: every request sent is counted.
func (n *node) stop() {
	n.mu.Lock()
	if !n.running {
		n.mu.Unlock()
		return
	}
	n.cancel()
	n.running = false
	done := n.done
	n.mu.Unlock()
	<-done
}

// loop is XrayR's periodic task: the first run one period after start (here plus a stable
// per-node offset inside the period, so a fleet started together does not call in lockstep).
func (n *node) loop(ctx context.Context) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(n.name))
	offset := time.Duration(h.Sum32()%1000) * n.fl.period / 1000
	t := time.NewTimer(n.fl.period + offset)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.cycle(ctx)
		t.Reset(n.fl.period)
	}
}

// cycle is one UpdatePeriodic run. A stop lets the request in flight finish (its answer is
// counted) and skips the rest of the cycle.
func (n *node) cycle(ctx context.Context) {
	n.mu.Lock()
	n.c.Cycles++
	n.mu.Unlock()
	// XrayR pushes only when there was traffic; the lab's users always have some.
	body, _ := json.Marshal(map[string][2]int64{"1": {rand.Int64N(1 << 20), rand.Int64N(1 << 24)}, "2": {rand.Int64N(1 << 20), rand.Int64N(1 << 24)}})
	for _, c := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodGet, "/api/v1/server/UniProxy/config", nil},
		{http.MethodGet, "/api/v1/server/UniProxy/user", nil},
		{http.MethodPost, "/api/v1/server/UniProxy/push", body},
	} {
		if ctx.Err() != nil {
			return
		}
		n.call(context.Background(), c.method, c.path, c.body)
	}
	if n.fl.fresh {
		n.mu.Lock()
		client := n.client
		n.mu.Unlock()
		client.CloseIdleConnections()
	}
}

func (n *node) call(ctx context.Context, method, path string, body []byte) {
	n.mu.Lock()
	spec, client, etag := n.spec, n.client, n.etags[path]
	n.mu.Unlock()
	u := *n.fl.baseFor(n.name)
	u.Path = path
	u.RawQuery = url.Values{"node_id": {spec.NodeID}, "node_type": {spec.NodeType}, "token": {n.fl.token}}.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", "Go-http-client/1.1 (xrayr-traffic)")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if spec.ForwardedFor != "" {
		req.Header.Set("X-Forwarded-For", spec.ForwardedFor)
	}
	resp, err := client.Do(req)
	if err != nil {
		n.mu.Lock()
		n.c.Errors++
		n.mu.Unlock()
		var ue *url.Error
		if ok := asURLError(err, &ue); ok {
			err = ue.Err // never print the URL: its query holds the token
		}
		n.fl.logger.Printf("node %s: %s %s: %v", n.name, method, path, err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := resp.Header.Get("ETag"); e != "" && resp.StatusCode == http.StatusOK {
		n.etags[path] = e
	}
	n.c.Responses++
	n.c.ByCode[fmt.Sprint(resp.StatusCode)]++
	n.c.ByPath[path]++
	n.c.ByAddress[spec.Address]++
	if n.c.First == nil {
		n.c.First = &now
	}
	n.c.Last = &now
}

func asURLError(err error, target **url.Error) bool {
	ue, ok := err.(*url.Error)
	if ok {
		*target = ue
	}
	return ok
}

type nodeView struct {
	nodeSpec
	Running  bool     `json:"running"`
	Counters counters `json:"counters"`
}

func (fl *fleet) snapshot() map[string]nodeView {
	fl.mu.Lock()
	names := make([]string, 0, len(fl.nodes))
	for k := range fl.nodes {
		names = append(names, k)
	}
	nodes := make([]*node, 0, len(names))
	sort.Strings(names)
	for _, k := range names {
		nodes = append(nodes, fl.nodes[k])
	}
	fl.mu.Unlock()
	out := make(map[string]nodeView, len(nodes))
	for _, n := range nodes {
		n.mu.Lock()
		c := n.c
		c.ByCode, c.ByPath, c.ByAddress = clone(n.c.ByCode), clone(n.c.ByPath), clone(n.c.ByAddress)
		out[n.name] = nodeView{nodeSpec: n.spec, Running: n.running, Counters: c}
		n.mu.Unlock()
	}
	return out
}

func clone(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// baseFor is the entry point node `name` calls: always the same one (FNV-1a of the name).
func (fl *fleet) baseFor(name string) *url.URL {
	if len(fl.bases) == 1 {
		return fl.bases[0]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fl.bases[h.Sum32()%uint32(len(fl.bases))]
}

func redacted(us []*url.URL) string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Redacted()
	}
	return strings.Join(out, ",")
}
