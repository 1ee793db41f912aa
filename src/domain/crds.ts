// The CRDs this project needs in a cluster, and the one sentence for a cluster that lacks one:
// the operator's start-up diagnosis, the CLI's error and doctor's checks all say it this way.
import { GROUP, PLURAL } from "../api/v1alpha1/types.js";
import { WE_GROUP, WE_PLURAL } from "../istio/workloadentry.js";
import { WG_GROUP, WG_PLURAL } from "../istio/workloadgroup.js";

export interface RequiredCrd {
  /** The CRD's name: <plural>.<group>. */
  name: string;
  /** What it is, for a sentence: "the XrayrNode CRD". */
  what: string;
  /** What installs it. */
  fix: string;
}

const ISTIO_FIX = "install Istio first (docs/install.md: istioctl install, or the istio/base Helm chart)";
const istio = (plural: string, group: string, kind: string): RequiredCrd => ({ name: `${plural}.${group}`, what: `Istio's ${kind} CRD`, fix: ISTIO_FIX });

/** Ours first: when several are missing, ours is the one to name first. */
export const CRDS = {
  xrayrnodes: { name: `${PLURAL}.${GROUP}`, what: "the XrayrNode CRD", fix: "install it with kubectl apply --server-side -k deploy/crds (the Helm chart installs it too)" },
  workloadentries: istio(WE_PLURAL, WE_GROUP, "WorkloadEntry"),
  workloadgroups: istio(WG_PLURAL, WG_GROUP, "WorkloadGroup"),
  /** Not the operator's: the fleet's ServiceEntry (deploy/istio) that doctor checks. */
  serviceentries: istio("serviceentries", WE_GROUP, "ServiceEntry"),
} as const satisfies Record<string, RequiredCrd>;

/** The sentence: "<what> (<name>) is not installed in the cluster[ at <where>]". */
export function notInstalled(crd: RequiredCrd, where?: string): string {
  return `${crd.what} (${crd.name}) is not installed in the cluster${where !== undefined ? ` at ${where}` : ""}`;
}

/** A read found that a CRD is not installed (the API server has no such path: a 404 on a list). */
export class NotInstalledError extends Error {
  override readonly name = "NotInstalledError";
  constructor(
    readonly crd: RequiredCrd,
    options?: ErrorOptions,
  ) {
    super(notInstalled(crd), options);
  }
}
