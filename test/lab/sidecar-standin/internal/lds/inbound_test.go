package lds

import (
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	statspb "istio.io/api/envoy/extensions/stats"
)

func anyOf(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func chain(t *testing.T, name string, port uint32, transport string, alpn []string, pc *statspb.PluginConfig) *listener.FilterChain {
	m := &hcm.HttpConnectionManager{StatPrefix: name}
	if pc != nil {
		m.HttpFilters = append(m.HttpFilters, &hcm.HttpFilter{Name: StatsFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(t, pc)}})
	}
	fcm := &listener.FilterChainMatch{TransportProtocol: transport, ApplicationProtocols: alpn}
	if port > 0 {
		fcm.DestinationPort = wrapperspb.UInt32(port)
	}
	return &listener.FilterChain{Name: name, FilterChainMatch: fcm, Filters: []*listener.Filter{{Name: hcmFilter, ConfigType: &listener.Filter_TypedConfig{TypedConfig: anyOf(t, m)}}}}
}

func resource(t *testing.T, l *listener.Listener) []*discovery.Resource {
	return []*discovery.Resource{{Name: l.GetName(), Resource: anyOf(t, l)}}
}

// The chain istiod generates for a PERMISSIVE HTTP port: TLS (mTLS ALPNs) and plaintext.
func virtualInbound(t *testing.T, pc *statspb.PluginConfig) *listener.Listener {
	return &listener.Listener{Name: VirtualInbound, FilterChains: []*listener.FilterChain{
		chain(t, "0.0.0.0_7001", 7001, "tls", []string{"istio-http/1.0", "istio-http/1.1", "istio-h2"}, pc),
		chain(t, "0.0.0.0_7001", 7001, "raw_buffer", []string{"http/1.1", "h2c"}, pc),
		chain(t, CatchAllHTTP, 0, "raw_buffer", []string{"http/1.1", "h2c"}, &statspb.PluginConfig{}),
	}}
}

func TestPicksThePlaintextChainOfThePortAndFollowsChanges(t *testing.T) {
	in := New(7001, t.Logf)
	drop := &statspb.PluginConfig{Metrics: []*statspb.MetricConfig{{Name: "request_bytes", Drop: true}}}
	if err := in.Apply(resource(t, virtualInbound(t, drop)), nil); err != nil {
		t.Fatal(err)
	}
	c := in.Current()
	if c == nil || !c.ForPort || c.Name != "0.0.0.0_7001" || c.Generation != 1 || !c.Stats.Dropped("request_bytes") {
		t.Fatalf("%+v", c)
	}
	// The same listener again (a push that changed something else): the chain stays.
	if err := in.Apply(resource(t, virtualInbound(t, drop)), nil); err != nil || in.Current().Generation != 1 {
		t.Fatalf("unchanged chain replaced: %v %+v", err, in.Current())
	}
	// Telemetry changed: a new chain generation.
	if err := in.Apply(resource(t, virtualInbound(t, &statspb.PluginConfig{})), nil); err != nil || in.Current().Generation != 2 || in.Current().Stats.Dropped("request_bytes") {
		t.Fatalf("%v %+v", err, in.Current())
	}
	// An expression that parses but cannot be planned: NACK, the chain in force stays.
	bad := &statspb.PluginConfig{Metrics: []*statspb.MetricConfig{{Name: "requests_total", Dimensions: map[string]string{"x": `undefined_fn(1)`}}}}
	if err := in.Apply(resource(t, virtualInbound(t, bad)), nil); err == nil || in.Current().Generation != 2 {
		t.Fatalf("accepted: %+v", in.Current())
	}
	// Another port: only the catch-all.
	other := New(8080, t.Logf)
	if err := other.Apply(resource(t, virtualInbound(t, drop)), nil); err != nil || other.Current().ForPort || other.Current().Name != CatchAllHTTP {
		t.Fatalf("%v %+v", err, other.Current())
	}
}
