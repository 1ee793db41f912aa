// An in-memory API server for one Lease, for the leader election's unit tests and the operator's.
import { ApiException, type V1Lease, type V1LeaseSpec } from "@kubernetes/client-node";
import type { LeaseLock } from "../../src/controller/leaderelection.js";
// JSON round trips like the real client (times come back as strings) and replace enforces
// resourceVersion like the real optimistic concurrency.
export class FakeLeaseServer {
  lease: V1Lease | undefined;
  private rv = 0;

  lockFor(): LeaseLock & { mode: "up" | "down" | "hang" } {
    const lock = {
      mode: "up" as "up" | "down" | "hang",
      get: (): Promise<V1Lease | undefined> => {
        return lock.call(() => (this.lease === undefined ? undefined : copy(this.lease)));
      },
      create: (spec: V1LeaseSpec): Promise<V1Lease> => {
        return lock.call(() => {
          if (this.lease !== undefined) throw new ApiException(409, "AlreadyExists", undefined, {});
          return this.store({ metadata: { name: "lease", namespace: "ns" }, spec });
        });
      },
      replace: (lease: V1Lease): Promise<V1Lease> => {
        return lock.call(() => {
          if (lease.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) {
            throw new ApiException(409, "Conflict", undefined, {});
          }
          return this.store(lease);
        });
      },
      call<T>(fn: () => T): Promise<T> {
        if (lock.mode === "down") return Promise.reject(new Error("connection refused"));
        if (lock.mode === "hang") return new Promise<T>(() => undefined);
        try {
          return Promise.resolve(fn());
        } catch (err) {
          return Promise.reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
    };
    return lock;
  }

  holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }

  private store(lease: V1Lease): V1Lease {
    this.rv++;
    const stored = copy(lease);
    stored.metadata = { name: stored.metadata?.name, namespace: stored.metadata?.namespace, resourceVersion: String(this.rv) };
    this.lease = stored;
    return copy(stored);
  }
}

function copy(lease: V1Lease): V1Lease {
  return JSON.parse(JSON.stringify(lease)) as V1Lease;
}

