// One process, one term of leadership at most. With leader election the term is the one the
// Lease grants; when it is lost the process ends ("lost-leadership": a fresh process
// re-campaigns with clean caches, as client-go's callers do). Without it (one replica), the term
// lasts until the process is stopped, fenced only by that.
import type { Logger } from "pino";
import { writeTimeoutFor } from "../apply/writer.js";
import type { Config } from "../config.js";
import { errorFields } from "../controller/api-errors.js";
import type { Clock } from "../controller/clock.js";
import { type Fence, unfencedUntil } from "../controller/fence.js";
import { LeaderElector, type LeaseLock } from "../controller/leaderelection.js";

export interface LeadershipOptions {
  /** The Lease; undefined runs without leader election. */
  lock: LeaseLock | undefined;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Told when the term starts and ends. */
  onLeading: (leads: boolean) => void;
  log: Logger;
  clock?: Clock;
}

export type Ending = "stopped" | "lost-leadership";

/**
 * The leadership the configuration asks for: with LEADER_ELECTION the Lease (`lease()`), and a
 * write timeout within the Lease's margin, so no write of a leader that has just stepped down is
 * still in flight when a successor may start; without, no Lease and the writer's own cap.
 */
export function leadershipFor(
  election: Config["leaderElection"],
  lease: () => LeaseLock,
  told: Pick<LeadershipOptions, "onLeading" | "log">,
): { options: LeadershipOptions; writeTimeoutMs: number | undefined } {
  const { enabled, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs } = election;
  return {
    options: { lock: enabled ? lease() : undefined, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs, ...told },
    writeTimeoutMs: enabled ? writeTimeoutFor(leaseDurationMs, renewDeadlineMs) : undefined,
  };
}

/** Campaigns (or not), leads one term with `lead`, and says how it ended once `lead` has drained. */
export async function serveOneTerm(options: LeadershipOptions, lead: (fence: Fence) => Promise<void>, signal: AbortSignal): Promise<Ending> {
  const { lock, onLeading, log } = options;
  if (lock === undefined) {
    onLeading(true);
    try {
      await lead(unfencedUntil(signal));
    } finally {
      onLeading(false);
    }
    return "stopped";
  }
  const ending = { lost: false };
  const elector = new LeaderElector({
    lock,
    identity: options.identity,
    leaseDurationMs: options.leaseDurationMs,
    renewDeadlineMs: options.renewDeadlineMs,
    retryPeriodMs: options.retryPeriodMs,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    callbacks: {
      onStartedLeading: (fence) => {
        onLeading(true);
        return lead(fence);
      },
      onStoppedLeading: () => {
        onLeading(false);
        // Ended by anything but our own stop: the Lease was lost.
        if (!signal.aborted) ending.lost = true;
      },
      onNewLeader: (id) => { log.info({ leader: id }, "leader observed"); },
    },
    onError: (err, phase) => { log.warn({ phase, error: errorFields(err) }, "leader election call failed"); },
  });
  await elector.run(signal);
  return ending.lost ? "lost-leadership" : "stopped";
}
