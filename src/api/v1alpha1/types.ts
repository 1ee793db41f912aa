// The XrayrNode API, version v1alpha1: the leaf every other module builds on, so it imports
// nothing of theirs. The CRD manifest (deploy/crds) is generated from src/crd/manifest.ts;
// these types describe the same shape for TypeScript.

export const GROUP = "mesh.sigma.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "XrayrNode";
export const PLURAL = "xrayrnodes";
export const SHORT_NAME = "xn";

export interface XrayrNodeSpec {
  address: string;
  country: string;
  version?: string;
  vpsId?: string;
  labels?: Record<string, string>;
  locality?: string;
}

export type ReadyReason =
  | "Reconciled"
  | "InvalidSpec"
  | "AddressConflict"
  | "NameTaken"
  | "UnownedEntry"
  | "ApplyRejected"
  | "ApplyFailed";

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** The node's calls to Xboard, written by the traffic reporter (traffic/). */
export interface TrafficStatus {
  state: "Active" | "Silent";
  requestsPerMinute: number;
  /** Kiali's error ratio over the window, 0..1. */
  errorRatio: number;
  /** Omitted while there are no latency samples. */
  p99Ms?: number;
  /** Last time traffic was seen (RFC 3339); omitted if never seen by this operator. */
  lastSeen?: string;
  /** When these numbers were measured (RFC 3339). */
  observedAt: string;
}

export interface XrayrNodeStatus {
  /** The replica (Lease holder and epoch) that last wrote the status; see the fencing policy. */
  writtenBy?: { holder: string; epoch: number };
  observedGeneration?: number;
  conditions?: Condition[];
  workloadEntry?: string;
  traffic?: TrafficStatus;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string | Date;
  /** Dropped from informer caches (see controller/informer.ts compact); read fresh where needed. */
  managedFields?: ManagedFieldsEntry[];
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface XrayrNode {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: XrayrNodeSpec;
  status?: XrayrNodeStatus;
}
