// xboard-nlb stands in for Xboard's entry point in the lab: the AWS NLB with IP targets and
// client IP preservation that deploy/istio/xboard/service-nlb-ip.patch.yaml asks for, in front of
// the R Xboard pods (their sidecar stand-ins). Per accepted connection: one target, round-robin,
// dialled from the caller's own address (internal/l4). It is L4 only: HTTP keep-alive keeps a
// caller on the pod its connection went to, as with a real NLB.
//
//	xboard-nlb --listen 127.0.0.1:PORT --target 127.255.0.1:P --target 127.255.0.2:P --admin 127.0.0.1:APORT
//
// Admin: GET /stats (connections accepted, failed, per target), /healthz.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/l4"
)

type targets []string

func (t *targets) String() string     { return strings.Join(*t, ",") }
func (t *targets) Set(v string) error { *t = append(*t, v); return nil }

func main() {
	var tgts targets
	listen := flag.String("listen", "127.0.0.1:8443", "plain TCP listener (the NLB's listener)")
	admin := flag.String("admin", "", "admin listener: /stats, /healthz (empty: none)")
	flag.Var(&tgts, "target", "a target (pod IP:port), repeatable; connections go round-robin")
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	if len(tgts) == 0 {
		logger.Fatal("at least one --target")
	}
	for _, t := range tgts {
		if _, _, err := net.SplitHostPort(t); err != nil {
			logger.Fatalf("--target %q: %v", t, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	p := l4.New(tgts, logger.Printf)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		logger.Fatalf("listen %s: %v", *listen, err)
	}
	if *admin != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
			accepted, failed, per := p.Stats()
			byTarget := map[string]int64{}
			for i, t := range tgts {
				byTarget[t] = per[i]
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"accepted": accepted, "failed": failed, "byTarget": byTarget})
		})
		srv := &http.Server{Addr: *admin, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		aln, err := net.Listen("tcp", *admin)
		if err != nil {
			logger.Fatalf("listen %s: %v", *admin, err)
		}
		go func() { _ = srv.Serve(aln) }()
		defer srv.Close()
	}
	logger.Printf("xboard-nlb: %s -> %s (round-robin per connection, client address preserved)", *listen, strings.Join(tgts, " "))
	if err := p.Serve(ctx, ln); err != nil {
		logger.Fatalf("serve: %v", err)
	}
}
