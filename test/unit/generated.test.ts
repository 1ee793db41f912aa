// Every generated file equals what its source makes of it (scripts/generated.ts): the same check
// as `make verify`, in the unit tests so that `make test` fails on drift too. `make generate`
// rewrites them.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { drifted, GENERATED, withTable } from "../../scripts/generated.js";

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

  // What `make verify` (drifted) names: a hand edit of a generated part, and a file left behind
  // by a change of a source, including a file generated from another generated file.
  describe("make verify's drift", () => {
    const RULES = "deploy/istio/observability/prometheusrule.yaml";
    const COPY = "deploy/istio/observability/prometheus-values.yaml";
    const RECORDED = "(rate(istio_requests_total{";
    const named = (edits: Record<string, (text: string) => string>): string[] =>
      drifted((file) => {
        const text = read(file);
        const edit = edits[file];
        return text === undefined || edit === undefined ? text : edit(text);
      }).map((d) => d.generated.file);
    const once = (from: string, to: string) => (text: string): string => {
      expect(text).toContain(from);
      return text.replace(from, to);
    };

    it("is nothing on the tree as it is", () => {
      expect(named({})).toEqual([]);
    });

    it("names a recording rule edited by hand (the rules are src/traffic/queries.ts's), not the copy", () => {
      expect(named({ [RULES]: once(RECORDED, "(irate(istio_requests_total{") })).toEqual([RULES]);
    });

    it("names a recording group renamed by hand: make generate adds the group again, and the copy follows", () => {
      expect(named({ [RULES]: once("- name: xrayr-mesh-recording", "- name: someone-elses") })).toEqual([RULES, COPY]);
    });

    it("names both the rules and their copy when both are behind their source (as after a change of queries.ts)", () => {
      const stale = once(RECORDED, "(irate(istio_requests_total{");
      expect(named({ [RULES]: stale, [COPY]: stale })).toEqual([RULES, COPY]);
    });

    it("names the copy when an alert changed in the rules but not in the copy, and when the copy alone was edited", () => {
      expect(named({ [RULES]: once("alert: XrayrNodeSilent", "alert: XrayrNodeQuiet") })).toEqual([COPY]);
      expect(named({ [COPY]: once("alert: XrayrNodeSilent", "alert: XrayrNodeQuiet") })).toEqual([COPY]);
    });

    it("names the CRD, README's tables and src/version.ts when edited by hand", () => {
      expect(named({ "deploy/crds/mesh.sigma.io_xrayrnodes.yaml": (t) => `${t}# edited\n` })).toEqual(["deploy/crds/mesh.sigma.io_xrayrnodes.yaml"]);
      expect(named({ "README.md": once("| `xrayr_mesh_reconcile_total` |", "| `xrayr_mesh_reconciles_total` |") })).toEqual(["README.md"]);
      expect(named({ "src/version.ts": once("export const VERSION", "export const VERSION_") })).toEqual(["src/version.ts"]);
    });

    it("is nothing once make generate has written what it names", () => {
      const edits: Record<string, (text: string) => string> = { [RULES]: once(RECORDED, "(irate(istio_requests_total{"), [COPY]: once(RECORDED, "(irate(istio_requests_total{") };
      const written = new Map(drifted((file) => { const t = read(file); const e = edits[file]; return t === undefined || e === undefined ? t : e(t); }).map((d) => [d.generated.file, d.want]));
      expect([...written.keys()]).toEqual([RULES, COPY]);
      expect(drifted((file) => written.get(file) ?? read(file))).toEqual([]);
    });
  });
});
