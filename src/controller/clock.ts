// Time as the controller runtime sees it. Everything that waits or measures goes through a Clock so
// tests can drive backoff, delays and lease expiry deterministically instead of sleeping.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic scale: only differences are meaningful. */
  now(): number;
  setTimer(callback: () => void, ms: number): Timer;
}

// performance.now() rather than Date.now(): an NTP step or a manual clock change must not shorten a
// backoff or make a lease look expired.
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, ms) {
    const handle = setTimeout(callback, ms);
    return { cancel: () => { clearTimeout(handle); } };
  },
};

/** Waits `ms`; resolves true if the time elapsed, false if `signal` aborted first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface PendingTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * A manually advanced clock for tests. `advance` fires due timers in deadline order and lets the
 * promise continuations they trigger run before the next one, so async code observes time moving
 * the way it would in production.
 */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Set<PendingTimer>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(callback: () => void, ms: number): Timer {
    const timer: PendingTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, callback };
    this.timers.add(timer);
    return { cancel: () => { this.timers.delete(timer); } };
  }

  /** Number of timers not yet fired or cancelled. */
  pending(): number {
    return this.timers.size;
  }

  /** Moves time on without firing timers: what a process resumed after a pause sees first. */
  jump(ms: number): void {
    this.current += ms;
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next.at > target) break;
      this.timers.delete(next);
      this.current = next.at;
      next.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }

  private earliest(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

// A macrotask boundary: every microtask chain queued so far has run by the time it resolves.
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
