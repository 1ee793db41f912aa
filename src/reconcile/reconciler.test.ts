// The reconciler over the real watch mapping (watches.ts watchFleet) on in-memory caches: the
// lookups a reconcile asks (nodes on an address, a node's entries, the entries on an address,
// whether an entry's node exists) are the operator's own indices, kept by the caches' events, so
// a fault in them fails here. The writer records what would be written; the e2e suite proves
// the same against a real API server.
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { MemoryCache } from "../../test/support/memory-cache.js";
import { RecordingWriter, type Caches } from "../../test/support/recording-writer.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { FencedWriteError } from "../apply/writer.js";
import { FakeClock } from "../controller/clock.js";
import { NotLeaderError } from "../controller/fence.js";
import { validateNode } from "../crd/validate.js";
import { desiredWorkloadEntry } from "../desired/workloadentry.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import { groupCondition, readyCondition } from "../domain/readiness.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { errorPolicy, REJECTED_RETRY_MS } from "./error-policy.js";
import { AddressExpectations, NameExpectations } from "./expectations.js";
import { XrayrNodeReconciler } from "./reconciler.js";
import { watchFleet } from "./watches.js";
import { RETIRED_GRACE_MS } from "../plan/retired.js";

const NS = "airport-prod";
const OPTS = { appLabel: "xrayr", serviceAccount: "xrayr-vm" };

function setup(validate = (n: XrayrNode) => validateNode(n, "public"), log = pino({ level: "silent" })) {
  const caches: Caches = { nodes: new MemoryCache<XrayrNode>(), entries: new MemoryCache<WorkloadEntry>(), groups: new MemoryCache<WorkloadGroup>() };
  const writer = new RecordingWriter();
  const expectations = { entries: new AddressExpectations(new FakeClock()), groups: new NameExpectations(new FakeClock()) };
  const queued: string[] = [];
  // One clock for the watch's record of retirements and the reconciler.
  const clock = { t: Date.parse("2026-11-26T12:00:00Z") };
  const fleet = watchFleet(caches, expectations, (keys) => queued.push(...keys), () => clock.t);
  const reconciler = new XrayrNodeReconciler({
    ...caches,
    fleet,
    expectations,
    writer,
    options: OPTS,
    validate,
    log,
    now: () => new Date(clock.t),
  });
  return { ...caches, writer, reconciler, expectations, queued, clock };
}

const node = (name: string, address: string, extra: Partial<XrayrNode["metadata"]> = {}): XrayrNode => ({
  metadata: { name, namespace: NS, uid: `uid-${name}`, generation: 1, creationTimestamp: "2026-11-01T00:00:00Z", ...extra },
  spec: { address, country: "jp" },
});

function appliedEntry(n: XrayrNode, uid = "entry-uid"): WorkloadEntry {
  const v = validateNode(n, "public");
  if (!v.ok) throw new Error("fixture invalid");
  const e = desiredWorkloadEntry(n, v.spec, OPTS);
  e.metadata.uid = uid;
  return e;
}

function appliedGroup(n: XrayrNode): WorkloadGroup {
  const g = desiredWorkloadGroup(n, OPTS);
  g.metadata.uid = "group-uid";
  return g;
}

const refused = (message: string) => new k8s.ApiException(403, "denied", JSON.stringify({ kind: "Status", message }), {});
const ENTRY = /^create jp-01-[0-9a-f]{8}$/;

