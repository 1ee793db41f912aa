// Package xdsload is the xDS side of the mesh's other sidecars (not Xboard's): a delta ADS
// client that subscribes the way Envoy does as an Istio sidecar, so istiod does for it the work
// it does for a real proxy (push decisions, generation, the bytes on the wire), and counts what
// it receives, per type. The lab uses many of them to measure what VPS churn costs sidecars that
// never call a VPS (issue 17).
//
// The subscription order is Envoy's (GrpcMuxDelta with ADS, source/common/config/): CDS and LDS
// are wildcard; every EDS-typed cluster of the CDS answer becomes an EDS subscription (by its
// eds_cluster_config.service_name, else the cluster's name), every HTTP connection manager of
// the LDS answer that names an RDS route configuration becomes an RDS subscription; every
// response is ACKed with its nonce. Nothing here is applied to traffic: only the subscriptions
// and the counters matter.
package xdsload

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The xDS type URLs Envoy subscribes to as a sidecar (Istio's v3.ClusterType etc.).
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

// Types lists the four in the order the counters are reported.
var Types = []string{ClusterType, ListenerType, EndpointType, RouteType}

// ShortType is the name reports use: cds, lds, eds, rds.
func ShortType(url string) string {
	switch url {
	case ClusterType:
		return "cds"
	case ListenerType:
		return "lds"
	case EndpointType:
		return "eds"
	case RouteType:
		return "rds"
	}
	return url
}

// Config is one proxy: what its bootstrap would tell istiod.
type Config struct {
	Address  string // istiod's plaintext xDS address
	NodeID   string // sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local
	Metadata map[string]any
}

// Counters is what one client received of one type since it started.
type Counters struct {
	Responses int64 `json:"responses"`
	Bytes     int64 `json:"bytes"`
	Resources int64 `json:"resources"` // resources carried (an update of a held one counts again)
	Removed   int64 `json:"removed"`
}

// Snapshot is a client's state as the admin API reports it.
type Snapshot struct {
	Node     string              `json:"node"`
	Connects int64               `json:"connects"`
	Synced   bool                `json:"synced"` // every type subscribed has been answered since the last connect
	Held     map[string]int      `json:"held"`   // resources held, per short type
	ByType   map[string]Counters `json:"byType"`
	LastErr  string              `json:"lastError,omitempty"`
}

// Client is one sidecar's ADS stream.
type Client struct {
	cfg Config

	mu       sync.Mutex
	connects int64
	counters map[string]*Counters
	held     map[string]map[string]string // type -> name -> version
	answered map[string]bool              // type -> answered since connect
	wanted   map[string]bool              // types subscribed since connect
	lastErr  string
}

func NewClient(cfg Config) *Client {
	c := &Client{cfg: cfg, counters: map[string]*Counters{}, held: map[string]map[string]string{}}
	for _, t := range Types {
		c.counters[t] = &Counters{}
		c.held[t] = map[string]string{}
	}
	return c
}

// Snapshot copies the client's counters.
func (c *Client) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{Node: c.cfg.NodeID, Connects: c.connects, Held: map[string]int{}, ByType: map[string]Counters{}, LastErr: c.lastErr}
	s.Synced = c.connects > 0 && len(c.wanted) > 0
	for t := range c.wanted {
		if !c.answered[t] {
			s.Synced = false
		}
	}
	for _, t := range Types {
		s.Held[ShortType(t)] = len(c.held[t])
		s.ByType[ShortType(t)] = *c.counters[t]
	}
	return s
}

// Run keeps the stream up until ctx ends, reconnecting with backoff as Envoy does.
func (c *Client) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.lastErr = fmt.Sprint(err)
		c.mu.Unlock()
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (c *Client) stream(ctx context.Context) error {
	// Envoy's gRPC client sets no receive limit on its xDS stream; grpc-go's default of 4 MiB
	// would cut a large EDS or CDS answer that Envoy accepts.
	conn, err := grpc.NewClient(c.cfg.Address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<31-1)))
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return err
	}
	md, err := structpb.NewStruct(c.cfg.Metadata)
	if err != nil {
		return fmt.Errorf("node metadata: %w", err)
	}
	node := &core.Node{Id: c.cfg.NodeID, Metadata: md}

	c.mu.Lock()
	c.answered = map[string]bool{}
	c.wanted = map[string]bool{}
	// After a reconnect Envoy tells the server what it holds, per type, and re-subscribes to the
	// names it had (delta xDS's initial_resource_versions).
	first := make([]*discovery.DeltaDiscoveryRequest, 0, len(Types))
	for _, t := range Types {
		r := &discovery.DeltaDiscoveryRequest{TypeUrl: t, InitialResourceVersions: maps.Clone(c.held[t])}
		switch t {
		case ClusterType, ListenerType:
			c.wanted[t] = true
		default:
			if len(c.held[t]) == 0 {
				continue
			}
			r.ResourceNamesSubscribe = slices.Sorted(maps.Keys(c.held[t]))
			c.wanted[t] = true
		}
		first = append(first, r)
	}
	c.mu.Unlock()
	for i, r := range first {
		if i == 0 {
			r.Node = node
		}
		if err := st.Send(r); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.connects++
	c.mu.Unlock()

	for {
		resp, err := st.Recv()
		if err != nil {
			return err
		}
		follow, err := c.apply(resp)
		if err != nil {
			return err
		}
		if err := st.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
		for _, r := range follow {
			if err := st.Send(r); err != nil {
				return err
			}
		}
	}
}

