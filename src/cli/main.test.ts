// The command line as kubectl and helm users type it: -o on every command, global flags before
// or after the command, --context, --dry-run[=server], and `version`. Runs main() in-process; no
// command here reaches a cluster.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jest } from "@jest/globals";
import { API_VERSION } from "../api/v1alpha1/types.js";
import { VERSION } from "../version.js";
import { main } from "./main.js";

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = jest.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => { stdout += String(s); return true; });
  const err = jest.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => { stderr += String(s); return true; });
  try {
    const code = await main(["node", "xrayr-mesh", ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: lab, context: {cluster: c, user: u}}]
current-context: lab
`;

describe("xrayr-mesh's command line", () => {
  let dir = "";
  let kubeconfig = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "xrayr-mesh-main-"));
    kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, KUBECONFIG);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("version, in every format, without a cluster", async () => {
    expect(await run("version")).toEqual({ code: 0, stdout: `xrayr-mesh ${VERSION} (API ${API_VERSION}, Node ${process.version})\n`, stderr: "" });
    expect(JSON.parse((await run("version", "-o", "json")).stdout)).toEqual({ version: VERSION, api: API_VERSION, node: process.version });
    expect((await run("version", "-o", "yaml")).stdout).toBe(`version: ${VERSION}\napi: ${API_VERSION}\nnode: ${process.version}\n`);
  });

  test.each(["sync", "register", "retire", "status", "doctor", "verify", "version"])("%s takes -o table|wide|json|yaml and refuses anything else", async (command) => {
    const r = await run(command, "-o", "xml");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '-o, --output <format>' argument 'xml' is invalid. must be one of table, wide, json, yaml.");
  });

  test("global flags work after the command too, as kubectl takes them", async () => {
    const ns = await run("status", "--kubeconfig", kubeconfig, "-n", "Not_A_Namespace");
    expect(ns).toMatchObject({ code: 2, stderr: 'xrayr-mesh: --namespace "Not_A_Namespace" is not a namespace name (a DNS-1123 label).\n' });
    const ctx = await run("status", "--kubeconfig", kubeconfig, "--context", "prod");
    expect(ctx).toMatchObject({ code: 2, stderr: 'xrayr-mesh: --context "prod" is not in the kubeconfig (its contexts: lab).\n' });
    const before = await run("--kubeconfig", kubeconfig, "--context", "prod", "status");
    expect(before.stderr).toBe(ctx.stderr);
  });

  test("--dry-run is client (a plan) or server (admission judges every write), nothing else", async () => {
    const r = await run("sync", "--from", "vps.json", "--dry-run=later");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("argument 'later' is invalid. Allowed choices are client, server.");
  });
});
