import { FORMATS, forPeople, render, table } from "./output.js";
import { showValue } from "./sync.js";

test("table pads all but the last column", () => {
  expect(table(["A", "BB"], [["xyz", "1"]])).toBe("A    BB\nxyz  1");
});

test("plan values: JSON, (missing), cut to 40 characters", () => {
  expect(showValue(undefined)).toBe("(missing)");
  expect(showValue(null)).toBe("null");
  expect(showValue("x".repeat(60))).toHaveLength(40);
});

describe("one Printable, every format", () => {
  const p = { table: (wide: boolean) => (wide ? "A  B  C" : "A  B"), data: () => ({ a: 1, list: ["x"] }) };

  test("table and wide are for people; json and yaml carry the same facts as data", () => {
    expect(render(p, "table")).toBe("A  B\n");
    expect(render(p, "wide")).toBe("A  B  C\n");
    expect(render(p, "json")).toBe('{\n  "a": 1,\n  "list": [\n    "x"\n  ]\n}\n');
    expect(render(p, "yaml")).toBe("a: 1\nlist:\n  - x\n");
    expect(FORMATS.filter(forPeople)).toEqual(["table", "wide"]);
  });
});
