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
