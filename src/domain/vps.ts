// A VPS's identity as the mesh sees it: which VPS a node stands for, the country it is in, and
// the XrayrNode name a sigma-api row gets. The fleet sync, `register`, `status` and doctor read
// these functions and nothing else decides the same questions.
import { createHash } from "node:crypto";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { DNS1123_LABEL_MAX_LENGTH, DNS1123_LABEL_PATTERN, regex } from "../api/v1alpha1/patterns.js";

/** sigma-api's id of the VPS, as a label on the node (see vpsIdOf for which copy is read). */
export const VPS_ID_LABEL = "mesh.sigma.io/vps-id";

/**
 * The VPS a live node stands for: spec.vpsId, else the mesh.sigma.io/vps-id label.
 *
 * The spec is the source of truth and the label its copy for selectors (`kubectl -l`): the spec
 * is what the node's writer declared, checked by admission and counted in metadata.generation,
 * while a label can be changed by anyone with `kubectl label` without touching the node's spec.
 * Every writer we know (sync, sigma-api's register handler) writes both with the same value;
 * the label is read only for nodes that carry no spec.vpsId (written by hand, or before the
 * field existed), so a VPS is never lost for want of the spec field.
 */
export function vpsIdOf(node: Pick<XrayrNode, "metadata" | "spec">): string | undefined {
  return node.spec.vpsId ?? node.metadata.labels?.[VPS_ID_LABEL];
}

/**
 * A country code as written in spec.country: surrounding spaces dropped, lower case (ISO 3166-1
 * alpha-2 codes are case-insensitive; the CRD stores lower case so that one country is one
 * label value on the WorkloadEntry). Whether the result is a code at all is the CRD's rule
 * (crd/validate.ts countryProblem), not this function's.
 */
export function normaliseCountry(raw: string): string {
  return raw.trim().toLowerCase();
}

// --- the node name of a sigma-api row ------------------------------------------------------
//
//   name      = <name part> "-" <id suffix>, or "vps-" <id suffix> when no name part is left
//   name part = the host name's first label, spelled as a DNS-1123 label (below), cut to fit
//   id suffix = the id itself when it is 1 to 20 decimal digits, else "v" + the first 16 hex
//               digits of sha256(id)
//
// The result is always a DNS-1123 label of at most 63 characters (the CRD's name limit; the
// WorkloadEntry adds ENTRY_NAME_SUFFIX_LENGTH to it, which the CRD's status allows for). Neither
// suffix form contains "-", so the suffix is exactly what follows the name's last "-": two
// different ids never give the same name (a digit-only suffix is the id; a "v" suffix is never
// all digits; two "v" suffixes collide only if sha256 does in 64 bits, and the sync refuses a
// repeated name anyway). The host name is for people reading Kiali; the id makes the name unique
// and stable: the same row gives the same name on every run.

const DNS1123_LABEL_RE = regex(DNS1123_LABEL_PATTERN);
/** RFC 1123 host names are at most 253 characters (without the trailing dot). */
export const HOSTNAME_MAX_LENGTH = 253;
const NUMERIC_ID = /^[0-9]{1,20}$/;
/** The name part of a VPS whose host name leaves nothing usable. */
export const ID_ONLY_PREFIX = "vps";

/** The id part of the name: see the rule above. */
export function idSuffix(id: string): string {
  if (NUMERIC_ID.test(id)) return id;
  return `v${createHash("sha256").update(id, "utf8").digest("hex").slice(0, 16)}`;
}

export interface RowName {
  /** The XrayrNode name. */
  name: string;
  /**
   * Why the host name had to be changed beyond its canonical spelling (case, surrounding
   * spaces, one trailing dot), as a sentence fragment following the quoted host name; undefined
   * when the host name is an RFC 1123 host name, so the name follows from it without loss.
   */
  normalised?: string;
  /** Nothing of the host name was usable: the name is ID_ONLY_PREFIX and the id suffix. */
  idOnly: boolean;
}

/**
 * The XrayrNode name of the VPS with this host name and id. Never refuses: the host name only
 * feeds the readable part of the name, so a spelling that is not a host name (`HK_Relay_07`,
 * `edge-node-`, non-ASCII, a label over 63 characters) keeps what it can and says so in
 * `normalised`, and a host name with nothing usable names the node from its id alone.
 */
export function rowNodeName(hostname: string, id: string): RowName {
  const canonical = hostname.trim().toLowerCase().replace(/\.$/, "");
  const first = dnsLabelOf(canonical.split(".")[0] ?? "");
  const suffix = idSuffix(id);
  const room = DNS1123_LABEL_MAX_LENGTH - 1 - suffix.length;
  const part = first.slice(0, room).replace(/-+$/, "");
  const name = `${part === "" ? ID_ONLY_PREFIX : part}-${suffix}`;
  const why = hostnameProblem(canonical);
  return { name, idOnly: part === "", ...(why !== undefined ? { normalised: why } : {}) };
}

/** Why a canonically spelt host name is not an RFC 1123 host name, or undefined when it is one. */
function hostnameProblem(h: string): string | undefined {
  if (h === "") return "is empty";
  if (h.length > HOSTNAME_MAX_LENGTH) return `is longer than ${HOSTNAME_MAX_LENGTH} characters`;
  const labels = h.split(".");
  if (labels.some((l) => l === "")) return "has an empty label";
  const long = labels.find((l) => l.length > DNS1123_LABEL_MAX_LENGTH);
  if (long !== undefined) return `has a label longer than ${DNS1123_LABEL_MAX_LENGTH} characters`;
  if (labels.every((l) => DNS1123_LABEL_RE.test(l))) return undefined;
  if (/[^\p{ASCII}]/u.test(h)) return "has characters outside ASCII";
  if (labels.some((l) => l.startsWith("-") || l.endsWith("-"))) return "has a label starting or ending with '-'";
  return "has characters other than letters, digits, '-' and '.'";
}

/**
 * One host-name label spelt as a DNS-1123 label, keeping what can be kept: accents dropped
 * (NFKD, then the combining marks: "Zürich" is "zurich", a full-width "Ｔ" is "t"), every run of
 * other characters to one "-", no "-" at either end. A label that is already a DNS-1123 label
 * comes back unchanged (a "--" inside, as in punycode, included), so no node a valid host name
 * named before is renamed. Unicode normalisation is stable across versions, so the same row
 * gives the same name on every run.
 */
function dnsLabelOf(label: string): string {
  return label
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
}
