// The admin's view of the cluster: typed helpers over client-node's CustomObjectsApi for
// XrayrNodes and WorkloadEntries, and a kubectl runner for what kubectl says best (auth can-i).
import { execFile } from "node:child_process";
import * as k8s from "@kubernetes/client-node";
import { apiMessage as messageOf, statusCode as statusOf } from "../../../src/controller/api-errors.js";
import { lab, NAMESPACE } from "./lab.js";

// The resources' coordinates, from the same constants the operator uses.
import {
  API_VERSION as NODE_API_VERSION,
  GROUP as NODE_GROUP,
  PLURAL as NODE_PLURAL,
  VERSION as NODE_VERSION,
  type Condition,
  type ObjectMeta,
  type OwnerReference,
  type XrayrNodeSpec,
  type XrayrNodeStatus,
} from "../../../src/api/v1alpha1/types.js";
import { WE_GROUP as ENTRY_GROUP, WE_PLURAL as ENTRY_PLURAL, WE_VERSION as ENTRY_VERSION, type WorkloadEntrySpec } from "../../../src/istio/workloadentry.js";
import { WG_GROUP, WG_PLURAL, WG_VERSION, type WorkloadGroupSpec } from "../../../src/istio/workloadgroup.js";
export { ENTRY_GROUP, ENTRY_PLURAL, ENTRY_VERSION, NODE_API_VERSION, NODE_GROUP, NODE_PLURAL, NODE_VERSION };

// The API's own types (src/api, src/istio), as the API server sends them to a plain client: a
// stored object always has its name, and its times are RFC 3339 text.
export type Meta = Omit<ObjectMeta, "name" | "creationTimestamp" | "deletionTimestamp" | "managedFields"> & {
  name: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
};
export type { OwnerReference as OwnerRef, Condition, XrayrNodeSpec as NodeSpec };

export interface XrayrNode {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec: XrayrNodeSpec;
  status?: XrayrNodeStatus;
}

export interface WorkloadEntry {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec: WorkloadEntrySpec;
}

export interface WorkloadGroup {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec: WorkloadGroupSpec;
}

interface List<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

// The same readings of a failed call the operator uses.
export { statusOf, messageOf };

const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/** Typed access for one custom resource in the suite's namespace. */
class Resource<T> {
  constructor(
    private readonly api: k8s.CustomObjectsApi,
    private readonly group: string,
    private readonly version: string,
    private readonly plural: string,
    readonly namespace: string,
  ) {}

  private get base() {
    return { group: this.group, version: this.version, plural: this.plural, namespace: this.namespace };
  }

  async create(body: unknown, opts: { dryRun?: boolean } = {}): Promise<T> {
    const r: unknown = await this.api.createNamespacedCustomObject({ ...this.base, body, ...(opts.dryRun === true ? { dryRun: "All" } : {}) });
    return r as T;
  }

  async get(name: string): Promise<T> {
    const r: unknown = await this.api.getNamespacedCustomObject({ ...this.base, name });
    return r as T;
  }

  /** The object, or undefined if it does not exist. */
  async find(name: string): Promise<T | undefined> {
    try {
      return await this.get(name);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async list(labelSelector?: string): Promise<T[]> {
    const r: unknown = await this.api.listNamespacedCustomObject({ ...this.base, ...(labelSelector !== undefined ? { labelSelector } : {}) });
    return (r as List<T>).items;
  }

  /** JSON merge patch (null deletes a key). */
  async patch(name: string, body: unknown): Promise<T> {
    const r: unknown = await this.api.patchNamespacedCustomObject({ ...this.base, name, body }, mergePatch);
    return r as T;
  }

  async replace(name: string, body: unknown): Promise<T> {
    const r: unknown = await this.api.replaceNamespacedCustomObject({ ...this.base, name, body });
    return r as T;
  }

  /** Deletes; a missing object is fine. */
  async delete(name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({ ...this.base, name });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async deleteAll(labelSelector: string): Promise<void> {
    await this.api.deleteCollectionNamespacedCustomObject({ ...this.base, labelSelector });
  }
}

export interface Admin {
  kc: k8s.KubeConfig;
  nodes: Resource<XrayrNode>;
  entries: Resource<WorkloadEntry>;
  groups: Resource<WorkloadGroup>;
  core: k8s.CoreV1Api;
  coordination: k8s.CoordinationV1Api;
}

let admin: Admin | undefined;

/** Clients with the lab's admin credentials (system:masters), bound to the suite's namespace. */
export function adminClient(): Admin {
  if (admin !== undefined) return admin;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(lab().kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  admin = {
    kc,
    nodes: new Resource<XrayrNode>(custom, NODE_GROUP, NODE_VERSION, NODE_PLURAL, NAMESPACE),
    entries: new Resource<WorkloadEntry>(custom, ENTRY_GROUP, ENTRY_VERSION, ENTRY_PLURAL, NAMESPACE),
    groups: new Resource<WorkloadGroup>(custom, WG_GROUP, WG_VERSION, WG_PLURAL, NAMESPACE),
    core: kc.makeApiClient(k8s.CoreV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
  };
  return admin;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the lab's kubectl (admin kubeconfig unless given), `input` on its stdin; never throws on a non-zero exit. */
export function kubectl(args: string[], opts: { timeoutMs?: number; kubeconfig?: string; input?: string } = {}): Promise<KubectlResult> {
  const { kubectl: bin } = lab();
  const kubeconfig = opts.kubeconfig ?? lab().kubeconfig;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve) => {
    const child = execFile(bin, ["--kubeconfig", kubeconfig, ...args], { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
