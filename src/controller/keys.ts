// Work queue keys in client-go's MetaNamespaceKeyFunc format, so one convention links informer
// events, the queue and the reconciler: "namespace/name", or just "name" for cluster-scoped objects.

/** Any object with Kubernetes metadata: client-node's types and the operator's own. */
export interface Keyed {
  metadata?: { name?: string; namespace?: string };
}

export function objectKey(obj: Keyed): string {
  const name = obj.metadata?.name ?? "";
  const namespace = obj.metadata?.namespace ?? "";
  return namespace === "" ? name : `${namespace}/${name}`;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf("/");
  if (slash < 0) return { namespace: undefined, name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
