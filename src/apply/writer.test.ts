// The only writer, against a local HTTP server: what each write sends (path, verb, query,
// content type, body, stamps and preconditions) and how it reads each answer (409 on create,
// 404/409 on delete, the fencing policy's refusal, a hung call).
import { ApiException } from "@kubernetes/client-node";
import { FakeApiServer, status, type Answer, type Recorded } from "../../test/support/api-server.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { NotLeaderError, type Fence, type LeaderStamp } from "../controller/fence.js";
import { errorPolicy, REJECTED_RETRY_MS } from "../reconcile/error-policy.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { FENCING_POLICY, FencedWriteError, KubeWriter, LEADER_ANNOTATION, LEADER_EPOCH_ANNOTATION, writeTimeoutFor, type EntryPace } from "./writer.js";

const NS = "airport-prod";
const ENTRIES = `/apis/networking.istio.io/v1/namespaces/${NS}/workloadentries`;
const GROUPS = `/apis/networking.istio.io/v1/namespaces/${NS}/workloadgroups`;
const NODES = `/apis/mesh.sigma.io/v1alpha1/namespaces/${NS}/xrayrnodes`;

const entry: WorkloadEntry = {
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name: "jp-01-0a1b2c3d", namespace: NS, labels: { app: "xrayr" }, annotations: { "mesh.sigma.io/applied-hash": "h1" } },
  spec: { address: "45.76.1.1", labels: { app: "xrayr", country: "jp" } },
};
const group: WorkloadGroup = {
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadGroup",
  metadata: { name: "jp-01", namespace: NS, labels: { app: "xrayr" } },
  spec: { metadata: { labels: { app: "xrayr" } }, template: {} },
};
const node: XrayrNode = { metadata: { name: "jp-01", namespace: NS, uid: "uid-1" }, spec: { address: "45.76.1.1", country: "jp" } };

function fence(stamp: LeaderStamp | undefined) {
  const leading = new AbortController();
  let over = false;
  const f: Fence = {
    signal: leading.signal,
    stamp,
    check: () => { if (over) throw new NotLeaderError("no longer leads"); },
  };
  return { fence: f, end: () => { over = true; leading.abort(); } };
}

/** `stamp: null`: no leader election, so nothing to stamp. */
async function setup(handler: (req: Recorded) => Answer, { stamp = { holder: "pod-a", epoch: 3 }, timeoutMs, pace }: { stamp?: LeaderStamp | null; timeoutMs?: number; pace?: EntryPace } = {}) {
  const api = new FakeApiServer(handler);
  const kc = await api.start();
  const counted: string[] = [];
  const f = fence(stamp ?? undefined);
  const writer = new KubeWriter(kc, (verb, resource, outcome) => counted.push(`${verb} ${resource} ${outcome}`), "pod-a", f.fence, timeoutMs, pace);
  return { api, writer, counted, end: f.end };
}

let api: FakeApiServer | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

