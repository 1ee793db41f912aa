package stats

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	statspb "istio.io/api/envoy/extensions/stats"
)

var dst = Destination{Workload: "xboard", Namespace: "airport-prod", App: "xboard", Version: "v1", Service: "xboard.airport-prod.svc.cluster.local",
	CanonicalService: "xboard", CanonicalRevision: "v1", ServiceName: "xboard", ServiceNamespace: "airport-prod", Cluster: "airport-prod"}

var src = &Source{Workload: "vps-1", CanonicalService: "xrayr", CanonicalRevision: "v1", Namespace: "airport-prod", App: "xrayr", Version: "v1", Cluster: "airport-prod"}

// The profile's fold of non-error codes (deploy/istio/telemetry-xboard.yaml).
const fold = `has(response.code) ? (response.code < 400 ? "200" : string(response.code)) : "0"`

func record(s *Store, cfg *Config, code int, responded bool) {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/server/UniProxy/user?node_id=1&token=secret", nil)
	o := Outcome{Code: code, Duration: 3 * time.Millisecond}
	if !responded {
		o.Code, o.Flags = 0, "DC"
	}
	s.Record(cfg, StandardTagValues(src, dst, o), o, Attributes{Request: r, Responded: responded, ResponseCode: code, ResponseFlags: o.Flags})
}

func text(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	if err := s.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func lines(out, prefix string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			got = append(got, l)
		}
	}
	return got
}

func TestDefaultsAreIstiosStandardSeries(t *testing.T) {
	s := NewStore(BootstrapFromAnnotations(nil), "1.30.8")
	record(s, DefaultConfig(), 200, true)
	record(s, DefaultConfig(), 304, true)
	out := text(t, s)
	// 2 codes x (1 counter + 3 histograms x (19 bounds + +Inf + sum + count)) = 2 x 67
	if n := len(lines(out, "istio_")) - 1; n != 134 { // minus istio_build
		t.Fatalf("series: %d\n%s", n, out)
	}
	if !strings.Contains(out, `istio_requests_total{reporter="destination",source_workload="vps-1",`) || !strings.Contains(out, `response_code="304",grpc_response_status="",response_flags="-",connection_security_policy="none"} 1`) {
		t.Fatalf("tags:\n%s", out)
	}
	if strings.Contains(out, "secret") {
		t.Fatal("a query string reached a series")
	}
	// 3 ms: below 5, not below 1 (Envoy's count_below).
	if !strings.Contains(out, `response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="none",le="1"} 0`) ||
		!strings.Contains(out, `response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="none",le="5"} 1`) {
		t.Fatalf("buckets:\n%s", strings.Join(lines(out, "istio_request_duration_milliseconds_bucket"), "\n"))
	}
}

