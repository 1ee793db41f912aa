package stats

// What pilot-agent's bootstrap gives Envoy's stats system, taken from the pod's annotations the
// way pilot-agent takes them: it reads the downward-API file /etc/istio/pod/annotations
// (istio/istio pkg/bootstrap/config.go ReadPodAnnotations, ParseDownwardAPI: one `key="value"`
// line per annotation, the value Go-quoted) and getStatsOptions turns three annotations into
// bootstrap fields (tools/packaging/common/envoy_bootstrap.json):
//
//	sidecar.istio.io/statsHistogramBuckets  JSON {prefix: [bounds]}; a JSON error is logged and the
//	                                        whole annotation ignored; matchers sorted by prefix ->
//	                                        stats_config.histogram_bucket_settings (Envoy: first
//	                                        prefix that matches the stat's name wins, otherwise
//	                                        Envoy's default bounds)
//	sidecar.istio.io/statsFlushInterval     Go duration, default 5s -> stats_flush_interval
//	sidecar.istio.io/statsEvictionInterval  Go duration; refused (logged, not set) unless a
//	                                        multiple of the flush interval; whole seconds ->
//	                                        stats_eviction_interval
//
// It is bootstrap: read once at start. A changed annotation takes a new pod (restart).

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The annotation names (istio/api annotation/annotations.yaml).
const (
	AnnotationHistogramBuckets = "sidecar.istio.io/statsHistogramBuckets"
	AnnotationFlushInterval    = "sidecar.istio.io/statsFlushInterval"
	AnnotationEvictionInterval = "sidecar.istio.io/statsEvictionInterval"
)

// CustomStatNamespace is the stat namespace istio_stats registers its metrics under
// (istio_stats.cc CustomStatNamespace): a bucket prefix "istiocustom" reaches every istio_*
// histogram and no envoy_* one.
const CustomStatNamespace = "istiocustom"

// EnvoyDefaultBuckets are Envoy's default histogram bounds (HistogramSettingsImpl::defaultBuckets).
var EnvoyDefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// BucketSetting is one stats_config.histogram_bucket_settings entry (a prefix matcher).
type BucketSetting struct {
	Prefix string    `json:"prefix"`
	Bounds []float64 `json:"buckets"`
}

// Bootstrap is the stats part of the sidecar's bootstrap.
type Bootstrap struct {
	HistogramBuckets []BucketSetting `json:"histogramBucketSettings"`
	FlushInterval    time.Duration   `json:"flushInterval"`
	// EvictionInterval is 0 when unset (no eviction).
	EvictionInterval time.Duration `json:"evictionInterval"`
	// Warnings are what pilot-agent logs while building these options.
	Warnings []string `json:"warnings,omitempty"`
}

// buckets is HistogramSettingsImpl::buckets: the first matching setting, else Envoy's default.
func (b Bootstrap) buckets(statName string) []float64 {
	for _, s := range b.HistogramBuckets {
		if strings.HasPrefix(statName, s.Prefix) {
			return s.Bounds
		}
	}
	return EnvoyDefaultBuckets
}

// ParseDownwardAPI is pilot-agent's parser of a downward-API labels/annotations file.
func ParseDownwardAPI(text string) (map[string]string, error) {
	res := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		val, err := strconv.Unquote(v)
		if err != nil {
			return nil, fmt.Errorf("failed to unquote %v: %v", v, err)
		}
		res[k] = val
	}
	return res, nil
}

// ReadDownwardAPIFile reads a labels or annotations file; a missing file is an empty map (a pod
// without annotations has an empty file; pilot-agent logs and carries on without).
func ReadDownwardAPIFile(path string) (map[string]string, error) {
	if path == "" {
		return map[string]string{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDownwardAPI(string(b))
}

// BootstrapFromAnnotations is getStatsOptions' reading of the three annotations.
func BootstrapFromAnnotations(annos map[string]string) Bootstrap {
	b := Bootstrap{FlushInterval: 5 * time.Second}
	if v, ok := annos[AnnotationHistogramBuckets]; ok {
		js := map[string][]float64{}
		if err := json.Unmarshal([]byte(v), &js); err != nil {
			b.Warnings = append(b.Warnings, fmt.Sprintf("Failed to unmarshal histogram buckets %v: %v", v, err))
		} else {
			for prefix, bounds := range js {
				b.HistogramBuckets = append(b.HistogramBuckets, BucketSetting{Prefix: prefix, Bounds: bounds})
			}
			sort.Slice(b.HistogramBuckets, func(i, j int) bool { return b.HistogramBuckets[i].Prefix < b.HistogramBuckets[j].Prefix })
		}
	}
	if v, ok := annos[AnnotationFlushInterval]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			b.FlushInterval = d
		} else {
			b.Warnings = append(b.Warnings, fmt.Sprintf("Failed to parse stats flush interval %v: %v", v, err))
		}
	}
	if v, ok := annos[AnnotationEvictionInterval]; ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			b.Warnings = append(b.Warnings, fmt.Sprintf("Failed to parse stats eviction interval %v: %v", v, err))
		case b.FlushInterval <= 0 || d%b.FlushInterval != 0:
			b.Warnings = append(b.Warnings, "StatsEvictionInterval must be a multiple of the StatsFlushInterval")
		default:
			// durationpb.Duration{Seconds: int64(d.Seconds())}: whole seconds.
			b.EvictionInterval = time.Duration(int64(d.Seconds())) * time.Second
		}
	}
	return b
}
