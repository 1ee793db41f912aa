// One reading of a failed API call, for every caller: the reconciler's error policy (ApplyFailed
// or ApplyRejected, backoff or a slow retry), the CLI's retries and exit codes, the informer's
// restarts. The words follow the ecosystem's: "terminal" is controller-runtime's "do not retry",
// which no answer of the API server is by itself here, so a refusal is "rejected".
import * as k8s from "@kubernetes/client-node";

export type ApiErrorKind =
  /** Worth trying again soon: timeouts, dropped connections, 429, 5xx, 409 conflicts. */
  | "transient"
  /** The server understood and refused (400, 401, 403, 422, an admission webhook's denial): the
   * same request fails the same way until someone changes something, so it is not worth trying
   * again soon (the reconciler looks again every 15 s, the CLI not at all). */
  | "rejected"
  | "not-found";

export interface ApiErrorClass {
  kind: ApiErrorKind;
  /** The HTTP status, when the server answered. */
  code?: number;
  /** The server's Retry-After, in ms, when it sent one (429, some 503s). */
  retryAfterMs?: number;
}

export function classifyApiError(err: unknown): ApiErrorClass {
  const code = statusCode(err);
  if (code === undefined) return { kind: "transient" };
  const retryAfterMs = retryAfter(err);
  const withRetry = (kind: ApiErrorKind): ApiErrorClass => (retryAfterMs === undefined ? { kind, code } : { kind, code, retryAfterMs });
  if (code === 404 || code === 410) return withRetry("not-found");
  if (code === 409 || code === 429 || code >= 500) return withRetry("transient");
  return withRetry("rejected");
}

/** The HTTP status of a client-node ApiException, if the error is one. */
export function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

/** The API server's own message for a failed call (its Status.message), else the error text. */
export function apiMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    if (typeof body === "string") {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === "string") return parsed.message;
      } catch {
        return `HTTP ${err.code}: ${body.slice(0, 300)}`;
      }
    }
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

// Seconds (the API server's form) or an HTTP date; capped so a bad header cannot park a key.
const RETRY_AFTER_CAP_MS = 5 * 60_000;
function retryAfter(err: unknown): number | undefined {
  if (!(err instanceof k8s.ApiException)) return undefined;
  const headers = err.headers as Record<string, string | undefined>;
  const raw = headers["retry-after"] ?? headers["Retry-After"];
  if (raw === undefined || raw.trim() === "") return undefined;
  const seconds = Number(raw);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, RETRY_AFTER_CAP_MS) : undefined;
}

// The system error codes a failed connection carries, said the way a person reads them.
const NETWORK_CAUSES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "name lookup failed",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  UND_ERR_CONNECT_TIMEOUT: "timed out",
  UND_ERR_SOCKET: "connection closed",
  CERT_HAS_EXPIRED: "its TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "its TLS certificate is not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "its TLS certificate is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its TLS certificate is not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "its TLS certificate is for another name",
};

/**
 * Why a connection failed, for a sentence ("connection refused", "host not found", ...), read
 * from the error's cause chain (fetch's "fetch failed" wraps the socket's error, client-node
 * may wrap that once more); undefined when it is not a connection failure.
 */
export function networkCause(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== null && typeof e === "object"; depth++) {
    const { code, name, errors, cause } = e as { code?: unknown; name?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === "string" && code in NETWORK_CAUSES) return NETWORK_CAUSES[code];
    if (name === "TimeoutError") return "timed out";
    // Happy Eyeballs tries every address and reports all of them: the first says enough.
    e = Array.isArray(errors) && errors.length > 0 ? (errors[0] as unknown) : cause;
  }
  return undefined;
}

/** A failed call as a log field: what a person and a log query need, as an object. Messages
 * only: a stack or a request's URL could carry credentials, and neither helps here. */
export function errorFields(err: unknown): { message: string; kind: ApiErrorKind; code?: number; cause?: string } {
  const c = classifyApiError(err);
  const cause = networkCause(err);
  return {
    message: apiMessage(err),
    kind: c.kind,
    ...(c.code === undefined ? {} : { code: c.code }),
    ...(cause === undefined ? {} : { cause }),
  };
}
