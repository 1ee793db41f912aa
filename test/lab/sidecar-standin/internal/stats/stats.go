// Package stats is the stand-in's copy of Envoy's istio_stats filter for an inbound HTTP request
// on a sidecar (reporter="destination") and of the Envoy stats store behind it: the standard
// metrics with Istio's tags, the filter's configuration from istiod (config.go: drop,
// tags_to_remove, CEL dimensions), the histogram bucket bounds and the eviction of idle series
// from the bootstrap (bootstrap.go), and the Prometheus text Envoy's admin endpoint prints
// (/stats/prometheus). Sources: envoyproxy/envoy contrib/istio/filters/http/istio_stats/source/
// istio_stats.cc (IstioStatsFilter::log, populatePeerInfo), source/common/stats/histogram_impl.cc,
// source/server/admin/prometheus_stats.cc; envoy.config.bootstrap.v3.Bootstrap
// stats_eviction_interval.
package stats

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const Unknown = "unknown"

// Tag is one label of a series, in the order the filter builds it.
type Tag struct {
	Name, Value string
}

// Source is the peer metadata found for the caller (empty fields become "unknown"; the revision
// becomes "latest", as populatePeerInfo does).
type Source struct {
	Workload, CanonicalService, CanonicalRevision, Namespace, App, Version, Cluster string
}

// Destination is the sidecar's own node metadata (WORKLOAD_NAME, NAMESPACE, LABELS, CLUSTER_ID)
// and the inbound cluster's service (cluster metadata istio.services[0]).
type Destination struct {
	Workload, Namespace, App, Version, Service, CanonicalService, CanonicalRevision, ServiceName, ServiceNamespace, Cluster string
}

