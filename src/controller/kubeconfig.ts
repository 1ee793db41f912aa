// A KubeConfig whose requests share one connection pool. client-node 2.0.1 builds a new undici
// Agent inside every applySecurityAuthentication call (dist/config.js createDispatcher), so each
// API call opens its own TLS connection and leaves it idle in an Agent nobody closes: at 10,000
// nodes that was a handshake per write and hundreds of MiB of sockets and TLS state. Here the
// first Agent made for a cluster and user is kept and handed to every later request.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { findHomeDir, KubeConfig, type RequestContext } from "@kubernetes/client-node";

// undici is client-node's own dependency, not ours: take its type from the API that returns it.
type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

export class PooledKubeConfig extends KubeConfig {
  private readonly pools = new Map<string, Dispatcher>();

  /** `userAgent` names this process in the API server's audit log (replicas share a ServiceAccount). */
  constructor(private readonly userAgent?: string) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // Headers (the bearer token, which may be rotated on disk) are still applied per request.
    await super.applySecurityAuthentication(context);
    if (this.userAgent !== undefined) context.setHeaderParam("User-Agent", this.userAgent);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return; // plain http: the global dispatcher already pools
    const key = JSON.stringify([this.getCurrentCluster()?.name, this.getCurrentUser()?.name]);
    const shared = this.pools.get(key);
    if (shared === undefined) this.pools.set(key, fresh);
    else context.setDispatcher(shared); // the fresh Agent never connected: nothing to close
  }
}

// Where client-node's loadFromDefault finds the in-cluster credentials (its own constant is not exported).
const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/**
 * Whether loadFromDefault has anything to load: $KUBECONFIG, ~/.kube/config (found as client-node
 * finds it), or a pod's service account. Without any, client-node makes up a cluster at
 * http://localhost:8080 and the first call fails with a TLS message that points nowhere near
 * the real problem.
 */
export function hasDefaultKubeconfig(): boolean {
  const env = process.env.KUBECONFIG;
  if (env !== undefined && env !== "") return true;
  const home = findHomeDir();
  if (home !== null && existsSync(join(home, ".kube", "config"))) return true;
  return existsSync(SERVICE_ACCOUNT_TOKEN);
}
