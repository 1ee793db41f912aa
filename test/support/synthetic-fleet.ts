// Deterministic synthetic VPS lists in sigma-api's format, for the unit and e2e tests and the
// benchmark (bench/sync-bench.js): `count` rows with unique public IPs, optionally 50
// malformed rows of the kinds a real list has, each with the field it must be reported on, and
// optionally rows whose only fault is a spelling with one normal form (a host name that is not
// one, an address not written canonically), each with what it must become.

export interface SyntheticRow {
  id?: unknown;
  hostname?: unknown;
  ip?: unknown;
  country?: unknown;
  status?: unknown;
  xrayr_version?: unknown;
  [extra: string]: unknown;
}

export interface Malformed {
  row: number;
  field: string;
  kind: "bad-ip" | "non-public-ip" | "missing-field" | "duplicate-ip" | "bad-country";
}

/** A row sync must apply with one field normalised, and report as a warning. */
export interface Normalising {
  row: number;
  id: string;
  field: "hostname" | "ip";
  /** The row's value. */
  value: string;
  /** What it must become: the node's name (hostname), the node's address (ip). */
  became: string;
  /** The node's name. */
  name: string;
  /** The node's address. */
  address: string;
}

export interface SyntheticFleet {
  rows: SyntheticRow[];
  /** The malformed rows, ascending by row (1-based). */
  malformed: Malformed[];
  /** The rows that need normalising, ascending by row. */
  normalising: Normalising[];
}

const COUNTRIES = ["jp", "hk", "us", "de", "sg", "gb", "fr", "nl", "kr", "tw"];
const CITIES: Record<string, string> = { jp: "tokyo", hk: "hongkong", us: "lax", de: "frankfurt", sg: "singapore", gb: "london", fr: "paris", nl: "amsterdam", kr: "seoul", tw: "taipei" };
const VERSIONS = ["v25.3.6", "v25.3.5", "v25.2.1", null];

/**
 * A public IPv4 address for index i, unique for i < 3,906,250 and never in a refused range:
 * 45.0.0.0/8 and up (first octet 45..60 stays clear of 100.64/10, 127/8, 169.254/16, ...).
 */
export function publicAddress(i: number, firstOctet = 45): string {
  const a = firstOctet + Math.floor(i / 62_500);
  const rest = i % 62_500;
  return `${a}.${Math.floor(rest / 250)}.${1 + (rest % 250)}.${1 + ((i * 7) % 250)}`;
}

// 50 malformed rows: what each does to an otherwise valid row, and which field it breaks.
type Break = { kind: Malformed["kind"]; field: string; apply: (r: SyntheticRow, prev: SyntheticRow) => void };
const set = (field: string, value: unknown) => (r: SyntheticRow) => {
  r[field] = value;
};
const drop = (field: string) => (r: SyntheticRow) => {
  Reflect.deleteProperty(r, field);
};
const BREAKS: Break[] = [
  // Each denotes no address, or more than one (a prefix, a port, a zone, octal-looking octets).
  ...["300.1.2.3", "45.1.2", "not-an-ip", "045.1.2.3", "45.1.2.3/24", "2a01:4f8::1%eth0", "45.1.2.3:443", "[2a01:4f8::1]", "45.1.2.3.4", ""].map(
    (v): Break => ({ kind: "bad-ip", field: "ip", apply: set("ip", v) }),
  ),
  // "FE80::1" is normalised to fe80::1 first, and then refused like the others.
  ...["10.1.2.3", "192.168.1.20", "172.16.5.4", "127.0.0.5", "100.64.1.1", "169.254.10.10", "203.0.113.5", "fd00::1", "FE80::1", "::1", "0.0.0.0", "224.0.0.1", "2001:db8::1", "198.18.0.1", "240.0.0.1"].map(
    (v): Break => ({ kind: "non-public-ip", field: "ip", apply: set("ip", v) }),
  ),
  ...["ip", "country", "hostname", "id", "status"].map((f): Break => ({ kind: "missing-field", field: f, apply: drop(f) })),
  { kind: "missing-field", field: "ip", apply: set("ip", null) },
  { kind: "missing-field", field: "hostname", apply: set("hostname", null) },
  { kind: "missing-field", field: "country", apply: set("country", "") },
  ...Array.from({ length: 8 }, (): Break => ({ kind: "duplicate-ip", field: "ip", apply: (r, prev) => { r.ip = prev.ip; } })),
  ...["UK", "EU", "XX", "usa", "Japan", "zz", "J P", "123", "aa"].map((v): Break => ({ kind: "bad-country", field: "country", apply: set("country", v) })),
];

