package stats

// The attributes a dimension's CEL expression can read, named and typed as Envoy exposes them
// (envoyproxy/envoy source/extensions/filters/common/expr/context.h and context.cc; documented in
// docs/root/intro/arch_overview/advanced/attributes.rst), and the printing of a result as
// Envoy's `Filters::Common::Expr::print` does it (evaluator.cc). Only what a plaintext HTTP/1.1
// inbound request on a sidecar has is filled; an attribute Envoy would not have (response.code
// when no response was sent, anything TLS) is absent, so reading it is an evaluation error and
// the tag becomes "unknown", as in Envoy.

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// The activation's top-level names (context.h): request, response, connection, source,
// destination, upstream, metadata, filter_state, xds. All are maps here (Envoy's wrappers are
// CelMaps), declared dyn: the filter parses without type-checking.
var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("request", cel.DynType),
		cel.Variable("response", cel.DynType),
		cel.Variable("connection", cel.DynType),
		cel.Variable("source", cel.DynType),
		cel.Variable("destination", cel.DynType),
		cel.Variable("upstream", cel.DynType),
		cel.Variable("metadata", cel.DynType),
		cel.Variable("filter_state", cel.DynType),
		cel.Variable("xds", cel.DynType),
	)
	if err != nil {
		panic(err)
	}
	return env
}()

// Envoy's legacy response flag bits (response.flags; envoy/stream_info/stream_info.h
// CoreResponseFlag, as `legacyResponseFlags()` reports them), for the flags the stand-in sets.
var responseFlagBits = map[string]int64{
	"UF": 0x20,   // UpstreamConnectionFailure
	"DC": 0x4000, // DownstreamConnectionTermination
}

// Attributes is what the sidecar knows about one finished inbound request.
type Attributes struct {
	Request        *http.Request
	RequestTime    time.Time
	Duration       time.Duration
	RequestBody    int64 // request.size
	RequestHeaders int64 // request.headers_bytes
	// Responded is false when no response was sent (response.code absent).
	Responded       bool
	ResponseCode    int
	ResponseHeader  http.Header
	ResponseBody    int64 // response.size
	ResponseHeaders int64 // response.headers_bytes
	ResponseFlags   string
	// Source is the downstream remote address (the rightmost X-Forwarded-For entry when the
	// header is present: sidecar inbound, no trusted hops); Destination the local address.
	Source, Destination netip.AddrPort
	Upstream            netip.AddrPort
	ConnectionID        uint64
	ClusterName         string // xds.cluster_name (the inbound cluster)
	FilterChainName     string // xds.filter_chain_name
}

func headerMap(h http.Header) map[string]any {
	m := make(map[string]any, len(h))
	for k, vs := range h {
		// request.headers: lower-cased names, multiple values comma-concatenated.
		m[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	return m
}

func (a Attributes) activation() map[string]any {
	req := map[string]any{
		"time":          a.RequestTime.UTC(),
		"duration":      a.Duration,
		"size":          a.RequestBody,
		"total_size":    a.RequestBody + a.RequestHeaders,
		"headers_bytes": a.RequestHeaders,
		"protocol":      "HTTP/1.1",
	}
	if r := a.Request; r != nil {
		headers := headerMap(r.Header)
		headers[":authority"] = r.Host
		headers[":method"] = r.Method
		headers[":path"] = r.URL.RequestURI()
		req["headers"] = headers
		req["path"] = r.URL.RequestURI()
		req["url_path"] = r.URL.Path
		req["host"] = r.Host
		req["scheme"] = "http"
		req["method"] = r.Method
		req["query"] = r.URL.RawQuery
		if v := r.Header.Get("Referer"); v != "" {
			req["referer"] = v
		}
		if v := r.Header.Get("User-Agent"); v != "" {
			req["useragent"] = v
		}
		if v := r.Header.Get("X-Request-Id"); v != "" {
			req["id"] = v
		}
		if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
			req["protocol"] = "HTTP/1.0"
		}
	}
	resp := map[string]any{
		"flags":         responseFlagBits[a.ResponseFlags],
		"size":          a.ResponseBody,
		"total_size":    a.ResponseBody + a.ResponseHeaders,
		"headers_bytes": a.ResponseHeaders,
		"headers":       headerMap(a.ResponseHeader),
		"trailers":      map[string]any{},
	}
	if a.Responded {
		resp["code"] = int64(a.ResponseCode)
	}
	peer := func(ap netip.AddrPort) map[string]any {
		if !ap.IsValid() {
			return map[string]any{}
		}
		return map[string]any{"address": ap.String(), "port": int64(ap.Port())}
	}
	up := peer(a.Upstream)
	return map[string]any{
		"request":      req,
		"response":     resp,
		"connection":   map[string]any{"id": a.ConnectionID, "mtls": false},
		"source":       peer(a.Source),
		"destination":  peer(a.Destination),
		"upstream":     up,
		"metadata":     map[string]any{},
		"filter_state": map[string]any{},
		"xds": map[string]any{
			"cluster_name":       a.ClusterName,
			"filter_chain_name":  a.FilterChainName,
			"listener_direction": int64(1), // envoy.config.core.v3.TrafficDirection INBOUND
		},
	}
}

// evaluate runs one expression; any error (a missing attribute, a type mismatch) is "unknown",
// as StreamOverrides::evaluate records it.
func evaluate(p cel.Program, act map[string]any) string {
	v, _, err := p.Eval(act)
	if err != nil || v == nil || types.IsError(v) || types.IsUnknown(v) {
		return Unknown
	}
	return print(v)
}

// print is Envoy's Filters::Common::Expr::print for a CEL value.
func print(v ref.Val) string {
	switch x := v.(type) {
	case types.Bool:
		if x {
			return "true"
		}
		return "false"
	case types.Int:
		return strconv.FormatInt(int64(x), 10)
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10)
	case types.Double:
		// absl::StrCat(double): six significant digits, %g style.
		return strconv.FormatFloat(float64(x), 'g', 6, 64)
	case types.String:
		return string(x)
	case types.Bytes:
		return string(x)
	case types.Duration:
		return x.Duration.String()
	case types.Timestamp:
		return x.Time.UTC().Format("2006-01-02T15:04:05.999999999-07:00")
	case types.Null:
		return "NULL"
	}
	return v.Type().TypeName() + " value"
}
