// The naming rule: which XrayrNode name a VPS gets. Pure and deterministic.
//
//   name = <first label of the normalised hostname, cut to fit> "-" <id suffix>
//   id suffix = the id itself when it is 1 to 20 decimal digits, else "v" + the first 16 hex
//               digits of sha256(id)
//
// The result is always a DNS-1123 label of at most 63 characters. Neither suffix form contains
// "-", so the suffix is exactly what follows the name's last "-": two different ids never give
// the same name (a digit-only suffix is the id; a "v" suffix is never all digits; two "v"
// suffixes collide only if sha256 does in 64 bits, and the sync plan refuses a repeated name
// anyway). The hostname part is for people reading Kiali; the id part makes the name unique.
import { createHash } from "node:crypto";
import { DNS1123_LABEL_MAX_LENGTH, DNS1123_LABEL_PATTERN, regex } from "../crd/patterns.js";

const DNS1123_LABEL_RE = regex(DNS1123_LABEL_PATTERN);
/** RFC 1123 host names are at most 253 characters (without the trailing dot). */
export const HOSTNAME_MAX_LENGTH = 253;
const NUMERIC_ID = /^[0-9]{1,20}$/;

export type HostnameResult = { ok: true; hostname: string } | { ok: false; reason: string; suggestion?: string };

/**
 * A sigma-api hostname made canonical: surrounding whitespace trimmed, lower case, one trailing
 * dot dropped. What is left must be an RFC 1123 host name (dot-separated DNS-1123 labels);
 * anything else is refused with, where one exists, a suggested spelling to fix at the source.
 */
export function normaliseHostname(raw: string): HostnameResult {
  const h = raw.trim().toLowerCase().replace(/\.$/, "");
  if (h === "") return { ok: false, reason: "is empty" };
  if (h.length > HOSTNAME_MAX_LENGTH) return { ok: false, reason: `is longer than ${HOSTNAME_MAX_LENGTH} characters` };
  const labels = h.split(".");
  if (labels.every((l) => l.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL_RE.test(l))) return { ok: true, hostname: h };
  const suggestion = sloppyHostname(raw);
  return {
    ok: false,
    reason: "is not a host name (dot-separated labels of letters, digits and '-', each starting and ending with a letter or digit)",
    ...(suggestion !== undefined ? { suggestion } : {}),
  };
}

/** What a sloppy hostname probably meant: lower case, other characters to "-", runs collapsed. */
function sloppyHostname(raw: string): string | undefined {
  const labels = raw
    .trim()
    .toLowerCase()
    .split(".")
    .map((l) => l.replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "").slice(0, DNS1123_LABEL_MAX_LENGTH).replace(/-$/, ""))
    .filter((l) => l !== "");
  const s = labels.join(".");
  return s === "" || s.length > HOSTNAME_MAX_LENGTH ? undefined : s;
}

/** The id part of the name: see the rule above. */
export function idSuffix(id: string): string {
  if (NUMERIC_ID.test(id)) return id;
  return `v${createHash("sha256").update(id, "utf8").digest("hex").slice(0, 16)}`;
}

/** The XrayrNode name of a VPS; `hostname` must come from normaliseHostname. */
export function nodeName(hostname: string, id: string): string {
  const suffix = idSuffix(id);
  const room = DNS1123_LABEL_MAX_LENGTH - 1 - suffix.length;
  const first = (hostname.split(".")[0] ?? "").slice(0, room).replace(/-+$/, "");
  return first === "" ? `vps-${suffix}` : `${first}-${suffix}`;
}
