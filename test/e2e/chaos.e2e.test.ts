// Chaos on the real lab, the operator reaching the API server through test/lab/fault-proxy.ts:
//  1) a 30 s storm of 429 (Retry-After 2 s) on its writes and lists while nodes are created and
//     moved: it waits out Retry-After per key (the proxy's record of its attempts), stays up, and
//     converges once the storm ends
//  2) etcd restarted under it: nothing lost, no address on two entries, changes made right after
//     converge
//  3) its WorkloadEntry watch 5 s late while addresses rotate, swap and pass from a deleted node
//     to another: at no state the API server went through do two entries share an address (a
//     watch on the admin connection, not through the proxy), and every node converges after
import { execFile } from "node:child_process";
import { join } from "node:path";
import { auditOffset, auditSince, summarize, writesBy } from "./support/audit.js";
import { EntryWatch } from "./support/entry-watch.js";
import { attemptPeak, FaultProxy, stopAllProxies } from "./support/fault-proxy.js";
import { orphanEntries, waitConverged, waitNodeEntriesGone, type Converged } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, type XrayrNode } from "./support/kube.js";
import { lab, OPERATOR_USER, REPO } from "./support/lab.js";
import { startOperator, type OperatorProcess } from "./support/operator.js";
import { note, pending, pool, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("chaos");
const labDir = lab().labDir;
// etcd restarts and the audit log need the lab's directory.
const itLab = labDir !== undefined ? it : it.skip;
afterAll(async () => { await stopAllProxies(); });

function labScript(script: string, env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(join(REPO, "test/lab", script), [], { env: { ...process.env, LAB_DIR: labDir, ...env }, timeout: 120_000, encoding: "utf8" }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`${script} failed: ${err.message}\n${stderr}`));
      else resolve(stderr);
    });
  });
}

