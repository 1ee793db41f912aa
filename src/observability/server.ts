// /metrics, /healthz and /readyz on one small HTTP server. Ready means the caches are synced:
// a standby replica is ready too, so a rollout never waits on leadership.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface Probes {
  live: () => boolean;
  ready: () => boolean;
}

/** `extra`: more of the exposition, appended to the registry's (node-info.ts). */
export function startServer(host: string, port: number, registry: Registry, probes: Probes, extra: () => string = () => ""): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const probe = (ok: boolean) => {
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not ready\n");
    };
    if (req.method !== "GET") {
      res.writeHead(405).end();
    } else if (path === "/metrics") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body + extra()),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === "/healthz") {
      probe(probes.live());
    } else if (path === "/readyz") {
      probe(probes.ready());
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
