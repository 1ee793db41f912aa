// A loopback server answering Prometheus's instant-query API with traffic the test chooses:
// every query on istio_requests_total gets one 200 series per chosen node, every
// histogram_quantile a p99 per node. It stands in for the numbers only; what is under test is
// what the operator writes with them. The attribution suite runs a real Prometheus.
import { createServer, type Server } from "node:http";

export class PrometheusAnswers {
  /** Nodes that call Xboard, with their req/s. */
  readonly traffic = new Map<string, number>();
  queries = 0;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(app: string): Promise<PrometheusAnswers> {
    const ref: { self?: PrometheusAnswers } = {};
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const query = new URLSearchParams(body).get("query") ?? "";
        const self = ref.self;
        if (self !== undefined) self.queries++;
        const nodes = [...(self?.traffic ?? new Map<string, number>())];
        const now = Date.now() / 1000;
        const result = query.includes("histogram_quantile")
          ? query.includes("source_workload")
            ? nodes.map(([name]) => ({ metric: { source_workload: name }, value: [now, "12.5"] }))
            : [{ metric: {}, value: [now, "12.5"] }]
          : nodes.map(([name, rps]) => ({
              metric: { source_workload: name, source_canonical_service: app, response_code: "200" },
              value: [now, String(rps)],
            }));
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    ref.self = new PrometheusAnswers(server, `http://127.0.0.1:${port}`);
    return ref.self;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => { resolve(); }));
  }
}