describe("KubeWriter", () => {
  test("creates an entry by POST under our field manager, stamped with the leadership it writes under", async () => {
    const s = await setup(() => ({ status: 201, body: entry }));
    api = s.api;
    expect(await s.writer.createEntry(entry)).toBe("created");
    const [req] = s.api.requests;
    expect({ method: req?.method, path: req?.path, manager: req?.query.get("fieldManager"), dryRun: req?.query.get("dryRun") }).toEqual({
      method: "POST",
      path: ENTRIES,
      manager: "xrayr-mesh-operator",
      dryRun: null,
    });
    const sent = req?.body as WorkloadEntry;
    expect(sent.metadata.annotations).toEqual({ "mesh.sigma.io/applied-hash": "h1", [LEADER_ANNOTATION]: "pod-a", [LEADER_EPOCH_ANNOTATION]: "3" });
    expect(sent.spec).toEqual(entry.spec);
    expect(s.counted).toEqual(["create workloadentries ok"]);
  });

  test("a create whose name is taken (409) is \"exists\", not a failure; a dry run asks admission and stores nothing", async () => {
    const s = await setup((req) => (req.query.get("dryRun") === "All" ? { status: 201, body: entry } : status(409, "AlreadyExists", "workloadentries \"jp-01-0a1b2c3d\" already exists")));
    api = s.api;
    expect(await s.writer.createEntry(entry)).toBe("exists");
    expect(await s.writer.createEntry(entry, { dryRun: true })).toBe("created");
    expect(s.api.requests.map((r) => r.query.get("dryRun"))).toEqual([null, "All"]);
    expect(s.counted).toEqual(["create workloadentries error", "dry-run-create workloadentries ok"]);
  });

  test("creates a group the same way", async () => {
    const s = await setup(() => ({ status: 201, body: group }));
    api = s.api;
    expect(await s.writer.createGroup(group)).toBe("created");
    expect(s.api.requests.map((r) => [r.method, r.path])).toEqual([["POST", GROUPS]]);
    expect((s.api.requests[0]?.body as WorkloadGroup).metadata.annotations?.[LEADER_EPOCH_ANNOTATION]).toBe("3");
  });

  test("deletes only the object with that uid; already gone (404) or replaced (409) is not a failure but says so; a 500 is", async () => {
    const answers = [status(200, "", ""), status(404, "NotFound", "gone"), status(409, "Conflict", "Precondition failed: UID in precondition: uid-e, UID in object meta: uid-other"), status(500, "InternalError", "etcd timeout")];
    let n = 0;
    const s = await setup(() => answers[n++] ?? status(500, "", ""));
    api = s.api;
    expect(await s.writer.deleteEntry(NS, "jp-01-0a1b2c3d", "uid-e")).toBe("deleted");
    expect(await s.writer.deleteEntry(NS, "jp-01-0a1b2c3d", "uid-e")).toBe("gone");
    await s.writer.deleteGroup(NS, "jp-01", "uid-g");
    await expect(s.writer.deleteGroup(NS, "jp-01", "uid-g")).rejects.toThrow(ApiException);
    expect(s.api.requests.map((r) => [r.method, r.path, (r.body as { preconditions?: unknown }).preconditions])).toEqual([
      ["DELETE", `${ENTRIES}/jp-01-0a1b2c3d`, { uid: "uid-e" }],
      ["DELETE", `${ENTRIES}/jp-01-0a1b2c3d`, { uid: "uid-e" }],
      ["DELETE", `${GROUPS}/jp-01`, { uid: "uid-g" }],
      ["DELETE", `${GROUPS}/jp-01`, { uid: "uid-g" }],
    ]);
  });

  test("updates an entry in place: reads it fresh (the cache keeps no managedFields), then a merge patch guarded by its resourceVersion", async () => {
    const live: WorkloadEntry = {
      ...entry,
      metadata: {
        ...entry.metadata,
        resourceVersion: "41",
        labels: { app: "xrayr", tier: "old" },
        managedFields: [{ manager: "xrayr-mesh-operator", operation: "Update", fieldsV1: { "f:metadata": { "f:labels": { "f:app": {}, "f:tier": {} } } } }],
      },
    };
    const s = await setup((req) => (req.method === "GET" ? { status: 200, body: live } : { status: 200, body: entry }));
    api = s.api;
    await s.writer.updateEntry(entry);
    const [get, patch] = s.api.requests;
    expect([get?.method, get?.path, patch?.method, patch?.path]).toEqual(["GET", `${ENTRIES}/jp-01-0a1b2c3d`, "PATCH", `${ENTRIES}/jp-01-0a1b2c3d`]);
    expect(patch?.headers["content-type"]).toBe("application/merge-patch+json");
    expect(patch?.query.get("fieldManager")).toBe("xrayr-mesh-operator");
    const body = patch?.body as { metadata: { resourceVersion: string; labels: Record<string, string | null>; annotations: Record<string, string> } };
    expect(body.metadata.resourceVersion).toBe("41");
    // The label we set before and no longer want is removed; the stamp goes with the patch.
    expect(body.metadata.labels).toEqual({ app: "xrayr", tier: null });
    expect(body.metadata.annotations[LEADER_ANNOTATION]).toBe("pod-a");
    expect(s.counted).toEqual(["patch workloadentries ok"]);
  });

  test("the API server's fencing policy refusing a write is a FencedWriteError; any other refusal stays the server's error", async () => {
    const fenced = status(403, "Forbidden", `workloadentries "jp-01-0a1b2c3d" is forbidden: ValidatingAdmissionPolicy '${FENCING_POLICY}' with binding '${FENCING_POLICY}' denied request: the writer does not hold the Lease`);
    let answer: Answer = fenced;
    const s = await setup(() => answer);
    api = s.api;
    await expect(s.writer.createEntry(entry)).rejects.toBeInstanceOf(FencedWriteError);
    answer = status(403, "Forbidden", 'admission webhook "deny.lab" denied the request: frozen');
    const other = await s.writer.createEntry(entry).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ApiException);
    expect(other).not.toBeInstanceOf(FencedWriteError);
  });

  test("without leader election (no stamp) the fencing policy's refusal is a refusal like any webhook's, not a lost leadership", async () => {
    const s = await setup(() => status(403, "Forbidden", `workloadentries "jp-01-0a1b2c3d" is forbidden: ValidatingAdmissionPolicy '${FENCING_POLICY}' with binding '${FENCING_POLICY}' denied request: xrayr-mesh-operator-fencing: refused a write by an unstamped writer: the Lease xrayr-mesh-operator is held by nobody`), { stamp: null });
    api = s.api;
    const err = await s.writer.createEntry(entry).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect(err).not.toBeInstanceOf(FencedWriteError);
    // So the error policy looks at the node again every 15 s, and its status says why.
    expect(errorPolicy("airport-prod/jp-01", err)).toEqual({ requeue: "after", afterMs: REJECTED_RETRY_MS });
  });

  test("once its leadership is over nothing is sent: the fence refuses before the request", async () => {
    const s = await setup(() => ({ status: 201, body: entry }));
    api = s.api;
    s.end();
    await expect(s.writer.createEntry(entry)).rejects.toBeInstanceOf(NotLeaderError);
    await expect(s.writer.patchNodeStatus(node, { conditions: [] })).rejects.toBeInstanceOf(NotLeaderError);
    await expect(s.writer.deleteEntry(NS, "x", "u")).rejects.toBeInstanceOf(NotLeaderError);
    expect(s.api.requests).toEqual([]);
  });

  test("a write in flight when the leadership ends is cancelled with it", async () => {
    const s = await setup(() => ({ hold: true }));
    api = s.api;
    const pending = s.writer.createEntry(entry);
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.end();
    await expect(pending).rejects.toThrow();
    expect(s.counted).toEqual(["create workloadentries error"]);
  });

  test("every entry create, update and delete takes its turn of the entry pace before anything of it is sent; dry runs and groups take none", async () => {
    const turns: string[] = [];
    // Each turn notes how many requests the server had seen when it was asked: none of its own yet.
    const pace: EntryPace = { turn: (verb) => { turns.push(`${verb} after ${api?.requests.length ?? 0}`); return Promise.resolve(true); } };
    const s = await setup((req) => (req.method === "GET" ? { status: 200, body: { ...entry, metadata: { ...entry.metadata, resourceVersion: "1" } } } : { status: 200, body: entry }), { pace });
    api = s.api;
    await s.writer.createEntry(entry, { dryRun: true });
    await s.writer.createEntry(entry);
    await s.writer.updateEntry(entry);
    await s.writer.deleteEntry(NS, "jp-01-0a1b2c3d", "uid-e");
    await s.writer.createGroup(group);
    await s.writer.updateGroup(group);
    await s.writer.deleteGroup(NS, "jp-01", "uid-g");
    expect(turns).toEqual(["create after 1", "patch after 2", "delete after 4"]);
    expect(s.api.requests.map((r) => `${r.method} ${r.path.replace(/^.*\//, "")}`).slice(0, 5)).toEqual([
      "POST workloadentries", "POST workloadentries", "GET jp-01-0a1b2c3d", "PATCH jp-01-0a1b2c3d", "DELETE jp-01-0a1b2c3d",
    ]);
  });

  test("an entry write whose turn ends with the leadership is not sent (NotLeaderError)", async () => {
    const waiting: EntryPace = { turn: (_verb, signal) => new Promise((resolve) => { signal.addEventListener("abort", () => { resolve(false); }); }) };
    const s = await setup(() => ({ status: 201, body: entry }), { pace: waiting });
    api = s.api;
    const create = s.writer.createEntry(entry);
    const del = s.writer.deleteEntry(NS, "x", "u");
    await new Promise((resolve) => setTimeout(resolve, 20));
    s.end();
    await expect(create).rejects.toBeInstanceOf(NotLeaderError);
    await expect(del).rejects.toBeInstanceOf(NotLeaderError);
    // A pace that gives up for any other reason still sends nothing.
    const refused = await setup(() => ({ status: 201, body: entry }), { pace: { turn: () => Promise.resolve(false) } });
    await expect(refused.writer.updateEntry(entry)).rejects.toThrow("leadership ended while it waited for its turn");
    await refused.api.stop();
    expect([...s.api.requests, ...refused.api.requests]).toEqual([]);
  });

  test("a write that hangs fails after the write timeout", async () => {
    const s = await setup(() => ({ hold: true }), { timeoutMs: 200 });
    api = s.api;
    await expect(s.writer.createGroup(group)).rejects.toThrow();
    expect(writeTimeoutFor(15_000, 10_000)).toBe(4_000);
    expect(writeTimeoutFor(1_000, 900)).toBe(500);
  });

  test("writes the reconciler's status by server-side apply under its manager, guarded by the node's uid, with who wrote it", async () => {
    const s = await setup(() => ({ status: 200, body: node }));
    api = s.api;
    const conditions = [{ type: "Ready", status: "True" as const, reason: "Reconciled", message: "ok", lastTransitionTime: "2026-12-01T00:00:00Z" }];
    await s.writer.patchNodeStatus(node, { conditions, observedGeneration: 2 });
    const [req] = s.api.requests;
    expect([req?.method, req?.path, req?.headers["content-type"], req?.query.get("fieldManager"), req?.query.get("force")]).toEqual([
      "PATCH",
      `${NODES}/jp-01/status`,
      "application/apply-patch+yaml",
      "xrayr-mesh-operator",
      "true",
    ]);
    // No workloadEntry listed: a node no longer Ready loses it (the field leaves this manager's set).
    expect(req?.body).toEqual({
      apiVersion: "mesh.sigma.io/v1alpha1",
      kind: "XrayrNode",
      metadata: { name: "jp-01", uid: "uid-1" },
      status: { conditions, observedGeneration: 2, writtenBy: { holder: "pod-a", epoch: 3 } },
    });
    expect(s.counted).toEqual(["patch xrayrnodes/status ok"]);
  });

  test("writes status.traffic under the traffic manager only", async () => {
    const s = await setup(() => ({ status: 200, body: node }));
    api = s.api;
    const traffic = { state: "Active" as const, requestsPerMinute: 6, errorRatio: 0, observedAt: "2026-12-01T00:00:00Z" };
    await s.writer.patchNodeTraffic(node, traffic);
    expect(s.api.requests[0]?.query.get("fieldManager")).toBe("xrayr-mesh-operator-traffic");
    expect((s.api.requests[0]?.body as { status: unknown }).status).toEqual({ traffic, writtenBy: { holder: "pod-a", epoch: 3 } });
  });

  test("without leader election (no Lease) nothing is stamped: no annotations, no writtenBy", async () => {
    const s = await setup((req) => ({ status: req.method === "POST" ? 201 : 200, body: {} }), { stamp: null });
    api = s.api;
    await s.writer.createEntry(entry);
    await s.writer.patchNodeStatus(node, { conditions: [] });
    expect((s.api.requests[0]?.body as WorkloadEntry).metadata.annotations).toEqual(entry.metadata.annotations);
    expect((s.api.requests[1]?.body as { status: unknown }).status).toEqual({ conditions: [] });
  });

  test("records an Event naming the node and this replica", async () => {
    const s = await setup(() => ({ status: 201, body: {} }));
    api = s.api;
    await s.writer.recordEvent(node, "Warning", "AddressConflict", "taken");
    const [req] = s.api.requests;
    expect([req?.method, req?.path]).toEqual(["POST", `/api/v1/namespaces/${NS}/events`]);
    expect(req?.body).toMatchObject({
      involvedObject: { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: "jp-01", namespace: NS, uid: "uid-1" },
      type: "Warning",
      reason: "AddressConflict",
      message: "taken",
      reportingComponent: "xrayr-mesh-operator",
      reportingInstance: "pod-a",
    });
    expect(s.counted).toEqual(["create events ok"]);
  });
});
