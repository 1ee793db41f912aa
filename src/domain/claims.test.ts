import { claimWinner } from "./claims.js";

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
