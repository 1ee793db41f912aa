// Runs the fleet CLI (node dist/bundle/xrayr-mesh.mjs, package.json's bin) as the lab admin, as a user would.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { lab, NAMESPACE, REPO } from "./lab.js";

export const CLI_JS = join(REPO, "dist/bundle/xrayr-mesh.mjs");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function xrayrMesh(args: string[], { input, env = {}, timeoutMs = 120_000 }: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} does not exist: run npm run build first`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.env.E2E_NODE ?? process.execPath,
      [CLI_JS, ...args],
      {
        cwd: REPO,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", AIRPORT_KUBECONFIG: lab().kubeconfig, AIRPORT_NAMESPACE: NAMESPACE, ...env },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr, ms: Date.now() - t0 });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
