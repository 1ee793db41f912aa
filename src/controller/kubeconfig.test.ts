import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, HttpMethod, RequestContext } from "@kubernetes/client-node";
import { operatorKubeConfig, PooledKubeConfig } from "./kubeconfig.js";

// A made-up CA: the Agent is only constructed here, never connected.
const CA = Buffer.from("-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n").toString("base64");
const kubeconfig = `
apiVersion: v1
kind: Config
clusters: [{ name: lab, cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: "${CA}" } }]
users: [{ name: a, user: { token: token-a } }, { name: b, user: { token: token-b } }]
contexts: [{ name: a, context: { cluster: lab, user: a } }, { name: b, context: { cluster: lab, user: b } }]
current-context: a
`;

async function authenticated(kc: PooledKubeConfig): Promise<RequestContext> {
  const ctx = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx;
}

describe("PooledKubeConfig", () => {
  test("every request of one cluster and user gets the same dispatcher, and its own auth header", async () => {
    const kc = new PooledKubeConfig();
    kc.loadFromString(kubeconfig);
    const [first, second] = [await authenticated(kc), await authenticated(kc)];
    expect(first.getDispatcher()).toBeDefined();
    expect(second.getDispatcher()).toBe(first.getDispatcher());
    expect(second.getHeaders()["Authorization"]).toBe("Bearer token-a");

    kc.setCurrentContext("b");
    const other = await authenticated(kc);
    expect(other.getDispatcher()).not.toBe(first.getDispatcher());
    expect(other.getHeaders()["Authorization"]).toBe("Bearer token-b");
  });
});

test("API clients send the process's User-Agent, so the audit log tells replicas apart", async () => {
  const agents: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    agents.push(req.headers["user-agent"]);
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ apiVersion: "v1", kind: "NamespaceList", metadata: {}, items: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const kc = new PooledKubeConfig("xrayr-mesh-operator/pod-a");
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    await kc.makeApiClient(CoreV1Api).listNamespace();
    expect(agents).toEqual(["xrayr-mesh-operator/pod-a"]);
  } finally {
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  }
});

test("the operator reads the kubeconfig file it is given, else the pod's service account", () => {
  const dir = mkdtempSync(join(tmpdir(), "xrayr-kubeconfig-"));
  try {
    const file = join(dir, "kubeconfig");
    writeFileSync(file, kubeconfig);
    expect(operatorKubeConfig(file, "ua").getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
    const inCluster = operatorKubeConfig(undefined, "ua").getCurrentCluster();
    expect(inCluster?.name).toBe("inCluster");
    expect(inCluster?.caFile).toBe("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
