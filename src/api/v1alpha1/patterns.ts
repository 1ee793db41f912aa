// The one place where the XrayrNode syntax rules live. Both src/crd/validate.ts (zod, JavaScript
// RegExp) and src/crd/manifest.ts (CRD OpenAPI `pattern` and CEL `matches()`, both Go RE2) use
// these strings, so every pattern here must mean the same thing in both engines: anchored with
// ^...$, no lookaround, no backreferences, no flags, only ASCII classes and bounded repetition.
// (In RE2 and in a JavaScript RegExp without the `m` flag, `$` matches only at the very end.)

/** Kubernetes DNS-1123 label (IsDNS1123Label): the object name, which becomes the WorkloadEntry name. */
export const DNS1123_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
export const DNS1123_LABEL_MAX_LENGTH = 63;

/** Xboard's workload name in Istio's metrics (destination_workload): the operator's XBOARD_WORKLOAD default. */
export const DEFAULT_XBOARD_WORKLOAD = "xboard";

/**
 * Node names that are DNS-1123 labels but would lie in Kiali: a node's name is its
 * source_workload, and Istio writes `unknown` for a caller it cannot name (the very signal
 * `xrayr-mesh verify` and the alerts look for), while `xboard` is the destination of every
 * edge. A node of either name would merge with them in the graph and the queries.
 */
export const RESERVED_NODE_NAMES: readonly string[] = ["unknown", DEFAULT_XBOARD_WORKLOAD];
export const RESERVED_NODE_NAMES_TEXT = `unknown (Istio's name for a caller it cannot identify) and ${DEFAULT_XBOARD_WORKLOAD} (the Xboard workload)`;

/**
 * A non-empty Kubernetes label value (IsValidLabelValue minus the empty string), max 63 characters.
 * The length bound is built into the pattern so a single regex carries the whole rule.
 */
export const LABEL_VALUE_NONEMPTY_PATTERN = "^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/** A Kubernetes label value, which may be empty (IsValidLabelValue), max 63 characters. */
export const LABEL_VALUE_PATTERN = "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
export const LABEL_VALUE_MAX_LENGTH = 63;

/**
 * A Kubernetes qualified name (IsQualifiedName), the syntax of a label key: an optional
 * DNS-1123 subdomain prefix and "/", then a name of at most 63 characters (bounded in the
 * pattern). The prefix's own limit of 253 characters cannot be said in the regex; see
 * QUALIFIED_NAME_PREFIX_MAX_LENGTH.
 */
export const QUALIFIED_NAME_PATTERN =
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
export const QUALIFIED_NAME_PREFIX_MAX_LENGTH = 253;

/**
 * Label keys the operator writes on the WorkloadEntry itself, or that Istio reads in their
 * place, so a user may not set them: `app`, `version`, `country`, `app.kubernetes.io/managed-by`,
 * `app.kubernetes.io/name` and `app.kubernetes.io/version` (Istio prefers these two over `app`
 * and `version` for Kiali's app and version), `istio-locality` (Istio takes it as the entry's
 * locality when spec.locality is empty, so a user's value would move the node), and every key
 * whose prefix is `istio.io` or ends in `.istio.io` (istio.io/, security.istio.io/,
 * service.istio.io/, networking.istio.io/, topology.istio.io/, ...). Istio gives meaning to all
 * of those, so we refuse the whole family rather than the three named prefixes only.
 */
export const RESERVED_LABEL_KEY_PATTERN =
  "^(app|version|country|istio-locality|app\\.kubernetes\\.io/(managed-by|name|version)|([^/]*\\.)?istio\\.io/.*)$";
export const RESERVED_LABEL_KEYS_TEXT =
  "app, version, country, istio-locality, app.kubernetes.io/managed-by, app.kubernetes.io/name, app.kubernetes.io/version, and any key with prefix istio.io/ or *.istio.io/";
export const MAX_LABELS = 32;

/**
 * Istio locality: region[/zone[/subzone]]; each segment a non-empty label value.
 */
export const LOCALITY_PATTERN =
  "^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?){0,2}$";
/** 3 segments of 63 plus 2 slashes. */
export const LOCALITY_MAX_LENGTH = 191;

/**
 * Longest IP literal that can still parse: an IPv6 address with an embedded IPv4 tail,
 * "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" (45). The longest canonical form is 39.
 * The CRD uses this as maxLength for spec.address, which also bounds the CEL cost.
 */
export const ADDRESS_MAX_LENGTH = 45;

export const DEFAULT_VERSION = "v1";

export function regex(pattern: string): RegExp {
  return new RegExp(pattern);
}
