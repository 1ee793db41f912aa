// The judgements of the istiod churn guard (test/e2e/istiod-churn.e2e.test.ts) and of
// `make bench-mesh`, on data written out here: a sidecar index against the Ready nodes, what a
// group of plain sidecars received between two readings, the nearest-rank quantile.
import { compareIndex, pushesBetween, quantile, type GroupCounters, type Held } from "../support/mesh-churn.js";

const held = (workload: string): Held => ({ workload, stored: 0 });

describe("compareIndex", () => {
  it("is ok exactly when every Ready node's address names it and no other fleet address is held", () => {
    const ready = new Map([
      ["vps-1", "127.10.0.1"],
      ["vps-2", "127.10.0.2"],
    ]);
    expect(compareIndex(new Map([["127.10.0.1", held("vps-1")], ["127.10.0.2", held("vps-2")]]), ready)).toEqual({ ok: true, missing: [], wrong: [], stale: [] });
    expect(compareIndex(new Map([["127.10.0.1", held("vps-1")], ["127.10.0.3", held("vps-2")], ["127.10.0.2", held("vps-9")]]), ready)).toEqual({
      ok: false,
      missing: [],
      wrong: ["127.10.0.2: vps-9 (want vps-2)"],
      stale: ["vps-2@127.10.0.3"],
    });
    expect(compareIndex(new Map([["127.10.0.1", held("vps-1")]]), ready)).toMatchObject({ ok: false, missing: ["vps-2@127.10.0.2"] });
  });
});

describe("pushesBetween", () => {
  it("counts per type what arrived between the readings, a type never seen as zero", () => {
    const before: GroupCounters = { clients: 2, byType: { cds: { responses: 4, bytes: 4000 }, lds: { responses: 2, bytes: 900 } } };
    const after: GroupCounters = { clients: 2, byType: { cds: { responses: 6, bytes: 5000 }, lds: { responses: 2, bytes: 900 }, eds: { responses: 1, bytes: 70 } } };
    expect(pushesBetween(before, after)).toEqual({
      cds: { responses: 2, bytes: 1000 },
      lds: { responses: 0, bytes: 0 },
      eds: { responses: 1, bytes: 70 },
      rds: { responses: 0, bytes: 0 },
    });
  });
});

describe("quantile", () => {
  it("takes the nearest rank: p99 of 20 values is the largest", () => {
    const v = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
    expect(quantile(v, 0.99)).toBe(200);
    expect(quantile(v, 0.5)).toBe(100);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
