import { pool } from "./pool.js";

describe("pool", () => {
  test("runs every item once, with its index, never more than the limit at once", async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: [string, number][] = [];
    await pool(["a", "b", "c", "d", "e"], 2, async (item, index) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      seen.push([item, index]);
      inFlight--;
    });
    expect(seen.sort()).toEqual([["a", 0], ["b", 1], ["c", 2], ["d", 3], ["e", 4]]);
    expect(peak).toBe(2);
  });

  test("no items: nothing runs", async () => {
    let calls = 0;
    await pool([], 4, () => { calls++; return Promise.resolve(); });
    expect(calls).toBe(0);
  });
});
