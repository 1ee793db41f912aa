// The slice of Istio's WorkloadEntry (networking.istio.io/v1) that this operator writes and reads.
import type { ObjectMeta } from "../api/v1alpha1/types.js";

export const WE_GROUP = "networking.istio.io";
export const WE_VERSION = "v1";
export const WE_API_VERSION = `${WE_GROUP}/${WE_VERSION}`;
export const WE_KIND = "WorkloadEntry";
export const WE_PLURAL = "workloadentries";

export interface WorkloadEntrySpec {
  address?: string;
  labels?: Record<string, string>;
  serviceAccount?: string;
  locality?: string;
  network?: string;
  weight?: number;
  ports?: Record<string, number>;
}

export interface WorkloadEntry {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: WorkloadEntrySpec;
}
