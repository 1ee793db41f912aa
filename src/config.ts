// Operator configuration, from the environment only, validated up front: a bad value stops
// the process at start with the variable's name, never later in a reconcile.
import { hostname } from "node:os";
import { z } from "zod";
import { RETRY_JITTER } from "./controller/leaderelection.js";
import { DEFAULT_XBOARD_WORKLOAD, DNS1123_LABEL_PATTERN, LABEL_VALUE_NONEMPTY_PATTERN, regex } from "./api/v1alpha1/patterns.js";
import { safeUrl, urlHasCredentials } from "./observability/redact.js";
import { PROMQL_DURATION } from "./traffic/queries.js";

const seconds = (def: number) => z.coerce.number().positive().max(3600).default(def);
const bool = (def: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .default(def ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");

const dnsLabel = regex(DNS1123_LABEL_PATTERN);
const labelValue = regex(LABEL_VALUE_NONEMPTY_PATTERN);

// Each variable's meaning (and, where the default is worked out at start, how it reads) is its
// metadata: README's environment table is generated from this schema (make generate).
export const envSchema = z.object({
  AIRPORT_NAMESPACE: z
    .string()
    .regex(dnsLabel, "must be a namespace name (DNS-1123 label)")
    .max(63)
    .default("airport-prod")
    .meta({ description: "namespace watched (XrayrNodes, entries, groups, the Lease)" }),
  AIRPORT_KUBECONFIG: z.string().min(1).optional().meta({ description: "kubeconfig file", shown: "in-cluster" }),
  KUBECONFIG: z.string().min(1).optional().meta({ description: "kubeconfig file, when AIRPORT_KUBECONFIG is unset", shown: "in-cluster" }),
  WORKLOAD_SERVICE_ACCOUNT: z
    .union([z.literal(""), z.string().regex(dnsLabel, "must be a ServiceAccount name or empty").max(63)])
    .default("xrayr-vm")
    .meta({ description: "`spec.serviceAccount` of every entry (empty: none)" }),
  WORKLOAD_APP_LABEL: z.string().regex(labelValue, "must be a label value").max(63).default("xrayr").meta({ description: "the entries' `app` label (Kiali's app name)" }),
  ADDRESS_POLICY: z
    .enum(["public", "any"])
    .default("public")
    .meta({
      description:
        "`public` refuses loopback, private, link-local, CGNAT, multicast, unspecified, reserved and documentation ranges; `any` accepts them",
    }),
  LEADER_ELECTION: bool(true).meta({ description: "Lease-based leader election (only the leader writes)" }),
  LEASE_NAME: z.string().regex(dnsLabel).max(63).default("xrayr-mesh-operator").meta({ description: "the Lease's name" }),
  LEASE_DURATION_SECONDS: seconds(15).meta({ description: "how long a leader's Lease lasts without a renewal" }),
  RENEW_DEADLINE_SECONDS: seconds(10).meta({ description: "how long a leader keeps trying to renew before it stops writing" }),
  RETRY_PERIOD_SECONDS: seconds(2).meta({ description: "how often the Lease is tried (renewed, or campaigned for)" }),
  POD_NAME: z.string().min(1).optional().meta({ description: "leader identity", shown: "hostname-pid" }),
  METRICS_ADDR: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, "must be host:port, e.g. 0.0.0.0:8080")
    .default("0.0.0.0:8080")
    .meta({ description: "`/metrics`, `/healthz`, `/readyz`" }),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info").meta({ description: "pino level" }),
  WORKERS: z.coerce.number().int().min(1).max(64).default(4).meta({ description: "concurrent reconciles (never two for one node)" }),
  RESYNC_SECONDS: z.coerce.number().positive().max(86400).default(300).meta({ description: "full resync period (a steady-state resync writes nothing)" }),
  // Measured (docs/benchmarks.md "istiod at fleet scale", 2026-12-07): without the optional
  // ServiceEntry istiod took a 10,000 VPS backfill at the operator's own ~73 entries/s (137 s)
  // with every Xboard sidecar keeping pace, at 1.6 istiod CPU-ms per entry; the operator alone
  // (no istiod on the machine) does ~95/s. 100/s is above both, so a 10,000 backfill is not
  // slowed (>= 100 s, against 105-140 s measured), while a faster operator (more WORKERS, a
  // faster API server) cannot hand istiod more than ~0.16 CPU of entry events. Lower it for a
  // small istiod; Istio's own auto-registration deletes at 20/s.
  ENTRY_WRITES_PER_SECOND: z.coerce
    .number()
    .min(1)
    .max(10000)
    .default(100)
    .meta({
      description:
        "the pace of WorkloadEntry creates, updates and deletes (each is istiod work and a push to every Xboard sidecar): a token bucket with one second's burst; see `xrayr_mesh_entry_write_wait_seconds`",
    }),
  PROMETHEUS_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL of a Prometheus server" })
    .optional()
    .meta({ description: "with it, the leader writes `status.traffic` (requests/min, error ratio, p99, last seen) shown by `kubectl get xn`", shown: "unset (off)" }),
  XBOARD_WORKLOAD: z
    .string()
    .regex(labelValue, "must be a workload name")
    .max(63)
    .default(DEFAULT_XBOARD_WORKLOAD)
    .meta({ description: "the destination workload of `status.traffic`" }),
  // Two XrayR update periods (60 s each): a window that can fall between two polls of a node
  // would flip it between Active and Silent, and every flip is a write.
  TRAFFIC_WINDOW: z.string().regex(PROMQL_DURATION, "must be a PromQL duration such as 2m").default("2m").meta({ description: "the rate window of `status.traffic`" }),
  TRAFFIC_POLL_SECONDS: z.coerce.number().min(1).max(3600).default(20).meta({ description: "the poll period of `status.traffic`" }),
  TRAFFIC_MIN_WRITE_SECONDS: z.coerce
    .number()
    .min(0)
    .max(86400)
    .default(300)
    .meta({ description: "at most one traffic write per node per period; sooner (but not within a minute of the last) when a node goes silent/active or crosses the error ratio" }),
  TRAFFIC_ERROR_THRESHOLD: z.coerce.number().min(0).max(1).default(0.01).meta({ description: "the error ratio a node is failing above (recovery: under half of it)" }),
  // The whole fleet's status.traffic writes, not one node's: at 10,000 nodes a per-node
  // interval alone would be ~30 writes/s of refreshes.
  TRAFFIC_MAX_WRITES_PER_SECOND: z.coerce
    .number()
    .min(0.1)
    .max(1000)
    .default(5)
    .meta({
      description:
        "the whole fleet's budget for `status.traffic` writes, spaced over each poll: silent/active changes first, then error crossings, first numbers, refreshes (oldest first); what does not fit waits a poll",
    }),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  namespace: string;
  kubeconfig: string | undefined;
  serviceAccount: string;
  appLabel: string;
  addressPolicy: "public" | "any";
  leaderElection: { enabled: boolean; leaseName: string; identity: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  metrics: { host: string; port: number };
  logLevel: Env["LOG_LEVEL"];
  workers: number;
  resyncMs: number;
  entryWritesPerSecond: number;
  /** Off (undefined) unless PROMETHEUS_URL is set. */
  traffic:
    | { prometheusUrl: string; destination: string; window: string; pollMs: number; minWriteMs: number; errorThreshold: number; maxWritesPerSecond: number }
    | undefined;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = envSchema.safeParse(pick(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const variable = String(i.path[0] ?? "?");
      return `${variable}=${JSON.stringify(safeUrl(env[variable] ?? ""))}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${lines.join("; ")}`);
  }
  const e = parsed.data;
  // client-go's rules, which the elector enforces too: the leader must give up before a standby
  // may take over, and must get more than one jittered retry in before giving up.
  if (!(e.RETRY_PERIOD_SECONDS * RETRY_JITTER < e.RENEW_DEADLINE_SECONDS && e.RENEW_DEADLINE_SECONDS < e.LEASE_DURATION_SECONDS)) {
    throw new ConfigError(
      `invalid configuration: need RETRY_PERIOD_SECONDS (${e.RETRY_PERIOD_SECONDS}) x ${RETRY_JITTER} < RENEW_DEADLINE_SECONDS (${e.RENEW_DEADLINE_SECONDS}) < LEASE_DURATION_SECONDS (${e.LEASE_DURATION_SECONDS})`,
    );
  }
  if (e.PROMETHEUS_URL !== undefined && urlHasCredentials(e.PROMETHEUS_URL)) {
    throw new ConfigError(`invalid configuration: PROMETHEUS_URL=${JSON.stringify(safeUrl(e.PROMETHEUS_URL))}: must not carry credentials (they would end up in error messages)`);
  }
  const sep = e.METRICS_ADDR.lastIndexOf(":");
  const host = e.METRICS_ADDR.slice(0, sep).replace(/^\[|\]$/g, "");
  const port = Number(e.METRICS_ADDR.slice(sep + 1));
  if (port > 65535) throw new ConfigError(`invalid configuration: METRICS_ADDR=${JSON.stringify(e.METRICS_ADDR)}: port out of range`);
  return {
    namespace: e.AIRPORT_NAMESPACE,
    kubeconfig: e.AIRPORT_KUBECONFIG ?? e.KUBECONFIG,
    serviceAccount: e.WORKLOAD_SERVICE_ACCOUNT,
    appLabel: e.WORKLOAD_APP_LABEL,
    addressPolicy: e.ADDRESS_POLICY,
    leaderElection: {
      enabled: e.LEADER_ELECTION,
      leaseName: e.LEASE_NAME,
      identity: e.POD_NAME ?? `${hostname()}-${process.pid}`,
      leaseDurationMs: e.LEASE_DURATION_SECONDS * 1000,
      renewDeadlineMs: e.RENEW_DEADLINE_SECONDS * 1000,
      retryPeriodMs: e.RETRY_PERIOD_SECONDS * 1000,
    },
    metrics: { host: host === "" ? "0.0.0.0" : host, port },
    logLevel: e.LOG_LEVEL,
    workers: e.WORKERS,
    resyncMs: e.RESYNC_SECONDS * 1000,
    entryWritesPerSecond: e.ENTRY_WRITES_PER_SECOND,
    traffic:
      e.PROMETHEUS_URL === undefined
        ? undefined
        : {
            prometheusUrl: e.PROMETHEUS_URL,
            destination: e.XBOARD_WORKLOAD,
            window: e.TRAFFIC_WINDOW,
            pollMs: e.TRAFFIC_POLL_SECONDS * 1000,
            minWriteMs: e.TRAFFIC_MIN_WRITE_SECONDS * 1000,
            errorThreshold: e.TRAFFIC_ERROR_THRESHOLD,
            maxWritesPerSecond: e.TRAFFIC_MAX_WRITES_PER_SECOND,
          },
  };
}

// Empty strings count as unset, as they do for most operators' env handling.
function pick(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    if (v !== undefined && (v !== "" || key === "WORKLOAD_SERVICE_ACCOUNT")) out[key] = v;
  }
  return out;
}
