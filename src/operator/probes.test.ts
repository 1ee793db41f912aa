import { INFORMER_DOWN_LIMIT_MS, probes, type ProbedCache } from "./probes.js";

const cache = (synced: boolean, downForMs = 0): ProbedCache => ({ hasSynced: () => synced, downForMs: () => downForMs });

describe("the operator's probes", () => {
  test("ready once every cache is filled, leader or not", () => {
    expect(probes([cache(true), cache(true), cache(true)]).ready()).toBe(true);
    expect(probes([cache(true), cache(false), cache(true)]).ready()).toBe(false);
  });

  test("live until one informer has been failing for the limit: then a fresh process is due", () => {
    expect(probes([cache(true), cache(true, INFORMER_DOWN_LIMIT_MS - 1)]).live()).toBe(true);
    expect(probes([cache(true), cache(true, INFORMER_DOWN_LIMIT_MS)]).live()).toBe(false);
    // Failing, but not for long: the informer's own restarts are still at work.
    expect(probes([cache(false, 30_000)]).live()).toBe(true);
  });
});
