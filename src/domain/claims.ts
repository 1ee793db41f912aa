// One IP, one workload: istiod keys workloads by address, so two entries on one address would
// make the sidecar's attribution ambiguous. The oldest claim wins; ties go to the smaller name
// so that every replica and every resync picks the same winner.
import type { Validity } from "./validity.js";

export interface Claim {
  name: string;
  address: string;
  /** RFC 3339 creation time, as the API server reports it. */
  createdAt: string;
}

export function claimWinner(claims: Iterable<Claim>, address: string): Claim | undefined {
  let winner: Claim | undefined;
  for (const c of claims) {
    if (c.address !== address) continue;
    if (winner === undefined || olderThan(c, winner)) winner = c;
  }
  return winner;
}

function olderThan(a: Claim, b: Claim): boolean {
  const ta = Date.parse(a.createdAt);
  const tb = Date.parse(b.createdAt);
  if (ta !== tb) return ta < tb;
  return a.name < b.name;
}

interface ClaimingNode {
  metadata: { name?: string; creationTimestamp?: Date | string };
}

/**
 * A live node's claim on its address, or none: only a valid node claims (an invalid one gets no
 * entry, so it holds nothing), and the address claimed is the validated one. `validity` is the
 * operator's verdict on the node (crd/validate.ts validateNode), so the operator, `sync` and
 * doctor count the same nodes.
 */
export function nodeClaim(node: ClaimingNode, validity: Validity): Claim | undefined {
  if (!validity.ok) return undefined;
  return { name: node.metadata.name ?? "", address: validity.spec.address, createdAt: createdAtOf(node) };
}

/** Every address claimed by more than one node: its winner and the others, by the rule above. */
export function contestedAddresses(claims: Iterable<Claim>): { address: string; holder: Claim; others: Claim[] }[] {
  const byAddress = new Map<string, Claim[]>();
  for (const c of claims) byAddress.set(c.address, [...(byAddress.get(c.address) ?? []), c]);
  const out: { address: string; holder: Claim; others: Claim[] }[] = [];
  for (const [address, cs] of byAddress) {
    const holder = cs.length > 1 ? claimWinner(cs, address) : undefined;
    if (holder === undefined) continue;
    out.push({ address, holder, others: cs.filter((c) => c !== holder).sort((a, b) => (olderThan(a, b) ? -1 : 1)) });
  }
  return out.sort((a, b) => a.address.localeCompare(b.address));
}

// The API server's creationTimestamp, which the client library may hand over as a Date: one
// RFC 3339 text either way, as the reconciler's claims carry it.
function createdAtOf(node: ClaimingNode): string {
  const t = node.metadata.creationTimestamp;
  return t instanceof Date ? t.toISOString() : (t ?? "");
}
