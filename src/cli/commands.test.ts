// Every command run in-process against a local stand-in for the API server (and for Prometheus,
// for verify) that records what it was asked: --namespace (-n, AIRPORT_NAMESPACE) reaches every
// read and write of every command that touches namespaced objects (each namespaced request names
// the namespace given, and each command made the calls it exists for), and sync's two dry runs
// send what they say. What a real API server makes of the same calls: test/e2e/cli.e2e.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jest } from "@jest/globals";
import { FakeApiServer, status, type Answer, type Recorded } from "../../test/support/api-server.js";
import { VPS_ID_LABEL } from "../domain/vps.js";
import { SYNC_MANAGER, SYNCED_BY_LABEL } from "../fleet/labels.js";
import { main } from "./main.js";

const NS = "fleet-b";

/** What an API server with no objects at all (but every resource) answers. */
function emptyCluster(req: Recorded): Answer {
  const parts = req.path.split("/").filter((p) => p !== "");
  const at = parts.indexOf("namespaces");
  // /api/v1/namespaces/<ns>: the namespace object itself; /.../namespaces/<ns>/<plural>[/<name>].
  const rest = at < 0 ? parts.slice(-1) : parts.slice(at + 2);
  if (req.method === "GET" && (rest.length === 1 || (at < 0 && parts.at(-1) === "customresourcedefinitions"))) return { status: 200, body: { metadata: {}, items: [] } };
  if (req.method === "GET") return status(404, "NotFound", `${parts.join("/")} not found`);
  if (req.method === "PATCH") {
    const body = req.body as { metadata?: Record<string, unknown> };
    return { status: 200, body: { ...body, metadata: { ...body.metadata, uid: "u-1", generation: 1, resourceVersion: "1" } } };
  }
  if (req.method === "DELETE") return { status: 200, body: { kind: "Status", apiVersion: "v1", status: "Success" } };
  return status(405, "MethodNotAllowed", req.method);
}

/** The namespace a request names, if any. */
const namespaceOf = (r: Recorded): string | undefined => /\/namespaces\/([^/]+)/.exec(r.path)?.[1];
/** "GET xrayrnodes", "PATCH xrayrnodes", "GET namespaces": what was asked of which resource. */
const call = (r: Recorded): string => {
  const parts = r.path.split("/").filter((p) => p !== "");
  const at = parts.indexOf("namespaces");
  return `${r.method} ${at >= 0 && parts.length > at + 2 ? (parts[at + 2] ?? "") : (parts.at(-1) === NS ? "namespaces" : (parts.at(-1) ?? ""))}`;
};