// Outcome is the end of one request as the filter's log() sees it.
type Outcome struct {
	// Code is the response code, 0 when no response was sent.
	Code int
	// Flags is Envoy's short response flag string, "" when none ("-" is printed).
	Flags         string
	Duration      time.Duration
	RequestBytes  int64 // downstream wire bytes received
	ResponseBytes int64 // downstream wire bytes sent
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

func orLatest(s string) string {
	if s == "" {
		return "latest"
	}
	return s
}

// StandardTagValues is the tag vector the filter builds for a plaintext HTTP request on a
// sidecar's inbound listener, in its order: reporter, then populatePeerInfo's source_* and
// destination_* (ServerSidecar), then log()'s request_protocol, response_code,
// grpc_response_status, then response_flags and connection_security_policy.
func StandardTagValues(src *Source, dst Destination, o Outcome) []Tag {
	s := Source{}
	if src != nil {
		s = *src
	}
	flags := o.Flags
	if flags == "" {
		flags = "-"
	}
	return []Tag{
		{"reporter", "destination"},
		{"source_workload", orUnknown(s.Workload)},
		{"source_canonical_service", orUnknown(s.CanonicalService)},
		{"source_canonical_revision", orLatest(s.CanonicalRevision)},
		{"source_workload_namespace", orUnknown(s.Namespace)},
		{"source_principal", Unknown}, // plaintext: no peer certificate
		{"source_app", orUnknown(s.App)},
		{"source_version", orUnknown(s.Version)},
		{"source_cluster", orUnknown(s.Cluster)},
		{"destination_workload", dst.Workload},
		{"destination_workload_namespace", dst.Namespace},
		{"destination_principal", Unknown}, // plaintext: no local certificate in use
		{"destination_app", dst.App},
		{"destination_version", dst.Version},
		{"destination_service", orDefault(dst.Service, dst.CanonicalService)},
		{"destination_canonical_service", dst.CanonicalService},
		{"destination_canonical_revision", dst.CanonicalRevision},
		{"destination_service_name", orDefault(dst.ServiceName, dst.CanonicalService)},
		{"destination_service_namespace", dst.Namespace},
		{"destination_cluster", dst.Cluster},
		{"request_protocol", "http"},
		{"response_code", strconv.Itoa(o.Code)},
		{"grpc_response_status", ""},
		{"response_flags", flags},
		{"connection_security_policy", "none"}, // no peer and no local SAN: mutual_tls_ false
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type series struct {
	metric string // emitted name, e.g. istio_requests_total
	tags   []Tag
	hist   bool
	count  uint64
	sum    uint64    // histograms: sum of recorded values (whole ms / bytes)
	bounds []float64 // histograms: the bucket bounds in force when the series was created
	below  []uint64  // histograms: values below each bound
	used   bool      // updated since the last eviction sweep
}

// Store is the evictable stats scope the filter records into (Context::scope_, created with
// evictable = true) plus the non-evictable istio_build gauge.
type Store struct {
	boot    Bootstrap
	version string

	mu      sync.Mutex
	series  map[string]*series
	sweeps  int
	evicted int
}

func NewStore(boot Bootstrap, istioVersion string) *Store {
	return &Store{boot: boot, version: istioVersion, series: map[string]*series{}}
}

// Bootstrap is what the store was started with (changes need a restart, as in Envoy).
func (s *Store) Bootstrap() Bootstrap { return s.boot }

func key(metric string, tags []Tag) string {
	var b strings.Builder
	b.WriteString(metric)
	for _, t := range tags {
		b.WriteByte(0)
		b.WriteString(t.Name)
		b.WriteByte(1)
		b.WriteString(t.Value)
	}
	return b.String()
}

// Record is IstioStatsFilter::log for one HTTP request under cfg: the expressions evaluated once,
// then istio_requests_total, and the three histograms (duration in whole milliseconds as
// absl::FromChrono(duration) / absl::Milliseconds(1) truncates, sizes in wire bytes), each unless
// dropped and with its tags overridden.
func (s *Store) Record(cfg *Config, tags []Tag, o Outcome, a Attributes) {
	values := cfg.Evaluate(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(cfg, RequestsTotal, tags, values, false, 0)
	s.add(cfg, RequestDuration, tags, values, true, uint64(o.Duration/time.Millisecond))
	s.add(cfg, RequestBytes, tags, values, true, uint64(max(o.RequestBytes, 0)))
	s.add(cfg, ResponseBytes, tags, values, true, uint64(max(o.ResponseBytes, 0)))
}

func (s *Store) add(cfg *Config, metric string, tags []Tag, values []string, hist bool, v uint64) {
	if cfg.Dropped(metric) {
		return
	}
	name := "istio_" + metric
	t := cfg.Tags(metric, tags, values)
	k := key(name, t)
	se := s.series[k]
	if se == nil {
		se = &series{metric: name, tags: t, hist: hist}
		if hist {
			se.bounds = s.boot.buckets(CustomStatNamespace + "." + name)
			se.below = make([]uint64, len(se.bounds))
		}
		s.series[k] = se
	}
	se.used = true
	if !hist {
		se.count++
		return
	}
	se.count++
	se.sum += v
	// HistogramStatisticsImpl: each bucket is hist_approx_count_below(bound), the values below
	// the bound (for whole-number values and Envoy's two-significant-digit bins, exactly those
	// strictly below it).
	for i, b := range se.bounds {
		if float64(v) < b {
			se.below[i]++
		}
	}
}

// Sweep is one eviction pass of the evictable scope: series not updated since the previous
// pass are removed, the others marked unused. The bootstrap field's contract
// (envoy.config.bootstrap.v3.Bootstrap.stats_eviction_interval): "At every interval, during the
// stats flush the unused metrics are removed from the worker caches and the used metrics are
// marked as unused." So a series idle for between one and two intervals disappears; if it is
// used again it starts from zero (a counter reset to Prometheus).
func (s *Store) Sweep() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, se := range s.series {
		if !se.used {
			delete(s.series, k)
			n++
			continue
		}
		se.used = false
	}
	s.sweeps++
	s.evicted += n
	return n
}

// RunEviction sweeps every eviction interval until stop closes; without an interval (the
// annotation unset, or refused as pilot-agent refuses it) nothing is ever evicted.
func (s *Store) RunEviction(stop <-chan struct{}, logf func(string, ...any)) {
	if s.boot.EvictionInterval <= 0 {
		return
	}
	t := time.NewTicker(s.boot.EvictionInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if n := s.Sweep(); n > 0 {
				logf("stats: eviction removed %d idle series", n)
			}
		}
	}
}

// Counts are the store's size for the stand-in's own metrics.
func (s *Store) Counts() (series, sweeps, evicted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.series), s.sweeps, s.evicted
}

// WritePrometheus prints the store as Envoy's /stats/prometheus does for these stats: one
// "# TYPE" line per metric family, counters as is, histograms as a _bucket line per bound (the
// count below it), le="+Inf" (all), _sum and _count; the custom namespace istiocustom is not
// part of the name; the istio_build gauge (Config::recordVersion) first.
func (s *Store) WritePrometheus(w io.Writer) error {
	s.mu.Lock()
	all := make([]*series, 0, len(s.series))
	for _, se := range s.series {
		cp := *se
		cp.below = append([]uint64(nil), se.below...)
		all = append(all, &cp)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].metric != all[j].metric {
			return all[i].metric < all[j].metric
		}
		return key("", all[i].tags) < key("", all[j].tags)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE istio_build gauge\nistio_build{component=\"proxy\",tag=%q} 1\n", orUnknown(s.version))
	family := ""
	for _, se := range all {
		if se.metric != family {
			family = se.metric
			kind := "counter"
			if se.hist {
				kind = "histogram"
			}
			fmt.Fprintf(&b, "# TYPE %s %s\n", family, kind)
		}
		labels := formatTags(se.tags)
		if !se.hist {
			fmt.Fprintf(&b, "%s{%s} %d\n", se.metric, labels, se.count)
			continue
		}
		sep := ""
		if labels != "" {
			sep = ","
		}
		for i, bound := range se.bounds {
			fmt.Fprintf(&b, "%s_bucket{%s%sle=\"%s\"} %d\n", se.metric, labels, sep, strconv.FormatFloat(bound, 'f', -1, 64), se.below[i])
		}
		fmt.Fprintf(&b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", se.metric, labels, sep, se.count)
		fmt.Fprintf(&b, "%s_sum{%s} %d\n", se.metric, labels, se.sum)
		fmt.Fprintf(&b, "%s_count{%s} %d\n", se.metric, labels, se.count)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func formatTags(tags []Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t.Name + `="` + labelEscaper.Replace(t.Value) + `"`
	}
	return strings.Join(parts, ",")
}
