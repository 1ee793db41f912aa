// sidecar-standin replaces ENVOY ONLY, and only in the lab: it is what one Xboard pod's Istio
// sidecar does for an inbound plaintext HTTP request from an XrayR VPS, built from the same
// protocol and emitting the same series, because no Envoy binary can be had here. Everything
// around it is real: istiod (pilot-discovery from the pinned istio.io/istio module) serves it
// the workload index and its listeners, the Pod object it stands for is what istiod and
// Prometheus's kubernetes-pods job read, Prometheus scrapes it, the alert rules and Kiali's
// PromQL read what it emits.
//
// What it reproduces, from Envoy's and pilot-agent's code (see test/lab/sidecar-standin/README.md
// for sources):
//   - pilot-agent's reading of the pod: labels and annotations from downward-API files
//     (--pod-labels, --pod-annotations); PEER_METADATA_DISCOVERY from the proxy.istio.io/config
//     annotation's proxyMetadata; the stats bootstrap (histogram bounds, eviction interval) from
//     the sidecar.istio.io/stats* annotations, read once at start as the bootstrap is;
//   - metadata_discovery: a delta xDS stream to istiod (plaintext 15010), type
//     istio.workload.Workload, wildcard, the address index kept with Envoy's non-overwriting
//     update rules (internal/wds); only when PEER_METADATA_DISCOVERY is on, as in the bootstrap;
//   - LDS: the listeners istiod generates for this proxy; on virtualInbound, the filter chain for
//     the application's port (--inbound-port) and its istio.stats filter config (internal/lds),
//     applied to new connections as Envoy's listener update does, connections on a replaced chain
//     drained (Connection: close on their next response);
//   - the inbound peer-metadata lookup: the downstream remote address is the rightmost
//     X-Forwarded-For address when the header is present (sidecar inbound: use_remote_address
//     false, zero trusted hops), else the TCP peer; the key is the raw address bytes;
//   - istio_stats for reporter="destination" (internal/stats): istio_requests_total,
//     istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes with
//     Istio's tags, overridden by the chain's config (drop, tags_to_remove, CEL dimensions),
//     the bootstrap's bounds, idle series evicted; on /stats/prometheus and /metrics;
//   - access logging without the query string (XrayR's token is in it): the path is printed as
//     %REQ_WITHOUT_QUERY% does, the query never leaves the request.
//
// What it does NOT reproduce: the x-envoy-peer-metadata header exchange (XrayR never sends it),
// mTLS, routing, retries, Envoy's own envoy_* stats, CDS (destination_service comes from
// --service instead of the inbound cluster's metadata).
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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/lds"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/serve"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/stats"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/wds"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/xds"
)