// apply counts a response, updates what is held, and returns the subscription changes it implies
// (EDS names from clusters, RDS names from listeners).
func (c *Client) apply(resp *discovery.DeltaDiscoveryResponse) ([]*discovery.DeltaDiscoveryRequest, error) {
	t := resp.GetTypeUrl()
	c.mu.Lock()
	defer c.mu.Unlock()
	cnt, ok := c.counters[t]
	if !ok {
		return nil, nil // a type this client never asked for (none is expected)
	}
	cnt.Responses++
	cnt.Bytes += int64(proto.Size(resp))
	cnt.Resources += int64(len(resp.GetResources()))
	cnt.Removed += int64(len(resp.GetRemovedResources()))
	c.answered[t] = true
	held := c.held[t]
	for _, r := range resp.GetResources() {
		held[r.GetName()] = r.GetVersion()
	}
	for _, n := range resp.GetRemovedResources() {
		delete(held, n)
	}
	switch t {
	case ClusterType:
		names, err := edsNames(resp)
		if err != nil {
			return nil, err
		}
		return c.resubscribe(EndpointType, names, resp.GetRemovedResources(), clusterEDSName), nil
	case ListenerType:
		names, err := rdsNames(resp)
		if err != nil {
			return nil, err
		}
		return c.resubscribe(RouteType, names, nil, nil), nil
	}
	return nil, nil
}

// clusterEDSName maps a removed cluster's name to its EDS name: Istio names both the same.
func clusterEDSName(cluster string) string { return cluster }

// resubscribe sends the subscription diff for a dependent type: names newly referenced are
// subscribed; for removed parents (clusters), their names are unsubscribed. Names referenced by
// listeners are only ever added here (Envoy drops an RDS watch when no listener holds it any
// more; at the lab's scale the difference is a few names).
func (c *Client) resubscribe(t string, add []string, removedParents []string, parentToName func(string) string) []*discovery.DeltaDiscoveryRequest {
	held := c.held[t]
	req := &discovery.DeltaDiscoveryRequest{TypeUrl: t}
	for _, n := range add {
		if _, ok := held[n]; !ok {
			held[n] = "" // subscribed, not yet answered
			req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, n)
		}
	}
	for _, p := range removedParents {
		n := parentToName(p)
		if _, ok := held[n]; ok {
			delete(held, n)
			req.ResourceNamesUnsubscribe = append(req.ResourceNamesUnsubscribe, n)
		}
	}
	if len(req.ResourceNamesSubscribe) == 0 && len(req.ResourceNamesUnsubscribe) == 0 {
		return nil
	}
	if len(req.ResourceNamesSubscribe) > 0 && !c.wanted[t] {
		c.wanted[t] = true
		c.answered[t] = false
	}
	return []*discovery.DeltaDiscoveryRequest{req}
}

func edsNames(resp *discovery.DeltaDiscoveryResponse) ([]string, error) {
	var out []string
	for _, r := range resp.GetResources() {
		cl := &cluster.Cluster{}
		if err := r.GetResource().UnmarshalTo(cl); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", r.GetName(), err)
		}
		if cl.GetType() != cluster.Cluster_EDS {
			continue
		}
		name := cl.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = cl.GetName()
		}
		out = append(out, name)
	}
	return out, nil
}

func rdsNames(resp *discovery.DeltaDiscoveryResponse) ([]string, error) {
	seen := map[string]bool{}
	for _, r := range resp.GetResources() {
		l := &listener.Listener{}
		if err := r.GetResource().UnmarshalTo(l); err != nil {
			return nil, fmt.Errorf("listener %s: %w", r.GetName(), err)
		}
		chains := append(slices.Clone(l.GetFilterChains()), l.GetDefaultFilterChain())
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				tc := f.GetTypedConfig()
				if tc == nil || tc.GetTypeUrl() != "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager" {
					continue
				}
				m := &hcm.HttpConnectionManager{}
				if err := tc.UnmarshalTo(m); err != nil {
					return nil, fmt.Errorf("listener %s: %w", r.GetName(), err)
				}
				if n := m.GetRds().GetRouteConfigName(); n != "" {
					seen[n] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
