#!/usr/bin/env node
// Prints one closing line for all jest runs of `make test` ("tests: N passed, N failed"), read
// from the JSON reports jest wrote with --json --outputFile; exits non-zero if any run failed
// or a report is missing (a suite that did not run must not look green).
import { readFileSync } from "node:fs";

let passed = 0, failed = 0, skipped = 0, ok = true;
for (const file of process.argv.slice(2)) {
  let r;
  try {
    r = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    console.error(`missing or unreadable jest report: ${file}`);
    ok = false;
    continue;
  }
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
  if (!r.success || r.numFailedTestSuites > 0 || r.numRuntimeErrorTestSuites > 0) ok = false;
}
if (passed === 0) ok = false;
console.log(`tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(ok && failed === 0 ? 0 : 1);
