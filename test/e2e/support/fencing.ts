// The chart's fencing policy (deploy/operator/fencing.yaml) on and off the lab's API server.
// Deleting it is not the end of it: admission keeps enforcing a policy until its own informer has
// seen the delete, and an operator started in that moment without leader election had every
// write refused (CI, 2026-12-07: the webhook test after the fencing tests). So removal waits
// until an unstamped write under the operator's field manager is admitted again.
import { join } from "node:path";
import { adminClient, ENTRY_GROUP, ENTRY_PLURAL, ENTRY_VERSION, kubectl } from "./kube.js";
import { NAMESPACE, REPO } from "./lab.js";
import { pending, waitFor } from "./wait.js";
import * as k8s from "@kubernetes/client-node";

export const FENCING = join(REPO, "deploy/operator/fencing.yaml");

export async function applyFencing(): Promise<void> {
  const applied = await kubectl(["apply", "--server-side", "-f", FENCING]);
  if (applied.code !== 0) throw new Error(`could not apply ${FENCING}: ${applied.stderr}`);
}

export async function removeFencing(): Promise<void> {
  const deleted = await kubectl(["delete", "-f", FENCING, "--ignore-not-found"]);
  if (deleted.code !== 0) throw new Error(`could not delete ${FENCING}: ${deleted.stderr}`);
  const custom = adminClient().kc.makeApiClient(k8s.CustomObjectsApi);
  // A server-side dry run: admission runs, nothing is stored.
  const probe = {
    apiVersion: `${ENTRY_GROUP}/${ENTRY_VERSION}`,
    kind: "WorkloadEntry",
    metadata: { name: "fencing-probe", namespace: NAMESPACE },
    spec: { address: "192.0.2.1" },
  };
  await waitFor(
    "the fencing policy no longer applied by admission",
    async () => {
      try {
        await custom.createNamespacedCustomObject({ group: ENTRY_GROUP, version: ENTRY_VERSION, namespace: NAMESPACE, plural: ENTRY_PLURAL, body: probe, dryRun: "All", fieldManager: "xrayr-mesh-operator-probe" });
        return true;
      } catch (err) {
        return pending(err instanceof k8s.ApiException ? `${err.code}: ${String(err.body).slice(0, 200)}` : String(err));
      }
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}
