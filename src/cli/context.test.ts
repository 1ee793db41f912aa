import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadContext } from "./context.js";

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://k8s.example:6443"}}, {name: staging, cluster: {server: "https://staging.example:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}, {name: stage, context: {cluster: staging, user: u}}]
current-context: x
`;

describe("loadContext without --kubeconfig", () => {
  const saved = { HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG };
  let home = "";
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), "xrayr-mesh-home-"));
    process.env.HOME = home;
    delete process.env.KUBECONFIG;
  });
  afterEach(() => {
    rmSync(home, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
  });

  test("no kubeconfig anywhere: one sentence saying so, not client-node's made-up localhost cluster", () => {
    let err: unknown;
    try {
      loadContext({ namespace: "airport-prod" });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      exitCode: 2,
      message:
        "no kubeconfig: pass --kubeconfig FILE or set AIRPORT_KUBECONFIG or KUBECONFIG (there is no ~/.kube/config, and this is not a pod with a service account).",
    });
  });

  test("~/.kube/config and $KUBECONFIG are still found", () => {
    mkdirSync(join(home, ".kube"));
    writeFileSync(join(home, ".kube", "config"), KUBECONFIG);
    expect(loadContext({ namespace: "airport-prod" }).server).toBe("https://k8s.example:6443");
    rmSync(join(home, ".kube"), { recursive: true });
    const file = join(home, "elsewhere.yaml");
    writeFileSync(file, KUBECONFIG);
    process.env.KUBECONFIG = file;
    expect(loadContext({ namespace: "airport-prod" }).server).toBe("https://k8s.example:6443");
  });

  test("a namespace named like a reserved node name is still a namespace", () => {
    process.env.KUBECONFIG = join(home, "k.yaml");
    writeFileSync(process.env.KUBECONFIG, KUBECONFIG);
    expect(loadContext({ namespace: "xboard" }).namespace).toBe("xboard");
  });
});

describe("--context", () => {
  let dir = "";
  let file = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "xrayr-mesh-ctx-"));
    file = join(dir, "kubeconfig");
    writeFileSync(file, KUBECONFIG);
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("picks that context's cluster; without it, the current-context's", () => {
    expect(loadContext({ kubeconfig: file, namespace: "airport-prod" }).server).toBe("https://k8s.example:6443");
    expect(loadContext({ kubeconfig: file, context: "stage", namespace: "airport-prod" }).server).toBe("https://staging.example:6443");
  });

  test("a context the kubeconfig does not have is one sentence naming the ones it has", () => {
    expect(() => loadContext({ kubeconfig: file, context: "prod", namespace: "airport-prod" })).toThrow(
      '--context "prod" is not in the kubeconfig (its contexts: x, stage).',
    );
  });
});
