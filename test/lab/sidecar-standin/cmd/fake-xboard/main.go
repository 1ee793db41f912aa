// fake-xboard stands in for Xboard (the application behind the sidecar) in the lab: the three
// UniProxy endpoints XrayR calls (api/newV2board at XrayR v25.3.6), nothing else.
//
//	GET  /api/v1/server/UniProxy/config?node_id=&node_type=&token=   ETag; 304 on If-None-Match
//	GET  /api/v1/server/UniProxy/user?node_id=&node_type=&token=     ETag; 304 on If-None-Match
//	POST /api/v1/server/UniProxy/push?node_id=&node_type=&token=     body {"<uid>":[up,down],...}
//
// A wrong token is answered 403 as Xboard does. Faults per node_id (the lab's 5xx injection) are
// set on the admin listener:
//
//	PUT    /faults/<node_id>   {"status":503,"ratio":1.0,"delayMs":0}
//	DELETE /faults/<node_id>
//	GET    /faults
//
// The query string (it carries the token) is never logged.
package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/serve"
)

type fault struct {
	Status  int     `json:"status"`
	Ratio   float64 `json:"ratio"`
	DelayMs int     `json:"delayMs"`
}

type server struct {
	token       string
	minDelay    time.Duration
	maxDelay    time.Duration
	usersPeriod time.Duration
	started     time.Time

	mu     sync.Mutex
	faults map[string]fault
}

func main() {
	var (
		listen      = flag.String("listen", "127.0.0.1:8080", "application listener (the sidecar's upstream)")
		admin       = flag.String("admin", "127.0.0.1:8081", "fault-injection listener")
		token       = flag.String("token", "lab-token", "the server token XrayR nodes send")
		delay       = flag.String("delay", "1,8", "response delay range in ms: min,max")
		usersPeriod = flag.Duration("users-change", 30*time.Second, "the user list changes every this long (0: never), so /user answers 200 and 304")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	minD, maxD, err := parseRange(*delay)
	if err != nil {
		logger.Fatalf("--delay: %v", err)
	}
	s := &server{token: *token, minDelay: minD, maxDelay: maxD, usersPeriod: *usersPeriod, started: time.Now(), faults: map[string]fault{}}

	app := http.NewServeMux()
	app.HandleFunc("GET /api/v1/server/UniProxy/config", s.handle(s.config))
	app.HandleFunc("GET /api/v1/server/UniProxy/user", s.handle(s.users))
	app.HandleFunc("POST /api/v1/server/UniProxy/push", s.handle(s.push))
	adm := http.NewServeMux()
	adm.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.faults)
	})
	adm.HandleFunc("PUT /faults/{node}", func(w http.ResponseWriter, r *http.Request) {
		f := fault{Status: http.StatusServiceUnavailable, Ratio: 1}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil && err != io.EOF {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.faults[r.PathValue("node")] = f
		s.mu.Unlock()
		logger.Printf("fault for node_id %s: %+v", r.PathValue("node"), f)
		writeJSON(w, http.StatusOK, f)
	})
	adm.HandleFunc("DELETE /faults/{node}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		delete(s.faults, r.PathValue("node"))
		s.mu.Unlock()
		logger.Printf("fault for node_id %s cleared", r.PathValue("node"))
		w.WriteHeader(http.StatusNoContent)
	})
	adm.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	servers := []*http.Server{
		{Addr: *listen, Handler: app, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)},
		{Addr: *admin, Handler: adm, ReadHeaderTimeout: 10 * time.Second},
	}
	serve.Run(ctx, logger, fmt.Sprintf("fake-xboard (stands in for Xboard's UniProxy API): app %s, admin %s", *listen, *admin), servers...)
}

func parseRange(s string) (time.Duration, time.Duration, error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("want min,max milliseconds, got %q", s)
	}
	return time.Duration(lo) * time.Millisecond, time.Duration(hi) * time.Millisecond, nil
}

type endpoint func(w http.ResponseWriter, r *http.Request, nodeID, nodeType string)

// handle does what every UniProxy endpoint shares: the token check (Xboard's server middleware),
// the node parameters, the injected fault and the delay.
func (s *server) handle(next endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("token") != s.token {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "token is error"})
			return
		}
		nodeID, nodeType := q.Get("node_id"), q.Get("node_type")
		if nodeID == "" || nodeType == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "node_id and node_type are required"})
			return
		}
		s.mu.Lock()
		f, faulty := s.faults[nodeID]
		s.mu.Unlock()
		d := s.minDelay
		if s.maxDelay > s.minDelay {
			d += time.Duration(rand.Int64N(int64(s.maxDelay - s.minDelay)))
		}
		if faulty {
			d += time.Duration(f.DelayMs) * time.Millisecond
		}
		time.Sleep(d)
		if faulty && f.Status >= 100 && rand.Float64() < f.Ratio {
			writeJSON(w, f.Status, map[string]string{"message": "injected fault"})
			return
		}
		next(w, r, nodeID, nodeType)
	}
}

func etagged(w http.ResponseWriter, r *http.Request, body []byte) {
	sum := sha1.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (s *server) config(w http.ResponseWriter, r *http.Request, nodeID, nodeType string) {
	id, _ := strconv.Atoi(nodeID)
	body, _ := json.Marshal(map[string]any{
		"server_port": 10000 + id%50000,
		"network":     "tcp",
		"protocol":    nodeType,
		"base_config": map[string]int{"push_interval": 60, "pull_interval": 60},
		"routes":      []any{},
	})
	etagged(w, r, body)
}

func (s *server) users(w http.ResponseWriter, r *http.Request, nodeID, _ string) {
	gen := 0
	if s.usersPeriod > 0 {
		gen = int(time.Since(s.started) / s.usersPeriod)
	}
	users := make([]map[string]any, 0, 8)
	for i := 0; i < 5+gen%4; i++ {
		users = append(users, map[string]any{"id": i + 1, "uuid": fmt.Sprintf("%s-%d-%d", nodeID, gen, i), "speed_limit": 0})
	}
	body, _ := json.Marshal(map[string]any{"users": users})
	etagged(w, r, body)
}

func (s *server) push(w http.ResponseWriter, r *http.Request, _, _ string) {
	var traffic map[string][2]int64
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&traffic); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "bad push body"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"data": true})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