func main() {
	var (
		listen      = flag.String("listen", "127.0.0.1:15006", "inbound listener (the pod's address: where the L4 entry point sends XrayR's connections)")
		inboundPort = flag.Uint("inbound-port", 0, "the application port the traffic is addressed to (the Pod's containerPort; Envoy's original destination port): selects the inbound filter chain; 0 = the --listen port")
		upstream    = flag.String("upstream", "http://127.0.0.1:8080", "the application (Xboard) behind the sidecar")
		admin       = flag.String("admin", "127.0.0.1:15090", "/stats/prometheus (= /metrics), /debug/workloads, /debug/lookup, /debug/stats-config, /healthz, /readyz")
		xdsAddr     = flag.String("xds", "127.0.0.1:15010", "istiod's plaintext xDS address")
		nodeID      = flag.String("node-id", "", "xDS node id; default sidecar~<--pod-ip>~<--pod-name>.<--namespace>~<--namespace>.svc.cluster.local")
		podName     = flag.String("pod-name", "xboard-standin", "the Pod this sidecar belongs to (POD_NAME)")
		podIP       = flag.String("pod-ip", "127.0.0.1", "the Pod's IP (INSTANCE_IP); default node id")
		istioVer    = flag.String("istio-version", "1.30.8", "node metadata ISTIO_VERSION")
		clusterID   = flag.String("cluster-id", "airport-prod", "node metadata CLUSTER_ID; destination_cluster")
		namespace   = flag.String("namespace", "airport-prod", "node metadata NAMESPACE (POD_NAMESPACE); destination namespaces")
		workload    = flag.String("workload", "xboard", "node metadata WORKLOAD_NAME (the Deployment's name): destination_workload")
		service     = flag.String("service", "xboard", "destination_service_name; destination_service is <name>.<namespace>.svc.cluster.local (Envoy: the inbound cluster's metadata)")
		labelsFile  = flag.String("pod-labels", "", "downward-API labels file (pilot-agent's /etc/istio/pod/labels): node metadata LABELS, destination app/version/canonical tags")
		annosFile   = flag.String("pod-annotations", "", "downward-API annotations file (pilot-agent's /etc/istio/pod/annotations): proxy.istio.io/config, sidecar.istio.io/stats*")
		accessLog   = flag.Bool("access-log", false, "print one line per request (path without query)")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)

	up, err := url.Parse(*upstream)
	if err != nil || up.Host == "" {
		logger.Fatalf("--upstream %q: not a URL", *upstream)
	}
	listenAP, err := netip.ParseAddrPort(*listen)
	if err != nil {
		logger.Fatalf("--listen %q: not an address:port: %v", *listen, err)
	}
	port := uint32(*inboundPort)
	if port == 0 {
		port = uint32(listenAP.Port())
	}
	labels, err := stats.ReadDownwardAPIFile(*labelsFile)
	if err != nil {
		logger.Fatalf("--pod-labels: %v", err)
	}
	annos, err := stats.ReadDownwardAPIFile(*annosFile)
	if err != nil {
		logger.Fatalf("--pod-annotations: %v", err)
	}
	boot := stats.BootstrapFromAnnotations(annos)
	for _, w := range boot.Warnings {
		logger.Printf("bootstrap: %s", w)
	}
	peerDiscovery := proxyMetadata(annos, logger)["PEER_METADATA_DISCOVERY"] == "true"
	if *nodeID == "" {
		*nodeID = fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", *podIP, *podName, *namespace, *namespace)
	}
	node := xds.Node{
		Address: *xdsAddr,
		ID:      *nodeID,
		Metadata: map[string]any{
			"ISTIO_VERSION":     *istioVer,
			"NAMESPACE":         *namespace,
			"CLUSTER_ID":        *clusterID,
			"WORKLOAD_NAME":     *workload,
			"NAME":              *podName,
			"INSTANCE_IPS":      *podIP,
			"INTERCEPTION_MODE": "REDIRECT",
			"LABELS":            toAny(labels),
			"ANNOTATIONS":       toAny(annos),
			"POD_PORTS":         fmt.Sprintf(`[{"name":"http","containerPort":%d,"protocol":"TCP"}]`, port),
		},
	}

	store := wds.NewStore()
	var wdsClient *xds.Client
	if peerDiscovery {
		wdsClient = wds.NewClient(node, store, logger.Printf)
	} else {
		logger.Printf("PEER_METADATA_DISCOVERY is not on in the pod's proxy.istio.io/config: no workload discovery, every caller is unknown (as Envoy without the metadata_discovery extension)")
	}
	inbound := lds.New(port, logger.Printf)
	ldsClient := inbound.Subscribe(node)

	istio := stats.NewStore(boot, *istioVer)
	dst := stats.Destination{
		Workload: *workload, Namespace: *namespace, Cluster: *clusterID,
		App: labels["app"], Version: labels["version"],
		CanonicalService:  labels["service.istio.io/canonical-name"],
		CanonicalRevision: labels["service.istio.io/canonical-revision"],
		Service:           *service + "." + *namespace + ".svc.cluster.local",
		ServiceName:       *service, ServiceNamespace: *namespace,
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "envoy_workload_discovery_total", Help: "Addresses in the workload index (Envoy's workload_discovery.total)"},
			func() float64 { return float64(store.Total()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_wds_responses_total", Help: "Workload delta responses applied"},
			func() float64 { return float64(count(wdsClient, (*xds.Client).Responses)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_wds_bytes_total", Help: "Bytes of the workload delta responses received (protobuf size)"},
			func() float64 { return float64(count(wdsClient, (*xds.Client).Bytes)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_wds_connects_total", Help: "Workload delta streams opened to istiod"},
			func() float64 { return float64(count(wdsClient, (*xds.Client).Connects)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_lds_responses_total", Help: "Listener delta responses applied"},
			func() float64 { return float64(ldsClient.Responses()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_lds_rejected_total", Help: "Listener delta responses rejected (NACK)"},
			func() float64 { return float64(ldsClient.Rejected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "standin_inbound_chain_generation", Help: "Changes of the inbound filter chain applied (1 = istiod's first)"},
			func() float64 { return float64(generation(inbound.Current())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "standin_istio_series", Help: "istio_* series held (counters and histograms, before the bucket lines)"},
			func() float64 { n, _, _ := istio.Counts(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "standin_istio_evicted_total", Help: "istio_* series removed by eviction"},
			func() float64 { _, _, e := istio.Counts(); return float64(e) }),
	)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if wdsClient != nil {
		go wdsClient.Run(ctx)
	}
	go ldsClient.Run(ctx)
	go istio.RunEviction(ctx.Done(), logger.Printf)

	h := &inboundHandler{port: port, up: up, store: store, inbound: inbound, istio: istio, dst: dst, accessLog: *accessLog, logger: logger}
	var connIDs atomic.Uint64
	inboundSrv := &http.Server{
		Addr:              *listen,
		Handler:           h.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // net/http's own messages can carry request lines
		// The chain in force when the connection was accepted serves it (Envoy binds a
		// connection to a filter chain at accept).
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			local, _ := netip.ParseAddrPort(c.LocalAddr().String())
			return context.WithValue(ctx, connKey{}, &connInfo{id: connIDs.Add(1), chain: inbound.Current(), local: local})
		},
	}
	ready := func() error {
		if wdsClient != nil && !wdsClient.Synced() {
			return errors.New("workload discovery not synced")
		}
		if c := inbound.Current(); c == nil || !c.ForPort {
			return fmt.Errorf("no inbound filter chain from istiod for port %d yet (a Service selecting this pod, with the pod Ready and its IP set?)", port)
		}
		return nil
	}
	adminSrv := &http.Server{Addr: *admin, Handler: newAdmin(reg, store, istio, inbound, ready), ReadHeaderTimeout: 10 * time.Second}

	serve.Run(ctx, logger, fmt.Sprintf("sidecar-standin (replaces Envoy only) for pod %s: inbound %s (port %d) -> %s, admin %s, istiod %s, node %s, peer metadata discovery %v, bootstrap %+v",
		*podName, *listen, port, up, *admin, *xdsAddr, *nodeID, peerDiscovery, boot), inboundSrv, adminSrv)
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func count(c *xds.Client, f func(*xds.Client) int64) int64 {
	if c == nil {
		return 0
	}
	return f(c)
}

func generation(c *lds.Chain) int {
	if c == nil {
		return 0
	}
	return c.Generation
}

// proxyMetadata is the proxyMetadata of the proxy.istio.io/config annotation: pilot-agent sets
// these as its environment, and PEER_METADATA_DISCOVERY=true there adds the metadata_discovery
// extension to the bootstrap (deploy/istio/xboard/deployment-peer-metadata.patch.yaml).
func proxyMetadata(annos map[string]string, logger *log.Logger) map[string]string {
	v, ok := annos["proxy.istio.io/config"]
	if !ok {
		return nil
	}
	var pc struct {
		ProxyMetadata map[string]string `json:"proxyMetadata"`
	}
	if err := json.Unmarshal([]byte(v), &pc); err != nil {
		logger.Printf("proxy.istio.io/config: %v", err)
		return nil
	}
	return pc.ProxyMetadata
}

// downstreamAddress is the address the sidecar's peer-metadata filter looks up: with
// use_remote_address=false and xff_num_trusted_hops=0 (sidecar inbound), Envoy takes the
// rightmost X-Forwarded-For entry when the header is present and parses, else the TCP peer.
func downstreamAddress(r *http.Request) (netip.AddrPort, string) {
	if vals := r.Header.Values("X-Forwarded-For"); len(vals) > 0 {
		parts := strings.Split(strings.Join(vals, ","), ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
			return netip.AddrPortFrom(a.Unmap(), 0), "xff"
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), "peer"
	}
	return netip.AddrPort{}, "none"
}

type ctxKey struct{}
type connKey struct{}

type connInfo struct {
	id    uint64
	chain *lds.Chain
	local netip.AddrPort
}

type outcome struct {
	flags string
}

type inboundHandler struct {
	port      uint32
	up        *url.URL
	store     *wds.Store
	inbound   *lds.Inbound
	istio     *stats.Store
	dst       stats.Destination
	accessLog bool
	logger    *log.Logger
}

// Like Envoy's extension (no init target), nothing waits for the first workload response: a
// request before it is looked up in an empty index and counted as unknown. /readyz tells when
// the index and the inbound chain are there; the lab waits for it.
func (h *inboundHandler) handler() http.Handler {
	logger := h.logger
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(h.up)
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
		ci, _ := r.Context().Value(connKey{}).(*connInfo)
		if ci == nil {
			ci = &connInfo{}
		}
		chain := ci.chain
		if cur := h.inbound.Current(); chain == nil {
			chain = cur
		} else if cur != nil && cur.Generation != chain.Generation {
			// The chain this connection was accepted on was replaced: Envoy drains it; for
			// HTTP/1.1 the connection manager closes it after the response in flight.
			w.Header().Set("Connection", "close")
		}
		addr, via := downstreamAddress(r)
		var src *stats.Source
		var meta wds.Meta
		found := false
		if addr.IsValid() {
			meta, found = h.store.Lookup(addr.Addr())
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
		elapsed := time.Since(start)
		reqHeaders := headerBytes(r)
		resHeaders := int64(0)
		if cw.wrote {
			resHeaders = responseHeaderBytes(cw.Header(), code)
		}
		if chain != nil && chain.Recording {
			out := stats.Outcome{Code: code, Flags: o.flags, Duration: elapsed, RequestBytes: reqHeaders + body.n.Load(), ResponseBytes: resHeaders + cw.n}
			attrs := stats.Attributes{
				Request: r, RequestTime: start, Duration: elapsed,
				RequestBody: body.n.Load(), RequestHeaders: reqHeaders,
				Responded: cw.wrote, ResponseCode: code, ResponseHeader: cw.Header(), ResponseBody: cw.n, ResponseHeaders: resHeaders,
				ResponseFlags: o.flags, Source: addr, Destination: ci.local, ConnectionID: ci.id,
				ClusterName: "inbound|" + strconv.Itoa(int(h.port)) + "||", FilterChainName: chain.Name,
			}
			h.istio.Record(chain.Stats, stats.StandardTagValues(src, h.dst, out), out, attrs)
		}
		if h.accessLog {
			who := "unknown"
			if found {
				who = meta.WorkloadName
			}
			// %REQ_WITHOUT_QUERY%: r.URL.Path only, never RawQuery or RequestURI.
			logger.Printf("%q %d %s %.1fms downstream=%s(%s) source_workload=%s", r.Method+" "+r.URL.Path, code, orDash(o.flags), float64(elapsed.Microseconds())/1000, addr.Addr(), via, who)
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

func newAdmin(reg *prometheus.Registry, store *wds.Store, istio *stats.Store, inbound *lds.Inbound, ready func() error) http.Handler {
	mux := http.NewServeMux()
	// Envoy's /stats/prometheus: its own stats (here the stand-in's few) and istio_stats' series.
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mfs, err := reg.Gather()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				return
			}
		}
		_ = istio.WritePrometheus(w)
	})
	mux.Handle("/stats/prometheus", metrics)
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
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
	// The stats configuration in force: the chain istiod sent for the port and the bootstrap.
	mux.HandleFunc("/debug/stats-config", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]any{"bootstrap": istio.Bootstrap()}
		if c := inbound.Current(); c != nil {
			out["chain"] = map[string]any{"name": c.Name, "generation": c.Generation, "forPort": c.ForPort, "recording": c.Recording, "at": c.At, "stats": c.Stats.Summary()}
		}
		writeJSON(w, out)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}
