import { claimWinner, contestedAddresses, nodeClaim } from "./claims.js";

describe("claimWinner", () => {
  const claims = [
    { name: "b-node", address: "1.1.1.1", createdAt: "2026-01-01T00:00:05Z" },
    { name: "a-node", address: "1.1.1.1", createdAt: "2026-01-01T00:00:09Z" },
    { name: "c-node", address: "1.1.1.1", createdAt: "2026-01-01T00:00:05Z" },
    { name: "other", address: "8.8.8.8", createdAt: "2025-01-01T00:00:00Z" },
  ];

  test("the oldest claim on the address wins, whatever the list order", () => {
    expect(claimWinner(claims, "1.1.1.1")?.name).toBe("b-node");
    expect(claimWinner([...claims].reverse(), "1.1.1.1")?.name).toBe("b-node");
  });

  test("equal creation times fall to the smaller name", () => {
    expect(claimWinner(claims.filter((c) => c.name !== "b-node"), "1.1.1.1")?.name).toBe("c-node");
  });

  test("no claim on the address means no winner", () => {
    expect(claimWinner(claims, "9.9.9.9")).toBeUndefined();
  });
});

describe("nodeClaim", () => {
  const node = { metadata: { name: "jp-1", creationTimestamp: new Date("2026-01-01T00:00:05Z") } };

  test("a valid node claims its validated address, with its creation time", () => {
    expect(nodeClaim(node, { ok: true, spec: { address: "45.0.0.1", country: "jp", version: "v1" } })).toEqual({ name: "jp-1", address: "45.0.0.1", createdAt: "2026-01-01T00:00:05.000Z" });
    expect(nodeClaim({ metadata: { name: "jp-1", creationTimestamp: "2026-01-01T00:00:05Z" } }, { ok: true, spec: { address: "45.0.0.1", country: "jp", version: "v1" } })?.createdAt).toBe("2026-01-01T00:00:05Z");
  });

  test("an invalid node claims nothing", () => {
    expect(nodeClaim(node, { ok: false, issues: [] })).toBeUndefined();
  });
});

describe("contestedAddresses", () => {
  test("every address with more than one claim, its holder by claimWinner and the others oldest first", () => {
    const claims = [
      { name: "c", address: "1.1.1.1", createdAt: "2026-01-01T00:00:07Z" },
      { name: "b", address: "1.1.1.1", createdAt: "2026-01-01T00:00:05Z" },
      { name: "a", address: "1.1.1.1", createdAt: "2026-01-01T00:00:06Z" },
      { name: "alone", address: "8.8.8.8", createdAt: "2025-01-01T00:00:00Z" },
    ];
    const [x, ...rest] = contestedAddresses(claims);
    expect(rest).toEqual([]);
    expect(x?.address).toBe("1.1.1.1");
    expect(x?.holder.name).toBe(claimWinner(claims, "1.1.1.1")?.name);
    expect(x?.holder.name).toBe("b");
    expect(x?.others.map((o) => o.name)).toEqual(["a", "c"]);
  });
});
