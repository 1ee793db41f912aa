// The slice of Istio's WorkloadGroup (networking.istio.io/v1) that this operator writes and reads.
// The CRD (istio.io/api, kubernetes/customresourcedefinitions.gen.yaml) requires spec.template;
// spec.probe is what turns on istiod's health checks for a group's proxies, and is never set here.
import type { ObjectMeta } from "../api/v1alpha1/types.js";
import { WE_API_VERSION, WE_GROUP, WE_VERSION } from "./workloadentry.js";

export const WG_GROUP = WE_GROUP;
export const WG_VERSION = WE_VERSION;
export const WG_API_VERSION = WE_API_VERSION;
export const WG_KIND = "WorkloadGroup";
export const WG_PLURAL = "workloadgroups";

export interface WorkloadGroupSpec {
  /** Labels (and annotations) of the group's workload: what Kiali selects the group's entries by. */
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  /** Required by the CRD; only read by istiod when a proxy auto-registers into the group. */
  template: { serviceAccount?: string; labels?: Record<string, string>; network?: string; locality?: string };
  probe?: Record<string, unknown>;
}

export interface WorkloadGroup {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: WorkloadGroupSpec;
}
