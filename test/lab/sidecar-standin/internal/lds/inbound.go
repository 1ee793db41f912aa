// Package lds reads the sidecar's inbound configuration from the listeners istiod generates for
// it (LDS, type envoy.config.listener.v3.Listener): the `virtualInbound` listener, the filter
// chain Envoy would pick for a plaintext HTTP/1.1 connection to the application's port, and on
// that chain the HTTP connection manager's `istio.stats` filter, whose typed config
// (istio/api stats.PluginConfig) istiod builds from the Telemetry API
// (istio/istio pilot/pkg/model/telemetry.go generateStatsConfig). Each listener update that
// changes that chain yields a new compiled stats config; connections accepted on the old chain
// are drained (Envoy's filter-chain-only listener update).
package lds

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"

	statspb "istio.io/api/envoy/extensions/stats"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/stats"
	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/xds"
)

const (
	// ListenerType is LDS's type URL.
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	// VirtualInbound is the listener iptables redirects inbound traffic to (pilot/pkg/model
	// listener.go VirtualInboundListenerName).
	VirtualInbound = "virtualInbound"
	// CatchAllHTTP is the chain for HTTP to a port no Service targets
	// (VirtualInboundCatchAllHTTPFilterChainName): used, like Envoy, when the port has no chain.
	CatchAllHTTP = "virtualInbound-catchall-http"
	// StatsFilter is the HTTP filter's name (istio pkg/config/xds StatsFilterName).
	StatsFilter = "istio.stats"
	hcmFilter   = "envoy.filters.network.http_connection_manager"
	pluginType  = "type.googleapis.com/stats.PluginConfig"
)

// Chain is the inbound filter chain in force for the application's port.
type Chain struct {
	// Generation counts changes of the chain (1 = the first one istiod sent).
	Generation int
	Name       string
	// ForPort is false when the port has no chain of its own and the catch-all is used.
	ForPort bool
	// Stats is the compiled istio.stats config; the default (no overrides) when the chain has
	// no stats filter, which Envoy then does not run at all (see Recording).
	Stats *stats.Config
	// Recording is false when the chain has no istio.stats filter (metrics disabled).
	Recording bool
	At        time.Time
	proto     *listener.FilterChain
}

// Inbound follows the virtualInbound listener for one application port.
type Inbound struct {
	port uint32
	logf func(string, ...any)

	mu        sync.Mutex
	listeners map[string]*listener.Listener
	cur       atomic.Pointer[Chain]
	changes   atomic.Int64
}

func New(port uint32, logf func(string, ...any)) *Inbound {
	return &Inbound{port: port, logf: logf, listeners: map[string]*listener.Listener{}}
}

// Current is the chain new connections get (nil before the first listener response).
func (in *Inbound) Current() *Chain { return in.cur.Load() }

// Subscribe is the LDS subscription of the sidecar (wildcard), applying every response here.
func (in *Inbound) Subscribe(node xds.Node) *xds.Client {
	return xds.NewClient(node, ListenerType, in.Apply, in.logf)
}

// Apply takes one delta response. A listener that does not decode, or a stats config that
// cannot be built, rejects the whole response (NACK) and leaves the chain in force.
func (in *Inbound) Apply(added []*discovery.Resource, removed []string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	next := make(map[string]*listener.Listener, len(in.listeners))
	for k, v := range in.listeners {
		next[k] = v
	}
	for _, n := range removed {
		delete(next, n)
	}
	for _, r := range added {
		l := &listener.Listener{}
		if err := r.GetResource().UnmarshalTo(l); err != nil {
			return fmt.Errorf("listener %s: %w", r.GetName(), err)
		}
		next[l.GetName()] = l
	}
	chain, forPort := pick(next[VirtualInbound], in.port)
	prev := in.cur.Load()
	if chain == nil {
		in.listeners = next
		if prev != nil {
			in.logf("lds: no inbound chain for port %d any more; keeping %s", in.port, prev.Name)
		}
		return nil
	}
	if prev != nil && proto.Equal(prev.proto, chain) {
		in.listeners = next
		return nil
	}
	pc, found, err := statsConfig(chain)
	if err != nil {
		return fmt.Errorf("filter chain %s: %w", chain.GetName(), err)
	}
	cfg := stats.DefaultConfig()
	if found {
		if cfg, err = stats.Compile(pc); err != nil {
			return fmt.Errorf("filter chain %s: istio.stats: %w", chain.GetName(), err)
		}
	}
	gen := 1
	if prev != nil {
		gen = prev.Generation + 1
	}
	in.listeners = next
	in.cur.Store(&Chain{Generation: gen, Name: chain.GetName(), ForPort: forPort, Stats: cfg, Recording: found, At: time.Now(), proto: chain})
	in.changes.Add(1)
	in.logf("lds: inbound chain %s (generation %d) for port %d: istio.stats %v %v", chain.GetName(), gen, in.port, found, cfg.Summary())
	return nil
}

