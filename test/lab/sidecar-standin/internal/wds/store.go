// Package wds is the stand-in's copy of Envoy's workload_discovery extension: a delta xDS
// subscription to istiod's Workload type and the address index the inbound peer-metadata filter
// reads. The store below reproduces Envoy's data structures and update rules exactly, because
// what a sidecar keeps (not what istiod sends) decides the source_* labels:
//
//	envoyproxy/envoy contrib/istio/filters/common/source/workload_discovery.cc (moved there from
//	istio/proxy source/extensions/common/workload_discovery/api.cc; same code):
//	  ThreadLocalProvider::update(added_addresses, added_ids, removed):
//	    for id in removed:   for a in id_to_address_[id]: address_to_workload_.erase(a)
//	                         id_to_address_.erase(id)
//	    for (a, w) in added_addresses: address_to_workload_.emplace(a, w)   // never overwrites
//	    for (id, as) in added_ids:     id_to_address_.emplace(id, as)       // never overwrites
//
// Consequences this store shares with Envoy (and the lab measures): an update that keeps the uid
// but changes the address ADDS the new address and KEEPS the old one (and id_to_address_ keeps
// only the first address list, so a later removal erases the old address and leaves the new one);
// an update that keeps the uid and address but changes labels keeps the OLD metadata. Only a
// removal of the uid followed by an add (in a later response, or in the same response where
// removals are applied first) replaces an entry.
package wds

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"istio.io/istio/pkg/workloadapi"
)

// Meta is what Envoy's convert() keeps of a Workload (WorkloadMetadataObject), plus the uid and
// the time the stand-in first stored it (for the lab's latency measurements).
type Meta struct {
	UID               string    `json:"uid"`
	Name              string    `json:"name"`
	Namespace         string    `json:"namespace"`
	WorkloadName      string    `json:"workloadName"`
	CanonicalName     string    `json:"canonicalName"`
	CanonicalRevision string    `json:"canonicalRevision"`
	ClusterID         string    `json:"clusterId"`
	Identity          string    `json:"identity"`
	Stored            time.Time `json:"stored"`
}

// convert mirrors Envoy's convert(): defaults for namespace, trust domain and service account.
func convert(w *workloadapi.Workload, now time.Time) Meta {
	ns := w.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	td := w.GetTrustDomain()
	if td == "" {
		td = "cluster.local"
	}
	sa := w.GetServiceAccount()
	if sa == "" {
		sa = "default"
	}
	return Meta{
		UID:               w.GetUid(),
		Name:              w.GetName(),
		Namespace:         ns,
		WorkloadName:      w.GetWorkloadName(),
		CanonicalName:     w.GetCanonicalName(),
		CanonicalRevision: w.GetCanonicalRevision(),
		ClusterID:         w.GetClusterId(),
		Identity:          "spiffe://" + td + "/ns/" + ns + "/sa/" + sa,
		Stored:            now,
	}
}

// Event is one applied delta response, kept for /debug/workloads.
type Event struct {
	At      time.Time         `json:"at"`
	Added   map[string]string `json:"added"` // uid -> addresses (comma separated)
	Removed []string          `json:"removed"`
}

// Store is Envoy's ThreadLocalProvider (one copy: the stand-in has no worker threads).
type Store struct {
	mu                sync.RWMutex
	idToAddress       map[string][]string // uid -> raw address keys, as first stored
	addressToWorkload map[string]Meta     // raw address bytes (4 or 16) -> metadata
	events            []Event
	updates           int
}

func NewStore() *Store {
	return &Store{idToAddress: map[string][]string{}, addressToWorkload: map[string]Meta{}}
}

const maxEvents = 500

// Update applies one delta response exactly as Envoy's onConfigUpdate + update() do.
func (s *Store) Update(added []*workloadapi.Workload, removed []string) {
	now := time.Now()
	addedAddresses := map[string]Meta{}
	addedIDs := map[string][]string{}
	ev := Event{At: now, Added: map[string]string{}, Removed: append([]string(nil), removed...)}
	for _, w := range added {
		m := convert(w, now)
		keys := make([]string, 0, len(w.GetAddresses()))
		for _, a := range w.GetAddresses() {
			k := string(a)
			if _, dup := addedAddresses[k]; !dup { // added_addresses->emplace: first wins
				addedAddresses[k] = m
			}
			keys = append(keys, k)
		}
		if _, dup := addedIDs[w.GetUid()]; !dup {
			addedIDs[w.GetUid()] = keys
		}
		ev.Added[w.GetUid()] = showKeys(keys)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range removed {
		for _, a := range s.idToAddress[id] {
			delete(s.addressToWorkload, a)
		}
		delete(s.idToAddress, id)
	}
	for a, m := range addedAddresses {
		if _, exists := s.addressToWorkload[a]; !exists { // emplace: never overwrites
			s.addressToWorkload[a] = m
		}
	}
	for id, as := range addedIDs {
		if _, exists := s.idToAddress[id]; !exists { // emplace: never overwrites
			s.idToAddress[id] = as
		}
	}
	s.updates++
	s.events = append(s.events, ev)
	if len(s.events) > maxEvents {
		s.events = s.events[len(s.events)-maxEvents:]
	}
}

// Lookup is Envoy's getMetadata(): the key is the address's raw bytes; an IPv4-mapped IPv6 peer
// is looked up as IPv4 (the listener normalises v4-mapped peers before the filter sees them).
func (s *Store) Lookup(addr netip.Addr) (Meta, bool) {
	addr = addr.Unmap()
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.addressToWorkload[string(addr.AsSlice())]
	return m, ok
}

// Total is Envoy's workload_discovery.total gauge: the size of the address index.
func (s *Store) Total() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.addressToWorkload)
}

// Snapshot is the store as JSON for /debug/workloads.
type Snapshot struct {
	Addresses map[string]Meta     `json:"addresses"` // printable address -> metadata
	UIDs      map[string][]string `json:"uids"`      // uid -> printable addresses (Envoy's id_to_address_)
	Updates   int                 `json:"updates"`   // delta responses applied
	Events    []Event             `json:"events,omitempty"`
}

func (s *Store) Snapshot(withEvents bool) Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := Snapshot{Addresses: map[string]Meta{}, UIDs: map[string][]string{}, Updates: s.updates}
	for k, m := range s.addressToWorkload {
		out.Addresses[showKey(k)] = m
	}
	for id, ks := range s.idToAddress {
		as := make([]string, 0, len(ks))
		for _, k := range ks {
			as = append(as, showKey(k))
		}
		sort.Strings(as)
		out.UIDs[id] = as
	}
	if withEvents {
		out.Events = append([]Event(nil), s.events...)
	}
	return out
}

func showKey(k string) string {
	if a, ok := netip.AddrFromSlice([]byte(k)); ok {
		return a.String()
	}
	return "raw:" + k
}

func showKeys(ks []string) string {
	out := ""
	for i, k := range ks {
		if i > 0 {
			out += ","
		}
		out += showKey(k)
	}
	return out
}
