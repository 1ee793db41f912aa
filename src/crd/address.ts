// IP address syntax and policy for spec.address. Pure logic, no dependencies.
//
// parseAddress accepts exactly the strings the CRD's CEL rule `isIP(self) && ip.isCanonical(self)`
// accepts. That rule is k8s.io/apiserver/pkg/cel/library/ip.go: parseIPAddr() is Go's
// netip.ParseAddr() followed by "no zone" and "not IPv4-mapped (Is4In6)"; isCanonical compares
// the input with netip.Addr.String(). parseNetip() below is a transcription of Go's
// net/netip.ParseAddr (parseIPv4Fields / parseIPv6) and formatCanonical() of Addr.String()
// (appendTo6), so the two agree byte for byte, including their quirks:
//   - IPv4 octets must be decimal 0..255 without leading zeros; exactly four of them.
//   - IPv6 hex groups are 1..4 digits, either case is *parsed*; only lower case is canonical.
//   - An embedded IPv4 tail ("64:ff9b::1.2.3.4") parses but is never canonical (String() prints hex).
//   - "::" must stand for at least one zero group; a single zero group is printed as "0", and the
//     longest run (first on a tie) of two or more zero groups is printed as "::".

export type AddressFamily = 4 | 6;

export interface ParsedAddress {
  family: AddressFamily;
  /** The canonical text (equal to the input, since only canonical input is accepted). */
  text: string;
  /** 4 bytes for IPv4, 16 for IPv6, network order. */
  bytes: readonly number[];
}

export type AddressResult =
  | { ok: true; address: ParsedAddress }
  | {
      ok: false;
      /** A sentence fragment meant to follow the quoted input, e.g. `"010.1.1.1" has leading zeros ...`. */
      reason: string;
      /** When the input denotes an address but is written non-canonically: the form to write instead. */
      canonical?: string;
    };

type NetipResult = { ok: true; bytes: number[]; family: AddressFamily; zone: string } | { ok: false; msg: string };

/** Go net/netip.ParseAddr, transcribed. */
function parseNetip(s: string): NetipResult {
  for (const c of s) {
    if (c === ".") return parseIPv4(s);
    if (c === ":") return parseIPv6(s);
    if (c === "%") return { ok: false, msg: "missing IPv6 address" };
  }
  return { ok: false, msg: "unable to parse IP" };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function parseIPv4Fields(s: string): { ok: true; fields: number[] } | { ok: false; msg: string } {
  const fields: number[] = [];
  let val = 0;
  let digLen = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) {
      if (digLen === 1 && val === 0) return { ok: false, msg: "IPv4 field has octet with leading zero" };
      val = val * 10 + (c - 0x30);
      digLen++;
      if (val > 255) return { ok: false, msg: "IPv4 field has value >255" };
    } else if (s[i] === ".") {
      if (i === 0 || i === s.length - 1 || s[i - 1] === ".") {
        return { ok: false, msg: "IPv4 field must have at least one digit" };
      }
      if (fields.length === 3) return { ok: false, msg: "IPv4 address too long" };
      fields.push(val);
      val = 0;
      digLen = 0;
    } else {
      return { ok: false, msg: "unexpected character" };
    }
  }
  if (fields.length < 3) return { ok: false, msg: "IPv4 address too short" };
  fields.push(val);
  return { ok: true, fields };
}

