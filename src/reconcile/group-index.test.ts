import { GroupIndex } from "./group-index.js";

test("tracks keys per group through moves and deletes", () => {
  const idx = new GroupIndex();
  expect(idx.set("ns/a", "1.1.1.1")).toBeUndefined();
  idx.set("ns/b", "1.1.1.1");
  expect([...idx.keys("1.1.1.1")].sort()).toEqual(["ns/a", "ns/b"]);
  expect(idx.set("ns/a", "2.2.2.2")).toBe("1.1.1.1");
  expect(idx.keys("1.1.1.1")).toEqual(["ns/b"]);
  expect(idx.keys("2.2.2.2")).toEqual(["ns/a"]);
  expect(idx.set("ns/a", "2.2.2.2")).toBe("2.2.2.2");
  idx.delete("ns/b");
  idx.delete("ns/missing");
  expect(idx.keys("1.1.1.1")).toEqual([]);
});
