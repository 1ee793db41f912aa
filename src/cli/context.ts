// The global flags every command shares: which cluster (--kubeconfig / AIRPORT_KUBECONFIG,
// else KUBECONFIG or in-cluster; --context, else the kubeconfig's current-context) and which
// namespace (--namespace / AIRPORT_NAMESPACE).
import { existsSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { hasDefaultKubeconfig, PooledKubeConfig } from "../controller/kubeconfig.js";
import { isDns1123Label } from "../crd/validate.js";
import { CliError } from "./errors.js";

export const DEFAULT_NAMESPACE = "airport-prod";

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace: string;
}

export interface Context {
  kc: KubeConfig;
  namespace: string;
  /** The API server URL, for messages. */
  server: string;
}

export function loadContext(opts: GlobalOptions): Context {
  const ns = opts.namespace;
  if (!isDns1123Label(ns)) throw new CliError(`--namespace ${JSON.stringify(ns)} is not a namespace name (a DNS-1123 label).`);
  const kc = new PooledKubeConfig();
  const file = opts.kubeconfig !== undefined && opts.kubeconfig !== "" ? opts.kubeconfig : undefined;
  try {
    if (file !== undefined) {
      if (!existsSync(file)) throw new CliError(`kubeconfig ${file} does not exist (from --kubeconfig or AIRPORT_KUBECONFIG).`);
      kc.loadFromFile(file);
    } else {
      if (!hasDefaultKubeconfig()) {
        throw new CliError("no kubeconfig: pass --kubeconfig FILE or set AIRPORT_KUBECONFIG or KUBECONFIG (there is no ~/.kube/config, and this is not a pod with a service account).");
      }
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot load the kubeconfig${file !== undefined ? ` ${file}` : ""}: ${err instanceof Error ? err.message : String(err)}.`);
  }
  if (opts.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(opts.context)) {
      throw new CliError(`--context ${JSON.stringify(opts.context)} is not in the kubeconfig (its contexts: ${names.length > 0 ? names.join(", ") : "none"}).`);
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw new CliError("no cluster configured: pass --kubeconfig FILE or set AIRPORT_KUBECONFIG (or KUBECONFIG).");
  }
  return { kc, namespace: ns, server: cluster.server };
}
