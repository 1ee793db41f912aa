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

  test("every `make <target>` the repository tells a reader to run is a target", () => {
    // Docs, comments and scripts name entry points as `make X` (backquoted) or, in README's
    // command list, as a line starting "make X": each must exist, or make help is not the list.
    const files = execFileSync("git", ["ls-files", "-z", "--", "*.md", "*.ts", "*.mjs", "*.js", "*.sh", "*.yaml", "Makefile"], { cwd: repo, encoding: "utf8" }).split("\0").filter((f) => f !== "");
    const named = new Map<string, string>();
    for (const file of files) {
      const text = readFileSync(`${repo}/${file}`, "utf8");
      for (const m of text.matchAll(/`make ([a-z][a-z0-9-]*)|^make ([a-z][a-z0-9-]*)/gm)) named.set(m[1] ?? m[2] ?? "", file);
    }
    expect(named.size).toBeGreaterThan(15);
    const missing = [...named].filter(([t]) => !targets.includes(t)).map(([t, file]) => `make ${t} (${file})`);
    expect(missing).toEqual([]);
  });
});
