// A bounded pace for one kind of write: each write waits for its turn in a token bucket
// (ratelimiter.ts) before it is sent. The operator paces its WorkloadEntry writes with it
// (ENTRY_WRITES_PER_SECOND): each one costs istiod work in three registries and a push to every
// Xboard sidecar, so a backfill or a mass retirement must not arrive at whatever speed the API
// server takes it (Istio's own auto-registration paces its entry deletes the same way, at 20/s:
// pilot/pkg/autoregistration, cleanupLimit).
import { type Clock, sleep, systemClock } from "./clock.js";
import { TokenBucket } from "./ratelimiter.js";

export class WritePace {
  private readonly bucket: TokenBucket;

  constructor(
    readonly perSecond: number,
    /** Told every turn taken: the kind of write and the seconds it waited (0: not held back). */
    private readonly onTurn: (kind: string, waitedSeconds: number) => void = () => {},
    private readonly clock: Clock = systemClock,
  ) {
    // One second's worth of burst: a registration, a retirement or a delete-first replacement
    // (two writes) after a quiet spell goes at once; only a sustained stream is held to the rate.
    this.bucket = new TokenBucket(perSecond, Math.max(1, perSecond), clock);
  }

  /**
   * Waits for this write's turn. False when `signal` ended the wait first: the turn is given back
   * and the write must not be sent. Reservations queue in order, so with W writers the wait of
   * one is at most W / perSecond once the burst is spent.
   */
  async turn(kind: string, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const ms = this.bucket.reserve();
    if (ms > 0 && !(await sleep(this.clock, ms, signal))) {
      this.bucket.refund();
      return false;
    }
    this.onTurn(kind, ms / 1000);
    return true;
  }
}
