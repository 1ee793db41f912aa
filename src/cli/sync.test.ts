import * as k8s from "@kubernetes/client-node";
import type { XrayrNode } from "../crd/types.js";
import { desiredFleet } from "../fleet/desired.js";
import { planSync } from "../fleet/plan.js";
import { executePlan, type NodeWriter } from "./sync.js";

const opts = { namespace: "airport-prod", addressPolicy: "public" as const };
const quiet = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

/** A fake API: records calls in order; applies of names in `refuse` fail with 422. */
function fakeApi(refuse: ReadonlySet<string> = new Set()) {
  const calls: string[] = [];
  const preconditions = new Map<string, unknown>();
  const writer: NodeWriter = {
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
      return Promise.resolve(true);
    },
  };
  return { calls, preconditions, writer };
}

/** A renamed VPS: node-1-1 (synced) is now listed as renamed-1; VPS 2 is retired. */
function renamePlan() {
  const before = [{ id: 1, hostname: "node-1", ip: "45.0.0.1", country: "de", status: "active" }, { id: 2, hostname: "node-2", ip: "45.0.0.2", country: "de", status: "active" }];
  const live = desiredFleet(before, opts).nodes.map((d): XrayrNode => ({ ...d.object, metadata: { ...d.object.metadata, uid: `uid-${d.name}`, resourceVersion: `rv-${d.name}` }, spec: d.spec }));
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
