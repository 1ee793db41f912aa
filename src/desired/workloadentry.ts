// Desired state: what the WorkloadEntry for one valid XrayrNode must look like. Pure.
import { createHash } from "node:crypto";
import { entryName } from "../domain/entry-name.js";
import { APPLIED_HASH_ANNOTATION, controlledBy, MANAGED_BY_LABEL, MANAGER, NODE_LABEL } from "../domain/ownership.js";
import type { ObjectMeta, XrayrNode } from "../api/v1alpha1/types.js";
import type { ValidSpec } from "../domain/validity.js";
import { WE_API_VERSION, WE_KIND, type WorkloadEntry } from "../istio/workloadentry.js";

// Plaintext VPS: no mesh client may try mTLS towards it. Istio reads this from the entry's labels.
const TLS_MODE_LABEL = "security.istio.io/tlsMode";
// Istio's source_workload for the entry's workload (else it would be the entry's name).
export const WORKLOAD_NAME_LABEL = "service.istio.io/workload-name";

export interface EntryOptions {
  /** Value of the `app` label; becomes Istio's source_app / canonical service. */
  appLabel: string;
  /** WorkloadEntry.spec.serviceAccount; empty string leaves it unset. */
  serviceAccount: string;
}

export function desiredWorkloadEntry(node: XrayrNode, spec: ValidSpec, opts: EntryOptions): WorkloadEntry {
  const name = required(node.metadata.name, "metadata.name");
  const workloadLabels: Record<string, string> = {
    ...spec.labels,
    app: opts.appLabel,
    version: spec.version,
    country: spec.country,
    [TLS_MODE_LABEL]: "disabled",
    [WORKLOAD_NAME_LABEL]: name,
  };
  const entrySpec: WorkloadEntry["spec"] = { address: spec.address, labels: sortKeys(workloadLabels) };
  if (opts.serviceAccount !== "") entrySpec.serviceAccount = opts.serviceAccount;
  if (spec.locality !== undefined) entrySpec.locality = spec.locality;

  const metaLabels: Record<string, string> = {
    [MANAGED_BY_LABEL]: MANAGER,
    [TLS_MODE_LABEL]: "disabled",
    [NODE_LABEL]: name,
    app: opts.appLabel,
    country: spec.country,
  };
  const entry: WorkloadEntry = {
    apiVersion: WE_API_VERSION,
    kind: WE_KIND,
    metadata: {
      name: entryName(name, { address: spec.address, app: opts.appLabel, version: spec.version, serviceAccount: opts.serviceAccount }),
      namespace: required(node.metadata.namespace, "metadata.namespace"),
      labels: sortKeys(metaLabels),
      ownerReferences: [controlledBy(node)],
    },
    spec: entrySpec,
  };
  entry.metadata.annotations = { [APPLIED_HASH_ANNOTATION]: appliedHash(entry) };
  return entry;
}

/** A short, stable digest of everything we apply except the digest itself. */
export function appliedHash(obj: { metadata: ObjectMeta; spec: unknown }): string {
  const { annotations: _ignored, ...meta } = obj.metadata;
  const canonical = JSON.stringify({ meta, spec: obj.spec }, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? sortKeys(v as Record<string, unknown>) : v,
  );
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export function sortKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function required<T>(value: T | undefined, field: string): T {
  // Objects from the API server always carry these; a missing one is a programming error.
  if (value === undefined) throw new Error(`XrayrNode has no ${field}`);
  return value;
}
