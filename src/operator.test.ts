// The composition root's own two decisions, against a local HTTP server standing in for the API
// server: a cluster whose caches cannot be filled (a missing CRD) stops everything started so far
// and rejects with the caches' diagnosis; a running operator's stop() ends its term and closes the
// probe server. What each part decides is its own unit test's (src/operator/*.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { FakeApiServer, status, type Answer, type Recorded } from "../test/support/api-server.js";
import { loadConfig } from "./config.js";
import { OperatorMetrics } from "./observability/metrics.js";
import { startOperator } from "./operator.js";

const list = (): Answer => ({ status: 200, body: { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "7" }, items: [] } });
const notFound = (req: Recorded): Answer => status(404, "NotFound", `the server could not find the requested resource (get ${req.path.split("/").at(-1) ?? ""})`);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => { resolve(); }));
  return port;
}

/** Whether something listens on the port (the operator's probe and metrics server). */
async function listening(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

describe("startOperator", () => {
  let dir = "";
  let api: FakeApiServer | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "xrayr-operator-"));
  });
  afterEach(async () => {
    await api?.stop();
    api = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function configFor(handler: (req: Recorded) => Answer): Promise<{ config: ReturnType<typeof loadConfig>; port: number }> {
    api = new FakeApiServer(handler);
    const server = (await api.start()).getCurrentCluster()?.server ?? "";
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
    );
    const port = await freePort();
    return { config: loadConfig({ AIRPORT_KUBECONFIG: kubeconfig, LEADER_ELECTION: "false", POD_NAME: "unit", METRICS_ADDR: `127.0.0.1:${port}` }), port };
  }

  test("a cluster without the XrayrNode CRD: rejects with the one sentence, and leaves no server listening", async () => {
    const { config, port } = await configFor((req) => (req.path.endsWith("/xrayrnodes") ? notFound(req) : req.query.get("watch") === "true" ? { hold: true } : list()));
    await expect(startOperator(config, pino({ level: "silent" }), new OperatorMetrics())).rejects.toThrow(
      "the XrayrNode CRD (xrayrnodes.mesh.sigma.io) is not installed in the cluster: install it with kubectl apply --server-side -k deploy/crds",
    );
    expect(await listening(port)).toBe(false);
  }, 20_000);

  test("on an empty fleet: serves its probes once the caches are filled; stop() ends the term and closes the server", async () => {
    // Lists answered empty, watches held open: nothing to reconcile, nothing to write.
    const { config, port } = await configFor((req) => (req.query.get("watch") === "true" ? { hold: true } : req.method === "GET" ? list() : status(405, "MethodNotAllowed", req.method)));
    const operator = await startOperator(config, pino({ level: "silent" }), new OperatorMetrics());
    expect(await listening(port)).toBe(true);
    await operator.stop();
    expect(await operator.done).toBe("stopped");
    expect(await listening(port)).toBe(false);
    expect(api?.requests.filter((r) => r.method !== "GET")).toEqual([]);
  }, 20_000);
});
