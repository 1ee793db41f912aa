import { safeUrl } from "./errors.js";
import { table } from "./output.js";
import { showValue } from "./sync.js";

test("safeUrl drops credentials, query and fragment", () => {
  expect(safeUrl("https://user:secret@sigma.example/api/vps?token=abc#x")).toBe("https://sigma.example/api/vps");
  expect(safeUrl("not a url?token=abc")).toBe("not a url");
});

test("table pads all but the last column", () => {
  expect(table(["A", "BB"], [["xyz", "1"]])).toBe("A    BB\nxyz  1");
});

test("plan values: JSON, (missing), cut to 40 characters", () => {
  expect(showValue(undefined)).toBe("(missing)");
  expect(showValue(null)).toBe("null");
  expect(showValue("x".repeat(60))).toHaveLength(40);
});
