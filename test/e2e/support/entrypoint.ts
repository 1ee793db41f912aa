// How the operator is started, read from the one place that says it: the Dockerfile's
// ENTRYPOINT (node, its flags, the bundle). The e2e suite, `make demo` and the benchmarks start
// exactly that, with this repo's Node, so what they measure is what the image runs. Uses node:
// modules only, so the plain-Node benchmarks can import it too.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The operator's argv as the image runs it, with `node` replaced by `nodeBinary` and the script made absolute. */
export function operatorArgv(repo: string, nodeBinary: string): string[] {
  const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  if (line === undefined) throw new Error("Dockerfile has no ENTRYPOINT in exec form");
  const [node, ...rest] = JSON.parse(line) as string[];
  const script = rest.at(-1);
  if (node !== "node" || script === undefined || !script.endsWith(".mjs")) throw new Error(`Dockerfile ENTRYPOINT ${line}: expected ["node", flags..., "dist/bundle/<name>.mjs"]`);
  return [nodeBinary, ...rest.slice(0, -1), join(repo, script)];
}
