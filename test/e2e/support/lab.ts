// Where the e2e suite's cluster is, and what the suite set up in it. globalSetup writes this
// state once (state.json in the state directory, whose path it exports as E2E_STATE_DIR);
// every test file reads it with lab().
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** The lab the suite starts when E2E_KUBECONFIG is not given. */
export const DEFAULT_LAB_DIR = join(REPO, ".lab-e2e");

/** Namespace the operator watches and its RBAC lives in. */
export const NAMESPACE = "airport-prod";
export const OPERATOR_SA = "xrayr-mesh-operator";
export const OPERATOR_USER = `system:serviceaccount:${NAMESPACE}:${OPERATOR_SA}`;
export const GC_USER = "system:kube-controller-manager";
export const ADMIN_USER = "lab-admin";

export interface LabState {
  /** The lab's state directory (test/lab layout), if the cluster is a lab; needed for the
   * audit log and restart-apiserver.sh. */
  labDir: string | undefined;
  /** True when globalSetup started the lab and globalTeardown stops it. */
  ownsLab: boolean;
  /** Admin kubeconfig. */
  kubeconfig: string;
  /** kubeconfig of the operator's ServiceAccount (token user). */
  operatorKubeconfig: string;
  kubectl: string;
  /** The apiserver's JSON audit log, if known. */
  auditLog: string | undefined;
  /** Where operator logs and other per-run files go. */
  stateDir: string;
}

export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

/** The default state directory for a lab directory (or for a reused cluster without one). */
export function defaultStateDir(labDir: string | undefined): string {
  return labDir !== undefined ? join(labDir, "e2e") : join(tmpdir(), `xrayr-mesh-e2e-state-${String(process.getuid?.() ?? 0)}`);
}

let cached: LabState | undefined;

export function lab(): LabState {
  if (cached !== undefined) return cached;
  const dir = process.env.E2E_STATE_DIR ?? defaultStateDir(process.env.E2E_KUBECONFIG === undefined ? DEFAULT_LAB_DIR : undefined);
  let text: string;
  try {
    text = readFileSync(stateFile(dir), "utf8");
  } catch (err) {
    throw new Error(`no e2e lab state at ${stateFile(dir)} (globalSetup did not run?)`, { cause: err });
  }
  cached = JSON.parse(text) as LabState;
  return cached;
}
