import * as k8s from "@kubernetes/client-node";
import { PrometheusClient } from "../traffic/prometheus.js";
import { runVerify } from "./verify.js";

const ctx = { kc: new k8s.KubeConfig(), namespace: "airport-prod", server: "https://k8s.invalid" };
const opts = { window: "10m", xboardWorkload: "xboard", app: "xrayr", output: "table" as const };

describe("verify never prints Prometheus credentials", () => {
  test("a URL with credentials is refused before any request, in one sentence without them", async () => {
    const run = runVerify(ctx, { ...opts, prometheus: "https://admin:hunter2@prom.example/prometheus?x=1" });
    await expect(run).rejects.toMatchObject({
      exitCode: 2,
      message:
        '--prometheus / PROMETHEUS_URL "https://prom.example/prometheus" must not carry credentials (user:password@): verify sends none and they would end up in error messages, as the operator\'s PROMETHEUS_URL refuses them too.',
    });
  });

  test("the client's own errors carry no credentials either (undici quotes the whole URL)", async () => {
    const err = await new PrometheusClient("http://admin:hunter2@127.0.0.1:9/").query("up").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain("Prometheus at http://127.0.0.1:9/ did not answer");
    expect((err as Error).message).not.toContain("hunter2");
    expect((err as Error).message).not.toContain("admin");
  });
});
