import { randomBytes } from "node:crypto";
import { nameProblem } from "../crd/validate.js";
import { DNS1123_LABEL_MAX_LENGTH } from "../api/v1alpha1/patterns.js";
import { ENTRY_NAME_SUFFIX_LENGTH, entryName, nodeNameOfEntry } from "./entry-name.js";
import { idSuffix, normaliseCountry, rowNodeName, VPS_ID_LABEL, vpsIdOf } from "./vps.js";

const nameOf = (hostname: string, id: string): string => rowNodeName(hostname, id).name;

describe("vpsIdOf", () => {
  const node = (labels: Record<string, string>, vpsId?: string) => ({ metadata: { name: "n", labels }, spec: { address: "45.0.0.1", country: "de", ...(vpsId !== undefined ? { vpsId } : {}) } });

  test("spec.vpsId is the truth; the label is read only when the spec has none", () => {
    expect(vpsIdOf(node({ [VPS_ID_LABEL]: "77" }, "1"))).toBe("1");
    expect(vpsIdOf(node({ [VPS_ID_LABEL]: "77" }))).toBe("77");
    expect(vpsIdOf(node({}, "1"))).toBe("1");
    expect(vpsIdOf(node({}))).toBeUndefined();
  });
});

describe("normaliseCountry", () => {
  test.each([
    ["JP", "jp"],
    [" hk ", "hk"],
    ["de", "de"],
    ["Japan", "japan"], // still not a code: the CRD's rule says so, not this function
  ])("%j is %j", (raw, want) => {
    expect(normaliseCountry(raw)).toBe(want);
  });
});

describe("rowNodeName", () => {
  test.each([
    ["jp-tokyo-01", "1001", "jp-tokyo-01-1001"],
    ["JP-Tokyo-01.Nodes.Sigma.Example", "1001", "jp-tokyo-01-1001"],
    ["  hk-1.example.com.  ", "7", "hk-1-7"],
    ["xn--80ak6aa92e.example", "7", "xn--80ak6aa92e-7"],
    ["1001", "1001", "1001-1001"],
  ])("the host name %j with id %j is %j, with no warning (it is a host name)", (host, id, want) => {
    expect(rowNodeName(host, id)).toEqual({ name: want, idOnly: false });
  });

  test.each([
    ["HK_Relay_07", "hk-relay-07-5", "has characters other than letters, digits, '-' and '.'"],
    ["edge-node-", "edge-node-5", "has a label starting or ending with '-'"],
    ["-tokyo-", "tokyo-5", "has a label starting or ending with '-'"],
    ["JP_Tokyo 01", "jp-tokyo-01-5", "has characters other than letters, digits, '-' and '.'"],
    ["tokyo/01", "tokyo-01-5", "has characters other than letters, digits, '-' and '.'"],
    ["a..b.example.com", "a-5", "has an empty label"],
    ["Zürich-01", "zurich-01-5", "has characters outside ASCII"],
    ["東京-01", "01-5", "has characters outside ASCII"],
    ["ＴＯＫＹＯ-02", "tokyo-02-5", "has characters outside ASCII"],
    [`${"x".repeat(64)}.example.com`, `${"x".repeat(61)}-5`, "has a label longer than 63 characters"],
  ])("%j is normalised to %j (it %s)", (host, want, why) => {
    expect(rowNodeName(host, "5")).toEqual({ name: want, normalised: why, idOnly: false });
  });

  test.each([
    ["東京", "has characters outside ASCII"],
    ["   ", "is empty"],
    ["---", "has a label starting or ending with '-'"],
    ["_", "has characters other than letters, digits, '-' and '.'"],
  ])("%j leaves nothing usable: the name is the id alone", (host, why) => {
    expect(rowNodeName(host, "5")).toEqual({ name: "vps-5", normalised: why, idOnly: true });
    expect(rowNodeName(host, "vps-A")).toMatchObject({ name: `vps-${idSuffix("vps-A")}`, idOnly: true });
  });

  test("a host name longer than 253 characters still names the node by its first label", () => {
    expect(rowNodeName(`edge.${"a.".repeat(130)}b`, "5")).toEqual({ name: "edge-5", normalised: "is longer than 253 characters", idOnly: false });
  });

  test("non-numeric ids become a hash suffix that is never all digits", () => {
    const s = idSuffix("vps-ABC_1");
    expect(s).toMatch(/^v[0-9a-f]{16}$/);
    expect(nameOf("hk-1", "vps-ABC_1")).toBe(`hk-1-${s}`);
    expect(idSuffix("123456789012345678901")).toMatch(/^v/); // 21 digits: too long to use as is
  });

  test("long host names are cut so the name fits 63 characters, never ending in '-'", () => {
    const host = `${"a".repeat(40)}-${"b".repeat(22)}`;
    const name = nameOf(host, "12345678901234567890");
    expect(name.length).toBeLessThanOrEqual(63);
    expect(nameProblem(name)).toBeUndefined();
    expect(name).toBe(`${"a".repeat(40)}-b-12345678901234567890`);
    expect(nameOf(`${"a".repeat(41)}-b`, "12345678901234567890")).toBe(`${"a".repeat(41)}-12345678901234567890`);
  });

  test("the longest name leaves room for the entry name within what the CRD's status allows", () => {
    const name = nameOf(`${"x".repeat(80)}_long`, "vps-with-a-long-id");
    expect(name.length).toBe(DNS1123_LABEL_MAX_LENGTH);
    const entry = entryName(name, { address: "45.0.0.1", app: "xrayr", version: "v1", serviceAccount: "xrayr" });
    expect(entry.length).toBe(DNS1123_LABEL_MAX_LENGTH + ENTRY_NAME_SUFFIX_LENGTH);
    expect(nodeNameOfEntry(entry)).toBe(name);
  });

  // Property: over many random (host name, id) pairs, sloppy ones included, every name is a valid
  // node name, the same input always gives the same name, and no two distinct ids share a name.
  test("always a valid name, stable, and injective on ids", () => {
    const hosts = ["a", "jp-tokyo-01", "x".repeat(63), "node-1", "1", `${"h".repeat(62)}9`, "HK_Relay_07", "edge-node-", "東京", "", `${"y".repeat(70)}.example`, "Zürich"];
    const byName = new Map<string, string>();
    for (let k = 0; k < 20_000; k++) {
      const b = randomBytes(8);
      const kind = (b[0] ?? 0) % 4;
      const id =
        kind === 0
          ? String(b.readUInt32BE(1))
          : kind === 1
            ? String(b.readUInt16BE(1) % 100) // small numbers collide with each other's strings in other schemes
            : kind === 2
              ? `vps-${b.toString("hex").slice(0, 1 + ((b[5] ?? 0) % 12))}`
              : b.toString("base64url").replace(/^[-_]+|[-_]+$/g, "") || "z";
      const host = hosts[(b[6] ?? 0) % hosts.length] ?? "a";
      const name = nameOf(host, id);
      expect(nameProblem(name)).toBeUndefined();
      expect(nameOf(host, id)).toBe(name);
      const prior = byName.get(name);
      if (prior !== undefined && prior !== id) throw new Error(`ids ${prior} and ${id} both map to ${name}`);
      byName.set(name, id);
    }
    // Adversarial: host names ending in what looks like an id do not make two ids collide.
    expect(nameOf("node-12", "3")).not.toBe(nameOf("node", "123"));
    expect(nameOf("node-1", "23")).not.toBe(nameOf("node", "123"));
    expect(nameOf("vps", "5")).toBe(nameOf("", "5")); // the same VPS either way: the id is the same
  });
});
