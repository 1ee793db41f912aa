// README's folder table names every part of src/: each folder, and each file at its top.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(`${repo}/README.md`, "utf8");
// The folder table: its rows start with "| `".
const rows = readme.split("\n").filter((l) => l.startsWith("| `"));
const firstCells = rows.map((r) => r.split("|")[1] ?? "").join(" ");

describe("README's folder table", () => {
  const entries = readdirSync(`${repo}/src`, { withFileTypes: true });
  const parts = [
    ...entries.filter((e) => e.isDirectory()).map((e) => `src/${e.name}/`),
    ...entries.filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")).map((e) => `src/${e.name}`),
  ];

  test.each(parts)("names %s", (part) => {
    expect(firstCells).toContain(`\`${part}`);
  });
});
