// An operator replica kept running the way a kubelet keeps a pod's container running: when the
// process exits (it exits 1 on losing the lease, by design) it is started again, same identity
// and kubeconfig, after a short pause.
import { startOperator, type OperatorOptions, type OperatorProcess } from "./operator.js";
import { sleep } from "./wait.js";

export class Supervised {
  restarts = 0;
  private current: OperatorProcess | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: OperatorOptions, private readonly restartDelayMs = 1_000) {}

  start(): void {
    this.loop = this.run();
  }

  get process(): OperatorProcess | undefined {
    return this.current;
  }

  private async run(): Promise<void> {
    while (!this.stopped()) {
      this.current = await startOperator(this.opts, { ready: false });
      await this.current.exited;
      if (this.stopped()) return;
      this.restarts++;
      await sleep(this.restartDelayMs);
    }
  }

  private stopped(): boolean {
    return this.stopping;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.current?.stop().catch(() => undefined);
    await this.loop;
  }
}
