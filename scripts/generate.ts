// `make generate` (--write) and `make verify` (--check): every file of scripts/generated.ts
// rendered from its source; --write rewrites those that differ, --check names them and fails.
// Run bundled by esbuild (the Makefile does it): the sources are TypeScript with .js imports.
//   node generate.mjs --write|--check
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { drifted, GENERATED } from "./generated.js";

const mode = process.argv[2];
if (mode !== "--write" && mode !== "--check") {
  console.error("usage: generate --write|--check");
  process.exit(2);
}
const read = (file: string): string | undefined => (existsSync(file) ? readFileSync(file, "utf8") : undefined);
const drift = drifted(read);
for (const { generated: g, want } of drift) {
  if (mode === "--write") {
    writeFileSync(g.file, want);
    console.log(`wrote ${g.file} (from ${g.from})`);
  } else {
    console.error(`${g.file} differs from what ${g.from} makes of it (run: make generate)`);
  }
}
if (mode === "--check" && drift.length > 0) process.exit(1);
console.log(mode === "--write" ? `${GENERATED.length} generated files up to date` : `${GENERATED.length} generated files match their sources`);
