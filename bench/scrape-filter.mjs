#!/usr/bin/env node
// A scrape target that serves only some metric families of another one: the mesh lab's
// Prometheus scrapes the sidecar stand-in through it when a fleet's full Istio telemetry would not
// fit this machine (bench/kiali-fleet.sh, PROM_KEEP). At 10,000 VPS the stand-in exposes about
// 1.3 million samples per scrape (Istio's default metrics, every histogram bucket); Prometheus
// parses all of them even when its metric_relabel_configs drop most, and on the lab it grew past
// 17 GB doing so. The filter streams the exposition line by line and passes on the `# HELP`,
// `# TYPE` and sample lines of the families whose name matches --keep, so Prometheus only ever
// sees those.
//   node bench/scrape-filter.mjs --upstream http://127.0.0.1:15090/stats/prometheus \
//     --keep '^istio_requests_total$' --listen 127.0.0.1:0 --ready-file FILE
/* global URL */
import { writeFileSync } from "node:fs";
import { createServer, get } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    upstream: { type: "string" },
    keep: { type: "string" },
    listen: { type: "string", default: "127.0.0.1:0" },
    "ready-file": { type: "string" },
  },
});
if (values.upstream === undefined || values.keep === undefined) throw new Error("--upstream URL and --keep REGEX are required");
const upstream = new URL(values.upstream);
const keep = new RegExp(values.keep);

/** The metric family a line belongs to: its name, or the name in `# HELP name` / `# TYPE name`. */
function family(line) {
  const m = /^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  return m === null ? undefined : m[1].replace(/_(bucket|sum|count)$/, "");
}

const server = createServer((req, res) => {
  get(upstream, (up) => {
    res.writeHead(up.statusCode ?? 502, { "content-type": up.headers["content-type"] ?? "text/plain; version=0.0.4" });
    let rest = "";
    up.setEncoding("utf8");
    up.on("data", (chunk) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      const out = lines.filter((l) => {
        const f = family(l);
        return f !== undefined && keep.test(f);
      });
      if (out.length > 0 && !res.write(out.join("\n") + "\n")) {
        up.pause();
        res.once("drain", () => up.resume());
      }
    });
    up.on("end", () => {
      const f = family(rest);
      if (rest !== "" && f !== undefined && keep.test(f)) res.write(rest + "\n");
      res.end();
    });
    up.on("error", () => res.destroy());
  }).on("error", (e) => {
    res.writeHead(502);
    res.end(String(e.message));
  });
  req.resume();
});
const [host, port] = [values.listen.slice(0, values.listen.lastIndexOf(":")), Number(values.listen.slice(values.listen.lastIndexOf(":") + 1))];
server.listen(port, host, () => {
  const { address, port: bound } = server.address();
  if (values["ready-file"] !== undefined) writeFileSync(values["ready-file"], `${address}:${bound}\n`);
});
