// The shipped programs, each as one minified ES module (dist/bundle/*.mjs): what the image runs,
// what package.json's bin names, and what the e2e suite and the benchmarks start. Loading
// @kubernetes/client-node from node_modules keeps the source text of its ~750 generated files
// in the V8 heap (about 24 MiB before the first object is cached); the bundle, minified, is a
// tenth of that. The licences of every bundled package go to dist/bundle/THIRD_PARTY_LICENSES.txt,
// shipped beside the bundles.
//   node scripts/bundle.ts   (after tsc; part of `npm run build`)
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const packages = new Set<string>();

const ENTRIES: Record<string, string> = {
  operator: "dist/cmd/operator.js",
  "xrayr-mesh": "dist/cmd/xrayr-mesh.js",
};

for (const [name, entry] of Object.entries(ENTRIES)) {
  const result = await build({
    entryPoints: [entry],
    outfile: `dist/bundle/${name}.mjs`,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: true,
    // Error and class names stay readable in logs (ConfigError, ApiException, ...).
    keepNames: true,
    legalComments: "none",
    metafile: true,
    // Bundled CommonJS dependencies (pino, prom-client, undici) call require(); an ES module
    // has none of its own.
    banner: { js: "import { createRequire as __xrayrRequire } from 'node:module'; const require = __xrayrRequire(import.meta.url);" },
    logLevel: "warning",
  });
  for (const input of Object.keys(result.metafile.inputs)) {
    // node_modules/<name> or node_modules/@scope/<name>, innermost (nested copies count too)
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1] !== undefined) packages.add(m[1]);
  }
}

const notices: string[] = [];
for (const dir of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name: string; version: string; license?: string };
  const file = existsSync(dir) ? readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f)) : undefined;
  notices.push(`${pkg.name}@${pkg.version} (${pkg.license ?? "see below"})\n\n${file !== undefined ? readFileSync(join(dir, file), "utf8").trim() : "(no licence file in the package)"}\n`);
}
writeFileSync("dist/bundle/THIRD_PARTY_LICENSES.txt", `Packages bundled into dist/bundle/*.mjs, with their licences.\n\n${notices.join("\n---\n\n")}`);