describe("the commands against a recording API server", () => {
  let dir = "";
  let kubeconfig = "";
  let fleetFile = "";
  const api = new FakeApiServer(emptyCluster);
  const prometheus = new FakeApiServer(() => ({ status: 200, body: { status: "success", data: { resultType: "vector", result: [] } } }));
  let prometheusUrl = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "xrayr-mesh-ns-"));
    const server = (await api.start()).getCurrentCluster()?.server ?? "";
    prometheusUrl = (await prometheus.start()).getCurrentCluster()?.server ?? "";
    kubeconfig = join(dir, "kubeconfig");
    // The context names a namespace of its own: --namespace, not the context's, decides.
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: lab, context: {cluster: c, user: u, namespace: elsewhere}}]\ncurrent-context: lab\n`,
    );
    fleetFile = join(dir, "fleet.json");
    writeFileSync(fleetFile, JSON.stringify({ items: [{ id: 7, hostname: "de-07", ip: "47.0.0.7", country: "de", status: "active" }] }));
  });
  afterAll(async () => {
    await api.stop();
    await prometheus.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; calls: Recorded[]; stderr: string }> {
    api.requests.length = 0;
    prometheus.requests.length = 0;
    let stderr = "";
    const out = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => { stderr += String(s); return true; });
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const code = await main(["node", "xrayr-mesh", ...args]);
      return { code, calls: [...api.requests], stderr };
    } finally {
      process.env = saved;
      out.mockRestore();
      err.mockRestore();
    }
  }

  test.each([
    ["sync", ["sync", "--from", "<fleet>"], ["GET xrayrnodes", "PATCH xrayrnodes"]],
    ["sync --dry-run=server", ["sync", "--from", "<fleet>", "--dry-run=server"], ["GET xrayrnodes", "PATCH xrayrnodes"]],
    ["register", ["register", "de-07", "--address", "47.0.0.7", "--country", "de"], ["GET xrayrnodes", "PATCH xrayrnodes"]],
    ["retire", ["retire", "de-07"], ["DELETE xrayrnodes"]],
    ["status", ["status"], ["GET xrayrnodes", "GET workloadentries"]],
    [
      "doctor",
      ["doctor"],
      ["GET namespaces", "GET pods", "GET services", "GET workloadgroups", "GET serviceentries", "GET workloadentries", "GET xrayrnodes", "GET leases"],
    ],
    ["verify", ["verify", "--prometheus", "<prometheus>"], ["GET xrayrnodes"]],
  ])("%s: -n after the command", async (_name, args, wanted) => {
    const argv = args.map((a) => (a === "<fleet>" ? fleetFile : a === "<prometheus>" ? prometheusUrl : a));
    const r = await run([...argv, "--kubeconfig", kubeconfig, "-n", NS]);
    expect(r.stderr).toBe("");
    // doctor's checks fail on a cluster with nothing in it (exit 1); it has read it all by then.
    expect(r.code).toBe(args[0] === "doctor" ? 1 : 0);
    const namespaced = r.calls.filter((c) => namespaceOf(c) !== undefined);
    // doctor reads istiod's Deployment where istiod runs (--istio-namespace), nothing else.
    const elsewhere = namespaced.filter((c) => namespaceOf(c) !== NS && !(args[0] === "doctor" && namespaceOf(c) === "istio-system" && call(c) === "GET deployments"));
    expect(elsewhere.map((c) => `${c.method} ${c.path}`)).toEqual([]);
    expect(new Set(namespaced.filter((c) => namespaceOf(c) === NS).map(call))).toEqual(new Set(wanted));
  });

  test("verify asks Prometheus about the edge into that namespace", async () => {
    await run(["verify", "--prometheus", prometheusUrl, "--kubeconfig", kubeconfig, "-n", NS]);
    const queries = prometheus.requests.map((q) => new URLSearchParams(typeof q.body === "string" ? q.body : "").get("query") ?? "");
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) expect(q).toContain(`destination_workload_namespace="${NS}"`);
  });

  test("sync --dry-run plans from a list of the nodes and writes nothing; --dry-run=server sends every write as dryRun=All", async () => {
    const client = await run(["sync", "--from", fleetFile, "--dry-run", "--kubeconfig", kubeconfig, "-n", NS]);
    expect(client.code).toBe(0);
    expect(client.calls.map(call)).toEqual(["GET xrayrnodes"]);
    const server = await run(["sync", "--from", fleetFile, "--dry-run=server", "--kubeconfig", kubeconfig, "-n", NS]);
    expect(server.code).toBe(0);
    const writes = server.calls.filter((c) => c.method !== "GET");
    expect(writes.map((w) => [call(w), w.query.get("dryRun")])).toEqual([["PATCH xrayrnodes", "All"]]);
    const plain = await run(["sync", "--from", fleetFile, "--kubeconfig", kubeconfig, "-n", NS]);
    expect(plain.calls.filter((c) => c.method !== "GET").map((w) => [call(w), w.query.get("dryRun")])).toEqual([["PATCH xrayrnodes", null]]);
  });

  test("sync --prune --dry-run=server sends the prune's delete as dryRun=All too, with its uid precondition", async () => {
    const retired = {
      apiVersion: "mesh.sigma.io/v1alpha1",
      kind: "XrayrNode",
      metadata: { name: "fr-08-8", namespace: NS, uid: "u-8", resourceVersion: "5", labels: { [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: "8" } },
      spec: { address: "47.0.0.8", country: "fr", version: "v1" },
    };
    api.answer((req) => (req.method === "GET" && req.path.endsWith("/xrayrnodes") ? { status: 200, body: { metadata: {}, items: [retired] } } : emptyCluster(req)));
    try {
      const r = await run(["sync", "--from", fleetFile, "--prune", "--max-prune", "100%", "--dry-run=server", "--kubeconfig", kubeconfig, "-n", NS]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const deletes = r.calls.filter((c) => c.method === "DELETE");
      expect(deletes.map((d) => [d.path.split("/").at(-1), d.query.get("dryRun"), (d.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid])).toEqual([["fr-08-8", "All", "u-8"]]);
    } finally {
      api.answer(emptyCluster);
    }
  });

  test("before the command, as --namespace, and from AIRPORT_NAMESPACE", async () => {
    const before = await run(["--kubeconfig", kubeconfig, "--namespace", NS, "status"]);
    expect(before.calls.map(namespaceOf)).toEqual([NS, NS]);
    const fromEnv = await run(["status", "--kubeconfig", kubeconfig], { AIRPORT_NAMESPACE: NS });
    expect(fromEnv.calls.map(namespaceOf)).toEqual([NS, NS]);
    const byDefault = await run(["status", "--kubeconfig", kubeconfig]);
    expect(byDefault.calls.map(namespaceOf)).toEqual(["airport-prod", "airport-prod"]);
  });
});
