// Every generated file equals what its source makes of it (scripts/generated.ts): the same check
// as `make verify`, in the unit tests so that `make test` fails on drift too. `make generate`
// rewrites them.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GENERATED, withTable } from "../../scripts/generated.js";

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const read = (p: string): string | undefined => (existsSync(repo(p)) ? readFileSync(repo(p), "utf8") : undefined);

describe("generated files", () => {
  it.each(GENERATED.map((g) => [g.file, g] as const))("%s is what its source makes of it (make generate rewrites it)", (file, g) => {
    expect(read(file)).toBe(g.render(read));
  });

  it("README's tables are replaced between their markers, and a README without them is refused", () => {
    const readme = "a\n<!-- generated: metrics (from x) -->\nold\n<!-- end generated -->\nb\n";
    expect(withTable(readme, "metrics", "new\n")).toBe("a\n<!-- generated: metrics (from x) -->\nnew\n<!-- end generated -->\nb\n");
    expect(() => withTable("a\n", "metrics", "new\n")).toThrow('README.md has no "<!-- generated: metrics -->"');
  });
});
