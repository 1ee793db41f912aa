// One IP, one workload: istiod keys workloads by address, so two entries on one address would
// make the sidecar's attribution ambiguous. The oldest claim wins; ties go to the smaller name
// so that every replica and every resync picks the same winner.

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
