#!/usr/bin/env node
// The operator process: read config from the environment, run until SIGTERM/SIGINT, exit
// non-zero if leadership is lost (a fresh process re-campaigns with clean caches).
import { ConfigError, loadConfig } from "../config.js";
import { makeLogger } from "../observability/logger.js";
import { OperatorMetrics } from "../observability/metrics.js";
import { startOperator } from "../operator.js";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`xrayr-mesh-operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = makeLogger(config.logLevel);
  // Handlers first: a SIGTERM during start-up (a rollout while caches sync) must still end the
  // process promptly; there is nothing to drain yet.
  const handle: { stop?: () => Promise<void> } = {};
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    if (handle.stop === undefined) {
      log.info({ signal }, "stopping during start-up");
      process.exit(0);
    }
    log.info({ signal }, "stopping: draining in-flight work and releasing the lease");
    handle.stop().catch((err: unknown) => { log.error({ err }, "stop failed"); });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const operator = await startOperator(config, log, new OperatorMetrics());
  handle.stop = () => operator.stop();
  const how = await operator.done;
  log.info({ how }, "operator stopped");
  return how === "lost-leadership" ? 1 : 0;
}

// Explicit exits: after a fatal error, open handles (sockets, timers) must not keep a process
// alive that no longer works.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`xrayr-mesh-operator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
