import * as k8s from "@kubernetes/client-node";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { desiredFleet } from "../fleet/desired.js";
import { REGISTERED_BY_LABEL } from "../fleet/labels.js";
import { planSync } from "../fleet/plan.js";
import { pruneGuard } from "../fleet/prune-guard.js";
import { render } from "./output.js";
import { executePlan, planToRun, planView, resultView, syncView, type NodeWriter, type SyncReport } from "./sync.js";

const opts = { namespace: "airport-prod", addressPolicy: "public" as const };
const quiet = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

/**
 * A fake API: records calls in order; applies of names in `refuse` fail with 422; `changed`
 * holds nodes as they are now, changed since the plan read them: a delete whose preconditions
 * do not match them fails with 409, as the API server's does.
 */
function fakeApi(refuse: ReadonlySet<string> = new Set(), changed = new Map<string, XrayrNode>()) {
  const calls: string[] = [];
  const preconditions = new Map<string, unknown>();
  const writer: NodeWriter = {
    get: async (name: string) => {
      calls.push(`get ${name}`);
      return Promise.resolve(changed.get(name));
    },
    apply: async (node: XrayrNode) => {
      const name = node.metadata.name ?? "";
      await new Promise((r) => setTimeout(r, 5)); // a create takes longer than a delete
      calls.push(`apply ${name}`);
      if (refuse.has(name)) throw new k8s.ApiException(422, "x", JSON.stringify({ message: `XrayrNode "${name}" is invalid` }), {});
      return node;
    },
    delete: async (name: string, pre?: { uid?: string; resourceVersion?: string }) => {
      calls.push(`delete ${name}`);
      preconditions.set(name, pre);
      const now = changed.get(name);
      if (now !== undefined && (now.metadata.uid !== pre?.uid || now.metadata.resourceVersion !== pre?.resourceVersion)) {
        throw new k8s.ApiException(409, "x", JSON.stringify({ message: "Precondition failed" }), {});
      }
      return Promise.resolve(true);
    },
  };
  return { calls, preconditions, writer };
}

const before = [{ id: 1, hostname: "node-1", ip: "45.0.0.1", country: "de", status: "active" }, { id: 2, hostname: "node-2", ip: "45.0.0.2", country: "de", status: "active" }];
const live = desiredFleet(before, opts).nodes.map((d): XrayrNode => ({ ...d.object, metadata: { ...d.object.metadata, uid: `uid-${d.name}`, resourceVersion: `rv-${d.name}` }, spec: d.spec }));

/** A renamed VPS: node-1-1 (synced) is now listed as renamed-1; VPS 2 is retired. */
function renamePlan() {
  const after = [{ ...before[0], hostname: "renamed" }, { ...before[1], status: "retired" }];
  return planSync(desiredFleet(after, opts), live, { prune: true });
}

