// The fleet CLI's writes to XrayrNodes (the operator itself never writes them): server-side
// apply under a named field manager, and delete guarded by uid and resourceVersion. Transient failures (429, 5xx,
// connection errors) are retried a few times with backoff; anything else is the caller's.
import * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION, type XrayrNode } from "../api/v1alpha1/types.js";
import { classifyApiError, statusCode } from "../controller/api-errors.js";
import { sleep, systemClock } from "../controller/clock.js";
import { Backoff } from "../controller/ratelimiter.js";
import { CRDS, NotInstalledError } from "../domain/crds.js";

const ssa = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply);

export interface RetryOptions {
  attempts: number;
  baseDelayMs: number;
}

const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 200 };

/** Retries a call on a transient failure (classifyApiError), with the runtime's jittered
 * backoff, no sooner than a Retry-After the server asked for. */
export async function withRetry<T>(call: () => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const backoff = new Backoff({ initialMs: opts.baseDelayMs, maxMs: opts.baseDelayMs * 2 ** opts.attempts });
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const failure = classifyApiError(err);
      if (attempt >= opts.attempts || failure.kind !== "transient") throw err;
      await sleep(systemClock, Math.max(backoff.next(), failure.retryAfterMs ?? 0));
    }
  }
}

export class XrayrNodeClient {
  private readonly custom: k8s.CustomObjectsApi;

  constructor(
    kc: k8s.KubeConfig,
    readonly namespace: string,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  private get base() {
    return { group: GROUP, version: VERSION, plural: PLURAL, namespace: this.namespace };
  }

  async list(labelSelector?: string): Promise<XrayrNode[]> {
    try {
      const r = (await withRetry(() =>
        this.custom.listNamespacedCustomObject({ ...this.base, ...(labelSelector !== undefined ? { labelSelector } : {}) }),
      )) as { items: XrayrNode[] };
      return r.items;
    } catch (err) {
      // A list 404s only when the API server has no such resource: the CRD is missing.
      if (statusCode(err) === 404) {
        throw new NotInstalledError(CRDS.xrayrnodes, { cause: err });
      }
      throw err;
    }
  }

  /** The node, or undefined when there is none. */
  async get(name: string): Promise<XrayrNode | undefined> {
    try {
      return (await withRetry(() => this.custom.getNamespacedCustomObject({ ...this.base, name }))) as XrayrNode;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Server-side apply of the whole object as `manager`; `force` takes over fields others own;
   * `dryRun`: admission judges it and nothing is stored.
   */
  async apply(node: XrayrNode, manager: string, { force = true, dryRun = false }: { force?: boolean; dryRun?: boolean } = {}): Promise<XrayrNode> {
    const name = node.metadata.name ?? "";
    const r: unknown = await withRetry(() =>
      this.custom.patchNamespacedCustomObject({ ...this.base, name, body: node, fieldManager: manager, force, ...(dryRun ? { dryRun: "All" } : {}) }, ssa),
    );
    return r as XrayrNode;
  }

  /**
   * Deletes the node; with preconditions, only if it is still that object (uid) as it was read
   * (resourceVersion): otherwise the API server answers 409 and nothing is deleted. Returns
   * false if it was already gone. `dryRun`: admission judges it and nothing is deleted.
   */
  async delete(name: string, preconditions: { uid?: string; resourceVersion?: string } = {}, { dryRun = false }: { dryRun?: boolean } = {}): Promise<boolean> {
    const given = Object.fromEntries(Object.entries(preconditions).filter(([, v]) => v !== ""));
    try {
      await withRetry(() =>
        this.custom.deleteNamespacedCustomObject({
          ...this.base,
          name,
          ...(dryRun ? { dryRun: "All" } : {}),
          ...(Object.keys(given).length > 0 ? { body: { preconditions: given } } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }
}
