// Scenario 10: kube-apiserver restarted (test/lab/restart-apiserver.sh) under a running
// operator: its informers recover, and nodes created, changed and deleted right after the
// restart converge; a second round a little later shows the watches are live again, and
// nodes nobody touched are left alone (same entry, no rewrite).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { orphanEntries, waitConverged, waitNodeEntriesGone } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient } from "./support/kube.js";
import { lab, REPO } from "./support/lab.js";
import { sumMetric } from "./support/metrics.js";
import { startOperator } from "./support/operator.js";
import { note, pending, pool, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("apiserver");
const labDir = lab().labDir;
// Restarting needs the lab's directory; a reused cluster without one skips this scenario.
const itLab = labDir !== undefined ? it : it.skip;

function restartApiserver(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(join(REPO, "test/lab/restart-apiserver.sh"), [], { env: { ...process.env, LAB_DIR: labDir }, timeout: 120_000, encoding: "utf8" }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`restart-apiserver.sh failed: ${err.message}\n${stderr}`));
      else resolve(stderr);
    });
  });
}

describe("scenario 10: kube-apiserver restart", () => {
  itLab(
    "informers recover: nodes created, changed and deleted right after the restart converge, untouched nodes stay as they were",
    withLogs("10 apiserver restart", async () => {
      const { nodes } = adminClient();
      const op = await startOperator({ name: "api-1" });
      const [keep, change, remove, later] = await pool(Array.from({ length: 4 }), 4, () => fleet.create("api"));
      if (keep === undefined || change === undefined || remove === undefined || later === undefined) throw new Error("fixtures");
      const before = await waitConverged(keep.metadata.name, 5_000);
      const [changeBefore] = await pool([change, remove, later], 3, (n) => waitConverged(n.metadata.name, 5_000));

      const t0 = Date.now();
      const out = await restartApiserver();
      note(`10: apiserver restarted in ${Date.now() - t0} ms (${out.trim().split("\n").pop() ?? ""})`);
      expect(op.alive).toBe(true);

      const t1 = Date.now();
      const added = await fleet.create("api-new");
      await nodes.patch(change.metadata.name, { spec: { address: fleet.address(), labels: { moved: "yes" } } });
      await nodes.delete(remove.metadata.name);
      await waitConverged(added.metadata.name, 60_000);
      const changed = await waitConverged(change.metadata.name, 60_000);
      expect(changed.entry.metadata.name).not.toBe(changeBefore?.entry.metadata.name); // a new address: a new entry
      await waitNodeEntriesGone(remove.metadata.name, 30_000);
      note(`10: changes made right after the restart converged in ${Date.now() - t1} ms`);

      // Round two: the watches are live (not a one-off relist).
      await sleep(3_000);
      const t2 = Date.now();
      const added2 = await fleet.create("api-new2");
      await nodes.patch(later.metadata.name, { spec: { version: "v7" } });
      await waitConverged(added2.metadata.name, 15_000);
      await waitConverged(later.metadata.name, 15_000);
      note(`10: second round converged in ${Date.now() - t2} ms`);

      const after = await waitConverged(keep.metadata.name, 5_000);
      expect(after.entry.metadata.name).toBe(before.entry.metadata.name);
      expect(after.entry.metadata.uid).toBe(before.entry.metadata.uid);
      expect(after.entry.metadata.resourceVersion).toBe(before.entry.metadata.resourceVersion);
      expect(await orphanEntries()).toEqual([]);
      await waitFor("operator ready after the restart", async () => ((await fetch(`${op.metricsUrl}/readyz`)).status === 200 ? true : pending("not ready")), { timeoutMs: 10_000 });
      const samples = await op.metrics();
      note(`10: informer restarts ${sumMetric(samples, "xrayr_mesh_informer_restarts_total")}, reconcile errors ${sumMetric(samples, "xrayr_mesh_reconcile_total", { result: "error" })}`);
      expect(op.alive).toBe(true);
    }),
    180_000,
  );
});
