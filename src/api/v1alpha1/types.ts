// The XrayrNode API, version v1alpha1: the leaf every other module builds on, so it imports
// nothing of theirs. The CRD manifest (deploy/crds) is generated from src/crd/manifest.ts; the
// spec and status types are derived from the shapes the CRD's schema is built on (spec.ts,
// status.ts).

import type { XrayrNodeSpec } from "./spec.js";
import type { Condition, TrafficStatus, XrayrNodeStatus } from "./status.js";

export type { Condition, TrafficStatus, XrayrNodeSpec, XrayrNodeStatus };

export const GROUP = "mesh.sigma.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "XrayrNode";
export const PLURAL = "xrayrnodes";
export const SHORT_NAME = "xn";


/** The reasons of the Ready condition: whether the node's WorkloadEntry is in place (its traffic attributed). */
export type ReadyReason =
  | "Reconciled"
  | "InvalidSpec"
  | "AddressConflict"
  | "NameTaken"
  | "UnownedEntry"
  | "AddressInUse"
  | "ApplyRejected"
  | "ApplyFailed";

/** The reasons of the WorkloadGroupReady condition: whether Kiali can open the VPS as a workload. */
export type GroupReason = "Reconciled" | "GroupNameTaken" | "EntryNotReady" | "ApplyRejected" | "ApplyFailed";

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
