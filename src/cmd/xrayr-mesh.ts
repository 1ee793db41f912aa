#!/usr/bin/env node
// The xrayr-mesh command (see src/cli/main.ts).
import { main } from "../cli/main.js";

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`xrayr-mesh: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