func TestProfileDropsSizesFoldsCodesAndCutsBuckets(t *testing.T) {
	cfg, err := Compile(&statspb.PluginConfig{Metrics: []*statspb.MetricConfig{
		{Name: RequestBytes, Drop: true},
		{Name: ResponseBytes, Drop: true},
		{Name: RequestsTotal, Dimensions: map[string]string{"response_code": fold}},
		{Name: RequestDuration, Dimensions: map[string]string{"response_code": fold}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	boot := BootstrapFromAnnotations(map[string]string{AnnotationHistogramBuckets: `{"istiocustom":[5,10,25,50,100,250,500,1000,5000]}`})
	s := NewStore(boot, "1.30.8")
	record(s, cfg, 200, true)
	record(s, cfg, 304, true)
	record(s, cfg, 503, true)
	record(s, cfg, 0, false)
	out := text(t, s)
	if len(lines(out, "istio_request_bytes")) != 0 || len(lines(out, "istio_response_bytes")) != 0 {
		t.Fatalf("sizes not dropped:\n%s", out)
	}
	codes := map[string]string{}
	for _, l := range lines(out, "istio_requests_total{") {
		i := strings.Index(l, `response_code="`)
		codes[l[i+15:i+15+strings.Index(l[i+15:], `"`)]] = l[strings.LastIndex(l, " ")+1:]
	}
	// 200 and 304 are one series; the error and the no-response keep their codes.
	if len(codes) != 3 || codes["200"] != "2" || codes["503"] != "1" || codes["0"] != "1" {
		t.Fatalf("codes %v\n%s", codes, out)
	}
	// per code: 1 counter + 9 bounds + +Inf + sum + count = 13
	if n := len(lines(out, "istio_")) - 1; n != 3*13 {
		t.Fatalf("series %d\n%s", n, out)
	}
}

func TestOverrideRules(t *testing.T) {
	cfg, err := Compile(&statspb.PluginConfig{Metrics: []*statspb.MetricConfig{
		{TagsToRemove: []string{"source_principal", "not_a_tag"}},                                          // every metric
		{Name: RequestsTotal, Dimensions: map[string]string{"extra": `request.method`, "source_app": `(`}}, // bad CEL on a standard tag removes it
		{Name: RequestsTotal, Dimensions: map[string]string{"missing": `request.headers["x-none"]`}},
		{Drop: true}, // drop without a name drops nothing
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Problems) != 2 {
		t.Fatalf("problems %v", cfg.Problems)
	}
	s := NewStore(BootstrapFromAnnotations(nil), "")
	record(s, cfg, 200, true)
	out := text(t, s)
	counter := lines(out, "istio_requests_total{")[0]
	for _, want := range []string{`extra="GET"`, `missing="unknown"`} {
		if !strings.Contains(counter, want) {
			t.Fatalf("%s not in %s", want, counter)
		}
	}
	for _, gone := range []string{"source_principal=", "source_app="} {
		if strings.Contains(counter, gone) {
			t.Fatalf("%s still in %s", gone, counter)
		}
	}
	if !strings.HasSuffix(counter, `connection_security_policy="none",extra="GET",missing="unknown"} 1`) {
		t.Fatalf("additions are appended: %s", counter)
	}
	dur := lines(out, "istio_request_duration_milliseconds_count")[0]
	if strings.Contains(dur, "source_principal") || !strings.Contains(dur, "source_app=") || strings.Contains(dur, "extra=") {
		t.Fatalf("overrides per metric: %s", dur)
	}
}

func TestEvictionRemovesSeriesIdleForAWholeInterval(t *testing.T) {
	s := NewStore(BootstrapFromAnnotations(map[string]string{AnnotationEvictionInterval: "10s"}), "")
	if s.Bootstrap().EvictionInterval != 10*time.Second {
		t.Fatal(s.Bootstrap())
	}
	record(s, DefaultConfig(), 200, true)
	if n := s.Sweep(); n != 0 { // used since the start: marked unused
		t.Fatalf("first sweep evicted %d", n)
	}
	if n := s.Sweep(); n != 4 { // idle a whole interval: gone
		t.Fatalf("second sweep evicted %d", n)
	}
	record(s, DefaultConfig(), 200, true)
	if !strings.Contains(text(t, s), `connection_security_policy="none"} 1`) {
		t.Fatal("a series used again starts from zero")
	}
}

func TestBootstrapAsPilotAgentReadsIt(t *testing.T) {
	annos, err := ParseDownwardAPI("sidecar.istio.io/statsEvictionInterval=\"7s\"\nsidecar.istio.io/statsHistogramBuckets=\"{\\\"istiocustom\\\":[1,2]}\"\n")
	if err != nil {
		t.Fatal(err)
	}
	b := BootstrapFromAnnotations(annos)
	if b.EvictionInterval != 0 || len(b.Warnings) != 1 { // not a multiple of the 5 s flush
		t.Fatalf("%+v", b)
	}
	if got := b.buckets("istiocustom.istio_request_duration_milliseconds"); len(got) != 2 {
		t.Fatalf("%v", got)
	}
	if got := b.buckets("cluster.upstream_rq_time"); len(got) != len(EnvoyDefaultBuckets) {
		t.Fatalf("%v", got)
	}
	if bad := BootstrapFromAnnotations(map[string]string{AnnotationHistogramBuckets: "{"}); len(bad.HistogramBuckets) != 0 || len(bad.Warnings) != 1 {
		t.Fatalf("%+v", bad)
	}
}
