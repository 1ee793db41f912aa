package wds

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

	"istio.io/istio/pkg/workloadapi"
)

// WorkloadType is the type Envoy's metadata_discovery extension subscribes to
// (Grpc::Common::typeUrl of istio.workload.Workload).
const WorkloadType = "type.googleapis.com/istio.workload.Workload"

// Config is what the sidecar's bootstrap gives the extension: istiod's address and the node.
type Config struct {
	Address  string         // istiod's plaintext xDS address (15010)
	NodeID   string         // sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local
	Metadata map[string]any // node metadata (ISTIO_VERSION, NAMESPACE, CLUSTER_ID, ...)
	Logf     func(string, ...any)
}

// Client runs the delta subscription like Envoy's GrpcMuxDelta with one wildcard watch:
// the first request carries the node and no resource names (wildcard), every response is
// applied to the store and ACKed with its nonce, and after a reconnect the request lists the
// resources held (initial_resource_versions) so istiod can send removals for what went away.
type Client struct {
	cfg       Config
	store     *Store
	synced    atomic.Bool
	responses atomic.Int64
	bytes     atomic.Int64
	connects  atomic.Int64

	mu       sync.Mutex
	versions map[string]string // uid -> version (Envoy's delta subscription state)
}

func NewClient(cfg Config, store *Store) *Client {
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	return &Client{cfg: cfg, store: store, versions: map[string]string{}}
}

// Synced reports whether a first response was applied (Envoy's init target for the extension).
func (c *Client) Synced() bool { return c.synced.Load() }

// Responses is the number of delta responses applied, Bytes their size on the wire (protobuf),
// Connects the number of streams opened.
func (c *Client) Responses() int64 { return c.responses.Load() }
func (c *Client) Bytes() int64     { return c.bytes.Load() }
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
		c.cfg.Logf("wds: stream to %s ended: %v; retrying in %s", c.cfg.Address, err, backoff)
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
	// would refuse the first answer of a large fleet (about 100 bytes a workload) that Envoy takes.
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
	first := &discovery.DeltaDiscoveryRequest{
		Node:    &core.Node{Id: c.cfg.NodeID, Metadata: md},
		TypeUrl: WorkloadType,
	}
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
	c.cfg.Logf("wds: subscribed to %s at %s as %s (%d resources held)", WorkloadType, c.cfg.Address, c.cfg.NodeID, len(first.InitialResourceVersions))
	for {
		resp, err := st.Recv()
		if err != nil {
			return err
		}
		if resp.GetTypeUrl() != WorkloadType {
			continue
		}
		c.bytes.Add(int64(proto.Size(resp)))
		added := make([]*workloadapi.Workload, 0, len(resp.GetResources()))
		var bad error
		for _, r := range resp.GetResources() {
			w := &workloadapi.Workload{}
			if err := r.GetResource().UnmarshalTo(w); err != nil {
				bad = fmt.Errorf("resource %s: %w", r.GetName(), err)
				break
			}
			added = append(added, w)
		}
		ack := &discovery.DeltaDiscoveryRequest{TypeUrl: WorkloadType, ResponseNonce: resp.GetNonce()}
		if bad != nil { // NACK: Envoy rejects the whole response and keeps its state
			ack.ErrorDetail = statusProto(bad)
			c.cfg.Logf("wds: rejecting response %s: %v", resp.GetNonce(), bad)
		} else {
			c.store.Update(added, resp.GetRemovedResources())
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
			c.cfg.Logf("wds: applied %d workload(s), %d removal(s); index holds %d address(es)", len(added), len(resp.GetRemovedResources()), c.store.Total())
		}
		if err := st.Send(ack); err != nil {
			return err
		}
	}
}

func statusProto(err error) *rpcstatus.Status {
	return &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
}
