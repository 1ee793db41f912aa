// Issue 11: the node's status is written by server-side apply under two field managers, the
// reconciler's (conditions, observedGeneration, workloadEntry) and the traffic reporter's
// (traffic), so neither can clear the other's fields: both appear in managedFields, a traffic
// write never removes a condition, and a reconcile never removes traffic.
import { readyCondition, waitConverged } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, type XrayrNode } from "./support/kube.js";
import { startOperator } from "./support/operator.js";
import { PrometheusAnswers } from "./support/prometheus-answers.js";
import { note, pending, pool, waitFor } from "./support/wait.js";

const fleet = e2eFile("status-managers");

interface Traffic {
  state: string;
  observedAt: string;
}
const trafficOf = (n: XrayrNode | undefined): Traffic | undefined => (n?.status as { traffic?: Traffic } | undefined)?.traffic;
const managersOf = (n: XrayrNode): { manager?: string; operation?: string; subresource?: string }[] =>
  ((n.metadata as { managedFields?: { manager?: string; operation?: string; subresource?: string }[] }).managedFields ?? []).filter((m) => m.subresource === "status");

describe("status under two field managers", () => {
  afterAll(async () => {
    await fleet.cleanup();
  });

  it(
    "conditions and traffic are applied by their own managers, and neither write removes the other's fields",
    withLogs("11 status managers", async () => {
      const prometheus = await PrometheusAnswers.start("xrayr");
      const op = await startOperator({
        name: "status-managers",
        env: { PROMETHEUS_URL: prometheus.url, TRAFFIC_POLL_SECONDS: "1", TRAFFIC_MIN_WRITE_SECONDS: "0", TRAFFIC_MAX_WRITES_PER_SECOND: "50" },
      });
      try {
        const nodes = await pool(Array.from({ length: 5 }), 5, () => fleet.create("sm", { version: "v1" }));
        await pool(nodes, 5, (n) => waitConverged(n.metadata.name, 30_000));
        for (const n of nodes) prometheus.traffic.set(n.metadata.name, 0.5);
        const { nodes: api } = adminClient();
        const withTraffic = await pool(nodes, 5, (n) =>
          waitFor(`traffic on ${n.metadata.name}`, async () => {
            const live = await api.find(n.metadata.name);
            return trafficOf(live)?.state === "Active" && live !== undefined ? live : pending(live?.status);
          }, { timeoutMs: 30_000, intervalMs: 250 }),
        );
        for (const n of withTraffic) {
          const managers = managersOf(n).map((m) => `${m.manager ?? ""}/${m.operation ?? ""}`).sort();
          expect(managers).toEqual(["xrayr-mesh-operator-traffic/Apply", "xrayr-mesh-operator/Apply"]);
          // The traffic write (made after the Ready condition) left the condition in place.
          expect(readyCondition(n)).toMatchObject({ status: "True", reason: "Reconciled" });
        }

        // A reconcile (a new version: a new entry and a new condition) keeps the traffic.
        const target = nodes[0] as XrayrNode;
        const trafficBefore = trafficOf(withTraffic[0]);
        await api.patch(target.metadata.name, { spec: { version: "v2" } });
        const reconciled = await waitConverged(target.metadata.name, 30_000);
        expect(reconciled.node.status?.observedGeneration).toBe(2);
        expect(trafficOf(reconciled.node)).toBeDefined();
        note(`11 status managers: traffic before the reconcile ${JSON.stringify(trafficBefore)}, after ${JSON.stringify(trafficOf(reconciled.node))}`);

        // And traffic refreshes after it keep the new condition.
        const seen = trafficOf(reconciled.node)?.observedAt;
        const refreshed = await waitFor("a traffic refresh after the reconcile", async () => {
          const live = await api.find(target.metadata.name);
          return live !== undefined && trafficOf(live)?.observedAt !== seen ? live : pending(trafficOf(live));
        }, { timeoutMs: 30_000, intervalMs: 250 });
        expect(readyCondition(refreshed)).toMatchObject({ status: "True", observedGeneration: 2 });
        expect(refreshed.status?.observedGeneration).toBe(2);
      } finally {
        await op.stop();
        await prometheus.stop();
      }
    }),
    120_000,
  );
});
