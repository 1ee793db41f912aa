// The operator's caches against a local HTTP server: filled from lists and held watches, and the
// diagnosis of a cluster they cannot be filled from (missing CRDs named at once, ours first; any
// other failure named when the sync times out).
import { FakeApiServer, status, type Answer, type Recorded } from "../../test/support/api-server.js";
import { Caches } from "./caches.js";

const NS = "airport-prod";
const list = (items: unknown[] = []): Answer => ({ status: 200, body: { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "7" }, items } });
const missing = (req: Recorded): Answer => status(404, "NotFound", `the server could not find the requested resource (get ${req.path.split("/").at(-1) ?? ""})`);
const resource = (req: Recorded): string => req.path.split("/").at(-1) ?? "";

let api: FakeApiServer | undefined;
let caches: Caches | undefined;
afterEach(async () => {
  await caches?.stop();
  await api?.stop();
  caches = undefined;
  api = undefined;
});

async function start(handler: (req: Recorded) => Answer, syncTimeoutMs?: number): Promise<Caches> {
  api = new FakeApiServer(handler);
  const kc = await api.start();
  caches = new Caches({ kc, namespace: NS, hooks: () => ({}), ...(syncTimeoutMs === undefined ? {} : { syncTimeoutMs }) });
  caches.start();
  return caches;
}

describe("the operator's caches", () => {
  test("fill from each resource's list, then hold a watch from the list's resourceVersion", async () => {
    const node = { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", metadata: { name: "jp-01", namespace: NS, resourceVersion: "5" }, spec: { address: "45.76.1.1", country: "jp" } };
    const c = await start((req) => (req.query.get("watch") === "true" ? { hold: true } : list(resource(req) === "xrayrnodes" ? [node] : [])));
    await c.sync();
    expect(c.nodes.list().map((n) => n.metadata.name)).toEqual(["jp-01"]);
    expect(c.all.every((i) => i.hasSynced())).toBe(true);
    // A cache counts as filled once its watch is being opened; the request may still be on its way.
    for (let i = 0; i < 100 && (api?.requests.length ?? 0) < 6; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const paths = api?.requests.map((r) => `${r.path}${r.query.get("watch") === "true" ? ` watch from ${r.query.get("resourceVersion") ?? "?"}` : ""}`) ?? [];
    expect(paths.sort()).toEqual([
      `/apis/mesh.sigma.io/v1alpha1/namespaces/${NS}/xrayrnodes`,
      `/apis/mesh.sigma.io/v1alpha1/namespaces/${NS}/xrayrnodes watch from 7`,
      `/apis/networking.istio.io/v1/namespaces/${NS}/workloadentries`,
      `/apis/networking.istio.io/v1/namespaces/${NS}/workloadentries watch from 7`,
      `/apis/networking.istio.io/v1/namespaces/${NS}/workloadgroups`,
      `/apis/networking.istio.io/v1/namespaces/${NS}/workloadgroups watch from 7`,
    ]);
  });

  test("a cluster with none of the CRDs: every one named, ours first, with what installs it, well before the sync timeout", async () => {
    const c = await start(missing);
    const err = await c.sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(
      "the XrayrNode CRD (xrayrnodes.mesh.sigma.io) is not installed in the cluster: install it with kubectl apply --server-side -k deploy/crds (the Helm chart installs it too); " +
        "Istio's WorkloadEntry CRD (workloadentries.networking.istio.io) is not installed in the cluster: install Istio first (docs/install.md: istioctl install, or the istio/base Helm chart); " +
        "Istio's WorkloadGroup CRD (workloadgroups.networking.istio.io) is not installed in the cluster: install Istio first (docs/install.md: istioctl install, or the istio/base Helm chart)",
    );
  });

  test("only the CRD that is missing is named", async () => {
    const c = await start((req) => (resource(req) === "workloadgroups" ? missing(req) : req.query.get("watch") === "true" ? { hold: true } : list()));
    await expect(c.sync()).rejects.toThrow(/^Istio's WorkloadGroup CRD \(workloadgroups\.networking\.istio\.io\) is not installed in the cluster: install Istio first/);
  });

  test("any other failure to list is named when the sync times out, with the server's message", async () => {
    const c = await start(
      (req) => (resource(req) === "xrayrnodes" ? status(403, "Forbidden", 'xrayrnodes.mesh.sigma.io is forbidden: User "system:serviceaccount:airport-prod:xrayr-mesh-operator" cannot list resource "xrayrnodes"') : req.query.get("watch") === "true" ? { hold: true } : list()),
      300,
    );
    await expect(c.sync()).rejects.toThrow(
      `could not list xrayrnodes in ${NS} within 0.3 s: xrayrnodes.mesh.sigma.io is forbidden: User "system:serviceaccount:airport-prod:xrayr-mesh-operator" cannot list resource "xrayrnodes" (is the CRD installed and the Role bound?)`,
    );
  });
});
