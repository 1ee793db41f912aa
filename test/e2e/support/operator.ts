// Runs the real operator (the image's ENTRYPOINT: node, its flags, dist/bundle/operator.mjs) as child processes under the operator's
// ServiceAccount, each with its own metrics port and log file, and stops them by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { operatorArgv } from "./entrypoint.js";
import { lab, NAMESPACE, REPO } from "./lab.js";
import { registerLabProcess } from "./lab-pids.js";
import { parseMetrics, sumMetric, type Sample } from "./metrics.js";
import { pending, waitFor } from "./wait.js";

export const OPERATOR_ARGV = operatorArgv(REPO, process.env.E2E_NODE ?? process.execPath);
export const OPERATOR_JS = OPERATOR_ARGV.at(-1) ?? "";

export interface OperatorOptions {
  /** Identity (POD_NAME) and log-file name; unique per process in a run. */
  name: string;
  addressPolicy?: "public" | "any";
  leaderElection?: boolean;
  /** The kubeconfig it connects with; the suite's ServiceAccount kubeconfig by default (a fault proxy's, see fault-proxy.ts). */
  kubeconfig?: string;
  /** Extra environment, e.g. LEASE_DURATION_SECONDS or RESYNC_SECONDS. */
  env?: Record<string, string>;
  /** Turns the operator's argv into the one to spawn, e.g. MemoryCgroup.wrap (same pid: it execs). */
  wrap?: (argv: readonly string[]) => string[];
}

/** A free loopback TCP port (bound and released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

const running = new Set<OperatorProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test file dies without its afterAll: no operator outlives the runner.
  process.on("exit", () => {
    for (const op of running) op.killNow();
  });
}

let sequence = 0;

export class OperatorProcess {
  readonly logFile: string;
  readonly metricsUrl: string;
  private readonly child: ChildProcess;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly env: Record<string, string>,
    wrap: (argv: readonly string[]) => string[] = (argv) => [...argv],
  ) {
    const state = lab();
    const logDir = join(state.stateDir, "logs");
    mkdirSync(logDir, { recursive: true });
    this.logFile = join(logDir, `${String(++sequence).padStart(2, "0")}-${name}-${process.pid}.log`);
    this.metricsUrl = `http://127.0.0.1:${port}`;
    const fd = openSync(this.logFile, "a");
    try {
      const [command = "", ...args] = wrap(OPERATOR_ARGV);
      this.child = spawn(command, args, {
        cwd: REPO,
        env,
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        resolve({ code, signal });
      });
    });
    running.add(this);
    installExitHook();
    registerLabProcess(`e2e-operator-${name}`, this.child.pid, this.exited);
  }

  /** Starts one operator process; does not wait for it to be ready (see waitReady). */
  static async start(opts: OperatorOptions): Promise<OperatorProcess> {
    if (!existsSync(OPERATOR_JS)) throw new Error(`${OPERATOR_JS} does not exist: run npm run build first`);
    const state = lab();
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      AIRPORT_NAMESPACE: NAMESPACE,
      AIRPORT_KUBECONFIG: opts.kubeconfig ?? state.operatorKubeconfig,
      ADDRESS_POLICY: opts.addressPolicy ?? "any",
      LEADER_ELECTION: String(opts.leaderElection ?? false),
      POD_NAME: opts.name,
      METRICS_ADDR: `127.0.0.1:${port}`,
      LOG_LEVEL: process.env.E2E_OPERATOR_LOG_LEVEL ?? "info",
      ...opts.env,
    };
    return new OperatorProcess(opts.name, port, env, opts.wrap);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Waits until /readyz answers 200 (informers synced); fails early if the process exits. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `operator ${this.name} /readyz`,
      async () => {
        if (this.exit !== undefined) throw new Error(`operator ${this.name} exited (${JSON.stringify(this.exit)}):\n${this.logTail()}`);
        try {
          const r = await fetch(`${this.metricsUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
          return r.status === 200 ? true : pending(`HTTP ${r.status}`);
        } catch (err) {
          return pending(err);
        }
      },
      { timeoutMs, intervalMs: 100 },
    ).catch((err: unknown) => {
      if (this.exit !== undefined) throw new Error(`operator ${this.name} exited (${JSON.stringify(this.exit)}):\n${this.logTail()}`);
      throw err;
    });
  }

  async metrics(): Promise<Sample[]> {
    const r = await fetch(`${this.metricsUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (r.status !== 200) throw new Error(`operator ${this.name} /metrics: HTTP ${r.status}`);
    return parseMetrics(await r.text());
  }

  /** Sum of xrayr_mesh_kube_writes_total over all label sets (optionally filtered). */
  async writes(filter: Record<string, string> = {}): Promise<number> {
    return sumMetric(await this.metrics(), "xrayr_mesh_kube_writes_total", filter);
  }

  async isLeader(): Promise<boolean> {
    return sumMetric(await this.metrics(), "xrayr_mesh_leader") === 1;
  }

  /** Sends SIGTERM and waits for the exit (SIGKILL after graceMs). */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exit !== undefined) return this.exit;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => {
        resolve("timeout");
      }, graceMs);
    });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === "timeout") {
      this.child.kill("SIGKILL");
      await this.exited;
      throw new Error(`operator ${this.name} ignored SIGTERM for ${graceMs} ms (killed):\n${this.logTail()}`);
    }
    return r;
  }

  /** SIGKILL, and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Synchronous SIGKILL for exit hooks. */
  killNow(): void {
    if (this.exit === undefined) this.child.kill("SIGKILL");
  }

  /** The last lines of the process's output (pino JSON), each cut to a readable length. */
  logTail(lines = 40): string {
    let text: string;
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      return `(no log at ${this.logFile})`;
    }
    const all = text.split("\n").filter((l) => l !== "");
    const tail = all.slice(-lines).map((l) => (l.length > 500 ? `${l.slice(0, 500)}...` : l));
    return `--- ${this.name} (pid ${this.pid ?? "?"}, ${this.alive ? "running" : `exited ${JSON.stringify(this.exit)}`}) ${this.logFile}, last ${tail.length} of ${all.length} lines:\n${tail.join("\n")}`;
  }

  /** Log lines (parsed pino records) matching a predicate. */
  logRecords(match: (rec: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] {
    let text: string;
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      return [];
    }
    const out: Record<string, unknown>[] = [];
    for (const line of text.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (match(rec)) out.push(rec);
      } catch {
        // not a JSON line
      }
    }
    return out;
  }
}

/** Every operator process of this test file that is still running. */
export function runningOperators(): OperatorProcess[] {
  return [...running];
}

/** Stops every operator this test file started (SIGTERM, then SIGKILL). */
export async function stopAllOperators(): Promise<void> {
  await Promise.all(
    [...running].map((op) =>
      op.stop(10_000).catch(() => {
        // killed after the grace period; logged by stop's error, nothing else to do here
      }),
    ),
  );
}

const started: OperatorProcess[] = [];

/** Starts an operator, remembers it for failure reports, and waits until it is ready. */
export async function startOperator(opts: OperatorOptions, { ready = true }: { ready?: boolean } = {}): Promise<OperatorProcess> {
  const op = await OperatorProcess.start(opts);
  started.push(op);
  if (ready) await op.waitReady();
  return op;
}

/** Log tails of the operators started so far, the newest first: the one a failing test started
 * is then the first a reader (or a report cut to its first lines) sees. */
export function operatorLogTails(): string {
  return [...started]
    .reverse()
    .map((op) => op.logTail())
    .join("\n");
}

export function startedCount(): number {
  return started.length;
}
