import type { XrayrNode } from "../api/v1alpha1/types.js";
import { NodeInfoSeries } from "./node-info.js";

const node = (name: string, country: string, version?: string): XrayrNode => ({
  metadata: { name, namespace: "airport-prod" },
  spec: { address: "203.0.113.1", country, ...(version !== undefined ? { version } : {}) },
});

describe("NodeInfoSeries", () => {
  test("one series per node given, in the text format, with HELP and TYPE", () => {
    const nodes = [node("jp-01", "jp", "v1.2"), node("de-02", "de")];
    expect(new NodeInfoSeries(() => nodes).text().split("\n")).toEqual([
      expect.stringMatching(/^# HELP xrayr_mesh_node_info 1 for each XrayrNode/),
      "# TYPE xrayr_mesh_node_info gauge",
      'xrayr_mesh_node_info{node="jp-01",country="jp",version="v1.2"} 1',
      'xrayr_mesh_node_info{node="de-02",country="de",version=""} 1',
      "",
    ]);
  });

  test("a free-text version is escaped as the text format requires", () => {
    const text = new NodeInfoSeries(() => [node("jp-01", "jp", 'a"b\\c\nd')]).text();
    expect(text).toContain('version="a\\"b\\\\c\\nd"} 1\n');
  });

  test("a changed node (a new informer object) gets a new line; a node no longer given is gone", () => {
    let nodes = [node("jp-01", "jp", "v1")];
    const series = new NodeInfoSeries(() => nodes);
    expect(series.text()).toContain('version="v1"');
    nodes = [node("jp-01", "jp", "v2")];
    expect(series.text()).toContain('version="v2"');
    expect(series.text()).not.toContain('version="v1"');
    nodes = [];
    expect(series.text()).not.toContain("jp-01");
  });

  test("no nodes: the header alone, still a valid exposition", () => {
    expect(new NodeInfoSeries(() => []).text()).toMatch(/^# HELP .*\n# TYPE xrayr_mesh_node_info gauge\n$/);
  });
});