/** Every XrayrNode of this file converged; the first problems seen if not within timeoutMs. */
function waitFleetConverged(what: string, timeoutMs: number): Promise<true> {
  return waitFor(
    what,
    async () => {
      const c = await fleet.convergence();
      return c.problems.length === 0 ? true : pending({ nodes: c.nodes, notConverged: c.problems.length, first: c.problems.slice(0, 5) });
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Addresses that more than one live entry of the namespace holds right now. */
async function sharedAddresses(): Promise<Record<string, string[]>> {
  const by = new Map<string, string[]>();
  for (const e of await adminClient().entries.list()) {
    const a = e.spec.address ?? "";
    by.set(a, [...(by.get(a) ?? []), e.metadata.name]);
  }
  return Object.fromEntries([...by].filter(([, names]) => names.length > 1));
}

/** How every scenario ends: no address shared, no entry without its node, the operator alive
 * through it all; then it is stopped and the file's nodes removed. */
async function closingChecks(op: OperatorProcess): Promise<void> {
  expect(await sharedAddresses()).toEqual({});
  expect(await orphanEntries()).toEqual([]);
  expect(op.alive).toBe(true);
  await op.stop();
  await fleet.cleanup({ timeoutMs: 60_000 });
}

describe("chaos: faults between the operator and the API server", () => {
  itLab(
    "1: a 30 s storm of 429 with Retry-After 2 s: attempts per key stay one per Retry-After, no crash, convergence after",
    withLogs("chaos 1 429 storm", async () => {
      const { nodes } = adminClient();
      const proxy = await FaultProxy.start("storm");
      const op = await startOperator({ name: "chaos-storm", kubeconfig: proxy.kubeconfig });
      const before = await fleet.createMany("storm", 10, 5);
      await pool(before, 5, (n) => waitConverged(n.metadata.name, 20_000));

      const STORM_MS = 30_000;
      const RETRY_AFTER_S = 2;
      const logFrom = (await proxy.log()).at(-1)?.seq ?? 0;
      const auditFrom = auditOffset();
      const t0 = Date.now();
      // The entry watch is refused with 410 for a second and the streams cut, so the entries
      // informer must relist, and its lists meet the storm too.
      await proxy.add({ id: "gone", action: "status", code: 410, match: { verbs: ["watch"], resources: ["workloadentries"] }, forMs: 1_000 });
      await proxy.add({ id: "storm", action: "status", code: 429, retryAfterSeconds: RETRY_AFTER_S, match: { verbs: ["create", "update", "patch", "delete", "list"] }, forMs: STORM_MS });
      await proxy.cut();
      const added = await pool(Array.from({ length: 10 }), 5, () => fleet.create("storm-new"));
      const moved = before.slice(0, 5);
      for (const n of moved) await nodes.patch(n.metadata.name, { spec: { address: fleet.address() } });
      await sleep(STORM_MS - (Date.now() - t0));
      const stormEnd = Date.now();
      expect(op.alive).toBe(true);

      await waitFleetConverged("every node of the file converged after the storm", 60_000);
      const converged = Date.now() - stormEnd;
      const log = (await proxy.log(logFrom)).filter((r) => r.at >= t0 && r.at <= stormEnd);
      const refused = log.filter((r) => r.outcome === "status-429");
      // Named writes (status patches, entry patches and deletes) and the entry lists, per key.
      const writes = attemptPeak(refused, RETRY_AFTER_S * 1000, (r) => r.verb !== "list");
      const lists = attemptPeak(
        refused.filter((r) => r.verb === "list").map((r) => ({ ...r, name: r.resource })),
        RETRY_AFTER_S * 1000,
        () => true,
      );
      const creates = refused.filter((r) => r.verb === "create").length;
      note(`chaos 1: ${log.length} requests in the storm, ${refused.length} refused (${creates} creates); busiest key ${writes.key}: ${writes.count} per ${RETRY_AFTER_S} s, closest repeat ${writes.minGapMs} ms; lists ${lists.count} per ${RETRY_AFTER_S} s, closest ${lists.minGapMs} ms; converged ${converged} ms after it`);
      expect(refused.length).toBeGreaterThan(0);
      expect(writes.count).toBeGreaterThan(0);
      // One attempt per key per Retry-After; two in a window only at its edges.
      expect({ writes: writes.count <= 2, lists: lists.count <= 2 }).toEqual({ writes: true, lists: true });
      expect(writes.minGapMs).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 100);
      expect(lists.minGapMs).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 100);
      // Without Retry-After the 15 keys that needed an entry would each try ~13 times in 30 s
      // (5 ms doubling); with it, at most one try per 2 s each.
      expect(creates).toBeLessThanOrEqual(15 * (STORM_MS / (RETRY_AFTER_S * 1000) + 1));

      // The audit log agrees: none of the operator's writes reached the API server during the
      // storm (after a second for requests already on their way), and after it one entry create
      // per node that needed one.
      const audit = auditSince(auditFrom);
      const during = writesBy(audit, { user: OPERATOR_USER }).filter((e) => {
        const at = Date.parse(e.requestReceivedTimestamp ?? "");
        return at > t0 + 1_000 && at < stormEnd - 200;
      });
      expect(summarize(during)).toEqual({});
      // Dry runs (the check before a replacement's delete) are creates in the audit log too.
      const entryCreates = writesBy(audit, { user: OPERATOR_USER, verb: "create", resource: "workloadentries" }).filter((e) => e.responseStatus?.code === 201 && !e.requestURI.includes("dryRun="));
      expect(entryCreates.length).toBe(added.length + moved.length);
      await closingChecks(op);
    }),
    180_000,
  );

  itLab(
    "2: etcd restarted under a running operator: nothing lost, no duplicate address, changes after it converge",
    withLogs("chaos 2 etcd restart", async () => {
      const { nodes } = adminClient();
      const op = await startOperator({ name: "chaos-etcd" });
      const initial = await fleet.createMany("etcd", 12, 6);
      const before = new Map((await pool(initial, 6, (n) => waitConverged(n.metadata.name, 20_000))).map((c) => [c.node.metadata.name, c]));

      const t0 = Date.now();
      const out = await labScript("restart-etcd.sh", { ETCD_DOWN_SECONDS: "3" });
      note(`chaos 2: etcd restarted (3 s down) in ${Date.now() - t0} ms (${out.trim().split("\n").pop() ?? ""})`);
      expect(op.alive).toBe(true);

      const t1 = Date.now();
      const added = await pool(Array.from({ length: 4 }), 4, () => fleet.create("etcd-new"));
      const moved = initial.slice(0, 3);
      for (const n of moved) await nodes.patch(n.metadata.name, { spec: { address: fleet.address() } });
      const removed = initial.slice(3, 5);
      for (const n of removed) await nodes.delete(n.metadata.name);
      await waitFleetConverged("every node of the file converged after the etcd restart", 60_000);
      await pool(removed, 2, (n) => waitNodeEntriesGone(n.metadata.name, 30_000));
      note(`chaos 2: changes after the restart converged in ${Date.now() - t1} ms`);

      // Untouched nodes keep the very entry they had: nothing was lost and recreated.
      const untouched = initial.slice(5);
      const after: Converged[] = await pool(untouched, 6, (n) => waitConverged(n.metadata.name, 5_000));
      expect(after.map((c) => [c.node.metadata.name, c.entry.metadata.uid])).toEqual(untouched.map((n) => [n.metadata.name, before.get(n.metadata.name)?.entry.metadata.uid]));
      expect(added.length).toBe(4);
      await closingChecks(op);
    }),
    180_000,
  );

  it(
    "3: the operator's WorkloadEntry watch 5 s late while addresses rotate, swap and pass on: never two entries on one address, convergence after",
    withLogs("chaos 3 watch delay", async () => {
      const { nodes } = adminClient();
      const proxy = await FaultProxy.start("delay");
      const op = await startOperator({ name: "chaos-delay", kubeconfig: proxy.kubeconfig });
      const ns: XrayrNode[] = await fleet.createMany("moves", 20, 10);
      await pool(ns, 10, (n) => waitConverged(n.metadata.name, 30_000));
      const addr = ns.map((n) => n.spec.address);
      const fleetAddresses = new Set(addr);
      const watch = await EntryWatch.start();

      const DELAY_MS = 5_000;
      const t0 = Date.now();
      await proxy.add({ id: "late", action: "delay-watch", ms: DELAY_MS, match: { resources: ["workloadentries"] } });
      const patch = (i: number, address: string): Promise<unknown> => {
        const n = ns[i];
        if (n === undefined) throw new Error(`no node ${i}`);
        fleetAddresses.add(address);
        return nodes.patch(n.metadata.name, { spec: { address } });
      };
      // Rotate 0..9: each takes the next one's address (the last takes a fresh one first, so the chain can start).
      await patch(9, fleet.address());
      for (let i = 0; i < 9; i++) await patch(i, addr[i + 1] ?? "");
      await patch(9, addr[0] ?? "");
      // Swap 10 and 11.
      await patch(10, addr[11] ?? "");
      await patch(11, addr[10] ?? "");
      // 12 is deleted; 13 takes its address at once, and 14 takes 13's.
      await nodes.delete(ns[12]?.metadata.name ?? "");
      await patch(13, addr[12] ?? "");
      await patch(14, addr[13] ?? "");
      // A second round while the watch is still late: 15..19 rotate the other way.
      await sleep(2_000);
      for (let i = 19; i > 15; i--) await patch(i, addr[i - 1] ?? "");
      await patch(15, addr[19] ?? "");
      await sleep(Math.max(0, 3 * DELAY_MS - (Date.now() - t0)));
      await proxy.clear("late");
      const delayEnd = Date.now();
      const { delayedChunks } = await proxy.stats();
      expect(delayedChunks).toBeGreaterThan(10);

      await waitNodeEntriesGone(ns[12]?.metadata.name ?? "", 30_000);
      await waitFleetConverged("every node converged after the watch delay ended", 90_000);
      const converged = Date.now() - delayEnd;
      await sleep(1_000);
      watch.stop();
      const peak = watch.peakPerAddress((a) => fleetAddresses.has(a));
      note(`chaos 3: ${watch.events.length} entry events, ${delayedChunks} chunks of the operator's entry watch held ${DELAY_MS} ms; most entries on one address at once: ${peak.count} (${peak.address ?? "-"}); converged ${converged} ms after the delay ended`);
      if (peak.count > 1 && peak.address !== undefined) note(`chaos 3: ${peak.address}: ${watch.story((e) => e.spec.address === peak.address).join(", ")}`);
      expect(peak.count > 1 ? { address: peak.address, entries: peak.names } : {}).toEqual({});
      await closingChecks(op);
    }),
    240_000,
  );
});
