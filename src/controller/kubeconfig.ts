// A KubeConfig whose requests share one connection pool. client-node 2.0.1 builds a new undici
// Agent inside every applySecurityAuthentication call (dist/config.js createDispatcher), so each
// API call opens its own TLS connection and leaves it idle in an Agent nobody closes: at 10,000
// nodes that was a handshake per write and hundreds of MiB of sockets and TLS state. Here the
// first Agent made for a cluster and user is kept and handed to every later request.
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";

// undici is client-node's own dependency, not ours: take its type from the API that returns it.
type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

export class PooledKubeConfig extends KubeConfig {
  private readonly pools = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // Headers (the bearer token, which may be rotated on disk) are still applied per request.
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return; // plain http: the global dispatcher already pools
    const key = JSON.stringify([this.getCurrentCluster()?.name, this.getCurrentUser()?.name]);
    const shared = this.pools.get(key);
    if (shared === undefined) this.pools.set(key, fresh);
    else context.setDispatcher(shared); // the fresh Agent never connected: nothing to close
  }
}
