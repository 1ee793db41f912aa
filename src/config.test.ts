import { ConfigError, loadConfig } from "./config.js";

describe("loadConfig", () => {
  test("defaults suit airport-prod", () => {
    const c = loadConfig({ POD_NAME: "op-0" });
    expect(c).toMatchObject({
      namespace: "airport-prod",
      serviceAccount: "xrayr-vm",
      appLabel: "xrayr",
      addressPolicy: "public",
      workers: 4,
      resyncMs: 300_000,
      entryWritesPerSecond: 100,
      metrics: { host: "0.0.0.0", port: 8080 },
      leaderElection: { enabled: true, identity: "op-0", leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  });

  test("AIRPORT_KUBECONFIG wins over KUBECONFIG", () => {
    expect(loadConfig({ KUBECONFIG: "/a", AIRPORT_KUBECONFIG: "/b" }).kubeconfig).toBe("/b");
    expect(loadConfig({ KUBECONFIG: "/a" }).kubeconfig).toBe("/a");
  });

  test.each([
    ["ADDRESS_POLICY", "private", "ADDRESS_POLICY=\"private\""],
    ["AIRPORT_NAMESPACE", "Airport_Prod", "AIRPORT_NAMESPACE=\"Airport_Prod\""],
    ["LEADER_ELECTION", "maybe", "LEADER_ELECTION=\"maybe\""],
    ["WORKERS", "0", "WORKERS=\"0\""],
    ["METRICS_ADDR", "8080", "METRICS_ADDR=\"8080\""],
    ["ENTRY_WRITES_PER_SECOND", "0", "ENTRY_WRITES_PER_SECOND=\"0\""],
    ["ENTRY_WRITES_PER_SECOND", "fast", "ENTRY_WRITES_PER_SECOND=\"fast\""],
  ])("a bad %s fails fast naming the variable and value", (name, value, expected) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(expected);
  });

  test("lease timings must nest as the elector needs them", () => {
    expect(() => loadConfig({ RENEW_DEADLINE_SECONDS: "20" })).toThrow(/RENEW_DEADLINE_SECONDS \(20\) < LEASE_DURATION_SECONDS \(15\)/);
    // 9 < 10 < 15, but a retry of up to 9 x 1.2 s could outlast the renew deadline.
    expect(() => loadConfig({ RETRY_PERIOD_SECONDS: "9" })).toThrow(/RETRY_PERIOD_SECONDS \(9\) x 1.2 < RENEW_DEADLINE_SECONDS \(10\)/);
  });

  test("a Prometheus URL with credentials is refused without printing them", () => {
    const attempt = () => loadConfig({ PROMETHEUS_URL: "https://ops:s3cret@prometheus.example/" });
    expect(attempt).toThrow(/PROMETHEUS_URL="https:\/\/prometheus.example\/": must not carry credentials/);
    expect(attempt).not.toThrow(/s3cret/);
  });

  test("an empty WORKLOAD_SERVICE_ACCOUNT leaves entries without one", () => {
    expect(loadConfig({ WORKLOAD_SERVICE_ACCOUNT: "" }).serviceAccount).toBe("");
  });

  test("traffic status is off by default and on with a Prometheus URL", () => {
    expect(loadConfig({}).traffic).toBeUndefined();
    expect(loadConfig({ PROMETHEUS_URL: "http://prometheus.istio-system:9090" }).traffic).toEqual({
      prometheusUrl: "http://prometheus.istio-system:9090",
      destination: "xboard",
      window: "2m",
      pollMs: 20_000,
      minWriteMs: 300_000,
      errorThreshold: 0.01,
      maxWritesPerSecond: 5,
    });
    expect(() => loadConfig({ PROMETHEUS_URL: "prometheus:9090" })).toThrow(/PROMETHEUS_URL="prometheus:9090"/);
  });

  test("IPv6 metrics address", () => {
    expect(loadConfig({ METRICS_ADDR: "[::1]:9090" }).metrics).toEqual({ host: "::1", port: 9090 });
  });
});
