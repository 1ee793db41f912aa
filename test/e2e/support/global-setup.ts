// jest globalSetup of the e2e project: finds or starts the cluster, installs the operator's
// RBAC, mints a token for its ServiceAccount and writes a kubeconfig for it, and records all of
// that in state.json for the test files (see lab.ts).
//   E2E_KUBECONFIG=path   reuse that cluster (E2E_LAB_DIR, or the kubeconfig's directory if it
//                         holds a lab.json, gives the lab directory for audit log and restarts)
//   otherwise             start a lab in E2E_LAB_DIR (default <repo>/.lab-e2e) with
//                         test/lab/lab-up.sh; globalTeardown stops it (E2E_KEEP_LAB=1 keeps it)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
// jest loads globalSetup without the moduleNameMapper the tests get, so this file imports only
// types from ./lab.ts and repeats its few constants (checked equal by lab.ts's consumers).
import type { LabState } from "./lab.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const DEFAULT_LAB_DIR = join(REPO, ".lab-e2e");
const NAMESPACE = "airport-prod";
const OPERATOR_SA = "xrayr-mesh-operator";
const stateFile = (stateDir: string): string => join(stateDir, "state.json");
const defaultStateDir = (labDir: string | undefined): string => (labDir !== undefined ? join(labDir, "e2e") : join(tmpdir(), `xrayr-mesh-e2e-state-${String(process.getuid?.() ?? 0)}`));

interface LabJson {
  labDir: string;
  kubeconfig: string;
  kubectl: string;
  auditLog: string;
}

function readLabJson(labDir: string): LabJson | undefined {
  const f = join(labDir, "lab.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as LabJson) : undefined;
}

function say(msg: string): void {
  process.stderr.write(`[e2e] ${msg}\n`);
}

export default function globalSetup(): void {
  const t0 = Date.now();
  let labDir: string | undefined;
  let kubeconfig: string;
  let ownsLab = false;
  const given = process.env.E2E_KUBECONFIG;
  if (given !== undefined && given !== "") {
    kubeconfig = resolve(given);
    const candidate = process.env.E2E_LAB_DIR ?? dirname(kubeconfig);
    labDir = readLabJson(candidate) !== undefined ? resolve(candidate) : undefined;
    say(`reusing the cluster of ${kubeconfig}${labDir !== undefined ? ` (lab ${labDir})` : " (no lab dir: audit-log and apiserver-restart scenarios are skipped)"}`);
  } else {
    labDir = resolve(process.env.E2E_LAB_DIR ?? DEFAULT_LAB_DIR);
    ownsLab = true;
    say(`starting a lab in ${labDir}`);
    execFileSync(join(REPO, "test/lab/lab-up.sh"), [], { env: { ...process.env, LAB_DIR: labDir }, stdio: ["ignore", "inherit", "inherit"] });
    kubeconfig = join(labDir, "kubeconfig");
  }
  const labJson = labDir !== undefined ? readLabJson(labDir) : undefined;
  const kubectl = labJson?.kubectl ?? process.env.KUBECTL ?? "kubectl";
  const stateDir = process.env.E2E_STATE_DIR ?? defaultStateDir(labDir);
  mkdirSync(join(stateDir, "logs"), { recursive: true });

  const k = (args: string[], input?: string): string =>
    execFileSync(kubectl, ["--kubeconfig", kubeconfig, "--request-timeout=20s", ...args], {
      encoding: "utf8",
      input,
      stdio: ["pipe", "pipe", "inherit"],
    });
  k(["get", "crd", "xrayrnodes.mesh.sigma.io", "workloadentries.networking.istio.io", "-o", "name"]);
  k(["apply", "--server-side", "--field-manager=xrayr-e2e", "-f", "-"], `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NAMESPACE}\n`);
  k(["apply", "--server-side", "--field-manager=xrayr-e2e", "--force-conflicts", "-f", join(REPO, "deploy/operator/rbac.yaml")]);
  // Files install and remove the fencing policy; without a binding left in between, the API
  // server's view of the Lease would freeze (kubernetes#130887, docs/decisions/0009).
  k(["apply", "--server-side", "--field-manager=xrayr-e2e", "--force-conflicts", "-f", join(REPO, "deploy/extras/lease-param-keeper.yaml")]);
  const token = k(["create", "token", OPERATOR_SA, "-n", NAMESPACE, "--duration=24h"]).trim();
  const server = k(["config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]).trim();
  let ca = k(["config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"]).trim();
  if (ca === "") {
    const caFile = k(["config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}"]).trim();
    if (caFile !== "") ca = readFileSync(caFile).toString("base64");
  }
  const operatorKubeconfig = join(stateDir, "operator.kubeconfig");
  writeFileSync(
    operatorKubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: e2e",
      "  cluster:",
      `    server: ${server}`,
      ...(ca !== "" ? [`    certificate-authority-data: ${ca}`] : []),
      "users:",
      `- name: ${OPERATOR_SA}`,
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: e2e",
      `  context: {cluster: e2e, user: ${OPERATOR_SA}, namespace: ${NAMESPACE}}`,
      "current-context: e2e",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );

  const state: LabState = {
    labDir,
    ownsLab,
    kubeconfig,
    operatorKubeconfig,
    kubectl,
    auditLog: labJson?.auditLog,
    stateDir,
  };
  writeFileSync(stateFile(stateDir), JSON.stringify(state, null, 2));
  process.env.E2E_STATE_DIR = stateDir;
  say(`lab ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; state in ${stateFile(stateDir)}`);
}
