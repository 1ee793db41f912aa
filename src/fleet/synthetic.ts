// Deterministic synthetic VPS lists in sigma-api's format, for the unit and e2e tests and the
// benchmark (bench/sync-bench.js): `count` rows with unique public IPs, and optionally 50
// malformed rows of the kinds a real list has, each with the field it must be reported on.

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
  kind: "bad-ip" | "non-public-ip" | "missing-field" | "duplicate-ip" | "bad-country" | "bad-hostname";
}

export interface SyntheticFleet {
  rows: SyntheticRow[];
  /** The malformed rows, ascending by row (1-based). */
  malformed: Malformed[];
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
  ...["300.1.2.3", "45.1.2", "not-an-ip", "045.1.2.3", "45.1.2.3/24", "2A01:4F8::1", "45.1.2.3:443", "[2a01:4f8::1]"].map(
    (v): Break => ({ kind: "bad-ip", field: "ip", apply: set("ip", v) }),
  ),
  ...["10.1.2.3", "192.168.1.20", "172.16.5.4", "127.0.0.5", "100.64.1.1", "169.254.10.10", "203.0.113.5", "fd00::1"].map(
    (v): Break => ({ kind: "non-public-ip", field: "ip", apply: set("ip", v) }),
  ),
  ...["ip", "country", "hostname", "id", "status"].map((f): Break => ({ kind: "missing-field", field: f, apply: drop(f) })),
  { kind: "missing-field", field: "ip", apply: set("ip", null) },
  { kind: "missing-field", field: "hostname", apply: set("hostname", null) },
  { kind: "missing-field", field: "country", apply: set("country", "") },
  ...Array.from({ length: 8 }, (): Break => ({ kind: "duplicate-ip", field: "ip", apply: (r, prev) => { r.ip = prev.ip; } })),
  ...["UK", "EU", "XX", "usa", "Japan", "zz", "J P", "123", "aa"].map((v): Break => ({ kind: "bad-country", field: "country", apply: set("country", v) })),
  ...["JP_Tokyo 01", "tokyo/01", "東京-01", "   ", "-tokyo-", "a..b.example.com", "host_name.example.com", `${"x".repeat(64)}.example.com`, "tokyo 02.example.com"].map(
    (v): Break => ({ kind: "bad-hostname", field: "hostname", apply: set("hostname", v) }),
  ),
];

export interface SyntheticOptions {
  count: number;
  /** Put the 50 malformed rows at every (count/50)th row. */
  malformed?: boolean;
  /** First VPS id (ids are idBase, idBase+1, ...). */
  idBase?: number;
  /** First octet of the addresses (see publicAddress); use different ones for fleets that coexist. */
  firstOctet?: number;
}

export function syntheticFleet({ count, malformed = false, idBase = 100_000, firstOctet = 45 }: SyntheticOptions): SyntheticFleet {
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
  return { rows, malformed: bad };
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
