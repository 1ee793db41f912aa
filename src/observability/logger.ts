// pino JSON logs. Every line about an object carries its namespace and name (child loggers).
import { pino, type Logger } from "pino";

export type { Logger };

export function makeLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { component: "xrayr-mesh-operator" },
      // Kubernetes client errors can echo request URLs and headers; bearer tokens never belong
      // in a log line, whatever carries them.
      redact: { paths: ["*.headers.authorization", "*.headers.Authorization", "*.token", "*.bearerToken"], censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Written asynchronously, in batches under load: a synchronous write per line was a sixth
    // of the operator's CPU in a backfill (make bench-scale). pino flushes what is buffered when
    // the process exits.
    pino.destination({ sync: false }),
  );
}
