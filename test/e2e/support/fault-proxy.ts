// Drives test/lab/fault-proxy.ts from a test: starts one proxy per client in front of the lab's
// API server, writes a kubeconfig that reaches the API server through it (same user and token
// as the kubeconfig it copies), and sets and clears faults on its control path.
import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parse, stringify } from "yaml";
import type { LogRecord, Match, RuleSpec } from "../../lab/fault-proxy.js";
import { lab, REPO } from "./lab.js";
import { registerLabProcess } from "./lab-pids.js";

export type { LogRecord, Match, RuleSpec };

export interface ProxyStats {
  seen: number;
  faulted: number;
  /** Watch chunks a delay-watch rule held back. */
  delayedChunks: number;
  held: number;
  open: number;
  by: Record<string, number>;
}

interface KubeconfigDoc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  [k: string]: unknown;
}

const running = new Set<FaultProxy>();

export class FaultProxy {
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly url: string,
    /** A copy of the client's kubeconfig whose server is this proxy. */
    readonly kubeconfig: string,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", () => { resolve(); }));
    running.add(this);
    void this.exited.then(() => running.delete(this));
    registerLabProcess(`e2e-fault-proxy-${name}`, child.pid, this.exited);
  }

  /** Starts a proxy in front of the API server of `kubeconfig` (the operator's by default). */
  static async start(name: string, kubeconfig = lab().operatorKubeconfig): Promise<FaultProxy> {
    const doc = parse(readFileSync(kubeconfig, "utf8")) as KubeconfigDoc;
    const cluster = doc.clusters[0]?.cluster;
    const server = cluster?.server;
    const caData = cluster?.["certificate-authority-data"];
    if (typeof server !== "string" || typeof caData !== "string") throw new Error(`${kubeconfig}: no server or certificate-authority-data`);
    const dir = join(lab().stateDir, "fault-proxy");
    mkdirSync(dir, { recursive: true });
    const caFile = join(dir, "ca.crt");
    writeFileSync(caFile, Buffer.from(caData, "base64"));
    const logFd = join(lab().stateDir, "logs", `fault-proxy-${name}.log`);
    const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [join(REPO, "test/lab/fault-proxy.ts"), "--upstream", server, "--ca", caFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr.on("data", (d: Buffer) => { writeFileSync(logFd, d, { flag: "a" }); });
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.once("line", (line) => { resolve((JSON.parse(line) as { port: number }).port); });
      child.once("exit", (code) => { reject(new Error(`fault proxy ${name} exited (${String(code)}) before listening; see ${logFd}`)); });
    });
    const url = `http://127.0.0.1:${port}`;
    const proxied: KubeconfigDoc = { ...doc, clusters: [{ name: doc.clusters[0]?.name ?? "lab", cluster: { server: url, "insecure-skip-tls-verify": true } }] };
    const file = join(dir, `${name}.kubeconfig`);
    writeFileSync(file, stringify(proxied), { mode: 0o600 });
    return new FaultProxy(name, child, url, file);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(`${this.url}/_fault/${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    if (r.status !== 200) throw new Error(`fault proxy ${this.name} ${method} ${path}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  }

  /** Adds a fault rule (replacing one of the same id); returns its id. */
  async add(rule: RuleSpec): Promise<string> {
    return (await this.call<{ id: string }>("POST", "rules", rule)).id;
  }

  /** Ends one rule (all without an id); requests its stalls held are sent upstream now. */
  async clear(id = ""): Promise<number> {
    return (await this.call<{ released: number }>("DELETE", `rules/${id}`)).released;
  }

  /** Destroys every open connection of the client (watches and requests in flight). */
  async cut(): Promise<number> {
    return (await this.call<{ cut: number }>("POST", "cut")).cut;
  }

  stats(): Promise<ProxyStats> {
    return this.call<ProxyStats>("GET", "stats");
  }

  /** Every request seen after sequence number `since`. */
  log(since = 0): Promise<LogRecord[]> {
    return this.call<LogRecord[]>("GET", `log?since=${since}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    await this.exited;
  }
}

/** Stops every proxy this test file started. */
export async function stopAllProxies(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

export interface AttemptPeak {
  /** "verb resource name" of the busiest key. */
  key: string;
  /** The most requests of that key within any `windowMs`. */
  count: number;
  /** The shortest gap between two requests of one key, over all keys (Infinity if none repeats). */
  minGapMs: number;
}

/** The busiest key of the records `pred` picks (named requests only): how close its attempts came. */
export function attemptPeak(records: readonly LogRecord[], windowMs: number, pred: (r: LogRecord) => boolean): AttemptPeak {
  const byKey = new Map<string, number[]>();
  for (const r of records) {
    if (r.name === undefined || !pred(r)) continue;
    const k = `${r.verb} ${r.resource} ${r.name}`;
    byKey.set(k, [...(byKey.get(k) ?? []), r.at]);
  }
  let best: AttemptPeak = { key: "", count: 0, minGapMs: Infinity };
  for (const [key, times] of byKey) {
    let lo = 0;
    for (let hi = 0; hi < times.length; hi++) {
      while ((times[hi] ?? 0) - (times[lo] ?? 0) >= windowMs) lo++;
      if (hi - lo + 1 > best.count) best = { ...best, key, count: hi - lo + 1 };
      if (hi > 0) best.minGapMs = Math.min(best.minGapMs, (times[hi] ?? 0) - (times[hi - 1] ?? 0));
    }
  }
  return best;
}
