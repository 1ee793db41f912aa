// An operator replica kept running the way a kubelet keeps a pod's container running: when the
// process exits (it exits 1 on losing the lease, by design) it is started again, same identity
// and kubeconfig, after a short pause.
import { startOperator, type OperatorOptions, type OperatorProcess } from "./operator.js";
import { sleep } from "./wait.js";

const supervising = new Set<Supervised>();

/** Stops every supervised replica of this test file (before the harness stops operators, or they come back). */
export async function stopAllSupervised(): Promise<void> {
  await Promise.all([...supervising].map((s) => s.stop()));
}

export class Supervised {
  restarts = 0;
  private current: OperatorProcess | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: OperatorOptions, private readonly restartDelayMs = 1_000) {}

  start(): void {
    supervising.add(this);
    this.loop = this.run();
  }

  get process(): OperatorProcess | undefined {
    return this.current;
  }

  private async run(): Promise<void> {
    while (!this.stopped()) {
      this.current = await startOperator(this.opts, { ready: false });
      // stop() may have come while it was starting, and found the previous process.
      if (this.stopped()) await this.current.stop().catch(() => undefined);
      await this.current.exited;
      if (this.stopped()) return;
      this.restarts++;
      await sleep(this.restartDelayMs);
    }
    this.current = undefined;
  }

  private stopped(): boolean {
    return this.stopping;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    supervising.delete(this);
    await this.current?.stop().catch(() => undefined);
    await this.loop;
  }
}
