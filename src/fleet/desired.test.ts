import { desiredFleet } from "./desired.js";
import { SYNCED_BY_LABEL, SYNC_MANAGER } from "./labels.js";
import { VPS_ID_LABEL } from "../domain/vps.js";
import { syntheticFleet } from "../../test/support/synthetic-fleet.js";

const opts = { namespace: "airport-prod", addressPolicy: "public" as const };
const row = (over: Record<string, unknown> = {}) => ({ id: 1001, hostname: "JP-Tokyo-01.nodes.example.", ip: "45.76.83.243", country: "JP", status: "active", ...over });

describe("desiredFleet", () => {
  test("an active row becomes a synced XrayrNode", () => {
    const f = desiredFleet([row({ xrayr_version: "v25.3.6" })], opts);
    expect(f.invalid).toEqual([]);
    expect(f.nodes).toHaveLength(1);
    expect(f.nodes[0]?.object).toEqual({
      apiVersion: "mesh.sigma.io/v1alpha1",
      kind: "XrayrNode",
      metadata: { name: "jp-tokyo-01-1001", namespace: "airport-prod", labels: { [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: "1001" } },
      spec: { address: "45.76.83.243", country: "jp", version: "v25.3.6", vpsId: "1001" },
    });
    expect(f.nodes[0]?.spec.version).toBe("v25.3.6");
  });

  test("no version: none is written, and the spec compares with the admission default", () => {
    const f = desiredFleet([row()], opts);
    expect(f.nodes[0]?.object.spec.version).toBeUndefined();
    expect(f.nodes[0]?.spec.version).toBe("v1");
  });

  test("retired and provisioning rows are not nodes", () => {
    const f = desiredFleet([row({ status: "retired" }), row({ id: 2, ip: "45.76.83.2", status: "provisioning" })], opts);
    expect(f.nodes).toEqual([]);
    expect(f.inactive.map((r) => r.status)).toEqual(["retired", "provisioning"]);
    expect(f.invalid).toEqual([]);
  });

  test.each([
    [{ ip: "10.0.0.1" }, "ip", "10.0.0.1", "is not a public address (private, 10.0.0.0/8)"],
    [{ ip: "045.1.2.3" }, "ip", "045.1.2.3", 'ip "045.1.2.3" has leading zeros'],
    [{ ip: "45.1.2.3/24" }, "ip", "45.1.2.3/24", "is a CIDR"],
    [{ ip: "" }, "ip", "", 'ip "" is empty'],
    [{ ip: "FD00::1" }, "ip", "FD00::1", 'ip "FD00::1" (fd00::1) is not a public address (unique-local, fc00::/7)'],
    [{ country: "UK" }, "country", "UK", 'country "UK" is not an officially assigned ISO 3166-1 alpha-2 country code in lower case, e.g. "de" (the ISO code for the United Kingdom is "gb").'],
    [{ country: "Japan" }, "country", "Japan", 'country "Japan" is not an officially assigned'],
    [{ xrayr_version: "v25 beta" }, "xrayr_version", "v25 beta", 'xrayr_version "v25 beta" is not a valid Kubernetes label value'],
  ])("%j is an invalid row: field %s", (over, field, value, message) => {
    const f = desiredFleet([row(over)], opts);
    expect(f.nodes).toEqual([]);
    expect(f.invalid).toHaveLength(1);
    expect(f.invalid[0]).toMatchObject({ row: 1, id: "1001", field, value });
    expect(f.invalid[0]?.message).toContain(message);
  });

  test("every problem of a row is reported: a bad country and a refused address together", () => {
    const f = desiredFleet([row({ country: "UK", ip: "10.0.0.1" })], opts);
    expect(f.invalid.map((i) => i.field).sort()).toEqual(["country", "ip"]);
  });

  test("retired rows without hostname, ip or country are inactive, not invalid", () => {
    const f = desiredFleet([{ id: 5, status: "retired", ip: null }], opts);
    expect(f.invalid).toEqual([]);
    expect(f.inactive).toEqual([{ row: 1, id: "5", status: "retired" }]);
  });

  test("--address-policy=any takes private addresses", () => {
    expect(desiredFleet([row({ ip: "10.0.0.1" })], { ...opts, addressPolicy: "any" }).invalid).toEqual([]);
  });

  test("a second active row on an address already used: the first wins", () => {
    const f = desiredFleet([row(), row({ id: 1002, status: "retired" }), row({ id: 1003, hostname: "b" })], opts);
    expect(f.nodes.map((n) => n.name)).toEqual(["jp-tokyo-01-1001"]);
    expect(f.invalid).toHaveLength(1);
    expect(f.invalid[0]).toMatchObject({ row: 3, field: "ip", value: "45.76.83.243" });
    expect(f.invalid[0]?.message).toContain("already used by the active row 1 (VPS 1001, jp-tokyo-01-1001)");
  });

  test.each([
    ["HK_Relay_07", "hk-relay-07-1001", "has characters other than letters, digits, '-' and '.'"],
    ["edge-node-", "edge-node-1001", "has a label starting or ending with '-'"],
    ["東京", "vps-1001", "has characters outside ASCII"],
  ])("the host name %j is normalised, not refused: node %s and a warning", (hostname, name, why) => {
    const f = desiredFleet([row({ hostname })], opts);
    expect(f.invalid).toEqual([]);
    expect(f.nodes.map((n) => n.name)).toEqual([name]);
    expect(f.warnings).toEqual([{ row: 1, id: "1001", field: "hostname", value: hostname, became: name, message: expect.stringContaining(`hostname ${JSON.stringify(hostname)} is not a host name (it ${why}); the node is named ${name}`) as unknown }]);
  });

  test.each([
    ["2A01:4F8:0:0:0:0:0:1", "2a01:4f8::1"],
    ["2a01:04f8:0000:0000:0000:0000:0000:0001", "2a01:4f8::1"],
    ["2A01:4F8::1", "2a01:4f8::1"],
    [" 45.76.83.243 ", "45.76.83.243"],
    ["::ffff:45.76.83.243", "45.76.83.243"],
  ])("the address %j is written %j, with a warning", (ip, canonical) => {
    const f = desiredFleet([row({ ip })], opts);
    expect(f.invalid).toEqual([]);
    expect(f.nodes[0]?.object.spec.address).toBe(canonical);
    expect(f.warnings).toEqual([{ row: 1, id: "1001", field: "ip", value: ip, became: canonical, message: `ip ${JSON.stringify(ip)} is not written in canonical form (RFC 5952); the node's address is ${canonical}.` }]);
  });

  test("a canonical address and a host name are no warning; a normalised row that is invalid for another reason reports only the error", () => {
    expect(desiredFleet([row()], opts).warnings).toEqual([]);
    const f = desiredFleet([row({ hostname: "HK_Relay_07", ip: "2A01:4F8::1", country: "UK" })], opts);
    expect(f.warnings).toEqual([]);
    expect(f.invalid.map((i) => i.field)).toEqual(["country"]);
  });

  test("two spellings of one address are one address: the second row is refused, naming the first", () => {
    const f = desiredFleet([row({ ip: "2a01:4f8::1" }), row({ id: 1002, hostname: "b", ip: "2A01:4F8:0:0:0:0:0:1" })], opts);
    expect(f.nodes.map((n) => n.name)).toEqual(["jp-tokyo-01-1001"]);
    expect(f.invalid).toEqual([
      expect.objectContaining({ row: 2, id: "1002", field: "ip", value: "2A01:4F8:0:0:0:0:0:1", message: expect.stringContaining('ip "2A01:4F8:0:0:0:0:0:1" (2a01:4f8::1) is already used by the active row 1 (VPS 1001, jp-tokyo-01-1001)') as unknown }),
    ]);
  });

  test("the same row gives the same node name on every run", () => {
    const doc = [row({ hostname: "Zürich_Relay-", id: "vps-AB" })];
    expect(desiredFleet(doc, opts).nodes[0]?.name).toBe(desiredFleet(structuredClone(doc), opts).nodes[0]?.name);
  });

  test("the synthetic 1,000-row fleet: exactly its 50 malformed rows are invalid, its normalising rows are warnings", () => {
    const s = syntheticFleet({ count: 1000, malformed: true, normalising: true });
    const f = desiredFleet(s.rows, opts);
    expect(f.nodes).toHaveLength(950);
    expect(s.malformed).toHaveLength(50);
    expect(f.invalid.map((i) => [i.row, i.field])).toEqual(s.malformed.map((m) => [m.row, m.field]));
    expect(new Set(f.nodes.map((n) => n.name)).size).toBe(950);
    expect(s.normalising).toHaveLength(13);
    expect(f.warnings.map((w) => [w.row, w.field, w.value, w.became])).toEqual(s.normalising.map((n) => [n.row, n.field, n.value, n.became]));
    for (const n of s.normalising) expect(f.nodes.find((d) => d.row === n.row)?.object).toMatchObject({ metadata: { name: n.name }, spec: { address: n.address } });
  });
});
