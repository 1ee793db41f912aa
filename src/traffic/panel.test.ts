import { buildPanel, isError } from "./panel.js";

const s = (source: string, code: string, value: number, app = "xrayr") => ({
  metric: { source_workload: source, source_canonical_service: app, response_code: code },
  value,
});

describe("buildPanel", () => {
  const base = { p99BySource: [{ metric: { source_workload: "jp-01" }, value: 120 }], p99Edge: [{ metric: {}, value: 150 }], app: "xrayr", window: "5m" };

  test("sums a node's series and computes Kiali's error ratio", () => {
    const p = buildPanel({ ...base, edge: [s("jp-01", "200", 0.9), s("jp-01", "304", 0.05), s("jp-01", "503", 0.05)], registered: ["jp-01"] });
    expect(p.nodes).toEqual([{ name: "jp-01", rps: 1, errorRatio: 0.05, p99Ms: 120 }]);
    expect(p.edge).toEqual({ rps: 1, errorRatio: 0.05, p99Ms: 150 });
    expect(p.findings).toEqual([]);
  });

  test("unknown sources fail the picture and point at doctor", () => {
    const p = buildPanel({ ...base, edge: [s("unknown", "200", 2, "unknown"), s("jp-01", "200", 1)], registered: ["jp-01"] });
    expect(p.unknownRps).toBe(2);
    expect(p.findings[0]).toMatchObject({ severity: "fail" });
    expect(p.findings[0]?.fix).toContain("xrayr-mesh doctor");
    expect(p.edge.rps).toBe(1);
  });

  test("registered nodes with no traffic are silent", () => {
    const p = buildPanel({ ...base, edge: [s("jp-01", "200", 1)], registered: ["jp-01", "hk-02"] });
    expect(p.silent).toEqual(["hk-02"]);
    expect(p.nodes.find((n) => n.name === "hk-02")).toEqual({ name: "hk-02", rps: 0, errorRatio: 0, p99Ms: undefined });
    expect(p.findings).toEqual([expect.objectContaining({ severity: "warn", message: expect.stringContaining("hk-02") as unknown })]);
  });

  test("callers that are not registered nodes are named", () => {
    const p = buildPanel({ ...base, edge: [s("jp-99", "200", 0.5), s("jp-01", "200", 1)], registered: ["jp-01"] });
    expect(p.unregistered).toEqual([{ name: "jp-99", app: "xrayr", rps: 0.5 }]);
    expect(p.edge.rps).toBe(1.5); // Kiali's app edge counts every xrayr caller
    expect(p.findings[0]?.fix).toContain("sync --prune");
  });
});

test.each([["0", true], ["200", false], ["304", false], ["404", true], ["503", true], ["", true], ["abc", true]])("response code %s is an error: %s", (code, err) => {
  expect(isError(code)).toBe(err);
});
