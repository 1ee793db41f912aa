// What a node's WorkloadGroup is called, and the way back: the node's own name, which is also
// its entry's workload name (source_workload), so Kiali's workload page and graph node agree.
// The desired state and the watch mapping both read this one rule.

/** The name of node `node`'s WorkloadGroup. */
export function groupName(node: string): string {
  return node;
}

/** groupName read backwards: the node a group of this name belongs to, if it is a node's. */
export function nodeNameOfGroup(name: string): string {
  return name;
}
