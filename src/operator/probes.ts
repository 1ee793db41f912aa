// The operator's probes. Ready: every cache has been filled (a standby is ready too, so a rollout
// never waits on leadership). Live: no informer has failed for longer than its restarts can
// mend (a client stuck on a dead connection, say): a failing probe gets a fresh process.
import type { Probes } from "../observability/server.js";

// About ten restarts at the informers' 30 s backoff cap.
export const INFORMER_DOWN_LIMIT_MS = 5 * 60_000;

export interface ProbedCache {
  hasSynced(): boolean;
  /** How long its list or watch has been failing (0 when healthy). */
  downForMs(): number;
}

export function probes(caches: readonly ProbedCache[]): Probes {
  return {
    live: () => caches.every((c) => c.downForMs() < INFORMER_DOWN_LIMIT_MS),
    ready: () => caches.every((c) => c.hasSynced()),
  };
}
