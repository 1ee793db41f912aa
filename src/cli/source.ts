// Where `sync --from` reads sigma-api's VPS list: a file, "-" for standard input, or an
// http(s) URL. For a URL the bearer token comes from an environment variable (SIGMA_API_TOKEN
// unless --token-env names another), never from the command line, and is never printed; URLs
// in messages lose their query string and credentials. The token is sent over https only, or
// over plain http to this machine (loopback): never in cleartext across a network.
import { readFile } from "node:fs/promises";
import { redactUrls, safeUrl, urlHasCredentials } from "../observability/redact.js";
import { CliError } from "./errors.js";

export const DEFAULT_TOKEN_ENV = "SIGMA_API_TOKEN";

export interface SourceOptions {
  tokenEnv: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  stdin?: NodeJS.ReadableStream;
}

async function readStream(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}

/** Whether a URL's host is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  if (h === "localhost" || h === "[::1]" || h === "::1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Why a bearer token must not be sent to `url`, or undefined: over plain http it would cross
 * the network in cleartext, unless the host is loopback.
 */
export function cleartextTokenProblem(url: string, tokenEnv: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined; // fetch reports a malformed URL itself
  }
  if (u.protocol !== "http:" || isLoopbackHost(u.hostname)) return undefined;
  return `--from ${safeUrl(url)} is plain http and $${tokenEnv} is set: refusing to send the token in cleartext; use an https:// URL (or unset $${tokenEnv} if the list needs no token).`;
}

/** The list's text and a name for it in messages. */
export async function readSource(from: string, opts: SourceOptions): Promise<{ text: string; name: string }> {
  if (from === "-") return { text: await readStream(opts.stdin ?? process.stdin), name: "standard input" };
  if (/^https?:\/\//i.test(from)) {
    const shown = safeUrl(from);
    if (urlHasCredentials(from)) throw new CliError(`--from ${shown}: put no credentials in the URL; the token goes in $${opts.tokenEnv}.`);
    const token = opts.env[opts.tokenEnv];
    const headers: Record<string, string> = { accept: "application/json" };
    if (token !== undefined && token !== "") {
      const problem = cleartextTokenProblem(from, opts.tokenEnv);
      if (problem !== undefined) throw new CliError(problem);
      headers.authorization = `Bearer ${token}`;
    }
    let res: Response;
    try {
      res = await fetch(from, { headers, signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000), redirect: "follow" });
    } catch (err) {
      const c = (err as { cause?: { code?: unknown; errors?: { code?: unknown }[] } }).cause;
      const code = c?.code ?? c?.errors?.[0]?.code;
      const cause = typeof code === "string" ? code : (c as { message?: unknown } | undefined)?.message;
      const why = redactUrls(typeof cause === "string" ? cause : (err instanceof Error ? err.name === "TimeoutError" ? "timed out" : err.message : String(err)));
      throw new CliError(`cannot fetch the VPS list from ${shown} (${why}).`);
    }
    if (res.status === 401 || res.status === 403) {
      throw new CliError(`${shown} answered HTTP ${res.status}: ${token === undefined || token === "" ? `set the bearer token in $${opts.tokenEnv}` : `the token in $${opts.tokenEnv} was refused`}.`);
    }
    if (!res.ok) throw new CliError(`${shown} answered HTTP ${res.status} ${res.statusText}.`);
    return { text: await res.text(), name: shown };
  }
  try {
    return { text: await readFile(from, "utf8"), name: from };
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new CliError(`cannot read ${from}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (err as Error).message}.`);
  }
}

export function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError(`${name} is not JSON: ${err instanceof Error ? err.message : String(err)}.`);
  }
}
