// The XrayrNode API, version v1alpha1: the leaf every other module builds on, so it imports
// nothing of theirs. The CRD manifest (deploy/crds) is generated from src/crd/manifest.ts; the
// status types are derived from the status schema itself (status.ts), the spec's from the same
// rules the CRD's spec schema and the validation in src/crd/ are built from.

import type { Condition, TrafficStatus, XrayrNodeStatus } from "./status.js";

export type { Condition, TrafficStatus, XrayrNodeStatus };

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
  | "GroupNameTaken"
  | "UnownedEntry"
  | "ApplyRejected"
  | "ApplyFailed";




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
