import { table } from "./output.js";
import { showValue } from "./sync.js";

test("table pads all but the last column", () => {
  expect(table(["A", "BB"], [["xyz", "1"]])).toBe("A    BB\nxyz  1");
});

test("plan values: JSON, (missing), cut to 40 characters", () => {
  expect(showValue(undefined)).toBe("(missing)");
  expect(showValue(null)).toBe("null");
  expect(showValue("x".repeat(60))).toHaveLength(40);
});
