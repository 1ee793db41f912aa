// xrayr_mesh_node_info, rendered apart from prom-client's registry. It has one series per Ready
// node, 50,000 on the largest fleets, and a prom-client gauge refilled at every scrape cost
// 83 ms of CPU per scrape at 10,000 nodes and 499 ms at 50,000 (make bench-scale), which blocks
// the event loop, lease renewal included, for that long. Here a node's line is made once per
// version of the node (informer objects are replaced on every change, so the object is the key)
// and a scrape only joins the lines.
import type { XrayrNode } from "../api/v1alpha1/types.js";

/** The series, as README's metrics table lists it beside the registry's. */
export const NODE_INFO = {
  name: "xrayr_mesh_node_info",
  type: "gauge",
  labels: ["node", "country", "version"],
  help: "1 for each XrayrNode that has its WorkloadEntry (Ready), with its country and XrayR version: joins Istio's per-node series (source_workload) to the node's country",
} as const;
const NODE_INFO_METRIC = NODE_INFO.name;
const HEADER = `# HELP ${NODE_INFO_METRIC} ${NODE_INFO.help}\n# TYPE ${NODE_INFO_METRIC} ${NODE_INFO.type}\n`;

export class NodeInfoSeries {
  private readonly lines = new WeakMap<XrayrNode, string>();

  /** `nodes`: the Ready nodes, read at scrape time. */
  constructor(private readonly nodes: () => Iterable<XrayrNode>) {}

  /** The metric in the Prometheus text format, header included. */
  text(): string {
    let out = HEADER;
    for (const n of this.nodes()) {
      let line = this.lines.get(n);
      if (line === undefined) {
        line = `${NODE_INFO_METRIC}{node="${escape(n.metadata.name ?? "")}",country="${escape(n.spec.country)}",version="${escape(n.spec.version ?? "")}"} 1\n`;
        this.lines.set(n, line);
      }
      out += line;
    }
    return out;
  }
}

// The text format's label-value escapes. Names and countries never need them (the CRD's
// patterns), but a version is free text.
function escape(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