function parseIPv4(s: string): NetipResult {
  const r = parseIPv4Fields(s);
  if (!r.ok) return r;
  return { ok: true, bytes: r.fields, family: 4, zone: "" };
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function parseIPv6(input: string): NetipResult {
  let s = input;
  let zone = "";
  const pct = s.indexOf("%");
  if (pct !== -1) {
    zone = s.slice(pct + 1);
    s = s.slice(0, pct);
    if (zone === "") return { ok: false, msg: "zone must be a non-empty string" };
  }
  const ip: number[] = new Array<number>(16).fill(0);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ":" && s[1] === ":") {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return { ok: true, bytes: ip, family: 6, zone };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const v = hexVal(s.charCodeAt(off));
      if (v < 0) break;
      acc = acc * 16 + v;
      if (off > 3) return { ok: false, msg: "each group must have 4 or less digits" };
      if (acc > 0xffff) return { ok: false, msg: "IPv6 field has value >=2^16" };
    }
    if (off === 0) return { ok: false, msg: "each colon-separated field must have at least one digit" };
    if (off < s.length && s[off] === ".") {
      if (ellipsis < 0 && i !== 12) {
        return { ok: false, msg: "embedded IPv4 address must replace the final 2 fields of the address" };
      }
      if (i + 4 > 16) return { ok: false, msg: "too many hex fields to fit an embedded IPv4 at the end of the address" };
      const r = parseIPv4Fields(s);
      if (!r.ok) return r;
      r.fields.forEach((f, k) => (ip[i + k] = f));
      s = "";
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ":") return { ok: false, msg: "unexpected character, want colon" };
    if (s.length === 1) return { ok: false, msg: "colon must be followed by more characters" };
    s = s.slice(1);
    if (s[0] === ":") {
      if (ellipsis >= 0) return { ok: false, msg: "multiple :: in address" };
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return { ok: false, msg: "trailing garbage after address" };
  if (i < 16) {
    if (ellipsis < 0) return { ok: false, msg: "address string too short" };
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j] ?? 0;
    for (let j = ellipsis; j < ellipsis + n; j++) ip[j] = 0;
  } else if (ellipsis >= 0) {
    return { ok: false, msg: "the :: must expand to at least one field of zeros" };
  }
  return { ok: true, bytes: ip, family: 6, zone };
}

