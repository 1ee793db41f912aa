// Polling with a deadline. A probe returns the awaited value when the condition holds, or
// pending(state) with what it saw instead; on timeout the error shows the last state seen, so
// a failure says what the cluster looked like, not only that time ran out.

const PENDING = Symbol("pending");

export interface Pending {
  readonly [PENDING]: true;
  readonly state: unknown;
}

export function pending(state: unknown): Pending {
  return { [PENDING]: true, state };
}

function isPending(v: unknown): v is Pending {
  return typeof v === "object" && v !== null && PENDING in v;
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

export class WaitTimeout extends Error {
  override readonly name = "WaitTimeout";
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function show(state: unknown, max = 3000): string {
  let s: string;
  if (state instanceof Error) s = `${state.name}: ${state.message}`;
  else if (typeof state === "string") s = state;
  else if (state === undefined || typeof state === "function" || typeof state === "symbol") s = String(state);
  else {
    try {
      s = JSON.stringify(state, null, 1);
    } catch (err) {
      s = `(not serializable: ${err instanceof Error ? err.message : "?"})`;
    }
  }
  return s.length > max ? `${s.slice(0, max)} ... (${s.length - max} more characters)` : s;
}

/**
 * Polls `probe` until it returns something other than pending(...) or undefined and returns
 * that. A probe that throws counts as pending with the error as its state (the API server may
 * be restarting). Throws WaitTimeout after timeoutMs with the last observed state.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | Pending | undefined> | T | Pending | undefined,
  { timeoutMs, intervalMs = 100 }: WaitOptions,
): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (isPending(v)) last = v.state;
      else if (v === undefined) last = "(probe returned undefined)";
      else return v;
    } catch (err) {
      last = err;
    }
    const elapsed = Date.now() - start;
    if (elapsed >= timeoutMs) {
      throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}; last observed:\n${show(last)}`);
    }
    await sleep(Math.min(intervalMs, Math.max(1, timeoutMs - elapsed)));
  }
}

/** Asserts that `probe` keeps holding (returns true) for `durationMs`; fails on the first false. */
export async function holds(what: string, probe: () => Promise<true | Pending> | true | Pending, durationMs: number, intervalMs = 200): Promise<void> {
  const end = Date.now() + durationMs;
  for (;;) {
    const v = await probe();
    if (isPending(v)) throw new Error(`expected ${what} to keep holding for ${durationMs} ms, but it stopped:\n${show(v.state)}`);
    if (Date.now() >= end) return;
    await sleep(intervalMs);
  }
}

/** Runs fn over items with at most `limit` in flight; results in input order. */
export async function pool<I, O>(items: readonly I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const out: O[] = new Array<O>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as I, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Milliseconds since `t0` as seconds with one decimal, for timing notes. */
export function secondsSince(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

/** A line on stderr that jest does not decorate (timings, progress). */
export function note(msg: string): void {
  process.stderr.write(`[e2e] ${msg}\n`);
}