describe("executePlan", () => {
  test("a renamed VPS: the old node is deleted after its new node was created", async () => {
    const plan = renamePlan();
    expect(plan.create.map((c) => c.desired.name)).toEqual(["renamed-1"]);
    expect(plan.delete.map((d) => d.name)).toEqual(["node-1-1", "node-2-2"]);
    const api = fakeApi();
    const r = await executePlan(plan, api.writer, 8, "https://k8s", quiet);
    expect(api.calls.indexOf("delete node-1-1")).toBeGreaterThan(api.calls.indexOf("apply renamed-1"));
    expect(r).toEqual({ applied: { created: 1, updated: 0, deleted: 2, alreadyGone: 0 }, failures: [], held: [] });
  });

  test("a delete names the node exactly as the plan read it: uid and resourceVersion", async () => {
    const api = fakeApi();
    await executePlan(renamePlan(), api.writer, 8, "https://k8s", quiet);
    expect(api.preconditions.get("node-2-2")).toEqual({ uid: "uid-node-2-2", resourceVersion: "rv-node-2-2" });
    expect(api.preconditions.get("node-1-1")).toEqual({ uid: "uid-node-1-1", resourceVersion: "rv-node-1-1" });
  });

  test("a node changed since the plan read it only by a status write is read again and deleted", async () => {
    const node = live.find((n) => n.metadata.name === "node-2-2");
    if (node === undefined) throw new Error("no node-2-2");
    const api = fakeApi(new Set(), new Map([["node-2-2", { ...node, metadata: { ...node.metadata, resourceVersion: "rv-after-status" } }]]));
    const r = await executePlan(renamePlan(), api.writer, 8, "https://k8s", quiet);
    expect(api.calls.filter((c) => c.endsWith("node-2-2"))).toEqual(["delete node-2-2", "get node-2-2", "delete node-2-2"]);
    expect(api.preconditions.get("node-2-2")).toEqual({ uid: "uid-node-2-2", resourceVersion: "rv-after-status" });
    expect(r.failures).toEqual([]);
    expect(r.applied.deleted).toBe(2);
  });

  test("a node sigma-api registered over since the plan read it is not deleted", async () => {
    const node = live.find((n) => n.metadata.name === "node-2-2");
    if (node === undefined) throw new Error("no node-2-2");
    const taken = { ...node, metadata: { ...node.metadata, resourceVersion: "rv-registered", labels: { ...node.metadata.labels, [REGISTERED_BY_LABEL]: "sigma-api" } } };
    const api = fakeApi(new Set(), new Map([["node-2-2", taken]]));
    const r = await executePlan(renamePlan(), api.writer, 8, "https://k8s", quiet);
    expect(api.calls.filter((c) => c.endsWith("node-2-2"))).toEqual(["delete node-2-2", "get node-2-2"]);
    expect(r.failures).toEqual([
      { action: "delete", name: "node-2-2", error: "XrayrNode node-2-2 changed since sync listed it: it is no longer sync's (registered over, or relabelled); not deleted." },
    ]);
    expect(r.applied.deleted).toBe(1);
  });

  test("a failed create keeps the old node: the VPS is never left without one", async () => {
    const api = fakeApi(new Set(["renamed-1"]));
    const r = await executePlan(renamePlan(), api.writer, 8, "https://k8s", quiet);
    expect(api.calls).not.toContain("delete node-1-1");
    expect(api.calls).toContain("delete node-2-2"); // an unrelated delete still runs
    expect(r.failures).toEqual([{ action: "create", name: "renamed-1", error: 'XrayrNode "renamed-1" is invalid' }]);
    expect(r.held).toEqual([{ name: "node-1-1", replacement: "renamed-1" }]);
    expect(r.applied).toEqual({ created: 0, updated: 0, deleted: 1, alreadyGone: 0 });
  });
});

describe("planToRun: what runs once the prune guard has spoken", () => {
  const rows = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, hostname: `node-${i + 1}`, ip: `45.0.1.${i + 1}`, country: "de", status: "active" }));
  const synced = desiredFleet(rows, opts).nodes.map((d): XrayrNode => ({ ...d.object, metadata: { ...d.object.metadata, uid: `uid-${d.name}`, resourceVersion: "1" }, spec: d.spec }));

  test("deletes refused: a renamed VPS's new node is not created beside its kept old node (one address, one node)", () => {
    // 6 retired and 1 renamed of 10: 7 deletes against a bound of 5.
    const after = rows.map((r, i) => (i < 6 ? { ...r, status: "retired" } : i === 6 ? { ...r, hostname: "renamed" } : r));
    const fleet = desiredFleet(after, opts);
    const plan = planSync(fleet, synced, { prune: true });
    expect(plan.create.map((c) => c.desired.name)).toEqual(["renamed-7"]);
    expect(plan.delete).toHaveLength(7);
    const refusal = pruneGuard(after, plan, { source: "vps.json" });
    expect(refusal?.scope).toBe("deletes");
    const run = planToRun(fleet, synced, plan, refusal);
    expect(run?.create).toEqual([]);
    expect(run?.delete).toEqual([]);
    expect(run?.invalid.map((i) => [i.row, i.field])).toEqual([[7, "ip"]]);
  });

  test("the whole sync refused: nothing runs; no refusal: the plan as it is", () => {
    const fleet = desiredFleet([], opts);
    const plan = planSync(fleet, synced, { prune: true });
    const refusal = pruneGuard([], plan, { source: "vps.json" });
    expect(refusal?.scope).toBe("sync");
    expect(planToRun(fleet, synced, plan, refusal)).toBeUndefined();
    const whole = desiredFleet(rows, opts);
    const same = planSync(whole, synced, { prune: true });
    expect(planToRun(whole, synced, same, undefined)).toBe(same);
  });
});

