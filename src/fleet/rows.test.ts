import { fleetItems, parseRows, vpsRowSchema } from "./rows.js";

const good = { id: 1001, hostname: "jp-tokyo-01", ip: "45.76.83.243", country: "JP", status: "active", xrayr_version: "v25.3.6", extra: { ignored: true } };

describe("parseRows", () => {
  test("an array or an object with items; unknown fields ignored; ids become strings", () => {
    for (const doc of [[good], { items: [good], total: 1 }]) {
      const r = parseRows(doc);
      expect(r.issues).toEqual([]);
      expect(r.rows).toEqual([{ row: 1, id: "1001", hostname: "jp-tokyo-01", ip: "45.76.83.243", country: "JP", status: "active", xrayrVersion: "v25.3.6" }]);
    }
  });

  test("anything else is refused as a whole", () => {
    expect(() => fleetItems({ data: [] })).toThrow(/JSON array of rows or an object with an "items" array/);
    expect(() => fleetItems("x")).toThrow(/not "x"/);
  });

  test("xrayr_version may be missing, null or empty", () => {
    const r = parseRows([
      { ...good, xrayr_version: undefined },
      { ...good, id: 2, xrayr_version: null },
      { ...good, id: 3, xrayr_version: " " },
    ]);
    expect(r.issues).toEqual([]);
    expect(r.rows.map((x) => (x.status === "active" ? x.xrayrVersion : "inactive"))).toEqual([undefined, undefined, undefined]);
  });

  test.each([
    [{ ...good, id: undefined }, "id", undefined, "id is missing."],
    [{ ...good, id: -1 }, "id", -1, "id -1 must be a non-negative whole number below 2^53."],
    [{ ...good, id: 1.5 }, "id", 1.5, "id 1.5 must be a non-negative whole number below 2^53."],
    [{ ...good, id: "a b" }, "id", "a b", 'id "a b" must be usable as a Kubernetes label value'],
    [{ ...good, id: true }, "id", true, "id must be a number or a string, not boolean true."],
    [{ ...good, hostname: undefined }, "hostname", undefined, "hostname is missing."],
    [{ ...good, ip: null }, "ip", null, "ip is missing."],
    [{ ...good, ip: 45 }, "ip", 45, "ip must be a string, not number 45."],
    [{ ...good, status: "deleted" }, "status", "deleted", 'status "deleted" must be one of active, retired, provisioning.'],
    [{ ...good, status: undefined }, "status", undefined, "status is missing."],
    [{ ...good, xrayr_version: 25 }, "xrayr_version", 25, "xrayr_version must be a string, not number 25."],
  ])("row %# is reported with field and value", (row, field, value, message) => {
    const r = parseRows([good, row]);
    expect(r.rows).toHaveLength(1);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ row: 2, field, value });
    expect(r.issues[0]?.message).toContain(message);
  });

  test("a row that is not an object", () => {
    const r = parseRows([7]);
    expect(r.issues).toEqual([{ row: 1, field: "row", value: 7, message: "the row must be an object, not number 7." }]);
  });

  test("every bad field of a row is reported", () => {
    const r = parseRows([{ id: 5, status: "active" }]);
    expect(r.issues.map((i) => i.field).sort()).toEqual(["country", "hostname", "ip"]);
    expect(r.issues.every((i) => i.id === "5")).toBe(true);
  });

  test("a repeated id: the first row wins (1001 and \"1001\" are one id)", () => {
    const r = parseRows([good, { ...good, id: "1001", ip: "45.76.83.244" }]);
    expect(r.rows).toHaveLength(1);
    expect(r.issues).toEqual([{ row: 2, id: "1001", field: "id", value: "1001", message: "id 1001 repeats row 1; every VPS must have its own id." }]);
  });

  test("retired and provisioning rows need only id and status; their other fields are not read", () => {
    const r = parseRows([
      { id: 7, status: "retired", ip: null },
      { id: 8, status: "provisioning" },
      { id: 9, status: "retired", hostname: 5, country: [], xrayr_version: 25 },
    ]);
    expect(r.issues).toEqual([]);
    expect(r.rows).toEqual([
      { row: 1, id: "7", status: "retired" },
      { row: 2, id: "8", status: "provisioning" },
      { row: 3, id: "9", status: "retired" },
    ]);
  });

  test("a row with a bad status still has its id checked, and not the fields only active rows need", () => {
    const r = parseRows([{ id: -3, status: "gone" }]);
    expect(r.issues.map((i) => i.field).sort()).toEqual(["id", "status"]);
  });

  test("vpsRowSchema (the union on status) accepts exactly the rows parseRows accepts", () => {
    const samples: unknown[] = [
      good,
      { id: 7, status: "retired", ip: null },
      { id: 8, status: "provisioning" },
      { id: 9, status: "active", ip: null, hostname: "h", country: "de" },
      { id: 10, status: "gone" },
      { status: "retired" },
      { ...good, xrayr_version: 25 },
      7,
    ];
    for (const x of samples) expect([x, vpsRowSchema.safeParse(x).success]).toEqual([x, parseRows([x]).rows.length === 1]);
  });
});
