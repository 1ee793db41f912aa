import { desiredFleet } from "./desired.js";
import { SYNCED_BY_LABEL, SYNC_MANAGER, VPS_ID_LABEL } from "./labels.js";
import { syntheticFleet } from "./synthetic.js";

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
    [{ ip: "2A01:4F8::1" }, "ip", "2A01:4F8::1", "is not canonical: write 2a01:4f8::1"],
    [{ country: "UK" }, "country", "UK", 'country "UK" is not an officially assigned ISO 3166-1 alpha-2 country code in lower case, e.g. "de" (the ISO code for the United Kingdom is "gb").'],
    [{ country: "Japan" }, "country", "Japan", 'country "Japan" is not an officially assigned'],
    [{ hostname: "JP_Tokyo 01" }, "hostname", "JP_Tokyo 01", 'write it as "jp-tokyo-01" in sigma-api'],
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

  test("the synthetic 1,000-row fleet: exactly its 50 malformed rows are invalid, on their fields", () => {
    const s = syntheticFleet({ count: 1000, malformed: true });
    const f = desiredFleet(s.rows, opts);
    expect(f.nodes).toHaveLength(950);
    expect(s.malformed).toHaveLength(50);
    expect(f.invalid.map((i) => [i.row, i.field])).toEqual(s.malformed.map((m) => [m.row, m.field]));
    expect(new Set(f.nodes.map((n) => n.name)).size).toBe(950);
  });
});
