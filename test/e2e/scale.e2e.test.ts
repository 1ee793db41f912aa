// 500 nodes:
//  8) SIGKILL the operator while the nodes are being created (after ~150 exist), start it again:
//     every node converges, one entry each, no entry without a live owner;
// 11) then a restarted operator with a 5 s resync reconciles all 500 twice and writes nothing:
//     zero writes by the operator's ServiceAccount in the audit log, writes counter at zero.
import { auditOffset, auditSince, summarize, writesBy } from "./support/audit.js";
import { MANAGED_BY, NODE_LABEL, OPERATOR_NAME, orphanEntries } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, type XrayrNode } from "./support/kube.js";
import { lab, OPERATOR_USER } from "./support/lab.js";
import { startOperator, type OperatorProcess } from "./support/operator.js";
import { sumMetric } from "./support/metrics.js";
import { note, pending, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("scale");
const COUNT = Number(process.env.E2E_SCALE_NODES ?? 500);
const KILL_AT = Math.round(COUNT * 0.3);
const CONCURRENCY = 20;
let created: XrayrNode[] = [];
let survivor: OperatorProcess | undefined;

describe(`scale: ${COUNT} nodes`, () => {
  it(
    `8) SIGKILL during the creation of ${COUNT} nodes (after ${KILL_AT}), start again: all converge, one entry each, no orphans`,
    withLogs("8 kill during create", async () => {
      const first = await startOperator({ name: "scale-1" });
      let restart: Promise<OperatorProcess> | undefined;
      const t0 = Date.now();
      created = await fleet.createMany("s", COUNT, CONCURRENCY, (done) => {
        if (done === KILL_AT) {
          restart = (async () => {
            const writes = await first.writes().catch(() => -1);
            await first.kill();
            note(`8: SIGKILLed scale-1 with ${done} nodes created (${writes} writes so far), ${Date.now() - t0} ms into creation`);
            return startOperator({ name: "scale-2" }, { ready: false });
          })();
        }
      });
      note(`8: ${COUNT} nodes created in ${Date.now() - t0} ms`);
      if (restart === undefined) throw new Error(`the kill at ${KILL_AT} created nodes never happened`);
      const second = await restart;
      survivor = second;
      await second.waitReady(60_000);

      const state = await waitFor(
        `all ${COUNT} nodes Ready with exact entries`,
        async () => {
          const c = await fleet.convergence();
          return c.nodes === COUNT && c.problems.length === 0 ? c : pending({ nodes: c.nodes, entries: c.entries, notConverged: c.problems.length, e_g: c.problems.slice(0, 5) });
        },
        { timeoutMs: 180_000, intervalMs: 2_000 },
      );
      note(`8: all ${COUNT} converged ${Date.now() - t0} ms after creation began; scale-2 writes ${await survivor.writes()}`);
      expect(state.entries).toBe(COUNT);
      expect(await orphanEntries()).toEqual([]);
      // Every entry is owned by exactly the node its label names (uid of the node created here),
      // and no node controls two.
      const uids = new Map(created.map((n) => [n.metadata.name, n.metadata.uid]));
      const entries = await adminClient().entries.list(`${MANAGED_BY}=${OPERATOR_NAME}`);
      expect(entries.filter((e) => e.metadata.ownerReferences?.[0]?.uid !== uids.get(e.metadata.labels?.[NODE_LABEL] ?? "")).map((e) => e.metadata.name)).toEqual([]);
      expect(new Set(entries.map((e) => e.metadata.ownerReferences?.[0]?.uid)).size).toBe(entries.length);
    }),
    300_000,
  );

  it(
    `11) after convergence a restart and a full resync of ${COUNT} nodes write nothing (audit log and writes counter)`,
    withLogs("11 zero writes", async () => {
      expect(survivor).toBeDefined();
      const before = await (survivor as OperatorProcess).writes();
      // Settle: the survivor has nothing left to do.
      await sleep(1_000);
      expect(await (survivor as OperatorProcess).writes()).toBe(before);
      expect(await (survivor as OperatorProcess).stop()).toEqual({ code: 0, signal: null });

      const hasAudit = lab().auditLog !== undefined;
      const offset = hasAudit ? auditOffset() : 0;
      const t0 = Date.now();
      const op = await startOperator({ name: "scale-resync", env: { RESYNC_SECONDS: "5" } });
      const reconciles = async () => sumMetric(await op.metrics(), "xrayr_mesh_reconcile_total");
      // The initial list reconciles every node once, each resync once more.
      const total = await waitFor(
        `${2 * COUNT} reconciles (start + one resync)`,
        async () => {
          const r = await reconciles();
          return r >= 2 * COUNT ? r : pending(`${r} reconciles`);
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const window = Date.now() - t0;
      const writes = await op.writes();
      const events = hasAudit ? writesBy(auditSince(offset), { user: OPERATOR_USER }) : [];
      note(`11: ${total} reconciles in ${window} ms after a restart with RESYNC_SECONDS=5; operator writes ${writes}, audit writes by ${OPERATOR_USER}: ${events.length}`);
      expect({ writes, audit: summarize(events) }).toEqual({ writes: 0, audit: {} });
      const c = await fleet.convergence();
      expect(c.problems).toEqual([]);
    }),
    120_000,
  );
});
