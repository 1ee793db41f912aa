// One clear sentence for every failure the user can cause or meet, never a stack trace.
import { notInstalled, NotInstalledError } from "../domain/crds.js";
import { apiMessage, networkCause, statusCode } from "../controller/api-errors.js";
import { redactUrls, safeUrl } from "../observability/redact.js";

/** An error whose message is already the sentence to show. `exitCode` 2: usage or setup. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/**
 * A failed write (register's apply, retire's delete) as the CLI reports it: the API server
 * answered and refused (admission 422, conflict 409, forbidden 403, ...) -> exit 1, the command
 * failed; the credentials were refused (401) or the server could not be reached -> exit 2, a
 * setup problem. Reads that fail before any write stay setup errors (exit 2).
 */
export function writeFailure(err: unknown, server?: string): CliError {
  if (err instanceof CliError) return err;
  const code = statusCode(err);
  const refused = code !== undefined && code !== 401;
  return new CliError(describeError(err, server), refused ? 1 : 2);
}

/** The sentence for an error: the API server's own message, or the network failure. */
export function describeError(err: unknown, server?: string): string {
  if (err instanceof CliError) return err.message;
  const code = statusCode(err);
  if (code !== undefined) {
    if (code === 401) return `the API server${server !== undefined ? ` at ${server}` : ""} refused the credentials (HTTP 401): check --kubeconfig / AIRPORT_KUBECONFIG.`;
    if (code === 403) return `not allowed: ${apiMessage(err)}`;
    return apiMessage(err);
  }
  if (err instanceof NotInstalledError) {
    return `${notInstalled(err.crd, server !== undefined ? safeUrl(server) : undefined)}: ${err.crd.fix}.`;
  }
  // Libraries quote the URL they failed on, credentials and query included.
  const text = redactUrls(err instanceof Error ? err.message : String(err));
  const why = networkCause(err) ?? (/fetch failed|socket|certificate/i.test(text) ? text : undefined);
  if (why !== undefined) {
    return `cannot reach the API server${server !== undefined ? ` at ${safeUrl(server)}` : ""} (${why}): is the cluster up, and is this the kubeconfig for it?`;
  }
  return text.split("\n")[0] ?? text;
}
