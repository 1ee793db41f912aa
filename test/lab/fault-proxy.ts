// A fault proxy between one client (an operator) and the lab's kube-apiserver, on loopback only.
// Plain HTTP in (client-node accepts http:// with insecure-skip-tls-verify), HTTPS out with the
// lab's CA; the client's own Authorization header is passed through, so the API server (and its
// audit log) still sees the client's identity. Faults are rules set on a reserved path prefix
// (/_fault/, which no API path uses), so the test decides when the lab misbehaves:
//   status       answer matching requests with CODE (429 with Retry-After, 500, ...) for a while
//   stall        hold matching requests, unsent, until the rule ends; then send them upstream
//                anyway, even if the client gave up (a stale leader's writes arriving late)
//   delay-watch  hold every chunk of matching watch streams MS after it arrived, in order
//   cut          (one-shot) destroy every open client connection: watches and requests in flight
// Run: node test/lab/fault-proxy.ts --upstream https://127.0.0.1:PORT --ca ca.crt [--port 0]
// Prints one JSON line {"port":N} once listening. Never logs headers (the bearer token).
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";
import { pathToFileURL } from "node:url";

export const CONTROL_PREFIX = "/_fault/";

/** The Kubernetes reading of a request: which verb on which resource (client-go's RequestInfo, reduced). */
export interface KubeRequest {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Parses /api/v1/..., /apis/G/V/... paths; anything else (discovery, /healthz) is resource "". */
export function kubeRequest(method: string, url: string): KubeRequest {
  const u = new URL(url, "http://x");
  const parts = u.pathname.split("/").filter((p) => p !== "");
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === "apis" && parts.length >= 3) rest = parts.slice(3);
  else rest = [];
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = "", name, subresource] = rest;
  const watch = u.searchParams.get("watch");
  const m = method.toUpperCase();
  let verb: string;
  if (m === "GET") verb = watch === "true" || watch === "1" ? "watch" : name === undefined && resource !== "" ? "list" : "get";
  else if (m === "POST") verb = "create";
  else if (m === "PUT") verb = "update";
  else if (m === "PATCH") verb = "patch";
  else if (m === "DELETE") verb = name === undefined ? "deletecollection" : "delete";
  else verb = m.toLowerCase();
  return {
    verb,
    resource,
    ...(subresource !== undefined ? { subresource } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
  };
}

/** Which requests a rule applies to; every given field must hold. */
export interface Match {
  verbs?: string[];
  /** "workloadentries", or with a subresource "xrayrnodes/status". */
  resources?: string[];
  /** A regular expression on the request path and query. */
  path?: string;
}

export function matches(m: Match | undefined, req: KubeRequest, url: string): boolean {
  if (m === undefined) return true;
  if (m.verbs !== undefined && !m.verbs.includes(req.verb)) return false;
  if (m.resources !== undefined) {
    const full = req.subresource !== undefined ? `${req.resource}/${req.subresource}` : req.resource;
    if (!m.resources.includes(full) && !m.resources.includes(req.resource)) return false;
  }
  if (m.path !== undefined && !new RegExp(m.path).test(url)) return false;
  return true;
}

export type RuleSpec =
  | { action: "status"; code: number; retryAfterSeconds?: number; match?: Match; forMs?: number; id?: string }
  | { action: "stall"; match?: Match; forMs?: number; id?: string }
  | { action: "delay-watch"; ms: number; match?: Match; forMs?: number; id?: string };

export interface Rule {
  id: string;
  spec: RuleSpec;
  /** Date.now() after which the rule no longer applies (undefined: until removed). */
  until: number | undefined;
}

/** The first live rule of `action` that applies to the request. */
export function ruleFor(rules: readonly Rule[], action: RuleSpec["action"], req: KubeRequest, url: string, now: number): Rule | undefined {
  return rules.find((r) => r.spec.action === action && (r.until === undefined || now < r.until) && matches(r.spec.match, req, url));
}

/**
 * When each chunk of a delayed stream goes out: `delayMs` after it arrived, but never before the
 * chunk ahead of it, so a delay that ends (or changes) mid-stream never reorders events.
 */
export function releaseAt(arrivedAt: number, delayMs: number, previousReleaseAt: number): number {
  return Math.max(arrivedAt + delayMs, previousReleaseAt);
}

