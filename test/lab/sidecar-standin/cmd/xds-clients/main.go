// xds-clients stands in for the mesh's other sidecars (not Xboard's) as istiod sees them: one
// delta ADS stream each, subscribing as Envoy does (internal/xdsload), so the lab can measure
// what VPS churn pushes to proxies that never call a VPS: MySQL's and Redis's sidecars beside
// Xboard in airport-prod, and the workloads of other namespaces. Only the xDS side of Envoy is
// reproduced; no traffic flows through them.
//
//	xds-clients --xds 127.0.0.1:15010 --admin 127.0.0.1:0 \
//	    --proxies airport-prod/mysql=1,airport-prod/redis=1,shop/web=24,payments/api=24
//
// Admin API: GET /stats (every client's counters, and the sums per namespace and per type),
// GET /readyz (every client connected and answered for what it subscribed).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/serve"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/xdsload"
)

type group struct {
	namespace, app string
	count          int
}

// parseProxies reads "ns/app=count,..." (the flag's whole grammar; an error names the part).
func parseProxies(spec string) ([]group, error) {
	var out []group
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, n, ok := strings.Cut(part, "=")
		ns, app, ok2 := strings.Cut(key, "/")
		count, err := strconv.Atoi(n)
		if !ok || !ok2 || ns == "" || app == "" || err != nil || count < 1 {
			return nil, fmt.Errorf("--proxies: %q is not namespace/app=count with count >= 1", part)
		}
		out = append(out, group{namespace: ns, app: app, count: count})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--proxies: empty")
	}
	return out, nil
}

func main() {
	var (
		xdsAddr   = flag.String("xds", "127.0.0.1:15010", "istiod's plaintext xDS address")
		admin     = flag.String("admin", "127.0.0.1:15091", "/stats, /readyz")
		proxies   = flag.String("proxies", "", "namespace/app=count,... (the proxies to run)")
		ipBase    = flag.String("ip-base", "10.250.0.1", "first proxy address (node id and INSTANCE_IPS); one per proxy after it")
		istioVer  = flag.String("istio-version", "1.30.8", "node metadata ISTIO_VERSION")
		clusterID = flag.String("cluster-id", "airport-prod", "node metadata CLUSTER_ID")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	groups, err := parseProxies(*proxies)
	if err != nil {
		logger.Fatal(err)
	}
	ip, err := netip.ParseAddr(*ipBase)
	if err != nil {
		logger.Fatalf("--ip-base %q: %v", *ipBase, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	type entry struct {
		namespace string
		client    *xdsload.Client
	}
	var clients []entry
	for _, g := range groups {
		for i := range g.count {
			pod := fmt.Sprintf("%s-%d", g.app, i)
			c := xdsload.NewClient(xdsload.Config{
				Address: *xdsAddr,
				NodeID:  fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", ip, pod, g.namespace, g.namespace),
				// What pilot-agent puts in a sidecar's node metadata that istiod reads to scope it.
				Metadata: map[string]any{
					"ISTIO_VERSION":     *istioVer,
					"NAMESPACE":         g.namespace,
					"CLUSTER_ID":        *clusterID,
					"WORKLOAD_NAME":     g.app,
					"NAME":              pod,
					"INSTANCE_IPS":      ip.String(),
					"SERVICE_ACCOUNT":   "default",
					"INTERCEPTION_MODE": "REDIRECT",
					"LABELS":            map[string]any{"app": g.app, "service.istio.io/canonical-name": g.app},
				},
			})
			clients = append(clients, entry{g.namespace, c})
			go c.Run(ctx)
			ip = ip.Next()
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		type sums struct {
			Clients int                         `json:"clients"`
			ByType  map[string]xdsload.Counters `json:"byType"`
		}
		out := struct {
			At          time.Time          `json:"at"`
			ByNamespace map[string]*sums   `json:"byNamespace"`
			Clients     []xdsload.Snapshot `json:"clients"`
		}{At: time.Now(), ByNamespace: map[string]*sums{}}
		for _, e := range clients {
			s := e.client.Snapshot()
			out.Clients = append(out.Clients, s)
			ns := out.ByNamespace[e.namespace]
			if ns == nil {
				ns = &sums{ByType: map[string]xdsload.Counters{}}
				out.ByNamespace[e.namespace] = ns
			}
			ns.Clients++
			for t, c := range s.ByType {
				acc := ns.ByType[t]
				acc.Responses += c.Responses
				acc.Bytes += c.Bytes
				acc.Resources += c.Resources
				acc.Removed += c.Removed
				ns.ByType[t] = acc
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		for _, e := range clients {
			if s := e.client.Snapshot(); !s.Synced {
				http.Error(w, "not synced: "+s.Node, http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = fmt.Fprintf(w, "%d clients synced\n", len(clients))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Addr: *admin, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serve.Run(ctx, logger, fmt.Sprintf("xds-clients: %d proxies on istiod %s, admin %s", len(clients), *xdsAddr, *admin), srv)
}
