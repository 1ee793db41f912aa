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
  const operator = await startOperator(config, log, new OperatorMetrics());
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: draining in-flight work and releasing the lease");
    operator.stop().catch((err: unknown) => { log.error({ err }, "stop failed"); });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const how = await operator.done;
  log.info({ how }, "operator stopped");
  return how === "lost-leadership" ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`xrayr-mesh-operator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
