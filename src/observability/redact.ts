// XrayR's token travels in query strings, and sigma-api's list may sit behind credentials in a
// URL: any URL that reaches a message, a log line or a metric goes through here first.

/** A URL fit for messages: no credentials, no query, no fragment. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString();
  } catch {
    return url.replace(/[?#].*$/, "").replace(/\/\/[^@/]*@/, "//");
  }
}

/**
 * Whether the URL carries credentials (user[:password]@host). Such URLs are refused where they
 * are configured rather than redacted later: every library that fails on one quotes it whole.
 */
export function urlHasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== "" || u.password !== "";
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url);
  }
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/**
 * Text with every URL in it made safe: for error messages written by others (undici's quote the
 * URL they were given, credentials and query included).
 */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (u) => safeUrl(u));
}
