import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { FakeClock } from "../controller/clock.js";
import { NotLeaderError } from "../controller/fence.js";
import { Expectations } from "./expectations.js";
import type { XrayrNode, XrayrNodeStatus } from "../api/v1alpha1/types.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import type { Writer } from "../apply/writer.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import { REJECTED_RETRY_MS, XrayrNodeReconciler, type Store } from "./reconciler.js";
import { validateNode } from "../crd/validate.js";

class MapStore<T extends { metadata: { name?: string; namespace?: string } }> implements Store<T> {
  readonly items = new Map<string, T>();
  put(o: T): void { this.items.set(`${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`, o); }
  get(name: string, namespace?: string): T | undefined { return this.items.get(`${namespace ?? ""}/${name}`); }
  list(): readonly T[] { return [...this.items.values()]; }
}

// Records what would be written; the e2e suite proves the same against a real API server.
class RecordingWriter implements Writer {
  calls: string[] = [];
  statuses: XrayrNodeStatus[] = [];
  failApply: Error | undefined;
  failDryRun: Error | undefined;
  failStatus: Error | undefined;
  taken = new Set<string>();
  createEntry(e: WorkloadEntry, options: { dryRun?: boolean } = {}): Promise<"created" | "exists"> {
    if (options.dryRun === true) {
      this.calls.push(`check ${e.metadata.name ?? ""}`);
      return this.failDryRun ? Promise.reject(this.failDryRun) : Promise.resolve("created");
    }
    this.calls.push(`create ${e.metadata.name ?? ""}`);
    if (this.failApply) return Promise.reject(this.failApply);
    return Promise.resolve(this.taken.has(e.metadata.name ?? "") ? "exists" : "created");
  }
  updateEntry(e: WorkloadEntry): Promise<void> {
    this.calls.push(`update ${e.metadata.name ?? ""}`);
    return this.failApply ? Promise.reject(this.failApply) : Promise.resolve();
  }
  deleteEntry(_ns: string, name: string): Promise<void> { this.calls.push(`delete ${name}`); return Promise.resolve(); }
  takenGroups = new Set<string>();
  failGroup: Error | undefined;
  createGroup(g: WorkloadGroup): Promise<"created" | "exists"> {
    this.calls.push(`create-group ${g.metadata.name ?? ""}`);
    if (this.failGroup) return Promise.reject(this.failGroup);
    return Promise.resolve(this.takenGroups.has(g.metadata.name ?? "") ? "exists" : "created");
  }
  updateGroup(g: WorkloadGroup): Promise<void> { this.calls.push(`update-group ${g.metadata.name ?? ""}`); return Promise.resolve(); }
  deleteGroup(_ns: string, name: string): Promise<void> { this.calls.push(`delete-group ${name}`); return Promise.resolve(); }
  patchNodeStatus(n: XrayrNode, s: XrayrNodeStatus): Promise<void> {
    if (this.failStatus) return Promise.reject(this.failStatus);
    this.calls.push(`status ${n.metadata.name ?? ""}`);
    this.statuses.push(s);
    return Promise.resolve();
  }
  patchNodeTraffic(n: XrayrNode): Promise<void> { this.calls.push(`traffic ${n.metadata.name ?? ""}`); return Promise.resolve(); }
  recordEvent(n: XrayrNode, type: string, reason: string): Promise<void> {
    this.calls.push(`event ${n.metadata.name ?? ""} ${type} ${reason}`);
    return Promise.resolve();
  }
}

function setup() {
  const nodes = new MapStore<XrayrNode>();
  const entries = new MapStore<WorkloadEntry>();
  const groups = new MapStore<WorkloadGroup>();
  const writer = new RecordingWriter();
  const expectations = new Expectations(new FakeClock());
  const groupExpectations = new Expectations(new FakeClock());
  const reconciler = new XrayrNodeReconciler({
    nodes, entries, groups, writer, expectations, groupExpectations,
    fleet: {
      nodesOn: (a: string) => nodes.list().filter((n) => n.spec.address === a),
      entriesOf: (name: string) => entries.list().filter((e) => e.metadata.ownerReferences?.[0]?.name === name),
      entriesOn: (address: string) => entries.list().filter((e) => e.spec.address === address),
      ownerExists: (e: WorkloadEntry) => nodes.list().some((n) => n.metadata.uid === e.metadata.ownerReferences?.[0]?.uid),
    },
    options: { appLabel: "xrayr", serviceAccount: "xrayr-vm" },
    validate: (n) => validateNode(n, "public"),
    log: pino({ level: "silent" }),
    now: () => new Date("2026-11-26T12:00:00Z"),
  });
  return { nodes, entries, groups, writer, reconciler, expectations, groupExpectations };
}

const node = (name: string, address: string): XrayrNode => ({
  metadata: { name, namespace: "airport-prod", uid: `uid-${name}`, generation: 1, creationTimestamp: "2026-11-01T00:00:00Z" },
  spec: { address, country: "jp" },
});

