// The regression guard for scale (bench/scale.mjs measures the full story): a cold backlog of
// 3,000 XrayrNodes, created while no operator runs, converges with the operator held to the
// chart's default memory limit the way a container runtime holds it (a memory cgroup: past the
// limit the kernel kills it). Reports the time and the peak RSS, so a change that makes the
// operator slower or heavier shows here, and fails if it is killed or outgrows the limit.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { memoryCgroup, type MemoryCgroup } from "./support/cgroup.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { REPO } from "./support/lab.js";
import { startOperator } from "./support/operator.js";
import { note, pending, waitFor } from "./support/wait.js";

const fleet = e2eFile("capacity");
const COUNT = Number(process.env.E2E_CAPACITY_NODES ?? 3000);

function chartMemoryLimit(): { text: string; bytes: number } {
  const values = parse(readFileSync(join(REPO, "charts/xrayr-mesh-operator/values.yaml"), "utf8")) as { resources: { limits: { memory: string } } };
  const text = values.resources.limits.memory;
  const m = /^(\d+)(Mi|Gi)$/.exec(text);
  if (m === null) throw new Error(`the chart's memory limit ${text} is not NMi or NGi`);
  return { text, bytes: Number(m[1]) * (m[2] === "Gi" ? 2 ** 30 : 2 ** 20) };
}

function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

describe(`capacity: ${COUNT} nodes under the chart's memory limit`, () => {
  let cgroup: MemoryCgroup | undefined;
  afterAll(() => {
    cgroup?.remove();
  });

  it(
    `a cold backlog of ${COUNT} nodes converges within the limit`,
    withLogs("capacity cold backlog", async () => {
      const limit = chartMemoryLimit();
      const t0 = Date.now();
      await fleet.createMany("c", COUNT, 16);
      note(`capacity: ${COUNT} nodes created in ${Date.now() - t0} ms with no operator running`);

      const made = memoryCgroup("xrayr-e2e-capacity", limit.bytes);
      if ("unavailable" in made) note(`capacity: no memory cgroup (${made.unavailable}); peak RSS is checked against ${limit.text} instead`);
      else cgroup = made;
      const start = Date.now();
      const op = await startOperator({ name: "capacity", env: { WORKERS: "4" }, ...(cgroup !== undefined ? { wrap: cgroup.wrap } : {}) }, { ready: false });
      const pid = op.pid;
      if (pid === undefined) throw new Error("the operator did not start");
      const state = await waitFor(
        `all ${COUNT} nodes Ready with exact entries`,
        async () => {
          if (!op.alive) throw new Error(`the operator exited during the backlog (OOM kills in its cgroup: ${cgroup?.oomKills() ?? "n/a"})`);
          const c = await fleet.convergence({ withGroups: false });
          return c.nodes === COUNT && c.problems.length === 0 ? c : pending({ notConverged: c.problems.length, e_g: c.problems.slice(0, 3) });
        },
        { timeoutMs: 240_000, intervalMs: 1_000 },
      );
      const seconds = (Date.now() - start) / 1000;
      const withGroups = await fleet.convergence();
      expect(withGroups.problems).toEqual([]);
      const peak = peakRss(pid);
      note(`capacity: ${COUNT} nodes converged ${seconds.toFixed(1)} s after the operator started; peak RSS ${mib(peak)} (limit ${limit.text}${cgroup !== undefined ? `, cgroup peak ${mib(cgroup.peakBytes() ?? 0)}` : ", not enforced"}); ${await op.writes()} writes`);
      expect(state.entries).toBe(COUNT);
      expect(withGroups.groups).toBe(COUNT);
      expect(op.alive).toBe(true);
      expect(cgroup?.oomKills() ?? 0).toBe(0);
      expect(peak).toBeLessThan(limit.bytes);
    }),
    420_000,
  );
});
