// jest globalTeardown of the e2e project: stops the lab globalSetup started, pass or fail
// (E2E_KEEP_LAB=1 keeps it for a look). Operator and control-plane logs and the audit log are
// copied out first, because lab-down.sh removes the lab directory.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
// Self-contained like global-setup.ts (jest loads it without the tests' moduleNameMapper).
import type { LabState } from "./lab.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const stateFile = (stateDir: string): string => join(stateDir, "state.json");

export default function globalTeardown(): void {
  const dir = process.env.E2E_STATE_DIR ?? join(process.env.E2E_LAB_DIR ?? join(REPO, ".lab-e2e"), "e2e");
  if (!existsSync(stateFile(dir))) return;
  const state = JSON.parse(readFileSync(stateFile(dir), "utf8")) as LabState;
  if (!state.ownsLab || state.labDir === undefined) return;
  if (process.env.E2E_KEEP_LAB === "1") {
    process.stderr.write(`[e2e] E2E_KEEP_LAB=1: lab left running at ${state.labDir} (stop: LAB_DIR=${state.labDir} test/lab/lab-down.sh)\n`);
    return;
  }
  // One copy, replaced by the next run, where CI and people look anyway (.reports is git-ignored).
  const keep = join(REPO, ".reports", "e2e-logs");
  rmSync(keep, { recursive: true, force: true });
  mkdirSync(keep, { recursive: true });
  for (const [from, to] of [
    [join(state.stateDir, "logs"), "operators"],
    [join(state.labDir, "logs"), "lab"],
    [join(state.labDir, "audit.log"), "audit.log"],
  ] as const) {
    if (existsSync(from)) cpSync(from, join(keep, to), { recursive: true });
  }
  process.stderr.write(`[e2e] logs kept in ${keep}\n`);
  execFileSync(join(REPO, "test/lab/lab-down.sh"), [], { env: { ...process.env, LAB_DIR: state.labDir }, stdio: ["ignore", "inherit", "inherit"] });
}
