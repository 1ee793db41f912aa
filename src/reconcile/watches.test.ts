import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import { FakeClock } from "../controller/clock.js";
import { MemoryCache } from "../../test/support/memory-cache.js";
import { AddressExpectations, NameExpectations } from "./expectations.js";
import { FleetIndex, nodeKeyOfEntry, planInputsChanged, watchFleet } from "./watches.js";

const node = (name: string, address: string, extra: Partial<XrayrNode["metadata"]> = {}): XrayrNode => ({
  metadata: { name, namespace: "airport-prod", uid: `uid-${name}`, generation: 1, resourceVersion: "1", ...extra },
  spec: { address, country: "jp" },
});

const entry = (name: string, address: string, owner?: string): WorkloadEntry => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: {
    name,
    namespace: "airport-prod",
    ...(owner !== undefined
      ? { ownerReferences: [{ apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: owner, uid: `uid-${owner}`, controller: true }] }
      : {}),
  },
  spec: { address },
});

describe("FleetIndex: which nodes an event concerns", () => {
  test("a new node concerns itself and every node already on its address", () => {
    const index = new FleetIndex();
    index.nodeChanged(node("a", "45.1.1.1"));
    index.nodeChanged(node("b", "45.1.1.2"));
    expect(index.nodeChanged(node("c", "45.1.1.1")).sort()).toEqual(["airport-prod/a", "airport-prod/c"]);
  });

  test("a node moving concerns the nodes on its old and its new address", () => {
    const index = new FleetIndex();
    const a = node("a", "45.1.1.1");
    index.nodeChanged(a);
    index.nodeChanged(node("b", "45.1.1.1"));
    index.nodeChanged(node("c", "45.1.1.2"));
    const moved = { ...a, metadata: { ...a.metadata, generation: 2 }, spec: { ...a.spec, address: "45.1.1.2" } };
    expect(index.nodeChanged(moved, a).sort()).toEqual(["airport-prod/a", "airport-prod/b", "airport-prod/c"]);
    expect(index.nodesByAddress.keys("45.1.1.1")).toEqual(["airport-prod/b"]);
  });

  test("a deleted node concerns itself and the nodes that may take its address", () => {
    const index = new FleetIndex();
    const a = node("a", "45.1.1.1");
    index.nodeChanged(a);
    index.nodeChanged(node("b", "45.1.1.1"));
    expect(index.nodeDeleted(a).sort()).toEqual(["airport-prod/a", "airport-prod/b"]);
    expect(index.nodesByAddress.keys("45.1.1.1")).toEqual(["airport-prod/b"]);
  });

  test("a change no plan reads (status.traffic, labels) concerns nobody, but keeps the index current", () => {
    const index = new FleetIndex();
    const a = node("a", "45.1.1.1");
    index.nodeChanged(a);
    const traffic = {
      ...a,
      metadata: { ...a.metadata, resourceVersion: "2", labels: { x: "y" } },
      status: { traffic: { state: "Active" as const, requestsPerMinute: 1, errorRatio: 0, observedAt: "2026-12-01T00:00:00Z" } },
    };
    expect(index.nodeChanged(traffic, a)).toEqual([]);
  });

  test("an entry concerns its controlling node; an unowned one the node whose name it takes", () => {
    const index = new FleetIndex();
    expect(index.entryChanged(entry("jp-01-0123abcd", "45.1.1.1", "jp-01"))).toEqual(["airport-prod/jp-01"]);
    expect(index.entriesByNode.keys("airport-prod/jp-01")).toEqual(["airport-prod/jp-01-0123abcd"]);
    expect(index.entryChanged(entry("hk-02-89abcdef", "45.1.1.2"))).toEqual(["airport-prod/hk-02"]);
    expect(index.entriesByNode.keys("airport-prod/hk-02")).toEqual([]);
    expect(index.entriesByAddress.keys("45.1.1.2")).toEqual(["airport-prod/hk-02-89abcdef"]);
    expect(index.entryChanged(entry("hand-made", "45.1.1.3"))).toEqual([]);
    expect(index.entryDeleted(entry("jp-01-0123abcd", "45.1.1.1", "jp-01"))).toEqual(["airport-prod/jp-01"]);
    expect(index.entriesByAddress.keys("45.1.1.1")).toEqual([]);
  });
});

