// Scenario 9: two replicas with leader election (lease 4 s, renew deadline 3 s, retry 1 s).
// Only the leader writes (each replica's own xrayr_mesh_kube_writes_total: both share one
// ServiceAccount, so the audit log cannot tell them apart); SIGKILL the leader and the other
// takes over within 20 s and converges the changes made meanwhile (moved nodes get entries under
// new names, one entry each).
import { orphanEntries, waitConverged, waitNodeEntriesGone } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient } from "./support/kube.js";
import { NAMESPACE } from "./support/lab.js";
import { startOperator, type OperatorProcess } from "./support/operator.js";
import { note, pending, pool, waitFor } from "./support/wait.js";

const fleet = e2eFile("leader");
const LEASE = "xrayr-mesh-operator";
const ELECTION = { LEASE_DURATION_SECONDS: "4", RENEW_DEADLINE_SECONDS: "3", RETRY_PERIOD_SECONDS: "1" };

async function holder(): Promise<string | undefined> {
  const lease = await adminClient().coordination.readNamespacedLease({ name: LEASE, namespace: NAMESPACE });
  return lease.spec?.holderIdentity;
}

/** Waits until exactly one of the replicas reports leading and the lease names it. */
async function soleLeader(replicas: OperatorProcess[], timeoutMs: number): Promise<OperatorProcess> {
  return waitFor(
    "exactly one leader among the replicas, named by the lease",
    async () => {
      const live = replicas.filter((r) => r.alive);
      const leading = await Promise.all(live.map((r) => r.isLeader()));
      const leaders = live.filter((_, i) => leading[i] === true);
      const h = await holder().catch(() => undefined);
      const only = leaders[0];
      return leaders.length === 1 && only !== undefined && h === only.name ? only : pending({ leaders: leaders.map((l) => l.name), lease: h });
    },
    { timeoutMs, intervalMs: 200 },
  );
}

describe("scenario 9: leader election", () => {
  it(
    "only the leader writes; after SIGKILL of the leader the other replica takes over within 20 s and converges the changes made meanwhile",
    withLogs("9 leader election", async () => {
      const { nodes } = adminClient();
      const replicas = await Promise.all(
        ["le-a", "le-b"].map((name) => startOperator({ name, leaderElection: true, env: ELECTION })),
      );
      const leader = await soleLeader(replicas, 30_000);
      const follower = replicas.find((r) => r !== leader) as OperatorProcess;
      note(`9: ${leader.name} leads, ${follower.name} stands by`);

      const initial = await pool(Array.from({ length: 10 }), 5, () => fleet.create("le"));
      const entryBefore = new Map((await pool(initial, 5, (n) => waitConverged(n.metadata.name, 15_000))).map((c) => [c.node.metadata.name, c.entry.metadata.name]));
      const leaderWrites = await leader.writes();
      expect({ leader: leaderWrites > 0, follower: await follower.writes(), followerLeading: await follower.isLeader() }).toEqual({
        leader: true,
        follower: 0,
        followerLeading: false,
      });
      note(`9: leader wrote ${leaderWrites}, follower 0`);

      const t0 = Date.now();
      await leader.kill();
      // Changes while nobody leads.
      const added = await pool(Array.from({ length: 3 }), 3, () => fleet.create("le-new"));
      const moved = initial.slice(0, 3);
      for (const n of moved) await nodes.patch(n.metadata.name, { spec: { address: fleet.address(), version: "v9" } });
      const removed = initial.slice(3, 5);
      for (const n of removed) await nodes.delete(n.metadata.name);

      await waitFor(
        `${follower.name} to lead`,
        async () => ((await follower.isLeader()) ? true : pending(`lease holder ${String(await holder().catch(() => "?"))}`)),
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      const takeover = Date.now() - t0;
      note(`9: ${follower.name} leads ${takeover} ms after ${leader.name} was killed`);
      expect(await holder()).toBe(follower.name);

      const rest = [...added, ...moved, ...initial.slice(5)];
      const after = await pool(rest, 5, (n) => waitConverged(n.metadata.name, 20_000));
      // Moved (address and version): replaced under a new name; untouched: the same entry.
      expect(after.map((c) => [c.node.metadata.name, c.entry.metadata.name === entryBefore.get(c.node.metadata.name)])).toEqual(
        rest.map((n) => [n.metadata.name, !moved.includes(n) && entryBefore.has(n.metadata.name)]),
      );
      await pool(removed, 5, (n) => waitNodeEntriesGone(n.metadata.name, 30_000));
      note(`9: changes converged ${Date.now() - t0} ms after the kill; new leader wrote ${await follower.writes()}`);
      expect(await orphanEntries()).toEqual([]);
      expect(await follower.writes()).toBeGreaterThan(0);
    }),
    120_000,
  );
});