function isV4InV6(bytes: readonly number[]): boolean {
  if (bytes.length !== 16) return false;
  for (let k = 0; k < 10; k++) if (bytes[k] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Go netip.Addr.String() for a 4- or 16-byte address (no zone). */
export function formatCanonical(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join(".");
  if (isV4InV6(bytes)) return `::ffff:${bytes.slice(12).join(".")}`;
  const groups: number[] = [];
  for (let k = 0; k < 8; k++) groups.push(((bytes[2 * k] ?? 0) << 8) | (bytes[2 * k + 1] ?? 0));
  let zeroStart = -1;
  let zeroEnd = -1;
  for (let k = 0; k < 8; k++) {
    let j = k;
    while (j < 8 && groups[j] === 0) j++;
    const l = j - k;
    if (l >= 2 && l > zeroEnd - zeroStart) {
      zeroStart = k;
      zeroEnd = j;
    }
  }
  let out = "";
  for (let k = 0; k < 8; k++) {
    if (k === zeroStart) {
      out += "::";
      k = zeroEnd;
      if (k >= 8) break;
    } else if (k > 0) {
      out += ":";
    }
    out += (groups[k] ?? 0).toString(16);
  }
  return out;
}

const HOSTNAME_LIKE = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\.?$/;

/**
 * Parse one IPv4 or IPv6 literal in canonical form: exactly the set Kubernetes CEL accepts with
 * `isIP(self) && ip.isCanonical(self)`. On failure, `reason` explains why and, when the input
 * denotes an address, `canonical` holds the form to write instead.
 */
export function parseAddress(s: string): AddressResult {
  if (s === "") return { ok: false, reason: "is empty; write an IPv4 or IPv6 address such as 203.0.113.7 or 2001:db8::7" };
  if (/\s/.test(s)) {
    const trimmed = s.trim();
    const inner = trimmed !== s && trimmed !== "" ? parseAddress(trimmed) : undefined;
    const suggestion = inner === undefined ? undefined : inner.ok ? inner.address.text : inner.canonical;
    if (suggestion !== undefined) return { ok: false, reason: `has whitespace: write ${suggestion}`, canonical: suggestion };
    return { ok: false, reason: "has whitespace; write a single IPv4 or IPv6 address" };
  }
  if (s.includes("/")) return { ok: false, reason: "is a CIDR, not an address; write a single address without /prefix" };
  if (s.startsWith("[") && s.includes("]")) {
    return { ok: false, reason: "has brackets (and maybe a port); write the bare address" };
  }
  if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) {
    return { ok: false, reason: "has a port; write the bare address" };
  }

  const r = parseNetip(s);
  if (!r.ok) {
    if (s.includes("%")) return { ok: false, reason: "has a zone id; zone ids (%eth0) are not allowed" };
    if (r.msg === "IPv4 field has octet with leading zero") {
      return {
        ok: false,
        reason: "has leading zeros; write IPv4 octets without them (a leading 0 can mean octal)",
      };
    }
    if (!s.includes(":") && HOSTNAME_LIKE.test(s) && /[A-Za-z]/.test(s.replace(/\.$/, "").split(".").pop() ?? "")) {
      return { ok: false, reason: "is a hostname, not an IP address; write the node's IP address" };
    }
    return { ok: false, reason: `is not an IPv4 or IPv6 address (${r.msg})` };
  }
  if (r.zone !== "") return { ok: false, reason: "has a zone id; zone ids (%eth0) are not allowed" };
  if (isV4InV6(r.bytes)) {
    const v4 = r.bytes.slice(12).join(".");
    return {
      ok: false,
      reason: `is an IPv4-mapped IPv6 address, which Kubernetes does not accept: write ${v4}`,
      canonical: v4,
    };
  }
  const canonical = formatCanonical(r.bytes);
  if (canonical !== s) {
    return { ok: false, reason: `is not canonical: write ${canonical}`, canonical };
  }
  return { ok: true, address: { family: r.family, text: canonical, bytes: r.bytes } };
}

/**
 * An address in any spelling that denotes exactly one address, in its canonical form (RFC 5952,
 * Go's netip.Addr.String()): IPv6 in upper case, expanded, with leading zeros in a group or an
 * embedded IPv4 tail; surrounding spaces; an IPv4-mapped IPv6 address (the IPv4 address it
 * maps). What does not denote one address, or denotes more than the address (a CIDR, a port,
 * brackets, a zone, IPv4 octets with leading zeros, which some parsers read as octal), is
 * refused as parseAddress refuses it. `changed` says whether the input was not canonical.
 */
export function normaliseAddress(s: string): { ok: true; address: ParsedAddress; changed: boolean } | { ok: false; reason: string } {
  const r = parseAddress(s);
  if (r.ok) return { ok: true, address: r.address, changed: false };
  const again = r.canonical !== undefined ? parseAddress(r.canonical) : undefined;
  return again?.ok === true ? { ok: true, address: again.address, changed: true } : { ok: false, reason: r.reason };
}

// ---------------------------------------------------------------------------------------------
// Address policy

export type AddressPolicy = "public" | "any";
export const ADDRESS_POLICIES: readonly AddressPolicy[] = ["public", "any"];

export type AddressRangeKind =
  | "unspecified"
  | "this-network"
  | "loopback"
  | "private"
  | "unique-local"
  | "link-local"
  | "cgnat"
  | "multicast"
  | "documentation"
  | "benchmarking"
  | "reserved"
  | "broadcast";

interface RefusedRange {
  cidr: string;
  kind: AddressRangeKind;
  /** Follows "address X " in the message. */
  phrase: string;
}

/** Ordered: the first match names the range (more specific entries first). */
const REFUSED_RANGES: readonly RefusedRange[] = [
  { cidr: "0.0.0.0/32", kind: "unspecified", phrase: "is the unspecified address (0.0.0.0/32)" },
  { cidr: "0.0.0.0/8", kind: "this-network", phrase: `is in the "this network" range (0.0.0.0/8)` },
  { cidr: "10.0.0.0/8", kind: "private", phrase: "is in a private range (10.0.0.0/8)" },
  { cidr: "100.64.0.0/10", kind: "cgnat", phrase: "is in the carrier-grade NAT shared range (100.64.0.0/10)" },
  { cidr: "127.0.0.0/8", kind: "loopback", phrase: "is in the loopback range (127.0.0.0/8)" },
  { cidr: "169.254.0.0/16", kind: "link-local", phrase: "is in the link-local range (169.254.0.0/16)" },
  { cidr: "172.16.0.0/12", kind: "private", phrase: "is in a private range (172.16.0.0/12)" },
  { cidr: "192.0.2.0/24", kind: "documentation", phrase: "is in a documentation range (192.0.2.0/24, TEST-NET-1)" },
  { cidr: "192.168.0.0/16", kind: "private", phrase: "is in a private range (192.168.0.0/16)" },
  { cidr: "198.18.0.0/15", kind: "benchmarking", phrase: "is in the benchmarking range (198.18.0.0/15)" },
  { cidr: "198.51.100.0/24", kind: "documentation", phrase: "is in a documentation range (198.51.100.0/24, TEST-NET-2)" },
  { cidr: "203.0.113.0/24", kind: "documentation", phrase: "is in a documentation range (203.0.113.0/24, TEST-NET-3)" },
  { cidr: "224.0.0.0/4", kind: "multicast", phrase: "is in the multicast range (224.0.0.0/4)" },
  { cidr: "255.255.255.255/32", kind: "broadcast", phrase: "is the limited broadcast address (255.255.255.255/32)" },
  { cidr: "240.0.0.0/4", kind: "reserved", phrase: "is in the reserved range (240.0.0.0/4)" },
  { cidr: "::/128", kind: "unspecified", phrase: "is the unspecified address (::/128)" },
  { cidr: "::1/128", kind: "loopback", phrase: "is the loopback address (::1/128)" },
  { cidr: "fc00::/7", kind: "unique-local", phrase: "is in the unique-local (private) range (fc00::/7)" },
  { cidr: "fe80::/10", kind: "link-local", phrase: "is in the link-local range (fe80::/10)" },
  { cidr: "ff00::/8", kind: "multicast", phrase: "is in the multicast range (ff00::/8)" },
  { cidr: "2001:db8::/32", kind: "documentation", phrase: "is in a documentation range (2001:db8::/32)" },
  { cidr: "3fff::/20", kind: "documentation", phrase: "is in a documentation range (3fff::/20)" },
];

interface CompiledRange extends RefusedRange {
  bytes: readonly number[];
  bits: number;
}

function compileRange(r: RefusedRange): CompiledRange {
  const [ip, bits] = r.cidr.split("/");
  const parsed = parseNetip(ip ?? "");
  if (!parsed.ok || bits === undefined) throw new Error(`bad built-in range ${r.cidr}`);
  return { ...r, bytes: parsed.bytes, bits: Number(bits) };
}

const COMPILED_RANGES: readonly CompiledRange[] = REFUSED_RANGES.map(compileRange);

function inRange(bytes: readonly number[], r: CompiledRange): boolean {
  if (bytes.length !== r.bytes.length) return false;
  let left = r.bits;
  for (let k = 0; k < bytes.length && left > 0; k++) {
    const take = Math.min(8, left);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[k] ?? 0) & mask) !== ((r.bytes[k] ?? 0) & mask)) return false;
    left -= take;
  }
  return true;
}

