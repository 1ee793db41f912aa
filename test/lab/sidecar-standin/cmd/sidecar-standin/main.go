// sidecar-standin replaces ENVOY ONLY, and only in the lab: it is what Xboard's Istio sidecar
// does for an inbound plaintext HTTP request from an XrayR VPS, built from the same protocol and
// emitting the same series, because no Envoy binary can be had here. Everything around it is
// real: istiod (pilot-discovery from the pinned istio.io/istio module) serves it the workload
// index, Prometheus scrapes it, the alert rules and Kiali's PromQL read what it emits.
//
// What it reproduces, from Envoy's code (see test/lab/sidecar-standin/README.md for sources):
//   - metadata_discovery: a delta ADS stream to istiod (plaintext 15010), type
//     istio.workload.Workload, wildcard, node id sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local,
//     every response ACKed, removals honoured, the address index kept with Envoy's
//     non-overwriting update rules (internal/wds);
//   - the inbound peer-metadata lookup: the downstream remote address is the rightmost
//     X-Forwarded-For address when the header is present (sidecar inbound: use_remote_address
//     false, zero trusted hops), else the TCP peer; the key is the raw address bytes;
//   - istio_stats for reporter="destination": istio_requests_total,
//     istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes with
//     Istio's label set and Envoy's default buckets (internal/stats), on /stats/prometheus
//     and /metrics;
//   - access logging without the query string (XrayR's token is in it): the path is printed as
//     %REQ_WITHOUT_QUERY% does, the query never leaves the request.
//
// What it does NOT reproduce: the x-envoy-peer-metadata header exchange (XrayR never sends it),
// mTLS, routing, retries, Envoy's own envoy_* stats.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/stats"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/wds"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/serve"
)