describe("XrayrNodeReconciler", () => {
  test("a retired node: the garbage collector gets its grace; what it leaves after, we delete (uid-guarded), entry and group", async () => {
    const { nodes, entries, groups, writer, reconciler, clock } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    entries.put(appliedEntry(n));
    groups.put(appliedGroup(n));
    nodes.remove(n);
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toEqual({ requeueAfter: RETIRED_GRACE_MS });
    expect(writer.calls).toEqual([]);
    clock.t += RETIRED_GRACE_MS;
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toBeUndefined();
    expect(writer.calls).toEqual([expect.stringMatching(/^delete jp-01-[0-9a-f]{8}$/), "delete-group jp-01"]);
  });

  test("a retired node whose objects the garbage collector removed in time: no write, no second look", async () => {
    const { nodes, entries, groups, writer, reconciler, clock } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    const e = appliedEntry(n);
    const g = appliedGroup(n);
    entries.put(e);
    groups.put(g);
    nodes.remove(n);
    await reconciler.reconcile(`${NS}/jp-01`);
    entries.remove(e);
    groups.remove(g);
    clock.t += RETIRED_GRACE_MS;
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toBeUndefined();
    expect(writer.calls).toEqual([]);
  });

  test("an entry of a node the node watch never showed deleted is not a leftover (a lagging node cache), however old", async () => {
    const { entries, writer, reconciler, clock, queued } = setup();
    entries.put(appliedEntry(node("jp-01", "45.76.1.1")));
    expect(queued).toEqual([`${NS}/jp-01`]);
    clock.t += 60 * 60_000;
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toBeUndefined();
    expect(writer.calls).toEqual([]);
  });

  test("an entry that lands after its node was retired (a write released late) wakes the node's key and goes after the grace", async () => {
    const { nodes, entries, writer, reconciler, clock, queued } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    nodes.remove(n);
    clock.t += 5_000;
    queued.length = 0;
    entries.put(appliedEntry(n));
    expect(queued).toEqual([`${NS}/jp-01`]);
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toBeUndefined();
    expect(writer.calls).toEqual([expect.stringMatching(/^delete jp-01-[0-9a-f]{8}$/)]);
  });

  test("a new node: entry created, then its group; Ready and WorkloadGroupReady True; no event (its first Ready is in the status)", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls).toEqual([expect.stringMatching(ENTRY), "create-group jp-01", "status jp-01"]);
    expect(writer.statuses[0]).toMatchObject({ observedGeneration: 1, workloadEntry: expect.stringMatching(/^jp-01-[0-9a-f]{8}$/) as unknown });
    expect(readyCondition(writer.statuses[0])).toMatchObject({ status: "True", reason: "Reconciled" });
    expect(groupCondition(writer.statuses[0])).toMatchObject({ status: "True", reason: "Reconciled" });
  });

  test("steady state, with every write back in the caches: no write of any kind", async () => {
    const { nodes, entries, groups, writer, reconciler } = setup();
    writer.echo = { nodes, entries, groups };
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile(`${NS}/jp-01`);
    writer.calls = [];
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls).toEqual([]);
  });

  test("a second pass before the watch delivers our status write does not write it again", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    await reconciler.reconcile(`${NS}/jp-01`);
    entries.put(appliedEntry(n)); // the entry event arrives first; the node's status lags
    writer.calls = [];
    writer.takenGroups.add("jp-01"); // and the group's is not in yet either
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls).toEqual([]);
  });

  test("recovering after a failure is a reason change after the first: a Normal event", async () => {
    const { nodes, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    writer.failApply = new Error("connection refused");
    await expect(reconciler.reconcile(`${NS}/jp-01`)).rejects.toThrow("connection refused");
    expect(writer.calls).toEqual([expect.stringMatching(ENTRY), "status jp-01", "event jp-01 Warning ApplyFailed"]);
    nodes.put({ ...n, status: writer.statuses[0] });
    writer.failApply = undefined;
    writer.calls = [];
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls).toEqual([expect.stringMatching(ENTRY), "create-group jp-01", "status jp-01", "event jp-01 Normal Reconciled"]);
  });

  test("a create that finds its name taken (the cache lags) reports nothing and looks again soon", async () => {
    const { nodes, writer, reconciler } = setup();
    const n = node("jp-01", "45.76.1.1");
    nodes.put(n);
    writer.taken.add(appliedEntry(n).metadata.name ?? "");
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toEqual({ requeueAfter: expect.any(Number) as unknown });
    expect(writer.calls).toEqual([expect.stringMatching(ENTRY)]);
  });

  test("a node being deleted keeps its address claim until it is gone", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-old", "45.76.1.9", { creationTimestamp: "2026-10-01T00:00:00Z", deletionTimestamp: "2026-11-26T11:00:00Z" }));
    nodes.put(node("jp-new", "45.76.1.9"));
    await reconciler.reconcile(`${NS}/jp-new`);
    expect(writer.calls).toEqual(["status jp-new", "event jp-new Warning AddressConflict"]);
    expect(groupCondition(writer.statuses[0])).toMatchObject({ status: "False", reason: "EntryNotReady" });
  });

  test.each([
    ["policy refusal", "hk-01", "10.1.2.3", "10.0.0.0/8"],
    ["a reserved name (stored before admission refused it)", "unknown", "45.76.1.3", 'metadata.name "unknown" is reserved'],
  ])("%s: InvalidSpec, no entry, one Warning event (the group's waiting adds none)", async (_, name, address, why) => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node(name, address));
    await reconciler.reconcile(`${NS}/${name}`);
    expect(writer.calls).toEqual([`status ${name}`, `event ${name} Warning InvalidSpec`]);
    expect(readyCondition(writer.statuses[0])?.message).toContain(why);
  });

  test("a failed apply reports ApplyFailed and rethrows; the error policy backs the key off", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failApply = new Error("connection refused");
    const thrown = await reconciler.reconcile(`${NS}/jp-01`).catch((e: unknown) => e);
    expect(thrown).toBe(writer.failApply);
    expect(errorPolicy(`${NS}/jp-01`, thrown)).toEqual({ requeue: "backoff" });
    expect(readyCondition(writer.statuses[0])).toMatchObject({ status: "False", reason: "ApplyFailed" });
    expect(readyCondition(writer.statuses[0])?.message).toMatch(/^writing WorkloadEntry airport-prod\/jp-01-[0-9a-f]{8} failed: connection refused; retrying with backoff$/);
  });

  test("an entry the API server refuses outright is ApplyRejected with its message; the error policy looks again in 15 s", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failApply = refused('admission webhook "deny.lab" denied the request: no new entries today');
    const thrown = await reconciler.reconcile(`${NS}/jp-01`).catch((e: unknown) => e);
    expect(errorPolicy(`${NS}/jp-01`, thrown)).toEqual({ requeue: "after", afterMs: REJECTED_RETRY_MS });
    expect(readyCondition(writer.statuses[0])).toMatchObject({ status: "False", reason: "ApplyRejected" });
    expect(readyCondition(writer.statuses[0])?.message).toContain("no new entries today");
    expect(groupCondition(writer.statuses[0])).toMatchObject({ status: "False", reason: "EntryNotReady" });
  });

  test("a replacement refused in its dry run leaves the old entry in place", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    const before = node("jp-01", "45.76.1.1");
    entries.put(appliedEntry(before));
    nodes.put({ ...before, spec: { ...before.spec, version: "v2" } });
    writer.failDryRun = refused('admission webhook "deny.lab" denied the request: frozen');
    await expect(reconciler.reconcile(`${NS}/jp-01`)).rejects.toBe(writer.failDryRun);
    expect(writer.calls.filter((c) => !c.startsWith("status") && !c.startsWith("event"))).toEqual([expect.stringMatching(/^check jp-01-/)]);
    expect(readyCondition(writer.statuses[0])).toMatchObject({ reason: "ApplyRejected" });
    expect(readyCondition(writer.statuses[0])?.message).toContain("the current entry stays");
  });

  test.each([
    ["its fence refused the write", new NotLeaderError("lost the lease")],
    ["the API server's fencing policy refused it", new FencedWriteError("ValidatingAdmissionPolicy 'xrayr-mesh-operator-fencing' denied request")],
  ])("a replica whose leadership ended (%s) writes no status, and the key is not retried", async (_why, err) => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failApply = err;
    await expect(reconciler.reconcile(`${NS}/jp-01`)).rejects.toBe(err);
    expect(writer.statuses).toEqual([]);
    expect(errorPolicy(`${NS}/jp-01`, err)).toEqual({ requeue: "never" });
  });

  test("its own create, not yet in the cache, holds the address: the next pass waits instead of creating again", async () => {
    const { nodes, writer, reconciler, expectations } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(expectations.entries.unseenOn(NS, "45.76.1.1")).toBe(true);
    const creates = writer.calls.filter((c) => c.startsWith("create")).length;
    const again = await reconciler.reconcile(`${NS}/jp-01`);
    expect(again?.requeueAfter).toBeGreaterThan(0);
    expect(writer.calls.filter((c) => c.startsWith("create")).length).toBe(creates);
  });

  test("entries left by an earlier node of the same name, found by the watch's index, are deleted before the create", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    const earlier = node("jp-01", "45.76.1.1", { uid: "uid-earlier" });
    entries.put(appliedEntry(earlier, "entry-earlier"));
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls.slice(0, 3)).toEqual([expect.stringMatching(/^check jp-01-/), expect.stringMatching(/^delete jp-01-/), expect.stringMatching(ENTRY)]);
  });

  test("an entry on the address whose node is gone (the index finds it; its owner is not in the cache) goes first", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    entries.put(appliedEntry(node("jp-gone", "45.76.1.1", { uid: "uid-gone" }), "entry-gone"));
    nodes.put(node("jp-01", "45.76.1.1"));
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls.slice(0, 3)).toEqual([expect.stringMatching(/^check jp-01-/), expect.stringMatching(/^delete jp-gone-/), expect.stringMatching(ENTRY)]);
  });

  test("a delete that finds the entry already gone (the garbage collector's, during the plan's dry run) leaves nothing expected on the address", async () => {
    const { nodes, entries, groups, writer, reconciler, expectations } = setup();
    writer.echo = { nodes, entries, groups };
    const left = appliedEntry(node("jp-gone", "45.76.1.1", { uid: "uid-gone" }), "entry-gone");
    entries.put(left);
    nodes.put(node("jp-01", "45.76.1.1"));
    const dryRun = writer.createEntry.bind(writer);
    writer.createEntry = async (e, options) => {
      // The watch shows the garbage collector's delete while the dry run is on its way.
      if (options?.dryRun === true && entries.get(left.metadata.name ?? "", NS) !== undefined) entries.remove(left);
      return dryRun(e, options);
    };
    writer.gone.add(left.metadata.name ?? "");
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls.slice(0, 3)).toEqual([expect.stringMatching(/^check jp-01-/), expect.stringMatching(/^delete jp-gone-/), expect.stringMatching(ENTRY)]);
    // Before, the delete stayed expected for a minute: no other node could take the address.
    expect(expectations.entries.unseenOn(NS, "45.76.1.1")).toBe(false);
  });

  test("an entry on the address whose node still exists (moving away) holds the newcomer back", async () => {
    const { nodes, entries, writer, reconciler } = setup();
    const mover = node("jp-mover", "45.76.1.7");
    nodes.put(mover);
    entries.put(appliedEntry(node("jp-mover", "45.76.1.1"), "entry-mover"));
    nodes.put(node("jp-01", "45.76.1.1"));
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toEqual({ requeueAfter: expect.any(Number) as unknown });
    expect(writer.calls).toEqual([]);
  });

  test("a wait that lasts is logged at info, with why, after 5 s and then every 5 s; one that ends is forgotten", async () => {
    const lines: { level: number; msg: string; why?: string; waitingMs?: number }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => { lines.push(JSON.parse(line) as (typeof lines)[number]); } });
    const { nodes, entries, reconciler, clock } = setup(undefined, log);
    nodes.put(node("jp-mover", "45.76.1.7"));
    const held = appliedEntry(node("jp-mover", "45.76.1.1"), "entry-mover");
    entries.put(held);
    nodes.put(node("jp-01", "45.76.1.1"));
    const pass = async (afterMs: number) => { clock.t += afterMs; await reconciler.reconcile(`${NS}/jp-01`); };
    await pass(0);
    await pass(4_000);
    expect(lines).toEqual([]);
    await pass(1_000);
    await pass(1_000);
    await pass(4_000);
    expect(lines.map((l) => [l.msg, l.waitingMs])).toEqual([["still waiting", 5_000], ["still waiting", 10_000]]);
    expect(lines[0]?.why).toContain("is still on 45.76.1.1");
    entries.remove(held);
    await pass(500);
    lines.length = 0;
    entries.put(held);
    await pass(0);
    await pass(4_000);
    expect(lines.filter((l) => l.msg === "still waiting")).toEqual([]);
  });

  test("a group of the node's name that is not ours: untouched; Ready stays True (traffic is attributed), WorkloadGroupReady False GroupNameTaken", async () => {
    const { nodes, groups, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    const foreign = appliedGroup(node("jp-01", "45.76.1.1"));
    foreign.metadata.ownerReferences = [];
    foreign.metadata.labels = { team: "edge" };
    groups.put(foreign);
    await reconciler.reconcile(`${NS}/jp-01`);
    expect(writer.calls).toEqual([expect.stringMatching(ENTRY), "status jp-01", "event jp-01 Warning GroupNameTaken"]);
    expect(readyCondition(writer.statuses[0])).toMatchObject({ status: "True", reason: "Reconciled" });
    expect(groupCondition(writer.statuses[0])).toMatchObject({ status: "False", reason: "GroupNameTaken" });
    expect(groupCondition(writer.statuses[0])?.message).toContain("WorkloadGroup airport-prod/jp-01 already exists");
    expect(writer.statuses[0]?.workloadEntry).toMatch(/^jp-01-[0-9a-f]{8}$/);
  });

  test("a group create that finds the name taken does not hold the node back; the group's add event decides", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.takenGroups.add("jp-01");
    expect(await reconciler.reconcile(`${NS}/jp-01`)).toBeUndefined();
    expect(writer.calls).toEqual([expect.stringMatching(/^create jp-01-/), "create-group jp-01", "status jp-01"]);
  });

  test("a refused group write: the entry stands (Ready True, named), WorkloadGroupReady ApplyRejected names the group; looked at again in 15 s", async () => {
    const { nodes, writer, reconciler } = setup();
    nodes.put(node("jp-01", "45.76.1.1"));
    writer.failGroup = refused("workloadgroups.networking.istio.io is forbidden");
    const thrown = await reconciler.reconcile(`${NS}/jp-01`).catch((e: unknown) => e);
    expect(thrown).toBe(writer.failGroup);
    expect(errorPolicy(`${NS}/jp-01`, thrown)).toEqual({ requeue: "after", afterMs: REJECTED_RETRY_MS });
    expect(readyCondition(writer.statuses[0])).toMatchObject({ status: "True", reason: "Reconciled" });
    expect(groupCondition(writer.statuses[0])).toMatchObject({ status: "False", reason: "ApplyRejected" });
    expect(groupCondition(writer.statuses[0])?.message).toContain("WorkloadGroup jp-01 was refused");
    expect(writer.statuses[0]?.workloadEntry).toMatch(/^jp-01-[0-9a-f]{8}$/);
  });

  test("a node that is gone or being deleted is left to the garbage collector", async () => {
    const { nodes, writer, reconciler } = setup();
    await reconciler.reconcile(`${NS}/missing`);
    nodes.put(node("jp-02", "45.76.1.2", { deletionTimestamp: "2026-11-26T11:00:00Z" }));
    await reconciler.reconcile(`${NS}/jp-02`);
    expect(writer.calls).toEqual([]);
  });

  test("validation is computed once per object version, not once per peer", async () => {
    let calls = 0;
    const { nodes, reconciler } = setup((n) => { calls++; return validateNode(n, "any"); });
    for (let i = 0; i < 50; i++) nodes.put(node(`n-${i}`, `45.76.2.${i}`));
    for (let i = 0; i < 50; i++) await reconciler.reconcile(`${NS}/n-${i}`);
    expect(calls).toBe(50);
  });
});
