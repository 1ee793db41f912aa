// The reads `status` and `doctor` make, kept at the edge with the writes so that the commands
// themselves hold no API client: one method per question, each a single call.
import * as k8s from "@kubernetes/client-node";
import { statusCode } from "../controller/api-errors.js";
import { WE_GROUP, WE_PLURAL, WE_VERSION, type WorkloadEntry } from "../istio/workloadentry.js";
import { CRDS, NotInstalledError } from "../domain/crds.js";

export class ClusterReads {
  private readonly ext: k8s.ApiextensionsV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly coordination: k8s.CoordinationV1Api;
  private readonly custom: k8s.CustomObjectsApi;

  constructor(kc: k8s.KubeConfig) {
    this.ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async crdNames(): Promise<Set<string>> {
    return new Set((await this.ext.listCustomResourceDefinition()).items.map((c) => c.metadata?.name ?? ""));
  }

  namespace(name: string): Promise<k8s.V1Namespace> {
    return this.core.readNamespace({ name });
  }

  async pods(namespace: string, labelSelector: string): Promise<k8s.V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector })).items;
  }

  async deployments(namespace: string, labelSelector: string): Promise<k8s.V1Deployment[]> {
    return (await this.apps.listNamespacedDeployment({ namespace, labelSelector })).items;
  }

  service(namespace: string, name: string): Promise<k8s.V1Service> {
    return this.core.readNamespacedService({ name, namespace });
  }

  lease(namespace: string, name: string): Promise<k8s.V1Lease> {
    return this.coordination.readNamespacedLease({ name, namespace });
  }

  /** Istio networking objects (workloadentries, workloadgroups, serviceentries) in a namespace. */
  async istio<T = unknown>(namespace: string, plural: string): Promise<T[]> {
    return ((await this.custom.listNamespacedCustomObject({ group: WE_GROUP, version: WE_VERSION, plural, namespace })) as { items: T[] }).items;
  }

  async entries(namespace: string): Promise<WorkloadEntry[]> {
    try {
      return await this.istio<WorkloadEntry>(namespace, WE_PLURAL);
    } catch (err) {
      if (statusCode(err) === 404) {
        throw new NotInstalledError(CRDS.workloadentries, { cause: err });
      }
      throw err;
    }
  }
}