func main() {
	var (
		listen    = flag.String("listen", "127.0.0.1:15006", "inbound listener: the Xboard entry point XrayR nodes call")
		upstream  = flag.String("upstream", "http://127.0.0.1:8080", "the application (Xboard) behind the sidecar")
		admin     = flag.String("admin", "127.0.0.1:15090", "/stats/prometheus (= /metrics), /debug/workloads, /debug/lookup, /healthz, /readyz")
		xdsAddr   = flag.String("xds", "127.0.0.1:15010", "istiod's plaintext xDS address")
		nodeID    = flag.String("node-id", "sidecar~127.0.0.1~xboard-standin.airport-prod~airport-prod.svc.cluster.local", "xDS node id")
		istioVer  = flag.String("istio-version", "1.30.8", "node metadata ISTIO_VERSION")
		clusterID = flag.String("cluster-id", "airport-prod", "node metadata CLUSTER_ID; destination_cluster")
		namespace = flag.String("namespace", "airport-prod", "node metadata NAMESPACE; destination namespaces")
		workload  = flag.String("workload", "xboard", "destination_workload (the Deployment's name)")
		app       = flag.String("app", "xboard", "destination_app and destination_canonical_service (label app)")
		version   = flag.String("version", "", "destination_version / destination_canonical_revision (label version; empty: unknown / latest)")
		service   = flag.String("service", "xboard", "destination_service_name; destination_service is <name>.<namespace>.svc.cluster.local")
		accessLog = flag.Bool("access-log", false, "print one line per request (path without query)")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)

	up, err := url.Parse(*upstream)
	if err != nil || up.Host == "" {
		logger.Fatalf("--upstream %q: not a URL", *upstream)
	}

	store := wds.NewStore()
	client := wds.NewClient(wds.Config{
		Address: *xdsAddr,
		NodeID:  *nodeID,
		Metadata: map[string]any{
			"ISTIO_VERSION": *istioVer,
			"NAMESPACE":     *namespace,
			"CLUSTER_ID":    *clusterID,
			"WORKLOAD_NAME": *workload,
			"LABELS":        map[string]any{"app": *app},
			// What pilot-agent sets when PEER_METADATA_DISCOVERY=true (the Xboard pod annotation
			// in deploy/istio/xboard/): informative for istiod, the subscription is what matters.
			"PEER_METADATA_DISCOVERY": "true",
		},
		Logf: logger.Printf,
	}, store)

	reg := prometheus.NewRegistry()
	rec := stats.NewRecorder(reg, stats.Destination{
		Workload: *workload, Namespace: *namespace, App: *app, Version: *version,
		Service:          *service + "." + *namespace + ".svc.cluster.local",
		CanonicalService: *app, CanonicalRevision: *version,
		ServiceName: *service, ServiceNamespace: *namespace, Cluster: *clusterID,
	})
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "envoy_workload_discovery_total", Help: "Addresses in the workload index (Envoy's workload_discovery.total)"},
			func() float64 { return float64(store.Total()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_wds_responses_total", Help: "Workload delta responses applied"},
			func() float64 { return float64(client.Responses()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_wds_bytes_total", Help: "Bytes of the workload delta responses received (protobuf size)"},
			func() float64 { return float64(client.Bytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_wds_connects_total", Help: "Delta streams opened to istiod"},
			func() float64 { return float64(client.Connects()) }),
	)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go client.Run(ctx)

	inbound := &http.Server{
		Addr:              *listen,
		Handler:           newInbound(up, store, rec, *accessLog, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // net/http's own messages can carry request lines
	}
	adminSrv := &http.Server{Addr: *admin, Handler: newAdmin(reg, store, client), ReadHeaderTimeout: 10 * time.Second}

	serve.Run(ctx, logger, fmt.Sprintf("sidecar-standin (replaces Envoy only): inbound %s -> %s, admin %s, istiod %s", *listen, up, *admin, *xdsAddr), inbound, adminSrv)
}

// downstreamAddress is the address the sidecar's peer-metadata filter looks up: with
// use_remote_address=false and xff_num_trusted_hops=0 (sidecar inbound), Envoy takes the
// rightmost X-Forwarded-For entry when the header is present and parses, else the TCP peer.
func downstreamAddress(r *http.Request) (netip.Addr, string) {
	if vals := r.Header.Values("X-Forwarded-For"); len(vals) > 0 {
		parts := strings.Split(strings.Join(vals, ","), ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
			return a.Unmap(), "xff"
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap(), "peer"
	}
	return netip.Addr{}, "none"
}

type ctxKey struct{}

type outcome struct {
	flags string
}

// Like Envoy's extension (no init target), nothing waits for the first workload response: a
// request before it is looked up in an empty index and counted as unknown. /readyz tells when
// the index is filled; the lab waits for it.
func newInbound(up *url.URL, store *wds.Store, rec *stats.Recorder, accessLog bool, logger *log.Logger) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     60 * time.Second,
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			o, _ := r.Context().Value(ctxKey{}).(*outcome)
			if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
				if o != nil {
					o.flags = "DC" // downstream connection termination: no response
				}
				return
			}
			if o != nil {
				o.flags = "UF" // upstream connection failure
			}
			// Never print err as is: a *url.Error carries the URL, query (token) included.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			logger.Printf("upstream error for %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusServiceUnavailable)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		addr, via := downstreamAddress(r)
		var src *stats.Source
		var meta wds.Meta
		found := false
		if addr.IsValid() {
			meta, found = store.Lookup(addr)
		}
		if found {
			src = &stats.Source{
				Workload: meta.WorkloadName, CanonicalService: meta.CanonicalName, CanonicalRevision: meta.CanonicalRevision,
				Namespace: meta.Namespace, App: meta.CanonicalName, Version: meta.CanonicalRevision, Cluster: meta.ClusterID,
			}
		}
		cw := &countingWriter{ResponseWriter: w}
		body := &countingBody{ReadCloser: r.Body}
		r.Body = body
		o := &outcome{}
		proxy.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, o)))
		code := cw.code
		if !cw.wrote {
			code = 0
		}
		ms := float64(time.Since(start).Microseconds()) / 1000
		reqBytes := headerBytes(r) + body.n.Load()
		resBytes := int64(0)
		if cw.wrote {
			resBytes = responseHeaderBytes(cw.Header(), code) + cw.n
		}
		rec.Record(src, code, o.flags, ms, reqBytes, resBytes)
		if accessLog {
			who := "unknown"
			if found {
				who = meta.WorkloadName
			}
			// %REQ_WITHOUT_QUERY%: r.URL.Path only, never RawQuery or RequestURI.
			logger.Printf("%q %d %s %.1fms downstream=%s(%s) source_workload=%s", r.Method+" "+r.URL.Path, code, orDash(o.flags), ms, addr, via, who)
		}
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// headerBytes approximates Envoy's request header map byteSize (keys and values, pseudo-headers
// included); exact wire sizes do not matter to the attribution chain.
func headerBytes(r *http.Request) int64 {
	n := int64(len(":method") + len(r.Method) + len(":path") + len(r.URL.RequestURI()) + len(":authority") + len(r.Host) + len(":scheme") + len("http"))
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

func responseHeaderBytes(h http.Header, code int) int64 {
	n := int64(len(":status") + len(fmt.Sprint(code)))
	for k, vs := range h {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

type countingWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
	n     int64
}

func (c *countingWriter) WriteHeader(code int) {
	if !c.wrote {
		c.code, c.wrote = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.code, c.wrote = http.StatusOK, true
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func newAdmin(reg *prometheus.Registry, store *wds.Store, client *wds.Client) http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux.Handle("/stats/prometheus", metrics)
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !client.Synced() {
			http.Error(w, "workload discovery not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/debug/workloads", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, store.Snapshot(r.URL.Query().Get("events") != ""))
	})
	mux.HandleFunc("/debug/lookup", func(w http.ResponseWriter, r *http.Request) {
		a, err := netip.ParseAddr(r.URL.Query().Get("address"))
		if err != nil {
			http.Error(w, "address: "+err.Error(), http.StatusBadRequest)
			return
		}
		m, ok := store.Lookup(a)
		if !ok {
			writeJSON(w, map[string]any{"address": a.String(), "found": false})
			return
		}
		writeJSON(w, map[string]any{"address": a.String(), "found": true, "workload": m})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}
