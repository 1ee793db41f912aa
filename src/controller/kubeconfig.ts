// A KubeConfig whose requests share one connection pool. client-node 2.0.1 builds a new undici
// Agent inside every applySecurityAuthentication call (dist/config.js createDispatcher), so each
// API call opens its own TLS connection and leaves it idle in an Agent nobody closes: at 10,000
// nodes that was a handshake per write and hundreds of MiB of sockets and TLS state. Here the
// first Agent made for a cluster and user is kept and handed to every later request.
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  type ApiConstructor,
  type ApiType,
  createConfiguration,
  findHomeDir,
  KubeConfig,
  type RequestContext,
  ServerConfiguration,
  setHeaderMiddleware,
} from "@kubernetes/client-node";

// undici is client-node's own dependency, not ours: take its type from the API that returns it.
type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

export class PooledKubeConfig extends KubeConfig {
  private readonly pools = new Map<string, Dispatcher>();

  /** `userAgent` names this process in the API server's audit log (replicas share a ServiceAccount). */
  constructor(private readonly userAgent?: string) {
    super();
  }

  // client-node's own makeApiClient, with our User-Agent in its middleware: that middleware runs
  // after authentication and would overwrite a header set there.
  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (this.userAgent === undefined || cluster === null) return super.makeApiClient(apiClientType);
    return new apiClientType(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        middleware: [setHeaderMiddleware("User-Agent", this.userAgent)],
      }),
    );
  }

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

/**
 * The operator's kubeconfig: the file it was given (AIRPORT_KUBECONFIG or KUBECONFIG), else the
 * pod's service account (in-cluster), the way the chart runs it.
 */
export function operatorKubeConfig(file: string | undefined, userAgent: string): PooledKubeConfig {
  const kc = new PooledKubeConfig(userAgent);
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
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