describe("planInputsChanged", () => {
  const a = node("a", "45.1.1.1");
  test.each([
    ["spec (generation)", { ...a, metadata: { ...a.metadata, generation: 2 }, spec: { ...a.spec, country: "de" } }],
    ["spec without a generation bump", { ...a, spec: { ...a.spec, version: "v2" } }],
    ["deletion", { ...a, metadata: { ...a.metadata, deletionTimestamp: "2026-12-01T00:00:00Z" } }],
    ["a new incarnation", { ...a, metadata: { ...a.metadata, uid: "other" } }],
    ["the reconciler's conditions cleared by someone", { ...a, status: { conditions: [] } }],
  ])("%s counts", (_why, changed: XrayrNode) => {
    expect(planInputsChanged(a, changed)).toBe(true);
  });

  test("resourceVersion, labels and annotations alone do not", () => {
    expect(planInputsChanged(a, { ...a, metadata: { ...a.metadata, resourceVersion: "9", labels: { l: "1" }, annotations: { n: "1" } } })).toBe(false);
  });
});

describe("nodeKeyOfEntry", () => {
  test("reads the node back from <node>-<8 hex> only", () => {
    expect(nodeKeyOfEntry(entry("a-b-c-0123abcd", "45.1.1.1"))).toBe("airport-prod/a-b-c");
    expect(nodeKeyOfEntry(entry("a-0123abc", "45.1.1.1"))).toBeUndefined();
  });
});

describe("entries no XrayrNode controls", () => {
  const orphan = (address: string): WorkloadEntry => ({ ...entry("left-behind", address), metadata: { name: "left-behind", namespace: "airport-prod", uid: "o1" } });

  it("wake the nodes on their address when they appear, move and go (a node they block gets its verdict, or its entry)", () => {
    const index = new FleetIndex();
    index.nodeChanged(node("a", "203.0.114.1"));
    index.nodeChanged(node("b", "203.0.114.2"));
    expect(index.entryChanged(orphan("203.0.114.1"))).toEqual(["airport-prod/a"]);
    expect(index.entryChanged(orphan("203.0.114.2")).sort()).toEqual(["airport-prod/a", "airport-prod/b"]);
    expect(index.entryDeleted(orphan("203.0.114.2"))).toEqual(["airport-prod/b"]);
  });
});

