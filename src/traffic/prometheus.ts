import { networkCause } from "../controller/api-errors.js";
import { redactUrls, safeUrl } from "../observability/redact.js";

// The Prometheus HTTP API client: instant queries only. Kept at the edge so everything that
// interprets results stays pure. URLs are printed without credentials or query strings.

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export class PrometheusError extends Error {
  override readonly name = "PrometheusError";
}

interface QueryResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { metric?: Record<string, string>; value?: [number, string] }[] };
}

export class PrometheusClient {
  private readonly base: URL;

  constructor(url: string, private readonly timeoutMs = 10_000) {
    try {
      this.base = new URL(url.endsWith("/") ? url : `${url}/`);
    } catch {
      throw new PrometheusError(`the Prometheus URL ${JSON.stringify(safeUrl(url))} is not a valid URL.`);
    }
  }

  /** Where the client points, safe to print. */
  get where(): string {
    return safeUrl(this.base.toString());
  }

  async query(promql: string, at?: Date): Promise<Sample[]> {
    const url = new URL("api/v1/query", this.base);
    const body = new URLSearchParams({ query: promql });
    if (at !== undefined) body.set("time", String(at.getTime() / 1000));
    let res: Response;
    try {
      res = await fetch(url, { method: "POST", body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const why = networkCause(err) ?? redactUrls(err instanceof Error ? err.message : String(err));
      throw new PrometheusError(`Prometheus at ${this.where} did not answer (${why}): check --prometheus / PROMETHEUS_URL and that Prometheus is running.`);
    }
    let json: QueryResponse;
    try {
      json = (await res.json()) as QueryResponse;
    } catch {
      throw new PrometheusError(`Prometheus at ${this.where} answered HTTP ${res.status} with a body that is not JSON.`);
    }
    if (json.status !== "success" || json.data?.resultType !== "vector") {
      throw new PrometheusError(`Prometheus at ${this.where} refused the query: ${json.error ?? `HTTP ${res.status}`}.`);
    }
    return (json.data.result ?? []).map((r) => ({ metric: r.metric ?? {}, value: Number(r.value?.[1]) }));
  }
}

