// Package xds is the stand-in's delta xDS subscription to istiod, one type per stream (Envoy
// multiplexes its types on one ADS stream; istiod serves each type the same either way):
// Envoy's GrpcMuxDelta with one wildcard watch. The first request carries the node and no
// resource names (wildcard); every response is handed to the type's Apply and ACKed with its
// nonce, or NACKed with Apply's error (Envoy then keeps its previous state); after a reconnect
// the request lists the resources held (initial_resource_versions) so istiod can send removals
// for what went away meanwhile.
package xds

import (
	"context"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Node is what the sidecar's bootstrap gives its xDS client: istiod's address and the node.
type Node struct {
	Address  string         // istiod's plaintext xDS address (15010)
	ID       string         // sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local
	Metadata map[string]any // node metadata (ISTIO_VERSION, NAMESPACE, CLUSTER_ID, LABELS, ...)
}

// Client keeps one delta subscription up.
type Client struct {
	node    Node
	typeURL string
	apply   func(added []*discovery.Resource, removed []string) error
	logf    func(string, ...any)

	synced    atomic.Bool
	responses atomic.Int64
	bytes     atomic.Int64
	rejected  atomic.Int64
	connects  atomic.Int64

	mu       sync.Mutex
	versions map[string]string // name -> version (Envoy's delta subscription state)
}

// NewClient subscribes to typeURL; apply gets every response and returns an error to NACK it.
func NewClient(node Node, typeURL string, apply func(added []*discovery.Resource, removed []string) error, logf func(string, ...any)) *Client {
	if logf == nil {
		logf = log.Printf
	}
	return &Client{node: node, typeURL: typeURL, apply: apply, logf: logf, versions: map[string]string{}}
}

// Synced reports whether a first response was applied.
func (c *Client) Synced() bool { return c.synced.Load() }

// Responses applied, their size on the wire (protobuf) with the rejected ones, responses rejected
// (NACKed), streams opened.
func (c *Client) Responses() int64 { return c.responses.Load() }
func (c *Client) Bytes() int64     { return c.bytes.Load() }
func (c *Client) Rejected() int64  { return c.rejected.Load() }
func (c *Client) Connects() int64  { return c.connects.Load() }

// Run keeps the subscription up until ctx ends, reconnecting with backoff (istiod refuses
// streams until its caches have synced).
func (c *Client) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		c.logf("xds %s: stream to %s ended: %v; retrying in %s", short(c.typeURL), c.node.Address, err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func short(typeURL string) string {
	for i := len(typeURL) - 1; i >= 0; i-- {
		if typeURL[i] == '.' {
			return typeURL[i+1:]
		}
	}
	return typeURL
}

func (c *Client) stream(ctx context.Context) error {
	// Envoy's gRPC client sets no receive limit on its xDS stream; grpc-go's default of 4 MiB
	// would refuse the first answer of a large fleet (about 100 bytes a workload) that Envoy takes.
	conn, err := grpc.NewClient(c.node.Address, grpc.WithTransportCredentials(insecure.NewCredentials()),
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
	md, err := structpb.NewStruct(c.node.Metadata)
	if err != nil {
		return fmt.Errorf("node metadata: %w", err)
	}
	first := &discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: c.node.ID, Metadata: md}, TypeUrl: c.typeURL}
	c.mu.Lock()
	if len(c.versions) > 0 {
		first.InitialResourceVersions = make(map[string]string, len(c.versions))
		for k, v := range c.versions {
			first.InitialResourceVersions[k] = v
		}
	}
	c.mu.Unlock()
	if err := st.Send(first); err != nil {
		return err
	}
	c.connects.Add(1)
	c.logf("xds %s: subscribed at %s as %s (%d resources held)", short(c.typeURL), c.node.Address, c.node.ID, len(first.InitialResourceVersions))
	for {
		resp, err := st.Recv()
		if err != nil {
			return err
		}
		if resp.GetTypeUrl() != c.typeURL {
			continue
		}
		c.bytes.Add(int64(proto.Size(resp)))
		ack := &discovery.DeltaDiscoveryRequest{TypeUrl: c.typeURL, ResponseNonce: resp.GetNonce()}
		if err := c.apply(resp.GetResources(), resp.GetRemovedResources()); err != nil {
			ack.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
			c.rejected.Add(1)
			c.logf("xds %s: rejecting response %s: %v", short(c.typeURL), resp.GetNonce(), err)
		} else {
			c.mu.Lock()
			for _, r := range resp.GetResources() {
				c.versions[r.GetName()] = r.GetVersion()
			}
			for _, n := range resp.GetRemovedResources() {
				delete(c.versions, n)
			}
			c.mu.Unlock()
			c.responses.Add(1)
			c.synced.Store(true)
		}
		if err := st.Send(ack); err != nil {
			return err
		}
	}
}