describe("watchFleet", () => {
  const setup = () => {
    const nodes = new MemoryCache<XrayrNode>();
    const entries = new MemoryCache<WorkloadEntry>();
    const groups = new MemoryCache<WorkloadGroup>();
    const expectations = new AddressExpectations(new FakeClock());
    const groupExpectations = new NameExpectations(new FakeClock());
    const queued: string[] = [];
    const clock = { t: 1_000_000 };
    const fleet = watchFleet({ nodes, entries, groups }, { entries: expectations, groups: groupExpectations }, (keys) => queued.push(...keys), () => clock.t);
    return { nodes, entries, groups, expectations, groupExpectations, queued, fleet, clock };
  };

  test("keeps the indices the lookups answer from, clears expectations the watch has shown, and enqueues the keys", () => {
    const { nodes, entries, expectations, queued, fleet } = setup();
    const a = node("a", "45.1.1.1");
    nodes.put(a);
    const e = { ...entry("a-0123abcd", "45.1.1.1", "a"), metadata: { ...entry("a-0123abcd", "45.1.1.1", "a").metadata, uid: "e1" } };
    expectations.expectCreate("airport-prod", "a-0123abcd", "45.1.1.1");
    entries.put(e);
    expect(expectations.unseenOn("airport-prod", "45.1.1.1")).toBe(false);
    expect(fleet.nodesOn("45.1.1.1")).toEqual([a]);
    expect(fleet.entriesOf("a", "airport-prod")).toEqual([e]);
    expect(fleet.entriesOn("45.1.1.1", "airport-prod")).toEqual([e]);
    expect(fleet.entriesOn("45.1.1.1", "elsewhere")).toEqual([]);
    expect(fleet.ownerExists(e)).toBe(true);
    expectations.expectDelete("airport-prod", "e1", "45.1.1.1");
    nodes.remove(a);
    expect(fleet.ownerExists(e)).toBe(false);
    entries.remove(e);
    expect(expectations.unseenOn("airport-prod", "45.1.1.1")).toBe(false);
    expect(queued).toEqual(["airport-prod/a", "airport-prod/a", "airport-prod/a", "airport-prod/a"]);
  });

  test("a group's events concern the node of its name, only when they change what its plan reads", () => {
    const { nodes, groups, groupExpectations, queued } = setup();
    const a = node("a", "45.1.1.1");
    nodes.put(a);
    queued.length = 0;
    const g = { ...desiredWorkloadGroup(a, { appLabel: "xrayr", serviceAccount: "xrayr-vm" }), metadata: { ...desiredWorkloadGroup(a, { appLabel: "xrayr", serviceAccount: "xrayr-vm" }).metadata, uid: "g1", resourceVersion: "1" } };
    // The echo of our own create: the plan already counted it as present.
    groupExpectations.expectCreate("airport-prod", "a");
    groups.put(g);
    expect(groupExpectations.unseen("airport-prod", "a")).toBe(false);
    expect(queued).toEqual([]);
    // A group of that name we did not just create (ours from before a restart, or anyone's): looked at.
    groups.remove(g);
    queued.length = 0;
    groups.put(g);
    expect(queued).toEqual(["airport-prod/a"]);
    // Only the resourceVersion (a status write by someone, say): nothing to plan.
    groups.put({ ...g, metadata: { ...g.metadata, resourceVersion: "2" } });
    expect(queued).toEqual(["airport-prod/a"]);
    // A label added to the workload labels narrows Kiali's selector: the node repairs it.
    groups.put({ ...g, spec: { ...g.spec, metadata: { labels: { ...g.spec.metadata?.labels, version: "v1" } } } });
    expect(queued).toEqual(["airport-prod/a", "airport-prod/a"]);
    groups.remove(g);
    expect(queued).toEqual(["airport-prod/a", "airport-prod/a", "airport-prod/a"]);
    // The fleet's own group (deploy/istio) is named after no node: nobody to wake.
    groups.put({ ...g, metadata: { name: "xrayr", namespace: "airport-prod", uid: "fleet" } });
    expect(queued).toHaveLength(3);
  });

  test("remembers the uids the node watch saw deleted for 10 minutes, and a group left by one wakes its node's key", () => {
    const { nodes, groups, queued, fleet, clock } = setup();
    const a = node("a", "45.1.1.1");
    nodes.put(a);
    nodes.remove(a);
    expect(fleet.retiredAt(a.metadata.uid ?? "")).toBe(1_000_000);
    expect(fleet.retiredAt("never-seen")).toBeUndefined();
    queued.length = 0;
    const g = { ...desiredWorkloadGroup(a, { appLabel: "xrayr", serviceAccount: "xrayr-vm" }), metadata: { ...desiredWorkloadGroup(a, { appLabel: "xrayr", serviceAccount: "xrayr-vm" }).metadata, uid: "g1" } };
    groups.put(g);
    expect(queued).toEqual(["airport-prod/a"]);
    clock.t += 10 * 60_000 + 1;
    expect(fleet.retiredAt(a.metadata.uid ?? "")).toBeUndefined();
    groups.remove(g);
    groups.put({ ...g, metadata: { ...g.metadata, uid: "g2" } });
    expect(queued).toEqual(["airport-prod/a"]);
  });
});
