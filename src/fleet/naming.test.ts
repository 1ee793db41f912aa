import { randomBytes } from "node:crypto";
import { nameProblem } from "../crd/validate.js";
import { idSuffix, nodeName, normaliseHostname } from "./naming.js";

describe("normaliseHostname", () => {
  test.each([
    ["jp-tokyo-01", "jp-tokyo-01"],
    ["JP-Tokyo-01.Nodes.Sigma.Example", "jp-tokyo-01.nodes.sigma.example"],
    ["  hk-1.example.com.  ", "hk-1.example.com"],
    ["1001", "1001"],
  ])("%j is %j", (raw, want) => {
    expect(normaliseHostname(raw)).toEqual({ ok: true, hostname: want });
  });

  test.each([
    ["JP_Tokyo 01", "jp-tokyo-01"],
    ["tokyo/01", "tokyo-01"],
    ["-tokyo-", "tokyo"],
    ["a..b.example.com", "a.b.example.com"],
    ["東京-01", "01"],
  ])("%j is refused, suggesting %j", (raw, suggestion) => {
    const r = normaliseHostname(raw);
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({ suggestion });
  });

  test.each(["", "   ", "東京", `${"x".repeat(64)}.example.com`, `${"a.".repeat(127)}bc`])("%j is refused", (raw) => {
    expect(normaliseHostname(raw).ok).toBe(false);
  });
});

describe("nodeName", () => {
  test("first label of the hostname, then the numeric id", () => {
    expect(nodeName("jp-tokyo-01.nodes.sigma.example", "1001")).toBe("jp-tokyo-01-1001");
  });

  test("non-numeric ids become a hash suffix that is never all digits", () => {
    const s = idSuffix("vps-ABC_1");
    expect(s).toMatch(/^v[0-9a-f]{16}$/);
    expect(nodeName("hk-1", "vps-ABC_1")).toBe(`hk-1-${s}`);
    expect(idSuffix("123456789012345678901")).toMatch(/^v/); // 21 digits: too long to use as is
  });

  test("long hostnames are cut so the name fits 63 characters, never ending in '-'", () => {
    const host = `${"a".repeat(40)}-${"b".repeat(22)}`;
    const name = nodeName(host, "12345678901234567890");
    expect(name.length).toBeLessThanOrEqual(63);
    expect(nameProblem(name)).toBeUndefined();
    expect(name).toBe(`${"a".repeat(40)}-b-12345678901234567890`);
    expect(nodeName(`${"a".repeat(41)}-b`, "12345678901234567890")).toBe(`${"a".repeat(41)}-12345678901234567890`);
  });

  test("deterministic", () => {
    expect(nodeName("x.example", "vps-9")).toBe(nodeName("x.example", "vps-9"));
  });

  // Property: over many random (hostname, id) pairs, every name is a valid DNS-1123 label and
  // no two distinct ids share a name, whatever their hostnames.
  test("always a valid name, and injective on ids", () => {
    const hosts = ["a", "jp-tokyo-01", "x".repeat(63), "node-1", "1", `${"h".repeat(62)}9`];
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
      const hn = normaliseHostname(host);
      if (!hn.ok) throw new Error(host);
      const name = nodeName(hn.hostname, id);
      expect(nameProblem(name)).toBeUndefined();
      const prior = byName.get(name);
      if (prior !== undefined && prior !== id) throw new Error(`ids ${prior} and ${id} both map to ${name}`);
      byName.set(name, id);
    }
    // Adversarial: hostnames ending in what looks like an id do not make two ids collide.
    expect(nodeName("node-12", "3")).not.toBe(nodeName("node", "123"));
    expect(nodeName("node-1", "23")).not.toBe(nodeName("node", "1-23".replace("-", "")));
  });
});
