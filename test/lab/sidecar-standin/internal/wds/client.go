package wds

import (
	"fmt"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"istio.io/istio/pkg/workloadapi"

	"xrayr-mesh-operator/test/lab/sidecar-standin/internal/xds"
)

// WorkloadType is the type Envoy's metadata_discovery extension subscribes to
// (Grpc::Common::typeUrl of istio.workload.Workload).
const WorkloadType = "type.googleapis.com/istio.workload.Workload"

// NewClient is the metadata_discovery extension's subscription: every Workload response is
// applied to the store (a resource that does not decode rejects the whole response, and Envoy
// keeps its state).
func NewClient(node xds.Node, store *Store, logf func(string, ...any)) *xds.Client {
	return xds.NewClient(node, WorkloadType, func(resources []*discovery.Resource, removed []string) error {
		added := make([]*workloadapi.Workload, 0, len(resources))
		for _, r := range resources {
			w := &workloadapi.Workload{}
			if err := r.GetResource().UnmarshalTo(w); err != nil {
				return fmt.Errorf("resource %s: %w", r.GetName(), err)
			}
			added = append(added, w)
		}
		store.Update(added, removed)
		if logf != nil {
			logf("wds: applied %d workload(s), %d removal(s); index holds %d address(es)", len(added), len(removed), store.Total())
		}
		return nil
	}, logf)
}
