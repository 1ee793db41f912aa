// Scenario 5: test/fixtures/validation-table.json replayed against the real API server's
// admission (CRD schema, CEL rules, pruning, defaulting), then the address rows the operator's
// ADDRESS_POLICY=public refuses, under a real operator with that policy.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { entryProblems, nodeEntries, readyCondition, SUITE_LABEL, waitConverged, waitReason } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, messageOf, statusOf, type XrayrNode } from "./support/kube.js";
import { NAMESPACE, REPO } from "./support/lab.js";
import { startOperator } from "./support/operator.js";
import { note, pool, show } from "./support/wait.js";

interface Row {
  field: string;
  value: unknown;
  admission: "accept" | "reject";
  absent?: boolean;
  policy?: "public-ok" | "refused";
  range?: string;
  expect?: Record<string, unknown>;
  note?: string;
}

interface Table {
  base: { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown> };
  rows: Row[];
}

const table = JSON.parse(readFileSync(join(REPO, "test/fixtures/validation-table.json"), "utf8")) as Table;
const fleet = e2eFile("admission");
const T = 120_000;

/** The table's base with the row applied, named uniquely unless the row is about the name. */
function objectFor(row: Row, index: number): { name: string; body: Record<string, unknown> } {
  const body = structuredClone(table.base) as unknown as Record<string, Record<string, unknown>>;
  const metadata = body.metadata as Record<string, unknown>;
  metadata.name = fleet.name(`adm${index}`);
  metadata.namespace = NAMESPACE;
  metadata.labels = { [SUITE_LABEL]: fleet.tag };
  const path = row.field.split(".");
  let at: Record<string, unknown> = body;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  const leaf = path[path.length - 1] ?? "";
  if (row.absent === true) Reflect.deleteProperty(at, leaf);
  else at[leaf] = row.value;
  return { name: String(metadata.name), body };
}

function describeRow(row: Row, index: number): string {
  return `row ${index} ${row.field}=${show(row.absent === true ? "(absent)" : row.value, 80)} (${row.note ?? ""})`;
}

describe("scenario 5: validation table against admission", () => {
  it(
    `admission rejects every "reject" row with a message naming the field and accepts (and stores as expected) every "accept" row (${table.rows.length} rows)`,
    withLogs("5 admission", async () => {
      const { nodes } = adminClient();
      const failures: string[] = [];
      let accepted = 0;
      let rejected = 0;
      await pool(table.rows, 8, async (row, i) => {
        const { name, body } = objectFor(row, i);
        let stored: XrayrNode | undefined;
        try {
          stored = await nodes.create(body);
        } catch (err) {
          const code = statusOf(err);
          const message = messageOf(err);
          if (row.admission === "accept") {
            failures.push(`${describeRow(row, i)}: expected accept, got HTTP ${String(code)}: ${message}`);
          } else if (code !== 422 && code !== 400) {
            failures.push(`${describeRow(row, i)}: expected a 422 rejection, got ${String(code)}: ${message}`);
          } else if (!message.includes(row.field)) {
            failures.push(`${describeRow(row, i)}: rejected, but the message does not name ${row.field}: ${message}`);
          } else {
            rejected++;
          }
          return;
        }
        if (row.admission === "reject") {
          failures.push(`${describeRow(row, i)}: expected a rejection, but it was stored as ${JSON.stringify(stored.spec)}`);
          await nodes.delete(name);
          return;
        }
        accepted++;
        const got = (await nodes.get(name)).spec as unknown as Record<string, unknown>;
        for (const [field, want] of Object.entries(row.expect ?? {})) {
          const have = got[field];
          if (want === null ? have !== undefined : JSON.stringify(have) !== JSON.stringify(want)) {
            failures.push(`${describeRow(row, i)}: stored spec.${field} is ${show(have)}, want ${want === null ? "absent" : show(want)}`);
          }
        }
        await nodes.delete(name);
      });
      note(`5 admission: ${accepted} accepted, ${rejected} rejected as expected, ${failures.length} failures`);
      expect(failures).toEqual([]);
      expect(accepted + rejected).toBe(table.rows.length);
    }),
    T,
  );

  it(
    "an ADDRESS_POLICY=public operator marks refused addresses Ready=False InvalidSpec without an entry, and still serves public ones",
    withLogs("5 policy", async () => {
      await fleet.cleanup();
      const refused = table.rows.filter((r) => r.field === "spec.address" && r.admission === "accept" && r.policy === "refused");
      const ranges = new Set(refused.map((r) => r.range));
      expect(ranges.size).toBeGreaterThanOrEqual(5);
      // Boundary rows of the public side, as controls that the policy is not simply "refuse all".
      const controls = table.rows.filter((r) => r.field === "spec.address" && r.policy === "public-ok" && (r.note ?? "").includes("just"));
      expect(controls.length).toBeGreaterThan(0);

      const { nodes } = adminClient();
      const make = (row: Row, prefix: string) => fleet.create(prefix, { address: String(row.value) });
      const refusedNodes = await pool(refused, 10, (r) => make(r, "refused"));
      const controlNodes = await pool(controls, 10, (r) => make(r, "public"));

      const op = await startOperator({ name: "policy-public", addressPolicy: "public" });
      const failures: string[] = [];
      await pool(refusedNodes, 10, async (n, i) => {
        const row = refused[i] as Row;
        try {
          const node = await waitReason(n.metadata.name, "InvalidSpec", 20_000);
          const msg = readyCondition(node)?.message ?? "";
          if (!msg.includes("spec.address")) failures.push(`${n.spec.address} (${row.range ?? ""}): InvalidSpec message does not name spec.address: ${msg}`);
          if (node.status?.workloadEntry !== undefined) failures.push(`${n.spec.address}: status.workloadEntry is ${node.status.workloadEntry}`);
        } catch (err) {
          failures.push(`${n.spec.address} (${row.range ?? ""}): ${err instanceof Error ? err.message : String(err)}`);
        }
      });
      await pool(controlNodes, 10, async (n) => {
        try {
          await waitConverged(n.metadata.name, 20_000);
        } catch (err) {
          failures.push(`control ${n.spec.address}: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
      // No entry for any refused node, even after the controls have converged.
      for (const n of refusedNodes) {
        for (const e of await nodeEntries(n.metadata.name)) failures.push(`${n.spec.address}: has a WorkloadEntry ${e.metadata.name} ${JSON.stringify(e.spec)}: ${entryProblems(n, e).join("; ")}`);
      }
      note(`5 policy: ${refusedNodes.length} refused addresses over ${ranges.size} ranges, ${controlNodes.length} public controls; operator writes ${await op.writes()}`);
      expect(failures).toEqual([]);
      await nodes.deleteAll(fleet.selector);
    }),
    T,
  );
});