/** A Status body as the API server sends it with its own errors. */
export function statusBody(code: number, message: string): string {
  const reason = code === 429 ? "TooManyRequests" : code === 503 ? "ServiceUnavailable" : code >= 500 ? "InternalError" : "BadRequest";
  return JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
}

export interface LogRecord {
  seq: number;
  at: number;
  verb: string;
  resource: string;
  name?: string;
  /** passed, or the fault applied: status-429, stalled, delayed, cut. */
  outcome: string;
}

// ---- the server -----------------------------------------------------------------------------

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"]);

function headersWithout(h: IncomingMessage["headers"]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  return out;
}

interface Held {
  rule: string;
  release: () => void;
}

class FaultProxy {
  private readonly rules: Rule[] = [];
  private readonly held: Held[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly log: LogRecord[] = [];
  private seq = 0;
  private ids = 0;
  // Watch chunks (events) a delay-watch rule held back, so a test can tell the delay took effect.
  private delayedChunks = 0;
  private readonly agent: Agent;
  private readonly upstream: URL;

  constructor(upstream: string, ca: Buffer) {
    this.upstream = new URL(upstream);
    this.agent = new Agent({ ca, keepAlive: true });
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    if (url.startsWith(CONTROL_PREFIX)) {
      this.control(req, res, url).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(err instanceof Error ? err.message : String(err));
      });
      return;
    }
    const kr = kubeRequest(req.method ?? "GET", url);
    const now = Date.now();
    const record = (outcome: string): void => {
      this.log.push({ seq: ++this.seq, at: Date.now(), verb: kr.verb, resource: kr.subresource !== undefined ? `${kr.resource}/${kr.subresource}` : kr.resource, ...(kr.name !== undefined ? { name: kr.name } : {}), outcome });
      if (this.log.length > 200_000) this.log.splice(0, 50_000);
    };
    const status = ruleFor(this.rules, "status", kr, url, now);
    if (status !== undefined && status.spec.action === "status") {
      record(`status-${status.spec.code}`);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (status.spec.retryAfterSeconds !== undefined) headers["retry-after"] = String(status.spec.retryAfterSeconds);
      req.resume();
      res.writeHead(status.spec.code, headers).end(statusBody(status.spec.code, `fault proxy: rule ${status.id}`));
      return;
    }
    const stall = ruleFor(this.rules, "stall", kr, url, now);
    if (stall !== undefined) {
      record("stalled");
      // Read the body now: the client may give up while it is held, and it is sent regardless.
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.held.push({ rule: stall.id, release: () => { this.forward(req, res, url, kr, Buffer.concat(chunks)); } });
      });
      return;
    }
    record(ruleFor(this.rules, "delay-watch", kr, url, now) !== undefined ? "delayed" : "passed");
    this.forward(req, res, url, kr, req);
  }

  private forward(req: IncomingMessage, res: ServerResponse, url: string, kr: KubeRequest, body: Buffer | IncomingMessage): void {
    const up = httpsRequest(
      {
        protocol: this.upstream.protocol,
        hostname: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: url,
        headers: { ...headersWithout(req.headers), host: this.upstream.host },
        agent: this.agent,
      },
      (upRes) => {
        if (res.destroyed || res.writableEnded) {
          upRes.resume(); // a stalled request whose client left: sent all the same, answer dropped
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, headersWithout(upRes.headers));
        if (kr.verb === "watch") upRes.pipe(this.watchDelay(kr, url)).pipe(res);
        else upRes.pipe(res);
        res.on("close", () => { upRes.destroy(); });
      },
    );
    up.on("error", (err) => {
      if (!res.headersSent && !res.destroyed) res.writeHead(502, { "content-type": "application/json" }).end(statusBody(502, `fault proxy: upstream ${err.message}`));
      else res.destroy();
    });
    res.on("close", () => {
      // A client that left before the answer does not cancel a request already sent upstream.
      if (!up.writableEnded) up.destroy();
    });
    if (Buffer.isBuffer(body)) up.end(body);
    else body.pipe(up);
  }

  private watchDelay(kr: KubeRequest, url: string): Transform {
    let last = 0;
    let pendingCount = 0;
    let flushCallback: TransformCallback | undefined;
    const rules = this.rules;
    const counted = (): void => { this.delayedChunks++; };
    return new Transform({
      transform(chunk: Buffer, _enc, cb): void {
        const now = Date.now();
        const rule = ruleFor(rules, "delay-watch", kr, url, now);
        const ms = rule !== undefined && rule.spec.action === "delay-watch" ? rule.spec.ms : 0;
        last = releaseAt(now, ms, last);
        const wait = last - now;
        if (wait <= 0 && pendingCount === 0) {
          cb(null, chunk);
          return;
        }
        pendingCount++;
        if (ms > 0) counted();
        setTimeout(() => {
          this.push(chunk);
          pendingCount--;
          if (pendingCount === 0 && flushCallback !== undefined) flushCallback();
        }, wait);
        cb();
      },
      flush(cb): void {
        if (pendingCount === 0) cb();
        else flushCallback = cb;
      },
    });
  }

  private async control(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const path = url.slice(CONTROL_PREFIX.length).split("?")[0] ?? "";
    const json = (code: number, body: unknown): void => { res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body)); };
    const body = async (): Promise<unknown> => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString("utf8");
      return text === "" ? {} : JSON.parse(text);
    };
    if (req.method === "POST" && path === "rules") {
      const spec = (await body()) as RuleSpec;
      const id = spec.id ?? `r${++this.ids}`;
      this.remove(id);
      const rule: Rule = { id, spec, until: spec.forMs !== undefined ? Date.now() + spec.forMs : undefined };
      this.rules.push(rule);
      if (rule.until !== undefined) setTimeout(() => { if (this.rules.includes(rule)) this.remove(id); }, spec.forMs).unref();
      json(200, { id });
    } else if (req.method === "DELETE" && path.startsWith("rules")) {
      const id = path.slice("rules/".length);
      json(200, { released: id === "" ? this.removeAll() : this.remove(id) });
    } else if (req.method === "POST" && path === "cut") {
      let n = 0;
      for (const s of this.sockets) {
        if (s === req.socket) continue;
        s.destroy();
        n++;
      }
      this.log.push({ seq: ++this.seq, at: Date.now(), verb: "-", resource: "-", outcome: `cut-${n}` });
      json(200, { cut: n });
    } else if (req.method === "GET" && path === "log") {
      const since = Number(new URL(url, "http://x").searchParams.get("since") ?? "0");
      json(200, this.log.filter((r) => r.seq > since));
    } else if (req.method === "GET" && path === "stats") {
      const by: Record<string, number> = {};
      for (const r of this.log) by[`${r.verb} ${r.resource} ${r.outcome}`] = (by[`${r.verb} ${r.resource} ${r.outcome}`] ?? 0) + 1;
      json(200, { seen: this.log.filter((r) => r.verb !== "-").length, faulted: this.log.filter((r) => r.outcome !== "passed").length, delayedChunks: this.delayedChunks, held: this.held.length, open: this.sockets.size, rules: this.rules, by });
    } else {
      json(404, { error: `no control endpoint ${req.method ?? ""} ${path}` });
    }
  }

  /** Removes a rule; requests its stall held are sent upstream now. Returns how many. */
  private remove(id: string): number {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i >= 0) this.rules.splice(i, 1);
    const mine = this.held.filter((h) => h.rule === id);
    for (const h of mine) this.held.splice(this.held.indexOf(h), 1);
    for (const h of mine) h.release();
    return mine.length;
  }

  private removeAll(): number {
    return this.rules.map((r) => r.id).reduce((n, id) => n + this.remove(id), 0);
  }

  listen(port: number): Promise<number> {
    const server = createServer((req, res) => { this.handle(req, res); });
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    // Watches stay open for minutes; Node's default request timeout would cut them.
    server.requestTimeout = 0;
    server.headersTimeout = 0;
    return new Promise((resolve) => {
      server.listen(port, "127.0.0.1", () => {
        const a = server.address();
        resolve(typeof a === "object" && a !== null ? a.port : port);
      });
    });
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const upstream = arg("upstream");
  const ca = arg("ca");
  if (upstream === undefined || ca === undefined) throw new Error("usage: fault-proxy.ts --upstream https://127.0.0.1:PORT --ca CA.crt [--port N]");
  const proxy = new FaultProxy(upstream, readFileSync(ca));
  const port = await proxy.listen(Number(arg("port") ?? "0"));
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`fault-proxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
