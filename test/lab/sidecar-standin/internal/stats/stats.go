// Package stats emits the four series Envoy's istio_stats filter emits for an inbound HTTP
// request on a sidecar (reporter="destination"), with Istio's exact label set and Envoy's default
// histogram buckets, so Prometheus, the alert rules and Kiali's PromQL see what they would see
// from a real Xboard sidecar on /stats/prometheus.
package stats

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Labels is Istio's standard label set for request metrics, in its documented order.
var Labels = []string{
	"reporter",
	"source_workload", "source_canonical_service", "source_canonical_revision",
	"source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal",
	"destination_app", "destination_version", "destination_service", "destination_canonical_service",
	"destination_canonical_revision", "destination_service_name", "destination_service_namespace",
	"destination_cluster",
	"request_protocol", "response_code", "grpc_response_status", "response_flags",
	"connection_security_policy",
}

// EnvoyDefaultBuckets are Envoy's default histogram bucket bounds (Istio does not override them
// for these metrics): duration in milliseconds, sizes in bytes.
var EnvoyDefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

const Unknown = "unknown"

// Source is the peer metadata found for the caller (empty fields become "unknown"; revision
// becomes "latest", as istio_stats does).
type Source struct {
	Workload, CanonicalService, CanonicalRevision, Namespace, App, Version, Cluster string
}

// Destination is the sidecar's own node metadata.
type Destination struct {
	Workload, Namespace, App, Version, Service, CanonicalService, CanonicalRevision, ServiceName, ServiceNamespace, Cluster string
}

type Recorder struct {
	dst      Destination
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	reqBytes *prometheus.HistogramVec
	resBytes *prometheus.HistogramVec
}

func NewRecorder(reg prometheus.Registerer, dst Destination) *Recorder {
	r := &Recorder{
		dst:      dst,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total", Help: "Total requests (Envoy istio_stats)"}, Labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_duration_milliseconds", Help: "Request duration in milliseconds", Buckets: EnvoyDefaultBuckets}, Labels),
		reqBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_bytes", Help: "Request size in bytes (headers and body)", Buckets: EnvoyDefaultBuckets}, Labels),
		resBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_response_bytes", Help: "Response size in bytes (headers and body)", Buckets: EnvoyDefaultBuckets}, Labels),
	}
	reg.MustRegister(r.requests, r.duration, r.reqBytes, r.resBytes)
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

// Record counts one finished request. code 0 = no response sent; flags "-" when none.
func (r *Recorder) Record(src *Source, code int, flags string, durationMs float64, requestBytes, responseBytes int64) {
	s := Source{}
	if src != nil {
		s = *src
	}
	rev := s.CanonicalRevision
	if rev == "" {
		rev = "latest"
	}
	if flags == "" {
		flags = "-"
	}
	d := r.dst
	values := []string{
		"destination",
		orUnknown(s.Workload), orUnknown(s.CanonicalService), rev,
		orUnknown(s.Namespace), Unknown /* source_principal: plaintext, no peer certificate */, orUnknown(s.App), orUnknown(s.Version), orUnknown(s.Cluster),
		orUnknown(d.Workload), orUnknown(d.Namespace), Unknown, /* destination_principal: plaintext inbound */
		orUnknown(d.App), orUnknown(d.Version), orUnknown(d.Service), orUnknown(d.CanonicalService),
		orLatest(d.CanonicalRevision), orUnknown(d.ServiceName), orUnknown(d.ServiceNamespace),
		orUnknown(d.Cluster),
		"http", strconv.Itoa(code), "", flags,
		"none", /* connection_security_policy: plaintext */
	}
	r.requests.WithLabelValues(values...).Inc()
	r.duration.WithLabelValues(values...).Observe(durationMs)
	r.reqBytes.WithLabelValues(values...).Observe(float64(requestBytes))
	r.resBytes.WithLabelValues(values...).Observe(float64(responseBytes))
}

func orLatest(s string) string {
	if s == "" {
		return "latest"
	}
	return s
}
