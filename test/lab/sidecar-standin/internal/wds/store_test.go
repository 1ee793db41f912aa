package wds

import (
	"net/netip"
	"testing"

	"istio.io/istio/pkg/workloadapi"
)

func wl(uid, name, addr, rev string) *workloadapi.Workload {
	return &workloadapi.Workload{Uid: uid, Name: name, WorkloadName: name, Namespace: "airport-prod", CanonicalName: "xrayr", CanonicalRevision: rev, Addresses: [][]byte{netip.MustParseAddr(addr).AsSlice()}}
}

func name(s *Store, addr string) string {
	m, ok := s.Lookup(netip.MustParseAddr(addr))
	if !ok {
		return ""
	}
	return m.WorkloadName + "/" + m.CanonicalRevision
}

// The update rules of Envoy's workload_discovery store, as the lab depends on them.
func TestEnvoyStoreSemantics(t *testing.T) {
	s := NewStore()
	s.Update([]*workloadapi.Workload{wl("u1", "a", "127.1.0.1", "v1")}, nil)
	if got := name(s, "127.1.0.1"); got != "a/v1" {
		t.Fatalf("add: %q", got)
	}
	if got := name(s, "::ffff:127.1.0.1"); got != "a/v1" {
		t.Fatalf("v4-mapped lookup: %q", got)
	}
	// Same uid, new address: the new one is added, the old one kept (emplace never overwrites).
	s.Update([]*workloadapi.Workload{wl("u1", "a", "127.1.0.2", "v1")}, nil)
	if name(s, "127.1.0.1") != "a/v1" || name(s, "127.1.0.2") != "a/v1" {
		t.Fatalf("in-place address change: old %q new %q", name(s, "127.1.0.1"), name(s, "127.1.0.2"))
	}
	// Same uid and address, new revision: the old metadata stays.
	s.Update([]*workloadapi.Workload{wl("u1", "a", "127.1.0.2", "v2")}, nil)
	if got := name(s, "127.1.0.2"); got != "a/v1" {
		t.Fatalf("in-place label change: %q", got)
	}
	// Removal erases the addresses first stored for the uid only: the later address leaks.
	s.Update(nil, []string{"u1"})
	if name(s, "127.1.0.1") != "" || name(s, "127.1.0.2") != "a/v1" {
		t.Fatalf("removal: old %q new %q", name(s, "127.1.0.1"), name(s, "127.1.0.2"))
	}
	// Removal and add in one response: removals first, so a replacement at the same address works.
	s2 := NewStore()
	s2.Update([]*workloadapi.Workload{wl("u1", "b", "127.2.0.1", "v1")}, nil)
	s2.Update([]*workloadapi.Workload{wl("u2", "b", "127.2.0.1", "v2")}, []string{"u1"})
	if got := name(s2, "127.2.0.1"); got != "b/v2" {
		t.Fatalf("replace in one response: %q", got)
	}
	// Add of the replacement before the removal of the original (two responses): lost.
	s3 := NewStore()
	s3.Update([]*workloadapi.Workload{wl("u1", "c", "127.3.0.1", "v1")}, nil)
	s3.Update([]*workloadapi.Workload{wl("u2", "c", "127.3.0.1", "v2")}, nil)
	s3.Update(nil, []string{"u1"})
	if got := name(s3, "127.3.0.1"); got != "" {
		t.Fatalf("add-before-remove: %q", got)
	}
}