// pick is Envoy's filter chain selection for a plaintext HTTP/1.1 connection to port (no TLS,
// http_inspector says "http/1.1"): the most specific destination_port (the port itself before
// no port), then transport_protocol "raw_buffer" before unset, then application protocols
// naming http/1.1 before unset; a chain requiring TLS, other protocols, addresses or sources
// does not match. With no chain for the port itself, the catch-all HTTP chain.
func pick(l *listener.Listener, port uint32) (*listener.FilterChain, bool) {
	if l == nil {
		return nil, false
	}
	var best *listener.FilterChain
	bestScore := -1
	for _, c := range l.GetFilterChains() {
		m := c.GetFilterChainMatch()
		score := 0
		if p := m.GetDestinationPort(); p != nil {
			if p.GetValue() != port {
				continue
			}
			score += 100
		}
		switch m.GetTransportProtocol() {
		case "raw_buffer":
			score += 10
		case "":
		default:
			continue
		}
		if alpn := m.GetApplicationProtocols(); len(alpn) > 0 {
			ok := false
			for _, a := range alpn {
				ok = ok || a == "http/1.1"
			}
			if !ok {
				continue
			}
			score++
		}
		if len(m.GetPrefixRanges()) > 0 || len(m.GetSourcePrefixRanges()) > 0 || len(m.GetSourcePorts()) > 0 || len(m.GetServerNames()) > 0 || len(m.GetDirectSourcePrefixRanges()) > 0 {
			continue
		}
		if !hasHCM(c) {
			continue
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	if best != nil && bestScore >= 100 {
		return best, true
	}
	for _, c := range l.GetFilterChains() {
		if c.GetName() == CatchAllHTTP {
			return c, false
		}
	}
	return best, false
}

func hasHCM(c *listener.FilterChain) bool {
	for _, f := range c.GetFilters() {
		if f.GetName() == hcmFilter {
			return true
		}
	}
	return false
}

// statsConfig finds the istio.stats HTTP filter on the chain's connection manager.
func statsConfig(c *listener.FilterChain) (*statspb.PluginConfig, bool, error) {
	for _, f := range c.GetFilters() {
		if f.GetName() != hcmFilter {
			continue
		}
		m := &hcm.HttpConnectionManager{}
		if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
			return nil, false, fmt.Errorf("http_connection_manager: %w", err)
		}
		for _, hf := range m.GetHttpFilters() {
			if hf.GetName() != StatsFilter {
				continue
			}
			tc := hf.GetTypedConfig()
			if tc.GetTypeUrl() != pluginType {
				return nil, false, fmt.Errorf("%s typed_config is %s, not %s", StatsFilter, tc.GetTypeUrl(), pluginType)
			}
			pc := &statspb.PluginConfig{}
			if err := tc.UnmarshalTo(pc); err != nil {
				return nil, false, fmt.Errorf("%s: %w", StatsFilter, err)
			}
			return pc, true, nil
		}
	}
	return nil, false, nil
}

// Changes is the number of chain changes applied.
func (in *Inbound) Changes() int64 { return in.changes.Load() }