// Spellings with one normal form. A host name: the name part it must give (the id suffix
// follows; "" for a host name with nothing usable, named "vps-<id>"); `room` is what the name
// part may hold beside the suffix. An address: (row index, first octet) -> [value, canonical].
type HostCase = { value: string; part: (room: number) => string };
const HOST_CASES: HostCase[] = [
  { value: "HK_Relay_07", part: () => "hk-relay-07" },
  { value: "edge-node-", part: () => "edge-node" },
  { value: "-lead-dash.nodes.sigma.example", part: () => "lead-dash" },
  { value: "UPPER_Case_Host.Nodes.Sigma.Example.", part: () => "upper-case-host" },
  { value: "Edge--Node__09", part: () => "edge--node-09" },
  { value: "東京-relay-01", part: () => "relay-01" },
  { value: "Zürich-02.nodes.sigma.example", part: () => "zurich-02" },
  { value: "x".repeat(70), part: (room) => "x".repeat(room) },
  { value: "東京", part: () => "" },
];
type IpCase = (i: number, firstOctet: number) => [string, string];
const hex = (n: number): string => n.toString(16);
const IP_CASES: IpCase[] = [
  (i, o) => [`2a01:04f8:${hex(o).padStart(4, "0")}:0000:0000:0000:0000:${hex(i + 1).padStart(4, "0")}`, `2a01:4f8:${hex(o)}::${hex(i + 1)}`],
  (i, o) => [`2A01:4F8:${hex(o).toUpperCase()}::${hex(i + 1).toUpperCase()}`, `2a01:4f8:${hex(o)}::${hex(i + 1)}`],
  (i, o) => [`2A01:4F8:${hex(o).toUpperCase()}:0:0:0:0:${hex(i + 1).toUpperCase()}`, `2a01:4f8:${hex(o)}::${hex(i + 1)}`],
  (i, o) => [` ${publicAddress(i, o)} `, publicAddress(i, o)],
];

export interface SyntheticOptions {
  count: number;
  /** Put the 50 malformed rows at every (count/50)th row. */
  malformed?: boolean;
  /** Put the rows that need normalising between them (never next to a malformed row). */
  normalising?: boolean;
  /** First VPS id (ids are idBase, idBase+1, ...). */
  idBase?: number;
  /** First octet of the addresses (see publicAddress); use different ones for fleets that coexist. */
  firstOctet?: number;
}

export function syntheticFleet({ count, malformed = false, normalising = false, idBase = 100_000, firstOctet = 45 }: SyntheticOptions): SyntheticFleet {
  const rows: SyntheticRow[] = [];
  for (let i = 0; i < count; i++) {
    const id = idBase + i;
    const country = COUNTRIES[i % COUNTRIES.length] ?? "de";
    const host = `${country}-${CITIES[country] ?? "city"}-${String(i % 1000).padStart(3, "0")}`;
    // Valid hostnames in the spellings sigma-api has: upper case, FQDN, trailing dot.
    const hostname = i % 3 === 0 ? `${host.toUpperCase()}.nodes.sigma.example` : i % 3 === 1 ? `${host}.nodes.sigma.example.` : host;
    rows.push({
      id: i % 2 === 0 ? id : String(id),
      hostname,
      ip: publicAddress(i, firstOctet),
      country: i % 4 === 0 ? country.toUpperCase() : country,
      status: "active",
      xrayr_version: VERSIONS[i % VERSIONS.length],
      provider: "vultr",
      created_at: "2025-01-01T00:00:00Z",
    });
  }
  const bad: Malformed[] = [];
  if (malformed) {
    const step = Math.floor(count / BREAKS.length);
    if (step < 2) throw new Error(`a fleet with malformed rows needs at least ${2 * BREAKS.length} rows`);
    BREAKS.forEach((b, k) => {
      const index = (k + 1) * step - 1;
      const r = rows[index];
      const prev = rows[index - 1];
      if (r === undefined || prev === undefined) return;
      b.apply(r, prev);
      bad.push({ row: index + 1, field: b.field, kind: b.kind });
    });
  }
  const norm: Normalising[] = [];
  if (normalising) {
    const cases = HOST_CASES.length + IP_CASES.length;
    const step = Math.floor(count / BREAKS.length);
    if (step < 4 || cases > BREAKS.length) throw new Error(`a fleet with rows to normalise needs at least ${4 * BREAKS.length} rows`);
    for (let k = 0; k < cases; k++) {
      const index = k * step + Math.floor(step / 2); // halfway between two malformed rows
      const r = rows[index];
      if (r === undefined) break;
      const id = String(r.id);
      const host = typeof r.hostname === "string" ? r.hostname : "";
      const name = (part: string): string => `${part === "" ? "vps" : part}-${id}`;
      const hostCase = HOST_CASES[k];
      const ipCase = IP_CASES[k - HOST_CASES.length];
      if (hostCase !== undefined) {
        r.hostname = hostCase.value;
        const became = name(hostCase.part(62 - id.length));
        norm.push({ row: index + 1, id, field: "hostname", value: hostCase.value, became, name: became, address: String(r.ip) });
      } else if (ipCase !== undefined) {
        const [value, canonical] = ipCase(index, firstOctet);
        r.ip = value;
        norm.push({ row: index + 1, id, field: "ip", value, became: canonical, name: name(host.trim().toLowerCase().split(".")[0] ?? ""), address: canonical });
      }
    }
  }
  return { rows, malformed: bad, normalising: norm };
}

/** Marks `n` rows (every k-th valid one, deterministic) retired; returns their ids. */
export function retireRows(rows: SyntheticRow[], n: number, skip: ReadonlySet<number> = new Set()): string[] {
  const ids: string[] = [];
  const step = Math.max(1, Math.floor(rows.length / n));
  for (let i = 0; i < rows.length && ids.length < n; i += step) {
    let j = i;
    while (j < rows.length && (skip.has(j + 1) || rows[j]?.status !== "active")) j++;
    const r = rows[j];
    if (r === undefined) break;
    r.status = "retired";
    ids.push(String(r.id));
  }
  return ids;
}