export type PolicyResult =
  | { ok: true }
  | { ok: false; kind: AddressRangeKind | "invalid"; range?: string; message: string };

/**
 * Check a (syntactically valid, canonical) address against the operator's ADDRESS_POLICY.
 * `any` accepts every address parseAddress accepts; `public` refuses the special-purpose ranges
 * above, naming the address and the range. An address that does not parse is refused with
 * kind "invalid" under either policy.
 */
export function checkAddressPolicy(addr: string | ParsedAddress, policy: AddressPolicy): PolicyResult {
  let parsed: ParsedAddress;
  if (typeof addr === "string") {
    const r = parseAddress(addr);
    if (!r.ok) return { ok: false, kind: "invalid", message: `address ${JSON.stringify(addr)} ${r.reason}` };
    parsed = r.address;
  } else {
    parsed = addr;
  }
  if (policy === "any") return { ok: true };
  const hit = COMPILED_RANGES.find((r) => inRange(parsed.bytes, r));
  if (hit === undefined) return { ok: true };
  return {
    ok: false,
    kind: hit.kind,
    range: hit.cidr,
    message: `address ${parsed.text} ${hit.phrase}; the operator's ADDRESS_POLICY=public refuses it (set ADDRESS_POLICY=any to allow)`,
  };
}

export function isAddressPolicy(s: string): s is AddressPolicy {
  return s === "public" || s === "any";
}
