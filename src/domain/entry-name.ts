// What a node's WorkloadEntry is called, and the way back from an entry's name to its node.
// The operator, the CLI, doctor and the CRD's length limit all read this one rule.
import { createHash } from "node:crypto";

/** What the sidecar learns about the workload behind an address (istio/proxy workload_discovery). */
export interface WorkloadIdentity {
  address: string;
  app: string;
  version: string;
  serviceAccount: string;
}

// Hex digits of the identity digest in an entry's name.
const ENTRY_DIGEST_HEX = 8;
const ENTRY_NAME = new RegExp(`^(.+)-[0-9a-f]{${ENTRY_DIGEST_HEX}}$`);

/** How many characters an entry's name adds to its node's name ("-" and the digest). */
export const ENTRY_NAME_SUFFIX_LENGTH = 1 + ENTRY_DIGEST_HEX;

/**
 * The entry's name: the node's name plus a digest of its workload identity. Envoy's workload
 * store never overwrites a workload in place (same uid): an entry whose address or app/version
 * changed in place would leave the sidecar naming the old address, or reporting the old
 * version, until it restarts. A new name is a new uid, which the sidecar does take; the old
 * entry is deleted first, so no two entries of a node hold an address at once (decision 0007).
 */
export function entryName(node: string, identity: WorkloadIdentity): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([identity.address, identity.app, identity.version, identity.serviceAccount]))
    .digest("hex");
  return `${node}-${digest.slice(0, ENTRY_DIGEST_HEX)}`;
}

/** entryName read backwards: the node an entry's name is derived from, if it has that form. */
export function nodeNameOfEntry(name: string): string | undefined {
  return ENTRY_NAME.exec(name)?.[1];
}
