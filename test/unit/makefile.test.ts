// `make help` lists every target of the Makefile: each target has its `## name: what it does`
// line, and the listing make prints holds every one of them.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const makefile = readFileSync(`${repo}/Makefile`, "utf8");
// Rules: "name:" or "name: deps" at the start of a line (not variables, not special targets).
const targets = [...makefile.matchAll(/^([a-z][a-z0-9-]*):(?!=)/gm)].map((m) => m[1] ?? "");
const documented = [...makefile.matchAll(/^## ([a-z][a-z0-9-]*):/gm)].map((m) => m[1] ?? "");

describe("make help", () => {
  test("every target is documented, and only targets are", () => {
    expect(targets.length).toBeGreaterThan(20);
    expect([...documented].sort()).toEqual([...targets].sort());
  });

  test("every target is declared .PHONY (none of them makes a file of its name)", () => {
    const phony = [...makefile.matchAll(/^\.PHONY:((?:.*\\\n)*.*)$/gm)].flatMap((m) => (m[1] ?? "").replace(/\\\n/g, " ").split(/\s+/)).filter((t) => t !== "");
    expect([...new Set(phony)].sort()).toEqual([...targets].sort());
  });

  test("lists each target once, in the Makefile's order, with its first words", () => {
    const out = execFileSync("make", ["-s", "--no-print-directory", "help"], { cwd: repo, encoding: "utf8" });
    const listed = out.split("\n").filter((l) => l.trim() !== "").map((l) => l.trim().split(/\s+/)[0]);
    expect(listed).toEqual(documented);
    expect(out).toMatch(/^ {2}verify {17}render every generated file again/m);
  });
});
