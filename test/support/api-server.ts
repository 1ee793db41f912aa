// A local HTTP server standing in for the API server in unit tests of the edges (the writer, the
// operator's caches): it records every request and answers each with what the test's handler
// returns, and hands out a KubeConfig pointing at it. What a real API server does with the same
// requests is the e2e suite's to show; this shows what the edge sends and how it reads answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

export interface Recorded {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The body: parsed when it is JSON, else its text (a form, say); undefined when empty. */
  body: unknown;
}

/** An answer: a status and a JSON body; `hold` keeps the response open (a watch) until the server closes. */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | { hold: true };

export class FakeApiServer {
  readonly requests: Recorded[] = [];
  private server: Server | undefined;
  private readonly held = new Set<ServerResponse>();

  constructor(private handler: (req: Recorded) => Answer) {}

  /** Replaces the handler (a test's later phase). */
  answer(handler: (req: Recorded) => Answer): void {
    this.handler = handler;
  }

  async start(): Promise<KubeConfig> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const text = Buffer.concat(chunks).toString("utf8");
        const body = text === "" ? undefined : parsed(text);
        const recorded: Recorded = { method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers, body };
        this.requests.push(recorded);
        const answer = this.handler(recorded);
        if ("hold" in answer) {
          res.writeHead(200, { "content-type": "application/json" });
          this.held.add(res);
          res.on("close", () => this.held.delete(res));
          return;
        }
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "fake", token: "unit-test" }],
      contexts: [{ name: "fake", cluster: "fake", user: "fake", namespace: "airport-prod" }],
      currentContext: "fake",
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  }
}

// JSON (server-side apply sends it as YAML's JSON subset), else the text (a form, say).
function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The API server's Status body for a failed call. */
export function status(code: number, reason: string, message: string): { status: number; body: unknown } {
  return { status: code, body: { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message } };
}
