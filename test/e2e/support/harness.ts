// Per-file wiring: a Fleet for the file's objects, leftovers of earlier files removed before it
// starts, its operators stopped and its objects deleted after it, and operator log tails added to
// the message of any failing test.
import { Fleet, waitNoOrphanEntries } from "./fixtures.js";
import { operatorLogTails, stopAllOperators } from "./operator.js";
import { note, secondsSince } from "./wait.js";

export function e2eFile(tag: string): Fleet {
  const fleet = new Fleet(tag);
  beforeAll(async () => {
    // Earlier files clean up after themselves; this catches a file or run that died midway.
    await fleet.cleanup({ all: true, timeoutMs: 120_000 });
  }, 150_000);
  afterAll(async () => {
    await stopAllOperators();
    await fleet.cleanup({ timeoutMs: 120_000 });
    // No operator runs now: whatever entries are left for deleted nodes the garbage collector takes.
    await waitNoOrphanEntries(60_000);
  }, 200_000);
  return fleet;
}

/**
 * Wraps a test body: on failure the error message gets the tails of the logs of every operator
 * this file started (newest first), and the duration of the test is noted either way.
 */
export function withLogs(title: string, fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    const t0 = Date.now();
    try {
      await fn();
      note(`PASS ${title} (${secondsSince(t0)})`);
    } catch (err) {
      note(`FAIL ${title} (${secondsSince(t0)})`);
      const logs = operatorLogTails();
      if (err instanceof Error && logs !== "") {
        err.message += `\n\nOperator logs:\n${logs}`;
      }
      throw err;
    }
  };
}
