// The operator's caches: one resilient informer per resource it reads (XrayrNodes, and Istio's
// WorkloadEntries and WorkloadGroups) in the one namespace it watches, and the diagnosis of a
// cluster they cannot be filled from. A list that 404s means the resource's CRD is not
// installed: that is said at once (a second after the first 404, so that every informer's first
// list has answered and every missing CRD is named, ours first), not after the sync timeout, and
// the process ends so that the pod's restarts show it. Any other failure to sync within the
// timeout (a Role not bound, say) ends the process with the last error of each resource.
import * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION, type XrayrNode } from "../api/v1alpha1/types.js";
import { apiMessage, statusCode } from "../controller/api-errors.js";
import { withSignal } from "../controller/call-options.js";
import { type Clock, systemClock, type Timer } from "../controller/clock.js";
import { type InformerHooks, ResilientInformer } from "../controller/informer.js";
import { CRDS, notInstalled, type RequiredCrd } from "../domain/crds.js";
import { WE_GROUP, WE_PLURAL, WE_VERSION, type WorkloadEntry } from "../istio/workloadentry.js";
import { WG_GROUP, WG_PLURAL, WG_VERSION, type WorkloadGroup } from "../istio/workloadgroup.js";

// Long enough for a slow API server to answer a large list, short enough that a missing CRD
// or RoleBinding ends in a clear error and a restart rather than a pod that is never ready.
export const SYNC_TIMEOUT_MS = 120_000;
// One page of a list; a hung list otherwise blocks the informer's restart loop for good.
const LIST_PAGE_TIMEOUT_MS = 30_000;
// From the first 404 to the diagnosis: every informer's first list has answered by then.
export const MISSING_CRD_GRACE_MS = 1_000;

export interface CachesOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  /** Each informer's hooks (observe.ts), by resource; the diagnosis adds its own. */
  hooks: (resource: string) => InformerHooks;
  syncTimeoutMs?: number;
  clock?: Clock;
}

type Cached<T> = T & k8s.KubernetesObject;

export class Caches {
  readonly nodes: ResilientInformer<Cached<XrayrNode>>;
  readonly entries: ResilientInformer<Cached<WorkloadEntry>>;
  readonly groups: ResilientInformer<Cached<WorkloadGroup>>;
  /** Ours first: the order the diagnosis names missing CRDs in. */
  readonly all: readonly ResilientInformer<k8s.KubernetesObject>[];
  private readonly resources: readonly { plural: string; crd: RequiredCrd }[] = [
    { plural: PLURAL, crd: CRDS.xrayrnodes },
    { plural: WE_PLURAL, crd: CRDS.workloadentries },
    { plural: WG_PLURAL, crd: CRDS.workloadgroups },
  ];
  private readonly lastError = new Map<string, unknown>();
  private readonly missing = new AbortController();
  private missingTimer: Timer | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: CachesOptions) {
    this.clock = options.clock ?? systemClock;
    this.nodes = this.informer(GROUP, VERSION, PLURAL);
    this.entries = this.informer(WE_GROUP, WE_VERSION, WE_PLURAL);
    this.groups = this.informer(WG_GROUP, WG_VERSION, WG_PLURAL);
    this.all = [this.nodes, this.entries, this.groups];
  }

  start(): void {
    for (const i of this.all) i.start();
  }

  /** Resolves once every cache is filled; otherwise stops them and throws what is wrong. */
  async sync(signal?: AbortSignal): Promise<void> {
    const timeoutMs = this.options.syncTimeoutMs ?? SYNC_TIMEOUT_MS;
    const deadline = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.missing.signal, ...(signal === undefined ? [] : [signal])]);
    const synced = await Promise.all(this.all.map((i) => i.waitForSync(deadline)));
    this.missingTimer?.cancel();
    if (synced.every(Boolean)) return;
    await this.stop();
    if (this.missing.signal.aborted) throw this.missingCrds();
    const which = this.resources.filter((_r, i) => synced[i] !== true).map((r) => r.plural).join(" and ");
    const cause = [...this.lastError.values()].map((e) => apiMessage(e)).join("; ");
    throw new Error(`could not list ${which} in ${this.options.namespace} within ${timeoutMs / 1000} s${cause !== "" ? `: ${cause}` : ""} (is the CRD installed and the Role bound?)`);
  }

  async stop(): Promise<void> {
    this.missingTimer?.cancel();
    await Promise.all(this.all.map((i) => i.stop()));
  }

  /** Every resource whose list last failed with 404, ours first, each with what installs it. */
  private missingCrds(): Error {
    const missing = this.resources.filter((r) => statusCode(this.lastError.get(r.plural)) === 404);
    return new Error(missing.map(({ crd }) => `${notInstalled(crd)}: ${crd.fix}`).join("; "));
  }

  private restarted(plural: string, error: unknown): void {
    this.lastError.set(plural, error);
    if (statusCode(error) === 404 && this.missingTimer === undefined) {
      this.missingTimer = this.clock.setTimer(() => { this.missing.abort(); }, MISSING_CRD_GRACE_MS);
    }
  }

  private informer<T extends k8s.KubernetesObject>(group: string, version: string, plural: string): ResilientInformer<T> {
    const { kc, namespace, hooks } = this.options;
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const observed = hooks(plural);
    return new ResilientInformer<T>({
      kubeConfig: kc,
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      listPage: async (token, limit) =>
        (await custom.listNamespacedCustomObject(
          { group, version, namespace, plural, limit, _continue: token },
          withSignal(AbortSignal.timeout(LIST_PAGE_TIMEOUT_MS)),
        )) as k8s.KubernetesListObject<T>,
      hooks: {
        ...observed,
        onRestart: (info) => {
          this.restarted(plural, info.error);
          observed.onRestart?.(info);
        },
      },
      clock: this.clock,
    });
  }
}
