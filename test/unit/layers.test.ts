// The layer rules (layers.mjs) on the real tree, and each rule caught on a deliberate
// violation in a throwaway copy of the tree, so a rule that matches nothing cannot pass.
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cruise, type IReporterOutput } from "dependency-cruiser";
import rules from "../../layers.mjs";

const REPO = resolve(import.meta.dirname, "../..");

async function violations(root: string): Promise<string[]> {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    // preserveSymlinks: the copy's node_modules is a link to the repo's, and must still read as
    // node_modules/ (not ../<repo>/node_modules/) for the rules' paths to match.
    const result: IReporterOutput = await cruise(["src"], { ...rules.options, preserveSymlinks: true, validate: true, ruleSet: { forbidden: rules.forbidden } });
    if (typeof result.output === "string") throw new Error("expected a structured result");
    return result.output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
  } finally {
    process.chdir(cwd);
  }
}

describe("layer rules", () => {
  let copy: string;
  beforeAll(() => {
    copy = mkdtempSync(join(tmpdir(), "xrayr-layers-"));
    cpSync(join(REPO, "src"), join(copy, "src"), { recursive: true, filter: (p) => !p.endsWith(".test.ts") });
    cpSync(join(REPO, "tsconfig.json"), join(copy, "tsconfig.json"));
    symlinkSync(join(REPO, "node_modules"), join(copy, "node_modules"));
  });
  afterAll(() => {
    rmSync(copy, { recursive: true, force: true });
  });

  it("hold on the tree as it is", async () => {
    expect(await violations(REPO)).toEqual([]);
  }, 60_000);

  const deliberate = [
    ["api-is-a-leaf", "src/api/v1alpha1/bad.ts", 'import { nextTraffic } from "../../traffic/status.js";\nexport const x = nextTraffic;\n'],
    ["istio-is-a-leaf", "src/istio/bad.ts", 'import { MANAGER } from "../domain/ownership.js";\nexport const x = MANAGER;\n'],
    ["domain-imports-only-the-leaves", "src/domain/bad.ts", 'import { planNode } from "../plan/plan.js";\nexport const x = planNode;\n'],
    ["pure-layers-do-no-io", "src/plan/bad.ts", 'import { readFileSync } from "node:fs";\nexport const x = readFileSync;\n'],
    ["crd-fleet-doctor-do-no-io", "src/doctor/bad.ts", 'import { readFile } from "node:fs/promises";\nexport const x = readFile;\n'],
    ["crd-fleet-doctor-do-no-io", "src/fleet/bad.ts", 'import { XrayrNodeClient } from "../apply/xrayrnodes.js";\nexport const x = XrayrNodeClient;\n'],
    ["crd-fleet-doctor-use-no-api-client", "src/crd/bad.ts", 'import { CoreV1Api } from "@kubernetes/client-node";\nexport const x = CoreV1Api;\n'],
    ["only-the-composition-root-imports-reconcile", "src/cli/bad.ts", 'import { AddressExpectations } from "../reconcile/expectations.js";\nexport const x = AddressExpectations;\n'],
    ["only-the-composition-root-imports-reconcile", "src/doctor/bad.ts", 'import { watchFleet } from "../reconcile/watches.js";\nexport const x = watchFleet;\n'],
    ["only-the-edges-talk-to-the-api-server", "src/cli/bad.ts", 'import { CoreV1Api } from "@kubernetes/client-node";\nexport const x = CoreV1Api;\n'],
    ["no-cycles", "src/status/bad.ts", 'import { z } from "./back.js";\nexport const y = 1;\nexport const w = z;\n'],
  ] as const;

  it("shows every rule of layers.mjs failing below, and no rule it lacks", () => {
    expect([...new Set(deliberate.map(([rule]) => rule))].sort()).toEqual(rules.forbidden.map((r) => r.name).sort());
  });

  it.each(deliberate)("%s catches %s", async (rule, file, text) => {
    const path = join(copy, file);
    writeFileSync(path, text);
    // A cycle needs its other half: back.ts imports bad.ts, which imports back.ts.
    const back = rule === "no-cycles" ? join(copy, "src/status/back.ts") : undefined;
    if (back !== undefined) writeFileSync(back, 'import { y } from "./bad.js";\nexport const z = y;\n');
    try {
      const found = await violations(copy);
      expect(found.some((v) => v.startsWith(`${rule}: `))).toBe(true);
    } finally {
      rmSync(path);
      if (back !== undefined) rmSync(back);
    }
  }, 60_000);
});
