// Fencing: every write is sent only while its sender still leads, and carries the leadership it
// was sent under so the API server can refuse it once that leadership is over (see the
// fencing ValidatingAdmissionPolicy in deploy/operator and docs/decisions/0009).

/** The leadership a write is made under, as stamped on the object it writes. */
export interface LeaderStamp {
  /** The Lease's holderIdentity while this replica holds it. */
  holder: string;
  /** The Lease's leaseTransitions when this replica acquired it. */
  epoch: number;
}

export interface Fence {
  /** Aborts when the right to write ends; in-flight writes are cancelled with it. */
  readonly signal: AbortSignal;
  /** Throws NotLeaderError if a write may no longer be sent (checked just before each one). */
  check(): void;
  /** What to stamp on written objects; undefined when no Lease backs the writes (no election). */
  readonly stamp: LeaderStamp | undefined;
}

export class NotLeaderError extends Error {
  override readonly name = "NotLeaderError";
}

/** The fence of a single replica run without leader election: writes end only when it stops. */
export function unfencedUntil(signal: AbortSignal): Fence {
  return {
    signal,
    stamp: undefined,
    check: () => {
      if (signal.aborted) throw new NotLeaderError("the operator is stopping; write not sent");
    },
  };
}