describe("XrayrNodeReconciler", () => {
  test("a new node: entry created, then its group, status written, no event (its first Ready is in the status)", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile("airport-prod/jp-01");
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-[0-9a-f]{8}$/), "create-group jp-01", "status jp-01"]);
    expect(writer.statuses[0]).toMatchObject({ observedGeneration: 1, workloadEntry: expect.stringMatching(/^jp-01-[0-9a-f]{8}$/) as unknown });
  });

  test("steady state: no write of any kind", async () => {
    const { nodes, entries, groups, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    await reconciler.reconcile("airport-prod/jp-01");
    // Feed back what the API server would now hold.
    const applied = structuredClone(await appliedEntry(n));
    entries.put(applied);
    groups.put(appliedGroup(n));
    nodes.put({ ...n, status: writer.statuses[0] });
    writer.calls = [];
    await reconciler.reconcile("airport-prod/jp-01");
    expect(writer.calls).toEqual([]);
  });

  test("a second pass before the watch delivers our status write does not write it again", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    await reconciler.reconcile("airport-prod/jp-01");
    entries.put(await appliedEntry(n)); // the entry event arrives first; the node's status lags
    writer.calls = [];
    await reconciler.reconcile("airport-prod/jp-01");
    expect(writer.calls).toEqual([]);
  });

  test("recovering after a failure is a reason change after the first: a Normal event", async () => {
    const { nodes, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    writer.failApply = new Error("connection refused");
    await expect(reconciler.reconcile("airport-prod/jp-01")).rejects.toThrow("connection refused");
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-[0-9a-f]{8}$/), "status jp-01", "event jp-01 Warning ApplyFailed"]);
    nodes.put({ ...n, status: writer.statuses[0] });
    writer.failApply = undefined;
    writer.calls = [];
    await reconciler.reconcile("airport-prod/jp-01");
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-[0-9a-f]{8}$/), "create-group jp-01", "status jp-01", "event jp-01 Normal Reconciled"]);
  });

  test("a create that finds its name taken (the cache lags) reports nothing and looks again soon", async () => {
    const { nodes, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    writer.taken.add((await appliedEntry(n)).metadata.name ?? "");
    expect(await reconciler.reconcile("airport-prod/jp-01")).toEqual({ requeueAfter: expect.any(Number) as unknown });
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-[0-9a-f]{8}$/)]);
  });

  test("a node being deleted keeps its address claim until it is gone", async () => {
    const { nodes, writer, reconciler } = setup();
    const old = node("jp-old", "45.76.1.9");
    nodes.put({ ...old, metadata: { ...old.metadata, creationTimestamp: "2026-10-01T00:00:00Z", deletionTimestamp: "2026-11-26T11:00:00Z" } });
    nodes.put(node("jp-new", "45.76.1.9"));
    await reconciler.reconcile("airport-prod/jp-new");
    expect(writer.calls).toEqual(["status jp-new", "event jp-new Warning AddressConflict"]);
  });

  test.each([
    ["policy refusal", "hk-01", "10.1.2.3", "10.0.0.0/8"],
    ["a reserved name (stored before admission refused it)", "unknown", "45.76.1.3", 'metadata.name "unknown" is reserved'],
  ])("%s: InvalidSpec, no entry, a Warning event", async (_, name, address, why) => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node(name, address));
    await reconciler.reconcile(`airport-prod/${name}`);
    expect(writer.calls).toEqual([`status ${name}`, `event ${name} Warning InvalidSpec`]);
    expect(writer.statuses[0]?.conditions?.[0]?.message).toContain(why);
  });

  test("a failed apply reports ApplyFailed and rethrows so the queue backs off", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failApply = new Error("connection refused");
    await expect(reconciler.reconcile("airport-prod/jp-01")).rejects.toThrow("connection refused");
    expect(writer.statuses[0]?.conditions?.[0]).toMatchObject({ status: "False", reason: "ApplyFailed" });
    expect(writer.statuses[0]?.conditions?.[0]?.message).toContain("connection refused");
  });

  const refused = (message: string) => new k8s.ApiException(403, "denied", JSON.stringify({ kind: "Status", message }), {});

  test("an entry the API server refuses outright is ApplyRejected with its message, retried slowly, not thrown", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failApply = refused('admission webhook "deny.lab" denied the request: no new entries today');
    const result = await reconciler.reconcile("airport-prod/jp-01");
    expect(result).toEqual({ requeueAfter: REJECTED_RETRY_MS });
    expect(writer.statuses[0]?.conditions?.[0]).toMatchObject({ status: "False", reason: "ApplyRejected" });
    expect(writer.statuses[0]?.conditions?.[0]?.message).toContain("no new entries today");
  });

  test("a replacement refused in its dry run leaves the old entry in place", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    const before = node("jp-01", "45.76.1.1");
    entries.put(await appliedEntry(before));
    nodes.put({ ...before, spec: { ...before.spec, version: "v2" } });
    writer.failDryRun = refused('admission webhook "deny.lab" denied the request: frozen');
    await reconciler.reconcile("airport-prod/jp-01");
    expect(writer.calls.filter((c) => !c.startsWith("status") && !c.startsWith("event"))).toEqual([expect.stringMatching(/^check jp-01-/)]);
    expect(writer.statuses[0]?.conditions?.[0]).toMatchObject({ reason: "ApplyRejected" });
    expect(writer.statuses[0]?.conditions?.[0]?.message).toContain("the current entry stays");
  });

  test("a replica that no longer leads writes no status about the write it could not send", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failApply = new NotLeaderError("lost the lease");
    await expect(reconciler.reconcile("airport-prod/jp-01")).rejects.toThrow(NotLeaderError);
    expect(writer.statuses).toEqual([]);
  });

  test("its own create, not yet in the cache, holds the address: the next pass waits instead of creating again", async () => {
    const { nodes, writer, reconciler, expectations } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile("airport-prod/jp-01");
    expect(expectations.unseenOn("airport-prod", "45.76.1.1")).toBe(true);
    const creates = writer.calls.filter((c) => c.startsWith("create")).length;
    const again = await reconciler.reconcile("airport-prod/jp-01");
    expect(again?.requeueAfter).toBeGreaterThan(0);
    expect(writer.calls.filter((c) => c.startsWith("create")).length).toBe(creates);
  });

  test("a group of the node's name that is not ours: left untouched, GroupNameTaken, the entry still written and named", async () => {
    const { nodes, groups, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    const foreign = appliedGroup(node("jp-01", "45.76.1.1"));
    foreign.metadata.ownerReferences = [];
    foreign.metadata.labels = { team: "edge" };
    groups.put(foreign);
    await reconciler.reconcile("airport-prod/jp-01");
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-[0-9a-f]{8}$/), "status jp-01", "event jp-01 Warning GroupNameTaken"]);
    expect(writer.statuses[0]?.conditions?.[0]).toMatchObject({ status: "False", reason: "GroupNameTaken" });
    expect(writer.statuses[0]?.conditions?.[0]?.message).toContain("WorkloadGroup airport-prod/jp-01 already exists");
    expect(writer.statuses[0]?.workloadEntry).toMatch(/^jp-01-[0-9a-f]{8}$/);
  });

  test("a group create that finds the name taken does not hold the node back; the group's add event decides", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.takenGroups.add("jp-01");
    expect(await reconciler.reconcile("airport-prod/jp-01")).toBeUndefined();
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-/), "create-group jp-01", "status jp-01"]);
  });

  test("a refused group write is ApplyRejected and names the group", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failGroup = refused("workloadgroups.networking.istio.io is forbidden");
    expect(await reconciler.reconcile("airport-prod/jp-01")).toEqual({ requeueAfter: REJECTED_RETRY_MS });
    expect(writer.statuses[0]?.conditions?.[0]).toMatchObject({ status: "False", reason: "ApplyRejected" });
    expect(writer.statuses[0]?.conditions?.[0]?.message).toContain("WorkloadGroup jp-01 was refused");
    expect(writer.statuses[0]?.workloadEntry).toBeUndefined();
  });

  test("a node that is gone or being deleted is left to the garbage collector", async () => {
    const { nodes, writer, reconciler } = setup();
    await reconciler.reconcile("airport-prod/missing");
    nodes.put({ ...node("jp-02", "45.76.1.2"), metadata: { ...node("jp-02", "45.76.1.2").metadata, deletionTimestamp: "2026-11-26T11:00:00Z" } });
    await reconciler.reconcile("airport-prod/jp-02");
    expect(writer.calls).toEqual([]);
  });

  test("validation is computed once per object version, not once per peer", async () => {
    let calls = 0;
    const { nodes, entries } = setup();
    const reconciler = new XrayrNodeReconciler({
      nodes, entries, groups: new MapStore<WorkloadGroup>(), writer: new RecordingWriter(),
      expectations: new Expectations(new FakeClock()), groupExpectations: new Expectations(new FakeClock()),
      fleet: { nodesOn: (a: string) => nodes.list().filter((n) => n.spec.address === a), entriesOf: () => [], entriesOn: () => [], ownerExists: () => false },
      options: { appLabel: "xrayr", serviceAccount: "" },
      validate: (n) => { calls++; return validateNode(n, "any"); },
      log: pino({ level: "silent" }),
    });
    for (let i = 0; i < 50; i++) nodes.put(node(`n-${i}`, `45.76.2.${i}`));
    for (let i = 0; i < 50; i++) await reconciler.reconcile(`airport-prod/n-${i}`);
    expect(calls).toBe(50);
  });
});

function appliedGroup(n: XrayrNode): WorkloadGroup {
  const g = desiredWorkloadGroup(n, { appLabel: "xrayr", serviceAccount: "xrayr-vm" });
  g.metadata.uid = "group-uid";
  return g;
}

async function appliedEntry(n: XrayrNode): Promise<WorkloadEntry> {
  const { desiredWorkloadEntry } = await import("../desired/workloadentry.js");
  const v = validateNode(n, "public");
  if (!v.ok) throw new Error("fixture invalid");
  const e = desiredWorkloadEntry(n, v.spec, { appLabel: "xrayr", serviceAccount: "xrayr-vm" });
  e.metadata.uid = "entry-uid";
  return e;
}