describe("the plan as printed", () => {
  test("normalised rows are listed as warnings, with value and what it became, and counted apart from invalid ones", () => {
    const doc = [
      { id: 7, hostname: "HK_Relay_07", ip: "2A01:4F8:0:0:0:0:0:1", country: "HK", status: "active" },
      { id: 8, hostname: "ok.example", ip: "10.0.0.1", country: "hk", status: "active" },
    ];
    const plan = planSync(desiredFleet(doc, { namespace: "airport-prod", addressPolicy: "public" }), [], { prune: false });
    const lines = render(planView(plan, "vps.json", "airport-prod", false), "table").split("\n");
    expect(lines).toContain("Normalised rows (1; applied as normalised, fix them in sigma-api):");
    expect(lines.find((l) => /^1\s+7\s+hostname\s/.test(l))).toMatch(/"HK_Relay_07"\s+hk-relay-07-7\s+hostname "HK_Relay_07" is not a host name/);
    expect(lines.find((l) => /^1\s+7\s+ip\s/.test(l))).toMatch(/"2A01:4F8:0:0:0:0:0:1"\s+2a01:4f8::1\s/);
    expect(lines).toContain("Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged, 1 invalid, 1 normalised, 0 not active.");
  });
});

describe("what sync prints after its plan, in each format", () => {
  const plan = renamePlan();
  const report = (over: Partial<SyncReport>): SyncReport => ({
    namespace: "airport-prod",
    source: "vps.json",
    prune: true,
    dryRun: false,
    plan,
    run: plan,
    refusal: undefined,
    result: { applied: { created: 1, updated: 0, deleted: 2, alreadyGone: 0 }, failures: [], held: [] },
    ...over,
  });

  test("written, a dry run of either kind, or refused: one sentence each", () => {
    expect(render(resultView(report({})), "table")).toBe("Applied: 1 created, 0 updated, 2 deleted, 0 failed.\n");
    expect(render(resultView(report({ dryRun: "client" })), "table")).toBe("Dry run: nothing was written.\n");
    expect(render(resultView(report({ dryRun: "server" })), "table")).toBe("Server dry run (admission ran on every write, nothing was stored): 1 created, 0 updated, 2 deleted, 0 failed.\n");
    expect(render(resultView(report({ run: undefined })), "table")).toBe("Nothing was written.\n");
  });

  test("failures and kept nodes are listed before the counts, after a blank line", () => {
    const r = report({ result: { applied: { created: 0, updated: 0, deleted: 1, alreadyGone: 0 }, failures: [{ action: "create", name: "renamed-1", error: "refused" }], held: [{ name: "node-1-1", replacement: "renamed-1" }] } });
    expect(render(resultView(r), "table").split("\n")).toEqual([
      "",
      "Failed (1):",
      "ACTION  NAME       ERROR",
      "create  renamed-1  refused",
      "",
      "Kept (1; their VPS's new node was not created, so they stay on the mesh):",
      "NAME      NEW NAME",
      "node-1-1  renamed-1",
      "Applied: 0 created, 0 updated, 1 deleted, 1 failed.",
      "",
    ]);
  });

  test("json and yaml carry the plan and the result as one document, the kind of dry run included", () => {
    const json = JSON.parse(render(syncView(report({ dryRun: "server" })), "json")) as { dryRun: unknown; counts: { create: number }; applied: { deleted: number } };
    expect(json).toMatchObject({ dryRun: "server", counts: { create: 1 }, applied: { deleted: 2 } });
    expect(render(syncView(report({})), "yaml")).toMatch(/^namespace: airport-prod\nsource: vps\.json\ndryRun: false\n/);
  });
});
